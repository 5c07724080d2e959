package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/ctl/internal/describe"
	"github.com/skiffhq/skiff/ctl/internal/resource"
	"github.com/skiffhq/skiff/shared/client"
)

func newDescribe(f *Factory) *cobra.Command {
	var selector string
	showEvents := true
	c := &cobra.Command{
		Use:   "describe (TYPE [NAME...] | TYPE/NAME ...) [-l SELECTOR]",
		Short: "Show details of objects, their related objects and events",
		Example: `  skiffctl describe pod web-5d9f-abcde
  skiffctl describe deployment web
  skiffctl describe svc web
  skiffctl describe nodes`,
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 0 {
				return usagef("you must specify the type of resource to describe")
			}
			ns, _, err := f.Namespace()
			if err != nil {
				return err
			}
			req, err := resource.ParseArgs(args, ns)
			if err != nil {
				return err
			}
			refs := req.Refs
			if len(refs) == 0 {
				d, err := f.Dynamic()
				if err != nil {
					return err
				}
				listNS := f.listNamespace(ns)
				refs, err = listRefs(ctx, d, req.Types, listNS, resource.ListOptions{LabelSelector: selector})
				if err != nil {
					return err
				}
				if len(refs) == 0 {
					noResources(f, req.Types[0], listNS)
					return nil
				}
			}
			cs, err := f.Clientset()
			if err != nil {
				return err
			}
			dsc := &describe.Describer{CS: cs, ShowEvents: showEvents}
			var failures []error
			for i, ref := range refs {
				if i > 0 {
					fmt.Fprintln(f.IO.Out)
					fmt.Fprintln(f.IO.Out)
				}
				if err := dsc.Describe(ctx, f.IO.Out, ref.Resource, ref.Namespace, ref.Name); err != nil {
					failures = append(failures, err)
				}
			}
			return errs(failures)
		},
	}
	c.Flags().StringVarP(&selector, "selector", "l", "", "describe the objects matching this label selector")
	c.Flags().BoolVar(&showEvents, "show-events", true, "show the events of each object")
	return c
}

func newScale(f *Factory) *cobra.Command {
	var replicas, current int
	var selector string
	var all bool
	c := &cobra.Command{
		Use:               "scale (TYPE NAME | TYPE/NAME) --replicas=N",
		Short:             "Set the number of replicas of a deployment, replica set or stateful set",
		Example:           `  skiffctl scale deployment web --replicas=5`,
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if replicas < 0 {
				return usagef("the --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
			}
			refs, err := selectedRefs(ctx, f, args, selector, all)
			if err != nil {
				return err
			}
			d, err := f.Dynamic()
			if err != nil {
				return err
			}
			var failures []error
			for _, ref := range refs {
				if _, ok := ref.Resource.Subresource("scale"); !ok {
					failures = append(failures, fmt.Errorf("cannot scale %s: it has no scale subresource", ref.Resource.GroupResource()))
					continue
				}
				if current >= 0 {
					cs, _ := f.Clientset()
					var scale map[string]any
					path := ref.Resource.Path(ref.Namespace, ref.Name) + "/scale"
					if err := cs.Do(ctx, client.Request{Path: path}, &scale); err != nil {
						failures = append(failures, err)
						continue
					}
					got, _ := resource.Nested(scale, "spec", "replicas")
					if n, _ := got.(float64); int(n) != current {
						failures = append(failures, fmt.Errorf("expected replicas to be %d, was %d", current, int(n)))
						continue
					}
					resource.SetNested(scale, replicas, "spec", "replicas")
					if err := cs.Do(ctx, client.Request{Method: "PUT", Path: path, Body: scale}, nil); err != nil {
						failures = append(failures, err)
						continue
					}
				} else if _, err := d.Patch(ctx, ref, client.MergePatchType, []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)), "scale"); err != nil {
					failures = append(failures, err)
					continue
				}
				fmt.Fprintf(f.IO.Out, "%s scaled\n", ref)
			}
			return errs(failures)
		},
	}
	c.Flags().IntVar(&replicas, "replicas", -1, "the new number of replicas (required)")
	c.Flags().IntVar(&current, "current-replicas", -1, "precondition: only scale when the current number of replicas is this")
	c.Flags().StringVarP(&selector, "selector", "l", "", "scale the objects matching this label selector")
	c.Flags().BoolVar(&all, "all", false, "scale every object of the type")
	return c
}

