package validation

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// podOptions carries what the owner of a pod spec restricts.
type podOptions struct {
	// restartPolicies, if set, are the only restart policies allowed (workloads: Always; jobs:
	// OnFailure, Never).
	restartPolicies []corev1.RestartPolicy
	// forbidActiveDeadline rejects activeDeadlineSeconds (deployments, replica sets, ...).
	forbidActiveDeadline bool
}

func validatePodTemplateSpec(t *corev1.PodTemplateSpec, p *field.Path, opts podOptions) field.ErrorList {
	errs := validateTemplateMeta(&t.ObjectMeta, p.Child("metadata"))
	errs = append(errs, validatePodSpec(&t.Spec, p.Child("spec"), opts)...)
	return errs
}

func validatePodSpec(s *corev1.PodSpec, p *field.Path, opts podOptions) field.ErrorList {
	var errs field.ErrorList
	volumes, verrs := validateVolumes(s.Volumes, p.Child("volumes"))
	errs = append(errs, verrs...)

	names := sets.New[string]()
	if len(s.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	errs = append(errs, validateContainers(s.InitContainers, p.Child("initContainers"), volumes, names, true)...)
	errs = append(errs, validateContainers(s.Containers, p.Child("containers"), volumes, names, false)...)
	if s.HostNetwork {
		for _, group := range []struct {
			cs []corev1.Container
			p  *field.Path
		}{{s.InitContainers, p.Child("initContainers")}, {s.Containers, p.Child("containers")}} {
			for i, c := range group.cs {
				for j, port := range c.Ports {
					if port.HostPort != port.ContainerPort {
						errs = append(errs, field.Invalid(group.p.Index(i).Child("ports").Index(j).Child("containerPort"),
							port.ContainerPort, "must match `hostPort` when `hostNetwork` is true"))
					}
				}
			}
		}
	}

	if len(opts.restartPolicies) > 0 {
		if s.RestartPolicy == "" {
			errs = append(errs, field.Required(p.Child("restartPolicy"), fmt.Sprintf("valid values: %s", quoteJoin(opts.restartPolicies))))
		} else {
			errs = append(errs, supported(s.RestartPolicy, p.Child("restartPolicy"), opts.restartPolicies...)...)
		}
	} else {
		errs = append(errs, supported(s.RestartPolicy, p.Child("restartPolicy"),
			corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)...)
	}
	errs = append(errs, supported(s.DNSPolicy, p.Child("dnsPolicy"),
		corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone)...)
	if s.DNSPolicy == corev1.DNSNone && (s.DNSConfig == nil || len(s.DNSConfig.Nameservers) == 0) {
		errs = append(errs, field.Required(p.Child("dnsConfig", "nameservers"), "must provide at least one DNS nameserver when DNSPolicy is None"))
	}
	errs = append(errs, metav1validation.ValidateLabels(s.NodeSelector, p.Child("nodeSelector"))...)
	if s.ServiceAccountName != "" {
		errs = append(errs, msgs(p.Child("serviceAccountName"), s.ServiceAccountName, apimachineryvalidation.ValidateServiceAccountName(s.ServiceAccountName, false))...)
	}
	if s.NodeName != "" {
		errs = append(errs, msgs(p.Child("nodeName"), s.NodeName, validation.IsDNS1123Subdomain(s.NodeName))...)
	}
	if s.Hostname != "" {
		errs = append(errs, msgs(p.Child("hostname"), s.Hostname, validation.IsDNS1123Label(s.Hostname))...)
	}
	if s.Subdomain != "" {
		errs = append(errs, msgs(p.Child("subdomain"), s.Subdomain, validation.IsDNS1123Label(s.Subdomain))...)
	}
	if s.PriorityClassName != "" {
		errs = append(errs, msgs(p.Child("priorityClassName"), s.PriorityClassName, validation.IsDNS1123Subdomain(s.PriorityClassName))...)
	}
	if s.TerminationGracePeriodSeconds != nil {
		errs = append(errs, nonNegative(*s.TerminationGracePeriodSeconds, p.Child("terminationGracePeriodSeconds"))...)
	}
	if s.ActiveDeadlineSeconds != nil {
		if opts.forbidActiveDeadline {
			errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *s.ActiveDeadlineSeconds, "activeDeadlineSeconds in ReplicaSet is not Supported"))
		} else if *s.ActiveDeadlineSeconds < 1 || *s.ActiveDeadlineSeconds > 2147483647 {
			errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *s.ActiveDeadlineSeconds, validation.InclusiveRangeError(1, 2147483647)))
		}
	}
	errs = append(errs, validateTolerations(s.Tolerations, p.Child("tolerations"))...)
	errs = append(errs, validateAffinity(s.Affinity, p.Child("affinity"))...)
	for i, ha := range s.HostAliases {
		hp := p.Child("hostAliases").Index(i)
		errs = append(errs, validation.IsValidIP(hp.Child("ip"), ha.IP)...)
		for j, h := range ha.Hostnames {
			errs = append(errs, msgs(hp.Child("hostnames").Index(j), h, validation.IsDNS1123Subdomain(h))...)
		}
	}
	for i, tsc := range s.TopologySpreadConstraints {
		tp := p.Child("topologySpreadConstraints").Index(i)
		if tsc.MaxSkew <= 0 {
			errs = append(errs, field.Invalid(tp.Child("maxSkew"), tsc.MaxSkew, "must be greater than zero"))
		}
		if tsc.TopologyKey == "" {
			errs = append(errs, field.Required(tp.Child("topologyKey"), "can not be empty"))
		} else {
			errs = append(errs, metav1validation.ValidateLabelName(tsc.TopologyKey, tp.Child("topologyKey"))...)
		}
		errs = append(errs, supported(tsc.WhenUnsatisfiable, tp.Child("whenUnsatisfiable"), corev1.DoNotSchedule, corev1.ScheduleAnyway)...)
		errs = append(errs, validateLabelSelector(tsc.LabelSelector, tp.Child("labelSelector"))...)
	}
	gates := sets.New[string]()
	for i, g := range s.SchedulingGates {
		gp := p.Child("schedulingGates").Index(i).Child("name")
		errs = append(errs, msgs(gp, g.Name, validation.IsQualifiedName(g.Name))...)
		if gates.Has(g.Name) {
			errs = append(errs, field.Duplicate(gp, g.Name))
		}
		gates.Insert(g.Name)
	}
	for i, g := range s.ReadinessGates {
		errs = append(errs, msgs(p.Child("readinessGates").Index(i).Child("conditionType"), g.ConditionType, validation.IsQualifiedName(string(g.ConditionType)))...)
	}
	return errs
}

