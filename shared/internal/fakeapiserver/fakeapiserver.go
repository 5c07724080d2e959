// Package fakeapiserver is a test double of Skiff's apiserver for the tests of shared/client,
// shared/informer and shared/leaderelection: an in-memory store behind a real HTTP server on loopback
// that speaks the wire format of K8S-API.md (paths, Status errors, resourceVersion preconditions,
// list+watch with bookmarks, 410 on compacted revisions, merge patches). Tests can compact history, drop
// watch streams, stop and restart the listener on the same port, and inject errors.
//
// It is not an apiserver: no validation, defaulting or admission, and selectors support only
// equality (=, ==, !=) terms.
package fakeapiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Object is a stored object in its JSON form.
type Object = map[string]any

type event struct {
	rev  int64
	typ  string
	gr   string
	ns   string
	obj  Object
	prev Object
}

type failure struct {
	method, pathContains string
	code                 int
	reason               string
	retryAfter           string
	count                int
}

// Server is the fake apiserver. Create it with New; it stops at the end of the test.
type Server struct {
	t    testing.TB
	addr string

	mu         sync.Mutex
	rev        int64
	compacted  int64
	objects    map[string]map[string]Object // gr -> ns/name -> object
	history    []event
	changed    chan struct{} // closed and replaced on every write
	dropWatch  chan struct{} // closed and replaced by DropWatches
	bookmark   chan struct{} // closed and replaced by Bookmark
	blockWatch bool
	failures   []*failure
	requests   []string
	srv        *http.Server
	ln         net.Listener
	uidSeq     int
}

// New starts the fake on a free loopback port.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		t:         t,
		objects:   map[string]map[string]Object{},
		changed:   make(chan struct{}),
		dropWatch: make(chan struct{}),
		bookmark:  make(chan struct{}),
		rev:       1,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake apiserver: listening: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

// URL returns the base URL ("http://127.0.0.1:port").
func (s *Server) URL() string { return "http://" + s.addr }

func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Stop closes the listener and every open connection; the port refuses connections until Start.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	// Wake watch handlers so their streams end.
	close(s.dropWatch)
	s.dropWatch = make(chan struct{})
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Start listens again on the same address after Stop, keeping the stored state.
func (s *Server) Start() {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		ln, err = net.Listen("tcp", s.addr)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("fake apiserver: listening again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// DropWatches ends every open watch stream cleanly (as a server does at timeoutSeconds).
func (s *Server) DropWatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.dropWatch)
	s.dropWatch = make(chan struct{})
}

// Bookmark makes every open watch that allowed bookmarks send a BOOKMARK at the current revision.
func (s *Server) Bookmark() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.bookmark)
	s.bookmark = make(chan struct{})
}

// BlockWatches, when on, drops open watches and answers new watch requests with 503.
func (s *Server) BlockWatches(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blockWatch = on
	if on {
		close(s.dropWatch)
		s.dropWatch = make(chan struct{})
	}
}

// Compact forgets all history up to the current revision: watches and exact reads from older revisions
// get 410 Expired, and open watches that had not yet seen every event end with an ERROR 410.
func (s *Server) Compact() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compacted = s.rev
	s.history = nil
	s.notify()
}

// Revision returns the current revision.
func (s *Server) Revision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev
}

// FailNext makes the next count requests whose method matches and whose path contains pathContains
// fail with code (and a Status with reason; Retry-After when retryAfter is not empty). pathContains is
// matched against the path and query ("watch=true" selects watches).
func (s *Server) FailNext(method, pathContains string, code int, reason string, count int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failure{method: method, pathContains: pathContains, code: code, reason: reason, count: count, retryAfter: retryAfter})
}

// Requests returns every request seen so far as "METHOD /path?query".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Put stores obj (any JSON-marshalable value) under resource gr ("pods", "leases.coordination.k8s.io")
// directly, as if written by another client, and returns the new resourceVersion.
func (s *Server) Put(gr string, obj any) string {
	s.t.Helper()
	m := toObject(s.t, obj)
	s.mu.Lock()
	defer s.mu.Unlock()
	ns, name := metaString(m, "namespace"), metaString(m, "name")
	prev := s.objects[gr][key(ns, name)]
	if prev == nil {
		s.setCreateMeta(m, ns)
	} else {
		meta(m)["uid"] = meta(prev)["uid"]
		meta(m)["creationTimestamp"] = meta(prev)["creationTimestamp"]
	}
	return s.write(gr, ns, name, m, prev)
}

