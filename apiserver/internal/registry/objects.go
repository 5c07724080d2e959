package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"github.com/skiffhq/skiff/apiserver/internal/storage"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Decode turns a stored value into an object with kind, apiVersion and resourceVersion set.
func (r *Resource) Decode(kv storage.KV) (metav1.Object, error) {
	obj := r.New()
	if err := json.Unmarshal(kv.Value, obj); err != nil {
		return nil, fmt.Errorf("decoding %s at %s: %w", r.Plural, kv.Key, err)
	}
	r.SetTypeMeta(obj)
	obj.GetObjectMeta().ResourceVersion = strconv.FormatInt(kv.Revision, 10)
	return obj, nil
}

// DecodeValue decodes a raw stored value (no revision), for previous values in watch events.
func (r *Resource) DecodeValue(value []byte, rev int64) (metav1.Object, error) {
	return r.Decode(storage.KV{Value: value, Revision: rev})
}

// SetTypeMeta sets kind and apiVersion.
func (r *Resource) SetTypeMeta(obj metav1.Object) {
	tm := obj.GetTypeMeta()
	tm.Kind = r.Kind
	tm.APIVersion = r.APIVersion()
}

// encode is what is stored: the object with resourceVersion blanked.
func (r *Resource) encode(obj metav1.Object) ([]byte, error) {
	m := obj.GetObjectMeta()
	rv := m.ResourceVersion
	m.ResourceVersion = ""
	r.SetTypeMeta(obj)
	data, err := json.Marshal(obj)
	m.ResourceVersion = rv
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s: %w", r.Plural, m.Name, err)
	}
	return data, nil
}

// DeepCopy copies an object through JSON.
func (r *Resource) DeepCopy(obj metav1.Object) metav1.Object {
	data, err := json.Marshal(obj)
	if err != nil {
		panic(fmt.Sprintf("deep-copying %s: %v", r.Kind, err))
	}
	out := r.New()
	if err := json.Unmarshal(data, out); err != nil {
		panic(fmt.Sprintf("deep-copying %s: %v", r.Kind, err))
	}
	return out
}

// structField returns the addressable field name of the struct obj points to, if it has one.
func structField(obj any, name string) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return reflect.Value{}, false
	}
	v = v.Elem()
	if v.Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	f := v.FieldByName(name)
	if !f.IsValid() || !f.CanSet() {
		return reflect.Value{}, false
	}
	return f, true
}

// hasField reports whether obj's type has a Spec or Status field.
func hasField(obj any, name string) bool {
	_, ok := structField(obj, name)
	return ok
}

// copyField sets dst.<name> to a copy of src.<name>.
func copyField(dst, src any, name string) {
	d, ok1 := structField(dst, name)
	s, ok2 := structField(src, name)
	if !ok1 || !ok2 {
		return
	}
	// Copy through JSON so that slices and maps are not shared between the two objects.
	data, err := json.Marshal(s.Interface())
	if err != nil {
		d.Set(s)
		return
	}
	n := reflect.New(d.Type())
	if err := json.Unmarshal(data, n.Interface()); err != nil {
		d.Set(s)
		return
	}
	d.Set(n.Elem())
}

// zeroField resets obj.<name> to its zero value.
func zeroField(obj any, name string) {
	if f, ok := structField(obj, name); ok {
		f.Set(reflect.Zero(f.Type()))
	}
}

// fieldsEqual compares a.<name> and b.<name> by their JSON encoding, so that nil and empty collections
// (both omitted) count as equal.
func fieldsEqual(a, b any, name string) bool {
	fa, ok1 := structField(a, name)
	fb, ok2 := structField(b, name)
	if !ok1 || !ok2 {
		return ok1 == ok2
	}
	ja, err1 := json.Marshal(fa.Interface())
	jb, err2 := json.Marshal(fb.Interface())
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// contentEqual compares everything but metadata and status, for kinds without a spec.
func contentEqual(a, b metav1.Object) bool {
	strip := func(o metav1.Object) []byte {
		data, err := json.Marshal(o)
		if err != nil {
			return nil
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return nil
		}
		delete(m, "metadata")
		delete(m, "status")
		delete(m, "kind")
		delete(m, "apiVersion")
		out, _ := json.Marshal(m)
		return out
	}
	return bytes.Equal(strip(a), strip(b))
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// structPointer returns the struct value obj points to, settable.
func structPointer(obj any) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	return v.Elem(), true
}
