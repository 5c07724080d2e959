package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/registry"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// request is one resource request after routing.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	info requestInfo
	res  *registry.Resource
	out  output
}

func (q *request) target() apierrors.Target {
	return apierrors.Target{Resource: q.res.GroupResource(), Name: q.info.Name}
}

func (q *request) fail(err error) { writeStatus(q.w, err, q.target()) }

func (q *request) query(name string) string { return q.r.URL.Query().Get(name) }

func (q *request) dryRun() (bool, error) {
	for _, v := range q.r.URL.Query()["dryRun"] {
		switch v {
		case "All":
			return true, nil
		case "":
		default:
			return false, apierrors.NewBadRequest(fmt.Sprintf("Invalid dryRun value %q: the only supported value is All", v))
		}
	}
	return false, nil
}

// fieldValidation is Strict, Warn (the default) or Ignore.
func (q *request) fieldValidation() (string, error) {
	switch v := q.query("fieldValidation"); v {
	case "":
		return "Warn", nil
	case "Strict", "Warn", "Ignore":
		return v, nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of Ignore, Warn or Strict, got %q", v))
	}
}

func (a *API) serveResource(w http.ResponseWriter, r *http.Request, info requestInfo) {
	res, ok := a.reg.Lookup(info.Group, info.Version, info.Resource)
	if !ok {
		writeStatus(w, apierrors.NewPathNotFound(), apierrors.Target{})
		return
	}
	// Cluster-scoped resources have no namespace segment; namespaced ones need one except for lists.
	if !res.Namespaced && info.Namespace != "" {
		writeStatus(w, apierrors.NewPathNotFound(), apierrors.Target{})
		return
	}
	if res.Namespaced && info.Namespace == "" && !(info.Verb == "list" || info.Verb == "watch") {
		writeStatus(w, apierrors.NewPathNotFound(), apierrors.Target{})
		return
	}
	if info.Subresource != "" && info.Name == "" {
		writeStatus(w, apierrors.NewPathNotFound(), apierrors.Target{})
		return
	}
	q := &request{w: w, r: r, info: info, res: res}
	out, err := negotiate(r)
	if err != nil {
		q.fail(err)
		return
	}
	q.out = out
	if !longRunning(r, info) {
		ctx, cancel := context.WithTimeout(r.Context(), a.requestTimeout(r))
		defer cancel()
		q.r = r.WithContext(ctx)
	}
	if info.Subresource != "" {
		a.serveSubresource(q)
		return
	}
	if !res.HasVerb(info.Verb) {
		q.fail(apierrors.NewMethodNotAllowed(r.Method, res.Plural))
		return
	}
	if res.Group == "" && res.Plural == "bindings" && info.Verb == "create" {
		// POST namespaces/{ns}/bindings: the legacy form of pods/{name}/binding.
		a.bind(q)
		return
	}
	if registry.IsSelfSubjectAccessReview(res) {
		a.selfSubjectAccessReview(q) // the only verb is create
		return
	}
	switch info.Verb {
	case "get":
		a.get(q)
	case "list":
		a.list(q)
	case "watch":
		a.watch(q)
	case "create":
		a.create(q)
	case "update":
		a.update(q, "")
	case "patch":
		a.patch(q, "")
	case "delete":
		a.delete(q)
	case "deletecollection":
		a.deleteCollection(q)
	default:
		q.fail(apierrors.NewMethodNotAllowed(r.Method, res.Plural))
	}
}

// requestTimeout is the timeout query parameter when shorter than the server's limit.
func (a *API) requestTimeout(r *http.Request) time.Duration {
	d := a.cfg.RequestTimeout
	if t := r.URL.Query().Get("timeout"); t != "" {
		if pd, err := time.ParseDuration(t); err == nil && pd > 0 && pd < d {
			d = pd
		}
	}
	return d
}

func (a *API) get(q *request) {
	obj, err := a.reg.Get(q.r.Context(), q.res, q.info.Namespace, q.info.Name)
	if err != nil {
		q.fail(err)
		return
	}
	a.writeObjects(q, http.StatusOK, obj)
}

// writeObjects writes one object, or its Table.
func (a *API) writeObjects(q *request, code int, obj metav1.Object) {
	if q.out.table && (q.info.Verb == "get" || q.info.Verb == "list") {
		t := buildTable(q.res, []metav1.Object{obj}, true, q.out.includeObject)
		t.ListMeta.ResourceVersion = obj.GetObjectMeta().ResourceVersion
		writeJSON(q.w, code, t)
		return
	}
	writeOutput(q.w, q.out, code, obj)
}