func quoteJoin[T ~string](vs []T) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(string(v))
	}
	return strings.Join(q, ", ")
}

func validateVolumes(vols []corev1.Volume, p *field.Path) (sets.Set[string], field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, v := range vols {
		vp := p.Index(i)
		if v.Name == "" {
			errs = append(errs, field.Required(vp.Child("name"), ""))
		} else {
			errs = append(errs, msgs(vp.Child("name"), v.Name, validation.IsDNS1123Label(v.Name))...)
		}
		if names.Has(v.Name) {
			errs = append(errs, field.Duplicate(vp.Child("name"), v.Name))
		}
		names.Insert(v.Name)
		errs = append(errs, validateVolumeSource(&v.VolumeSource, vp)...)
	}
	return names, errs
}

func validateVolumeSource(vs *corev1.VolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	count := func(set bool) bool {
		if set {
			n++
		}
		return set
	}
	if count(vs.HostPath != nil) {
		if vs.HostPath.Path == "" {
			errs = append(errs, field.Required(p.Child("hostPath", "path"), ""))
		}
		if hasDotDot(vs.HostPath.Path) {
			errs = append(errs, field.Invalid(p.Child("hostPath", "path"), vs.HostPath.Path, "must not contain '..'"))
		}
		if vs.HostPath.Type != nil {
			errs = append(errs, supportedOrEmpty(*vs.HostPath.Type, p.Child("hostPath", "type"), corev1.HostPathDirectoryOrCreate,
				corev1.HostPathDirectory, corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket,
				corev1.HostPathCharDev, corev1.HostPathBlockDev)...)
		}
	}
	if count(vs.EmptyDir != nil) {
		errs = append(errs, supportedOrEmpty(vs.EmptyDir.Medium, p.Child("emptyDir", "medium"), corev1.StorageMediumMemory)...)
		if vs.EmptyDir.SizeLimit != nil && vs.EmptyDir.SizeLimit.Sign() < 0 {
			errs = append(errs, field.Invalid(p.Child("emptyDir", "sizeLimit"), vs.EmptyDir.SizeLimit.String(), "SizeLimit field must be a valid resource quantity"))
		}
	}
	if count(vs.Secret != nil) {
		if vs.Secret.SecretName == "" {
			errs = append(errs, field.Required(p.Child("secret", "secretName"), ""))
		}
		errs = append(errs, validateKeyToPaths(vs.Secret.Items, p.Child("secret", "items"))...)
		errs = append(errs, validateMode(vs.Secret.DefaultMode, p.Child("secret", "defaultMode"))...)
	}
	if count(vs.ConfigMap != nil) {
		if vs.ConfigMap.Name == "" {
			errs = append(errs, field.Required(p.Child("configMap", "name"), ""))
		}
		errs = append(errs, validateKeyToPaths(vs.ConfigMap.Items, p.Child("configMap", "items"))...)
		errs = append(errs, validateMode(vs.ConfigMap.DefaultMode, p.Child("configMap", "defaultMode"))...)
	}
	if count(vs.PersistentVolumeClaim != nil) && vs.PersistentVolumeClaim.ClaimName == "" {
		errs = append(errs, field.Required(p.Child("persistentVolumeClaim", "claimName"), ""))
	}
	if count(vs.DownwardAPI != nil) {
		for i, f := range vs.DownwardAPI.Items {
			errs = append(errs, validateDownwardFile(f, p.Child("downwardAPI", "items").Index(i))...)
		}
		errs = append(errs, validateMode(vs.DownwardAPI.DefaultMode, p.Child("downwardAPI", "defaultMode"))...)
	}
	if count(vs.Projected != nil) {
		pp := p.Child("projected")
		for i, src := range vs.Projected.Sources {
			sp := pp.Child("sources").Index(i)
			k := 0
			if src.Secret != nil {
				k++
				errs = append(errs, validateKeyToPaths(src.Secret.Items, sp.Child("secret", "items"))...)
			}
			if src.ConfigMap != nil {
				k++
				errs = append(errs, validateKeyToPaths(src.ConfigMap.Items, sp.Child("configMap", "items"))...)
			}
			if src.DownwardAPI != nil {
				k++
				for j, f := range src.DownwardAPI.Items {
					errs = append(errs, validateDownwardFile(f, sp.Child("downwardAPI", "items").Index(j))...)
				}
			}
			if src.ServiceAccountToken != nil {
				k++
				if src.ServiceAccountToken.Path == "" {
					errs = append(errs, field.Required(sp.Child("serviceAccountToken", "path"), ""))
				}
				if e := src.ServiceAccountToken.ExpirationSeconds; e != nil && *e < 600 {
					errs = append(errs, field.Invalid(sp.Child("serviceAccountToken", "expirationSeconds"), *e, "may not specify a duration less than 10 minutes"))
				}
			}
			if src.ClusterTrustBundle != nil {
				k++
			}
			if k != 1 {
				errs = append(errs, field.Forbidden(sp, "may not specify more than 1 volume type per source"))
			}
		}
	}
	if count(vs.NFS != nil) {
		if vs.NFS.Server == "" {
			errs = append(errs, field.Required(p.Child("nfs", "server"), ""))
		}
		if !path.IsAbs(vs.NFS.Path) {
			errs = append(errs, field.Invalid(p.Child("nfs", "path"), vs.NFS.Path, "must be an absolute path"))
		}
	}
	if count(vs.CSI != nil) && vs.CSI.Driver == "" {
		errs = append(errs, field.Required(p.Child("csi", "driver"), ""))
	}
	if count(vs.Ephemeral != nil) && vs.Ephemeral.VolumeClaimTemplate == nil {
		errs = append(errs, field.Required(p.Child("ephemeral", "volumeClaimTemplate"), ""))
	}
	if count(vs.Image != nil) && vs.Image.Reference == "" {
		errs = append(errs, field.Required(p.Child("image", "reference"), ""))
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(p, "must specify a volume type"))
	case n > 1:
		errs = append(errs, field.Forbidden(p, "may not specify more than 1 volume type"))
	}
	return errs
}

