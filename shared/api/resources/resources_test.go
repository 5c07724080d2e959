package resources

import (
	"encoding/json"
	"reflect"
	"testing"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

func TestPluralsAreUnique(t *testing.T) {
	seen := map[string]string{}
	for _, r := range All() {
		if prev, ok := seen[r.Plural]; ok {
			t.Errorf("plural %q used by %s and %s: storage keys would collide", r.Plural, prev, r.GroupVersion())
		}
		seen[r.Plural] = r.GroupVersion()
	}
}

func TestShortNamesAreUnique(t *testing.T) {
	seen := map[string]string{}
	for _, r := range All() {
		for _, s := range r.ShortNames {
			if prev, ok := seen[s]; ok {
				t.Errorf("short name %q used by %s and %s", s, prev, r.Plural)
			}
			seen[s] = r.Plural
		}
	}
}

func TestEveryResourceIsComplete(t *testing.T) {
	for _, r := range All() {
		t.Run(r.GroupResource(), func(t *testing.T) {
			if r.Version == "" || r.Kind == "" || r.Plural == "" || r.Singular == "" || len(r.Verbs) == 0 {
				t.Fatalf("incomplete: %+v", r)
			}
			if r.ListKind != r.Kind+"List" {
				t.Errorf("ListKind = %q", r.ListKind)
			}
			obj := r.New()
			if name := reflect.TypeOf(obj).Elem().Name(); name != r.Kind {
				t.Errorf("New() returns %s, want %s", name, r.Kind)
			}
			// The list constructor must give something that decodes a list of this kind.
			list := r.NewList()
			if err := json.Unmarshal([]byte(`{"kind":"`+r.ListKind+`","metadata":{"resourceVersion":"7"},"items":[{}]}`), list); err != nil {
				t.Errorf("decoding a list: %v", err)
			}
			items := reflect.ValueOf(list).Elem().FieldByName("Items")
			if items.Len() != 1 || items.Type().Elem() != reflect.TypeOf(obj).Elem() {
				t.Errorf("NewList items are %s, len %d", items.Type(), items.Len())
			}
			if got, ok := ForObject(obj); !ok || got.Plural != r.Plural {
				t.Errorf("ForObject(New()) = %q, %v", got.Plural, ok)
			}
		})
	}
}

func TestAllCategoryMatchesKubernetes(t *testing.T) {
	want := map[string]bool{"pods": true, "services": true, "deployments": true, "replicasets": true,
		"daemonsets": true, "statefulsets": true, "jobs": true, "cronjobs": true, "horizontalpodautoscalers": true}
	got := map[string]bool{}
	for _, r := range InCategory("all") {
		got[r.Plural] = true
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("category all = %v, want %v", got, want)
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name, word, wantGroup, wantPlural string
	}{
		{"plural", "pods", "", "pods"},
		{"singular", "pod", "", "pods"},
		{"short name", "po", "", "pods"},
		{"kind", "Pod", "", "pods"},
		{"upper case plural", "PODS", "", "pods"},
		{"deployment short name", "deploy", "apps", "deployments"},
		{"group-qualified plural", "deployments.apps", "apps", "deployments"},
		{"group-qualified singular", "deployment.apps", "apps", "deployments"},
		{"group-qualified short name", "deploy.apps", "apps", "deployments"},
		{"version- and group-qualified", "deployments.v1.apps", "apps", "deployments"},
		{"dotted group", "endpointslices.discovery.k8s.io", "discovery.k8s.io", "endpointslices"},
		{"endpoints singular is endpoints", "endpoints", "", "endpoints"},
		{"ep", "ep", "", "endpoints"},
		{"svc", "svc", "", "services"},
		{"ns", "ns", "", "namespaces"},
		{"no", "no", "", "nodes"},
		{"cm", "cm", "", "configmaps"},
		{"sa", "sa", "", "serviceaccounts"},
		{"ev", "ev", "", "events"},
		{"pv", "pv", "", "persistentvolumes"},
		{"pvc", "pvc", "", "persistentvolumeclaims"},
		{"sc", "sc", "storage.k8s.io", "storageclasses"},
		{"rs", "rs", "apps", "replicasets"},
		{"ds", "ds", "apps", "daemonsets"},
		{"sts", "sts", "apps", "statefulsets"},
		{"cj", "cj", "batch", "cronjobs"},
		{"hpa", "hpa", "autoscaling", "horizontalpodautoscalers"},
		{"pdb", "pdb", "policy", "poddisruptionbudgets"},
		{"pc", "pc", "scheduling.k8s.io", "priorityclasses"},
		{"lease by singular", "lease", "coordination.k8s.io", "leases"},
		{"job kind", "job", "batch", "jobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := Resolve(tt.word)
			if !ok || r.Group != tt.wantGroup || r.Plural != tt.wantPlural {
				t.Fatalf("Resolve(%q) = %s/%s %v, want %s/%s", tt.word, r.Group, r.Plural, ok, tt.wantGroup, tt.wantPlural)
			}
		})
	}
	for _, bad := range []string{"", "pod.batch", "widgets", "deployments.v2.apps"} {
		if r, ok := Resolve(bad); ok {
			t.Errorf("Resolve(%q) = %s, want no match", bad, r.GroupResource())
		}
	}
}