// listEnvelope is a typed list on the wire.
type listEnvelope struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []metav1.Object `json:"items"`
}

// listOptions turns the list query parameters into registry options.
func (a *API) listOptions(q *request) (registry.ListOptions, *selector, error) {
	sel, err := parseSelector(q.res, q.query("labelSelector"), q.query("fieldSelector"))
	if err != nil {
		return registry.ListOptions{}, nil, err
	}
	opts := registry.ListOptions{}
	if !sel.empty() {
		opts.Match = sel.matches
	}
	rv, match := q.query("resourceVersion"), q.query("resourceVersionMatch")
	var errs field.ErrorList
	switch {
	case rv == "":
		if match != "" {
			errs = append(errs, field.Forbidden(field.NewPath("resourceVersionMatch"), "resourceVersionMatch is forbidden unless resourceVersion is provided"))
		}
	case rv == "0":
		opts.AnyRevision = true
		if match == "Exact" {
			errs = append(errs, field.Forbidden(field.NewPath("resourceVersionMatch"), "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""))
		}
	default:
		n, perr := strconv.ParseInt(rv, 10, 64)
		if perr != nil || n < 0 {
			return opts, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q: must be a decimal revision", rv))
		}
		opts.Revision = n
		opts.Exact = match == "Exact"
	}
	if match != "" && match != "Exact" && match != "NotOlderThan" {
		errs = append(errs, field.NotSupported(field.NewPath("resourceVersionMatch"), match, []string{"Exact", "NotOlderThan"}))
	}
	if l := q.query("limit"); l != "" {
		n, perr := strconv.ParseInt(l, 10, 64)
		if perr != nil || n < 0 {
			return opts, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q", l))
		}
		opts.Limit = n
	}
	if c := q.query("continue"); c != "" {
		if rv != "" && rv != "0" {
			errs = append(errs, field.Forbidden(field.NewPath("resourceVersion"), "specifying resource version is not allowed when using continue"))
		}
		opts.Continue = c
		opts.AnyRevision = false
	}
	if len(errs) > 0 {
		return opts, nil, apierrors.NewInvalid("meta.k8s.io", "ListOptions", "", errs)
	}
	return opts, sel, nil
}

func (a *API) list(q *request) {
	opts, _, err := a.listOptions(q)
	if err != nil {
		q.fail(err)
		return
	}
	if opts.Match == nil && !q.out.table && !q.out.yaml {
		a.listRaw(q, opts)
		return
	}
	lr, err := a.reg.List(q.r.Context(), q.res, q.info.Namespace, opts)
	if err != nil {
		q.fail(err)
		return
	}
	meta := metav1.ListMeta{ResourceVersion: strconv.FormatInt(lr.Revision, 10), Continue: lr.Continue, RemainingItemCount: lr.RemainingItemCount}
	if q.out.table {
		t := buildTable(q.res, lr.Items, true, q.out.includeObject)
		t.ListMeta = meta
		writeJSON(q.w, http.StatusOK, t)
		return
	}
	writeOutput(q.w, q.out, http.StatusOK, listEnvelope{
		TypeMeta: metav1.TypeMeta{Kind: q.res.Kind + "List", APIVersion: q.res.APIVersion()},
		ListMeta: meta,
		Items:    lr.Items,
	})
}

// decodeObject decodes a create/update body into the resource's type, checking kind and apiVersion and
// applying fieldValidation. It returns warnings to send back.
func (a *API) decodeObject(q *request, data []byte) (metav1.Object, []string, error) {
	mode, err := q.fieldValidation()
	if err != nil {
		return nil, nil, err
	}
	return decodeInto(q.res, data, mode)
}

// decodeInto decodes JSON into a new object of res.
func decodeInto(res *registry.Resource, data []byte, mode string) (metav1.Object, []string, error) {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(data, &tm); err != nil {
		return nil, nil, apierrors.NewBadRequest(decodeMessage(err))
	}
	if tm.APIVersion != "" && tm.APIVersion != res.APIVersion() {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", tm.APIVersion, res.APIVersion()))
	}
	if tm.Kind != "" && tm.Kind != res.Kind {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", tm.Kind, res.Kind))
	}
	obj := res.New()
	strict, err := decodeStrict(data, obj)
	if err != nil {
		return nil, nil, err
	}
	switch mode {
	case "Strict":
		if len(strict) > 0 {
			return nil, nil, apierrors.NewBadRequest("strict decoding error: " + strings.Join(strict, ", "))
		}
	case "Warn":
		return obj, strict, nil
	}
	return obj, nil, nil
}

// addWarnings sets one Warning header per message, Kubernetes-style (299 - "text").
func addWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", "299 - "+strconv.Quote(msg))
	}
}