func supportedOrEmpty[T ~string](v T, p *field.Path, values ...T) field.ErrorList {
	if v == "" {
		return nil
	}
	return supported(v, p, values...)
}

func validateMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode < 0 || *mode > 0o777) {
		return field.ErrorList{field.Invalid(p, *mode, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

func validateLocalPath(s string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(s) {
		errs = append(errs, field.Invalid(p, s, "must be a relative path"))
	}
	if hasDotDot(s) {
		errs = append(errs, field.Invalid(p, s, "must not contain '..'"))
	}
	return errs
}

func validateKeyToPaths(items []corev1.KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		ip := p.Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		}
		if it.Path == "" {
			errs = append(errs, field.Required(ip.Child("path"), ""))
		} else {
			errs = append(errs, validateLocalPath(it.Path, ip.Child("path"))...)
		}
		errs = append(errs, validateMode(it.Mode, ip.Child("mode"))...)
	}
	return errs
}

var downwardVolumeFields = []string{"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"}

var downwardEnvFields = []string{"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
	"spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}

var resourceFieldRefs = []string{"limits.cpu", "limits.memory", "limits.ephemeral-storage",
	"requests.cpu", "requests.memory", "requests.ephemeral-storage"}

func validateFieldPath(fieldPath string, allowed []string, p *field.Path) field.ErrorList {
	if fieldPath == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	for _, prefix := range []string{"metadata.labels['", "metadata.annotations['"} {
		if strings.HasPrefix(fieldPath, prefix) && strings.HasSuffix(fieldPath, "']") {
			key := strings.TrimSuffix(strings.TrimPrefix(fieldPath, prefix), "']")
			return msgs(p, key, validation.IsQualifiedName(strings.ToLower(key)))
		}
	}
	for _, a := range allowed {
		if fieldPath == a {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(p, fieldPath, allowed)}
}

func validateDownwardFile(f corev1.DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	} else {
		errs = append(errs, validateLocalPath(f.Path, p.Child("path"))...)
	}
	switch {
	case f.FieldRef != nil && f.ResourceFieldRef != nil:
		errs = append(errs, field.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
	case f.FieldRef != nil:
		errs = append(errs, validateFieldPath(f.FieldRef.FieldPath, downwardVolumeFields, p.Child("fieldRef", "fieldPath"))...)
	case f.ResourceFieldRef != nil:
		errs = append(errs, supported(f.ResourceFieldRef.Resource, p.Child("resourceFieldRef", "resource"), resourceFieldRefs...)...)
	default:
		errs = append(errs, field.Required(p, "one of fieldRef and resourceFieldRef is required"))
	}
	errs = append(errs, validateMode(f.Mode, p.Child("mode"))...)
	return errs
}

func validateContainers(cs []corev1.Container, p *field.Path, volumes sets.Set[string], names sets.Set[string], init bool) field.ErrorList {
	var errs field.ErrorList
	for i := range cs {
		c := &cs[i]
		cp := p.Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		} else {
			errs = append(errs, msgs(cp.Child("name"), c.Name, validation.IsDNS1123Label(c.Name))...)
			if names.Has(c.Name) {
				errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
			}
			names.Insert(c.Name)
		}
		if strings.TrimSpace(c.Image) == "" {
			errs = append(errs, field.Required(cp.Child("image"), ""))
		} else if c.Image != strings.TrimSpace(c.Image) {
			errs = append(errs, field.Invalid(cp.Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
		errs = append(errs, supported(c.ImagePullPolicy, cp.Child("imagePullPolicy"), corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever)...)
		errs = append(errs, supported(c.TerminationMessagePolicy, cp.Child("terminationMessagePolicy"),
			corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError)...)
		errs = append(errs, validatePorts(c.Ports, cp.Child("ports"))...)
		errs = append(errs, validateEnv(c.Env, cp.Child("env"))...)
		for j, ef := range c.EnvFrom {
			ep := cp.Child("envFrom").Index(j)
			if ef.Prefix != "" {
				errs = append(errs, msgs(ep.Child("prefix"), ef.Prefix, validation.IsEnvVarName(ef.Prefix))...)
			}
			switch {
			case ef.ConfigMapRef != nil && ef.SecretRef != nil:
				errs = append(errs, field.Invalid(ep, "", "may not have more than one field specified at a time"))
			case ef.ConfigMapRef != nil:
				errs = append(errs, msgs(ep.Child("configMapRef", "name"), ef.ConfigMapRef.Name, validation.IsDNS1123Subdomain(ef.ConfigMapRef.Name))...)
			case ef.SecretRef != nil:
				errs = append(errs, msgs(ep.Child("secretRef", "name"), ef.SecretRef.Name, validation.IsDNS1123Subdomain(ef.SecretRef.Name))...)
			default:
				errs = append(errs, field.Invalid(ep, "", "must specify one of: `configMapRef` or `secretRef`"))
			}
		}
		errs = append(errs, validateResources(&c.Resources, cp.Child("resources"))...)
		errs = append(errs, validateVolumeMounts(c.VolumeMounts, cp.Child("volumeMounts"), volumes)...)
		sidecar := init && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if c.RestartPolicy != nil && (!init || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
			errs = append(errs, field.NotSupported(cp.Child("restartPolicy"), *c.RestartPolicy, []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}))
		}
		if init && !sidecar {
			for _, probe := range []struct {
				name string
				pr   *corev1.Probe
			}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
				if probe.pr != nil {
					errs = append(errs, field.Forbidden(cp.Child(probe.name), "may not be set for init containers without restartPolicy=Always"))
				}
			}
			if c.Lifecycle != nil {
				errs = append(errs, field.Forbidden(cp.Child("lifecycle"), "may not be set for init containers without restartPolicy=Always"))
			}
		} else {
			errs = append(errs, validateProbe(c.LivenessProbe, cp.Child("livenessProbe"), true)...)
			errs = append(errs, validateProbe(c.ReadinessProbe, cp.Child("readinessProbe"), false)...)
			errs = append(errs, validateProbe(c.StartupProbe, cp.Child("startupProbe"), true)...)
			if c.Lifecycle != nil {
				errs = append(errs, validateHandler(c.Lifecycle.PostStart, cp.Child("lifecycle", "postStart"))...)
				errs = append(errs, validateHandler(c.Lifecycle.PreStop, cp.Child("lifecycle", "preStop"))...)
			}
		}
	}
	return errs
}

func validatePorts(ports []corev1.ContainerPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		pp := p.Index(i)
		if port.Name != "" {
			errs = append(errs, msgs(pp.Child("name"), port.Name, validation.IsValidPortName(port.Name))...)
			if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names.Insert(port.Name)
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(pp.Child("containerPort"), ""))
		} else {
			errs = append(errs, msgs(pp.Child("containerPort"), port.ContainerPort, validation.IsValidPortNum(int(port.ContainerPort)))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, msgs(pp.Child("hostPort"), port.HostPort, validation.IsValidPortNum(int(port.HostPort)))...)
		}
		errs = append(errs, supported(port.Protocol, pp.Child("protocol"), corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP)...)
		if port.HostIP != "" {
			errs = append(errs, validation.IsValidIP(pp.Child("hostIP"), port.HostIP)...)
		}
	}
	return errs
}

func validateEnv(env []corev1.EnvVar, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		ep := p.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(ep.Child("name"), ""))
		} else {
			errs = append(errs, msgs(ep.Child("name"), ev.Name, validation.IsRelaxedEnvVarName(ev.Name))...)
		}
		vf := ev.ValueFrom
		if vf == nil {
			continue
		}
		vp := ep.Child("valueFrom")
		n := 0
		if vf.FieldRef != nil {
			n++
			errs = append(errs, validateFieldPath(vf.FieldRef.FieldPath, downwardEnvFields, vp.Child("fieldRef", "fieldPath"))...)
		}
		if vf.ResourceFieldRef != nil {
			n++
			errs = append(errs, supported(vf.ResourceFieldRef.Resource, vp.Child("resourceFieldRef", "resource"), resourceFieldRefs...)...)
		}
		if vf.ConfigMapKeyRef != nil {
			n++
			errs = append(errs, validateKeyRef(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, vp.Child("configMapKeyRef"))...)
		}
		if vf.SecretKeyRef != nil {
			n++
			errs = append(errs, validateKeyRef(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, vp.Child("secretKeyRef"))...)
		}
		if vf.FileKeyRef != nil {
			n++
		}
		switch {
		case n == 0:
			errs = append(errs, field.Invalid(vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(vp, "", "may not have more than one field specified at a time"))
		}
		if ev.Value != "" {
			errs = append(errs, field.Invalid(vp, "", "may not be specified when `value` is not empty"))
		}
	}
	return errs
}