// Remove deletes an object directly; it reports whether it existed.
func (s *Server) Remove(gr, ns, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.objects[gr][key(ns, name)]
	if prev == nil {
		return false
	}
	s.remove(gr, ns, name, prev)
	return true
}

// Get returns a stored object (nil if absent).
func (s *Server) Get(gr, ns, name string) Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clone(s.objects[gr][key(ns, name)])
}

func toObject(t testing.TB, obj any) Object {
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("fake apiserver: encoding object: %v", err)
	}
	var m Object
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("fake apiserver: decoding object: %v", err)
	}
	if m["metadata"] == nil {
		m["metadata"] = Object{}
	}
	return m
}

func key(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func meta(o Object) Object {
	m, _ := o["metadata"].(Object)
	if m == nil {
		m = Object{}
		o["metadata"] = m
	}
	return m
}

func metaString(o Object, field string) string {
	v, _ := meta(o)[field].(string)
	return v
}

func clone(o Object) Object {
	if o == nil {
		return nil
	}
	b, _ := json.Marshal(o)
	var c Object
	_ = json.Unmarshal(b, &c)
	return c
}

func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) setCreateMeta(m Object, ns string) {
	s.uidSeq++
	md := meta(m)
	md["uid"] = fmt.Sprintf("00000000-0000-0000-0000-%012d", s.uidSeq)
	md["creationTimestamp"] = time.Now().UTC().Format(time.RFC3339)
	if ns != "" {
		md["namespace"] = ns
	}
}

// write stores m at a new revision and records the event. Callers hold mu.
func (s *Server) write(gr, ns, name string, m, prev Object) string {
	s.rev++
	rv := strconv.FormatInt(s.rev, 10)
	meta(m)["resourceVersion"] = rv
	if s.objects[gr] == nil {
		s.objects[gr] = map[string]Object{}
	}
	s.objects[gr][key(ns, name)] = m
	typ := "MODIFIED"
	if prev == nil {
		typ = "ADDED"
	}
	s.history = append(s.history, event{rev: s.rev, typ: typ, gr: gr, ns: ns, obj: clone(m), prev: clone(prev)})
	s.notify()
	return rv
}

func (s *Server) remove(gr, ns, name string, prev Object) {
	s.rev++
	delete(s.objects[gr], key(ns, name))
	last := clone(prev)
	meta(last)["resourceVersion"] = strconv.FormatInt(s.rev, 10)
	s.history = append(s.history, event{rev: s.rev, typ: "DELETED", gr: gr, ns: ns, obj: last, prev: clone(prev)})
	s.notify()
}

// request is a parsed API path.
type request struct {
	group, version, resource, ns, name, sub string
	kind                                    string
}

func (r request) gr() string {
	if r.group == "" {
		return r.resource
	}
	return r.resource + "." + r.group
}

func (r request) apiVersion() string {
	if r.group == "" {
		return r.version
	}
	return r.group + "/" + r.version
}

func parsePath(p string) (request, bool) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	var r request
	switch {
	case len(segs) >= 3 && segs[0] == "api":
		r.version, segs = segs[1], segs[2:]
	case len(segs) >= 4 && segs[0] == "apis":
		r.group, r.version, segs = segs[1], segs[2], segs[3:]
	default:
		return r, false
	}
	if len(segs) >= 3 && segs[0] == "namespaces" {
		r.ns, segs = segs[1], segs[2:]
	}
	r.resource = segs[0]
	if len(segs) > 1 {
		r.name = segs[1]
	}
	if len(segs) > 2 {
		r.sub = strings.Join(segs[2:], "/")
	}
	return r, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func status(code int, reason, msg string, details Object) Object {
	st := Object{"kind": "Status", "apiVersion": "v1", "metadata": Object{}, "status": "Failure",
		"message": msg, "reason": reason, "code": code}
	if details != nil {
		st["details"] = details
	}
	return st
}

func (r request) what() string { return r.gr() }

