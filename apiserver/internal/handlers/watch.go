package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	"github.com/skiffhq/skiff/apiserver/internal/registry"
	"github.com/skiffhq/skiff/apiserver/internal/storage"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// watchOptions are the watch query parameters.
type watchOptions struct {
	sel               *selector
	rv                string
	fromRevision      int64
	initialEvents     bool
	sendInitialEvents bool // explicitly asked: ends the initial events with an annotated BOOKMARK
	bookmarks         bool
	timeout           time.Duration
}

func (a *API) watchOptions(q *request) (watchOptions, error) {
	var o watchOptions
	sel, err := parseSelector(q.res, q.query("labelSelector"), q.query("fieldSelector"))
	if err != nil {
		return o, err
	}
	if q.info.Name != "" {
		// GET .../pods/NAME?watch=true and the legacy /watch/.../pods/NAME watch one object.
		if sel, err = parseSelector(q.res, q.query("labelSelector"), joinSelector(q.query("fieldSelector"), "metadata.name="+q.info.Name)); err != nil {
			return o, err
		}
	}
	o.sel = sel
	o.rv = q.query("resourceVersion")
	o.bookmarks = q.query("allowWatchBookmarks") == "true"
	match := q.query("resourceVersionMatch")
	var errs field.ErrorList
	if o.rv != "" && o.rv != "0" {
		n, err := strconv.ParseInt(o.rv, 10, 64)
		if err != nil || n < 0 {
			return o, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q: must be a decimal revision", o.rv))
		}
		o.fromRevision = n
	}
	// Legacy semantics: resourceVersion unset or "0" starts with the current state as ADDED events.
	o.initialEvents = o.rv == "" || o.rv == "0"
	if s := q.query("sendInitialEvents"); s != "" {
		o.sendInitialEvents = s == "true"
		o.initialEvents = o.sendInitialEvents
		if match != "NotOlderThan" {
			errs = append(errs, field.Forbidden(field.NewPath("resourceVersionMatch"), "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
		}
		if o.sendInitialEvents && !o.bookmarks {
			errs = append(errs, field.Forbidden(field.NewPath("allowWatchBookmarks"), "sendInitialEvents requires setting allowWatchBookmarks to true"))
		}
	} else if match != "" {
		errs = append(errs, field.Forbidden(field.NewPath("resourceVersionMatch"), "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))
	}
	if len(errs) > 0 {
		return o, apierrors.NewInvalid("meta.k8s.io", "ListOptions", "", errs)
	}
	if t := q.query("timeoutSeconds"); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 {
			return o, apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds %q", t))
		}
		o.timeout = time.Duration(n) * time.Second
	}
	if o.timeout == 0 {
		min := a.cfg.MinWatchTimeout
		o.timeout = min + time.Duration(rand.Int64N(int64(min)))
	}
	return o, nil
}

func joinSelector(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

// watchWriteTimeout bounds how long one event may take to reach a client: a client that stops reading
// is disconnected instead of holding its watch (and the store's events for it) forever.
const watchWriteTimeout = 30 * time.Second

// watchStream writes one watch response.
type watchStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	flusher http.Flusher
	res     *registry.Resource
	out     output
	// columnsSent: Table watches send columnDefinitions in the first event only.
	columnsSent bool
}

func (s *watchStream) send(typ metav1.WatchEventType, obj any) error {
	var raw []byte
	var err error
	if s.out.table && (typ == metav1.Added || typ == metav1.Modified || typ == metav1.Deleted) {
		o := obj.(metav1.Object)
		t := buildTable(s.res, []metav1.Object{o}, !s.columnsSent, s.out.includeObject)
		t.ListMeta.ResourceVersion = o.GetObjectMeta().ResourceVersion
		s.columnsSent = true
		raw, err = json.Marshal(t)
	} else {
		raw, err = json.Marshal(obj)
	}
	if err != nil {
		return err
	}
	line, err := json.Marshal(metav1.WatchEvent{Type: typ, Object: raw})
	if err != nil {
		return err
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(watchWriteTimeout))
	if _, err := s.w.Write(append(line, '\n')); err != nil {
		return err
	}
	s.flusher.Flush()
	return nil
}

// sendStored sends a storage event's value without decoding it; sent is false when the value is not in
// the registry's shape (the caller then decodes it).
func (s *watchStream) sendStored(ev storage.Event) (sent bool, err error) {
	var typ metav1.WatchEventType
	value := ev.KV.Value
	switch ev.Type {
	case storage.Added:
		typ = metav1.Added
	case storage.Modified:
		typ = metav1.Modified
	case storage.Deleted:
		typ = metav1.Deleted
		if value == nil {
			value = ev.PrevValue
		}
	default:
		return false, nil
	}
	data, ok := registry.WithResourceVersion(value, ev.KV.Revision)
	if !ok {
		return false, nil
	}
	line := make([]byte, 0, len(data)+32)
	line = append(line, `{"type":"`...)
	line = append(line, typ...)
	line = append(line, `","object":`...)
	line = append(line, data...)
	line = append(line, "}\n"...)
	_ = s.rc.SetWriteDeadline(time.Now().Add(watchWriteTimeout))
	if _, err := s.w.Write(line); err != nil {
		return true, err
	}
	s.flusher.Flush()
	return true, nil
}

// bookmark is the object of a BOOKMARK event: only kind, apiVersion and the revision.
func (s *watchStream) bookmark(rev int64, initialEnd bool) error {
	meta := map[string]any{"resourceVersion": strconv.FormatInt(rev, 10)}
	if initialEnd {
		meta["annotations"] = map[string]string{metav1.InitialEventsAnnotation: "true"}
	}
	return s.send(metav1.Bookmark, map[string]any{"kind": s.res.Kind, "apiVersion": s.res.APIVersion(), "metadata": meta})
}

func (a *API) watch(q *request) {
	o, err := a.watchOptions(q)
	if err != nil {
		q.fail(err)
		return
	}
	flusher, ok := q.w.(http.Flusher)
	if !ok {
		q.fail(apierrors.NewInternalError(errors.New("the response writer cannot stream")))
		return
	}
	ctx := q.r.Context()
	var initial []metav1.Object
	from := o.fromRevision
	if o.initialEvents {
		lopts := registry.ListOptions{AnyRevision: o.rv == "0", Revision: o.fromRevision}
		if !o.sel.empty() {
			lopts.Match = o.sel.matches
		}
		lr, err := a.reg.List(ctx, q.res, q.info.Namespace, lopts)
		if err != nil {
			q.fail(err)
			return
		}
		initial, from = lr.Items, lr.Revision
	} else if from > 0 {
		if err := a.waitForRevision(ctx, from); err != nil {
			q.fail(err)
			return
		}
	} else {
		rev, err := a.reg.Store().Revision(ctx)
		if err != nil {
			q.fail(err)
			return
		}
		from = rev
	}
	watcher, err := a.reg.Watch(ctx, q.res, q.info.Namespace, from)
	if err != nil {
		q.fail(err)
		return
	}
	defer watcher.Stop()

	a.cfg.Metrics.watchers.WithLabelValues(q.res.Plural).Inc()
	defer a.cfg.Metrics.watchers.WithLabelValues(q.res.Plural).Dec()

	h := q.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache, private")
	h.Set("X-Content-Type-Options", "nosniff")
	q.w.WriteHeader(http.StatusOK)
	flusher.Flush()

	s := &watchStream{w: q.w, rc: http.NewResponseController(q.w), flusher: flusher, res: q.res, out: q.out}
	for _, obj := range initial {
		if err := s.send(metav1.Added, obj); err != nil {
			return
		}
	}
	last := from
	if o.sendInitialEvents {
		if err := s.bookmark(last, true); err != nil {
			return
		}
	}

	timeout := time.NewTimer(o.timeout)
	defer timeout.Stop()
	var tick <-chan time.Time
	if o.bookmarks {
		t := time.NewTicker(a.cfg.BookmarkInterval)
		defer t.Stop()
		tick = t.C
	}
	lastBookmark := last
	raw := o.sel.empty() && !q.out.table
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.cfg.Stop.Done():
			return
		case <-timeout.C:
			return
		case <-tick:
			if last > lastBookmark || lastBookmark == from {
				if err := s.bookmark(last, false); err != nil {
					return
				}
				lastBookmark = last
			}
		case ev, ok := <-watcher.Events():
			if !ok {
				return
			}
			if ev.Type == storage.Error {
				a.sendWatchError(s, ev.Err)
				return
			}
			if ev.KV.Revision > last {
				last = ev.KV.Revision
			}
			if raw {
				// Without a selector or a Table, the stored JSON is sent as is, with its revision
				// spliced in: no per-watcher decoding.
				if sent, err := s.sendStored(ev); sent || err != nil {
					if err != nil {
						return
					}
					continue
				}
			}
			typ, obj := a.convertEvent(q.res, o.sel, ev)
			if obj == nil {
				continue
			}
			if err := s.send(typ, obj); err != nil {
				return
			}
		}
	}
}

// sendWatchError ends a watch with an ERROR event, except for a slow watcher, whose stream simply ends
// (the client re-watches from its last revision).
func (a *API) sendWatchError(s *watchStream, err error) {
	if errors.Is(err, storage.ErrTooSlow) {
		a.log.Debug("ending slow watcher", zap.String("resource", s.res.Plural))
		return
	}
	st := apierrors.ToStatus(err, apierrors.Target{Resource: s.res.GroupResource()})
	if errors.Is(err, storage.ErrExpired) {
		st = apierrors.NewExpired(expiredWatchMessage(err))
	}
	_ = s.send(metav1.Error, st)
}

func expiredWatchMessage(err error) string {
	msg := apierrors.ToStatus(err, apierrors.Target{}).Message
	if msg == "" {
		return "The resourceVersion for the provided watch is too old."
	}
	return msg
}

// convertEvent turns a storage event into a watch event for one selector, with the transitions
// Kubernetes defines: an object that stops matching is DELETED, one that starts matching is ADDED.
func (a *API) convertEvent(res *registry.Resource, sel *selector, ev storage.Event) (metav1.WatchEventType, metav1.Object) {
	decode := func(value []byte) metav1.Object {
		if value == nil {
			return nil
		}
		obj, err := res.DecodeValue(value, ev.KV.Revision)
		if err != nil {
			a.log.Warn("skipping undecodable object in watch", zap.String("key", ev.KV.Key), zap.Error(err))
			return nil
		}
		return obj
	}
	match := func(obj metav1.Object) bool { return obj != nil && (sel.empty() || sel.matches(obj)) }
	switch ev.Type {
	case storage.Added:
		if cur := decode(ev.KV.Value); match(cur) {
			return metav1.Added, cur
		}
	case storage.Modified:
		cur := decode(ev.KV.Value)
		if sel.empty() {
			if cur != nil {
				return metav1.Modified, cur
			}
			return "", nil
		}
		curOK := match(cur)
		if ev.PrevValue == nil {
			if curOK {
				return metav1.Modified, cur
			}
			return "", nil
		}
		prev := decode(ev.PrevValue)
		prevOK := match(prev)
		switch {
		case curOK && prevOK:
			return metav1.Modified, cur
		case curOK:
			return metav1.Added, cur
		case prevOK:
			return metav1.Deleted, prev
		}
	case storage.Deleted:
		value := ev.KV.Value
		if value == nil {
			value = ev.PrevValue
		}
		if obj := decode(value); match(obj) {
			return metav1.Deleted, obj
		}
	}
	return "", nil
}

// waitForRevision returns once etcd has reached revision rv. A watch from a resourceVersion the store
// has not reached (one from another etcd, or made up) waits up to TooLargeResourceVersionWait, as
// Kubernetes's watch cache does, then fails with 504 Timeout, cause ResourceVersionTooLarge.
func (a *API) waitForRevision(ctx context.Context, rv int64) error {
	deadline := time.Now().Add(a.cfg.TooLargeResourceVersionWait)
	for {
		cur, err := a.reg.Store().Revision(ctx)
		if err != nil {
			return err
		}
		if rv <= cur {
			return nil
		}
		if !time.Now().Before(deadline) {
			return apierrors.NewTooLargeResourceVersion(rv, cur)
		}
		select {
		case <-ctx.Done():
			return apierrors.NewTooLargeResourceVersion(rv, cur)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
