package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/apiserver/internal/admission"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// decodePod reads a pod answer into the Go type.
func decodePod(t *testing.T, body []byte) corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("decoding pod %s: %v", truncate(body), err)
	}
	return p
}

func podWith(name string, spec map[string]any, annotations map[string]any) map[string]any {
	p := pod(name, nil)
	s := p["spec"].(map[string]any)
	for k, v := range spec {
		s[k] = v
	}
	if annotations != nil {
		p["metadata"].(map[string]any)["annotations"] = annotations
	}
	return p
}

// tolerationSeconds finds the tolerationSeconds of the NoExecute toleration for key (-1: none; 0: no seconds).
func tolerationSeconds(p corev1.Pod, key string) (n int, seconds int64) {
	seconds = -1
	for _, tol := range p.Spec.Tolerations {
		if tol.Key == key && tol.Effect == corev1.TaintEffectNoExecute {
			n++
			seconds = 0
			if tol.TolerationSeconds != nil {
				seconds = *tol.TolerationSeconds
			}
		}
	}
	return n, seconds
}

func TestAdmissionPods(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "admission")
	pods := "/api/v1/namespaces/" + ns + "/pods"

	t.Run("system priority classes exist from the start", func(t *testing.T) {
		for name, value := range map[string]float64{"system-node-critical": 2000001000, "system-cluster-critical": 2000000000} {
			pc := ts.must(t, http.StatusOK, "GET", "/apis/scheduling.k8s.io/v1/priorityclasses/"+name, "", nil)
			if pc["value"] != value {
				t.Errorf("%s value = %v, want %v", name, pc["value"], value)
			}
		}
	})

	tests := []struct {
		name  string
		body  map[string]any
		check func(t *testing.T, p corev1.Pod)
	}{
		{"a pod with no service account runs as default", pod("sa-default", nil), func(t *testing.T, p corev1.Pod) {
			if p.Spec.ServiceAccountName != "default" || p.Spec.DeprecatedServiceAccount != "default" {
				t.Fatalf("serviceAccountName=%q serviceAccount=%q, want default", p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount)
			}
		}},
		{"a named service account is kept even before it exists", podWith("sa-named", map[string]any{"serviceAccountName": "builder"}, nil), func(t *testing.T, p corev1.Pod) {
			if p.Spec.ServiceAccountName != "builder" {
				t.Fatalf("serviceAccountName=%q, want builder", p.Spec.ServiceAccountName)
			}
		}},
		{"a mirror pod gets no service account", podWith("sa-mirror", map[string]any{"nodeName": "node1"}, map[string]any{corev1.MirrorPodAnnotation: "x"}), func(t *testing.T, p corev1.Pod) {
			if p.Spec.ServiceAccountName != "" {
				t.Fatalf("serviceAccountName=%q, want none", p.Spec.ServiceAccountName)
			}
		}},
		{"a pod gets not-ready and unreachable NoExecute tolerations of 300s", pod("tol-default", nil), func(t *testing.T, p corev1.Pod) {
			for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
				if n, s := tolerationSeconds(p, key); n != 1 || s != 300 {
					t.Fatalf("%s: %d tolerations, seconds %d; want 1 of 300 (%+v)", key, n, s, p.Spec.Tolerations)
				}
			}
		}},
		{"an existing not-ready toleration is kept and only unreachable is added",
			podWith("tol-own", map[string]any{"tolerations": []any{map[string]any{"key": corev1.TaintNodeNotReady, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}}}, nil),
			func(t *testing.T, p corev1.Pod) {
				if n, s := tolerationSeconds(p, corev1.TaintNodeNotReady); n != 1 || s != 60 {
					t.Fatalf("not-ready: %d tolerations of %ds, want the pod's own 60s", n, s)
				}
				if n, s := tolerationSeconds(p, corev1.TaintNodeUnreachable); n != 1 || s != 300 {
					t.Fatalf("unreachable: %d tolerations of %ds, want one of 300s", n, s)
				}
			}},
		{"a toleration of everything adds nothing",
			podWith("tol-all", map[string]any{"tolerations": []any{map[string]any{"operator": "Exists"}}}, nil),
			func(t *testing.T, p corev1.Pod) {
				if len(p.Spec.Tolerations) != 1 {
					t.Fatalf("tolerations = %+v, want only the pod's own", p.Spec.Tolerations)
				}
			}},
		{"without a class or a global default, priority is 0 and preemption PreemptLowerPriority", pod("prio-none", nil), func(t *testing.T, p corev1.Pod) {
			if p.Spec.Priority == nil || *p.Spec.Priority != 0 || p.Spec.PreemptionPolicy == nil || *p.Spec.PreemptionPolicy != corev1.PreemptLowerPriority || p.Spec.PriorityClassName != "" {
				t.Fatalf("priority=%v preemption=%v class=%q", p.Spec.Priority, p.Spec.PreemptionPolicy, p.Spec.PriorityClassName)
			}
		}},
		{"system-node-critical gives 2000001000", podWith("prio-node", map[string]any{"priorityClassName": "system-node-critical"}, nil), func(t *testing.T, p corev1.Pod) {
			if p.Spec.Priority == nil || *p.Spec.Priority != 2000001000 {
				t.Fatalf("priority=%v, want 2000001000", p.Spec.Priority)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.req(t, "POST", pods, jsonCT, tt.body)
			if r.code != http.StatusCreated {
				t.Fatalf("create: %d %s", r.code, truncate(r.body))
			}
			tt.check(t, decodePod(t, r.body))
		})
	}

	ts.must(t, http.StatusCreated, "POST", "/apis/scheduling.k8s.io/v1/priorityclasses", jsonCT, map[string]any{
		"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": map[string]any{"name": "batch-low"},
		"value": 100, "preemptionPolicy": "Never"})

	refused := []struct {
		name, message string
		body          map[string]any
	}{
		{"an unknown priority class is 403", `pods "prio-unknown" is forbidden: no PriorityClass with name nope was found`,
			podWith("prio-unknown", map[string]any{"priorityClassName": "nope"}, nil)},
		{"a priority differing from the class's is 403", "the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 100",
			podWith("prio-mismatch", map[string]any{"priorityClassName": "batch-low", "priority": 5}, nil)},
		{"a preemption policy differing from the class's is 403", "the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided",
			podWith("prio-policy", map[string]any{"priorityClassName": "batch-low", "preemptionPolicy": "PreemptLowerPriority"}, nil)},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.req(t, "POST", pods, jsonCT, tt.body)
			st := r.json(t)
			if r.code != http.StatusForbidden || str(st, "reason") != "Forbidden" || !strings.Contains(str(st, "message"), tt.message) {
				t.Fatalf("got %d %s, want 403 Forbidden %q", r.code, truncate(r.body), tt.message)
			}
		})
	}

	t.Run("a class's value and preemption policy are copied and kept across a replace", func(t *testing.T) {
		r := ts.req(t, "POST", pods, jsonCT, podWith("prio-class", map[string]any{"priorityClassName": "batch-low"}, nil))
		p := decodePod(t, r.body)
		if r.code != http.StatusCreated || *p.Spec.Priority != 100 || *p.Spec.PreemptionPolicy != corev1.PreemptNever {
			t.Fatalf("create: %d priority=%v preemption=%v", r.code, p.Spec.Priority, p.Spec.PreemptionPolicy)
		}
		p.Spec.Priority, p.Spec.PreemptionPolicy = nil, nil
		p.Labels = map[string]string{"replaced": "yes"}
		r = ts.req(t, "PUT", pods+"/prio-class", jsonCT, p)
		p = decodePod(t, r.body)
		if r.code != http.StatusOK || p.Spec.Priority == nil || *p.Spec.Priority != 100 || p.Labels["replaced"] != "yes" {
			t.Fatalf("replace without priority: %d %s", r.code, truncate(r.body))
		}
	})
}

