package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/registry"
	autoscalingv1 "github.com/skiffhq/skiff/shared/api/autoscaling/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	policyv1 "github.com/skiffhq/skiff/shared/api/policy/v1"
)

func (a *API) serveSubresource(q *request) {
	sub := q.info.Subresource
	if !q.res.HasSubresource(sub) {
		writeStatus(q.w, apierrors.NewPathNotFound(), apierrors.Target{})
		return
	}
	method := q.r.Method
	notAllowed := func() { q.fail(apierrors.NewMethodNotAllowed(method, q.res.Plural+"/"+sub)) }
	switch sub {
	case "status":
		switch q.info.Verb {
		case "get":
			a.get(q)
		case "update":
			a.update(q, "status")
		case "patch":
			a.patch(q, "status")
		default:
			notAllowed()
		}
	case "finalize":
		if q.info.Verb != "update" {
			notAllowed()
			return
		}
		a.update(q, "finalize")
	case "scale":
		switch q.info.Verb {
		case "get", "update", "patch":
			a.scale(q)
		default:
			notAllowed()
		}
	case "binding":
		if q.info.Verb != "create" {
			notAllowed()
			return
		}
		a.bind(q)
	case "eviction":
		if q.info.Verb != "create" {
			notAllowed()
			return
		}
		a.evict(q)
	case "log":
		if q.info.Verb != "get" {
			notAllowed()
			return
		}
		a.proxyToNode(q, "containerLogs")
	case "exec", "attach":
		if method != http.MethodGet && method != http.MethodPost {
			notAllowed()
			return
		}
		a.proxyToNode(q, sub)
	default:
		writeStatus(q.w, apierrors.NewPathNotFound(), apierrors.Target{})
	}
}

// scale serves GET, PUT and PATCH of the autoscaling/v1 Scale of a workload.
func (a *API) scale(q *request) {
	ctx := q.r.Context()
	if q.info.Verb == "get" {
		obj, err := a.reg.Get(ctx, q.res, q.info.Namespace, q.info.Name)
		if err != nil {
			q.fail(err)
			return
		}
		writeOutput(q.w, q.out, http.StatusOK, registry.ScaleOf(obj))
		return
	}
	dry, err := q.dryRun()
	if err != nil {
		q.fail(err)
		return
	}
	var next func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error)
	if q.info.Verb == "update" {
		data, err := bodyJSON(q.r)
		if err != nil {
			q.fail(err)
			return
		}
		next = func(*autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
			var s autoscalingv1.Scale
			if _, err := decodeStrict(data, &s); err != nil {
				return nil, err
			}
			return &s, nil
		}
	} else {
		body, err := readBody(q.r)
		if err != nil {
			q.fail(err)
			return
		}
		p, err := newPatcher(mediaType(q.r), body, &autoscalingv1.Scale{})
		if err != nil {
			q.fail(err)
			return
		}
		next = func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
			curJSON, err := json.Marshal(cur)
			if err != nil {
				return nil, err
			}
			patched, err := p.apply(curJSON)
			if err != nil {
				return nil, err
			}
			var s autoscalingv1.Scale
			if _, err := decodeStrict(patched, &s); err != nil {
				return nil, err
			}
			return &s, nil
		}
	}
	obj, err := a.reg.Update(ctx, q.res, q.info.Namespace, q.info.Name, func(cur metav1.Object) (metav1.Object, error) {
		curScale := registry.ScaleOf(cur)
		s, err := next(curScale)
		if err != nil {
			return nil, err
		}
		if s.ResourceVersion != "" && s.ResourceVersion != curScale.ResourceVersion {
			return nil, apierrors.NewConflict(q.res.GroupResource(), q.info.Name, apierrors.ConflictModified)
		}
		if s.Name != "" && s.Name != q.info.Name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", s.Name, q.info.Name))
		}
		if s.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid("autoscaling", "Scale", q.info.Name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), s.Spec.Replicas, "must be greater than or equal to 0")})
		}
		if err := registry.SetReplicas(cur, s.Spec.Replicas); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		return cur, nil
	}, registry.UpdateOptions{DryRun: dry})
	if err != nil {
		q.fail(err)
		return
	}
	writeOutput(q.w, q.out, http.StatusOK, registry.ScaleOf(obj))
}

// bind serves POST pods/{name}/binding.
func (a *API) bind(q *request) {
	data, err := bodyJSON(q.r)
	if err != nil {
		q.fail(err)
		return
	}
	var b corev1.Binding
	if _, err := decodeStrict(data, &b); err != nil {
		q.fail(err)
		return
	}
	if b.Name == "" {
		b.Name = q.info.Name
	}
	if b.Name == "" {
		q.fail(apierrors.NewInvalid("", "Binding", "", field.ErrorList{field.Required(field.NewPath("metadata", "name"), "")}))
		return
	}
	if q.info.Name != "" && b.Name != q.info.Name {
		q.fail(apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", b.Name, q.info.Name)))
		return
	}
	if b.Namespace != "" && b.Namespace != q.info.Namespace {
		q.fail(apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	if dry, err := q.dryRun(); err != nil || dry {
		if err != nil {
			q.fail(err)
			return
		}
		writeJSON(q.w, http.StatusCreated, successStatus(http.StatusCreated, nil))
		return
	}
	if err := a.reg.Bind(q.r.Context(), q.info.Namespace, &b); err != nil {
		q.fail(err)
		return
	}
	writeJSON(q.w, http.StatusCreated, successStatus(http.StatusCreated, nil))
}

// evict serves POST pods/{name}/eviction: a graceful delete with the eviction's options, refused with
// 429 when the pod's PodDisruptionBudget allows no disruption.
func (a *API) evict(q *request) {
	data, err := bodyJSON(q.r)
	if err != nil {
		q.fail(err)
		return
	}
	var ev policyv1.Eviction
	if _, err := decodeStrict(data, &ev); err != nil {
		q.fail(err)
		return
	}
	if ev.Name != "" && ev.Name != q.info.Name {
		q.fail(apierrors.NewBadRequest(fmt.Sprintf("name in URL does not match name in Eviction object")))
		return
	}
	opts := registry.DeleteOptions{}
	if do := ev.DeleteOptions; do != nil {
		opts.GracePeriodSeconds = do.GracePeriodSeconds
		if do.Preconditions != nil {
			if do.Preconditions.UID != nil {
				opts.UID = *do.Preconditions.UID
			}
			if do.Preconditions.ResourceVersion != nil {
				opts.ResourceVersion = *do.Preconditions.ResourceVersion
			}
		}
		if do.PropagationPolicy != nil {
			opts.Propagation = *do.PropagationPolicy
		}
		for _, v := range do.DryRun {
			opts.DryRun = opts.DryRun || v == "All"
		}
	}
	if dry, err := q.dryRun(); err != nil {
		q.fail(err)
		return
	} else if dry {
		opts.DryRun = true
	}
	if err := a.reg.Evict(q.r.Context(), q.info.Namespace, q.info.Name, opts); err != nil {
		q.fail(err)
		return
	}
	writeJSON(q.w, http.StatusCreated, successStatus(http.StatusCreated, nil))
}
