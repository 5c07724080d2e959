// Package expectations remembers the creates and deletes a controller has issued but not yet seen come
// back through its informers, so that a slow watch never makes the controller act twice on the same
// shortfall (two creates for one missing pod). It provides only bookkeeping: it talks to no API.
//
// The protocol, per controller key (namespace/name of the owner):
//
//	e.ExpectCreations(key, n) before issuing n creates; CreationObserved(key) for every create seen
//	(or every create that failed, since it will never be seen);
//	e.ExpectDeletions(key, uids) before deleting those objects; DeletionObserved(key, uid) for each
//	one seen deleted (or seen with a deletionTimestamp, or failed);
//	sync proceeds only when Satisfied(key).
//
// Expectations expire after a TTL so that a lost watch event cannot wedge a controller forever.
package expectations

import (
	"sync"
	"time"
)

// DefaultTTL is how long unmet expectations block a key before they are considered lost; Kubernetes
// uses five minutes.
const DefaultTTL = 5 * time.Minute

type record struct {
	adds      int
	deletes   map[string]struct{}
	timestamp time.Time
}

// Expectations is safe for concurrent use.
type Expectations struct {
	mu   sync.Mutex
	ttl  time.Duration
	now  func() time.Time
	recs map[string]*record
}

// New returns empty expectations with the given TTL (DefaultTTL when zero).
func New(ttl time.Duration) *Expectations {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Expectations{ttl: ttl, now: time.Now, recs: map[string]*record{}}
}

// SetClock replaces the clock (tests).
func (e *Expectations) SetClock(now func() time.Time) { e.now = now }

func (e *Expectations) get(key string) *record {
	r := e.recs[key]
	if r == nil {
		r = &record{deletes: map[string]struct{}{}}
		e.recs[key] = r
	}
	return r
}

// ExpectCreations records that n creates are about to be issued for key. It replaces any earlier
// creation expectation: callers set expectations only when the previous ones are satisfied.
func (e *Expectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.get(key)
	r.adds = n
	r.timestamp = e.now()
}

// CreationObserved lowers the pending creates of key by one.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.recs[key]; r != nil && r.adds > 0 {
		r.adds--
	}
}

// ExpectDeletions records that the objects with these UIDs are about to be deleted for key.
func (e *Expectations) ExpectDeletions(key string, uids []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.get(key)
	for _, u := range uids {
		r.deletes[u] = struct{}{}
	}
	r.timestamp = e.now()
}

// DeletionObserved marks the object uid as gone (or going) for key. Unknown UIDs are ignored, so it is
// safe to call for every deletion the informer reports.
func (e *Expectations) DeletionObserved(key, uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.recs[key]; r != nil {
		delete(r.deletes, uid)
	}
}

// Satisfied reports whether key has no pending creates or deletes (or they expired, or were never set).
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.recs[key]
	if r == nil {
		return true
	}
	if r.adds <= 0 && len(r.deletes) == 0 {
		return true
	}
	return e.now().Sub(r.timestamp) > e.ttl
}

// Pending returns the outstanding creates and deletes of key (for logs and tests).
func (e *Expectations) Pending(key string) (adds, deletes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.recs[key]; r != nil {
		return r.adds, len(r.deletes)
	}
	return 0, 0
}

// Forget drops everything known about key (the owner was deleted).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.recs, key)
}
