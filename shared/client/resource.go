package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// ResourceInfo names a resource on the wire: /api/v1/... for the core group (Group ""), else
// /apis/<group>/<version>/...
type ResourceInfo struct {
	Group      string
	Version    string
	Resource   string // the plural, e.g. "pods"
	Kind       string // e.g. "Pod"; filled into objects that arrive without it
	Namespaced bool
}

// GroupVersion returns "v1" for the core group, else "<group>/<version>".
func (r ResourceInfo) GroupVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// String returns "pods" for the core group and "deployments.apps" for others, as Kubernetes messages do.
func (r ResourceInfo) String() string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// Path returns the URL path of the collection (name empty), an object, or an object's subresource. For a
// namespaced resource an empty namespace gives the all-namespaces collection; for a cluster-scoped one
// the namespace is ignored.
func (r ResourceInfo) Path(namespace, name string, subresource ...string) string {
	var b strings.Builder
	if r.Group == "" {
		b.WriteString("/api/")
		b.WriteString(r.Version)
	} else {
		b.WriteString("/apis/")
		b.WriteString(r.Group)
		b.WriteString("/")
		b.WriteString(r.Version)
	}
	if r.Namespaced && namespace != "" {
		b.WriteString("/namespaces/")
		b.WriteString(url.PathEscape(namespace))
	}
	b.WriteString("/")
	b.WriteString(r.Resource)
	if name != "" {
		b.WriteString("/")
		b.WriteString(url.PathEscape(name))
		for _, s := range subresource {
			if s != "" {
				b.WriteString("/")
				b.WriteString(s)
			}
		}
	}
	return b.String()
}

// Resource is the typed client of one resource. T is the API type (for example corev1.Pod); *T must
// implement metav1.Object (it does when T embeds metav1.TypeMeta and metav1.ObjectMeta). It is safe for
// concurrent use.
type Resource[T any] struct {
	c    *Client
	info ResourceInfo
}

// NewResource returns the typed client of the resource described by info.
func NewResource[T any](c *Client, info ResourceInfo) *Resource[T] {
	return &Resource[T]{c: c, info: info}
}

// Info returns the resource description.
func (r *Resource[T]) Info() ResourceInfo { return r.info }

// Client returns the underlying client.
func (r *Resource[T]) Client() *Client { return r.c }

func objectMeta[T any](obj *T) (*metav1.ObjectMeta, error) {
	o, ok := any(obj).(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T does not carry metav1.ObjectMeta", obj)
	}
	return o.GetObjectMeta(), nil
}

// fillTypeMeta sets kind and apiVersion on a decoded object that arrived without them (list items do).
func (r *Resource[T]) fillTypeMeta(obj *T) {
	if r.info.Kind == "" || obj == nil {
		return
	}
	if o, ok := any(obj).(metav1.Object); ok {
		tm := o.GetTypeMeta()
		if tm.Kind == "" {
			tm.Kind = r.info.Kind
		}
		if tm.APIVersion == "" {
			tm.APIVersion = r.info.GroupVersion()
		}
	}
}

// encode marshals obj, adding kind and apiVersion when the object has none, without mutating obj
// (which may be shared with an informer cache).
func (r *Resource[T]) encode(obj *T) ([]byte, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", r.info, err)
	}
	if r.info.Kind == "" {
		return data, nil
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(data, &tm); err != nil || (tm.Kind != "" && tm.APIVersion != "") {
		return data, nil
	}
	var head bytes.Buffer
	head.WriteByte('{')
	if tm.Kind == "" {
		fmt.Fprintf(&head, `"kind":%q,`, r.info.Kind)
	}
	if tm.APIVersion == "" {
		fmt.Fprintf(&head, `"apiVersion":%q,`, r.info.GroupVersion())
	}
	rest := bytes.TrimSpace(data)
	if len(rest) < 2 || rest[0] != '{' {
		return data, nil
	}
	rest = rest[1:]
	if bytes.Equal(bytes.TrimSpace(rest), []byte("}")) {
		head.Truncate(head.Len() - 1) // drop the trailing comma
	}
	head.Write(rest)
	return head.Bytes(), nil
}

// namespaceFor picks the request namespace: the argument, else the object's, and insists on one for a
// namespaced resource.
func (r *Resource[T]) namespaceFor(ns string, meta *metav1.ObjectMeta) (string, error) {
	if !r.info.Namespaced {
		return "", nil
	}
	if ns == "" && meta != nil {
		ns = meta.Namespace
	}
	if ns == "" {
		return "", fmt.Errorf("%s: a namespace is required", r.info)
	}
	return ns, nil
}

func (r *Resource[T]) decodeOne(data *T) *T {
	r.fillTypeMeta(data)
	return data
}

