package validation

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func validPod() *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "web", Image: "busybox:1.36",
				Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}},
			}},
			Volumes: []corev1.Volume{{Name: "data"}},
		},
	}
	p.Default()
	return p
}

func validDeployment() *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "busybox:1.36"}}},
			},
		},
	}
	d.Default()
	return d
}

func validService() *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	s.Default()
	return s
}

func validJob() *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default"},
		Spec: batchv1.JobSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "u1"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"batch.kubernetes.io/controller-uid": "u1"}},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "pi", Image: "busybox:1.36", Command: []string{"true"}}}},
			},
		},
	}
	j.Default()
	return j
}

// want names the error a case expects: a field path and an error type; detail, if set, must be
// contained in the message.
type want struct {
	field  string
	typ    field.ErrorType
	detail string
}

func check(t *testing.T, errs field.ErrorList, w *want) {
	t.Helper()
	if w == nil {
		if len(errs) > 0 {
			t.Fatalf("unexpected errors: %v", errs)
		}
		return
	}
	for _, e := range errs {
		if e.Field == w.field && e.Type == w.typ && strings.Contains(e.Error(), w.detail) {
			return
		}
	}
	t.Fatalf("want %s %s %q, got %v", w.field, w.typ, w.detail, errs)
}

func TestValidateMetadata(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   *want
	}{
		{"a valid pod has no errors", func(*corev1.Pod) {}, nil},
		{"name is required", func(p *corev1.Pod) { p.Name = "" }, &want{"metadata.name", field.ErrorTypeRequired, "name or generateName is required"}},
		{"name must be a DNS-1123 subdomain", func(p *corev1.Pod) { p.Name = "Web_1" }, &want{"metadata.name", field.ErrorTypeInvalid, "RFC 1123 subdomain"}},
		{"names may contain dots", func(p *corev1.Pod) { p.Name = "web.v1" }, nil},
		{"name of 253 characters is allowed", func(p *corev1.Pod) { p.Name = strings.Repeat("a", 253) }, nil},
		{"name of 254 characters is rejected", func(p *corev1.Pod) { p.Name = strings.Repeat("a", 254) }, &want{"metadata.name", field.ErrorTypeInvalid, "no more than 253"}},
		{"generateName may end in a dash", func(p *corev1.Pod) { p.GenerateName = "web-" }, nil},
		{"generateName must be a valid prefix", func(p *corev1.Pod) { p.GenerateName = "Web_" }, &want{"metadata.generateName", field.ErrorTypeInvalid, ""}},
		{"namespace is required for namespaced kinds", func(p *corev1.Pod) { p.Namespace = "" }, &want{"metadata.namespace", field.ErrorTypeRequired, ""}},
		{"namespace must be a DNS-1123 label", func(p *corev1.Pod) { p.Namespace = "a.b" }, &want{"metadata.namespace", field.ErrorTypeInvalid, ""}},
		{"label key with prefix is valid", func(p *corev1.Pod) { p.Labels["example.com/tier"] = "front" }, nil},
		{"label key name part over 63 characters", func(p *corev1.Pod) { p.Labels[strings.Repeat("k", 64)] = "v" }, &want{"metadata.labels", field.ErrorTypeInvalid, "63"}},
		{"label key with invalid prefix", func(p *corev1.Pod) { p.Labels["Bad_Prefix/k"] = "v" }, &want{"metadata.labels", field.ErrorTypeInvalid, "prefix part"}},
		{"label value over 63 characters", func(p *corev1.Pod) { p.Labels["k"] = strings.Repeat("v", 64) }, &want{"metadata.labels", field.ErrorTypeInvalid, "63"}},
		{"empty label value is valid", func(p *corev1.Pod) { p.Labels["k"] = "" }, nil},
		{"label value must start alphanumeric", func(p *corev1.Pod) { p.Labels["k"] = "-v" }, &want{"metadata.labels", field.ErrorTypeInvalid, ""}},
		{"annotation key must be a qualified name", func(p *corev1.Pod) { p.Annotations = map[string]string{"bad key": "v"} }, &want{"metadata.annotations", field.ErrorTypeInvalid, ""}},
		{"annotations may total 256 KiB", func(p *corev1.Pod) { p.Annotations = map[string]string{"a": strings.Repeat("x", 256*1024-1)} }, nil},
		{"annotations over 256 KiB are too long", func(p *corev1.Pod) { p.Annotations = map[string]string{"a": strings.Repeat("x", 256*1024)} }, &want{"metadata.annotations", field.ErrorTypeTooLong, ""}},
		{"owner reference needs a uid", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs"}}
		}, &want{"metadata.ownerReferences[0].uid", field.ErrorTypeRequired, "must not be empty"}},
		{"only one controller owner", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{
				{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "a", UID: "1", Controller: ptr(true)},
				{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "b", UID: "2", Controller: ptr(true)}}
		}, &want{"metadata.ownerReferences", field.ErrorTypeInvalid, "Only one reference can have Controller set to true"}},
		{"finalizers must be qualified names", func(p *corev1.Pod) { p.Finalizers = []string{"bad finalizer"} }, &want{"metadata.finalizers", field.ErrorTypeInvalid, "name part must consist of"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(p)
			check(t, Validate(p), tt.want)
		})
	}
}

