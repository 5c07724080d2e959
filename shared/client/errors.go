package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// APIError is a failed request: the Status the apiserver returned, or one synthesized from the HTTP code
// when the body was not a Status. Match it with errors.As, or with the Is* helpers, which also accept a
// *metav1.Status (the object of a watch ERROR event).
type APIError struct {
	// Status is the decoded body. Code is always set; Reason is set by the server, or derived from Code.
	Status metav1.Status
	// Method and URL identify the request, for messages.
	Method string
	URL    string
}

// Error returns the server's message, prefixed with the request when the body carried none.
func (e *APIError) Error() string {
	if e.Status.Message != "" {
		return e.Status.Message
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status.Code, http.StatusText(int(e.Status.Code)))
}

// Code returns the HTTP status code.
func (e *APIError) Code() int { return int(e.Status.Code) }

// NewAPIError wraps a Status as an error, deriving Reason from Code when the Status has none.
func NewAPIError(s metav1.Status) *APIError {
	if s.Reason == metav1.StatusReasonUnknown {
		s.Reason = reasonForCode(int(s.Code))
	}
	return &APIError{Status: s}
}

// decodeError turns a non-2xx response body into an *APIError.
func decodeError(method, url string, code int, body []byte) *APIError {
	var s metav1.Status
	if err := json.Unmarshal(body, &s); err != nil || s.Kind != "Status" {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 512 {
			msg = msg[:512] + "..."
		}
		s = metav1.Status{Status: metav1.StatusFailure}
		if msg != "" {
			s.Message = fmt.Sprintf("%s %s: %d %s: %s", method, url, code, http.StatusText(code), msg)
		}
	}
	if s.Code == 0 {
		s.Code = int32(code)
	}
	e := NewAPIError(s)
	e.Method, e.URL = method, url
	return e
}

func reasonForCode(code int) metav1.StatusReason {
	switch code {
	case http.StatusBadRequest:
		return metav1.StatusReasonBadRequest
	case http.StatusUnauthorized:
		return metav1.StatusReasonUnauthorized
	case http.StatusForbidden:
		return metav1.StatusReasonForbidden
	case http.StatusNotFound:
		return metav1.StatusReasonNotFound
	case http.StatusMethodNotAllowed:
		return metav1.StatusReasonMethodNotAllowed
	case http.StatusNotAcceptable:
		return metav1.StatusReasonNotAcceptable
	case http.StatusConflict:
		return metav1.StatusReasonConflict
	case http.StatusGone:
		return metav1.StatusReasonGone
	case http.StatusRequestEntityTooLarge:
		return metav1.StatusReasonRequestEntityTooLarge
	case http.StatusUnsupportedMediaType:
		return metav1.StatusReasonUnsupportedMediaType
	case http.StatusUnprocessableEntity:
		return metav1.StatusReasonInvalid
	case http.StatusTooManyRequests:
		return metav1.StatusReasonTooManyRequests
	case http.StatusInternalServerError:
		return metav1.StatusReasonInternalError
	case http.StatusServiceUnavailable:
		return metav1.StatusReasonServiceUnavailable
	case http.StatusGatewayTimeout:
		return metav1.StatusReasonTimeout
	}
	return metav1.StatusReasonUnknown
}

// statusOf finds the Status in an error chain: an *APIError or a *metav1.Status.
func statusOf(err error) (metav1.Status, bool) {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status, true
	}
	var st *metav1.Status
	if errors.As(err, &st) && st != nil {
		s := *st
		if s.Reason == metav1.StatusReasonUnknown {
			s.Reason = reasonForCode(int(s.Code))
		}
		return s, true
	}
	return metav1.Status{}, false
}

// ReasonForError returns the Status reason in err's chain, or StatusReasonUnknown.
func ReasonForError(err error) metav1.StatusReason {
	s, _ := statusOf(err)
	return s.Reason
}

// CodeForError returns the HTTP code in err's chain, or 0.
func CodeForError(err error) int {
	s, _ := statusOf(err)
	return int(s.Code)
}

func hasReason(err error, code int, reasons ...metav1.StatusReason) bool {
	s, ok := statusOf(err)
	if !ok {
		return false
	}
	for _, r := range reasons {
		if s.Reason == r {
			return true
		}
	}
	return code != 0 && s.Reason == metav1.StatusReasonUnknown && int(s.Code) == code
}

// IsNotFound reports a 404 NotFound.
func IsNotFound(err error) bool {
	return hasReason(err, http.StatusNotFound, metav1.StatusReasonNotFound)
}

// IsAlreadyExists reports a 409 AlreadyExists (a create of an existing name).
func IsAlreadyExists(err error) bool {
	return hasReason(err, 0, metav1.StatusReasonAlreadyExists)
}

// IsConflict reports a 409 Conflict (a stale resourceVersion or failed precondition).
func IsConflict(err error) bool {
	return hasReason(err, http.StatusConflict, metav1.StatusReasonConflict)
}

// IsInvalid reports a 422 Invalid; the field causes are in the Status details.
func IsInvalid(err error) bool {
	return hasReason(err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
}

// IsGone reports a 410: Expired (resourceVersion compacted away, continue token expired) or Gone.
func IsGone(err error) bool {
	return hasReason(err, http.StatusGone, metav1.StatusReasonExpired, metav1.StatusReasonGone)
}

// IsResourceExpired reports a 410 Expired; the same as IsGone, named as in client-go.
func IsResourceExpired(err error) bool { return IsGone(err) }

// IsTooManyRequests reports a 429.
func IsTooManyRequests(err error) bool {
	return hasReason(err, http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests)
}

// IsServerTimeout reports a 504 Timeout or a 500 ServerTimeout.
func IsServerTimeout(err error) bool {
	return hasReason(err, http.StatusGatewayTimeout, metav1.StatusReasonTimeout, "ServerTimeout")
}

// IsServiceUnavailable reports a 503.
func IsServiceUnavailable(err error) bool {
	return hasReason(err, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable)
}

// IsInternalError reports a 500 InternalError.
func IsInternalError(err error) bool {
	return hasReason(err, http.StatusInternalServerError, metav1.StatusReasonInternalError)
}

// IsBadRequest reports a 400.
func IsBadRequest(err error) bool {
	return hasReason(err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
}

// IsForbidden reports a 403.
func IsForbidden(err error) bool {
	return hasReason(err, http.StatusForbidden, metav1.StatusReasonForbidden)
}

// IsUnauthorized reports a 401.
func IsUnauthorized(err error) bool {
	return hasReason(err, http.StatusUnauthorized, metav1.StatusReasonUnauthorized)
}

// IsMethodNotSupported reports a 405.
func IsMethodNotSupported(err error) bool {
	return hasReason(err, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed)
}

// IsUnsupportedMediaType reports a 415.
func IsUnsupportedMediaType(err error) bool {
	return hasReason(err, http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType)
}