func validateKeyRef(name, key string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if key == "" {
		errs = append(errs, field.Required(p.Child("key"), ""))
	} else {
		errs = append(errs, msgs(p.Child("key"), key, validation.IsConfigMapKey(key))...)
	}
	return errs
}

func validateResources(r *corev1.ResourceRequirements, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, part := range []struct {
		name string
		rl   corev1.ResourceList
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for name, q := range part.rl {
			rp := p.Child(part.name).Key(string(name))
			errs = append(errs, msgs(rp, name, validation.IsQualifiedName(string(name)))...)
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(rp, q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	for name, req := range r.Requests {
		if limit, ok := r.Limits[name]; ok && req.Cmp(limit) > 0 {
			errs = append(errs, field.Invalid(p.Child("requests").Key(string(name)), req.String(),
				fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		}
	}
	return errs
}

func validateVolumeMounts(mounts []corev1.VolumeMount, p *field.Path, volumes sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	paths := sets.New[string]()
	for i, m := range mounts {
		mp := p.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(mp.Child("name"), ""))
		} else if !volumes.Has(m.Name) {
			errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(mp.Child("mountPath"), ""))
		} else if paths.Has(m.MountPath) {
			errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths.Insert(m.MountPath)
		if m.SubPath != "" {
			errs = append(errs, validateLocalPath(m.SubPath, mp.Child("subPath"))...)
		}
		if m.SubPath != "" && m.SubPathExpr != "" {
			errs = append(errs, field.Invalid(mp.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
		}
		if m.MountPropagation != nil {
			errs = append(errs, supported(*m.MountPropagation, mp.Child("mountPropagation"), corev1.MountPropagationNone,
				corev1.MountPropagationHostToContainer, corev1.MountPropagationBidirectional)...)
		}
	}
	return errs
}

func validateProbe(pr *corev1.Probe, p *field.Path, successMustBeOne bool) field.ErrorList {
	if pr == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	if pr.Exec != nil {
		n++
		if len(pr.Exec.Command) == 0 {
			errs = append(errs, field.Required(p.Child("exec", "command"), ""))
		}
	}
	if pr.HTTPGet != nil {
		n++
		errs = append(errs, validateHTTPGet(pr.HTTPGet, p.Child("httpGet"))...)
	}
	if pr.TCPSocket != nil {
		n++
		errs = append(errs, validatePortNumOrName(pr.TCPSocket.Port, p.Child("tcpSocket", "port"))...)
	}
	if pr.GRPC != nil {
		n++
		errs = append(errs, msgs(p.Child("grpc", "port"), pr.GRPC.Port, validation.IsValidPortNum(int(pr.GRPC.Port)))...)
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(p, "must specify a handler type"))
	case n > 1:
		errs = append(errs, field.Forbidden(p, "may not specify more than 1 handler type"))
	}
	errs = append(errs, nonNegative(int64(pr.InitialDelaySeconds), p.Child("initialDelaySeconds"))...)
	errs = append(errs, nonNegative(int64(pr.TimeoutSeconds), p.Child("timeoutSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.PeriodSeconds), p.Child("periodSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.SuccessThreshold), p.Child("successThreshold"))...)
	errs = append(errs, nonNegative(int64(pr.FailureThreshold), p.Child("failureThreshold"))...)
	if successMustBeOne && pr.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(p.Child("successThreshold"), pr.SuccessThreshold, "must be 1"))
	}
	if pr.TerminationGracePeriodSeconds != nil && *pr.TerminationGracePeriodSeconds <= 0 {
		errs = append(errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *pr.TerminationGracePeriodSeconds, "must be greater than 0"))
	}
	return errs
}

func validateHandler(h *corev1.LifecycleHandler, p *field.Path) field.ErrorList {
	if h == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	if h.Exec != nil {
		n++
		if len(h.Exec.Command) == 0 {
			errs = append(errs, field.Required(p.Child("exec", "command"), ""))
		}
	}
	if h.HTTPGet != nil {
		n++
		errs = append(errs, validateHTTPGet(h.HTTPGet, p.Child("httpGet"))...)
	}
	if h.TCPSocket != nil {
		n++
		errs = append(errs, validatePortNumOrName(h.TCPSocket.Port, p.Child("tcpSocket", "port"))...)
	}
	if h.Sleep != nil {
		n++
		if h.Sleep.Seconds < 0 {
			errs = append(errs, field.Invalid(p.Child("sleep", "seconds"), h.Sleep.Seconds, "must be non-negative"))
		}
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(p, "must specify a handler type"))
	case n > 1:
		errs = append(errs, field.Forbidden(p, "may not specify more than 1 handler type"))
	}
	return errs
}