func TestValidateNamesByKind(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a.b"}}
	check(t, Validate(ns), &want{"metadata.name", field.ErrorTypeInvalid, "must not contain dots"})
	ns.Name = "Team"
	check(t, Validate(ns), &want{"metadata.name", field.ErrorTypeInvalid, "RFC 1123 label"})
	svc := validService()
	svc.Name = "1web"
	check(t, Validate(svc), &want{"metadata.name", field.ErrorTypeInvalid, "DNS-1035 label"})
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1.example.com"}}
	check(t, Validate(node), nil)
	node.Namespace = "default"
	check(t, Validate(node), &want{"metadata.namespace", field.ErrorTypeForbidden, "not allowed on this type"})
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("c", 53), Namespace: "default"},
		Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: validJob().Spec}}}
	cj.Default()
	cj.Spec.JobTemplate.Spec.Selector = nil
	check(t, Validate(cj), &want{"metadata.name", field.ErrorTypeInvalid, "no more than 52"})
	cj.Name = "backup"
	check(t, Validate(cj), nil)
	cj.Spec.Schedule = "every minute"
	check(t, Validate(cj), &want{"spec.schedule", field.ErrorTypeInvalid, ""})
	cj.Spec.Schedule = "@hourly"
	check(t, Validate(cj), nil)
}