func (s *Server) handle(w http.ResponseWriter, hr *http.Request) {
	q := hr.URL.Query()
	s.mu.Lock()
	s.requests = append(s.requests, hr.Method+" "+hr.URL.RequestURI())
	for _, f := range s.failures {
		if f.count > 0 && (f.method == "" || f.method == hr.Method) && strings.Contains(hr.URL.RequestURI(), f.pathContains) {
			f.count--
			s.mu.Unlock()
			if f.retryAfter != "" {
				w.Header().Set("Retry-After", f.retryAfter)
			}
			writeJSON(w, f.code, status(f.code, f.reason, "injected failure", nil))
			return
		}
	}
	s.mu.Unlock()

	if hr.Header.Get("Accept") != "" && !strings.Contains(hr.Header.Get("Accept"), "json") && !strings.Contains(hr.Header.Get("Accept"), "*/*") {
		writeJSON(w, 406, status(406, "NotAcceptable", "only application/json is served", nil))
		return
	}
	r, ok := parsePath(hr.URL.Path)
	if !ok {
		writeJSON(w, 404, status(404, "NotFound", "the server could not find the requested resource", nil))
		return
	}
	var body Object
	if hr.Method == http.MethodPost || hr.Method == http.MethodPut || hr.Method == http.MethodPatch {
		ct := hr.Header.Get("Content-Type")
		data, _ := io.ReadAll(hr.Body)
		if hr.Method != http.MethodPatch && ct != "application/json" {
			writeJSON(w, 415, status(415, "UnsupportedMediaType", "the body of the request was in an unknown format", nil))
			return
		}
		if err := json.Unmarshal(data, &body); err != nil {
			writeJSON(w, 400, status(400, "BadRequest", "the body could not be decoded: "+err.Error(), nil))
			return
		}
		if hr.Method == http.MethodPatch && ct != "application/merge-patch+json" && ct != "application/strategic-merge-patch+json" {
			writeJSON(w, 415, status(415, "UnsupportedMediaType", "the fake supports merge patches only", nil))
			return
		}
	}
	switch {
	case hr.Method == http.MethodGet && r.name == "" && (q.Get("watch") == "true" || q.Get("watch") == "1"):
		s.watch(w, hr, r)
	case hr.Method == http.MethodGet && r.name == "":
		s.list(w, hr, r)
	case hr.Method == http.MethodGet && r.sub == "log":
		s.log(w, hr, r)
	case hr.Method == http.MethodGet:
		s.get(w, r)
	case hr.Method == http.MethodPost && r.name == "":
		s.create(w, r, body)
	case hr.Method == http.MethodPost && r.sub != "":
		s.postSub(w, r, body)
	case hr.Method == http.MethodPut && r.name != "":
		s.update(w, r, body)
	case hr.Method == http.MethodPatch && r.name != "":
		s.patch(w, r, body)
	case hr.Method == http.MethodDelete && r.name != "":
		s.delete(w, r)
	case hr.Method == http.MethodDelete:
		s.deleteCollection(w, hr, r)
	default:
		writeJSON(w, 405, status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", nil))
	}
}

func (s *Server) notFound(w http.ResponseWriter, r request) {
	writeJSON(w, 404, status(404, "NotFound", fmt.Sprintf("%s %q not found", r.what(), r.name),
		Object{"name": r.name, "group": r.group, "kind": r.resource}))
}

func (s *Server) get(w http.ResponseWriter, r request) {
	s.mu.Lock()
	o := clone(s.objects[r.gr()][key(r.ns, r.name)])
	s.mu.Unlock()
	if o == nil {
		s.notFound(w, r)
		return
	}
	writeJSON(w, 200, o)
}

func (s *Server) create(w http.ResponseWriter, r request, body Object) {
	md := meta(body)
	if ns, _ := md["namespace"].(string); ns != "" && r.ns != "" && ns != r.ns {
		writeJSON(w, 400, status(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request", nil))
		return
	}
	name, _ := md["name"].(string)
	if name == "" {
		writeJSON(w, 422, status(422, "Invalid", fmt.Sprintf("%s \"\" is invalid: metadata.name: Required value", body["kind"]),
			Object{"kind": body["kind"], "causes": []Object{{"reason": "FieldValueRequired", "message": "Required value", "field": "metadata.name"}}}))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objects[r.gr()][key(r.ns, name)] != nil {
		writeJSON(w, 409, status(409, "AlreadyExists", fmt.Sprintf("%s %q already exists", r.what(), name),
			Object{"name": name, "group": r.group, "kind": r.resource}))
		return
	}
	delete(md, "resourceVersion")
	s.setCreateMeta(body, r.ns)
	s.write(r.gr(), r.ns, name, body, nil)
	writeJSON(w, 201, body)
}

func (s *Server) conflict(w http.ResponseWriter, r request, name string) {
	writeJSON(w, 409, status(409, "Conflict", fmt.Sprintf("Operation cannot be fulfilled on %s %q: the object has been modified; please apply your changes to the latest version and try again", r.what(), name),
		Object{"name": name, "group": r.group, "kind": r.resource}))
}

func (s *Server) update(w http.ResponseWriter, r request, body Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.objects[r.gr()][key(r.ns, r.name)]
	if cur == nil {
		writeJSON(w, 404, status(404, "NotFound", fmt.Sprintf("%s %q not found", r.what(), r.name), Object{"name": r.name, "kind": r.resource}))
		return
	}
	if rv := metaString(body, "resourceVersion"); rv != "" && rv != metaString(cur, "resourceVersion") {
		s.conflict(w, r, r.name)
		return
	}
	next := clone(body)
	switch r.sub {
	case "status":
		next = clone(cur)
		next["status"] = body["status"]
	case "":
		if st, ok := cur["status"]; ok {
			next["status"] = st
		} else {
			delete(next, "status")
		}
	default:
		writeJSON(w, 404, status(404, "NotFound", "the server could not find the requested resource", nil))
		return
	}
	meta(next)["uid"] = meta(cur)["uid"]
	meta(next)["creationTimestamp"] = meta(cur)["creationTimestamp"]
	meta(next)["namespace"] = meta(cur)["namespace"]
	if r.ns == "" {
		delete(meta(next), "namespace")
	}
	s.write(r.gr(), r.ns, r.name, next, cur)
	writeJSON(w, 200, next)
}

func mergePatch(target, patch Object) Object {
	if target == nil {
		target = Object{}
	}
	for k, v := range patch {
		if v == nil {
			delete(target, k)
			continue
		}
		if pm, ok := v.(Object); ok {
			tm, _ := target[k].(Object)
			target[k] = mergePatch(tm, pm)
			continue
		}
		target[k] = v
	}
	return target
}

func (s *Server) patch(w http.ResponseWriter, r request, body Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.objects[r.gr()][key(r.ns, r.name)]
	if cur == nil {
		writeJSON(w, 404, status(404, "NotFound", fmt.Sprintf("%s %q not found", r.what(), r.name), Object{"name": r.name, "kind": r.resource}))
		return
	}
	if rv := metaString(body, "resourceVersion"); rv != "" && rv != metaString(cur, "resourceVersion") {
		s.conflict(w, r, r.name)
		return
	}
	next := mergePatch(clone(cur), body)
	meta(next)["uid"] = meta(cur)["uid"]
	s.write(r.gr(), r.ns, r.name, next, cur)
	writeJSON(w, 200, next)
}

func (s *Server) delete(w http.ResponseWriter, r request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.objects[r.gr()][key(r.ns, r.name)]
	if cur == nil {
		s.notFound(w, r)
		return
	}
	s.remove(r.gr(), r.ns, r.name, cur)
	writeJSON(w, 200, Object{"kind": "Status", "apiVersion": "v1", "metadata": Object{}, "status": "Success",
		"details": Object{"name": r.name, "group": r.group, "kind": r.resource, "uid": metaString(cur, "uid")}})
}

func (s *Server) deleteCollection(w http.ResponseWriter, hr *http.Request, r request) {
	sel, err := parseSelectors(hr.URL.Query())
	if err != nil {
		writeJSON(w, 400, status(400, "BadRequest", err.Error(), nil))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.objects[r.gr()] {
		if r.ns != "" && metaString(o, "namespace") != r.ns {
			continue
		}
		if sel.matches(o) {
			s.remove(r.gr(), metaString(o, "namespace"), metaString(o, "name"), o)
		}
	}
	writeJSON(w, 200, Object{"kind": "Status", "apiVersion": "v1", "metadata": Object{}, "status": "Success"})
}

func (s *Server) postSub(w http.ResponseWriter, r request, body Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.objects[r.gr()][key(r.ns, r.name)]
	if cur == nil {
		s.notFound(w, r)
		return
	}
	if r.sub != "binding" {
		writeJSON(w, 404, status(404, "NotFound", "the server could not find the requested resource", nil))
		return
	}
	target, _ := body["target"].(Object)
	node, _ := target["name"].(string)
	spec, _ := cur["spec"].(Object)
	if spec == nil {
		spec = Object{}
	}
	if n, _ := spec["nodeName"].(string); n != "" {
		writeJSON(w, 409, status(409, "Conflict", fmt.Sprintf("Operation cannot be fulfilled on pods/binding %q: pod %s is already assigned to node %q", r.name, r.name, n), nil))
		return
	}
	next := clone(cur)
	spec = clone(spec)
	spec["nodeName"] = node
	next["spec"] = spec
	s.write(r.gr(), r.ns, r.name, next, cur)
	writeJSON(w, 201, Object{"kind": "Status", "apiVersion": "v1", "metadata": Object{}, "status": "Success", "code": 201})
}

func (s *Server) log(w http.ResponseWriter, hr *http.Request, r request) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	n, _ := strconv.Atoi(hr.URL.Query().Get("tailLines"))
	if n == 0 {
		n = 3
	}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, "%s line %d\n", r.name, i)
		if fl != nil {
			fl.Flush()
		}
	}
}

// selector is a conjunction of equality terms on labels and fields.
type selector struct {
	labels []term
	fields []term
}

type term struct {
	key, value string
	not        bool
}

func parseTerms(s string) ([]term, error) {
	var out []term
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		var t term
		switch {
		case strings.Contains(part, "!="):
			kv := strings.SplitN(part, "!=", 2)
			t = term{key: kv[0], value: kv[1], not: true}
		case strings.Contains(part, "=="):
			kv := strings.SplitN(part, "==", 2)
			t = term{key: kv[0], value: kv[1]}
		case strings.Contains(part, "="):
			kv := strings.SplitN(part, "=", 2)
			t = term{key: kv[0], value: kv[1]}
		default:
			return nil, fmt.Errorf("unable to parse requirement: %q", part)
		}
		out = append(out, t)
	}
	return out, nil
}

func parseSelectors(q map[string][]string) (selector, error) {
	var sel selector
	var err error
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if sel.labels, err = parseTerms(get("labelSelector")); err != nil {
		return sel, err
	}
	if sel.fields, err = parseTerms(get("fieldSelector")); err != nil {
		return sel, err
	}
	return sel, nil
}

func fieldValue(o Object, path string) string {
	var cur any = o
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(Object)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	s, _ := cur.(string)
	return s
}

func (sel selector) matches(o Object) bool {
	if o == nil {
		return false
	}
	labels, _ := meta(o)["labels"].(Object)
	for _, t := range sel.labels {
		v, _ := labels[t.key].(string)
		if (v == t.value) == t.not {
			return false
		}
	}
	for _, t := range sel.fields {
		if (fieldValue(o, t.key) == t.value) == t.not {
			return false
		}
	}
	return true
}

func (s *Server) list(w http.ResponseWriter, hr *http.Request, r request) {
	q := hr.URL.Query()
	sel, err := parseSelectors(q)
	if err != nil {
		writeJSON(w, 400, status(400, "BadRequest", err.Error(), nil))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rv := q.Get("resourceVersion"); rv != "" && rv != "0" && q.Get("resourceVersionMatch") == "Exact" {
		n, _ := strconv.ParseInt(rv, 10, 64)
		if n < s.compacted {
			writeJSON(w, 410, status(410, "Expired", fmt.Sprintf("too old resource version: %d (%d)", n, s.compacted), nil))
			return
		}
	}
	var items []Object
	for _, o := range s.objects[r.gr()] {
		if r.ns != "" && metaString(o, "namespace") != r.ns {
			continue
		}
		if sel.matches(o) {
			items = append(items, clone(o))
		}
	}
	sort.Slice(items, func(i, j int) bool {
		return key(metaString(items[i], "namespace"), metaString(items[i], "name")) <
			key(metaString(items[j], "namespace"), metaString(items[j], "name"))
	})
	listRV := strconv.FormatInt(s.rev, 10)
	lm := Object{"resourceVersion": listRV}
	// Pagination: the continue token is "<snapshot rev>:<offset>"; the fake serves later pages from the
	// current state, which is good enough for tests that don't write while paging.
	offset := 0
	if c := q.Get("continue"); c != "" {
		parts := strings.SplitN(c, ":", 2)
		snap, _ := strconv.ParseInt(parts[0], 10, 64)
		if len(parts) != 2 || snap < s.compacted {
			writeJSON(w, 410, status(410, "Expired", "The provided continue parameter is too old to display a consistent list result.", nil))
			return
		}
		offset, _ = strconv.Atoi(parts[1])
		lm["resourceVersion"] = parts[0]
	}
	if offset > len(items) {
		offset = len(items)
	}
	items = items[offset:]
	if limit, _ := strconv.Atoi(q.Get("limit")); limit > 0 && len(items) > limit {
		items = items[:limit]
		lm["continue"] = fmt.Sprintf("%s:%d", lm["resourceVersion"], offset+limit)
	}
	for _, it := range items {
		// The real server leaves kind and apiVersion off list items.
		delete(it, "kind")
		delete(it, "apiVersion")
	}
	if items == nil {
		items = []Object{}
	}
	kind := strings.TrimSuffix(strings.ToUpper(r.resource[:1])+r.resource[1:], "s") + "List"
	writeJSON(w, 200, Object{"kind": kind, "apiVersion": r.apiVersion(), "metadata": lm, "items": items})
}

func (s *Server) watch(w http.ResponseWriter, hr *http.Request, r request) {
	q := hr.URL.Query()
	sel, err := parseSelectors(q)
	if err != nil {
		writeJSON(w, 400, status(400, "BadRequest", err.Error(), nil))
		return
	}
	if q.Get("sendInitialEvents") != "" {
		writeJSON(w, 422, status(422, "Invalid", "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled", nil))
		return
	}
	s.mu.Lock()
	if s.blockWatch {
		s.mu.Unlock()
		writeJSON(w, 503, status(503, "ServiceUnavailable", "watches are blocked", nil))
		return
	}
	drop := s.dropWatch
	var timeout <-chan time.Time
	if ts, _ := strconv.Atoi(q.Get("timeoutSeconds")); ts > 0 {
		timeout = time.After(time.Duration(ts) * time.Second)
	}
	bookmarks := q.Get("allowWatchBookmarks") == "true"
	var pending []event
	cursor := s.rev
	switch rv := q.Get("resourceVersion"); rv {
	case "", "0":
		var keys []string
		for k := range s.objects[r.gr()] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			o := s.objects[r.gr()][k]
			if r.ns != "" && metaString(o, "namespace") != r.ns {
				continue
			}
			pending = append(pending, event{typ: "ADDED", obj: clone(o)})
		}
	default:
		n, err := strconv.ParseInt(rv, 10, 64)
		if err != nil {
			s.mu.Unlock()
			writeJSON(w, 400, status(400, "BadRequest", fmt.Sprintf("invalid resourceVersion %q", rv), nil))
			return
		}
		cursor = n
	}
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	enc := json.NewEncoder(w)
	send := func(typ string, obj Object) bool {
		if obj != nil && typ != "ERROR" {
			obj["kind"] = strings.TrimSuffix(strings.ToUpper(r.resource[:1])+r.resource[1:], "s")
			obj["apiVersion"] = r.apiVersion()
		}
		if err := enc.Encode(Object{"type": typ, "object": obj}); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	for _, ev := range pending {
		if sel.matches(ev.obj) && !send(ev.typ, ev.obj) {
			return
		}
	}
	for {
		s.mu.Lock()
		if cursor < s.compacted {
			s.mu.Unlock()
			send("ERROR", status(410, "Expired", fmt.Sprintf("too old resource version: %d (%d)", cursor, s.compacted), nil))
			return
		}
		var batch []event
		for _, ev := range s.history {
			if ev.rev > cursor && ev.gr == r.gr() && (r.ns == "" || ev.ns == r.ns) {
				batch = append(batch, ev)
			}
		}
		changed, bm := s.changed, s.bookmark
		rev := s.rev
		s.mu.Unlock()
		for _, ev := range batch {
			cursor = ev.rev
			now, before := sel.matches(ev.obj), sel.matches(ev.prev)
			typ := ev.typ
			switch {
			case ev.typ == "DELETED":
				now = before
			case ev.typ == "MODIFIED" && now && !before:
				typ = "ADDED"
			case ev.typ == "MODIFIED" && !now && before:
				typ, now = "DELETED", true
				last := clone(ev.prev)
				meta(last)["resourceVersion"] = metaString(ev.obj, "resourceVersion")
				ev.obj = last
			}
			if now && !send(typ, clone(ev.obj)) {
				return
			}
		}
		// Every event up to rev has been sent: the watch is at rev (compacting up to it does not hurt it).
		cursor = rev
		select {
		case <-bm:
			if bookmarks && !send("BOOKMARK", Object{"metadata": Object{"resourceVersion": strconv.FormatInt(cursor, 10)}}) {
				return
			}
		case <-changed:
		case <-drop:
			return
		case <-timeout:
			return
		case <-hr.Context().Done():
			return
		}
	}
}
