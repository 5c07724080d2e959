package cmd

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/shared/client"
)

func newConfig(f *Factory) *cobra.Command {
	c := &cobra.Command{
		Use:   "config (view | current-context | use-context NAME | get-contexts)",
		Short: "Read and change the kubeconfig",
	}
	var raw bool
	view := &cobra.Command{
		Use:   "view",
		Short: "Print the merged kubeconfig (credentials redacted unless --raw)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, _, err := readKubeconfig(f)
			if err != nil {
				return err
			}
			if !raw {
				for i := range kc.Clusters {
					if len(kc.Clusters[i].Cluster.CertificateAuthorityData) > 0 {
						kc.Clusters[i].Cluster.CertificateAuthorityData = []byte("DATA+OMITTED")
					}
				}
				for i := range kc.Users {
					u := &kc.Users[i].User
					if len(u.ClientCertificateData) > 0 {
						u.ClientCertificateData = []byte("DATA+OMITTED")
					}
					if len(u.ClientKeyData) > 0 {
						u.ClientKeyData = []byte("DATA+OMITTED")
					}
					if u.Token != "" {
						u.Token = "REDACTED"
					}
				}
			}
			b, err := yaml.Marshal(kc)
			if err != nil {
				return err
			}
			_, err = f.IO.Out.Write(b)
			return err
		},
	}
	view.Flags().BoolVar(&raw, "raw", false, "print credentials too")
	current := &cobra.Command{
		Use:   "current-context",
		Short: "Print the current context",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, _, err := readKubeconfig(f)
			if err != nil {
				return err
			}
			if kc.CurrentContext == "" {
				return fmt.Errorf("current-context is not set")
			}
			fmt.Fprintln(f.IO.Out, kc.CurrentContext)
			return nil
		},
	}
	getContexts := &cobra.Command{
		Use:   "get-contexts",
		Short: "List the contexts",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, _, err := readKubeconfig(f)
			if err != nil {
				return err
			}
			fmt.Fprintln(f.IO.Out, "CURRENT   NAME   CLUSTER   AUTHINFO   NAMESPACE")
			for _, c := range kc.Contexts {
				mark := ""
				if c.Name == kc.CurrentContext {
					mark = "*"
				}
				fmt.Fprintf(f.IO.Out, "%s   %s   %s   %s   %s\n", mark, c.Name, c.Context.Cluster, c.Context.User, c.Context.Namespace)
			}
			return nil
		},
	}
	use := &cobra.Command{
		Use:   "use-context NAME",
		Short: "Set the current context in the kubeconfig file",
		Args:  exactArgs(1, "exactly one context NAME is required"),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			kc, _, err := readKubeconfig(f)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			for _, c := range kc.Contexts {
				names = append(names, c.Name)
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kc, paths, err := readKubeconfig(f)
			if err != nil {
				return err
			}
			found := false
			for _, c := range kc.Contexts {
				found = found || c.Name == args[0]
			}
			if !found {
				return fmt.Errorf("no context exists with the name: %q", args[0])
			}
			// Rewrite only current-context in the first file, keeping everything else in it as is.
			path := paths[0]
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var doc map[string]any
			if err := yaml.Unmarshal(data, &doc); err != nil {
				return fmt.Errorf("parsing %s: %w", path, err)
			}
			if doc == nil {
				doc = map[string]any{}
			}
			doc["current-context"] = args[0]
			out, err := yaml.Marshal(doc)
			if err != nil {
				return err
			}
			if err := os.WriteFile(path, out, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "Switched to context %q.\n", args[0])
			return nil
		},
	}
	c.AddCommand(view, current, use, getContexts)
	return c
}

func readKubeconfig(f *Factory) (*client.Kubeconfig, []string, error) {
	paths, err := client.KubeconfigPaths(f.Opts.Kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	kc, err := client.ReadKubeconfig(paths...)
	if err != nil {
		return nil, nil, err
	}
	return kc, paths, nil
}
