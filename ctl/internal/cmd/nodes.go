package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/ctl/internal/printers"
	"github.com/skiffhq/skiff/ctl/internal/progress"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	policyv1 "github.com/skiffhq/skiff/shared/api/policy/v1"
	"github.com/skiffhq/skiff/shared/client"
)

func setUnschedulable(ctx context.Context, f *Factory, names []string, selector string, value bool) error {
	cs, err := f.Clientset()
	if err != nil {
		return err
	}
	if selector != "" {
		list, err := cs.Nodes.List(ctx, "", client.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		for _, n := range list.Items {
			names = append(names, n.Name)
		}
	}
	if len(names) == 0 {
		return usagef("a NODE name or a selector is required")
	}
	verb := map[bool]string{true: "cordoned", false: "uncordoned"}[value]
	var failures []error
	for _, name := range names {
		n, err := cs.Nodes.Get(ctx, "", name, client.GetOptions{})
		if err != nil {
			failures = append(failures, err)
			continue
		}
		if n.Spec.Unschedulable == value {
			fmt.Fprintf(f.IO.Out, "node/%s already %s\n", name, verb)
			continue
		}
		patch := fmt.Sprintf(`{"spec":{"unschedulable":%v}}`, value)
		if !value {
			patch = `{"spec":{"unschedulable":null}}`
		}
		if _, err := cs.Nodes.Patch(ctx, "", name, client.StrategicMergePatchType, []byte(patch), client.PatchOptions{}); err != nil {
			failures = append(failures, err)
			continue
		}
		fmt.Fprintf(f.IO.Out, "node/%s %s\n", name, verb)
	}
	return errs(failures)
}

func newCordon(f *Factory) *cobra.Command {
	var selector string
	c := &cobra.Command{
		Use:               "cordon NODE...",
		Short:             "Mark nodes unschedulable",
		ValidArgsFunction: completeFixedType(f, "nodes"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return setUnschedulable(cmd.Context(), f, args, selector, true)
		},
	}
	c.Flags().StringVarP(&selector, "selector", "l", "", "cordon the nodes matching this selector")
	return c
}

func newUncordon(f *Factory) *cobra.Command {
	var selector string
	c := &cobra.Command{
		Use:               "uncordon NODE...",
		Short:             "Mark nodes schedulable again",
		ValidArgsFunction: completeFixedType(f, "nodes"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return setUnschedulable(cmd.Context(), f, args, selector, false)
		},
	}
	c.Flags().StringVarP(&selector, "selector", "l", "", "uncordon the nodes matching this selector")
	return c
}

type drainOptions struct {
	ignoreDaemonSets, deleteEmptyDir, force, disableEviction bool
	gracePeriod                                              int
	timeout                                                  time.Duration
	selector, podSelector                                    string
}

// drainPlan sorts a node's pods into those to evict and the reasons others block or are skipped.
func drainPlan(pods []corev1.Pod, o *drainOptions) (evict []corev1.Pod, warnings []string, blockers []string) {
	var ds, unmanaged, emptyDir, skipped []string
	for _, p := range pods {
		key := p.Namespace + "/" + p.Name
		if _, mirror := p.Annotations["kubernetes.io/config.mirror"]; mirror {
			skipped = append(skipped, key)
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			evict = append(evict, p)
			continue
		}
		ctrl := ""
		for _, r := range p.OwnerReferences {
			if r.Controller != nil && *r.Controller {
				ctrl = r.Kind
			}
		}
		if ctrl == "DaemonSet" {
			ds = append(ds, key)
			continue
		}
		if ctrl == "" {
			unmanaged = append(unmanaged, key)
			if !o.force {
				continue
			}
		}
		hasEmptyDir := false
		for _, v := range p.Spec.Volumes {
			hasEmptyDir = hasEmptyDir || v.EmptyDir != nil
		}
		if hasEmptyDir {
			emptyDir = append(emptyDir, key)
			if !o.deleteEmptyDir {
				continue
			}
		}
		evict = append(evict, p)
	}
	if len(ds) > 0 {
		if o.ignoreDaemonSets {
			warnings = append(warnings, "ignoring DaemonSet-managed Pods: "+strings.Join(ds, ", "))
		} else {
			blockers = append(blockers, "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): "+strings.Join(ds, ", "))
		}
	}
	if len(unmanaged) > 0 {
		if o.force {
			warnings = append(warnings, "deleting Pods that declare no controller: "+strings.Join(unmanaged, ", "))
		} else {
			blockers = append(blockers, "cannot delete Pods that declare no controller (use --force to override): "+strings.Join(unmanaged, ", "))
		}
	}
	if len(emptyDir) > 0 && !o.deleteEmptyDir {
		blockers = append(blockers, "cannot delete Pods with local storage (use --delete-emptydir-data to override): "+strings.Join(emptyDir, ", "))
	}
	if len(skipped) > 0 {
		warnings = append(warnings, "ignoring mirror Pods: "+strings.Join(skipped, ", "))
	}
	return evict, warnings, blockers
}

func newDrain(f *Factory) *cobra.Command {
	o := &drainOptions{}
	c := &cobra.Command{
		Use:               "drain NODE",
		Short:             "Cordon a node and evict its pods, respecting their grace periods and disruption budgets",
		Example:           `  skiffctl drain node1 --ignore-daemonsets --delete-emptydir-data`,
		ValidArgsFunction: completeFixedType(f, "nodes"),
		Args:              exactArgs(1, "exactly one NODE is required"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if o.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, o.timeout)
				defer cancel()
			}
			node := args[0]
			if err := setUnschedulable(ctx, f, []string{node}, "", true); err != nil {
				return err
			}
			cs, _ := f.Clientset()
			list, err := cs.Pods.List(ctx, "", client.ListOptions{FieldSelector: "spec.nodeName=" + node, LabelSelector: o.podSelector})
			if err != nil {
				return err
			}
			evict, warnings, blockers := drainPlan(list.Items, o)
			if len(blockers) > 0 {
				return fmt.Errorf("unable to drain node %q due to error: %s, continuing command...\nThere are pending nodes to be drained:\n %s", node, strings.Join(blockers, ", "), node)
			}
			for _, w := range warnings {
				warn(f, "%s", w)
			}
			rep := progress.New(f.IO.Out)
			stop := make(chan struct{})
			defer close(stop)
			go rep.Run(stop)
			var opts *metav1.DeleteOptions
			if o.gracePeriod >= 0 {
				g := int64(o.gracePeriod)
				opts = &metav1.DeleteOptions{GracePeriodSeconds: &g}
			}
			for _, p := range evict {
				rep.Done(fmt.Sprintf("evicting pod %s/%s", p.Namespace, p.Name))
				for {
					var err error
					if o.disableEviction {
						err = cs.Pods.Delete(ctx, p.Namespace, p.Name, opts)
					} else {
						err = cs.EvictPod(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}, DeleteOptions: opts})
					}
					if err == nil || client.IsNotFound(err) {
						break
					}
					if !client.IsTooManyRequests(err) {
						return fmt.Errorf("evicting pod %s/%s: %w", p.Namespace, p.Name, err)
					}
					rep.Update(fmt.Sprintf("error when evicting pods/%q -n %q (will retry after 5s): %v", p.Name, p.Namespace, client.ReasonForError(err)))
					select {
					case <-ctx.Done():
						return timeoutErr(ctx, ctx.Err(), "drain")
					case <-time.After(5 * time.Second):
					}
				}
			}
			d, _ := f.Dynamic()
			for _, p := range evict {
				rep.Update(fmt.Sprintf("waiting for pod/%s to terminate", p.Name))
				ref, _ := oneRef(f, []string{"pods/" + p.Name})
				ref.Namespace = p.Namespace
				if err := waitDeleted(ctx, d, ref, p.UID); err != nil {
					rep.Done("")
					return timeoutErr(ctx, err, "drain")
				}
				rep.Done(fmt.Sprintf("pod/%s evicted", p.Name))
			}
			rep.Done(fmt.Sprintf("node/%s drained", node))
			return nil
		},
	}
	fl := c.Flags()
	fl.BoolVar(&o.ignoreDaemonSets, "ignore-daemonsets", false, "leave DaemonSet-managed pods in place")
	fl.BoolVar(&o.deleteEmptyDir, "delete-emptydir-data", false, "evict pods with emptyDir volumes (their data is lost)")
	fl.BoolVar(&o.force, "force", false, "also delete pods that no controller manages")
	fl.BoolVar(&o.disableEviction, "disable-eviction", false, "delete pods instead of evicting them (bypasses disruption budgets)")
	fl.IntVar(&o.gracePeriod, "grace-period", -1, "seconds each pod gets to terminate; -1 uses the pod's own")
	fl.DurationVar(&o.timeout, "timeout", 0, "give up after this long (0: never)")
	fl.StringVar(&o.podSelector, "pod-selector", "", "only evict pods matching this label selector")
	return c
}

