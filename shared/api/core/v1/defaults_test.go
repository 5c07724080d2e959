package v1

import (
	"encoding/json"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDefaultPullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  PullPolicy
	}{
		{"nginx", PullAlways},
		{"nginx:latest", PullAlways},
		{"nginx:1.25", PullIfNotPresent},
		{"registry.local:5000/busybox", PullAlways},
		{"registry.local:5000/busybox:1.36", PullIfNotPresent},
		{"registry.local:5000/busybox:latest", PullAlways},
		{"busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", PullIfNotPresent},
		{"busybox:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", PullAlways},
		{"127.0.0.1:5000/skiff/busybox:v1", PullIfNotPresent},
	}
	for _, tt := range tests {
		if got := DefaultPullPolicy(tt.image); got != tt.want {
			t.Errorf("DefaultPullPolicy(%q) = %s, want %s", tt.image, got, tt.want)
		}
	}
}

func TestPodDefaults(t *testing.T) {
	pod := &Pod{Spec: PodSpec{
		Containers: []Container{{
			Name:  "c",
			Image: "busybox",
			Ports: []ContainerPort{{ContainerPort: 80}, {ContainerPort: 53, Protocol: ProtocolUDP}},
			Resources: ResourceRequirements{
				Limits:   ResourceList{ResourceCPU: resource.MustParse("500m"), ResourceMemory: resource.MustParse("128Mi")},
				Requests: ResourceList{ResourceCPU: resource.MustParse("100m")},
			},
			LivenessProbe: &Probe{ProbeHandler: ProbeHandler{HTTPGet: &HTTPGetAction{Port: intstr.FromInt32(80)}}},
			StartupProbe:  &Probe{ProbeHandler: ProbeHandler{GRPC: &GRPCAction{Port: 9000}}, PeriodSeconds: 5},
			Env:           []EnvVar{{Name: "POD", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "metadata.name"}}}},
		}},
		Volumes: []Volume{
			{Name: "bare"},
			{Name: "cm", VolumeSource: VolumeSource{ConfigMap: &ConfigMapVolumeSource{LocalObjectReference: LocalObjectReference{Name: "x"}}}},
			{Name: "s", VolumeSource: VolumeSource{Secret: &SecretVolumeSource{SecretName: "x", DefaultMode: ptrTo(int32(0o400))}}},
			{Name: "token", VolumeSource: VolumeSource{Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{{ServiceAccountToken: &ServiceAccountTokenProjection{Path: "token"}}}}}},
		},
	}}
	pod.Default()
	s := pod.Spec
	c := s.Containers[0]
	checks := []struct {
		rule string
		ok   bool
	}{
		{"restartPolicy defaults to Always", s.RestartPolicy == RestartPolicyAlways},
		{"dnsPolicy defaults to ClusterFirst", s.DNSPolicy == DNSClusterFirst},
		{"schedulerName defaults to default-scheduler", s.SchedulerName == "default-scheduler"},
		{"terminationGracePeriodSeconds defaults to 30", s.TerminationGracePeriodSeconds != nil && *s.TerminationGracePeriodSeconds == 30},
		{"securityContext defaults to empty", s.SecurityContext != nil && reflect.DeepEqual(*s.SecurityContext, PodSecurityContext{})},
		{"enableServiceLinks defaults to true on pods", s.EnableServiceLinks != nil && *s.EnableServiceLinks},
		{"imagePullPolicy Always for an untagged image", c.ImagePullPolicy == PullAlways},
		{"terminationMessagePath default", c.TerminationMessagePath == "/dev/termination-log"},
		{"terminationMessagePolicy File", c.TerminationMessagePolicy == TerminationMessageReadFile},
		{"port protocol defaults to TCP", c.Ports[0].Protocol == ProtocolTCP},
		{"explicit port protocol is kept", c.Ports[1].Protocol == ProtocolUDP},
		{"no hostPort without hostNetwork", c.Ports[0].HostPort == 0},
		{"memory request copied from limit", c.Resources.Requests.Memory().String() == "128Mi"},
		{"explicit cpu request kept", c.Resources.Requests.Cpu().String() == "100m"},
		{"probe timeoutSeconds 1", c.LivenessProbe.TimeoutSeconds == 1},
		{"probe periodSeconds 10", c.LivenessProbe.PeriodSeconds == 10},
		{"probe successThreshold 1", c.LivenessProbe.SuccessThreshold == 1},
		{"probe failureThreshold 3", c.LivenessProbe.FailureThreshold == 3},
		{"explicit periodSeconds kept", c.StartupProbe.PeriodSeconds == 5},
		{"httpGet path /", c.LivenessProbe.HTTPGet.Path == "/"},
		{"httpGet scheme HTTP", c.LivenessProbe.HTTPGet.Scheme == URISchemeHTTP},
		{"grpc service empty string", c.StartupProbe.GRPC.Service != nil && *c.StartupProbe.GRPC.Service == ""},
		{"fieldRef apiVersion v1", c.Env[0].ValueFrom.FieldRef.APIVersion == "v1"},
		{"volume without source is an emptyDir", s.Volumes[0].EmptyDir != nil},
		{"configMap defaultMode 0644", *s.Volumes[1].ConfigMap.DefaultMode == 0o644},
		{"explicit secret defaultMode kept", *s.Volumes[2].Secret.DefaultMode == 0o400},
		{"projected defaultMode 0644", *s.Volumes[3].Projected.DefaultMode == 0o644},
		{"token expirationSeconds 3600", *s.Volumes[3].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds == 3600},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("%s: spec is %+v", ch.rule, s)
		}
	}
}

