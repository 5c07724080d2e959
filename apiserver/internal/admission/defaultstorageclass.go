package admission

import (
	"context"
	"fmt"
	"sort"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	storagev1 "github.com/skiffhq/skiff/shared/api/storage/v1"
)

// The annotations that mark a claim's class and a default class in their beta forms.
const (
	betaStorageClassAnnotation   = "volume.beta.kubernetes.io/storage-class"
	betaIsDefaultClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// defaultStorageClass is Kubernetes's DefaultStorageClass plugin: a new PersistentVolumeClaim with no
// spec.storageClassName (nil; "" asks for no class) and no beta class annotation gets the class
// annotated storageclass.kubernetes.io/is-default-class=true. With several defaults the newest wins
// (ties by name); with none the claim is left alone.
type defaultStorageClass struct {
	objects Objects
}

func (d defaultStorageClass) Admit(ctx context.Context, a Attributes) error {
	if a.Operation != Create || a.Group != "" || a.Resource != "persistentvolumeclaims" || a.Subresource != "" {
		return nil
	}
	pvc, ok := a.Object.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.StorageClassName != nil || pvc.Annotations[betaStorageClassAnnotation] != "" {
		return nil
	}
	objs, err := d.objects.List(ctx, "storage.k8s.io", "v1", "storageclasses", "")
	if err != nil {
		return fmt.Errorf("listing storage classes for the default: %w", err)
	}
	var defaults []*storagev1.StorageClass
	for _, o := range objs {
		sc, ok := o.(*storagev1.StorageClass)
		if ok && (sc.Annotations[storagev1.IsDefaultStorageClassAnnotation] == "true" || sc.Annotations[betaIsDefaultClassAnnotation] == "true") {
			defaults = append(defaults, sc)
		}
	}
	if len(defaults) == 0 {
		return nil
	}
	sort.Slice(defaults, func(i, j int) bool {
		ti, tj := defaults[i].CreationTimestamp.Time, defaults[j].CreationTimestamp.Time
		if ti.Equal(tj) {
			return defaults[i].Name < defaults[j].Name
		}
		return ti.After(tj)
	})
	name := defaults[0].Name
	pvc.Spec.StorageClassName = &name
	return nil
}
