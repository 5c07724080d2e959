package integration

import (
	"fmt"
	"testing"
	"time"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

func TestCascadingDeletion(t *testing.T) {
	e := newEnv(t)
	newFakeAgent(e, "n1")
	c := ctx(t)
	tests := []struct {
		name        string
		policy      metav1.DeletionPropagation
		wantPodsOut bool // dependents removed
	}{
		{"background deletes the pods after the replica set", metav1.DeletePropagationBackground, true},
		{"foreground deletes the pods before the replica set", metav1.DeletePropagationForeground, true},
		{"orphan keeps the pods and strips their owner", metav1.DeletePropagationOrphan, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("gc%d", i)
			rs, err := e.sets.Create(c, "default", newRS(name, 3), client.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "3 ready pods", 20*time.Second, func() string {
				if n, r := active(e.listPods("default", "app="+name)); n != 3 || r != 3 {
					return fmt.Sprintf("%d pods %d ready", n, r)
				}
				return ""
			})
			// a config map owned by the replica set and one owned by an object in another namespace
			cm := &corev1.ConfigMap{}
			cm.Name, cm.Namespace = name+"-cm", "default"
			cm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID}}
			if _, err := e.cms.Create(c, "default", cm, client.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			policy := tc.policy
			if err := e.sets.Delete(c, "default", name, &metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
				t.Fatal(err)
			}
			sawOwnerWhilePodsLeft := false
			eventually(t, "cascade to finish", 30*time.Second, func() string {
				pods := e.listPods("default", "app="+name)
				_, rsErr := e.sets.Get(c, "default", name, client.GetOptions{})
				if tc.policy == metav1.DeletePropagationForeground && rsErr == nil && len(pods) > 0 {
					sawOwnerWhilePodsLeft = true
				}
				if tc.policy == metav1.DeletePropagationForeground && !client.IsNotFound(rsErr) && rsErr != nil {
					return rsErr.Error()
				}
				if tc.policy == metav1.DeletePropagationForeground && client.IsNotFound(rsErr) && len(pods) > 0 {
					return fmt.Sprintf("replica set gone with %d pods left", len(pods))
				}
				if !client.IsNotFound(rsErr) {
					return "replica set still there"
				}
				_, cmErr := e.cms.Get(c, "default", name+"-cm", client.GetOptions{})
				if tc.wantPodsOut {
					if len(pods) != 0 || !client.IsNotFound(cmErr) {
						return fmt.Sprintf("%d pods left, configmap err %v", len(pods), cmErr)
					}
					return ""
				}
				if len(pods) != 3 || cmErr != nil {
					return fmt.Sprintf("%d pods kept, configmap err %v", len(pods), cmErr)
				}
				for _, p := range pods {
					if len(p.OwnerReferences) != 0 {
						return fmt.Sprintf("pod %s still owned: %+v", p.Name, p.OwnerReferences)
					}
				}
				return ""
			})
			if tc.policy == metav1.DeletePropagationForeground && !sawOwnerWhilePodsLeft {
				t.Log("the replica set was never observed waiting for its pods (the cascade was faster than the poll)")
			}
		})
	}
	t.Run("an owner reference to another namespace counts as absent", func(t *testing.T) {
		ns := &corev1.Namespace{}
		ns.Name = "other"
		if _, err := e.nss.Create(c, "", ns, client.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		owner := &corev1.ConfigMap{}
		owner.Name, owner.Namespace = "owner", "other"
		got, err := e.cms.Create(c, "other", owner, client.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dep := &corev1.ConfigMap{}
		dep.Name, dep.Namespace = "dep", "default"
		dep.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: got.UID}}
		if _, err := e.cms.Create(c, "default", dep, client.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the cross-namespace dependent to be collected", 20*time.Second, func() string {
			if _, err := e.cms.Get(c, "default", "dep", client.GetOptions{}); !client.IsNotFound(err) {
				return fmt.Sprintf("dependent still there (err %v)", err)
			}
			return ""
		})
		if _, err := e.cms.Get(c, "other", "owner", client.GetOptions{}); err != nil {
			t.Fatalf("the owner itself was touched: %v", err)
		}
	})
}

func TestNamespaceDeletionEmptiesAndRemovesIt(t *testing.T) {
	e := newEnv(t)
	newFakeAgent(e, "n1")
	c := ctx(t)
	ns := &corev1.Namespace{}
	ns.Name = "doomed"
	if _, err := e.nss.Create(c, "", ns, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "default service account in the new namespace", 10*time.Second, func() string {
		if _, err := e.sas.Get(c, "doomed", "default", client.GetOptions{}); err != nil {
			return err.Error()
		}
		return ""
	})
	d := newDeployment("app", 3, intstrInt(1), intstrInt(0))
	d.Namespace = "doomed"
	if _, err := e.deploys.Create(c, "doomed", d, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{}
	cm.Name, cm.Namespace = "cfg", "doomed"
	if _, err := e.cms.Create(c, "doomed", cm, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "3 running pods", 20*time.Second, func() string {
		if n, r := active(e.listPods("doomed", "")); n != 3 || r != 3 {
			return fmt.Sprintf("%d pods, %d ready", n, r)
		}
		return ""
	})
	if err := e.nss.Delete(c, "", "doomed", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace gone", 30*time.Second, func() string {
		got, err := e.nss.Get(c, "", "doomed", client.GetOptions{})
		if client.IsNotFound(err) {
			return ""
		}
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("phase %s, finalizers %v, %d pods left", got.Status.Phase, got.Spec.Finalizers, len(e.listPods("doomed", "")))
	})
}

