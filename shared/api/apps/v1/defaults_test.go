package v1

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

func podTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "web:1", Ports: []corev1.ContainerPort{{ContainerPort: 80}}}}}}
}

func templateDefaulted(t *testing.T, tmpl corev1.PodTemplateSpec) {
	t.Helper()
	if tmpl.Spec.RestartPolicy != corev1.RestartPolicyAlways || tmpl.Spec.Containers[0].Ports[0].Protocol != corev1.ProtocolTCP ||
		tmpl.Spec.Containers[0].ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("pod template not defaulted: %+v", tmpl.Spec)
	}
}

func TestDeploymentDefaults(t *testing.T) {
	d := &Deployment{Spec: DeploymentSpec{Template: podTemplate()}}
	d.Default()
	s := d.Spec
	checks := []struct {
		rule string
		ok   bool
	}{
		{"replicas defaults to 1", *s.Replicas == 1},
		{"strategy defaults to RollingUpdate", s.Strategy.Type == RollingUpdateDeploymentStrategyType},
		{"maxUnavailable defaults to 25%", *s.Strategy.RollingUpdate.MaxUnavailable == intstr.FromString("25%")},
		{"maxSurge defaults to 25%", *s.Strategy.RollingUpdate.MaxSurge == intstr.FromString("25%")},
		{"revisionHistoryLimit defaults to 10", *s.RevisionHistoryLimit == 10},
		{"progressDeadlineSeconds defaults to 600", *s.ProgressDeadlineSeconds == 600},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: %+v", c.rule, s)
		}
	}
	templateDefaulted(t, s.Template)

	recreate := &Deployment{Spec: DeploymentSpec{Strategy: DeploymentStrategy{Type: RecreateDeploymentStrategyType}, Replicas: new(int32)}}
	recreate.Default()
	if recreate.Spec.Strategy.RollingUpdate != nil {
		t.Error("Recreate deployment got rollingUpdate parameters")
	}
	if *recreate.Spec.Replicas != 0 {
		t.Error("explicit replicas 0 was overwritten")
	}
}

func TestReplicaSetDefaults(t *testing.T) {
	rs := &ReplicaSet{Spec: ReplicaSetSpec{Template: podTemplate()}}
	rs.Default()
	if *rs.Spec.Replicas != 1 {
		t.Errorf("replicas = %d", *rs.Spec.Replicas)
	}
	templateDefaulted(t, rs.Spec.Template)
}

func TestDaemonSetDefaults(t *testing.T) {
	ds := &DaemonSet{Spec: DaemonSetSpec{Template: podTemplate()}}
	ds.Default()
	u := ds.Spec.UpdateStrategy
	if u.Type != RollingUpdateDaemonSetStrategyType || *u.RollingUpdate.MaxUnavailable != intstr.FromInt32(1) ||
		*u.RollingUpdate.MaxSurge != intstr.FromInt32(0) || *ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("daemon set defaults: %+v", ds.Spec)
	}
	templateDefaulted(t, ds.Spec.Template)
}

func TestStatefulSetDefaults(t *testing.T) {
	ss := &StatefulSet{Spec: StatefulSetSpec{Template: podTemplate(), VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{}}}}
	ss.Default()
	s := ss.Spec
	if *s.Replicas != 1 || s.PodManagementPolicy != OrderedReadyPodManagement ||
		s.UpdateStrategy.Type != RollingUpdateStatefulSetStrategyType || *s.UpdateStrategy.RollingUpdate.Partition != 0 ||
		*s.RevisionHistoryLimit != 10 ||
		s.PersistentVolumeClaimRetentionPolicy.WhenDeleted != RetainPersistentVolumeClaimRetentionPolicyType ||
		s.PersistentVolumeClaimRetentionPolicy.WhenScaled != RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("stateful set defaults: %+v", s)
	}
	if vc := s.VolumeClaimTemplates[0]; *vc.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || vc.Status.Phase != corev1.ClaimPending {
		t.Errorf("claim template defaults: %+v", vc)
	}
	templateDefaulted(t, s.Template)
}
