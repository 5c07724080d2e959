// Package apierrors builds the Kubernetes Status errors the apiserver returns, and maps every error class
// of the storage layer, of validation and of request decoding to exactly one HTTP status (ToStatus).
//
// It is the only place that decides a status code; handlers and strategies return Go errors built here or
// wrapped storage errors, and the transport writes what ToStatus says.
package apierrors

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/apiserver/internal/storage"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// GroupResource names a resource for messages: "pods" (core) or "deployments.apps".
type GroupResource struct {
	Group    string
	Resource string
}

// String is the qualified resource name Kubernetes uses in messages.
func (gr GroupResource) String() string {
	if gr.Group == "" {
		return gr.Resource
	}
	return gr.Resource + "." + gr.Group
}

func newStatus(code int32, reason metav1.StatusReason, msg string, details *metav1.StatusDetails) *metav1.Status {
	s := metav1.NewStatus(code, reason, msg)
	s.Details = details
	return s
}

// NewNotFound is 404 `pods "x" not found`.
func NewNotFound(gr GroupResource, name string) *metav1.Status {
	return newStatus(http.StatusNotFound, metav1.StatusReasonNotFound,
		fmt.Sprintf("%s %q not found", gr, name),
		&metav1.StatusDetails{Name: name, Group: gr.Group, Kind: gr.Resource})
}

// NewAlreadyExists is 409 `pods "x" already exists`.
func NewAlreadyExists(gr GroupResource, name string) *metav1.Status {
	return newStatus(http.StatusConflict, metav1.StatusReasonAlreadyExists,
		fmt.Sprintf("%s %q already exists", gr, name),
		&metav1.StatusDetails{Name: name, Group: gr.Group, Kind: gr.Resource})
}

// NewConflict is 409 Conflict `Operation cannot be fulfilled on <gr> "<name>": <reason>`.
func NewConflict(gr GroupResource, name, reason string) *metav1.Status {
	return newStatus(http.StatusConflict, metav1.StatusReasonConflict,
		fmt.Sprintf("Operation cannot be fulfilled on %s %q: %s", gr, name, reason),
		&metav1.StatusDetails{Name: name, Group: gr.Group, Kind: gr.Resource})
}

// ConflictModified is the reason of a stale resourceVersion.
const ConflictModified = "the object has been modified; please apply your changes to the latest version and try again"

// NewInvalid is 422 `Kind "name" is invalid: <errs>` with one cause per field error.
func NewInvalid(group, kind, name string, errs field.ErrorList) *metav1.Status {
	causes := make([]metav1.StatusCause, 0, len(errs))
	for _, e := range errs {
		causes = append(causes, metav1.StatusCause{
			Type:    metav1.CauseType(e.Type),
			Message: e.ErrorBody(),
			Field:   e.Field,
		})
	}
	qualified := kind
	if group != "" {
		qualified = kind + "." + group
	}
	var msg string
	switch len(errs) {
	case 0:
		msg = fmt.Sprintf("%s %q is invalid", qualified, name)
	case 1:
		msg = fmt.Sprintf("%s %q is invalid: %s", qualified, name, errs[0].Error())
	default:
		parts := make([]string, 0, len(errs))
		for _, e := range errs {
			parts = append(parts, e.Error())
		}
		msg = fmt.Sprintf("%s %q is invalid: [%s]", qualified, name, strings.Join(parts, ", "))
	}
	return newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, msg,
		&metav1.StatusDetails{Name: name, Group: group, Kind: kind, Causes: causes})
}

// NewBadRequest is 400 BadRequest with msg.
func NewBadRequest(msg string) *metav1.Status {
	return newStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, msg, nil)
}

// NewForbidden is 403 `<gr> "<name>" is forbidden: <reason>`.
func NewForbidden(gr GroupResource, name, reason string) *metav1.Status {
	var msg string
	if name == "" {
		msg = fmt.Sprintf("%s is forbidden: %s", gr, reason)
	} else {
		msg = fmt.Sprintf("%s %q is forbidden: %s", gr, name, reason)
	}
	return newStatus(http.StatusForbidden, metav1.StatusReasonForbidden, msg,
		&metav1.StatusDetails{Name: name, Group: gr.Group, Kind: gr.Resource})
}

// NewMethodNotAllowed is 405 for a verb the resource does not serve.
func NewMethodNotAllowed(method, what string) *metav1.Status {
	return newStatus(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed,
		fmt.Sprintf("%s is not supported on %s", method, what), nil)
}

// NewPathNotFound is the 404 of an unknown path.
func NewPathNotFound() *metav1.Status {
	return newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource", nil)
}