func TestValidatePodSpec(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   *want
	}{
		{"containers are required", func(p *corev1.Pod) { p.Spec.Containers = nil }, &want{"spec.containers", field.ErrorTypeRequired, ""}},
		{"container name is required", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }, &want{"spec.containers[0].name", field.ErrorTypeRequired, ""}},
		{"container name must be a DNS label", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "Web" }, &want{"spec.containers[0].name", field.ErrorTypeInvalid, ""}},
		{"container image is required", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, &want{"spec.containers[0].image", field.ErrorTypeRequired, ""}},
		{"container names are unique across init and app containers", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "web", Image: "x:1", ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile}}
		}, &want{"spec.containers[0].name", field.ErrorTypeDuplicate, ""}},
		{"containerPort 0 is required", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 }, &want{"spec.containers[0].ports[0].containerPort", field.ErrorTypeRequired, ""}},
		{"containerPort above 65535 is invalid", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 65536 }, &want{"spec.containers[0].ports[0].containerPort", field.ErrorTypeInvalid, "between 1 and 65535"}},
		{"port names are IANA service names", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "http_web" }, &want{"spec.containers[0].ports[0].name", field.ErrorTypeInvalid, ""}},
		{"port protocol must be supported", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "ICMP" }, &want{"spec.containers[0].ports[0].protocol", field.ErrorTypeNotSupported, ""}},
		{"duplicate port names", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 9090, Protocol: corev1.ProtocolTCP})
		}, &want{"spec.containers[0].ports[1].name", field.ErrorTypeDuplicate, ""}},
		{"host-network pods need hostPort = containerPort", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 9999
		}, &want{"spec.containers[0].ports[0].containerPort", field.ErrorTypeInvalid, "must match `hostPort`"}},
		{"volume mount must name a volume", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "other" }, &want{"spec.containers[0].volumeMounts[0].name", field.ErrorTypeNotFound, ""}},
		{"mountPath is required", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].MountPath = "" }, &want{"spec.containers[0].volumeMounts[0].mountPath", field.ErrorTypeRequired, ""}},
		{"subPath may not escape", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "../etc" }, &want{"spec.containers[0].volumeMounts[0].subPath", field.ErrorTypeInvalid, "'..'"}},
		{"volume names are unique", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}, &want{"spec.volumes[1].name", field.ErrorTypeDuplicate, ""}},
		{"volume needs exactly one source", func(p *corev1.Pod) {
			p.Spec.Volumes[0].HostPath = &corev1.HostPathVolumeSource{Path: "/tmp"}
		}, &want{"spec.volumes[0]", field.ErrorTypeForbidden, "may not specify more than 1 volume type"}},
		{"hostPath needs a path", func(p *corev1.Pod) {
			p.Spec.Volumes[0] = corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}}
		}, &want{"spec.volumes[0].hostPath.path", field.ErrorTypeRequired, ""}},
		{"configMap volume needs a name", func(p *corev1.Pod) {
			p.Spec.Volumes[0] = corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}
		}, &want{"spec.volumes[0].configMap.name", field.ErrorTypeRequired, ""}},
		{"projected item paths are relative", func(p *corev1.Pod) {
			p.Spec.Volumes[0] = corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s",
				Items: []corev1.KeyToPath{{Key: "k", Path: "/abs"}}}}}
		}, &want{"spec.volumes[0].secret.items[0].path", field.ErrorTypeInvalid, "relative"}},
		{"requests may not exceed limits", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1")
		}, &want{"spec.containers[0].resources.requests[cpu]", field.ErrorTypeInvalid, "must be less than or equal to cpu limit of 500m"}},
		{"negative quantities are invalid", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("-1Mi")
		}, &want{"spec.containers[0].resources.limits[memory]", field.ErrorTypeInvalid, ""}},
		{"probe needs a handler", func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe.HTTPGet = nil }, &want{"spec.containers[0].readinessProbe", field.ErrorTypeRequired, "must specify a handler type"}},
		{"probe may have only one handler", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
		}, &want{"spec.containers[0].readinessProbe", field.ErrorTypeForbidden, ""}},
		{"liveness successThreshold must be 1", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, SuccessThreshold: 2}
		}, &want{"spec.containers[0].livenessProbe.successThreshold", field.ErrorTypeInvalid, "must be 1"}},
		{"probe port by number must be in range", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe.HTTPGet.Port = intstr.FromInt32(0)
		}, &want{"spec.containers[0].readinessProbe.httpGet.port", field.ErrorTypeInvalid, ""}},
		{"env name is required", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Value: "x"}} }, &want{"spec.containers[0].env[0].name", field.ErrorTypeRequired, ""}},
		{"env valueFrom needs one source", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{}}}
		}, &want{"spec.containers[0].env[0].valueFrom", field.ErrorTypeInvalid, "must specify one of"}},
		{"env value and valueFrom are exclusive", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "x", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}}}
		}, &want{"spec.containers[0].env[0].valueFrom", field.ErrorTypeInvalid, "may not be specified when `value` is not empty"}},
		{"env fieldRef must be a supported field", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.foo"}}}}
		}, &want{"spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", field.ErrorTypeNotSupported, ""}},
		{"env fieldRef to a label is valid", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}}}}
		}, nil},
		{"secretKeyRef needs a key", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}}
		}, &want{"spec.containers[0].env[0].valueFrom.secretKeyRef.key", field.ErrorTypeRequired, ""}},
		{"restartPolicy must be supported", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, &want{"spec.restartPolicy", field.ErrorTypeNotSupported, ""}},
		{"dnsPolicy None needs nameservers", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }, &want{"spec.dnsConfig.nameservers", field.ErrorTypeRequired, ""}},
		{"imagePullPolicy must be supported", func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" }, &want{"spec.containers[0].imagePullPolicy", field.ErrorTypeNotSupported, ""}},
		{"negative grace period is invalid", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(-1)) }, &want{"spec.terminationGracePeriodSeconds", field.ErrorTypeInvalid, ""}},
		{"activeDeadlineSeconds must be positive", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(0)) }, &want{"spec.activeDeadlineSeconds", field.ErrorTypeInvalid, ""}},
		{"nodeSelector keys are label keys", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"bad key": "x"} }, &want{"spec.nodeSelector", field.ErrorTypeInvalid, ""}},
		{"toleration with Exists may not have a value", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}}
		}, &want{"spec.tolerations[0].operator", field.ErrorTypeInvalid, "value must be empty when `operator` is 'Exists'"}},
		{"toleration without key needs Exists", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual, Value: "v"}}
		}, &want{"spec.tolerations[0].operator", field.ErrorTypeInvalid, "operator must be Exists when `key` is empty"}},
		{"tolerationSeconds only with NoExecute", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr(int64(5))}}
		}, &want{"spec.tolerations[0].effect", field.ErrorTypeInvalid, "NoExecute"}},
		{"node affinity needs terms", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		}, &want{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", field.ErrorTypeRequired, ""}},
		{"node selector In needs values", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn}}}}}}}
		}, &want{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values", field.ErrorTypeRequired, ""}},
		{"node selector Gt needs one integer", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "cores", Operator: corev1.NodeSelectorOpGt, Values: []string{"many"}}}}}}}}
		}, &want{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[0]", field.ErrorTypeInvalid, "integer"}},
		{"matchFields supports only metadata.name", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "spec.x", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}}}}}
		}, &want{"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key", field.ErrorTypeNotSupported, ""}},
		{"preferred weight in 1..100", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 101}}}}
		}, &want{"spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", field.ErrorTypeInvalid, "1-100"}},
		{"pod anti-affinity needs a topologyKey", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}}
		}, &want{"spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", field.ErrorTypeRequired, ""}},
		{"pod affinity selector operators are checked", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Equals"}}}}}}}
		}, &want{"spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator", field.ErrorTypeInvalid, ""}},
		{"hostAliases need valid IPs", func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "999.1.1.1", Hostnames: []string{"db"}}}
		}, &want{"spec.hostAliases[0].ip", field.ErrorTypeInvalid, ""}},
		{"hostname must be a DNS label", func(p *corev1.Pod) { p.Spec.Hostname = "a.b" }, &want{"spec.hostname", field.ErrorTypeInvalid, ""}},
		{"serviceAccountName must be a DNS subdomain", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "Bad_SA" }, &want{"spec.serviceAccountName", field.ErrorTypeInvalid, ""}},
		{"init containers may not have probes", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "x:1", ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}}
		}, &want{"spec.initContainers[0].readinessProbe", field.ErrorTypeForbidden, ""}},
		{"sidecar init containers may have probes", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", Image: "x:1", ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				RestartPolicy:  ptr(corev1.ContainerRestartPolicyAlways),
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}}}
		}, nil},
		{"topology spread maxSkew must be positive", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule}}
		}, &want{"spec.topologySpreadConstraints[0].maxSkew", field.ErrorTypeInvalid, ""}},
		{"scheduling gates are unique", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}, {Name: "example.com/wait"}}
		}, &want{"spec.schedulingGates[1].name", field.ErrorTypeDuplicate, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(p)
			check(t, Validate(p), tt.want)
		})
	}
}

func TestValidatePodUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   *want
	}{
		{"changing a container image is allowed", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "busybox:1.37" }, nil},
		{"setting activeDeadlineSeconds is allowed", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(30)) }, nil},
		{"adding a toleration is allowed", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})
		}, nil},
		{"labels may change", func(p *corev1.Pod) { p.Labels["version"] = "2" }, nil},
		{"changing the command is forbidden", func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{"sh"} }, &want{"spec", field.ErrorTypeForbidden, "pod updates may not change fields"}},
		{"changing nodeName is forbidden", func(p *corev1.Pod) { p.Spec.NodeName = "n2" }, &want{"spec", field.ErrorTypeForbidden, ""}},
		{"adding a container is forbidden", func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Name = "two"
			c.Ports = nil
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, &want{"spec", field.ErrorTypeForbidden, ""}},
		{"changing the name is forbidden", func(p *corev1.Pod) { p.Name = "web-2" }, &want{"metadata.name", field.ErrorTypeInvalid, "field is immutable"}},
		{"changing the namespace is forbidden", func(p *corev1.Pod) { p.Namespace = "other" }, &want{"metadata.namespace", field.ErrorTypeInvalid, "field is immutable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validPod()
			old.Spec.NodeName = "n1"
			n := validPod()
			n.Spec.NodeName = "n1"
			tt.mutate(n)
			check(t, ValidateUpdate(n, old), tt.want)
		})
	}

	old := validPod()
	old.Spec.ActiveDeadlineSeconds = ptr(int64(30))
	old.Spec.Tolerations = []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpExists}}
	raised := validPod()
	raised.Spec.ActiveDeadlineSeconds = ptr(int64(60))
	raised.Spec.Tolerations = old.Spec.Tolerations
	check(t, ValidateUpdate(raised, old), &want{"spec.activeDeadlineSeconds", field.ErrorTypeInvalid, "less than or equal to previous value"})
	removed := validPod()
	removed.Spec.ActiveDeadlineSeconds = ptr(int64(30))
	check(t, ValidateUpdate(removed, old), &want{"spec.tolerations[0]", field.ErrorTypeForbidden, ""})
}