func validateHTTPGet(h *corev1.HTTPGetAction, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	errs = append(errs, validatePortNumOrName(h.Port, p.Child("port"))...)
	errs = append(errs, supported(h.Scheme, p.Child("scheme"), corev1.URISchemeHTTP, corev1.URISchemeHTTPS)...)
	for i, hd := range h.HTTPHeaders {
		errs = append(errs, msgs(p.Child("httpHeaders").Index(i).Child("name"), hd.Name, validation.IsHTTPHeaderName(hd.Name))...)
	}
	return errs
}

func validatePortNumOrName(port intstr.IntOrString, p *field.Path) field.ErrorList {
	switch port.Type {
	case intstr.Int:
		return msgs(p, port.IntValue(), validation.IsValidPortNum(port.IntValue()))
	case intstr.String:
		return msgs(p, port.StrVal, validation.IsValidPortName(port.StrVal))
	}
	return field.ErrorList{field.InternalError(p, fmt.Errorf("unknown type: %v", port.Type))}
}

func validateTolerations(ts []corev1.Toleration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range ts {
		tp := p.Index(i)
		if t.Key != "" {
			errs = append(errs, metav1validation.ValidateLabelName(t.Key, tp.Child("key"))...)
		}
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(tp.Child("operator"), t.Operator, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(tp.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			errs = append(errs, msgs(tp.Child("value"), t.Value, validation.IsValidLabelValue(t.Value))...)
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(tp.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, field.NotSupported(tp.Child("operator"), t.Operator, []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}))
		}
		if t.Effect != "" {
			errs = append(errs, supported(t.Effect, tp.Child("effect"), corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute)...)
		}
	}
	return errs
}