func (a *API) create(q *request) {
	data, err := bodyJSON(q.r)
	if err != nil {
		q.fail(err)
		return
	}
	obj, warnings, err := a.decodeObject(q, data)
	if err != nil {
		q.fail(err)
		return
	}
	dry, err := q.dryRun()
	if err != nil {
		q.fail(err)
		return
	}
	m := obj.GetObjectMeta()
	if err := a.checkNamespace(q, m); err != nil {
		q.fail(err)
		return
	}
	created, err := a.reg.Create(q.r.Context(), q.res, obj, registry.CreateOptions{DryRun: dry})
	if err != nil {
		writeStatus(q.w, err, apierrors.Target{Resource: q.res.GroupResource(), Name: m.Name})
		return
	}
	addWarnings(q.w, warnings)
	writeOutput(q.w, q.out, http.StatusCreated, created)
}

// checkNamespace fills in the path's namespace and refuses a different one in the body.
func (a *API) checkNamespace(q *request, m *metav1.ObjectMeta) error {
	if !q.res.Namespaced {
		m.Namespace = ""
		return nil
	}
	if m.Namespace == "" {
		m.Namespace = q.info.Namespace
	}
	if m.Namespace != q.info.Namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return nil
}

func (a *API) update(q *request, sub string) {
	data, err := bodyJSON(q.r)
	if err != nil {
		q.fail(err)
		return
	}
	mode, err := q.fieldValidation()
	if err != nil {
		q.fail(err)
		return
	}
	dry, err := q.dryRun()
	if err != nil {
		q.fail(err)
		return
	}
	probe, warnings, err := decodeInto(q.res, data, mode)
	if err != nil {
		q.fail(err)
		return
	}
	pm := probe.GetObjectMeta()
	if pm.Name != "" && pm.Name != q.info.Name {
		q.fail(apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", pm.Name, q.info.Name)))
		return
	}
	if err := a.checkNamespace(q, pm); err != nil {
		q.fail(err)
		return
	}
	mutate := func(metav1.Object) (metav1.Object, error) {
		obj, _, err := decodeInto(q.res, data, "Ignore")
		if err != nil {
			return nil, err
		}
		obj.GetObjectMeta().Namespace = pm.Namespace
		return obj, nil
	}
	obj, err := a.reg.Update(q.r.Context(), q.res, q.info.Namespace, q.info.Name, mutate, registry.UpdateOptions{DryRun: dry, Subresource: sub})
	if err != nil {
		q.fail(err)
		return
	}
	addWarnings(q.w, warnings)
	writeOutput(q.w, q.out, http.StatusOK, obj)
}

// deleteOptions reads DeleteOptions from the body (if any) and the query.
func (q *request) deleteOptions() (registry.DeleteOptions, error) {
	var do metav1.DeleteOptions
	if q.r.Body != nil && q.r.ContentLength != 0 {
		data, err := readBody(q.r)
		if err != nil {
			return registry.DeleteOptions{}, err
		}
		if len(strings.TrimSpace(string(data))) > 0 {
			if mt := mediaType(q.r); mt == mediaYAML {
				if data, err = yamlToJSON(data); err != nil {
					return registry.DeleteOptions{}, err
				}
			} else if err := checkJSON(data); err != nil {
				return registry.DeleteOptions{}, err
			}
			if err := json.Unmarshal(data, &do); err != nil {
				return registry.DeleteOptions{}, apierrors.NewBadRequest(decodeMessage(err))
			}
		}
	}
	opts := registry.DeleteOptions{GracePeriodSeconds: do.GracePeriodSeconds, OrphanDependents: do.OrphanDependents}
	if do.PropagationPolicy != nil {
		opts.Propagation = *do.PropagationPolicy
	}
	if do.Preconditions != nil {
		if do.Preconditions.UID != nil {
			opts.UID = *do.Preconditions.UID
		}
		if do.Preconditions.ResourceVersion != nil {
			opts.ResourceVersion = *do.Preconditions.ResourceVersion
		}
	}
	for _, v := range do.DryRun {
		if v == "All" {
			opts.DryRun = true
		}
	}
	qv := q.r.URL.Query()
	if g := qv.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid gracePeriodSeconds %q", g))
		}
		opts.GracePeriodSeconds = &n
	}
	if p := qv.Get("propagationPolicy"); p != "" {
		opts.Propagation = metav1.DeletionPropagation(p)
	}
	if o := qv.Get("orphanDependents"); o != "" {
		b := o == "true"
		opts.OrphanDependents = &b
	}
	switch opts.Propagation {
	case "", metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
	default:
		return opts, apierrors.NewInvalid("meta.k8s.io", "DeleteOptions", "", field.ErrorList{field.NotSupported(
			field.NewPath("propagationPolicy"), opts.Propagation, []string{"Foreground", "Background", "Orphan", "nil"})})
	}
	if opts.OrphanDependents != nil && opts.Propagation != "" {
		return opts, apierrors.NewInvalid("meta.k8s.io", "DeleteOptions", "", field.ErrorList{field.Invalid(
			field.NewPath("propagationPolicy"), opts.Propagation, "orphanDependents and deletionPropagation cannot be both set")})
	}
	dry, err := q.dryRun()
	if err != nil {
		return opts, err
	}
	opts.DryRun = opts.DryRun || dry
	return opts, nil
}