func TestPodDefaultsHostNetworkPorts(t *testing.T) {
	pod := &Pod{Spec: PodSpec{HostNetwork: true, Containers: []Container{{Name: "c", Image: "x:1", Ports: []ContainerPort{{ContainerPort: 8080}}}}}}
	pod.Default()
	if got := pod.Spec.Containers[0].Ports[0].HostPort; got != 8080 {
		t.Errorf("host-network pod: hostPort = %d, want containerPort 8080", got)
	}
}

func TestTemplateDefaultsDoNotCopyLimitsOrServiceLinks(t *testing.T) {
	tmpl := &PodTemplateSpec{Spec: PodSpec{Containers: []Container{{Name: "c", Image: "x:1",
		Resources: ResourceRequirements{Limits: ResourceList{ResourceCPU: resource.MustParse("1")}}}}}}
	tmpl.Default()
	if tmpl.Spec.Containers[0].Resources.Requests != nil {
		t.Error("pod template got requests copied from limits; Kubernetes does that on pods only")
	}
	if tmpl.Spec.EnableServiceLinks != nil {
		t.Error("pod template got enableServiceLinks; Kubernetes sets it on pods only")
	}
	if tmpl.Spec.Containers[0].ImagePullPolicy != PullIfNotPresent {
		t.Errorf("tagged image pull policy = %s", tmpl.Spec.Containers[0].ImagePullPolicy)
	}
}

func TestDefaultsAreIdempotent(t *testing.T) {
	pod := &Pod{Spec: PodSpec{Containers: []Container{{Name: "c", Image: "x", ReadinessProbe: &Probe{ProbeHandler: ProbeHandler{TCPSocket: &TCPSocketAction{Port: intstr.FromString("http")}}}}}}}
	pod.Default()
	once := jsonCopy(t, pod.Spec)
	pod.Default()
	if !reflect.DeepEqual(once, pod.Spec) {
		t.Errorf("second Default changed the pod:\n%+v\n%+v", once, pod.Spec)
	}
}