func TestPathsAndKeys(t *testing.T) {
	pods, _ := Lookup("", "pods")
	deploy, _ := Lookup("apps", "deployments")
	nodes, _ := Lookup("", "nodes")
	tests := []struct {
		name, got, want string
	}{
		{"namespaced object", pods.Path("ns", "x"), "/api/v1/namespaces/ns/pods/x"},
		{"namespaced collection", pods.Path("ns", ""), "/api/v1/namespaces/ns/pods"},
		{"all namespaces", pods.Path("", ""), "/api/v1/pods"},
		{"group collection across namespaces", deploy.Path("", ""), "/apis/apps/v1/deployments"},
		{"group object", deploy.Path("default", "web"), "/apis/apps/v1/namespaces/default/deployments/web"},
		{"cluster-scoped ignores namespace", nodes.Path("ns", "n1"), "/api/v1/nodes/n1"},
		{"subresource", deploy.SubresourcePath("default", "web", "scale"), "/apis/apps/v1/namespaces/default/deployments/web/scale"},
		{"storage key", pods.StorageKey("default", "a"), "/registry/pods/default/a"},
		{"storage namespace prefix", pods.StorageKey("default", ""), "/registry/pods/default/"},
		{"storage resource prefix", pods.StorageKey("", ""), "/registry/pods/"},
		{"cluster-scoped storage key", nodes.StorageKey("", "n1"), "/registry/nodes/n1"},
		{"group storage key", deploy.StorageKey("default", "web"), "/registry/deployments/default/web"},
		{"core group version", pods.GroupVersion(), "v1"},
		{"apps group version", deploy.GroupVersion(), "apps/v1"},
		{"core group resource", pods.GroupResource(), "pods"},
		{"apps group resource", deploy.GroupResource(), "deployments.apps"},
		{"list kind", deploy.ListTypeMeta().Kind, "DeploymentList"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestLookups(t *testing.T) {
	if r, ok := ByKind("apps", "Deployment"); !ok || r.Plural != "deployments" {
		t.Errorf("ByKind(apps, Deployment) = %q %v", r.Plural, ok)
	}
	if _, ok := ByKind("", "Deployment"); ok {
		t.Error("ByKind(core, Deployment) matched")
	}
	if r, ok := ByAPIVersionKind("batch/v1", "Job"); !ok || r.Plural != "jobs" {
		t.Errorf("ByAPIVersionKind(batch/v1, Job) = %q %v", r.Plural, ok)
	}
	if r, ok := ForObject(&corev1.Pod{}); !ok || r.Plural != "pods" {
		t.Errorf("ForObject(Pod) = %q", r.Plural)
	}
	if r, ok := ForObject(&appsv1.Deployment{}); !ok || r.Group != "apps" {
		t.Errorf("ForObject(Deployment) = %q", r.Group)
	}
	pods, _ := Lookup("", "pods")
	if s, ok := pods.Subresource("eviction"); !ok || s.Group != "policy" || s.Kind != "Eviction" {
		t.Errorf("pods/eviction = %+v", s)
	}
	deploy, _ := Lookup("apps", "deployments")
	if s, ok := deploy.Subresource("scale"); !ok || s.Group != "autoscaling" || s.Version != "v1" || s.Kind != "Scale" {
		t.Errorf("deployments/scale = %+v", s)
	}
	want := []string{"v1", "apps/v1", "batch/v1", "discovery.k8s.io/v1", "coordination.k8s.io/v1",
		"autoscaling/v2", "storage.k8s.io/v1", "scheduling.k8s.io/v1", "policy/v1"}
	if got := GroupVersions(); !reflect.DeepEqual(got, want) {
		t.Errorf("GroupVersions() = %v", got)
	}
}
