package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/ctl/internal/printers"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/version"
)

func newVersion(f *Factory) *cobra.Command {
	var clientOnly bool
	var output string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the client and server versions",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cv := version.Get()
			doc := map[string]any{"clientVersion": cv}
			var sv *version.Info
			var serverErr error
			if !clientOnly {
				cs, err := f.Clientset()
				if err != nil {
					return err
				}
				sv = &version.Info{}
				if serverErr = cs.Do(cmd.Context(), client.Request{Path: "/version"}, sv); serverErr == nil {
					doc["serverVersion"] = sv
				}
			}
			switch output {
			case "json":
				b, _ := json.MarshalIndent(doc, "", "  ")
				fmt.Fprintln(f.IO.Out, string(b))
			case "yaml":
				b, _ := yaml.Marshal(doc)
				fmt.Fprint(f.IO.Out, string(b))
			case "":
				fmt.Fprintf(f.IO.Out, "Client Version: %s (skiffctl %s, Kubernetes API v1.%s)\n", cv.GitVersion, cv.SkiffVersion, version.KubernetesMinor)
				if serverErr == nil && sv != nil {
					line := "Server Version: " + sv.GitVersion
					if sv.SkiffVersion != "" {
						line += " (skiff " + sv.SkiffVersion + ")"
					}
					fmt.Fprintln(f.IO.Out, line)
				}
			default:
				return usagef("--output must be 'yaml' or 'json'")
			}
			return serverErr
		},
	}
	c.Flags().BoolVar(&clientOnly, "client", false, "print the client version only, without contacting the server")
	c.Flags().StringVarP(&output, "output", "o", "", "yaml or json")
	return c
}

// apiResource is one entry of a discovery APIResourceList.
type apiResource struct {
	Name       string   `json:"name"`
	Namespaced bool     `json:"namespaced"`
	Kind       string   `json:"kind"`
	Verbs      []string `json:"verbs"`
	ShortNames []string `json:"shortNames"`
	Categories []string `json:"categories"`
}

type discoveredResource struct {
	apiResource
	groupVersion string
}

// discover reads the server's legacy discovery documents.
func discover(ctx context.Context, c *client.Client) ([]discoveredResource, error) {
	var core struct {
		Versions []string `json:"versions"`
	}
	if err := c.Do(ctx, client.Request{Path: "/api"}, &core); err != nil {
		return nil, err
	}
	gvs := []string{}
	for _, v := range core.Versions {
		gvs = append(gvs, v)
	}
	var groups struct {
		Groups []struct {
			Name             string `json:"name"`
			PreferredVersion struct {
				GroupVersion string `json:"groupVersion"`
			} `json:"preferredVersion"`
		} `json:"groups"`
	}
	if err := c.Do(ctx, client.Request{Path: "/apis"}, &groups); err != nil {
		return nil, err
	}
	for _, g := range groups.Groups {
		gvs = append(gvs, g.PreferredVersion.GroupVersion)
	}
	var out []discoveredResource
	for _, gv := range gvs {
		path := "/apis/" + gv
		if !strings.Contains(gv, "/") {
			path = "/api/" + gv
		}
		var list struct {
			Resources []apiResource `json:"resources"`
		}
		if err := c.Do(ctx, client.Request{Path: path}, &list); err != nil {
			return nil, fmt.Errorf("discovering %s: %w", gv, err)
		}
		for _, r := range list.Resources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			out = append(out, discoveredResource{apiResource: r, groupVersion: gv})
		}
	}
	return out, nil
}

func newAPIResources(f *Factory) *cobra.Command {
	var output, group string
	var namespaced string
	var noHeaders bool
	c := &cobra.Command{
		Use:   "api-resources",
		Short: "Print the resources the server serves",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := f.Clientset()
			if err != nil {
				return err
			}
			list, err := discover(cmd.Context(), cs.Client)
			if err != nil {
				return err
			}
			sort.SliceStable(list, func(i, j int) bool {
				gi, gj := groupOf(list[i].groupVersion), groupOf(list[j].groupVersion)
				if gi != gj {
					return gi < gj
				}
				return list[i].Name < list[j].Name
			})
			tw := printers.NewTabWriter(f.IO.Out)
			if output != "name" && !noHeaders {
				h := "NAME\tSHORTNAMES\tAPIVERSION\tNAMESPACED\tKIND"
				if output == "wide" {
					h += "\tVERBS\tCATEGORIES"
				}
				fmt.Fprintln(tw, h)
			}
			for _, r := range list {
				if group != "" && groupOf(r.groupVersion) != group {
					continue
				}
				if namespaced != "" && fmt.Sprint(r.Namespaced) != namespaced {
					continue
				}
				if output == "name" {
					name := r.Name
					if g := groupOf(r.groupVersion); g != "" {
						name += "." + g
					}
					fmt.Fprintln(tw, name)
					continue
				}
				line := fmt.Sprintf("%s\t%s\t%s\t%v\t%s", r.Name, strings.Join(r.ShortNames, ","), r.groupVersion, r.Namespaced, r.Kind)
				if output == "wide" {
					line += fmt.Sprintf("\t%s\t%s", strings.Join(r.Verbs, ","), strings.Join(r.Categories, ","))
				}
				fmt.Fprintln(tw, line)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "wide or name")
	c.Flags().StringVar(&group, "api-group", "", "only resources of this group (\"\" is core)")
	c.Flags().StringVar(&namespaced, "namespaced", "", "true or false: only namespaced or only cluster-scoped resources")
	c.Flags().BoolVar(&noHeaders, "no-headers", false, "don't print headers")
	return c
}

func groupOf(gv string) string {
	g, _, ok := strings.Cut(gv, "/")
	if !ok {
		return ""
	}
	return g
}

func newClusterInfo(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "cluster-info",
		Short: "Print where the control plane and cluster services run",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := f.Clientset()
			if err != nil {
				return err
			}
			var v version.Info
			if err := cs.Do(cmd.Context(), client.Request{Path: "/version"}, &v); err != nil {
				return err
			}
			server := cs.Config().Server
			fmt.Fprintf(f.IO.Out, "Skiff control plane is running at %s (Kubernetes API %s)\n", server, v.GitVersion)
			svcs, err := cs.Services.List(cmd.Context(), "kube-system", client.ListOptions{LabelSelector: "kubernetes.io/cluster-service=true"})
			if err == nil {
				for _, s := range svcs.Items {
					name := s.Labels["kubernetes.io/name"]
					if name == "" {
						name = s.Name
					}
					fmt.Fprintf(f.IO.Out, "%s is running at %s/api/v1/namespaces/kube-system/services/%s/proxy\n", name, server, s.Name)
				}
			}
			return nil
		},
	}
}