func pvc(name string, class any) map[string]any {
	spec := map[string]any{"accessModes": []any{"ReadWriteOnce"},
		"resources": map[string]any{"requests": map[string]any{"storage": "1Gi"}}}
	if class != nil {
		spec["storageClassName"] = class
	}
	return map[string]any{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": map[string]any{"name": name}, "spec": spec}
}

func storageClass(name string, isDefault bool) map[string]any {
	meta := map[string]any{"name": name}
	if isDefault {
		meta["annotations"] = map[string]any{"storageclass.kubernetes.io/is-default-class": "true"}
	}
	return map[string]any{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta, "provisioner": "skiff.dev/local-path"}
}

// TestAdmissionDefaults runs on a server of its own: global defaults (a default PriorityClass and
// StorageClass) and non-default toleration seconds change every later pod and claim.
func TestAdmissionDefaults(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *Config) {
		c.DefaultNotReadyTolerationSeconds = 60
		c.DefaultUnreachableTolerationSeconds = 120
	})
	defer ts.stop(t)
	ns := ts.namespace(t, "defaults")
	pods := "/api/v1/namespaces/" + ns + "/pods"
	claims := "/api/v1/namespaces/" + ns + "/persistentvolumeclaims"

	t.Run("toleration seconds come from the flags", func(t *testing.T) {
		p := decodePod(t, ts.req(t, "POST", pods, jsonCT, pod("tol", nil)).body)
		if _, s := tolerationSeconds(p, corev1.TaintNodeNotReady); s != 60 {
			t.Fatalf("not-ready seconds %d, want 60", s)
		}
		if _, s := tolerationSeconds(p, corev1.TaintNodeUnreachable); s != 120 {
			t.Fatalf("unreachable seconds %d, want 120", s)
		}
	})

	t.Run("the global default priority class names and prioritizes pods without one", func(t *testing.T) {
		ts.must(t, http.StatusCreated, "POST", "/apis/scheduling.k8s.io/v1/priorityclasses", jsonCT, map[string]any{
			"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": map[string]any{"name": "everyone"},
			"value": 1000, "globalDefault": true})
		p := decodePod(t, ts.must200(t, "POST", pods, pod("defaulted", nil)))
		if p.Spec.PriorityClassName != "everyone" || p.Spec.Priority == nil || *p.Spec.Priority != 1000 {
			t.Fatalf("class=%q priority=%v, want everyone/1000", p.Spec.PriorityClassName, p.Spec.Priority)
		}
		r := ts.req(t, "POST", "/apis/scheduling.k8s.io/v1/priorityclasses", jsonCT, map[string]any{
			"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": map[string]any{"name": "second"},
			"value": 5, "globalDefault": true})
		if r.code != http.StatusForbidden || !strings.Contains(string(r.body), "PriorityClass everyone is already marked as default. Only one default can exist") {
			t.Fatalf("second global default: %d %s, want 403", r.code, truncate(r.body))
		}
	})

	t.Run("claims get the default storage class", func(t *testing.T) {
		r := ts.req(t, "POST", claims, jsonCT, pvc("before", nil))
		if r.code != http.StatusCreated || str(r.json(t), "spec.storageClassName") != "" {
			t.Fatalf("with no default class: %d %s, want no class", r.code, truncate(r.body))
		}
		ts.must(t, http.StatusCreated, "POST", "/apis/storage.k8s.io/v1/storageclasses", jsonCT, storageClass("slow", false))
		ts.must(t, http.StatusCreated, "POST", "/apis/storage.k8s.io/v1/storageclasses", jsonCT, storageClass("local", true))
		for _, tt := range []struct {
			name  string
			class any
			want  string
		}{
			{"no class", nil, "local"},
			{"explicit class", "slow", "slow"},
			{"empty class means none", "", ""},
		} {
			got := ts.must(t, http.StatusCreated, "POST", claims, jsonCT, pvc(strings.ReplaceAll(tt.name, " ", "-"), tt.class))
			if str(got, "spec.storageClassName") != tt.want {
				t.Errorf("%s: storageClassName %q, want %q", tt.name, str(got, "spec.storageClassName"), tt.want)
			}
		}
	})
}