func TestValidatePodStatusUpdate(t *testing.T) {
	old := validPod()
	n := validPod()
	n.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.5", PodIPs: []corev1.PodIP{{IP: "10.244.0.5"}}, HostIP: "10.0.0.1"}
	check(t, ValidateStatusUpdate(n, old), nil)
	n.Status.PodIPs[0].IP = "10.244.0.6"
	check(t, ValidateStatusUpdate(n, old), &want{"status.podIPs[0].ip", field.ErrorTypeInvalid, "must match status.podIP"})
	n.Status = corev1.PodStatus{Phase: "Sleeping"}
	check(t, ValidateStatusUpdate(n, old), &want{"status.phase", field.ErrorTypeNotSupported, ""})
}

func TestValidateWorkloads(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   *want
	}{
		{"a valid deployment has no errors", func(*appsv1.Deployment) {}, nil},
		{"selector is required", func(d *appsv1.Deployment) { d.Spec.Selector = nil }, &want{"spec.selector", field.ErrorTypeRequired, ""}},
		{"empty selector is invalid", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, &want{"spec.selector", field.ErrorTypeInvalid, "empty selector is invalid for deployment"}},
		{"selector must match template labels", func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "db"} },
			&want{"spec.template.metadata.labels", field.ErrorTypeInvalid, "`selector` does not match template `labels`"}},
		{"negative replicas are invalid", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(-1)) }, &want{"spec.replicas", field.ErrorTypeInvalid, "greater than or equal to 0"}},
		{"template must restart Always", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure },
			&want{"spec.template.spec.restartPolicy", field.ErrorTypeNotSupported, ""}},
		{"template containers are validated", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" },
			&want{"spec.template.spec.containers[0].image", field.ErrorTypeRequired, ""}},
		{"template activeDeadlineSeconds is not supported", func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr(int64(5)) },
			&want{"spec.template.spec.activeDeadlineSeconds", field.ErrorTypeInvalid, ""}},
		{"maxUnavailable and maxSurge may not both be 0", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr(intstr.FromInt32(0)), MaxSurge: ptr(intstr.FromString("0%"))}
		}, &want{"spec.strategy.rollingUpdate.maxUnavailable", field.ErrorTypeInvalid, "may not be 0 when `maxSurge` is 0"}},
		{"maxSurge percentage over 100% is invalid", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("101%"))
		}, &want{"spec.strategy.rollingUpdate.maxUnavailable", field.ErrorTypeInvalid, "100%"}},
		{"Recreate may not have rollingUpdate", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			&want{"spec.strategy.rollingUpdate", field.ErrorTypeForbidden, ""}},
		{"progress deadline must exceed minReadySeconds", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 600 },
			&want{"spec.progressDeadlineSeconds", field.ErrorTypeInvalid, "must be greater than minReadySeconds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDeployment()
			tt.mutate(d)
			check(t, Validate(d), tt.want)
		})
	}
	t.Run("deployment selector is immutable", func(t *testing.T) {
		old, n := validDeployment(), validDeployment()
		n.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
		n.Spec.Template.Labels["v"] = "2"
		check(t, ValidateUpdate(n, old), &want{"spec.selector", field.ErrorTypeInvalid, "field is immutable"})
	})
	t.Run("deployment template and replicas may change", func(t *testing.T) {
		old, n := validDeployment(), validDeployment()
		n.Spec.Replicas = ptr(int32(5))
		n.Spec.Template.Spec.Containers[0].Image = "busybox:1.37"
		check(t, ValidateUpdate(n, old), nil)
	})
	t.Run("replica set selector is immutable", func(t *testing.T) {
		d := validDeployment()
		old := &appsv1.ReplicaSet{ObjectMeta: d.ObjectMeta, Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(1)), Selector: d.Spec.Selector, Template: d.Spec.Template}}
		n := copyRS(t, old)
		check(t, Validate(old), nil)
		n.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
		n.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}
		check(t, ValidateUpdate(n, old), &want{"spec.selector", field.ErrorTypeInvalid, "field is immutable"})
	})
	t.Run("daemon set needs one of maxUnavailable and maxSurge", func(t *testing.T) {
		d := validDeployment()
		ds := &appsv1.DaemonSet{ObjectMeta: d.ObjectMeta, Spec: appsv1.DaemonSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}
		ds.Default()
		check(t, Validate(ds), nil)
		ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromInt32(0))
		check(t, Validate(ds), &want{"spec.updateStrategy.rollingUpdate.maxUnavailable", field.ErrorTypeInvalid, ""})
	})
	t.Run("stateful set allows only some spec changes", func(t *testing.T) {
		d := validDeployment()
		mk := func() *appsv1.StatefulSet {
			ss := &appsv1.StatefulSet{ObjectMeta: d.ObjectMeta, Spec: appsv1.StatefulSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template, ServiceName: "web"}}
			ss.Default()
			return ss
		}
		old, n := mk(), mk()
		check(t, Validate(old), nil)
		n.Spec.Replicas = ptr(int32(3))
		check(t, ValidateUpdate(n, old), nil)
		n.Spec.ServiceName = "other"
		check(t, ValidateUpdate(n, old), &want{"spec", field.ErrorTypeForbidden, "updates to statefulset spec for fields other than"})
	})
}

