package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/informer"
)

func newStatefulSet(name string, replicas int32) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{}
	s.Name, s.Namespace = name, "default"
	s.Spec.Replicas = int32p(replicas)
	s.Spec.ServiceName = name + "-hl"
	s.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	s.Spec.Template = podTemplate(name, "busybox:1")
	claim := corev1.PersistentVolumeClaim{}
	claim.Name = "data"
	claim.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	claim.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
	s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{claim}
	return s
}

// orderLog records, from a watch of the set's pods, the order of creations and deletion starts and
// whether each respected OrderedReady at the moment it happened.
type orderLog struct {
	mu         sync.Mutex
	created    []string
	deleting   []string
	violations []string
}

func watchOrder(t *testing.T, e *env, set string) *orderLog {
	l := &orderLog{}
	inf := informer.New[corev1.Pod](e.pods, informer.Options{})
	ordinal := func(name string) int {
		var n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(name, set+"-"), "%d", &n); err != nil {
			return -1
		}
		return n
	}
	inf.AddHandler(informer.Handler[corev1.Pod]{
		OnAdd: func(p *corev1.Pod) {
			if !strings.HasPrefix(p.Name, set+"-") {
				return
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			l.created = append(l.created, p.Name)
			for o := 0; o < ordinal(p.Name); o++ {
				prev, ok := inf.Get(fmt.Sprintf("default/%s-%d", set, o))
				if !ok || readyStatus(prev) != corev1.ConditionTrue {
					l.violations = append(l.violations, fmt.Sprintf("%s created while %s-%d was not ready", p.Name, set, o))
				}
			}
		},
		OnUpdate: func(old, p *corev1.Pod) {
			if !strings.HasPrefix(p.Name, set+"-") || old.DeletionTimestamp != nil || p.DeletionTimestamp == nil {
				return
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			l.deleting = append(l.deleting, p.Name)
			for _, q := range inf.List() {
				if strings.HasPrefix(q.Name, set+"-") && ordinal(q.Name) > ordinal(p.Name) {
					l.violations = append(l.violations, fmt.Sprintf("%s deleted while %s still existed", p.Name, q.Name))
				}
			}
		},
	})
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = inf.Run(c) }()
	if !informer.WaitForCacheSync(c, inf) {
		t.Fatal("pod watch did not sync")
	}
	return l
}

func TestStatefulSetScalesInOrderWithStableIdentityAndClaims(t *testing.T) {
	e := newEnv(t)
	newFakeAgent(e, "n1", "n2")
	c := ctx(t)
	sets := client.NewResource[appsv1.StatefulSet](e.c, info("apps", "statefulsets"))
	claims := client.NewResource[corev1.PersistentVolumeClaim](e.c, info("", "persistentvolumeclaims"))
	log := watchOrder(t, e, "db")
	if _, err := sets.Create(c, "default", newStatefulSet("db", 3), client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSet := func(want int32) {
		eventually(t, fmt.Sprintf("statefulset with %d ready replicas", want), 30*time.Second, func() string {
			cur, err := sets.Get(c, "default", "db", client.GetOptions{})
			if err != nil {
				return err.Error()
			}
			n, ready := active(e.listPods("default", "app=db"))
			if n != int(want) || ready != int(want) || cur.Status.ReadyReplicas != want || cur.Status.Replicas != want ||
				cur.Status.ObservedGeneration != cur.Generation || cur.Status.UpdateRevision == "" || cur.Status.CurrentRevision != cur.Status.UpdateRevision {
				return fmt.Sprintf("%d pods (%d ready), status %+v", n, ready, cur.Status)
			}
			return ""
		})
	}
	waitSet(3)
	for o := 0; o < 3; o++ {
		name := fmt.Sprintf("db-%d", o)
		p, err := e.pods.Get(c, "default", name, client.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.Hostname != name || p.Spec.Subdomain != "db-hl" {
			t.Fatalf("pod %s hostname %q subdomain %q", name, p.Spec.Hostname, p.Spec.Subdomain)
		}
		claim := ""
		for _, v := range p.Spec.Volumes {
			if v.Name == "data" && v.PersistentVolumeClaim != nil {
				claim = v.PersistentVolumeClaim.ClaimName
			}
		}
		if claim != "data-"+name {
			t.Fatalf("pod %s mounts claim %q, want data-%s", name, claim, name)
		}
		if _, err := claims.Get(c, "default", claim, client.GetOptions{}); err != nil {
			t.Fatalf("claim of %s: %v", name, err)
		}
	}

	cur, err := sets.Get(c, "default", "db", client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Replicas = int32p(1)
	if _, err := sets.Update(c, "default", cur, client.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSet(1)
	log.mu.Lock()
	created, deleting, violations := fmt.Sprint(log.created), fmt.Sprint(log.deleting), log.violations
	log.mu.Unlock()
	if created != "[db-0 db-1 db-2]" || deleting != "[db-2 db-1]" || len(violations) > 0 {
		t.Fatalf("created %s, deleted %s; violations %v", created, deleting, violations)
	}
	// claims stay after scale-down (retention Retain by default)
	for _, name := range []string{"data-db-0", "data-db-1", "data-db-2"} {
		if _, err := claims.Get(c, "default", name, client.GetOptions{}); err != nil {
			t.Fatalf("claim %s after scale-down: %v", name, err)
		}
	}
}
