package api_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	k8sappsv1 "k8s.io/api/apps/v1"
	k8sautoscalingv1 "k8s.io/api/autoscaling/v1"
	k8sautoscalingv2 "k8s.io/api/autoscaling/v2"
	k8sbatchv1 "k8s.io/api/batch/v1"
	k8scoordinationv1 "k8s.io/api/coordination/v1"
	k8scorev1 "k8s.io/api/core/v1"
	k8sdiscoveryv1 "k8s.io/api/discovery/v1"
	k8spolicyv1 "k8s.io/api/policy/v1"
	k8sschedulingv1 "k8s.io/api/scheduling/v1"
	k8sstoragev1 "k8s.io/api/storage/v1"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	autoscalingv1 "github.com/skiffhq/skiff/shared/api/autoscaling/v1"
	autoscalingv2 "github.com/skiffhq/skiff/shared/api/autoscaling/v2"
	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"
	coordinationv1 "github.com/skiffhq/skiff/shared/api/coordination/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	discoveryv1 "github.com/skiffhq/skiff/shared/api/discovery/v1"
	policyv1 "github.com/skiffhq/skiff/shared/api/policy/v1"
	schedulingv1 "github.com/skiffhq/skiff/shared/api/scheduling/v1"
	storagev1 "github.com/skiffhq/skiff/shared/api/storage/v1"
)

// notCarried lists Kubernetes fields Skiff deliberately does not model, as "<Go type>.<json name>":
// alpha and beta fields newer than the Kubernetes 1.32 API Skiff serves, and the deprecated in-tree cloud
// volume plugins. Decoding drops them like any unknown field; DecodeStrict rejects them.
var notCarried = func() map[string]bool {
	m := map[string]bool{"Volume.gitRepo": true}
	for _, f := range []string{
		"ClusterTrustBundleProjection.user",
		"ConfigMapVolumeSource.defaultUser",
		"Container.restartPolicyRules",
		"ContainerStatus.allocatedResourcesStatus",
		"ContainerStatus.user",
		"DeleteOptions.ignoreStoreReadErrorWithClusterBreakingPotential",
		"DownwardAPIVolumeFile.user",
		"DownwardAPIVolumeSource.defaultUser",
		"EmptyDirVolumeSource.mode",
		"EphemeralContainer.restartPolicyRules",
		"GRPCAction.mode",
		"HTTPGetAction.protocol",
		"HorizontalPodAutoscalerCondition.observedGeneration",
		"JobSpec.scheduling",
		"KeyToPath.user",
		"NodeSpec.podPreemptionPolicy",
		"NodeSystemInfo.runningInUserNamespace",
		"PersistentVolumeClaimStatus.healthStatus",
		"PersistentVolumeClaimStatus.modifyVolumeStatus",
		"PodSpec.evictionResponders",
		"PodSpec.schedulingGroup",
		"PodStatus.extendedResourceClaimStatus",
		"PodStatus.nodeAllocatableResourceClaimStatuses",
		"PodStatus.resourceClaimStatuses",
		"PodStatus.volumeHealth",
		"ProjectedVolumeSource.defaultUser",
		"SecretVolumeSource.defaultUser",
		"ServiceAccountTokenProjection.user",
		"VolumeMount.bindMountOptions",
		"VolumeMountStatus.volumeStatus",
		"VolumeProjection.podCertificate",
	} {
		m[f] = true
	}
	for _, plugin := range []string{
		"awsElasticBlockStore",
		"azureDisk",
		"azureFile",
		"cephfs",
		"cinder",
		"fc",
		"flexVolume",
		"flocker",
		"gcePersistentDisk",
		"glusterfs",
		"iscsi",
		"photonPersistentDisk",
		"portworxVolume",
		"quobyte",
		"rbd",
		"scaleIO",
		"storageos",
		"vsphereVolume",
	} {
		m["Volume."+plugin] = true
		m["PersistentVolumeSpec."+plugin] = true
	}
	return m
}()

type jsonField struct {
	name      string
	typ       reflect.Type
	omitempty bool
	strategy  string
	mergeKey  string
}

func jsonFields(t reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = jsonField{
			name:      name,
			typ:       f.Type,
			omitempty: strings.Contains(opts, "omitempty"),
			strategy:  f.Tag.Get("patchStrategy"),
			mergeKey:  f.Tag.Get("patchMergeKey"),
		}
	}
	return out
}

var (
	marshaler   = reflect.TypeFor[json.Marshaler]()
	unmarshaler = reflect.TypeFor[json.Unmarshaler]()
)

func custom(t reflect.Type) bool {
	return t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) ||
		reflect.PointerTo(t).Implements(unmarshaler)
}

type comparer struct {
	seen  map[[2]reflect.Type]bool
	diffs []string
}

