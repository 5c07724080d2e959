package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/skiffhq/skiff/apiserver/internal/storage"
)

// RawList is one page of objects as JSON, each with its resourceVersion set.
type RawList struct {
	Items              [][]byte
	Revision           int64
	Continue           string
	RemainingItemCount *int64
}

// ListRaw is List without a selector for callers that only re-encode the objects: stored values get
// their resourceVersion spliced in instead of being decoded and encoded again, which makes large lists
// (informers relisting thousands of pods) several times cheaper. A value not in the shape the registry
// writes is decoded the slow way.
func (r *Registry) ListRaw(ctx context.Context, res *Resource, ns string, opts ListOptions) (RawList, error) {
	lr, err := r.store.List(ctx, res.Prefix(ns), storage.ListOptions{
		Revision: opts.Revision, Exact: opts.Exact, AnyRevision: opts.AnyRevision,
		Limit: opts.Limit, Continue: opts.Continue,
	})
	if err != nil {
		return RawList{}, fmt.Errorf("listing %s: %w", res.Plural, err)
	}
	out := RawList{Revision: lr.Revision, Continue: lr.Continue, RemainingItemCount: lr.RemainingItemCount,
		Items: make([][]byte, 0, len(lr.Items))}
	for _, kv := range lr.Items {
		if data, ok := spliceResourceVersion(kv.Value, kv.Revision); ok {
			out.Items = append(out.Items, data)
			continue
		}
		obj, err := res.Decode(kv)
		if err != nil {
			continue
		}
		data, err := json.Marshal(obj)
		if err != nil {
			continue
		}
		out.Items = append(out.Items, data)
	}
	return out, nil
}

// WithResourceVersion is the stored value as served: its JSON with metadata.resourceVersion set to rev.
// ok is false for a value not in the shape the registry writes; decode it instead.
func WithResourceVersion(value []byte, rev int64) (data []byte, ok bool) {
	return spliceResourceVersion(value, rev)
}

// spliceResourceVersion inserts "resourceVersion" into the metadata of a stored value written by encode,
// which always starts {"kind":"...","apiVersion":"...","metadata":{ and never stores a resourceVersion.
// The input is shared with the watch cache and is not modified.
func spliceResourceVersion(value []byte, rev int64) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(value, []byte(`{"kind":"`))
	if !ok {
		return nil, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 || bytes.IndexByte(rest[:i], '\\') >= 0 {
		return nil, false
	}
	rest, ok = bytes.CutPrefix(rest[i+1:], []byte(`,"apiVersion":"`))
	if !ok {
		return nil, false
	}
	i = bytes.IndexByte(rest, '"')
	if i < 0 || bytes.IndexByte(rest[:i], '\\') >= 0 {
		return nil, false
	}
	rest, ok = bytes.CutPrefix(rest[i+1:], []byte(`,"metadata":{`))
	if !ok || len(rest) == 0 {
		return nil, false
	}
	at := len(value) - len(rest) // just after the metadata's opening brace
	rv := `"resourceVersion":"` + strconv.FormatInt(rev, 10) + `"`
	if rest[0] != '}' {
		rv += ","
	}
	out := make([]byte, 0, len(value)+len(rv))
	out = append(out, value[:at]...)
	out = append(out, rv...)
	out = append(out, value[at:]...)
	return out, true
}
