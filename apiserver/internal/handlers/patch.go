package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/registry"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// maxJSONPatchOps bounds the operations of one JSON patch (Kubernetes's limit).
const maxJSONPatchOps = 10000

// patcher applies one patch document to the JSON of an object.
type patcher struct {
	kind  string // the Content-Type's media type
	patch []byte
	// schema is an empty object of the patched type, for strategic merge patch's merge keys.
	schema any
	ops    jsonpatch.Patch
}

// newPatcher validates the patch body for its media type.
func newPatcher(mt string, body []byte, schema any) (*patcher, error) {
	p := &patcher{kind: mt, patch: body, schema: schema}
	switch mt {
	case mediaStrategicPatch, mediaMergePatch, mediaJSON:
		if err := checkJSON(body); err != nil {
			return nil, err
		}
		if mt == mediaJSON {
			p.kind = mediaMergePatch
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the patch is not a JSON object: %v", err))
		}
	case mediaJSONPatch:
		if err := checkJSON(body); err != nil {
			return nil, err
		}
		ops, err := jsonpatch.DecodePatch(body)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the JSON patch is invalid: %v", err))
		}
		if len(ops) > maxJSONPatchOps {
			return nil, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
				Code: http.StatusRequestEntityTooLarge, Reason: metav1.StatusReasonRequestEntityTooLarge,
				Message: fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOps, len(ops))}
		}
		p.ops = ops
	case mediaApplyPatch:
		data, err := yamlToJSON(body)
		if err != nil {
			return nil, err
		}
		p.patch = data
	default:
		return nil, apierrors.NewUnsupportedMediaType(mt)
	}
	return p, nil
}

// apply returns the patched document.
func (p *patcher) apply(cur []byte) ([]byte, error) {
	switch p.kind {
	case mediaStrategicPatch:
		out, err := strategicpatch.StrategicMergePatch(cur, p.patch, p.schema)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("applying the strategic merge patch: %v", err))
		}
		return out, nil
	case mediaMergePatch, mediaApplyPatch:
		out, err := jsonpatch.MergePatch(cur, p.patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("applying the merge patch: %v", err))
		}
		return out, nil
	case mediaJSONPatch:
		return p.applyJSONPatch(cur)
	}
	return nil, apierrors.NewUnsupportedMediaType(p.kind)
}

// applyJSONPatch applies RFC 6902 operations. "copy" is the one operation that can grow a document
// beyond the size of the patch, so patches with copies are applied one operation at a time with the
// document's size checked after each.
func (p *patcher) applyJSONPatch(cur []byte) ([]byte, error) {
	hasCopy := false
	for _, op := range p.ops {
		if op.Kind() == "copy" {
			hasCopy = true
			break
		}
	}
	invalid := func(err error) error {
		st := metav1.NewStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, fmt.Sprintf("the JSON patch could not be applied: %v", err))
		return st
	}
	if !hasCopy {
		out, err := p.ops.Apply(cur)
		if err != nil {
			return nil, invalid(err)
		}
		return out, nil
	}
	doc := cur
	for _, op := range p.ops {
		out, err := jsonpatch.Patch{op}.Apply(doc)
		if err != nil {
			return nil, invalid(err)
		}
		if len(out) > 2*MaxBodyBytes {
			return nil, apierrors.NewRequestEntityTooLarge(2 * MaxBodyBytes)
		}
		doc = out
	}
	return doc, nil
}

// patch serves PATCH on an object or its status.
func (a *API) patch(q *request, sub string) {
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
	mt := mediaType(q.r)
	body, err := readBody(q.r)
	if err != nil {
		q.fail(err)
		return
	}
	p, err := newPatcher(mt, body, q.res.New())
	if err != nil {
		q.fail(err)
		return
	}
	var warnings []string
	mutate := func(cur metav1.Object) (metav1.Object, error) {
		curJSON, err := json.Marshal(cur)
		if err != nil {
			return nil, err
		}
		patched, err := p.apply(curJSON)
		if err != nil {
			return nil, err
		}
		if err := checkJSON(patched); err != nil {
			return nil, err
		}
		obj, w, err := decodeInto(q.res, patched, mode)
		if err != nil {
			return nil, err
		}
		warnings = w
		return obj, nil
	}
	obj, err := a.reg.Update(q.r.Context(), q.res, q.info.Namespace, q.info.Name, mutate, registry.UpdateOptions{DryRun: dry, Subresource: sub})
	if mt == mediaApplyPatch && sub == "" && apierrors.IsNotFound(err) {
		// Server-side apply of a missing object creates it.
		a.applyCreate(q, p.patch, mode, dry)
		return
	}
	if err != nil {
		q.fail(err)
		return
	}
	addWarnings(q.w, warnings)
	writeOutput(q.w, q.out, http.StatusOK, obj)
}

// applyCreate creates the object a server-side apply names.
func (a *API) applyCreate(q *request, data []byte, mode string, dry bool) {
	obj, warnings, err := decodeInto(q.res, data, mode)
	if err != nil {
		q.fail(err)
		return
	}
	m := obj.GetObjectMeta()
	if m.Name == "" {
		m.Name = q.info.Name
	}
	if m.Name != q.info.Name {
		q.fail(apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.Name, q.info.Name)))
		return
	}
	if err := a.checkNamespace(q, m); err != nil {
		q.fail(err)
		return
	}
	created, err := a.reg.Create(q.r.Context(), q.res, obj, registry.CreateOptions{DryRun: dry})
	if err != nil {
		var st *metav1.Status
		if !errors.As(err, &st) && apierrors.IsAlreadyExists(err) {
			err = apierrors.NewConflict(q.res.GroupResource(), m.Name, apierrors.ConflictModified)
		}
		q.fail(err)
		return
	}
	addWarnings(q.w, warnings)
	writeOutput(q.w, q.out, http.StatusCreated, created)
}
