package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// StrictDecodingError lists the fields of a body that the target type does not have, as Kubernetes
// reports them for fieldValidation=Strict: `strict decoding error: unknown field "spec.foo"`.
type StrictDecodingError struct {
	// UnknownFields are JSON paths such as "spec.template.spec.containers[0].foo".
	UnknownFields []string
}

func (e *StrictDecodingError) Error() string {
	parts := make([]string, len(e.UnknownFields))
	for i, f := range e.UnknownFields {
		parts[i] = fmt.Sprintf("unknown field %q", f)
	}
	return "strict decoding error: " + strings.Join(parts, ", ")
}

// DecodeStrict decodes JSON into into (a pointer) and fails with a *StrictDecodingError naming every
// field the type does not have. Plain json.Unmarshal is the default (fieldValidation=Ignore):
// Kubernetes drops unknown fields silently. Malformed JSON and type mismatches are returned as
// encoding/json reports them.
func DecodeStrict(data []byte, into any) error {
	if err := json.Unmarshal(data, into); err != nil {
		return err
	}
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		return err
	}
	var unknown []string
	findUnknown(generic, reflect.TypeOf(into), "", &unknown)
	if len(unknown) > 0 {
		return &StrictDecodingError{UnknownFields: unknown}
	}
	return nil
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
)

// findUnknown walks a decoded JSON value next to the Go type it was decoded into.
func findUnknown(v any, t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || reflect.PointerTo(t).Implements(unmarshalerType) || t.Kind() == reflect.Interface {
		return // the type decodes itself (Time, Quantity, IntOrString, raw data)
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := structFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				ft, ok = fields[strings.ToLower(k)] // encoding/json matches case-insensitively
			}
			child := k
			if path != "" {
				child = path + "." + k
			}
			if !ok {
				*out = append(*out, child)
				continue
			}
			findUnknown(obj[k], ft, child, out)
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return
		}
		for i, e := range arr {
			findUnknown(e, t.Elem(), path+"["+strconv.Itoa(i)+"]", out)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, e := range obj {
			findUnknown(e, t.Elem(), path+"["+k+"]", out)
		}
	}
}

// structFields maps each JSON name of t (inline embedded structs flattened) to its type; names are
// also stored lower-cased for encoding/json's case-insensitive matching.
func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range structFields(ft) {
					if _, exists := out[k]; !exists {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
		if _, exists := out[strings.ToLower(name)]; !exists {
			out[strings.ToLower(name)] = f.Type
		}
	}
	return out
}
