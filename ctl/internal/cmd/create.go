package cmd

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/ctl/internal/printers"
	"github.com/skiffhq/skiff/ctl/internal/resource"
)

func newCreate(f *Factory) *cobra.Command {
	o := &fileOptions{}
	c := &cobra.Command{
		Use:   "create (-f FILENAME | deployment | service | configmap | secret | namespace | job) [flags]",
		Short: "Create resources from files or from the command line",
		Example: `  skiffctl create -f web.yaml
  skiffctl create deployment web --image=busybox --replicas=3 -- httpd -f -p 8080
  skiffctl create service clusterip web --tcp=80:8080
  skiffctl create configmap cfg --from-literal=mode=fast`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.filenames) == 0 {
				return usagef("must specify -f or a subcommand (see 'skiffctl create --help')")
			}
			return runFiles(cmd.Context(), f, o, "create")
		},
	}
	o.bind(c, "create")
	c.AddCommand(newCreateDeployment(f), newCreateService(f), newCreateConfigMap(f), newCreateSecret(f),
		newCreateNamespace(f), newCreateJob(f))
	return c
}

// generated are the flags every generator shares: --dry-run and -o.
type generated struct {
	dryRun string
	output string
}

func (g *generated) bind(c *cobra.Command) {
	c.Flags().StringVar(&g.dryRun, "dry-run", "none", "none, client (print the object without sending it) or server (validate on the server without persisting)")
	c.Flags().StringVarP(&g.output, "output", "o", "", "print the object: json|yaml|name|jsonpath=...")
	c.Flags().Lookup("dry-run").NoOptDefVal = "client"
}

// createObject sends (or with --dry-run=client just prints) a generated object.
func createObject(ctx context.Context, f *Factory, g *generated, obj resource.Object, verb string) error {
	r, err := obj.Resource()
	if err != nil {
		return err
	}
	ns := ""
	if r.Namespaced {
		n, _, err := f.Namespace()
		if err != nil {
			return err
		}
		ns = n
		resource.SetNested(obj, ns, "metadata", "namespace")
	}
	var printer printers.ObjectPrinter
	if g.output != "" {
		format, err := printers.ParseFormat(g.output)
		if err != nil {
			return err
		}
		if printer, err = format.Printer(false); err != nil {
			return err
		}
	}
	suffix := ""
	out := obj
	switch g.dryRun {
	case "client":
		suffix = " (dry run)"
	case "server":
		suffix = " (server dry run)"
		fallthrough
	case "none", "":
		d, err := f.Dynamic()
		if err != nil {
			return err
		}
		q := map[string][]string{}
		if g.dryRun == "server" {
			q["dryRun"] = []string{"All"}
		}
		created, err := d.Create(ctx, r, ns, obj, q)
		if err != nil {
			return err
		}
		out = created
	default:
		return usagef("invalid --dry-run %q: must be none, client or server", g.dryRun)
	}
	if printer != nil {
		return printer.Print(f.IO.Out, []resource.Object{out}, false)
	}
	fmt.Fprintf(f.IO.Out, "%s/%s %s%s\n", resource.TypeName(r), out.Name(), verb, suffix)
	return nil
}

// containerName derives a container name from an image as kubectl does: the last path element
// without tag or digest.
func containerName(image string) string {
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.IndexAny(name, ":@"); i >= 0 {
		name = name[:i]
	}
	name = strings.ToLower(name)
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, name)
	return strings.Trim(name, "-")
}