func TestServiceDefaults(t *testing.T) {
	tests := []struct {
		name  string
		in    Service
		check func(s ServiceSpec) bool
	}{
		{"type defaults to ClusterIP", Service{}, func(s ServiceSpec) bool { return s.Type == ServiceTypeClusterIP }},
		{"sessionAffinity defaults to None", Service{}, func(s ServiceSpec) bool { return s.SessionAffinity == ServiceAffinityNone }},
		{"ClientIP affinity gets a 10800s timeout", Service{Spec: ServiceSpec{SessionAffinity: ServiceAffinityClientIP}},
			func(s ServiceSpec) bool { return *s.SessionAffinityConfig.ClientIP.TimeoutSeconds == 10800 }},
		{"port protocol defaults to TCP", Service{Spec: ServiceSpec{Ports: []ServicePort{{Port: 80}}}},
			func(s ServiceSpec) bool { return s.Ports[0].Protocol == ProtocolTCP }},
		{"targetPort defaults to port", Service{Spec: ServiceSpec{Ports: []ServicePort{{Port: 80}}}},
			func(s ServiceSpec) bool { return s.Ports[0].TargetPort == intstr.FromInt32(80) }},
		{"named targetPort kept", Service{Spec: ServiceSpec{Ports: []ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}}},
			func(s ServiceSpec) bool { return s.Ports[0].TargetPort == intstr.FromString("http") }},
		{"NodePort gets externalTrafficPolicy Cluster", Service{Spec: ServiceSpec{Type: ServiceTypeNodePort}},
			func(s ServiceSpec) bool { return s.ExternalTrafficPolicy == ServiceExternalTrafficPolicyCluster }},
		{"ClusterIP gets no externalTrafficPolicy", Service{},
			func(s ServiceSpec) bool { return s.ExternalTrafficPolicy == "" }},
		{"internalTrafficPolicy Cluster", Service{},
			func(s ServiceSpec) bool { return *s.InternalTrafficPolicy == ServiceInternalTrafficPolicyCluster }},
		{"ExternalName gets no internalTrafficPolicy or families", Service{Spec: ServiceSpec{Type: ServiceTypeExternalName, ExternalName: "x.example"}},
			func(s ServiceSpec) bool { return s.InternalTrafficPolicy == nil && s.IPFamilies == nil }},
		{"LoadBalancer allocates node ports", Service{Spec: ServiceSpec{Type: ServiceTypeLoadBalancer}},
			func(s ServiceSpec) bool { return *s.AllocateLoadBalancerNodePorts }},
		{"single-stack IPv4", Service{},
			func(s ServiceSpec) bool {
				return *s.IPFamilyPolicy == IPFamilyPolicySingleStack && reflect.DeepEqual(s.IPFamilies, []IPFamily{IPv4Protocol})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := tt.in
			svc.Default()
			if !tt.check(svc.Spec) {
				t.Errorf("spec after Default: %+v", svc.Spec)
			}
		})
	}
}

func TestOtherCoreDefaults(t *testing.T) {
	ns := &Namespace{}
	ns.Name = "team-a"
	ns.Default()
	if ns.Status.Phase != NamespaceActive || ns.Labels[LabelMetadataName] != "team-a" {
		t.Errorf("namespace after Default: %+v", ns)
	}
	sec := &Secret{}
	sec.Default()
	if sec.Type != SecretTypeOpaque {
		t.Errorf("secret type = %q", sec.Type)
	}
	node := &Node{Status: NodeStatus{Capacity: ResourceList{ResourceCPU: resource.MustParse("2")}}}
	node.Default()
	if node.Status.Allocatable.Cpu().String() != "2" {
		t.Errorf("node allocatable = %v", node.Status.Allocatable)
	}
	pvc := &PersistentVolumeClaim{}
	pvc.Default()
	if *pvc.Spec.VolumeMode != PersistentVolumeFilesystem || pvc.Status.Phase != ClaimPending {
		t.Errorf("pvc after Default: %+v", pvc)
	}
	pv := &PersistentVolume{}
	pv.Default()
	if pv.Spec.PersistentVolumeReclaimPolicy != PersistentVolumeReclaimRetain || pv.Status.Phase != VolumePending {
		t.Errorf("pv after Default: %+v", pv)
	}
}

func jsonCopy(t *testing.T, s PodSpec) PodSpec {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out PodSpec
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
