package fields

import (
	"testing"

	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

func pod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: "n1", SchedulerName: "default-scheduler", RestartPolicy: corev1.RestartPolicyAlways, ServiceAccountName: "default"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.5", PodIPs: []corev1.PodIP{{IP: "10.244.0.5"}}},
	}
}

func TestSelectorsOnPods(t *testing.T) {
	tests := []struct {
		name, selector string
		want           bool
	}{
		{"node name equality", "spec.nodeName=n1", true},
		{"double equals", "spec.nodeName==n1", true},
		{"not equal", "spec.nodeName!=n1", false},
		{"unscheduled pods have an empty nodeName", "spec.nodeName=", false},
		{"AND of terms", "spec.nodeName=n1,status.phase=Running", true},
		{"AND with one failing", "spec.nodeName=n1,status.phase!=Running", false},
		{"metadata.name", "metadata.name=web-1", true},
		{"metadata.namespace", "metadata.namespace=default", true},
		{"pod IP", "status.podIP=10.244.0.5", true},
		{"restart policy", "spec.restartPolicy=Always", true},
		{"scheduler name", "spec.schedulerName=default-scheduler", true},
		{"service account", "spec.serviceAccountName=default", true},
		{"host network as a boolean string", "spec.hostNetwork=false", true},
		{"nominated node empty", "status.nominatedNodeName=", true},
		{"empty selects everything", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := ParseSelector(tt.selector)
			if err != nil {
				t.Fatal(err)
			}
			if err := Validate("pods", sel); err != nil {
				t.Fatal(err)
			}
			if got := Matches(sel, pod()); got != tt.want {
				t.Errorf("%q on pod = %v, want %v (set %v)", tt.selector, got, tt.want, ForObject(pod()))
			}
		})
	}
}

func TestValidateRejectsUnknownFields(t *testing.T) {
	tests := []struct {
		resource, selector, wantErr string
	}{
		{"pods", "spec.foo=x", "field label not supported: spec.foo"},
		{"pods", "spec.nodeName=n1,status.hostIP=1.2.3.4", "field label not supported: status.hostIP"},
		{"deployments", "spec.replicas=1", "field label not supported: spec.replicas"},
		{"nodes", "metadata.namespace=x", "field label not supported: metadata.namespace"},
		{"configmaps", "type=Opaque", "field label not supported: type"},
		{"secrets", "type=Opaque", ""},
		{"nodes", "spec.unschedulable=true", ""},
		{"namespaces", "status.phase=Active", ""},
		{"events", "involvedObject.kind=Pod,involvedObject.name=x,reason=Scheduled,type=Normal,source=kubelet", ""},
		{"events", "reportingComponent=skiff-scheduler,involvedObject.uid=u,involvedObject.fieldPath=spec", ""},
		{"replicasets", "status.replicas=0", ""},
		{"jobs", "status.successful=1", ""},
		{"services", "spec.clusterIP=None,spec.type=ClusterIP", ""},
		{"persistentvolumes", "metadata.name=pv1", ""},
	}
	for _, tt := range tests {
		sel, err := ParseSelector(tt.selector)
		if err != nil {
			t.Fatal(err)
		}
		err = Validate(tt.resource, sel)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("Validate(%s, %q) = %v", tt.resource, tt.selector, err)
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("Validate(%s, %q) = %v, want %q", tt.resource, tt.selector, err, tt.wantErr)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"a", "a=b,c", "a in (b)", "a>b"} {
		if _, err := ParseSelector(s); err == nil {
			t.Errorf("ParseSelector(%q) succeeded", s)
		}
	}
}

func TestForObjectOfOtherKinds(t *testing.T) {
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: "ns", UID: "u1"},
		Reason:         "Scheduled", Type: corev1.EventTypeNormal, Source: corev1.EventSource{Component: "default-scheduler"},
		ReportingController: "skiff-scheduler"}
	set := ForObject(ev)
	for k, want := range map[string]string{"involvedObject.kind": "Pod", "involvedObject.uid": "u1", "reason": "Scheduled",
		"source": "default-scheduler", "reportingComponent": "skiff-scheduler", "type": "Normal", "metadata.namespace": "ns"} {
		if set[k] != want {
			t.Errorf("event field %s = %q, want %q", k, set[k], want)
		}
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{Unschedulable: true}}
	if s := ForObject(node); s["spec.unschedulable"] != "true" || s.Has("metadata.namespace") {
		t.Errorf("node set = %v", s)
	}
	job := &batchv1.Job{Status: batchv1.JobStatus{Succeeded: 2}}
	if s := ForObject(job); s["status.successful"] != "2" {
		t.Errorf("job set = %v", s)
	}
}

// FuzzParseFieldSelector checks that no input panics the parser and that String() parses back to
// the same selector.
func FuzzParseFieldSelector(f *testing.F) {
	for _, s := range []string{"", "spec.nodeName=n1", "a==b,c!=d", "metadata.name=x", "a=", "a\\,b=c", "a=b\\=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		_ = Validate("pods", sel)
		out := sel.String()
		again, err := ParseSelector(out)
		if err != nil {
			t.Fatalf("ParseSelector(%q) ok, String() = %q does not parse: %v", s, out, err)
		}
		if again.String() != out {
			t.Fatalf("unstable: %q -> %q -> %q", s, out, again.String())
		}
	})
}
