package registry

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	autoscalingv1 "github.com/skiffhq/skiff/shared/api/autoscaling/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// ScaleOf returns the autoscaling/v1 Scale of a scalable object (spec.replicas, status.replicas and the
// pod selector), carrying the object's metadata identity and resourceVersion.
func ScaleOf(obj metav1.Object) *autoscalingv1.Scale {
	m := obj.GetObjectMeta()
	s := &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
			CreationTimestamp: m.CreationTimestamp,
		},
	}
	if spec, ok := structField(obj, "Spec"); ok {
		if r := spec.FieldByName("Replicas"); r.IsValid() {
			switch r.Kind() {
			case reflect.Pointer:
				if r.IsNil() {
					s.Spec.Replicas = 1
				} else {
					s.Spec.Replicas = int32(r.Elem().Int())
				}
			case reflect.Int32, reflect.Int64, reflect.Int:
				s.Spec.Replicas = int32(r.Int())
			}
		}
		if sel := spec.FieldByName("Selector"); sel.IsValid() {
			if ls, ok := sel.Interface().(*metav1.LabelSelector); ok {
				s.Status.Selector = FormatLabelSelector(ls)
			}
		}
	}
	if status, ok := structField(obj, "Status"); ok {
		if r := status.FieldByName("Replicas"); r.IsValid() && r.CanInt() {
			s.Status.Replicas = int32(r.Int())
		}
	}
	return s
}

// SetReplicas writes spec.replicas of a scalable object.
func SetReplicas(obj metav1.Object, n int32) error {
	spec, ok := structField(obj, "Spec")
	if !ok {
		return fmt.Errorf("%T has no spec", obj)
	}
	r := spec.FieldByName("Replicas")
	if !r.IsValid() {
		return fmt.Errorf("%T has no spec.replicas", obj)
	}
	switch r.Kind() {
	case reflect.Pointer:
		v := reflect.New(r.Type().Elem())
		v.Elem().SetInt(int64(n))
		r.Set(v)
	case reflect.Int32, reflect.Int64, reflect.Int:
		r.SetInt(int64(n))
	default:
		return fmt.Errorf("%T spec.replicas has unexpected type %s", obj, r.Type())
	}
	return nil
}

// FormatLabelSelector renders a LabelSelector as selector text ("app=web,tier in (a,b)").
func FormatLabelSelector(ls *metav1.LabelSelector) string {
	if ls == nil {
		return ""
	}
	var parts []string
	keys := make([]string, 0, len(ls.MatchLabels))
	for k := range ls.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+ls.MatchLabels[k])
	}
	for _, e := range ls.MatchExpressions {
		vals := append([]string(nil), e.Values...)
		sort.Strings(vals)
		switch e.Operator {
		case metav1.LabelSelectorOpIn:
			parts = append(parts, fmt.Sprintf("%s in (%s)", e.Key, strings.Join(vals, ",")))
		case metav1.LabelSelectorOpNotIn:
			parts = append(parts, fmt.Sprintf("%s notin (%s)", e.Key, strings.Join(vals, ",")))
		case metav1.LabelSelectorOpExists:
			parts = append(parts, e.Key)
		case metav1.LabelSelectorOpDoesNotExist:
			parts = append(parts, "!"+e.Key)
		}
	}
	return strings.Join(parts, ",")
}