// NewUnsupportedMediaType is 415 for a body encoding the server does not decode.
func NewUnsupportedMediaType(contentType string) *metav1.Status {
	return newStatus(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
		fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/merge-patch+json, application/strategic-merge-patch+json, application/json-patch+json (got %q)", contentType), nil)
}

// NewNotAcceptable is 406 when no Accept type can be served.
func NewNotAcceptable(accept string) *metav1.Status {
	return newStatus(http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable,
		fmt.Sprintf("only the following media types are accepted: application/json, application/yaml (got %q)", accept), nil)
}

// NewRequestEntityTooLarge is 413 for a body over the limit.
func NewRequestEntityTooLarge(limit int64) *metav1.Status {
	return newStatus(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge,
		fmt.Sprintf("the request body is larger than the limit of %d bytes", limit), nil)
}

// NewExpired is 410 Expired with msg.
func NewExpired(msg string) *metav1.Status {
	return newStatus(http.StatusGone, metav1.StatusReasonExpired, msg, nil)
}

// NewInternalError is 500 with the error's text.
func NewInternalError(err error) *metav1.Status {
	return newStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError,
		fmt.Sprintf("Internal error occurred: %v", err),
		&metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeUnexpectedServerResponse, Message: err.Error()}}})
}

// NewServiceUnavailable is 503 with msg.
func NewServiceUnavailable(msg string) *metav1.Status {
	return newStatus(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, msg, nil)
}

// NewTimeout is 504 when a request ran out of time.
func NewTimeout(msg string) *metav1.Status {
	return newStatus(http.StatusGatewayTimeout, metav1.StatusReasonTimeout, msg, nil)
}

// NewTooLargeResourceVersion is Kubernetes's 504 for a resourceVersion the store has not reached:
// `Timeout: Too large resource version: N, current: M`, cause ResourceVersionTooLarge, retry after 1s.
func NewTooLargeResourceVersion(requested, current int64) *metav1.Status {
	st := NewTimeout(fmt.Sprintf("Timeout: Too large resource version: %d, current: %d", requested, current))
	st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ResourceVersionTooLarge", Message: "Too large resource version"}}, RetryAfterSeconds: 1}
	return st
}

// Target names the object a failed request was about; ToStatus uses it to phrase storage errors.
type Target struct {
	Resource GroupResource
	Name     string
}

// ToStatus maps any error to the Status the client receives. It is the single place where error classes
// become HTTP codes: a *metav1.Status passes through; storage classes become NotFound, AlreadyExists,
// Conflict, Expired and ServiceUnavailable; a context deadline becomes Timeout; anything else is a 500.
func ToStatus(err error, t Target) *metav1.Status {
	if err == nil {
		return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusOK}
	}
	var st *metav1.Status
	if errors.As(err, &st) {
		return st
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return NewNotFound(t.Resource, t.Name)
	case errors.Is(err, storage.ErrAlreadyExists):
		return NewAlreadyExists(t.Resource, t.Name)
	case errors.Is(err, storage.ErrConflict):
		return NewConflict(t.Resource, t.Name, ConflictModified)
	case errors.As(err, new(*storage.ContinueExpiredError)):
		var ce *storage.ContinueExpiredError
		errors.As(err, &ce)
		st := NewExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
		st.ListMeta.Continue = ce.Continue
		return st
	case errors.Is(err, storage.ErrExpired):
		return NewExpired(expiredMessage(err))
	case errors.Is(err, storage.ErrInvalidContinue):
		return NewBadRequest(fmt.Sprintf("continue key is not valid: %v", err))
	case errors.Is(err, storage.ErrTooLargeRevision):
		st := NewTimeout("Too large resource version")
		st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ResourceVersionTooLarge", Message: "Too large resource version"}}, RetryAfterSeconds: 1}
		return st
	case errors.Is(err, storage.ErrUnavailable):
		return NewServiceUnavailable(fmt.Sprintf("storage is unavailable: %v", err))
	case errors.Is(err, context.DeadlineExceeded):
		return NewTimeout("request did not complete within the allowed duration")
	}
	return NewInternalError(err)
}

// expiredMessage keeps the store's "too old resource version: N (M)" wording when it gave one.
func expiredMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "too old resource version"); i >= 0 && strings.Contains(msg[i:], "(") {
		return msg[i:]
	}
	return "The resourceVersion for the provided watch is too old."
}

// IsNotFound reports whether err is (or maps to) a 404.
func IsNotFound(err error) bool { return ToStatus(err, Target{}).Code == http.StatusNotFound }

// IsAlreadyExists reports whether err is (or maps to) AlreadyExists.
func IsAlreadyExists(err error) bool {
	return ToStatus(err, Target{}).Reason == metav1.StatusReasonAlreadyExists
}

// IsConflict reports whether err is (or maps to) a Conflict.
func IsConflict(err error) bool { return ToStatus(err, Target{}).Reason == metav1.StatusReasonConflict }

// NewTooManyRequests is 429 with a retry hint.
func NewTooManyRequests(msg string, retryAfterSeconds int32) *metav1.Status {
	return newStatus(http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests, msg,
		&metav1.StatusDetails{RetryAfterSeconds: retryAfterSeconds})
}