// Create POSTs obj to the collection. ns "" takes the object's namespace.
func (r *Resource[T]) Create(ctx context.Context, ns string, obj *T, opts CreateOptions) (*T, error) {
	meta, err := objectMeta(obj)
	if err != nil {
		return nil, err
	}
	if ns, err = r.namespaceFor(ns, meta); err != nil {
		return nil, err
	}
	body, err := r.encode(obj)
	if err != nil {
		return nil, err
	}
	out := new(T)
	err = r.c.Do(ctx, Request{Method: http.MethodPost, Path: r.info.Path(ns, ""), Query: opts.query(), Body: body}, out)
	if err != nil {
		return nil, fmt.Errorf("creating %s %s: %w", r.info, objName(meta), err)
	}
	return r.decodeOne(out), nil
}

func objName(m *metav1.ObjectMeta) string {
	name := m.Name
	if name == "" && m.GenerateName != "" {
		name = m.GenerateName + "*"
	}
	if m.Namespace != "" {
		return m.Namespace + "/" + name
	}
	return name
}

func key(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// Get reads one object.
func (r *Resource[T]) Get(ctx context.Context, ns, name string, opts GetOptions) (*T, error) {
	if name == "" {
		return nil, fmt.Errorf("getting %s: a name is required", r.info)
	}
	if r.info.Namespaced && ns == "" {
		return nil, fmt.Errorf("getting %s %s: a namespace is required", r.info, name)
	}
	out := new(T)
	if err := r.c.Do(ctx, Request{Method: http.MethodGet, Path: r.info.Path(ns, name), Query: opts.query()}, out); err != nil {
		return nil, fmt.Errorf("getting %s %s: %w", r.info, key(ns, name), err)
	}
	return r.decodeOne(out), nil
}

// List reads one page of the collection (all of it when the server does not paginate). ns "" lists
// all namespaces.
func (r *Resource[T]) List(ctx context.Context, ns string, opts ListOptions) (*metav1.List[T], error) {
	out := &metav1.List[T]{}
	if err := r.c.Do(ctx, Request{Method: http.MethodGet, Path: r.info.Path(ns, ""), Query: opts.query(false)}, out); err != nil {
		return nil, fmt.Errorf("listing %s: %w", r.info, err)
	}
	for i := range out.Items {
		r.fillTypeMeta(&out.Items[i])
	}
	return out, nil
}

// ListAll reads every page, following continue tokens; the result's resourceVersion is the first
// page's (the snapshot all pages come from).
func (r *Resource[T]) ListAll(ctx context.Context, ns string, opts ListOptions) (*metav1.List[T], error) {
	var all *metav1.List[T]
	for {
		page, err := r.List(ctx, ns, opts)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = page
		} else {
			all.Items = append(all.Items, page.Items...)
		}
		if page.Continue == "" {
			all.Continue = ""
			return all, nil
		}
		opts.Continue = page.Continue
		// A continue token carries the snapshot; the server rejects it combined with a resourceVersion.
		opts.ResourceVersion, opts.ResourceVersionMatch = "", ""
	}
}

// Update PUTs obj. Its metadata.resourceVersion, when set, is a precondition (409 Conflict if stale).
// ns "" takes the object's namespace.
func (r *Resource[T]) Update(ctx context.Context, ns string, obj *T, opts UpdateOptions) (*T, error) {
	return r.put(ctx, ns, obj, "", opts)
}

// UpdateStatus PUTs obj to the status subresource: only status changes are applied.
func (r *Resource[T]) UpdateStatus(ctx context.Context, ns string, obj *T, opts UpdateOptions) (*T, error) {
	return r.put(ctx, ns, obj, "status", opts)
}

func (r *Resource[T]) put(ctx context.Context, ns string, obj *T, sub string, opts UpdateOptions) (*T, error) {
	meta, err := objectMeta(obj)
	if err != nil {
		return nil, err
	}
	if meta.Name == "" {
		return nil, fmt.Errorf("updating %s: the object has no name", r.info)
	}
	if ns, err = r.namespaceFor(ns, meta); err != nil {
		return nil, err
	}
	body, err := r.encode(obj)
	if err != nil {
		return nil, err
	}
	out := new(T)
	err = r.c.Do(ctx, Request{Method: http.MethodPut, Path: r.info.Path(ns, meta.Name, sub), Query: opts.query(), Body: body}, out)
	if err != nil {
		what := "updating"
		if sub != "" {
			what = "updating " + sub + " of"
		}
		return nil, fmt.Errorf("%s %s %s: %w", what, r.info, key(ns, meta.Name), err)
	}
	return r.decodeOne(out), nil
}