func validateAffinity(a *corev1.Affinity, p *field.Path) field.ErrorList {
	if a == nil {
		return nil
	}
	var errs field.ErrorList
	if na := a.NodeAffinity; na != nil {
		np := p.Child("nodeAffinity")
		if r := na.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
			rp := np.Child("requiredDuringSchedulingIgnoredDuringExecution")
			if len(r.NodeSelectorTerms) == 0 {
				errs = append(errs, field.Required(rp.Child("nodeSelectorTerms"), "must have at least one node selector term"))
			}
			for i, term := range r.NodeSelectorTerms {
				errs = append(errs, validateNodeSelectorTerm(term, rp.Child("nodeSelectorTerms").Index(i))...)
			}
		}
		for i, pref := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			pp := np.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
			errs = append(errs, validateWeight(pref.Weight, pp.Child("weight"))...)
			errs = append(errs, validateNodeSelectorTerm(pref.Preference, pp.Child("preference"))...)
		}
	}
	for _, pa := range []struct {
		name      string
		required  []corev1.PodAffinityTerm
		preferred []corev1.WeightedPodAffinityTerm
		set       bool
	}{
		{"podAffinity", podAffReq(a.PodAffinity), podAffPref(a.PodAffinity), a.PodAffinity != nil},
		{"podAntiAffinity", antiReq(a.PodAntiAffinity), antiPref(a.PodAntiAffinity), a.PodAntiAffinity != nil},
	} {
		if !pa.set {
			continue
		}
		pp := p.Child(pa.name)
		for i, term := range pa.required {
			errs = append(errs, validatePodAffinityTerm(term, pp.Child("requiredDuringSchedulingIgnoredDuringExecution").Index(i))...)
		}
		for i, w := range pa.preferred {
			wp := pp.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
			errs = append(errs, validateWeight(w.Weight, wp.Child("weight"))...)
			errs = append(errs, validatePodAffinityTerm(w.PodAffinityTerm, wp.Child("podAffinityTerm"))...)
		}
	}
	return errs
}

