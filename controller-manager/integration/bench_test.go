package integration

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// BenchmarkReplicaSet1000 measures a 1,000-replica ReplicaSet from zero to all pods ready against
// fake nodes (the fake agent binds and reports each pod at once), in pods per second.
func BenchmarkReplicaSet1000(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b, "--kube-api-qps", "2000", "--kube-api-burst", "4000")
		newFakeAgent(e, "n1", "n2", "n3", "n4", "n5")
		c := ctx(b)
		b.StartTimer()
		start := time.Now()
		if _, err := e.sets.Create(c, "default", newRS("big", 1000), client.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		eventually(b, "1000 ready replicas", 5*time.Minute, func() string {
			rs, err := e.sets.Get(c, "default", "big", client.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if rs.Status.ReadyReplicas != 1000 {
				return fmt.Sprintf("status %+v", rs.Status)
			}
			return ""
		})
		el := time.Since(start)
		b.ReportMetric(1000/el.Seconds(), "pods/s")
		b.ReportMetric(el.Seconds(), "s-to-ready")
	}
}

// BenchmarkEndpointsLatency1000 measures, for a Service over 1,000 pods, the time from a pod's
// readiness change to the Endpoints object and the EndpointSlices showing it.
func BenchmarkEndpointsLatency1000(b *testing.B) {
	e := newEnv(b, "--kube-api-qps", "2000", "--kube-api-burst", "4000")
	a := newFakeAgent(e, "n1", "n2", "n3", "n4", "n5")
	c := ctx(b)
	if _, err := e.sets.Create(c, "default", newRS("svc", 1000), client.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	svc := &corev1.Service{}
	svc.Name, svc.Namespace = "svc", "default"
	svc.Spec.Selector = map[string]string{"app": "svc"}
	svc.Spec.Ports = []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}
	if _, err := e.svcs.Create(c, "default", svc, client.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	counts := func() (ready, notReady, sliceReady int) {
		ep, err := e.eps.Get(c, "default", "svc", client.GetOptions{})
		if err == nil {
			for _, s := range ep.Subsets {
				ready += len(s.Addresses)
				notReady += len(s.NotReadyAddresses)
			}
		}
		sl, err := e.slices.List(c, "default", client.ListOptions{LabelSelector: "kubernetes.io/service-name=svc"})
		if err == nil {
			for _, s := range sl.Items {
				for _, x := range s.Endpoints {
					if x.Conditions.Ready != nil && *x.Conditions.Ready {
						sliceReady++
					}
				}
			}
		}
		return
	}
	eventually(b, "1000 ready endpoints", 5*time.Minute, func() string {
		if r, nr, sr := counts(); r != 1000 || sr != 1000 {
			return fmt.Sprintf("endpoints %d ready %d not, slices %d ready", r, nr, sr)
		}
		return ""
	})
	pods := e.listPods("default", "app=svc")
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		p := pods[i%len(pods)]
		ready := i%2 == 1
		want := 999
		if ready {
			want = 1000
		}
		start := time.Now()
		a.setReady(p.Name, ready)
		eventually(b, "endpoints to follow the readiness change", time.Minute, func() string {
			if r, _, sr := counts(); r != want || sr != want {
				return fmt.Sprintf("endpoints %d, slices %d ready; want %d", r, sr, want)
			}
			return ""
		})
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/update")
}
