package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/ctl/internal/describe"
	"github.com/skiffhq/skiff/ctl/internal/progress"
	"github.com/skiffhq/skiff/ctl/internal/resource"
	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/labels"
)

func newRollout(f *Factory) *cobra.Command {
	c := &cobra.Command{
		Use:   "rollout (status | history | undo | restart | pause | resume) deployment/NAME",
		Short: "Manage the rollout of a deployment",
	}
	c.AddCommand(newRolloutStatus(f), newRolloutHistory(f), newRolloutUndo(f), newRolloutRestart(f),
		newRolloutPause(f, true), newRolloutPause(f, false))
	return c
}

// deploymentRef reads "deployment NAME" or "deployment/NAME" and insists on a Deployment.
func deploymentRef(f *Factory, args []string) (resource.Ref, error) {
	ref, err := oneRef(f, args)
	if err != nil {
		return ref, err
	}
	if ref.Resource.GroupResource() != "deployments.apps" {
		return ref, fmt.Errorf("no rollout support for %s: only deployments are rolled out by skiffctl", ref.Resource.GroupResource())
	}
	return ref, nil
}

// liveDeployment reads "deployment NAME" and fetches it, with the clientset for the calls that follow.
func liveDeployment(ctx context.Context, f *Factory, args []string) (*client.Clientset, resource.Ref, *appsv1.Deployment, error) {
	ref, err := deploymentRef(f, args)
	if err != nil {
		return nil, ref, nil, err
	}
	cs, err := f.Clientset()
	if err != nil {
		return nil, ref, nil, err
	}
	dep, err := cs.Deployments.Get(ctx, ref.Namespace, ref.Name, client.GetOptions{})
	if err != nil {
		return nil, ref, nil, err
	}
	return cs, ref, dep, nil
}

// RolloutStatus says where a deployment's rollout stands, with kubectl's messages.
func RolloutStatus(d *appsv1.Deployment) (msg string, done bool, err error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == "Progressing" && c.Reason == "ProgressDeadlineExceeded" {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
		}
	}
	st := d.Status
	if d.Spec.Replicas != nil && st.UpdatedReplicas < *d.Spec.Replicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", d.Name, st.UpdatedReplicas, *d.Spec.Replicas), false, nil
	}
	if st.Replicas > st.UpdatedReplicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", d.Name, st.Replicas-st.UpdatedReplicas), false, nil
	}
	if st.AvailableReplicas < st.UpdatedReplicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", d.Name, st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
}

func newRolloutStatus(f *Factory) *cobra.Command {
	var watch bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:               "status deployment/NAME",
		Short:             "Watch a deployment's rollout until it finishes",
		Example:           `  skiffctl rollout status deployment/web --timeout=2m`,
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := deploymentRef(f, args)
			if err != nil {
				return err
			}
			cs, err := f.Clientset()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			rep := progress.New(f.IO.Out)
			stop := make(chan struct{})
			defer close(stop)
			go rep.Run(stop)
			for {
				dep, err := cs.Deployments.Get(ctx, ref.Namespace, ref.Name, client.GetOptions{})
				if err != nil {
					return timeoutErr(ctx, err, "rollout status")
				}
				msg, done, err := RolloutStatus(dep)
				if err != nil {
					rep.Done("")
					return err
				}
				if done {
					rep.Done(msg)
					return nil
				}
				rep.Update(msg)
				if !watch {
					rep.Done("")
					return nil
				}
				w, err := cs.Deployments.Watch(ctx, ref.Namespace, client.ListOptions{FieldSelector: "metadata.name=" + ref.Name, ResourceVersion: dep.ResourceVersion, TimeoutSeconds: 300})
				if err != nil {
					return timeoutErr(ctx, err, "rollout status")
				}
				for ev := range w.Events() {
					if ev.Type == metav1.Deleted {
						w.Stop()
						rep.Done("")
						return fmt.Errorf("deployment %q was deleted", ref.Name)
					}
					if ev.Object == nil {
						continue
					}
					msg, done, err := RolloutStatus(ev.Object)
					if err != nil {
						w.Stop()
						rep.Done("")
						return err
					}
					if done {
						w.Stop()
						rep.Done(msg)
						return nil
					}
					rep.Update(msg)
				}
				w.Stop()
				if ctx.Err() != nil {
					rep.Done("")
					return timeoutErr(ctx, ctx.Err(), "rollout status")
				}
			}
		},
	}
	c.Flags().BoolVarP(&watch, "watch", "w", true, "watch until the rollout finishes")
	c.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: never)")
	return c
}