// must200 creates and returns the body, failing unless 201.
func (ts *testServer) must200(t *testing.T, method, path string, body any) []byte {
	t.Helper()
	r := ts.req(t, method, path, jsonCT, body)
	if r.code != http.StatusCreated {
		t.Fatalf("%s %s: %d %s", method, path, r.code, truncate(r.body))
	}
	return r.body
}

func TestAdmissionPluginsDisabled(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *Config) { c.DisableAdmissionPlugins = admission.Names() })
	defer ts.stop(t)
	p := decodePod(t, ts.must200(t, "POST", "/api/v1/namespaces/default/pods", pod("bare", nil)))
	if p.Spec.ServiceAccountName != "" || len(p.Spec.Tolerations) != 0 || p.Spec.Priority != nil {
		t.Fatalf("with every plugin off the pod was changed: sa=%q tolerations=%v priority=%v", p.Spec.ServiceAccountName, p.Spec.Tolerations, p.Spec.Priority)
	}
}

func TestAdmissionFlags(t *testing.T) {
	for _, tt := range []struct {
		name            string
		enable, disable []string
		wantErr         string
	}{
		{"every plugin is on by default", nil, nil, ""},
		{"a known plugin can be disabled", nil, []string{"Priority"}, ""},
		{"an unknown plugin is refused", []string{"AlwaysPullImages"}, nil, `unknown admission plugin "AlwaysPullImages"`},
		{"a plugin both enabled and disabled is refused", []string{"Priority"}, []string{"Priority"}, "both enabled and disabled"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.EnableAdmissionPlugins, c.DisableAdmissionPlugins = tt.enable, tt.disable
			err := c.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