func podAffReq(a *corev1.PodAffinity) []corev1.PodAffinityTerm {
	if a == nil {
		return nil
	}
	return a.RequiredDuringSchedulingIgnoredDuringExecution
}

func podAffPref(a *corev1.PodAffinity) []corev1.WeightedPodAffinityTerm {
	if a == nil {
		return nil
	}
	return a.PreferredDuringSchedulingIgnoredDuringExecution
}

func antiReq(a *corev1.PodAntiAffinity) []corev1.PodAffinityTerm {
	if a == nil {
		return nil
	}
	return a.RequiredDuringSchedulingIgnoredDuringExecution
}

func antiPref(a *corev1.PodAntiAffinity) []corev1.WeightedPodAffinityTerm {
	if a == nil {
		return nil
	}
	return a.PreferredDuringSchedulingIgnoredDuringExecution
}

func validateWeight(w int32, p *field.Path) field.ErrorList {
	if w < 1 || w > 100 {
		return field.ErrorList{field.Invalid(p, w, "must be in the range 1-100")}
	}
	return nil
}

func validatePodAffinityTerm(t corev1.PodAffinityTerm, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.TopologyKey == "" {
		errs = append(errs, field.Required(p.Child("topologyKey"), "can not be empty"))
	} else {
		errs = append(errs, metav1validation.ValidateLabelName(t.TopologyKey, p.Child("topologyKey"))...)
	}
	errs = append(errs, validateLabelSelector(t.LabelSelector, p.Child("labelSelector"))...)
	errs = append(errs, validateLabelSelector(t.NamespaceSelector, p.Child("namespaceSelector"))...)
	for i, ns := range t.Namespaces {
		errs = append(errs, msgs(p.Child("namespaces").Index(i), ns, validation.IsDNS1123Label(ns))...)
	}
	return errs
}

