// Package storage is the apiserver's only door to etcd: keys and revisions, transactions with
// mod-revision preconditions, paginated lists, and a watch cache that fans one etcd watch per resource
// prefix out to many watchers.
//
// It stores opaque JSON values; it knows nothing of kinds, validation or HTTP. The handlers layer decodes
// values, applies selectors through ListOptions.Predicate and maps the errors below to Kubernetes Status.
//
// NewEtcd opens the store over an external etcd cluster (Config.Endpoints) or over an etcd it runs
// embedded in Config.DataDir. Values returned by the store (KV.Value, Event.PrevValue) may be shared with
// the watch cache and other callers: treat them as read-only.
package storage

import (
	"context"
	"errors"
	"fmt"
)

// The error classes of the store. Callers match them with errors.Is; the handlers map each to exactly one
// HTTP status (NotFound 404, AlreadyExists 409, Conflict 409, Expired 410, InvalidContinue 410,
// TooSlow ends a watch, Unavailable 503). A List whose continue token has expired returns a
// *ContinueExpiredError, which matches ErrExpired and carries a token to continue inconsistently.
var (
	ErrNotFound        = errors.New("not found")
	ErrAlreadyExists   = errors.New("already exists")
	ErrConflict        = errors.New("resource version conflict")
	ErrExpired         = errors.New("resource version too old")
	ErrInvalidContinue = errors.New("continue token is invalid or expired")
	ErrTooSlow         = errors.New("watcher too slow")
	ErrUnavailable     = errors.New("storage unavailable")
	// ErrTooLargeRevision is an Exact list at a revision etcd has not reached yet. It also matches
	// ErrUnavailable; Kubernetes answers 504 with cause ResourceVersionTooLarge.
	ErrTooLargeRevision = fmt.Errorf("resource version too large: %w", ErrUnavailable)
)

// KV is one stored value. Revision is the key's etcd mod_revision (the object's resourceVersion); for a
// deleted key in a watch event it is the deletion revision and Value is the last stored value.
type KV struct {
	Key            string
	Value          []byte
	Revision       int64
	CreateRevision int64
}

// ListOptions selects what List returns.
type ListOptions struct {
	// Revision 0 means the latest state. With Exact, the state at exactly Revision (ErrExpired if
	// compacted); without Exact and Revision > 0, any state not older than Revision (may come from the
	// watch cache). AnyRevision (Kubernetes resourceVersion="0") lets the cache answer with what it has.
	// Exact at a revision etcd has not reached yet: ErrTooLargeRevision.
	Revision    int64
	Exact       bool
	AnyRevision bool
	// Limit caps the number of items returned (0: no limit); Continue resumes a previous page.
	Limit    int64
	Continue string
	// Predicate, if set, keeps only the values it returns true for. The store applies it while
	// paginating, so a page holds up to Limit matching items.
	Predicate func(KV) bool
}

// ListResult is one page of a list. Revision is the read revision of the whole list (the snapshot every
// page of one pagination shares); Continue is empty on the last page.
type ListResult struct {
	Items              []KV
	Revision           int64
	Continue           string
	RemainingItemCount *int64
}

// EventType is the kind of change a watch Event reports.
type EventType int

// The watch event types. Added is a key created (CreateRevision == Revision), Modified any later put,
// Deleted a delete, Error a terminal error (ErrExpired, ErrTooSlow, ErrUnavailable) after which the
// channel is closed.
const (
	Added EventType = iota + 1
	Modified
	Deleted
	Error
)

// Event is one change seen by a watch. PrevValue holds the value before the change where known
// (Modified, Deleted).
type Event struct {
	Type      EventType
	KV        KV
	PrevValue []byte
	Err       error
}

// Watcher delivers events in revision order until Stop is called, its context ends, or a terminal Error
// event; then Events is closed.
type Watcher interface {
	Events() <-chan Event
	Stop()
}

// Store is implemented by the etcd-backed store (embedded or external etcd).
type Store interface {
	// Create stores value at key if the key does not exist (ErrAlreadyExists otherwise).
	Create(ctx context.Context, key string, value []byte) (KV, error)
	// Get reads the latest value of key (ErrNotFound).
	Get(ctx context.Context, key string) (KV, error)
	// List reads the keys under prefix (which ends in "/").
	List(ctx context.Context, prefix string, opts ListOptions) (ListResult, error)
	// Update reads key, calls tryUpdate with the current value and writes what it returns if the key is
	// unchanged since the read; on a concurrent write it re-reads and calls tryUpdate again. With
	// precondition > 0 the current revision must equal it (ErrConflict otherwise, never retried). An error
	// from tryUpdate aborts and is returned as is.
	Update(ctx context.Context, key string, precondition int64, tryUpdate func(cur KV) ([]byte, error)) (KV, error)
	// Delete removes key if precondition is 0 or equals its revision, and check (if set) accepts the
	// current value. It returns the last value with Revision set to the deletion revision.
	Delete(ctx context.Context, key string, precondition int64, check func(cur KV) error) (KV, error)
	// Watch streams every change under prefix with revision > fromRevision, in order. fromRevision 0
	// means from now. A fromRevision already compacted away yields one Error event with ErrExpired.
	Watch(ctx context.Context, prefix string, fromRevision int64) (Watcher, error)
	// Revision returns the store's current revision.
	Revision(ctx context.Context) (int64, error)
	// Healthy returns nil when etcd answers.
	Healthy(ctx context.Context) error
	// Close stops the watch cache and the etcd client (and the embedded etcd, if any).
	Close() error
}
