package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	storagev1 "github.com/skiffhq/skiff/shared/api/storage/v1"
	"github.com/skiffhq/skiff/shared/client"
)

func newPV(name, size, class string) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{}
	pv.Name = name
	pv.Spec.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}
	pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	pv.Spec.StorageClassName = class
	pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: "/srv/" + name}
	return pv
}

func newPVC(name, size string, class *string) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{}
	pvc.Name, pvc.Namespace = name, "default"
	pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}
	pvc.Spec.StorageClassName = class
	return pvc
}

func TestClaimBindsMatchingVolumeAndLocalPathProvisions(t *testing.T) {
	e := newEnv(t, "--local-path-base-dir", "/var/lib/skiff-test/lp")
	newFakeAgent(e, "n1")
	c := ctx(t)
	pvs := client.NewResource[corev1.PersistentVolume](e.c, info("", "persistentvolumes"))
	pvcs := client.NewResource[corev1.PersistentVolumeClaim](e.c, info("", "persistentvolumeclaims"))
	classes := client.NewResource[storagev1.StorageClass](e.c, info("storage.k8s.io", "storageclasses"))

	for _, pv := range []*corev1.PersistentVolume{newPV("small", "1Gi", "manual"), newPV("big", "5Gi", "manual"), newPV("other-class", "5Gi", "fast")} {
		if _, err := pvs.Create(c, "", pv, client.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	manual := "manual"
	if _, err := pvcs.Create(c, "default", newPVC("want2", "2Gi", &manual), client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	phases := func() string {
		l, err := pvs.List(c, "", client.ListOptions{})
		if err != nil {
			return err.Error()
		}
		var out []string
		for _, pv := range l.Items {
			claim := ""
			if pv.Spec.ClaimRef != nil {
				claim = pv.Spec.ClaimRef.Name
			}
			out = append(out, fmt.Sprintf("%s=%s(%s)", pv.Name, pv.Status.Phase, claim))
		}
		return strings.Join(out, " ")
	}
	eventually(t, "the 2Gi claim bound to the 5Gi manual volume", 20*time.Second, func() string {
		pvc, err := pvcs.Get(c, "default", "want2", client.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if got := phases(); pvc.Spec.VolumeName != "big" || pvc.Status.Phase != corev1.ClaimBound ||
			got != "big=Bound(want2) other-class=Available() small=Available()" {
			return fmt.Sprintf("claim %s %s; volumes %s", pvc.Spec.VolumeName, pvc.Status.Phase, got)
		}
		return ""
	})
	if err := pvcs.Delete(c, "default", "want2", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the retained volume Released", 20*time.Second, func() string {
		if got := phases(); !strings.Contains(got, "big=Released(want2)") {
			return got
		}
		return ""
	})

	// the default class, and a claim without a class provisioned on its first consumer's node
	eventually(t, "the local-path default storage class", 10*time.Second, func() string {
		sc, err := classes.Get(c, "", "local-path", client.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if sc.Annotations[storagev1.IsDefaultStorageClassAnnotation] != "true" || sc.Provisioner != "skiff.io/local-path" ||
			sc.VolumeBindingMode == nil || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
			return fmt.Sprintf("%+v", sc)
		}
		return ""
	})
	claim, err := pvcs.Create(c, "default", newPVC("data", "1Gi", nil), client.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{}
	pod.Name, pod.Namespace = "user", "default"
	pod.Spec.Containers = []corev1.Container{{Name: "c", Image: "busybox:1"}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	if _, err := e.pods.Create(c, "default", pod, client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvName := "pvc-" + claim.UID
	eventually(t, "a local-path volume provisioned on n1 and bound", 20*time.Second, func() string {
		pvc, err := pvcs.Get(c, "default", "data", client.GetOptions{})
		if err != nil {
			return err.Error()
		}
		pv, err := pvs.Get(c, "", pvName, client.GetOptions{})
		if err != nil {
			return fmt.Sprintf("claim %s: %v", pvc.Status.Phase, err)
		}
		aff := ""
		if pv.Spec.NodeAffinity != nil && pv.Spec.NodeAffinity.Required != nil {
			aff = fmt.Sprint(pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions)
		}
		if pvc.Spec.VolumeName != pvName || pvc.Status.Phase != corev1.ClaimBound || pv.Status.Phase != corev1.VolumeBound ||
			pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != "/var/lib/skiff-test/lp/"+pvName || pv.Spec.HostPath.Type == nil ||
			*pv.Spec.HostPath.Type != "DirectoryOrCreate" || pv.Spec.StorageClassName != "local-path" || !strings.Contains(aff, "n1") ||
			pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
			return fmt.Sprintf("claim %s %s; volume %+v", pvc.Spec.VolumeName, pvc.Status.Phase, pv.Spec)
		}
		return ""
	})
	// reclaim Delete: the provisioned volume goes with its claim
	if err := e.pods.Delete(c, "default", "user", nil); err != nil {
		t.Fatal(err)
	}
	if err := pvcs.Delete(c, "default", "data", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the provisioned volume deleted", 20*time.Second, func() string {
		if _, err := pvs.Get(c, "", pvName, client.GetOptions{}); !client.IsNotFound(err) {
			return fmt.Sprintf("get: %v", err)
		}
		return ""
	})
}