// returnsDeletedObject lists the resources whose DELETE answers with the object rather than a Status.
func returnsDeletedObject(res *registry.Resource) bool {
	return res.Group == "" && (res.Plural == "pods" || res.Plural == "namespaces")
}

func (a *API) delete(q *request) {
	opts, err := q.deleteOptions()
	if err != nil {
		q.fail(err)
		return
	}
	obj, removed, err := a.reg.Delete(q.r.Context(), q.res, q.info.Namespace, q.info.Name, opts)
	if err != nil {
		q.fail(err)
		return
	}
	if !removed {
		code := http.StatusOK
		if opts.OrphanDependents != nil && !*opts.OrphanDependents {
			code = http.StatusAccepted
		}
		writeOutput(q.w, q.out, code, obj)
		return
	}
	if returnsDeletedObject(q.res) {
		writeOutput(q.w, q.out, http.StatusOK, obj)
		return
	}
	writeJSON(q.w, http.StatusOK, successStatus(http.StatusOK, &metav1.StatusDetails{
		Name: q.info.Name, Group: q.res.Group, Kind: q.res.Plural, UID: obj.GetObjectMeta().UID,
	}))
}

func (a *API) deleteCollection(q *request) {
	opts, err := q.deleteOptions()
	if err != nil {
		q.fail(err)
		return
	}
	lopts, _, err := a.listOptions(q)
	if err != nil {
		q.fail(err)
		return
	}
	lopts.Limit, lopts.Continue = 0, ""
	lr, err := a.reg.List(q.r.Context(), q.res, q.info.Namespace, lopts)
	if err != nil {
		q.fail(err)
		return
	}
	deleted := make([]metav1.Object, 0, len(lr.Items))
	for _, item := range lr.Items {
		m := item.GetObjectMeta()
		obj, _, err := a.reg.Delete(q.r.Context(), q.res, m.Namespace, m.Name, opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			writeStatus(q.w, err, apierrors.Target{Resource: q.res.GroupResource(), Name: m.Name})
			return
		}
		deleted = append(deleted, obj)
	}
	writeOutput(q.w, q.out, http.StatusOK, listEnvelope{
		TypeMeta: metav1.TypeMeta{Kind: q.res.Kind + "List", APIVersion: q.res.APIVersion()},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(lr.Revision, 10)},
		Items:    deleted,
	})
}

// listRaw writes a list without decoding its items (see registry.ListRaw).
func (a *API) listRaw(q *request, opts registry.ListOptions) {
	lr, err := a.reg.ListRaw(q.r.Context(), q.res, q.info.Namespace, opts)
	if err != nil {
		q.fail(err)
		return
	}
	head, err := json.Marshal(struct {
		metav1.TypeMeta `json:",inline"`
		metav1.ListMeta `json:"metadata"`
	}{
		TypeMeta: metav1.TypeMeta{Kind: q.res.Kind + "List", APIVersion: q.res.APIVersion()},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(lr.Revision, 10), Continue: lr.Continue, RemainingItemCount: lr.RemainingItemCount},
	})
	if err != nil {
		q.fail(apierrors.NewInternalError(err))
		return
	}
	size := len(head) + 16
	for _, it := range lr.Items {
		size += len(it) + 1
	}
	buf := make([]byte, 0, size)
	buf = append(buf, head[:len(head)-1]...) // drop the closing brace
	buf = append(buf, `,"items":[`...)
	for i, it := range lr.Items {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, it...)
	}
	buf = append(buf, "]}\n"...)
	q.w.Header().Set("Content-Type", "application/json")
	q.w.Header().Set("X-Content-Type-Options", "nosniff")
	q.w.WriteHeader(http.StatusOK)
	_, _ = q.w.Write(buf)
}