func validateNodeSelectorTerm(term corev1.NodeSelectorTerm, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, r := range term.MatchExpressions {
		rp := p.Child("matchExpressions").Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(r.Key, rp.Child("key"))...)
		errs = append(errs, validateNodeSelectorRequirement(r, rp)...)
	}
	for i, r := range term.MatchFields {
		rp := p.Child("matchFields").Index(i)
		if r.Key != "metadata.name" {
			errs = append(errs, field.NotSupported(rp.Child("key"), r.Key, []string{"metadata.name"}))
		}
		if r.Operator != corev1.NodeSelectorOpIn && r.Operator != corev1.NodeSelectorOpNotIn {
			errs = append(errs, field.NotSupported(rp.Child("operator"), r.Operator, []corev1.NodeSelectorOperator{corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn}))
		} else if len(r.Values) != 1 {
			errs = append(errs, field.Required(rp.Child("values"), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
		}
	}
	return errs
}

func validateNodeSelectorRequirement(r corev1.NodeSelectorRequirement, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch r.Operator {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
		if len(r.Values) == 0 {
			errs = append(errs, field.Required(p.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
		}
	case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		if len(r.Values) > 0 {
			errs = append(errs, field.Forbidden(p.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
		}
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(r.Values) != 1 {
			errs = append(errs, field.Required(p.Child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
		} else if _, err := strconv.ParseInt(r.Values[0], 10, 64); err != nil {
			errs = append(errs, field.Invalid(p.Child("values").Index(0), r.Values[0], "must be an integer"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("operator"), r.Operator, []corev1.NodeSelectorOperator{
			corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn, corev1.NodeSelectorOpExists,
			corev1.NodeSelectorOpDoesNotExist, corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt}))
	}
	return errs
}

func validatePodStatus(s *corev1.PodStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Phase != "" {
		errs = append(errs, supported(s.Phase, p.Child("phase"), corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown)...)
	}
	if s.PodIP != "" {
		errs = append(errs, validation.IsValidIP(p.Child("podIP"), s.PodIP)...)
	}
	for i, ip := range s.PodIPs {
		errs = append(errs, validation.IsValidIP(p.Child("podIPs").Index(i).Child("ip"), ip.IP)...)
	}
	if len(s.PodIPs) > 0 && s.PodIP != s.PodIPs[0].IP {
		errs = append(errs, field.Invalid(p.Child("podIPs").Index(0).Child("ip"), s.PodIPs[0].IP, "must match status.podIP"))
	}
	if s.HostIP != "" {
		errs = append(errs, validation.IsValidIP(p.Child("hostIP"), s.HostIP)...)
	}
	for _, group := range []struct {
		name string
		cs   []corev1.ContainerStatus
	}{{"initContainerStatuses", s.InitContainerStatuses}, {"containerStatuses", s.ContainerStatuses}} {
		for i, cs := range group.cs {
			cp := p.Child(group.name).Index(i)
			errs = append(errs, nonNegative(int64(cs.RestartCount), cp.Child("restartCount"))...)
			n := 0
			for _, set := range []bool{cs.State.Waiting != nil, cs.State.Running != nil, cs.State.Terminated != nil} {
				if set {
					n++
				}
			}
			if n > 1 {
				errs = append(errs, field.Forbidden(cp.Child("state"), "may not specify more than 1 state type"))
			}
		}
	}
	return errs
}

// validatePodUpdate enforces Kubernetes's rule that a pod's spec is immutable except for container
// images, activeDeadlineSeconds (set or lowered), added tolerations, removed scheduling gates and a
// negative terminationGracePeriodSeconds set to 1.
func validatePodUpdate(n, o *corev1.Pod) field.ErrorList {
	var errs field.ErrorList
	if o.Spec.ActiveDeadlineSeconds != nil {
		ad := specPath.Child("activeDeadlineSeconds")
		switch {
		case n.Spec.ActiveDeadlineSeconds == nil:
			errs = append(errs, field.Invalid(ad, n.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
		case *n.Spec.ActiveDeadlineSeconds > *o.Spec.ActiveDeadlineSeconds:
			errs = append(errs, field.Invalid(ad, *n.Spec.ActiveDeadlineSeconds, "must be less than or equal to previous value"))
		}
	}
	for i, ot := range o.Spec.Tolerations {
		found := false
		for _, nt := range n.Spec.Tolerations {
			if equalJSON(ot, nt) || (ot.Key == nt.Key && ot.Operator == nt.Operator && ot.Value == nt.Value &&
				ot.Effect == corev1.TaintEffectNoExecute && nt.Effect == ot.Effect && ot.TolerationSeconds != nil &&
				nt.TolerationSeconds != nil && *nt.TolerationSeconds <= *ot.TolerationSeconds) {
				found = true
				break
			}
		}
		if !found {
			errs = append(errs, field.Forbidden(specPath.Child("tolerations").Index(i), "existing toleration can not be modified except its tolerationSeconds"))
		}
	}
	for _, g := range n.Spec.SchedulingGates {
		found := false
		for _, og := range o.Spec.SchedulingGates {
			if og.Name == g.Name {
				found = true
			}
		}
		if !found {
			errs = append(errs, field.Forbidden(specPath.Child("schedulingGates"), "only deletion is allowed, but found new scheduling gate '"+g.Name+"'"))
		}
	}

	// Copy the mutable fields from the new spec onto the old and require the rest to be equal.
	mutable := o.Spec
	mutable.Containers = append([]corev1.Container(nil), o.Spec.Containers...)
	mutable.InitContainers = append([]corev1.Container(nil), o.Spec.InitContainers...)
	if len(n.Spec.Containers) == len(o.Spec.Containers) {
		for i := range mutable.Containers {
			mutable.Containers[i].Image = n.Spec.Containers[i].Image
		}
	}
	if len(n.Spec.InitContainers) == len(o.Spec.InitContainers) {
		for i := range mutable.InitContainers {
			mutable.InitContainers[i].Image = n.Spec.InitContainers[i].Image
		}
	}
	mutable.ActiveDeadlineSeconds = n.Spec.ActiveDeadlineSeconds
	mutable.Tolerations = n.Spec.Tolerations
	mutable.SchedulingGates = n.Spec.SchedulingGates
	if o.Spec.TerminationGracePeriodSeconds != nil && *o.Spec.TerminationGracePeriodSeconds < 0 &&
		n.Spec.TerminationGracePeriodSeconds != nil && *n.Spec.TerminationGracePeriodSeconds == 1 {
		mutable.TerminationGracePeriodSeconds = n.Spec.TerminationGracePeriodSeconds
	}
	if len(o.Spec.SchedulingGates) > 0 {
		// While a pod is gated, its scheduling directives may still be narrowed.
		mutable.NodeSelector = n.Spec.NodeSelector
		mutable.Affinity = n.Spec.Affinity
	}
	if !equalJSON(mutable, n.Spec) {
		errs = append(errs, field.Forbidden(specPath, "pod updates may not change fields other than `spec.containers[*].image`,"+
			"`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"+
			"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"))
	}
	return errs
}

// quantityPositive reports an error unless q > 0.
func quantityPositive(q resource.Quantity, p *field.Path) field.ErrorList {
	if q.Sign() <= 0 {
		return field.ErrorList{field.Invalid(p, q.String(), "must be greater than zero")}
	}
	return nil
}