// newLabeler builds label and annotate, which differ only in the metadata field they change.
func newLabeler(f *Factory, use, field, past string) *cobra.Command {
	var overwrite, all, list bool
	var selector string
	c := &cobra.Command{
		Use:               use + " (TYPE NAME | TYPE/NAME) KEY=VALUE ... [KEY-]",
		Short:             "Update the " + field + " of objects",
		Example:           "  skiffctl " + use + " pods web-1 tier=frontend\n  skiffctl " + use + " deploy/web tier-\n  skiffctl " + use + " --overwrite pods -l app=web tier=backend",
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var objArgs []string
			changes := map[string]any{}
			for _, a := range args {
				switch {
				case strings.Contains(a, "="):
					k, v, _ := strings.Cut(a, "=")
					if k == "" {
						return usagef("invalid %s %q: the key is empty", field[:len(field)-1], a)
					}
					changes[k] = v
				case strings.HasSuffix(a, "-") && len(objArgs) > 0:
					changes[strings.TrimSuffix(a, "-")] = nil
				default:
					objArgs = append(objArgs, a)
				}
			}
			if len(objArgs) == 0 {
				return usagef("one or more resources must be specified as <resource> <name> or <resource>/<name>")
			}
			if len(changes) == 0 && !list {
				return usagef("at least one %s update is required", field[:len(field)-1])
			}
			refs, err := selectedRefs(ctx, f, objArgs, selector, all)
			if err != nil {
				return err
			}
			return eachLive(ctx, f, refs, func(d *resource.Dynamic, ref resource.Ref, live resource.Object) error {
				existing := live.StringMap("metadata", field)
				if list {
					for k, v := range existing {
						fmt.Fprintf(f.IO.Out, "%s=%s\n", k, v)
					}
					return nil
				}
				changed := false
				for k, v := range changes {
					old, has := existing[k]
					if v == nil {
						changed = changed || has
						continue
					}
					if has && old != v && !overwrite {
						return fmt.Errorf("'%s' already has a value (%s), and --overwrite is false", k, old)
					}
					changed = changed || !has || old != v
				}
				if !changed {
					fmt.Fprintf(f.IO.Out, "%s not %s\n", ref, past)
					return nil
				}
				patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{field: changes, "resourceVersion": live.ResourceVersion()}})
				if _, err := d.Patch(ctx, ref, client.MergePatchType, patch, ""); err != nil {
					return err
				}
				fmt.Fprintf(f.IO.Out, "%s %s\n", ref, past)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&overwrite, "overwrite", false, "allow replacing existing values")
	c.Flags().StringVarP(&selector, "selector", "l", "", "change the objects matching this label selector")
	c.Flags().BoolVar(&all, "all", false, "change every object of the type in the namespace")
	c.Flags().BoolVar(&list, "list", false, "print the current "+field)
	return c
}

func newLabel(f *Factory) *cobra.Command { return newLabeler(f, "label", "labels", "labeled") }
func newAnnotate(f *Factory) *cobra.Command {
	return newLabeler(f, "annotate", "annotations", "annotated")
}

func patchType(s string) (client.PatchType, error) {
	switch s {
	case "strategic", "":
		return client.StrategicMergePatchType, nil
	case "merge":
		return client.MergePatchType, nil
	case "json":
		return client.JSONPatchType, nil
	}
	return "", usagef("--type must be one of [json merge strategic], not %q", s)
}

func newPatch(f *Factory) *cobra.Command {
	var patch, patchFile, typ, sub string
	c := &cobra.Command{
		Use:   "patch (TYPE NAME | TYPE/NAME) -p PATCH [--type strategic|merge|json]",
		Short: "Update fields of an object with a strategic merge, JSON merge or JSON patch",
		Example: `  skiffctl patch deployment web -p '{"spec":{"replicas":2}}'
  skiffctl patch pod web-1 --type=json -p '[{"op":"replace","path":"/metadata/labels/tier","value":"db"}]'`,
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			pt, err := patchType(typ)
			if err != nil {
				return err
			}
			if patchFile != "" {
				b, err := os.ReadFile(patchFile)
				if err != nil {
					return err
				}
				patch = string(b)
			}
			if patch == "" {
				return usagef("must specify -p to patch")
			}
			body, err := yaml.YAMLToJSON([]byte(patch))
			if err != nil {
				return fmt.Errorf("unable to parse %q: %w", patch, err)
			}
			refs, err := namedRefs(f, args)
			if err != nil {
				return err
			}
			return eachLive(ctx, f, refs, func(d *resource.Dynamic, ref resource.Ref, before resource.Object) error {
				after, err := d.Patch(ctx, ref, pt, body, sub)
				if err != nil {
					return err
				}
				if sub == "" && after.ResourceVersion() == before.ResourceVersion() {
					fmt.Fprintf(f.IO.Out, "%s patched (no change)\n", ref)
				} else {
					fmt.Fprintf(f.IO.Out, "%s patched\n", ref)
				}
				return nil
			})
		},
	}
	c.Flags().StringVarP(&patch, "patch", "p", "", "the patch, JSON or YAML")
	c.Flags().StringVar(&patchFile, "patch-file", "", "a file holding the patch")
	c.Flags().StringVar(&typ, "type", "strategic", "json, merge or strategic")
	c.Flags().StringVar(&sub, "subresource", "", "patch a subresource (status, scale)")
	return c
}

