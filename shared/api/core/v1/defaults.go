package v1

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// Default file modes Kubernetes gives projected files (0644).
const (
	SecretVolumeSourceDefaultMode      int32 = 0o644
	ConfigMapVolumeSourceDefaultMode   int32 = 0o644
	DownwardAPIVolumeSourceDefaultMode int32 = 0o644
	ProjectedVolumeSourceDefaultMode   int32 = 0o644
)

func ptrTo[T any](v T) *T { return &v }

// Default fills in the fields Kubernetes defaults on a Pod: the pod spec's defaults (see
// PodSpec.Default), plus, on pods only (not templates), requests copied from limits where a
// container sets a limit but no request, enableServiceLinks true, and hostPort = containerPort for
// host-network pods.
func (p *Pod) Default() {
	p.Spec.Default()
	if p.Spec.EnableServiceLinks == nil {
		p.Spec.EnableServiceLinks = ptrTo(true)
	}
	for _, cs := range [][]Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			c := &cs[i]
			for name, limit := range c.Resources.Limits {
				if c.Resources.Requests == nil {
					c.Resources.Requests = ResourceList{}
				}
				if _, ok := c.Resources.Requests[name]; !ok {
					c.Resources.Requests[name] = limit.DeepCopy()
				}
			}
			if p.Spec.HostNetwork {
				for j := range c.Ports {
					if c.Ports[j].HostPort == 0 {
						c.Ports[j].HostPort = c.Ports[j].ContainerPort
					}
				}
			}
		}
	}
}

// Default fills in the defaults of a pod template's spec.
func (t *PodTemplateSpec) Default() { t.Spec.Default() }

// Default fills in the defaults of a stored pod template.
func (t *PodTemplate) Default() { t.Template.Default() }

// Default fills in Kubernetes's pod spec defaults: restartPolicy Always, dnsPolicy ClusterFirst,
// schedulerName default-scheduler, terminationGracePeriodSeconds 30, an empty securityContext, and the
// container, port, probe and volume defaults.
func (s *PodSpec) Default() {
	if s.RestartPolicy == "" {
		s.RestartPolicy = RestartPolicyAlways
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = DNSClusterFirst
	}
	if s.SchedulerName == "" {
		s.SchedulerName = DefaultSchedulerName
	}
	if s.TerminationGracePeriodSeconds == nil {
		s.TerminationGracePeriodSeconds = ptrTo(DefaultTerminationGracePeriodSeconds)
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &PodSecurityContext{}
	}
	for i := range s.InitContainers {
		s.InitContainers[i].Default()
	}
	for i := range s.Containers {
		s.Containers[i].Default()
	}
	for i := range s.EphemeralContainers {
		s.EphemeralContainers[i].Container.defaultEphemeral()
	}
	for i := range s.Volumes {
		s.Volumes[i].Default()
	}
}

// Default fills in a container's defaults: imagePullPolicy from the image tag (Always for ":latest" or
// no tag, IfNotPresent otherwise, including digests), terminationMessagePath and policy, TCP on ports,
// probe timings and downward API versions.
func (c *Container) Default() {
	c.defaultEphemeral()
	for _, p := range []*Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p != nil {
			p.Default()
		}
	}
}

// defaultEphemeral is the part of container defaulting that also applies to ephemeral containers,
// which have no probes.
func (c *Container) defaultEphemeral() {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = DefaultPullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = ProtocolTCP
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && vf.FieldRef != nil && vf.FieldRef.APIVersion == "" {
			vf.FieldRef.APIVersion = "v1"
		}
	}
	if c.Lifecycle != nil {
		for _, h := range []*LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
			if h != nil && h.HTTPGet != nil {
				h.HTTPGet.Default()
			}
		}
	}
}

// DefaultPullPolicy is the pull policy Kubernetes gives an image: Always when the tag is "latest" or
// there is neither tag nor digest, IfNotPresent otherwise.
func DefaultPullPolicy(image string) PullPolicy {
	name, _, hasDigest := strings.Cut(image, "@")
	tag := ""
	if i := strings.LastIndex(name, ":"); i >= 0 && !strings.Contains(name[i+1:], "/") {
		tag = name[i+1:]
	}
	if tag == "latest" || (tag == "" && !hasDigest) {
		return PullAlways
	}
	return PullIfNotPresent
}

// Default fills in probe timings (timeoutSeconds 1, periodSeconds 10, successThreshold 1,
// failureThreshold 3) and HTTP and gRPC probe defaults.
func (p *Probe) Default() {
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if p.HTTPGet != nil {
		p.HTTPGet.Default()
	}
	if p.GRPC != nil && p.GRPC.Service == nil {
		p.GRPC.Service = ptrTo("")
	}
}

// Default sets path "/" and scheme HTTP.
func (a *HTTPGetAction) Default() {
	if a.Path == "" {
		a.Path = "/"
	}
	if a.Scheme == "" {
		a.Scheme = URISchemeHTTP
	}
}

