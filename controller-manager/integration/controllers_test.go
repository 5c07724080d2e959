package integration

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{}
	rs.Name, rs.Namespace = name, "default"
	rs.Spec.Replicas = int32p(replicas)
	rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	rs.Spec.Template = podTemplate(name, "busybox:1")
	return rs
}

func TestReplicaSetScalesAdoptsAndReleases(t *testing.T) {
	e := newEnv(t)
	newFakeAgent(e, "n1", "n2")
	c := ctx(t)

	// an orphan matching the selector exists before the replica set
	orphan := &corev1.Pod{}
	orphan.Name, orphan.Namespace = "orphan", "default"
	orphan.Labels = map[string]string{"app": "web"}
	orphan.Spec.Containers = []corev1.Container{{Name: "c", Image: "busybox:1"}}
	if _, err := e.pods.Create(c, "default", orphan, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rs, err := e.sets.Create(c, "default", newRS("web", 3), client.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitRS := func(want int32) {
		eventually(t, fmt.Sprintf("replicaset at %d ready replicas and %d pods", want, want), 30*time.Second, func() string {
			cur, err := e.sets.Get(c, "default", "web", client.GetOptions{})
			if err != nil {
				return err.Error()
			}
			n, ready := active(e.listPods("default", "app=web"))
			if cur.Status.ReadyReplicas != want || cur.Status.Replicas != want || cur.Status.AvailableReplicas != want ||
				cur.Status.ObservedGeneration != cur.Generation || n != int(want) || ready != int(want) {
				return fmt.Sprintf("status %+v, %d active pods (%d ready)", cur.Status, n, ready)
			}
			return ""
		})
	}
	waitRS(3)
	got, err := e.pods.Get(c, "default", "orphan", client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != rs.UID || got.OwnerReferences[0].Controller == nil || !*got.OwnerReferences[0].Controller {
		t.Fatalf("orphan was not adopted: owners %+v", got.OwnerReferences)
	}
	for _, p := range e.listPods("default", "app=web") {
		if p.Name != "orphan" && !strings.HasPrefix(p.Name, "web-") {
			t.Fatalf("pod %s is not named web-xxxxx", p.Name)
		}
	}

	for _, want := range []int32{7, 2} {
		cur, _ := e.sets.Get(c, "default", "web", client.GetOptions{})
		cur.Spec.Replicas = int32p(want)
		if _, err := e.sets.Update(c, "default", cur, client.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRS(want)
	}

	// a pod whose labels stop matching is released and replaced
	pods := e.listPods("default", "app=web")
	victim := pods[0]
	for i := range pods {
		if pods[i].DeletionTimestamp == nil {
			victim = pods[i]
			break
		}
	}
	victim.Labels = map[string]string{"app": "other"}
	if _, err := e.pods.Update(c, "default", &victim, client.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRS(2)
	eventually(t, "released pod without owner", 10*time.Second, func() string {
		p, err := e.pods.Get(c, "default", victim.Name, client.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if len(p.OwnerReferences) != 0 {
			return fmt.Sprintf("owners %+v", p.OwnerReferences)
		}
		return ""
	})
}

func newDeployment(name string, replicas int32, surge, unavail intstr.IntOrString) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	d.Name, d.Namespace = name, "default"
	d.Spec.Replicas = int32p(replicas)
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	d.Spec.Template = podTemplate(name, "busybox:1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail}}
	return d
}

// rolloutDone is kubectl rollout status's success test.
func rolloutDone(d *appsv1.Deployment) bool {
	return d.Generation <= d.Status.ObservedGeneration && d.Status.UpdatedReplicas >= *d.Spec.Replicas &&
		d.Status.Replicas <= d.Status.UpdatedReplicas && d.Status.AvailableReplicas >= d.Status.UpdatedReplicas
}

func waitRollout(t *testing.T, e *env, name string, timeout time.Duration) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	eventually(t, "rollout of "+name, timeout, func() string {
		var err error
		d, err = e.deploys.Get(ctx(t), "default", name, client.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if !rolloutDone(d) {
			return fmt.Sprintf("generation %d status %+v", d.Generation, d.Status)
		}
		n, ready := active(e.listPods("default", "app="+name))
		if n != int(*d.Spec.Replicas) || ready != n {
			return fmt.Sprintf("%d active pods, %d ready", n, ready)
		}
		return ""
	})
	return d
}

// boundsWatcher checks at every observed pod change that available >= replicas-maxUnavailable and
// total <= replicas+maxSurge.
type boundsWatcher struct {
	mu         sync.Mutex
	violations []string
	steps      int
	stop       chan struct{}
	done       chan struct{}
}

func watchBounds(t *testing.T, e *env, app string, replicas, surge, unavail int) *boundsWatcher {
	b := &boundsWatcher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		lastRV := ""
		for {
			select {
			case <-b.stop:
				return
			default:
			}
			l, err := e.pods.List(ctx(t), "default", client.ListOptions{LabelSelector: "app=" + app})
			if err != nil {
				continue
			}
			if l.ResourceVersion == lastRV {
				time.Sleep(2 * time.Millisecond)
				continue
			}
			lastRV = l.ResourceVersion
			n, ready := active(l.Items)
			b.mu.Lock()
			b.steps++
			if ready < replicas-unavail || n > replicas+surge {
				b.violations = append(b.violations, fmt.Sprintf("rv %s: %d pods, %d available", l.ResourceVersion, n, ready))
			}
			b.mu.Unlock()
		}
	}()
	return b
}

func (b *boundsWatcher) finish(t *testing.T) {
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.violations) > 0 {
		t.Fatalf("rollout bounds violated at %d of %d observed steps: %v", len(b.violations), b.steps, b.violations)
	}
	t.Logf("rollout bounds held at all %d observed steps", b.steps)
}

func setImage(t *testing.T, e *env, name, image string) {
	t.Helper()
	eventually(t, "image update of "+name, 10*time.Second, func() string {
		d, err := e.deploys.Get(ctx(t), "default", name, client.GetOptions{})
		if err != nil {
			return err.Error()
		}
		d.Spec.Template.Spec.Containers[0].Image = image
		if _, err := e.deploys.Update(ctx(t), "default", d, client.UpdateOptions{}); err != nil {
			return err.Error()
		}
		return ""
	})
}

func setsOf(t *testing.T, e *env, app string) []appsv1.ReplicaSet {
	l, err := e.sets.List(ctx(t), "default", client.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
	return l.Items
}

func TestDeploymentRollingUpdateStaysInBoundsAndRollsBack(t *testing.T) {
	e := newEnv(t)
	a := newFakeAgent(e, "n1", "n2", "n3")
	// new pods take a moment to become ready, so the rollout has many observable steps
	var mu sync.Mutex
	seen := map[string]time.Time{}
	a.readyHold = func(p *corev1.Pod) bool {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := seen[p.Name]; !ok {
			seen[p.Name] = time.Now()
			go func() { time.Sleep(150 * time.Millisecond); a.q.Add(p.Namespace + "/" + p.Name) }()
		}
		return time.Since(seen[p.Name]) < 150*time.Millisecond
	}
	c := ctx(t)
	if _, err := e.deploys.Create(c, "default", newDeployment("web", 10, intstr.FromInt32(2), intstr.FromString("20%")), client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := waitRollout(t, e, "web", 60*time.Second)
	if d.Annotations["deployment.kubernetes.io/revision"] != "1" {
		t.Fatalf("revision after first rollout = %q, want 1", d.Annotations["deployment.kubernetes.io/revision"])
	}
	first := setsOf(t, e, "web")
	if len(first) != 1 || !strings.HasPrefix(first[0].Name, "web-") || first[0].Labels["pod-template-hash"] == "" ||
		first[0].Spec.Selector.MatchLabels["pod-template-hash"] != first[0].Labels["pod-template-hash"] {
		t.Fatalf("replica sets after creation: %+v", first)
	}

	b := watchBounds(t, e, "web", 10, 2, 2)
	setImage(t, e, "web", "busybox:2")
	d = waitRollout(t, e, "web", 90*time.Second)
	b.finish(t)
	if d.Annotations["deployment.kubernetes.io/revision"] != "2" {
		t.Fatalf("revision after update = %q, want 2", d.Annotations["deployment.kubernetes.io/revision"])
	}
	var avail, prog *appsv1.DeploymentCondition
	for i := range d.Status.Conditions {
		switch d.Status.Conditions[i].Type {
		case appsv1.DeploymentAvailable:
			avail = &d.Status.Conditions[i]
		case appsv1.DeploymentProgressing:
			prog = &d.Status.Conditions[i]
		}
	}
	if avail == nil || avail.Status != corev1.ConditionTrue || prog == nil || prog.Reason != appsv1.NewRSAvailableReason {
		t.Fatalf("conditions after rollout: %+v", d.Status.Conditions)
	}

	// rollback the way kubectl rollout undo does: copy the old set's template into the deployment
	old := first[0]
	eventually(t, "rollback patch", 10*time.Second, func() string {
		cur, err := e.deploys.Get(c, "default", "web", client.GetOptions{})
		if err != nil {
			return err.Error()
		}
		tmpl := old.Spec.Template
		delete(tmpl.Labels, "pod-template-hash")
		cur.Spec.Template = tmpl
		if _, err := e.deploys.Update(c, "default", cur, client.UpdateOptions{}); err != nil {
			return err.Error()
		}
		return ""
	})
	d = waitRollout(t, e, "web", 90*time.Second)
	sets := setsOf(t, e, "web")
	if len(sets) != 2 {
		t.Fatalf("rollback created a new replica set: %d sets", len(sets))
	}
	for _, rs := range sets {
		if rs.Name == old.Name {
			if *rs.Spec.Replicas != 10 || rs.Annotations["deployment.kubernetes.io/revision"] != "3" {
				t.Fatalf("old set after rollback: replicas %d revision %q", *rs.Spec.Replicas, rs.Annotations["deployment.kubernetes.io/revision"])
			}
		} else if *rs.Spec.Replicas != 0 {
			t.Fatalf("set %s still has %d replicas after rollback", rs.Name, *rs.Spec.Replicas)
		}
	}
	for _, p := range e.listPods("default", "app=web") {
		if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image != "busybox:1" {
			t.Fatalf("pod %s runs %s after rollback", p.Name, p.Spec.Containers[0].Image)
		}
	}
}

func TestEndpointsFollowReadiness(t *testing.T) {
	e := newEnv(t)
	a := newFakeAgent(e, "n1")
	c := ctx(t)
	if _, err := e.sets.Create(c, "default", newRS("api", 3), client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{}
	svc.Name, svc.Namespace = "api", "default"
	svc.Spec.Selector = map[string]string{"app": "api"}
	svc.Spec.Ports = []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromString("http")}}
	if _, err := e.svcs.Create(c, "default", svc, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	check := func(wantReady, wantNotReady int) {
		eventually(t, fmt.Sprintf("endpoints with %d ready and %d not ready", wantReady, wantNotReady), 20*time.Second, func() string {
			ep, err := e.eps.Get(c, "default", "api", client.GetOptions{})
			if err != nil {
				return err.Error()
			}
			r, nr := 0, 0
			for _, s := range ep.Subsets {
				for _, p := range s.Ports {
					if p.Port != 8080 || p.Name != "web" {
						return fmt.Sprintf("port %+v, want web 8080 (named targetPort)", p)
					}
				}
				r += len(s.Addresses)
				nr += len(s.NotReadyAddresses)
			}
			sl, err := e.slices.List(c, "default", client.ListOptions{LabelSelector: "kubernetes.io/service-name=api"})
			if err != nil {
				return err.Error()
			}
			sr, snr := 0, 0
			for _, s := range sl.Items {
				for _, ep := range s.Endpoints {
					if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
						sr++
					} else {
						snr++
					}
					if ep.NodeName == nil || *ep.NodeName != "n1" || ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
						return fmt.Sprintf("slice endpoint %+v lacks nodeName/targetRef", ep)
					}
				}
			}
			if r != wantReady || nr != wantNotReady || sr != wantReady || snr != wantNotReady {
				return fmt.Sprintf("endpoints %d/%d, slices %d/%d", r, nr, sr, snr)
			}
			return ""
		})
	}
	check(3, 0)
	pods := e.listPods("default", "app=api")
	a.setReady(pods[0].Name, false)
	check(2, 1)
	a.setReady(pods[0].Name, true)
	check(3, 0)

	// a service without a selector keeps the endpoints its user wrote
	manual := &corev1.Service{}
	manual.Name, manual.Namespace = "manual", "default"
	manual.Spec.Ports = []corev1.ServicePort{{Port: 80}}
	if _, err := e.svcs.Create(c, "default", manual, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ep := &corev1.Endpoints{}
	ep.Name, ep.Namespace = "manual", "default"
	ep.Subsets = []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}}, Ports: []corev1.EndpointPort{{Port: 80}}}}
	if _, err := e.eps.Create(c, "default", ep, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// touch the service so the controllers look at it, then check nothing changed
	cur, _ := e.svcs.Get(c, "default", "manual", client.GetOptions{})
	cur.Labels = map[string]string{"touched": "yes"}
	if _, err := e.svcs.Update(c, "default", cur, client.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.setReady(pods[1].Name, false)
	check(2, 1) // the api service was processed after the touch
	got, err := e.eps.Get(c, "default", "manual", client.GetOptions{})
	if err != nil || len(got.Subsets) != 1 || got.Subsets[0].Addresses[0].IP != "192.0.2.10" {
		t.Fatalf("hand-written endpoints changed: %+v %v", got, err)
	}
}