func newEdit(f *Factory) *cobra.Command {
	c := &cobra.Command{
		Use:               "edit (TYPE NAME | TYPE/NAME)",
		Short:             "Edit an object in $KUBE_EDITOR or $EDITOR and send the change as a strategic merge patch",
		Example:           `  KUBE_EDITOR=nano skiffctl edit deployment web`,
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			d, ref, live, err := liveObject(ctx, f, args)
			if err != nil {
				return err
			}
			original, _ := json.Marshal(live)
			text, err := yaml.JSONToYAML(original)
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "skiffctl-edit-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			file := filepath.Join(dir, strings.ReplaceAll(ref.String(), "/", "-")+".yaml")
			header := "# Please edit the object below. Lines beginning with a '#' will be ignored,\n# and an empty file will abort the edit.\n#\n"
			if err := os.WriteFile(file, append([]byte(header), text...), 0o600); err != nil {
				return err
			}
			editor := os.Getenv("KUBE_EDITOR")
			if editor == "" {
				editor = os.Getenv("EDITOR")
			}
			if editor == "" {
				editor = "vi"
			}
			run := exec.CommandContext(ctx, "sh", "-c", editor+` "$1"`, "sh", file)
			run.Stdin, run.Stdout, run.Stderr = os.Stdin, f.IO.Out, f.IO.ErrOut
			if err := run.Run(); err != nil {
				return fmt.Errorf("running editor %q: %w", editor, err)
			}
			edited, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			var kept []string
			for _, l := range strings.Split(string(edited), "\n") {
				if !strings.HasPrefix(strings.TrimSpace(l), "#") {
					kept = append(kept, l)
				}
			}
			if strings.TrimSpace(strings.Join(kept, "\n")) == "" {
				fmt.Fprintln(f.IO.ErrOut, "Edit cancelled, saved file was empty.")
				return nil
			}
			editedJSON, err := yaml.YAMLToJSON([]byte(strings.Join(kept, "\n")))
			if err != nil {
				return fmt.Errorf("the edited file is not valid YAML: %w", err)
			}
			patch, err := strategicpatch.CreateTwoWayMergePatch(original, editedJSON, ref.Resource.New())
			if err != nil {
				return fmt.Errorf("computing the patch: %w", err)
			}
			if string(patch) == "{}" {
				fmt.Fprintln(f.IO.ErrOut, "Edit cancelled, no changes made.")
				return nil
			}
			if _, err := d.Patch(ctx, ref, client.StrategicMergePatchType, patch, ""); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "%s edited\n", ref)
			return nil
		},
	}
	return c
}

// containersPath is where a workload keeps its pod's containers.
func containersPath(kind string) []string {
	if kind == "Pod" {
		return []string{"spec"}
	}
	if kind == "CronJob" {
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}
	}
	return []string{"spec", "template", "spec"}
}