func (c *comparer) compare(path string, ours, theirs reflect.Type) {
	if c.seen[[2]reflect.Type{ours, theirs}] {
		return
	}
	c.seen[[2]reflect.Type{ours, theirs}] = true
	if ours.Kind() != theirs.Kind() {
		if custom(ours) || custom(theirs) {
			return
		}
		c.diffs = append(c.diffs, path+": kind "+ours.Kind().String()+" != "+theirs.Kind().String())
		return
	}
	switch ours.Kind() {
	case reflect.Pointer, reflect.Slice:
		c.compare(path, ours.Elem(), theirs.Elem())
	case reflect.Map:
		c.compare(path+"{}", ours.Elem(), theirs.Elem())
	case reflect.Struct:
		if custom(ours) || custom(theirs) {
			return
		}
		of, tf := jsonFields(ours), jsonFields(theirs)
		names := make([]string, 0, len(tf))
		for n := range tf {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			t := tf[n]
			o, ok := of[n]
			key := ours.Name() + "." + n
			if !ok {
				if !notCarried[key] {
					c.diffs = append(c.diffs, path+"."+n+": missing ("+key+")")
				}
				continue
			}
			if o.omitempty != t.omitempty {
				c.diffs = append(c.diffs, path+"."+n+": omitempty differs")
			}
			if o.strategy != t.strategy || o.mergeKey != t.mergeKey {
				c.diffs = append(c.diffs, path+"."+n+": patch tags "+o.strategy+"/"+o.mergeKey+" != "+t.strategy+"/"+t.mergeKey)
			}
			if (o.typ.Kind() == reflect.Pointer) != (t.typ.Kind() == reflect.Pointer) && !custom(o.typ) && !custom(t.typ) {
				c.diffs = append(c.diffs, path+"."+n+": pointer-ness differs")
			}
			c.compare(path+"."+n, o.typ, t.typ)
		}
		for n := range of {
			if _, ok := tf[n]; !ok {
				c.diffs = append(c.diffs, path+"."+n+": not in Kubernetes")
			}
		}
	}
}

// TestFieldsMatchKubernetes walks every Skiff type next to its k8s.io/api counterpart and fails on any
// JSON field name, omitempty, pointer or patch tag that differs, so that Kubernetes clients and
// strategicpatch see exactly the shapes they expect.
func TestFieldsMatchKubernetes(t *testing.T) {
	pairs := []struct {
		ours, theirs any
	}{
		{corev1.Pod{}, k8scorev1.Pod{}},
		{corev1.PodTemplate{}, k8scorev1.PodTemplate{}},
		{corev1.Service{}, k8scorev1.Service{}},
		{corev1.Endpoints{}, k8scorev1.Endpoints{}},
		{corev1.Node{}, k8scorev1.Node{}},
		{corev1.Namespace{}, k8scorev1.Namespace{}},
		{corev1.ConfigMap{}, k8scorev1.ConfigMap{}},
		{corev1.Secret{}, k8scorev1.Secret{}},
		{corev1.ServiceAccount{}, k8scorev1.ServiceAccount{}},
		{corev1.Event{}, k8scorev1.Event{}},
		{corev1.PersistentVolume{}, k8scorev1.PersistentVolume{}},
		{corev1.PersistentVolumeClaim{}, k8scorev1.PersistentVolumeClaim{}},
		{corev1.Binding{}, k8scorev1.Binding{}},
		{appsv1.Deployment{}, k8sappsv1.Deployment{}},
		{appsv1.ReplicaSet{}, k8sappsv1.ReplicaSet{}},
		{appsv1.DaemonSet{}, k8sappsv1.DaemonSet{}},
		{appsv1.StatefulSet{}, k8sappsv1.StatefulSet{}},
		{appsv1.ControllerRevision{}, k8sappsv1.ControllerRevision{}},
		{batchv1.Job{}, k8sbatchv1.Job{}},
		{batchv1.CronJob{}, k8sbatchv1.CronJob{}},
		{discoveryv1.EndpointSlice{}, k8sdiscoveryv1.EndpointSlice{}},
		{coordinationv1.Lease{}, k8scoordinationv1.Lease{}},
		{autoscalingv1.Scale{}, k8sautoscalingv1.Scale{}},
		{autoscalingv2.HorizontalPodAutoscaler{}, k8sautoscalingv2.HorizontalPodAutoscaler{}},
		{storagev1.StorageClass{}, k8sstoragev1.StorageClass{}},
		{schedulingv1.PriorityClass{}, k8sschedulingv1.PriorityClass{}},
		{policyv1.Eviction{}, k8spolicyv1.Eviction{}},
		{policyv1.PodDisruptionBudget{}, k8spolicyv1.PodDisruptionBudget{}},
	}
	for _, p := range pairs {
		ot, tt := reflect.TypeOf(p.ours), reflect.TypeOf(p.theirs)
		t.Run(ot.Name(), func(t *testing.T) {
			c := &comparer{seen: map[[2]reflect.Type]bool{}}
			c.compare(ot.Name(), ot, tt)
			for _, d := range c.diffs {
				t.Error(d)
			}
		})
	}
}