func copyRS(t *testing.T, rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	t.Helper()
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	out := &appsv1.ReplicaSet{}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestValidateJob(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(j *batchv1.Job)
		want   *want
	}{
		{"a valid job has no errors", func(*batchv1.Job) {}, nil},
		{"restartPolicy Always is not allowed", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			&want{"spec.template.spec.restartPolicy", field.ErrorTypeNotSupported, `supported values: "OnFailure", "Never"`}},
		{"negative parallelism", func(j *batchv1.Job) { j.Spec.Parallelism = ptr(int32(-1)) }, &want{"spec.parallelism", field.ErrorTypeInvalid, ""}},
		{"negative backoffLimit", func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr(int32(-1)) }, &want{"spec.backoffLimit", field.ErrorTypeInvalid, ""}},
		{"activeDeadlineSeconds must be positive", func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr(int64(0)) }, &want{"spec.activeDeadlineSeconds", field.ErrorTypeInvalid, ""}},
		{"Indexed needs completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, &want{"spec.completions", field.ErrorTypeRequired, "when completion mode is Indexed"}},
		{"unsupported completion mode", func(j *batchv1.Job) { j.Spec.CompletionMode = ptr(batchv1.CompletionMode("Ordered")) }, &want{"spec.completionMode", field.ErrorTypeNotSupported, ""}},
		{"selector must match template", func(j *batchv1.Job) { j.Spec.Template.Labels = nil }, &want{"spec.template.metadata.labels", field.ErrorTypeInvalid, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.mutate(j)
			check(t, Validate(j), tt.want)
		})
	}
	t.Run("job template is immutable", func(t *testing.T) {
		old, n := validJob(), validJob()
		n.Spec.Template.Spec.Containers[0].Image = "busybox:1.37"
		check(t, ValidateUpdate(n, old), &want{"spec.template", field.ErrorTypeInvalid, "field is immutable"})
	})
	t.Run("job selector is immutable", func(t *testing.T) {
		old, n := validJob(), validJob()
		n.Spec.Selector.MatchLabels["x"] = "y"
		n.Spec.Template.Labels["x"] = "y"
		check(t, ValidateUpdate(n, old), &want{"spec.selector", field.ErrorTypeInvalid, "field is immutable"})
	})
	t.Run("job parallelism may change", func(t *testing.T) {
		old, n := validJob(), validJob()
		n.Spec.Parallelism = ptr(int32(4))
		check(t, ValidateUpdate(n, old), nil)
	})
}

