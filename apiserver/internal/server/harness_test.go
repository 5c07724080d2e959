package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/skiffhq/skiff/shared/component"
)

// testServer is a real apiserver on a free loopback port over an embedded etcd in a temporary directory.
type testServer struct {
	*Server
	url    string
	cancel context.CancelFunc
	done   chan error
}

// startServer starts an apiserver on dataDir; mods adjust its Config.
func startServer(t testing.TB, dataDir string, mods ...func(*Config)) *testServer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Port = 0
	cfg.DataDir = dataDir
	cfg.UnsafeNoFsync = true
	cfg.EtcdCompactionInterval = 0
	for _, m := range mods {
		m(&cfg)
	}
	log := zap.NewNop()
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		log, _ = zap.NewDevelopment()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := New(ctx, cfg, log, component.NewRegistry())
	if err != nil {
		t.Fatalf("starting apiserver: %v", err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatalf("listening: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	ts := &testServer{Server: srv, url: srv.URL(), cancel: stop, done: make(chan error, 1)}
	go func() { ts.done <- srv.Run(runCtx) }()
	return ts
}

// stop shuts the server down and waits for it.
func (ts *testServer) stop(t testing.TB) {
	t.Helper()
	ts.cancel()
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("apiserver stopped with: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("apiserver did not stop within 30s")
	}
}

var (
	sharedOnce sync.Once
	shared     *testServer
	sharedDir  string
)

// sharedServer is one apiserver for the tests that do not need their own; each test uses its own
// namespace.
func sharedServer(t testing.TB) *testServer {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "skiff-apiserver-test-")
		if err != nil {
			t.Fatalf("temp dir: %v", err)
		}
		sharedDir = dir
		shared = startServer(t, dir, func(c *Config) {
			c.BookmarkInterval = 200 * time.Millisecond
			c.TooLargeResourceVersionWait = 500 * time.Millisecond
		})
	})
	if shared == nil {
		t.Fatal("the shared apiserver failed to start")
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.cancel()
		<-shared.done
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// response is one HTTP answer.
type response struct {
	code   int
	body   []byte
	header http.Header
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decoding %q: %v", truncate(r.body), err)
	}
	return m
}

func truncate(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

// req sends one request. body may be nil, a string, []byte or any value (encoded as JSON).
func (ts *testServer) req(t testing.TB, method, path, contentType string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encoding body: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	r, err := http.NewRequest(method, ts.url+path, rd)
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s %s: %v", method, path, err)
	}
	return response{code: resp.StatusCode, body: data, header: resp.Header}
}

// must sends a request and fails unless the answer has the wanted code.
func (ts *testServer) must(t testing.TB, want int, method, path, contentType string, body any) map[string]any {
	t.Helper()
	r := ts.req(t, method, path, contentType, body)
	if r.code != want {
		t.Fatalf("%s %s: got %d, want %d: %s", method, path, r.code, want, truncate(r.body))
	}
	if len(bytes.TrimSpace(r.body)) == 0 {
		return nil
	}
	return r.json(t)
}

const jsonCT = "application/json"

// namespace creates a fresh namespace for one test.
func (ts *testServer) namespace(t testing.TB, name string) string {
	t.Helper()
	ts.must(t, http.StatusCreated, "POST", "/api/v1/namespaces", jsonCT, map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}})
	return name
}

func configMap(name string, data map[string]string, labels map[string]string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "labels": labels}, "data": data}
}

func pod(name string, labels map[string]string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "labels": labels},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "c", "image": "busybox"}}}}
}

func deployment(name string, replicas int) map[string]any {
	return map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"replicas": replicas,
			"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": name}},
				"spec": map[string]any{"containers": []any{
					map[string]any{"name": "c", "image": "busybox", "env": []any{map[string]any{"name": "A", "value": "1"}}},
					map[string]any{"name": "d", "image": "nginx"},
				}},
			},
		}}
}

// str reads a string at a dotted path of a decoded document.
func str(doc map[string]any, path string) string {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[k]
	}
	switch v := cur.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// eventually polls cond until it holds or the deadline passes, reporting what it saw last.
func eventually(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, seen := cond()
		if ok {
			return
		}
		last = seen
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("waited %s for %s; last saw: %s", timeout, what, last)
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
