package resource

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
	"github.com/skiffhq/skiff/shared/client"
)

// TableAccept is what kubectl sends to get server-side printed tables.
const TableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

// Dynamic reads and writes untyped objects of any served resource.
type Dynamic struct {
	C *client.Client
}

// ListOptions select a list or watch.
type ListOptions struct {
	LabelSelector, FieldSelector, ResourceVersion string
	// TimeoutSeconds bounds a watch on the server side.
	TimeoutSeconds int64
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set("fieldSelector", o.FieldSelector)
	}
	if o.ResourceVersion != "" {
		q.Set("resourceVersion", o.ResourceVersion)
	}
	if o.TimeoutSeconds > 0 {
		q.Set("timeoutSeconds", fmt.Sprint(o.TimeoutSeconds))
	}
	return q
}

func ns(r resources.Resource, namespace string) string {
	if !r.Namespaced {
		return ""
	}
	return namespace
}

// Get reads one object.
func (d *Dynamic) Get(ctx context.Context, ref Ref) (Object, error) {
	var out Object
	err := d.C.Do(ctx, client.Request{Path: ref.Resource.Path(ns(ref.Resource, ref.Namespace), url.PathEscape(ref.Name))}, &out)
	if err != nil {
		return nil, err
	}
	fill(ref.Resource, out)
	return out, nil
}

// List reads a collection (namespace "" = all namespaces) and returns its items and resourceVersion.
func (d *Dynamic) List(ctx context.Context, r resources.Resource, namespace string, opts ListOptions) ([]Object, string, error) {
	var out struct {
		Metadata metav1.ListMeta `json:"metadata"`
		Items    []Object        `json:"items"`
	}
	err := d.C.Do(ctx, client.Request{Path: r.Path(ns(r, namespace), ""), Query: opts.query()}, &out)
	if err != nil {
		return nil, "", err
	}
	for _, it := range out.Items {
		fill(r, it)
	}
	return out.Items, out.Metadata.ResourceVersion, nil
}

// GetTable reads one object (name set) or a collection as a server-side printed Table.
func (d *Dynamic) GetTable(ctx context.Context, r resources.Resource, namespace, name string, opts ListOptions) (*Table, error) {
	t := &Table{}
	q := opts.query()
	if name != "" {
		q = nil
	}
	err := d.C.Do(ctx, client.Request{Path: r.Path(ns(r, namespace), url.PathEscape(name)), Query: q, Accept: TableAccept}, t)
	if err != nil {
		return nil, err
	}
	if t.Kind != "Table" {
		return nil, fmt.Errorf("the server did not answer %s with a Table", r.GroupResource())
	}
	return t, nil
}

// Create POSTs an object.
func (d *Dynamic) Create(ctx context.Context, r resources.Resource, namespace string, obj Object, q url.Values) (Object, error) {
	var out Object
	err := d.C.Do(ctx, client.Request{Method: http.MethodPost, Path: r.Path(ns(r, namespace), ""), Query: q, Body: map[string]any(obj)}, &out)
	if err != nil {
		return nil, err
	}
	fill(r, out)
	return out, nil
}

// Update PUTs an object.
func (d *Dynamic) Update(ctx context.Context, ref Ref, obj Object) (Object, error) {
	var out Object
	err := d.C.Do(ctx, client.Request{Method: http.MethodPut, Path: ref.Resource.Path(ns(ref.Resource, ref.Namespace), url.PathEscape(ref.Name)), Body: map[string]any(obj)}, &out)
	if err != nil {
		return nil, err
	}
	fill(ref.Resource, out)
	return out, nil
}

// Patch sends a patch of type pt to an object or one of its subresources.
func (d *Dynamic) Patch(ctx context.Context, ref Ref, pt client.PatchType, patch []byte, subresource string) (Object, error) {
	path := ref.Resource.Path(ns(ref.Resource, ref.Namespace), url.PathEscape(ref.Name))
	if subresource != "" {
		path += "/" + subresource
	}
	var out Object
	q := url.Values{"fieldManager": {"skiffctl"}}
	err := d.C.Do(ctx, client.Request{Method: http.MethodPatch, Path: path, Query: q, Body: patch, ContentType: string(pt)}, &out)
	if err != nil {
		return nil, err
	}
	if subresource == "" {
		fill(ref.Resource, out)
	}
	return out, nil
}

// Delete deletes one object.
func (d *Dynamic) Delete(ctx context.Context, ref Ref, opts *metav1.DeleteOptions) error {
	req := client.Request{Method: http.MethodDelete, Path: ref.Resource.Path(ns(ref.Resource, ref.Namespace), url.PathEscape(ref.Name))}
	if opts != nil {
		req.Body = opts
	}
	return d.C.Do(ctx, req, nil)
}

// WatchEvent is one decoded event of an untyped watch.
type WatchEvent struct {
	Type   metav1.WatchEventType
	Object json.RawMessage
}

// Watch streams raw events of a collection; accept may ask for Tables. The channel closes when the
// stream ends; the returned stop function ends it early.
func (d *Dynamic) Watch(ctx context.Context, r resources.Resource, namespace string, opts ListOptions, accept string) (<-chan WatchEvent, func(), error) {
	wctx, cancel := context.WithCancel(ctx)
	q := opts.query()
	q.Set("watch", "true")
	body, err := d.C.Stream(wctx, client.Request{Path: r.Path(ns(r, namespace), ""), Query: q, Accept: accept})
	if err != nil {
		cancel()
		return nil, nil, err
	}
	ch := make(chan WatchEvent)
	go func() {
		defer close(ch)
		defer body.Close()
		dec := json.NewDecoder(body)
		for {
			var ev metav1.WatchEvent
			if err := dec.Decode(&ev); err != nil {
				return
			}
			select {
			case ch <- WatchEvent{Type: ev.Type, Object: ev.Object}:
			case <-wctx.Done():
				return
			}
		}
	}()
	return ch, cancel, nil
}

// fill sets kind and apiVersion on objects that arrived without them (list items).
func fill(r resources.Resource, o Object) {
	if o == nil {
		return
	}
	if o.Kind() == "" {
		o["kind"] = r.Kind
	}
	if o.APIVersion() == "" {
		o["apiVersion"] = r.GroupVersion()
	}
}

// Table is meta.k8s.io/v1 Table as the apiserver prints it.
type Table struct {
	Kind              string          `json:"kind"`
	APIVersion        string          `json:"apiVersion"`
	Metadata          metav1.ListMeta `json:"metadata"`
	ColumnDefinitions []TableColumn   `json:"columnDefinitions"`
	Rows              []TableRow      `json:"rows"`
}

// TableColumn is one column definition; Priority > 0 columns show only with -o wide.
type TableColumn struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Format   string `json:"format"`
	Priority int32  `json:"priority"`
}

// TableRow is one object's cells and its metadata.
type TableRow struct {
	Cells  []any `json:"cells"`
	Object struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	} `json:"object"`
}