func TestValidateService(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *corev1.Service)
		want   *want
	}{
		{"a valid service has no errors", func(*corev1.Service) {}, nil},
		{"ports are required", func(s *corev1.Service) { s.Spec.Ports = nil }, &want{"spec.ports", field.ErrorTypeRequired, ""}},
		{"headless services need no ports", func(s *corev1.Service) { s.Spec.Ports = nil; s.Spec.ClusterIP = corev1.ClusterIPNone }, nil},
		{"port out of range", func(s *corev1.Service) { s.Spec.Ports[0].Port = 70000 }, &want{"spec.ports[0].port", field.ErrorTypeInvalid, ""}},
		{"several ports need names", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8443)})
		}, &want{"spec.ports[0].name", field.ErrorTypeRequired, ""}},
		{"duplicate port and protocol", func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)},
				{Name: "b", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(81)}}
		}, &want{"spec.ports[1]", field.ErrorTypeDuplicate, ""}},
		{"same port on UDP is fine", func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)}}
		}, nil},
		{"named targetPort must be an IANA name", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("Not_Valid") }, &want{"spec.ports[0].targetPort", field.ErrorTypeInvalid, ""}},
		{"nodePort only on NodePort or LoadBalancer", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }, &want{"spec.ports[0].nodePort", field.ErrorTypeForbidden, "may not be used when `type` is 'ClusterIP'"}},
		{"NodePort service may set nodePort", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.Ports[0].NodePort = 30080
		}, nil},
		{"unsupported type", func(s *corev1.Service) { s.Spec.Type = "Magic" }, &want{"spec.type", field.ErrorTypeNotSupported, ""}},
		{"ExternalName needs externalName", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.IPFamilies = nil
			s.Spec.IPFamilyPolicy = nil
		}, &want{"spec.externalName", field.ErrorTypeRequired, ""}},
		{"clusterIP must be an IP", func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.300" }, &want{"spec.clusterIP", field.ErrorTypeInvalid, ""}},
		{"ClientIP affinity timeout in range", func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(86401))}}
		}, &want{"spec.sessionAffinityConfig.clientIP.timeoutSeconds", field.ErrorTypeInvalid, ""}},
		{"externalTrafficPolicy only for external services", func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal },
			&want{"spec.externalTrafficPolicy", field.ErrorTypeInvalid, ""}},
		{"selector keys are label keys", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"bad key": "x"} }, &want{"spec.selector", field.ErrorTypeInvalid, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validService()
			tt.mutate(s)
			check(t, Validate(s), tt.want)
		})
	}
	t.Run("clusterIP is immutable once set", func(t *testing.T) {
		old, n := validService(), validService()
		old.Spec.ClusterIP, old.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
		n.Spec.ClusterIP, n.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"}
		check(t, ValidateUpdate(n, old), &want{"spec.clusterIP", field.ErrorTypeInvalid, "field is immutable"})
	})
	t.Run("clusterIP may be filled in when unset", func(t *testing.T) {
		old, n := validService(), validService()
		n.Spec.ClusterIP, n.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"}
		check(t, ValidateUpdate(n, old), nil)
	})
}