func timeoutErr(ctx context.Context, err error, what string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out waiting for the condition (%s)", what)
	}
	return err
}

// revisions returns a deployment's ReplicaSets by revision.
func revisions(ctx context.Context, cs *client.Clientset, dep *appsv1.Deployment) (map[int64]appsv1.ReplicaSet, []int64, error) {
	list, err := cs.ReplicaSets.List(ctx, dep.Namespace, client.ListOptions{LabelSelector: labels.FormatLabelSelector(dep.Spec.Selector)})
	if err != nil {
		return nil, nil, err
	}
	byRev := map[int64]appsv1.ReplicaSet{}
	var revs []int64
	for _, rs := range describe.OwnedReplicaSets(list.Items, dep.UID) {
		n, err := strconv.ParseInt(rs.Annotations[describe.RevisionAnnotation], 10, 64)
		if err != nil {
			continue
		}
		byRev[n] = rs
		revs = append(revs, n)
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i] < revs[j] })
	return byRev, revs, nil
}

func newRolloutHistory(f *Factory) *cobra.Command {
	var revision int64
	c := &cobra.Command{
		Use:               "history deployment/NAME [--revision=N]",
		Short:             "List a deployment's revisions, or show one revision's pod template",
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, ref, dep, err := liveDeployment(cmd.Context(), f, args)
			if err != nil {
				return err
			}
			byRev, revs, err := revisions(cmd.Context(), cs, dep)
			if err != nil {
				return err
			}
			if revision > 0 {
				rs, ok := byRev[revision]
				if !ok {
					return fmt.Errorf("unable to find the specified revision")
				}
				fmt.Fprintf(f.IO.Out, "%s with revision #%d\n", ref, revision)
				b, _ := json.MarshalIndent(rs.Spec.Template, "", "  ")
				fmt.Fprintln(f.IO.Out, string(b))
				return nil
			}
			fmt.Fprintf(f.IO.Out, "%s \n", ref)
			if len(revs) == 0 {
				fmt.Fprintln(f.IO.Out, "No rollout history found.")
				return nil
			}
			fmt.Fprintln(f.IO.Out, "REVISION  CHANGE-CAUSE")
			for _, r := range revs {
				cause := byRev[r].Annotations["kubernetes.io/change-cause"]
				if cause == "" {
					cause = "<none>"
				}
				fmt.Fprintf(f.IO.Out, "%-9d %s\n", r, cause)
			}
			fmt.Fprintln(f.IO.Out)
			return nil
		},
	}
	c.Flags().Int64Var(&revision, "revision", 0, "show the pod template of this revision")
	return c
}

// annotationsKeptByUndo are the deployment annotations an undo does not copy from the ReplicaSet.
var annotationsKeptByUndo = map[string]bool{
	"kubectl.kubernetes.io/last-applied-configuration": true,
	describe.RevisionAnnotation:                        true,
	"deployment.kubernetes.io/revision-history":        true,
	"deployment.kubernetes.io/desired-replicas":        true,
	"deployment.kubernetes.io/max-replicas":            true,
	"deprecated.deployment.rollback.to":                true,
}

// UndoPatch builds the JSON patch that rolls a deployment back to a ReplicaSet's template, as kubectl
// does client-side: the template without pod-template-hash, and the annotations of that revision.
func UndoPatch(dep *appsv1.Deployment, rs *appsv1.ReplicaSet) ([]byte, error) {
	tpl := rs.Spec.Template
	if tpl.Labels != nil {
		tpl.Labels = withoutTemplateHash(tpl.Labels)
	}
	ann := map[string]string{}
	for k := range annotationsKeptByUndo {
		if v, ok := dep.Annotations[k]; ok {
			ann[k] = v
		}
	}
	for k, v := range rs.Annotations {
		if !annotationsKeptByUndo[k] {
			ann[k] = v
		}
	}
	return json.Marshal([]map[string]any{
		{"op": "replace", "path": "/spec/template", "value": tpl},
		{"op": "replace", "path": "/metadata/annotations", "value": ann},
	})
}