func newSet(f *Factory) *cobra.Command {
	c := &cobra.Command{Use: "set image", Short: "Set specific features on objects"}
	image := &cobra.Command{
		Use:               "image (TYPE NAME | TYPE/NAME) CONTAINER=IMAGE ...",
		Short:             "Update the images of a workload's containers (* for all)",
		Example:           `  skiffctl set image deployment/web httpd=busybox:1.36`,
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var objArgs []string
			images := map[string]string{}
			var order []string
			for _, a := range args {
				if k, v, ok := strings.Cut(a, "="); ok {
					if k == "" || v == "" {
						return usagef("invalid image update %q, expected CONTAINER=IMAGE", a)
					}
					images[k] = v
					order = append(order, k)
				} else {
					objArgs = append(objArgs, a)
				}
			}
			if len(images) == 0 {
				return usagef("at least one image update is required")
			}
			refs, err := namedRefs(f, objArgs)
			if err != nil {
				return err
			}
			return eachLive(ctx, f, refs, func(d *resource.Dynamic, ref resource.Ref, live resource.Object) error {
				path := containersPath(live.Kind())
				spec, _ := resource.Nested(live, path...)
				specMap, _ := spec.(map[string]any)
				var updates []any
				seen := map[string]bool{}
				for _, field := range []string{"initContainers", "containers"} {
					list, _ := specMap[field].([]any)
					var fieldUpdates []any
					for _, it := range list {
						ctr, _ := it.(map[string]any)
						name, _ := ctr["name"].(string)
						img, ok := images[name]
						if !ok {
							img, ok = images["*"]
						}
						if ok {
							seen[name] = true
							fieldUpdates = append(fieldUpdates, map[string]any{"name": name, "image": img})
						}
					}
					if len(fieldUpdates) > 0 {
						updates = append(updates, field, fieldUpdates)
					}
				}
				missing := ""
				for _, k := range order {
					if k != "*" && !seen[k] {
						missing = k
					}
				}
				if missing != "" {
					return fmt.Errorf("unable to find container named %q", missing)
				}
				inner := map[string]any{}
				for i := 0; i < len(updates); i += 2 {
					inner[updates[i].(string)] = updates[i+1]
				}
				patchObj := map[string]any{}
				resource.SetNested(patchObj, inner, path...)
				patch, _ := json.Marshal(patchObj)
				if _, err := d.Patch(ctx, ref, client.StrategicMergePatchType, patch, ""); err != nil {
					return err
				}
				fmt.Fprintf(f.IO.Out, "%s image updated\n", ref)
				return nil
			})
		},
	}
	c.AddCommand(image)
	return c
}

func newExpose(f *Factory) *cobra.Command {
	var port, targetPort, name, typ, protocol, selector, nodePort string
	c := &cobra.Command{
		Use:               "expose (TYPE NAME | TYPE/NAME) --port=PORT [--target-port=PORT] [--type=ClusterIP|NodePort]",
		Short:             "Make a Service for a deployment, replica set, pod or service, selecting its pods",
		Example:           `  skiffctl expose deployment web --port=80 --target-port=8080`,
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, ref, live, err := liveObject(ctx, f, args)
			if err != nil {
				return err
			}
			sel := map[string]string{}
			switch live.Kind() {
			case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet":
				if exprs, _ := resource.Nested(live, "spec", "selector", "matchExpressions"); exprs != nil {
					return fmt.Errorf("couldn't retrieve selectors via --selector flag or introspection: the %s uses matchExpressions, which a Service selector cannot express", live.Kind())
				}
				sel = live.StringMap("spec", "selector", "matchLabels")
			case "Pod":
				sel = live.Labels()
			case "Service":
				sel = live.StringMap("spec", "selector")
			default:
				return fmt.Errorf("cannot expose a %s", live.Kind())
			}
			if selector != "" {
				var ok bool
				if sel, ok = parsePairs(selector); !ok {
					return usagef("invalid --selector %q: only k=v pairs are allowed", selector)
				}
			}
			if len(sel) == 0 {
				return fmt.Errorf("couldn't find a selector on %s", ref)
			}
			if port == "" {
				port = firstContainerPort(live)
				if port == "" {
					return fmt.Errorf("couldn't find port via --port flag or introspection")
				}
			}
			p, err := strconv.Atoi(port)
			if err != nil || p < 1 || p > 65535 {
				return usagef("invalid --port %q", port)
			}
			svcPort := map[string]any{"port": p, "protocol": protocol}
			if targetPort != "" {
				if n, err := strconv.Atoi(targetPort); err == nil {
					svcPort["targetPort"] = n
				} else {
					svcPort["targetPort"] = targetPort
				}
			} else {
				svcPort["targetPort"] = p
			}
			if nodePort != "" {
				n, err := strconv.Atoi(nodePort)
				if err != nil {
					return usagef("invalid --node-port %q", nodePort)
				}
				svcPort["nodePort"] = n
			}
			if name == "" {
				name = ref.Name
			}
			spec := map[string]any{"selector": copyMap(sel), "ports": []any{svcPort}}
			if typ != "" {
				spec["type"] = typ
			}
			md := map[string]any{"name": name}
			if l := live.Labels(); len(l) > 0 {
				md["labels"] = copyMap(l)
			}
			svc := resource.Object{"apiVersion": "v1", "kind": "Service", "metadata": md, "spec": spec}
			return createObject(ctx, f, &generated{dryRun: "none"}, svc, "exposed")
		},
	}
	c.Flags().StringVar(&port, "port", "", "the port the service serves on (default: the workload's first container port)")
	c.Flags().StringVar(&targetPort, "target-port", "", "the container port (number or name) traffic goes to; defaults to --port")
	c.Flags().StringVar(&name, "name", "", "the service name (default: the object's name)")
	c.Flags().StringVar(&typ, "type", "", "ClusterIP (default), NodePort or LoadBalancer")
	c.Flags().StringVar(&protocol, "protocol", "TCP", "TCP, UDP or SCTP")
	c.Flags().StringVar(&selector, "selector", "", "a k=v,... selector to use instead of the object's")
	c.Flags().StringVar(&nodePort, "node-port", "", "the node port of a NodePort service")
	return c
}

