package source

import (
	"net/netip"
	"testing"
	"time"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	discoveryv1 "github.com/skiffhq/skiff/shared/api/discovery/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"

	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

func ptr[T any](v T) *T { return &v }

func TestServiceFromAPI(t *testing.T) {
	meta := metav1.ObjectMeta{Namespace: "ns", Name: "web"}
	for _, tc := range []struct {
		name  string
		spec  corev1.ServiceSpec
		check func(*proxy.Service) bool
	}{
		{"cluster IPs and default protocol",
			corev1.ServiceSpec{ClusterIP: "10.96.0.5", ClusterIPs: []string{"10.96.0.5", "fd00::5"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, NodePort: 30080}}},
			func(s *proxy.Service) bool {
				return len(s.ClusterIPs) == 2 && s.Ports[0].Protocol == proxy.TCP && s.Ports[0].NodePort == 0 && !s.Headless
			}},
		{"node ports only for NodePort and LoadBalancer",
			corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.5", Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolUDP}},
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal},
			func(s *proxy.Service) bool {
				return s.Ports[0].NodePort == 30080 && s.Ports[0].Protocol == proxy.UDP && s.ExternalLocal
			}},
		{"the health-check node port of a Local LoadBalancer is kept",
			corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.5", Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080}},
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal, HealthCheckNodePort: 32100},
			func(s *proxy.Service) bool { return s.ExternalLocal && s.HealthCheckNodePort == 32100 }},
		{"a Cluster-policy Service has no health-check node port",
			corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.5", Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080}},
				HealthCheckNodePort: 32100},
			func(s *proxy.Service) bool { return !s.ExternalLocal && s.HealthCheckNodePort == 0 }},
		{"headless", corev1.ServiceSpec{ClusterIP: "None", ClusterIPs: []string{"None"}},
			func(s *proxy.Service) bool { return s.Headless && len(s.ClusterIPs) == 0 }},
		{"ExternalName", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.org."},
			func(s *proxy.Service) bool { return s.ExternalName == "db.example.org" }},
		{"ClientIP affinity with default timeout", corev1.ServiceSpec{ClusterIP: "10.96.0.5", SessionAffinity: corev1.ServiceAffinityClientIP},
			func(s *proxy.Service) bool {
				return s.AffinityClientIP && s.AffinityTimeout == proxy.DefaultAffinityTimeout
			}},
		{"ClientIP affinity with a timeout",
			corev1.ServiceSpec{ClusterIP: "10.96.0.5", SessionAffinity: corev1.ServiceAffinityClientIP,
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(60))}}},
			func(s *proxy.Service) bool { return s.AffinityTimeout == time.Minute }},
		{"internalTrafficPolicy Local",
			corev1.ServiceSpec{ClusterIP: "10.96.0.5", InternalTrafficPolicy: ptr(corev1.ServiceInternalTrafficPolicyLocal)},
			func(s *proxy.Service) bool { return s.InternalLocal && !s.ExternalLocal }},
		{"externalTrafficPolicy Local on a ClusterIP Service has no external traffic to apply to",
			corev1.ServiceSpec{ClusterIP: "10.96.0.5", ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal},
			func(s *proxy.Service) bool { return !s.ExternalLocal }},
		{"bad addresses are skipped", corev1.ServiceSpec{ClusterIPs: []string{"nonsense", "10.96.0.5"}, ExternalIPs: []string{"x"}},
			func(s *proxy.Service) bool { return len(s.ClusterIPs) == 1 && len(s.ExternalIPs) == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ServiceFromAPI(&corev1.Service{ObjectMeta: meta, Spec: tc.spec})
			if got.Key != (proxy.ServiceKey{Namespace: "ns", Name: "web"}) || !tc.check(got) {
				t.Fatalf("converted to %+v", got)
			}
		})
	}
}

func TestSliceFromAPI(t *testing.T) {
	now := time.Now()
	trigger := now.Add(-3 * time.Second).UTC()
	in := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-x1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"},
			Annotations: map[string]string{TriggerTimeAnnotation: trigger.Format(time.RFC3339Nano)}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}, {Name: ptr("none")}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.244.0.2"}, NodeName: ptr("n1"), Hostname: ptr("web-0")},
			{Addresses: []string{"10.244.0.3"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(true), Terminating: ptr(true)}},
			{Addresses: []string{"bogus"}},
		},
	}
	got, ok := SliceFromAPI(in, now)
	if !ok {
		t.Fatal("slice with a service-name label was ignored")
	}
	if got.Service != (proxy.ServiceKey{Namespace: "ns", Name: "web"}) || len(got.Ports) != 1 || got.Ports[0].Protocol != proxy.TCP {
		t.Fatalf("converted to %+v", got)
	}
	if !got.TriggerTime.Equal(trigger) {
		t.Fatalf("trigger time %v, want the annotation's %v", got.TriggerTime, trigger)
	}
	if len(got.Endpoints) != 2 {
		t.Fatalf("endpoints %+v, want 2 (the bad address dropped)", got.Endpoints)
	}
	e0, e1 := got.Endpoints[0], got.Endpoints[1]
	if !e0.Ready || !e0.Serving || e0.Terminating || e0.NodeName != "n1" || e0.Hostname != "web-0" || e0.Addresses[0] != netip.MustParseAddr("10.244.0.2") {
		t.Fatalf("nil conditions must mean ready and serving: %+v", e0)
	}
	if e1.Ready || !e1.Serving || !e1.Terminating {
		t.Fatalf("terminating endpoint converted to %+v", e1)
	}
	delete(in.Annotations, TriggerTimeAnnotation)
	if got, _ := SliceFromAPI(in, now); !got.TriggerTime.Equal(now) {
		t.Fatalf("without the annotation the trigger time is %v, want the receive time", got.TriggerTime)
	}
	in.Labels = nil
	if _, ok := SliceFromAPI(in, now); ok {
		t.Fatal("slice without a service-name label was accepted")
	}
}