// Default makes a volume with no source an emptyDir, and sets the default file modes (0644) of
// secret, configMap, downwardAPI and projected volumes and the hostPath type "".
func (v *Volume) Default() {
	vs := &v.VolumeSource
	if *vs == (VolumeSource{}) {
		vs.EmptyDir = &EmptyDirVolumeSource{}
	}
	if vs.Secret != nil && vs.Secret.DefaultMode == nil {
		vs.Secret.DefaultMode = ptrTo(SecretVolumeSourceDefaultMode)
	}
	if vs.ConfigMap != nil && vs.ConfigMap.DefaultMode == nil {
		vs.ConfigMap.DefaultMode = ptrTo(ConfigMapVolumeSourceDefaultMode)
	}
	if vs.DownwardAPI != nil {
		if vs.DownwardAPI.DefaultMode == nil {
			vs.DownwardAPI.DefaultMode = ptrTo(DownwardAPIVolumeSourceDefaultMode)
		}
		defaultDownwardFiles(vs.DownwardAPI.Items)
	}
	if vs.Projected != nil {
		if vs.Projected.DefaultMode == nil {
			vs.Projected.DefaultMode = ptrTo(ProjectedVolumeSourceDefaultMode)
		}
		for i := range vs.Projected.Sources {
			src := &vs.Projected.Sources[i]
			if src.ServiceAccountToken != nil && src.ServiceAccountToken.ExpirationSeconds == nil {
				src.ServiceAccountToken.ExpirationSeconds = ptrTo(int64(3600))
			}
			if src.DownwardAPI != nil {
				defaultDownwardFiles(src.DownwardAPI.Items)
			}
		}
	}
	if vs.HostPath != nil && vs.HostPath.Type == nil {
		vs.HostPath.Type = ptrTo(HostPathUnset)
	}
}

func defaultDownwardFiles(items []DownwardAPIVolumeFile) {
	for i := range items {
		if items[i].FieldRef != nil && items[i].FieldRef.APIVersion == "" {
			items[i].FieldRef.APIVersion = "v1"
		}
	}
}

// Default fills in a service's defaults: type ClusterIP, sessionAffinity None (and a 3-hour ClientIP
// timeout when ClientIP), TCP and targetPort = port on ports, externalTrafficPolicy Cluster for
// NodePort and LoadBalancer, internalTrafficPolicy Cluster, allocateLoadBalancerNodePorts true for
// LoadBalancer, and single-stack IPv4 for services that get a cluster IP. Allocating the cluster IP
// and node ports is the apiserver's job.
func (s *Service) Default() {
	spec := &s.Spec
	if spec.Type == "" {
		spec.Type = ServiceTypeClusterIP
	}
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = ServiceAffinityNone
	}
	if spec.SessionAffinity == ServiceAffinityClientIP {
		if spec.SessionAffinityConfig == nil {
			spec.SessionAffinityConfig = &SessionAffinityConfig{}
		}
		if spec.SessionAffinityConfig.ClientIP == nil {
			spec.SessionAffinityConfig.ClientIP = &ClientIPConfig{}
		}
		if spec.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			spec.SessionAffinityConfig.ClientIP.TimeoutSeconds = ptrTo(DefaultClientIPServiceAffinitySeconds)
		}
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = ProtocolTCP
		}
		if (p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0) ||
			(p.TargetPort.Type == intstr.String && p.TargetPort.StrVal == "") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if (spec.Type == ServiceTypeNodePort || spec.Type == ServiceTypeLoadBalancer) && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = ServiceExternalTrafficPolicyCluster
	}
	if spec.Type != ServiceTypeExternalName && spec.InternalTrafficPolicy == nil {
		spec.InternalTrafficPolicy = ptrTo(ServiceInternalTrafficPolicyCluster)
	}
	if spec.Type == ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		spec.AllocateLoadBalancerNodePorts = ptrTo(true)
	}
	if spec.Type != ServiceTypeExternalName && spec.ClusterIP != ClusterIPNone {
		if spec.IPFamilyPolicy == nil {
			spec.IPFamilyPolicy = ptrTo(IPFamilyPolicySingleStack)
		}
		if len(spec.IPFamilies) == 0 {
			spec.IPFamilies = []IPFamily{IPv4Protocol}
		}
	}
}

// Default sets TCP on every endpoint port.
func (e *Endpoints) Default() {
	for i := range e.Subsets {
		for j := range e.Subsets[i].Ports {
			if e.Subsets[i].Ports[j].Protocol == "" {
				e.Subsets[i].Ports[j].Protocol = ProtocolTCP
			}
		}
	}
}

// Default sets phase Active and the kubernetes.io/metadata.name label. (The "kubernetes" finalizer is
// added by the apiserver on create, not by defaulting.)
func (n *Namespace) Default() {
	if n.Status.Phase == "" {
		n.Status.Phase = NamespaceActive
	}
	if n.Name != "" {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[LabelMetadataName] = n.Name
	}
}

// Default sets allocatable to capacity when a node reports no allocatable.
func (n *Node) Default() {
	if n.Status.Allocatable == nil && n.Status.Capacity != nil {
		n.Status.Allocatable = make(ResourceList, len(n.Status.Capacity))
		for k, v := range n.Status.Capacity {
			n.Status.Allocatable[k] = v.DeepCopy()
		}
	}
}

// Default sets type Opaque.
func (s *Secret) Default() {
	if s.Type == "" {
		s.Type = SecretTypeOpaque
	}
}

// Default sets reclaim policy Retain, volume mode Filesystem and phase Pending.
func (pv *PersistentVolume) Default() {
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = PersistentVolumeReclaimRetain
	}
	if pv.Spec.VolumeMode == nil {
		pv.Spec.VolumeMode = ptrTo(PersistentVolumeFilesystem)
	}
	if pv.Status.Phase == "" {
		pv.Status.Phase = VolumePending
	}
}

// Default sets volume mode Filesystem and phase Pending.
func (c *PersistentVolumeClaim) Default() {
	if c.Spec.VolumeMode == nil {
		c.Spec.VolumeMode = ptrTo(PersistentVolumeFilesystem)
	}
	if c.Status.Phase == "" {
		c.Status.Phase = ClaimPending
	}
}