func newCreateDeployment(f *Factory) *cobra.Command {
	g := &generated{}
	var images []string
	var replicas int32
	var port int32
	c := &cobra.Command{
		Use:     "deployment NAME --image=IMAGE [--replicas=N] [--port=P] [-- COMMAND [ARG...]]",
		Aliases: []string{"deploy"},
		Short:   "Create a deployment with the given name",
		Example: `  skiffctl create deployment web --image=busybox --replicas=3 -- httpd -f -p 8080`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("NAME is required (see '%s --help')", cmd.CommandPath())
			}
			if len(images) == 0 {
				return usagef("required flag(s) \"image\" not set")
			}
			name := args[0]
			var command []string
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				command = args[dash:]
				if dash > 1 {
					return usagef("exactly one NAME is required, got %d", dash)
				}
			} else if len(args) > 1 {
				return usagef("exactly one NAME is required, got %d", len(args))
			}
			if len(images) > 1 && len(command) > 0 {
				return usagef("cannot specify multiple --image options and command")
			}
			labels := map[string]any{"app": name}
			var containers []any
			for _, img := range images {
				ctr := map[string]any{"name": containerName(img), "image": img, "resources": map[string]any{}}
				if len(command) > 0 {
					ctr["command"] = toAny(command)
				}
				if port > 0 {
					ctr["ports"] = []any{map[string]any{"containerPort": port}}
				}
				containers = append(containers, ctr)
			}
			obj := resource.Object{
				"apiVersion": "apps/v1", "kind": "Deployment",
				"metadata": map[string]any{"name": name, "labels": copyMap(labels)},
				"spec": map[string]any{
					"replicas": replicas,
					"selector": map[string]any{"matchLabels": copyMap(labels)},
					"strategy": map[string]any{},
					"template": map[string]any{
						"metadata": map[string]any{"labels": copyMap(labels)},
						"spec":     map[string]any{"containers": containers},
					},
				},
			}
			return createObject(cmd.Context(), f, g, obj, "created")
		},
	}
	c.Flags().StringSliceVar(&images, "image", nil, "image(s) to run; one container per image")
	c.Flags().Int32Var(&replicas, "replicas", 1, "number of replicas")
	c.Flags().Int32Var(&port, "port", 0, "the container port to expose")
	g.bind(c)
	return c
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// copyMap copies a map into the map[string]any shape of an unstructured object.
func copyMap[V any](m map[string]V) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// parsePortSpec reads "80:8080" or "80" (target = port) from --tcp.
func parsePortSpec(s string) (port, target int, err error) {
	p, t, hasTarget := strings.Cut(s, ":")
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return 0, 0, usagef("invalid port %q in --tcp %q", p, s)
	}
	target = port
	if hasTarget {
		target, err = strconv.Atoi(t)
		if err != nil || target < 1 || target > 65535 {
			return 0, 0, usagef("invalid target port %q in --tcp %q", t, s)
		}
	}
	return port, target, nil
}

func newCreateService(f *Factory) *cobra.Command {
	c := &cobra.Command{
		Use:     "service (clusterip | nodeport) NAME --tcp=PORT[:TARGET]",
		Aliases: []string{"svc"},
		Short:   "Create a service of the given type",
	}
	for _, typ := range []string{"ClusterIP", "NodePort"} {
		g := &generated{}
		var tcp []string
		var clusterIP string
		var nodePort int
		c.AddCommand(&cobra.Command{
			Use:     strings.ToLower(typ) + " NAME --tcp=PORT[:TARGET]",
			Short:   "Create a " + typ + " service",
			Example: "  skiffctl create service " + strings.ToLower(typ) + " web --tcp=80:8080",
			Args:    exactArgs(1, "exactly one NAME is required"),
			RunE: func(cmd *cobra.Command, args []string) error {
				name := args[0]
				if len(tcp) == 0 && clusterIP != "None" {
					return usagef("at least one --tcp port is required")
				}
				var ports []any
				for _, spec := range tcp {
					p, t, err := parsePortSpec(spec)
					if err != nil {
						return err
					}
					port := map[string]any{"name": fmt.Sprintf("%d-%d", p, t), "port": p, "protocol": "TCP", "targetPort": t}
					if nodePort > 0 {
						port["nodePort"] = nodePort
					}
					ports = append(ports, port)
				}
				spec := map[string]any{"type": typ, "selector": map[string]any{"app": name}, "ports": ports}
				if clusterIP != "" {
					spec["clusterIP"] = clusterIP
				}
				obj := resource.Object{"apiVersion": "v1", "kind": "Service",
					"metadata": map[string]any{"name": name, "labels": map[string]any{"app": name}}, "spec": spec}
				return createObject(cmd.Context(), f, g, obj, "created")
			},
		})
		sub := c.Commands()[len(c.Commands())-1]
		sub.Flags().StringSliceVar(&tcp, "tcp", nil, "port pairs PORT[:TARGET]")
		if typ == "ClusterIP" {
			sub.Flags().StringVar(&clusterIP, "clusterip", "", "assign this cluster IP; None makes a headless service")
		} else {
			sub.Flags().IntVar(&nodePort, "node-port", 0, "the node port (allocated when 0)")
		}
		g.bind(sub)
	}
	return c
}

