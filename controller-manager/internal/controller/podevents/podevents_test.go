package podevents

import (
	"slices"
	"testing"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/informer"
	"github.com/skiffhq/skiff/shared/workqueue"

	"github.com/skiffhq/skiff/controller-manager/internal/controller/expectations"
	"github.com/skiffhq/skiff/controller-manager/internal/controller/ownership"
)

func set(name, uid, app string) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{}
	rs.Name, rs.Namespace, rs.UID = name, "ns", uid
	rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	return rs
}

func pod(rv, app, ownerKind, ownerName, ownerUID string) *corev1.Pod {
	p := &corev1.Pod{}
	p.Name, p.Namespace, p.UID, p.ResourceVersion = "p", "ns", "pod-uid", rv
	p.Labels = map[string]string{"app": app}
	if ownerKind != "" {
		t := true
		p.OwnerReferences = []metav1.OwnerReference{{Kind: ownerKind, Name: ownerName, UID: ownerUID, Controller: &t}}
	}
	return p
}

func drain(q *workqueue.Queue[string]) []string {
	var keys []string
	for q.Len() > 0 {
		k, _ := q.Get()
		keys = append(keys, k)
		q.Done(k)
	}
	slices.Sort(keys)
	return keys
}

func TestHandler(t *testing.T) {
	tests := []struct {
		name  string
		event func(h *Handler[appsv1.ReplicaSet, *appsv1.ReplicaSet])
		want  []string
		// wantSatisfied is whether the "ns/a" expectations (one create, one delete of pod-uid) are met.
		wantSatisfied bool
	}{
		{"a created pod queues its owner and lowers its create expectation", func(h *Handler[appsv1.ReplicaSet, *appsv1.ReplicaSet]) {
			h.OnPodAdd(pod("1", "a", "ReplicaSet", "a", "uid-a"))
			h.OnPodDelete(pod("2", "a", "ReplicaSet", "a", "uid-a"))
		}, []string{"ns/a"}, true},
		{"an orphan queues every owner whose selector matches", func(h *Handler[appsv1.ReplicaSet, *appsv1.ReplicaSet]) {
			h.OnPodAdd(pod("1", "b", "", "", ""))
		}, []string{"ns/b", "ns/b2"}, false},
		{"a pod controlled by another kind queues nothing", func(h *Handler[appsv1.ReplicaSet, *appsv1.ReplicaSet]) {
			h.OnPodAdd(pod("1", "a", "Job", "a", "uid-a"))
		}, nil, false},
		{"a reference to a re-created owner (other UID) queues nothing", func(h *Handler[appsv1.ReplicaSet, *appsv1.ReplicaSet]) {
			h.OnPodAdd(pod("1", "a", "ReplicaSet", "a", "old-uid"))
		}, nil, false},
		{"an update that moves a pod queues the old and the new owner", func(h *Handler[appsv1.ReplicaSet, *appsv1.ReplicaSet]) {
			h.OnPodUpdate(pod("1", "a", "ReplicaSet", "a", "uid-a"), pod("2", "b", "ReplicaSet", "b", "uid-b"))
		}, []string{"ns/a", "ns/b"}, false},
		{"a resync (same resourceVersion) queues nothing", func(h *Handler[appsv1.ReplicaSet, *appsv1.ReplicaSet]) {
			h.OnPodUpdate(pod("1", "a", "ReplicaSet", "a", "uid-a"), pod("1", "a", "ReplicaSet", "a", "uid-a"))
		}, nil, false},
		{"a deletionTimestamp counts as the delete for expectations", func(h *Handler[appsv1.ReplicaSet, *appsv1.ReplicaSet]) {
			h.OnPodAdd(pod("1", "a", "ReplicaSet", "a", "uid-a"))
			cur := pod("2", "a", "ReplicaSet", "a", "uid-a")
			cur.DeletionTimestamp = &metav1.Time{}
			h.OnPodUpdate(pod("1", "a", "ReplicaSet", "a", "uid-a"), cur)
		}, []string{"ns/a"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := informer.NewStore[appsv1.ReplicaSet]()
			for _, rs := range []*appsv1.ReplicaSet{set("a", "uid-a", "a"), set("b", "uid-b", "b"), set("b2", "uid-b2", "b")} {
				store.Upsert(rs)
			}
			q := workqueue.New(workqueue.Options[string]{Name: "test"})
			defer q.ShutDown()
			exp := expectations.New(0)
			exp.ExpectCreations("ns/a", 1)
			exp.ExpectDeletions("ns/a", []string{"pod-uid"})
			h := &Handler[appsv1.ReplicaSet, *appsv1.ReplicaSet]{
				Owners: ownership.Owners[appsv1.ReplicaSet, *appsv1.ReplicaSet]{
					Kind: "ReplicaSet", Store: store,
					Selector: func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector },
				},
				Queue:        q,
				Expectations: exp,
			}
			tc.event(h)
			if got := drain(q); !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
			if got := exp.Satisfied("ns/a"); got != tc.wantSatisfied {
				t.Errorf("expectations of ns/a satisfied = %v, want %v", got, tc.wantSatisfied)
			}
		})
	}
}