func TestValidateOtherCoreKinds(t *testing.T) {
	t.Run("config map keys", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Data: map[string]string{"app.properties": "x"}}
		check(t, Validate(cm), nil)
		cm.Data["bad/key"] = "x"
		check(t, Validate(cm), &want{"data[bad/key]", field.ErrorTypeInvalid, ""})
		delete(cm.Data, "bad/key")
		cm.BinaryData = map[string][]byte{"app.properties": []byte("y")}
		check(t, Validate(cm), &want{"data[app.properties]", field.ErrorTypeInvalid, "duplicate of key present in binaryData"})
	})
	t.Run("config map over 1 MiB", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Data: map[string]string{"big": strings.Repeat("x", 1<<20+1)}}
		check(t, Validate(cm), &want{"data", field.ErrorTypeTooLong, ""})
	})
	t.Run("immutable config map data", func(t *testing.T) {
		old := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Immutable: ptr(true), Data: map[string]string{"a": "1"}}
		n := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Immutable: ptr(true), Data: map[string]string{"a": "2"}}
		check(t, ValidateUpdate(n, old), &want{"data", field.ErrorTypeForbidden, "field is immutable when `immutable` is set"})
	})
	t.Run("tls secret needs its keys", func(t *testing.T) {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("c")}}
		check(t, Validate(s), &want{"data[tls.key]", field.ErrorTypeRequired, ""})
	})
	t.Run("secret type is immutable", func(t *testing.T) {
		old := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Type: corev1.SecretTypeOpaque}
		n := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"}, Type: corev1.SecretTypeBasicAuth, Data: map[string][]byte{"username": []byte("u")}}
		check(t, ValidateUpdate(n, old), &want{"type", field.ErrorTypeInvalid, "field is immutable"})
	})
	t.Run("node taints", func(t *testing.T) {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{
			{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute},
			{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}}}}
		check(t, Validate(n), nil)
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute})
		check(t, Validate(n), &want{"spec.taints[2]", field.ErrorTypeDuplicate, ""})
		n.Spec.Taints = []corev1.Taint{{Key: "k"}}
		check(t, Validate(n), &want{"spec.taints[0].effect", field.ErrorTypeRequired, ""})
	})
	t.Run("node podCIDR set once", func(t *testing.T) {
		old := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}}}
		check(t, ValidateUpdate(n, old), nil)
		again := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.2.0/24", PodCIDRs: []string{"10.244.2.0/24"}}}
		check(t, ValidateUpdate(again, n), &want{"spec.podCIDR", field.ErrorTypeForbidden, ""})
	})
	t.Run("event namespace must match involved object", func(t *testing.T) {
		e := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "default"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: "other"}}
		check(t, Validate(e), &want{"involvedObject.namespace", field.ErrorTypeInvalid, "does not match event.namespace"})
	})
	t.Run("endpoints may not use loopback", func(t *testing.T) {
		e := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "127.0.0.1"}}, Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}}
		check(t, Validate(e), &want{"subsets[0].addresses[0].ip", field.ErrorTypeInvalid, "loopback"})
	})
	t.Run("pvc needs a storage request", func(t *testing.T) {
		c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default"},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}}
		check(t, Validate(c), &want{"spec.resources[storage]", field.ErrorTypeRequired, ""})
	})
	t.Run("binding target must be a node", func(t *testing.T) {
		b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}, Target: corev1.ObjectReference{Kind: "Pod", Name: "x"}}
		check(t, Validate(b), &want{"target.kind", field.ErrorTypeNotSupported, ""})
	})
}

func TestNewInvalid(t *testing.T) {
	p := validPod()
	p.Spec.Containers = nil
	st := NewInvalidFor(p, Validate(p))
	if st.Code != 422 || st.Reason != metav1.StatusReasonInvalid || st.Details.Kind != "Pod" || st.Details.Group != "" {
		t.Fatalf("status = %+v", st)
	}
	if st.Message != `Pod "web-1" is invalid: spec.containers: Required value` {
		t.Errorf("message = %q", st.Message)
	}
	if c := st.Details.Causes[0]; c.Type != metav1.CauseTypeFieldValueRequired || c.Field != "spec.containers" || c.Message != "Required value" {
		t.Errorf("cause = %+v", c)
	}
	d := validDeployment()
	d.Spec.Selector = nil
	d.Spec.Replicas = ptr(int32(-1))
	st = NewInvalidFor(d, Validate(d))
	if !strings.HasPrefix(st.Message, `Deployment.apps "web" is invalid: [`) || st.Details.Group != "apps" || len(st.Details.Causes) != 2 {
		t.Errorf("deployment status = %+v", st)
	}
}