// literalsAndFiles reads --from-literal=k=v and --from-file=[k=]path into a map.
func literalsAndFiles(literals, files []string, encode bool) (map[string]any, error) {
	data := map[string]any{}
	for _, l := range literals {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, usagef("invalid literal source %q, expected key=value", l)
		}
		if encode {
			v = base64.StdEncoding.EncodeToString([]byte(v))
		}
		data[k] = v
	}
	for _, spec := range files {
		k, p, ok := strings.Cut(spec, "=")
		if !ok {
			k, p = filepath.Base(spec), spec
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading --from-file %s: %w", p, err)
		}
		v := string(b)
		if encode {
			v = base64.StdEncoding.EncodeToString(b)
		}
		data[k] = v
	}
	return data, nil
}

func newCreateConfigMap(f *Factory) *cobra.Command {
	g := &generated{}
	var literals, files []string
	c := &cobra.Command{
		Use:     "configmap NAME [--from-literal=K=V] [--from-file=[K=]PATH]",
		Aliases: []string{"cm"},
		Short:   "Create a config map from literals and files",
		Args:    exactArgs(1, "exactly one NAME is required"),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := literalsAndFiles(literals, files, false)
			if err != nil {
				return err
			}
			obj := resource.Object{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": args[0]}, "data": data}
			return createObject(cmd.Context(), f, g, obj, "created")
		},
	}
	c.Flags().StringArrayVar(&literals, "from-literal", nil, "a key=value pair")
	c.Flags().StringArrayVar(&files, "from-file", nil, "a file, stored under its base name or the given key")
	g.bind(c)
	return c
}

func newCreateSecret(f *Factory) *cobra.Command {
	c := &cobra.Command{Use: "secret generic NAME [--from-literal=K=V] [--from-file=[K=]PATH]", Short: "Create a secret"}
	g := &generated{}
	var literals, files []string
	var typ string
	generic := &cobra.Command{
		Use:   "generic NAME [--from-literal=K=V] [--from-file=[K=]PATH]",
		Short: "Create a secret from literals and files",
		Args:  exactArgs(1, "exactly one NAME is required"),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := literalsAndFiles(literals, files, true)
			if err != nil {
				return err
			}
			obj := resource.Object{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": args[0]}, "data": data}
			if typ != "" {
				obj["type"] = typ
			}
			return createObject(cmd.Context(), f, g, obj, "created")
		},
	}
	generic.Flags().StringArrayVar(&literals, "from-literal", nil, "a key=value pair")
	generic.Flags().StringArrayVar(&files, "from-file", nil, "a file, stored under its base name or the given key")
	generic.Flags().StringVar(&typ, "type", "", "the secret type (Opaque when empty)")
	g.bind(generic)
	c.AddCommand(generic)
	return c
}

func newCreateNamespace(f *Factory) *cobra.Command {
	g := &generated{}
	c := &cobra.Command{
		Use:     "namespace NAME",
		Aliases: []string{"ns"},
		Short:   "Create a namespace",
		Args:    exactArgs(1, "exactly one NAME is required"),
		RunE: func(cmd *cobra.Command, args []string) error {
			obj := resource.Object{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": args[0]}, "spec": map[string]any{}}
			return createObject(cmd.Context(), f, g, obj, "created")
		},
	}
	g.bind(c)
	return c
}

func newCreateJob(f *Factory) *cobra.Command {
	g := &generated{}
	var image string
	c := &cobra.Command{
		Use:   "job NAME --image=IMAGE [-- COMMAND [ARG...]]",
		Short: "Create a job that runs a command to completion",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("NAME is required (see '%s --help')", cmd.CommandPath())
			}
			if image == "" {
				return usagef("required flag(s) \"image\" not set")
			}
			ctr := map[string]any{"name": args[0], "image": image, "resources": map[string]any{}}
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				ctr["command"] = toAny(args[dash:])
			}
			obj := resource.Object{"apiVersion": "batch/v1", "kind": "Job",
				"metadata": map[string]any{"name": args[0]},
				"spec": map[string]any{"template": map[string]any{
					"metadata": map[string]any{},
					"spec":     map[string]any{"containers": []any{ctr}, "restartPolicy": "Never"},
				}}}
			return createObject(cmd.Context(), f, g, obj, "created")
		},
	}
	c.Flags().StringVar(&image, "image", "", "the image to run")
	g.bind(c)
	return c
}