// withoutTemplateHash copies pod template labels without the pod-template-hash the deployment
// controller adds to each ReplicaSet, so templates compare and roll back as the user wrote them.
func withoutTemplateHash(l map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		if k != "pod-template-hash" {
			out[k] = v
		}
	}
	return out
}

func templatesEqual(a, b corev1.PodTemplateSpec) bool {
	strip := func(t corev1.PodTemplateSpec) []byte {
		t.Labels = withoutTemplateHash(t.Labels)
		b, _ := json.Marshal(t)
		return b
	}
	return string(strip(a)) == string(strip(b))
}

func newRolloutUndo(f *Factory) *cobra.Command {
	var toRevision int64
	c := &cobra.Command{
		Use:               "undo deployment/NAME [--to-revision=N]",
		Short:             "Roll a deployment back to its previous (or a given) revision",
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cs, ref, dep, err := liveDeployment(ctx, f, args)
			if err != nil {
				return err
			}
			if dep.Spec.Paused {
				return fmt.Errorf("you cannot rollback a paused deployment; resume it first with 'skiffctl rollout resume' and try again")
			}
			byRev, revs, err := revisions(ctx, cs, dep)
			if err != nil {
				return err
			}
			var target int64
			if toRevision > 0 {
				if _, ok := byRev[toRevision]; !ok {
					return fmt.Errorf("unable to find specified revision %d in history", toRevision)
				}
				target = toRevision
			} else {
				if len(revs) < 2 {
					return fmt.Errorf("no rollout history found for deployment %q", ref.Name)
				}
				target = revs[len(revs)-2]
			}
			rs := byRev[target]
			if templatesEqual(rs.Spec.Template, dep.Spec.Template) {
				fmt.Fprintf(f.IO.Out, "%s skipped rollback (current template already matches revision %d)\n", ref, target)
				return nil
			}
			patch, err := UndoPatch(dep, &rs)
			if err != nil {
				return err
			}
			if _, err := cs.Deployments.Patch(ctx, ref.Namespace, ref.Name, client.JSONPatchType, patch, client.PatchOptions{}); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "%s rolled back\n", ref)
			return nil
		},
	}
	c.Flags().Int64Var(&toRevision, "to-revision", 0, "the revision to roll back to (0: the previous one)")
	return c
}

func newRolloutRestart(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:               "restart deployment/NAME",
		Short:             "Restart a deployment's pods with a new rollout",
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := deploymentRef(f, args)
			if err != nil {
				return err
			}
			d, err := f.Dynamic()
			if err != nil {
				return err
			}
			patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, restartedAt, nowRFC3339())
			if _, err := d.Patch(cmd.Context(), ref, client.StrategicMergePatchType, []byte(patch), ""); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "%s restarted\n", ref)
			return nil
		},
	}
}

func newRolloutPause(f *Factory, pause bool) *cobra.Command {
	verb, past := "pause", "paused"
	if !pause {
		verb, past = "resume", "resumed"
	}
	return &cobra.Command{
		Use:               verb + " deployment/NAME",
		Short:             map[bool]string{true: "Stop a deployment from rolling out template changes", false: "Let a paused deployment roll out again"}[pause],
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, ref, dep, err := liveDeployment(cmd.Context(), f, args)
			if err != nil {
				return err
			}
			if dep.Spec.Paused == pause {
				return fmt.Errorf("%s is not %s: it is already %s", ref, map[bool]string{true: "paused", false: "resumed"}[pause], past)
			}
			patch := fmt.Sprintf(`{"spec":{"paused":%v}}`, pause)
			if _, err := cs.Deployments.Patch(cmd.Context(), ref.Namespace, ref.Name, client.StrategicMergePatchType, []byte(patch), client.PatchOptions{}); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "%s %s\n", ref, past)
			return nil
		},
	}
}