func newPortForward(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "port-forward",
		Short: "Forward local ports to a pod (not available yet)",
		RunE: func(*cobra.Command, []string) error {
			return fmt.Errorf("port-forward is not supported: Skiff's apiserver does not serve pods/portforward yet; use a NodePort service or exec instead")
		},
	}
}

// podUsage is one pod's resource use from a node agent's /stats/summary.
type podUsage struct {
	Namespace        string `json:"namespace"`
	Name             string `json:"name"`
	CPUUsageNanos    uint64 `json:"cpuUsageCoreNanoSeconds"`
	MemoryWorkingSet uint64 `json:"memoryWorkingSetBytes"`
}

// nodeStats reads a node agent's pod stats directly (the apiserver does not proxy nodes yet).
func nodeStats(ctx context.Context, n *corev1.Node) ([]podUsage, error) {
	host := ""
	for _, a := range n.Status.Addresses {
		if a.Type == "InternalIP" {
			host = a.Address
		}
	}
	if host == "" {
		return nil, fmt.Errorf("node %s reports no InternalIP", n.Name)
	}
	port := int(n.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = 10250
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, strconv.Itoa(port))+"/stats/summary", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading stats of node %s: %w", n.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading stats of node %s: %s", n.Name, resp.Status)
	}
	var doc struct {
		Pods []podUsage `json:"pods"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding stats of node %s: %w", n.Name, err)
	}
	return doc.Pods, nil
}

func newTop(f *Factory) *cobra.Command {
	c := &cobra.Command{Use: "top (nodes | pods)", Short: "Show CPU and memory use of nodes or pods, read from the node agents"}
	var interval time.Duration
	sample := func(ctx context.Context) (map[string]*corev1.Node, map[string][2]podUsage, error) {
		cs, err := f.Clientset()
		if err != nil {
			return nil, nil, err
		}
		nodes, err := cs.Nodes.List(ctx, "", client.ListOptions{})
		if err != nil {
			return nil, nil, err
		}
		byNode := map[string]*corev1.Node{}
		first := map[string]podUsage{}
		var readErr error
		read := func(into func(node string, u podUsage)) {
			for i := range nodes.Items {
				n := &nodes.Items[i]
				byNode[n.Name] = n
				us, err := nodeStats(ctx, n)
				if err != nil {
					readErr = err
					continue
				}
				for _, u := range us {
					into(n.Name, u)
				}
			}
		}
		read(func(_ string, u podUsage) { first[u.Namespace+"/"+u.Name] = u })
		if len(first) == 0 && readErr != nil {
			return nil, nil, fmt.Errorf("metrics not available: %w", readErr)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(interval):
		}
		out := map[string][2]podUsage{}
		read(func(_ string, u podUsage) {
			k := u.Namespace + "/" + u.Name
			if prev, ok := first[k]; ok {
				out[k] = [2]podUsage{prev, u}
			}
		})
		return byNode, out, nil
	}
	cpuMilli := func(p [2]podUsage) int64 {
		if p[1].CPUUsageNanos < p[0].CPUUsageNanos {
			return 0
		}
		return int64(float64(p[1].CPUUsageNanos-p[0].CPUUsageNanos) / interval.Seconds() / 1e6)
	}
	pods := &cobra.Command{
		Use:     "pods [NAME]",
		Aliases: []string{"pod", "po"},
		Short:   "CPU (millicores) and memory (working set) of pods",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, usage, err := sample(cmd.Context())
			if err != nil {
				return err
			}
			ns, _, _ := f.Namespace()
			keys := make([]string, 0, len(usage))
			for k, u := range usage {
				if (f.Opts.AllNamespaces || u[1].Namespace == ns) && (len(args) == 0 || u[1].Name == args[0]) {
					keys = append(keys, k)
				}
			}
			if len(keys) == 0 {
				return fmt.Errorf("metrics not available yet for the pods asked for")
			}
			sort.Strings(keys)
			tw := printers.NewTabWriter(f.IO.Out)
			h := "NAME\tCPU(cores)\tMEMORY(bytes)"
			if f.Opts.AllNamespaces {
				h = "NAMESPACE\t" + h
			}
			fmt.Fprintln(tw, h)
			for _, k := range keys {
				u := usage[k]
				line := fmt.Sprintf("%s\t%dm\t%dMi", u[1].Name, cpuMilli(u), u[1].MemoryWorkingSet/(1<<20))
				if f.Opts.AllNamespaces {
					line = u[1].Namespace + "\t" + line
				}
				fmt.Fprintln(tw, line)
			}
			return tw.Flush()
		},
	}
	nodes := &cobra.Command{
		Use:     "nodes [NAME]",
		Aliases: []string{"node", "no"},
		Short:   "CPU and memory used by the pods of each node, against its allocatable resources",
		RunE: func(cmd *cobra.Command, args []string) error {
			byNode, usage, err := sample(cmd.Context())
			if err != nil {
				return err
			}
			cs, _ := f.Clientset()
			podNode := map[string]string{}
			if list, err := cs.Pods.List(cmd.Context(), "", client.ListOptions{}); err == nil {
				for _, p := range list.Items {
					podNode[p.Namespace+"/"+p.Name] = p.Spec.NodeName
				}
			}
			cpu, mem := map[string]int64{}, map[string]uint64{}
			for k, u := range usage {
				n := podNode[k]
				cpu[n] += cpuMilli(u)
				mem[n] += u[1].MemoryWorkingSet
			}
			var names []string
			for n := range byNode {
				if len(args) == 0 || n == args[0] {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			tw := printers.NewTabWriter(f.IO.Out)
			fmt.Fprintln(tw, "NAME\tCPU(cores)\tCPU(%)\tMEMORY(bytes)\tMEMORY(%)")
			for _, n := range names {
				node := byNode[n]
				alloc := node.Status.Allocatable
				c, m := alloc[corev1.ResourceCPU], alloc[corev1.ResourceMemory]
				cpuPct, memPct := "<unknown>", "<unknown>"
				if c.MilliValue() > 0 {
					cpuPct = fmt.Sprintf("%d%%", cpu[n]*100/c.MilliValue())
				}
				if m.Value() > 0 {
					memPct = fmt.Sprintf("%d%%", int64(mem[n])*100/m.Value())
				}
				fmt.Fprintf(tw, "%s\t%dm\t%s\t%dMi\t%s\n", n, cpu[n], cpuPct, mem[n]/(1<<20), memPct)
			}
			return tw.Flush()
		},
	}
	c.PersistentFlags().DurationVar(&interval, "sample", time.Second, "how long to sample CPU counters for")
	c.AddCommand(pods, nodes)
	return c
}