func TestDefaultServiceAccountIsRecreated(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	eventually(t, "default service account", 10*time.Second, func() string {
		if _, err := e.sas.Get(c, "default", "default", client.GetOptions{}); err != nil {
			return err.Error()
		}
		return ""
	})
	if err := e.sas.Delete(c, "default", "default", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "default service account back", 10*time.Second, func() string {
		if _, err := e.sas.Get(c, "default", "default", client.GetOptions{}); err != nil {
			return err.Error()
		}
		return ""
	})
}

func tolerate(key string, secs int64) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs}
}

func nodeTaints(t *testing.T, e *env, name string) []corev1.Taint {
	n, err := e.nodes.Get(ctx(t), "", name, client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Spec.Taints
}

func hasTaint(ts []corev1.Taint, key string, eff corev1.TaintEffect) bool {
	for _, x := range ts {
		if x.Key == key && x.Effect == eff {
			return true
		}
	}
	return false
}

func TestSilentNodeIsTaintedAndItsPodsEvicted(t *testing.T) {
	e := newEnv(t, "--node-monitor-grace-period", "2s", "--node-eviction-rate", "10")
	a := newFakeAgent(e, "n1", "n2")
	c := ctx(t)
	rs := newRS("evict", 4)
	rs.Spec.Template.Spec.Tolerations = []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, 2)}
	if _, err := e.sets.Create(c, "default", rs, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	forever := &corev1.Pod{}
	forever.Name, forever.Namespace = "forever", "default"
	forever.Spec.NodeName = "n1"
	forever.Spec.Containers = []corev1.Container{{Name: "c", Image: "busybox:1"}}
	forever.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}
	if _, err := e.pods.Create(c, "default", forever, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var onN1 []string
	eventually(t, "pods running on both nodes", 20*time.Second, func() string {
		onN1 = nil
		pods := e.listPods("default", "app=evict")
		for _, p := range pods {
			if p.Spec.NodeName == "n1" {
				onN1 = append(onN1, p.Name)
			}
		}
		if n, r := active(pods); n != 4 || r != 4 || len(onN1) == 0 {
			return fmt.Sprintf("%d pods, %d ready, %d on n1", n, r, len(onN1))
		}
		return ""
	})
	silencedAt := time.Now()
	a.setSilent("n1", true)
	eventually(t, "n1 Unknown with the unreachable NoExecute taint", 20*time.Second, func() string {
		n, _ := e.nodes.Get(c, "", "n1", client.GetOptions{})
		ready := ""
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				ready = string(cond.Status)
			}
		}
		if ready != "Unknown" || !hasTaint(n.Spec.Taints, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) {
			return fmt.Sprintf("Ready=%s taints %+v", ready, n.Spec.Taints)
		}
		return ""
	})
	taintedAfter := time.Since(silencedAt)
	if hasTaint(nodeTaints(t, e, "n2"), corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) {
		t.Fatal("the healthy node was tainted")
	}
	eventually(t, "n1's replica set pods evicted and replaced on n2", 30*time.Second, func() string {
		pods := e.listPods("default", "app=evict")
		for _, p := range pods {
			for _, name := range onN1 {
				if p.Name == name && p.DeletionTimestamp == nil {
					return fmt.Sprintf("pod %s on n1 not evicted", name)
				}
			}
		}
		if n, r := active(pods); n != 4 || r != 4 {
			return fmt.Sprintf("%d active, %d ready", n, r)
		}
		return ""
	})
	p, err := e.pods.Get(c, "default", "forever", client.GetOptions{})
	if err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("a pod tolerating the taint forever was evicted: %v %v", p, err)
	}
	t.Logf("silence to taint %s (grace 2s), eviction after the 2s toleration", taintedAfter.Round(100*time.Millisecond))

	a.setSilent("n1", false)
	eventually(t, "taints gone after the node returns", 20*time.Second, func() string {
		ts := nodeTaints(t, e, "n1")
		if hasTaint(ts, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) || hasTaint(ts, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule) {
			return fmt.Sprintf("taints %+v", ts)
		}
		return ""
	})
}

func TestAllNodesSilentEvictsNothing(t *testing.T) {
	e := newEnv(t, "--node-monitor-grace-period", "1s", "--node-eviction-rate", "10")
	a := newFakeAgent(e, "n1", "n2")
	c := ctx(t)
	rs := newRS("stay", 4)
	rs.Spec.Template.Spec.Tolerations = []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, 1)}
	if _, err := e.sets.Create(c, "default", rs, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "4 ready pods", 20*time.Second, func() string {
		if n, r := active(e.listPods("default", "app=stay")); n != 4 || r != 4 {
			return fmt.Sprintf("%d pods %d ready", n, r)
		}
		return ""
	})
	a.setSilent("n1", true)
	a.setSilent("n2", true)
	eventually(t, "both nodes Unknown", 20*time.Second, func() string {
		for _, name := range []string{"n1", "n2"} {
			n, _ := e.nodes.Get(c, "", name, client.GetOptions{})
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status != corev1.ConditionUnknown {
					return fmt.Sprintf("%s Ready=%s", name, cond.Status)
				}
			}
		}
		return ""
	})
	// Several grace periods and tolerations later, nothing may have been evicted or NoExecute-tainted.
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range e.listPods("default", "app=stay") {
			if p.DeletionTimestamp != nil {
				t.Fatalf("pod %s evicted while every node was down", p.Name)
			}
		}
		for _, name := range []string{"n1", "n2"} {
			if hasTaint(nodeTaints(t, e, name), corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) {
				t.Fatalf("node %s got a NoExecute taint during a full disruption", name)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ensure the apps import is used in this file
var _ = appsv1.DefaultDeploymentUniqueLabelKey