// parsePairs reads "k=v,k2=v2"; ok is false when an element has no "=".
func parsePairs(spec string) (pairs map[string]string, ok bool) {
	pairs = map[string]string{}
	for _, kv := range strings.Split(spec, ",") {
		k, v, found := strings.Cut(kv, "=")
		if !found {
			return nil, false
		}
		pairs[k] = v
	}
	return pairs, true
}

func firstContainerPort(o resource.Object) string {
	spec, _ := resource.Nested(o, containersPath(o.Kind())...)
	m, _ := spec.(map[string]any)
	ctrs, _ := m["containers"].([]any)
	for _, c := range ctrs {
		cm, _ := c.(map[string]any)
		ports, _ := cm["ports"].([]any)
		for _, p := range ports {
			pm, _ := p.(map[string]any)
			if n, ok := pm["containerPort"].(float64); ok {
				return strconv.Itoa(int(n))
			}
		}
	}
	return ""
}

func newRun(f *Factory) *cobra.Command {
	g := &generated{}
	var image, restart, labelSpec, port string
	var env []string
	var command bool
	c := &cobra.Command{
		Use:   "run NAME --image=IMAGE [--port=P] [--env=K=V] [--labels=K=V,...] [--command] [-- ARGS...]",
		Short: "Run a pod with one container",
		Example: `  skiffctl run hello --image=busybox --restart=Never -- echo hello
  skiffctl run web --image=busybox --port=8080 --command -- httpd -f -p 8080`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("NAME is required for run")
			}
			if image == "" {
				return usagef("--image is required")
			}
			name := args[0]
			var rest []string
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				if dash > 1 {
					return usagef("exactly one NAME is required before --")
				}
				rest = args[dash:]
			} else if len(args) > 1 {
				rest = args[1:]
			}
			labels := map[string]any{"run": name}
			if labelSpec != "" {
				pairs, ok := parsePairs(labelSpec)
				if !ok {
					return usagef("invalid --labels %q", labelSpec)
				}
				labels = copyMap(pairs)
			}
			ctr := map[string]any{"name": name, "image": image, "resources": map[string]any{}}
			if len(rest) > 0 {
				if command {
					ctr["command"] = toAny(rest)
				} else {
					ctr["args"] = toAny(rest)
				}
			}
			if port != "" {
				p, err := strconv.Atoi(port)
				if err != nil {
					return usagef("invalid --port %q", port)
				}
				ctr["ports"] = []any{map[string]any{"containerPort": p}}
			}
			var envs []any
			for _, e := range env {
				k, v, ok := strings.Cut(e, "=")
				if !ok {
					return usagef("invalid --env %q, expected K=V", e)
				}
				envs = append(envs, map[string]any{"name": k, "value": v})
			}
			if len(envs) > 0 {
				ctr["env"] = envs
			}
			switch restart {
			case "Always", "OnFailure", "Never":
			default:
				return usagef("invalid --restart %q: Always, OnFailure or Never", restart)
			}
			pod := resource.Object{"apiVersion": "v1", "kind": "Pod",
				"metadata": map[string]any{"name": name, "labels": labels},
				"spec":     map[string]any{"containers": []any{ctr}, "restartPolicy": restart}}
			return createObject(cmd.Context(), f, g, pod, "created")
		},
	}
	c.Flags().StringVar(&image, "image", "", "the image to run")
	c.Flags().StringVar(&restart, "restart", "Always", "the pod's restart policy: Always, OnFailure or Never")
	c.Flags().StringVarP(&labelSpec, "labels", "l", "", "labels k=v,... (default run=NAME)")
	c.Flags().StringVar(&port, "port", "", "the container port to declare")
	c.Flags().StringArrayVar(&env, "env", nil, "environment variables K=V")
	c.Flags().BoolVar(&command, "command", false, "treat the arguments after -- as the command, not the image's arguments")
	g.bind(c)
	return c
}

// restartedAt is the annotation rollout restart sets on the pod template.
const restartedAt = "kubectl.kubernetes.io/restartedAt"

func nowRFC3339() string { return time.Now().Format(time.RFC3339) }

var _ = context.Background