// Patch applies a patch of the given type to an object or, with subresource, to one of its
// subresources ("status", "scale"). It is never retried.
func (r *Resource[T]) Patch(ctx context.Context, ns, name string, pt PatchType, data []byte, opts PatchOptions, subresource ...string) (*T, error) {
	if name == "" {
		return nil, fmt.Errorf("patching %s: a name is required", r.info)
	}
	if r.info.Namespaced && ns == "" {
		return nil, fmt.Errorf("patching %s %s: a namespace is required", r.info, name)
	}
	if pt == ApplyPatchType && opts.FieldManager == "" {
		return nil, fmt.Errorf("patching %s %s: server-side apply needs a field manager", r.info, key(ns, name))
	}
	out := new(T)
	err := r.c.Do(ctx, Request{
		Method: http.MethodPatch, Path: r.info.Path(ns, name, subresource...), Query: opts.query(),
		Body: data, ContentType: string(pt),
	}, out)
	if err != nil {
		return nil, fmt.Errorf("patching %s %s: %w", r.info, key(ns, name), err)
	}
	return r.decodeOne(out), nil
}

// Delete deletes one object; opts may be nil. A deletion that waits on finalizers or a grace period
// succeeds too (the object then carries a deletionTimestamp until it is gone).
func (r *Resource[T]) Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions) error {
	if name == "" {
		return fmt.Errorf("deleting %s: a name is required", r.info)
	}
	if r.info.Namespaced && ns == "" {
		return fmt.Errorf("deleting %s %s: a namespace is required", r.info, name)
	}
	req := Request{Method: http.MethodDelete, Path: r.info.Path(ns, name)}
	if opts != nil {
		req.Body = opts
	}
	if err := r.c.Do(ctx, req, nil); err != nil {
		return fmt.Errorf("deleting %s %s: %w", r.info, key(ns, name), err)
	}
	return nil
}

// DeleteCollection deletes every object matching the list options' selectors in ns ("" = all).
func (r *Resource[T]) DeleteCollection(ctx context.Context, ns string, opts *metav1.DeleteOptions, list ListOptions) error {
	req := Request{Method: http.MethodDelete, Path: r.info.Path(ns, ""), Query: list.query(false)}
	if opts != nil {
		req.Body = opts
	}
	if err := r.c.Do(ctx, req, nil); err != nil {
		return fmt.Errorf("deleting collection of %s: %w", r.info, err)
	}
	return nil
}

// Watch starts a watch on the collection in ns ("" = all namespaces). The returned Watcher delivers
// typed events until the server ends the stream, the context is cancelled, or Stop is called.
func (r *Resource[T]) Watch(ctx context.Context, ns string, opts ListOptions) (*Watcher[T], error) {
	wctx, cancel := context.WithCancel(ctx)
	body, err := r.c.Stream(wctx, Request{Method: http.MethodGet, Path: r.info.Path(ns, ""), Query: opts.query(true)})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watching %s: %w", r.info, err)
	}
	return newWatcher(wctx, body, cancel, r.fillTypeMeta), nil
}

// GetSubresource GETs a subresource ("scale", "status") into out.
func (r *Resource[T]) GetSubresource(ctx context.Context, ns, name, subresource string, params url.Values, out any) error {
	if err := r.c.Do(ctx, Request{Method: http.MethodGet, Path: r.info.Path(ns, name, subresource), Query: params}, out); err != nil {
		return fmt.Errorf("getting %s of %s %s: %w", subresource, r.info, key(ns, name), err)
	}
	return nil
}

// CreateSubresource POSTs in to a subresource ("binding", "eviction") and decodes the answer (often a
// Status) into out when out is not nil.
func (r *Resource[T]) CreateSubresource(ctx context.Context, ns, name, subresource string, in, out any) error {
	if err := r.c.Do(ctx, Request{Method: http.MethodPost, Path: r.info.Path(ns, name, subresource), Body: in}, out); err != nil {
		return fmt.Errorf("creating %s of %s %s: %w", subresource, r.info, key(ns, name), err)
	}
	return nil
}

// UpdateSubresource PUTs in to a subresource ("scale") and decodes the answer into out.
func (r *Resource[T]) UpdateSubresource(ctx context.Context, ns, name, subresource string, in, out any) error {
	if err := r.c.Do(ctx, Request{Method: http.MethodPut, Path: r.info.Path(ns, name, subresource), Body: in}, out); err != nil {
		return fmt.Errorf("updating %s of %s %s: %w", subresource, r.info, key(ns, name), err)
	}
	return nil
}

// StreamSubresource GETs a streaming subresource (pods/log with follow=true) and returns its body for
// the caller to read and close. Accept is "*/*" since logs are text/plain.
func (r *Resource[T]) StreamSubresource(ctx context.Context, ns, name, subresource string, params url.Values) (io.ReadCloser, error) {
	body, err := r.c.Stream(ctx, Request{Method: http.MethodGet, Path: r.info.Path(ns, name, subresource), Query: params, Accept: "*/*"})
	if err != nil {
		return nil, fmt.Errorf("streaming %s of %s %s: %w", subresource, r.info, key(ns, name), err)
	}
	return body, nil
}

// errNoObject is returned for watch events that carry no object.
var errNoObject = errors.New("watch event has no object")
