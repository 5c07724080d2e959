package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/internal/fakeapiserver"
)

// widget is a test-local API type shaped like every Skiff object.
type widget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              widgetSpec   `json:"spec,omitempty"`
	Status            widgetStatus `json:"status,omitempty"`
}

type widgetSpec struct {
	Size     int    `json:"size,omitempty"`
	NodeName string `json:"nodeName,omitempty"`
}

type widgetStatus struct {
	Phase string `json:"phase,omitempty"`
}

var widgets = client.ResourceInfo{Group: "example.skiff.dev", Version: "v1", Resource: "widgets", Kind: "Widget", Namespaced: true}

const widgetsGR = "widgets.example.skiff.dev"

func newWidget(ns, name string, size int) *widget {
	return &widget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "w"}}, Spec: widgetSpec{Size: size}}
}

func newClient(t *testing.T, server string) *client.Client {
	t.Helper()
	c, err := client.New(&client.Config{Server: server, QPS: -1})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return c
}

func setup(t *testing.T) (*fakeapiserver.Server, *client.Resource[widget]) {
	t.Helper()
	fake := fakeapiserver.New(t)
	return fake, client.NewResource[widget](newClient(t, fake.URL()), widgets)
}

func TestResourcePath(t *testing.T) {
	pods := client.ResourceInfo{Version: "v1", Resource: "pods", Namespaced: true}
	nodes := client.ResourceInfo{Version: "v1", Resource: "nodes"}
	deploys := client.ResourceInfo{Group: "apps", Version: "v1", Resource: "deployments", Namespaced: true}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"core namespaced collection", pods.Path("default", ""), "/api/v1/namespaces/default/pods"},
		{"core all namespaces", pods.Path("", ""), "/api/v1/pods"},
		{"core object", pods.Path("default", "web"), "/api/v1/namespaces/default/pods/web"},
		{"core subresource", pods.Path("default", "web", "binding"), "/api/v1/namespaces/default/pods/web/binding"},
		{"cluster-scoped ignores namespace", nodes.Path("default", "n1"), "/api/v1/nodes/n1"},
		{"group object", deploys.Path("ns1", "d1", "scale"), "/apis/apps/v1/namespaces/ns1/deployments/d1/scale"},
		{"names are escaped", pods.Path("default", "a b"), "/api/v1/namespaces/default/pods/a%20b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestCRUD(t *testing.T) {
	ctx := context.Background()
	fake, res := setup(t)

	created, err := res.Create(ctx, "default", newWidget("", "w1", 1), client.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.Namespace != "default" {
		t.Fatalf("create returned %+v, want uid, resourceVersion and namespace set", created.ObjectMeta)
	}
	if stored := fake.Get(widgetsGR, "default", "w1"); stored["kind"] != "Widget" || stored["apiVersion"] != "example.skiff.dev/v1" {
		t.Errorf("stored object has kind %v apiVersion %v, want the client to send Widget example.skiff.dev/v1", stored["kind"], stored["apiVersion"])
	}

	if _, err := res.Create(ctx, "default", newWidget("", "w1", 1), client.CreateOptions{}); !client.IsAlreadyExists(err) {
		t.Errorf("second create: got %v, want AlreadyExists", err)
	}

	got, err := res.Get(ctx, "default", "w1", client.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.Spec.Size != 1 || got.ResourceVersion != created.ResourceVersion {
		t.Errorf("get returned %+v", got)
	}

	if _, err := res.Create(ctx, "", newWidget("other", "w2", 2), client.CreateOptions{}); err != nil {
		t.Fatalf("create in the object's namespace: %v", err)
	}
	list, err := res.List(ctx, "", client.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list.Items) != 2 || list.ResourceVersion == "" {
		t.Fatalf("list across namespaces: got %d items rv %q, want 2 items and an rv", len(list.Items), list.ResourceVersion)
	}
	if list.Items[0].Kind != "Widget" || list.Items[0].APIVersion != "example.skiff.dev/v1" {
		t.Errorf("list items get kind and apiVersion filled in, got %q %q", list.Items[0].Kind, list.Items[0].APIVersion)
	}
	inNS, err := res.List(ctx, "other", client.ListOptions{})
	if err != nil || len(inNS.Items) != 1 || inNS.Items[0].Name != "w2" {
		t.Errorf("list in namespace other: %v %+v", err, inNS)
	}

	stale := *got
	got.Spec.Size = 3
	updated, err := res.Update(ctx, "", got, client.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if updated.Spec.Size != 3 || updated.ResourceVersion == got.ResourceVersion {
		t.Errorf("update returned size %d rv %s (old rv %s)", updated.Spec.Size, updated.ResourceVersion, got.ResourceVersion)
	}
	stale.Spec.Size = 4
	if _, err := res.Update(ctx, "", &stale, client.UpdateOptions{}); !client.IsConflict(err) {
		t.Errorf("update with stale resourceVersion: got %v, want Conflict", err)
	}

	updated.Status.Phase = "Ready"
	updated.Spec.Size = 99 // ignored by /status
	withStatus, err := res.UpdateStatus(ctx, "", updated, client.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if withStatus.Status.Phase != "Ready" || withStatus.Spec.Size != 3 {
		t.Errorf("update status: got phase %q size %d, want Ready and unchanged size 3", withStatus.Status.Phase, withStatus.Spec.Size)
	}

	patched, err := res.Patch(ctx, "default", "w1", client.MergePatchType, []byte(`{"spec":{"size":7}}`), client.PatchOptions{FieldManager: "test"})
	if err != nil {
		t.Fatalf("patch: %v", err)
	}
	if patched.Spec.Size != 7 || patched.Status.Phase != "Ready" {
		t.Errorf("patch: got %+v", patched)
	}
	if _, err := res.Patch(ctx, "default", "nope", client.MergePatchType, []byte(`{}`), client.PatchOptions{}); !client.IsNotFound(err) {
		t.Errorf("patch of a missing object: got %v, want NotFound", err)
	}

	if err := res.Delete(ctx, "default", "w1", &metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := res.Get(ctx, "default", "w1", client.GetOptions{}); !client.IsNotFound(err) {
		t.Errorf("get after delete: got %v, want NotFound", err)
	}
	if err := res.Delete(ctx, "default", "w1", nil); !client.IsNotFound(err) {
		t.Errorf("second delete: got %v, want NotFound", err)
	}

	if err := res.DeleteCollection(ctx, "other", nil, client.ListOptions{LabelSelector: "app=w"}); err != nil {
		t.Fatalf("delete collection: %v", err)
	}
	if left, _ := res.List(ctx, "", client.ListOptions{}); len(left.Items) != 0 {
		t.Errorf("after delete collection %d widgets are left", len(left.Items))
	}
}

func TestArgumentErrors(t *testing.T) {
	ctx := context.Background()
	_, res := setup(t)
	tests := []struct {
		name string
		call func() error
	}{
		{"create in a namespaced resource needs a namespace", func() error {
			_, err := res.Create(ctx, "", newWidget("", "x", 1), client.CreateOptions{})
			return err
		}},
		{"get needs a name", func() error { _, err := res.Get(ctx, "default", "", client.GetOptions{}); return err }},
		{"update needs a name", func() error {
			_, err := res.Update(ctx, "default", newWidget("default", "", 1), client.UpdateOptions{})
			return err
		}},
		{"server-side apply needs a field manager", func() error {
			_, err := res.Patch(ctx, "default", "x", client.ApplyPatchType, []byte("{}"), client.PatchOptions{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil {
				t.Error("got no error")
			}
		})
	}
}

func TestListAllFollowsContinue(t *testing.T) {
	ctx := context.Background()
	fake, res := setup(t)
	for i := 0; i < 7; i++ {
		fake.Put(widgetsGR, newWidget("default", fmt.Sprintf("w%d", i), i))
	}
	page, err := res.List(ctx, "default", client.ListOptions{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 3 || page.Continue == "" {
		t.Fatalf("first page: %d items, continue %q; want 3 and a token", len(page.Items), page.Continue)
	}
	all, err := res.ListAll(ctx, "default", client.ListOptions{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 7 || all.Continue != "" || all.ResourceVersion != page.ResourceVersion {
		t.Errorf("ListAll: %d items, continue %q, rv %q; want 7, none, %q", len(all.Items), all.Continue, all.ResourceVersion, page.ResourceVersion)
	}
}

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		name   string
		code   int
		reason string
		is     func(error) bool
		isNot  []func(error) bool
	}{
		{"404 NotFound", 404, "NotFound", client.IsNotFound, []func(error) bool{client.IsConflict, client.IsAlreadyExists}},
		{"409 AlreadyExists is not a Conflict", 409, "AlreadyExists", client.IsAlreadyExists, []func(error) bool{client.IsConflict}},
		{"409 Conflict is not AlreadyExists", 409, "Conflict", client.IsConflict, []func(error) bool{client.IsAlreadyExists}},
		{"422 Invalid", 422, "Invalid", client.IsInvalid, []func(error) bool{client.IsBadRequest}},
		{"410 Expired", 410, "Expired", client.IsGone, []func(error) bool{client.IsNotFound}},
		{"410 Expired is ResourceExpired", 410, "Expired", client.IsResourceExpired, nil},
		{"400 BadRequest", 400, "BadRequest", client.IsBadRequest, []func(error) bool{client.IsInvalid}},
		{"403 Forbidden", 403, "Forbidden", client.IsForbidden, []func(error) bool{client.IsUnauthorized}},
		{"401 Unauthorized", 401, "Unauthorized", client.IsUnauthorized, []func(error) bool{client.IsForbidden}},
		{"504 Timeout", 504, "Timeout", client.IsServerTimeout, nil},
		{"500 without a reason is an InternalError", 500, "", client.IsInternalError, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, res := setup(t)
			fake.FailNext(http.MethodPost, "/widgets", tt.code, tt.reason, 1, "")
			_, err := res.Create(context.Background(), "default", newWidget("", "x", 1), client.CreateOptions{})
			if err == nil {
				t.Fatal("got no error")
			}
			if !tt.is(err) {
				t.Errorf("%v: predicate is false", err)
			}
			for _, f := range tt.isNot {
				if f(err) {
					t.Errorf("%v: an unrelated predicate is true", err)
				}
			}
			wrapped := fmt.Errorf("reconciling: %w", err)
			var apiErr *client.APIError
			if !errors.As(wrapped, &apiErr) || apiErr.Code() != tt.code {
				t.Errorf("errors.As on a wrapped error: %v, code %v", apiErr, apiErr)
			}
			if !tt.is(wrapped) || client.CodeForError(wrapped) != tt.code {
				t.Errorf("predicates must see through wrapping")
			}
			if tt.reason != "" && string(client.ReasonForError(wrapped)) != tt.reason {
				t.Errorf("ReasonForError = %q, want %q", client.ReasonForError(wrapped), tt.reason)
			}
		})
	}
}

func TestInvalidCausesAreDecoded(t *testing.T) {
	_, res := setup(t)
	_, err := res.Create(context.Background(), "default", &widget{}, client.CreateOptions{})
	var apiErr *client.APIError
	if !client.IsInvalid(err) || !errors.As(err, &apiErr) {
		t.Fatalf("got %v, want Invalid", err)
	}
	if d := apiErr.Status.Details; d == nil || len(d.Causes) != 1 || d.Causes[0].Field != "metadata.name" {
		t.Errorf("details %+v, want one cause for metadata.name", apiErr.Status.Details)
	}
}

func TestNonStatusErrorBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html>bad gateway</html>")
	}))
	t.Cleanup(srv.Close)
	res := client.NewResource[widget](newClient(t, srv.URL), widgets)
	_, err := res.Get(context.Background(), "default", "x", client.GetOptions{})
	if client.CodeForError(err) != 502 {
		t.Fatalf("got %v (code %d), want an APIError with code 502", err, client.CodeForError(err))
	}
	if !strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), "bad gateway") {
		t.Errorf("message %q should name the code and the body", err)
	}
	if client.IsNotFound(err) || client.IsConflict(err) {
		t.Errorf("a 502 matched an unrelated predicate")
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name         string
		method       string
		code         int
		reason       string
		failures     int
		retryAfter   string
		wantErr      bool
		wantRequests int
	}{
		{"GET is retried on 503", http.MethodGet, 503, "ServiceUnavailable", 2, "", false, 3},
		{"GET is retried on 429 after Retry-After", http.MethodGet, 429, "TooManyRequests", 1, "0", false, 2},
		{"GET is not retried on 500", http.MethodGet, 500, "InternalError", 1, "", true, 1},
		{"GET gives up after bounded retries", http.MethodGet, 503, "ServiceUnavailable", 100, "0", true, 5},
		{"POST is never retried", http.MethodPost, 503, "ServiceUnavailable", 1, "0", true, 1},
		{"PATCH is never retried", http.MethodPatch, 429, "TooManyRequests", 1, "0", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			fake, res := setup(t)
			fake.Put(widgetsGR, newWidget("default", "w", 1))
			before := len(fake.Requests())
			fake.FailNext(tt.method, "/widgets", tt.code, tt.reason, tt.failures, tt.retryAfter)
			var err error
			switch tt.method {
			case http.MethodGet:
				_, err = res.Get(ctx, "default", "w", client.GetOptions{})
			case http.MethodPost:
				_, err = res.Create(ctx, "default", newWidget("", "new", 1), client.CreateOptions{})
			case http.MethodPatch:
				_, err = res.Patch(ctx, "default", "w", client.MergePatchType, []byte(`{}`), client.PatchOptions{})
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error: %v", err, tt.wantErr)
			}
			if n := len(fake.Requests()) - before; n != tt.wantRequests {
				t.Errorf("server saw %d requests, want %d", n, tt.wantRequests)
			}
		})
	}
}

func TestGetRetriesWhileServerRestarts(t *testing.T) {
	fake, res := setup(t)
	fake.Put(widgetsGR, newWidget("default", "w", 1))
	fake.Stop()
	_, err := res.Get(context.Background(), "default", "w", client.GetOptions{})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("get with the server down: got %v, want connection refused", err)
	}
	// Come back while the client is still inside its retry window (the first retries wait >= 50ms+100ms).
	go func() {
		time.Sleep(50 * time.Millisecond)
		fake.Start()
	}()
	if _, err := res.Get(context.Background(), "default", "w", client.GetOptions{}); err != nil {
		t.Fatalf("get across a restart: %v", err)
	}
}

func TestSubresources(t *testing.T) {
	ctx := context.Background()
	fake := fakeapiserver.New(t)
	c := newClient(t, fake.URL())
	pods := client.NewResource[widget](c, client.ResourceInfo{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true})
	fake.Put("pods", newWidget("default", "p1", 1))

	binding := map[string]any{"kind": "Binding", "apiVersion": "v1",
		"metadata": map[string]any{"name": "p1", "namespace": "default"}, "target": map[string]any{"kind": "Node", "name": "node1"}}
	var st metav1.Status
	if err := pods.CreateSubresource(ctx, "default", "p1", "binding", binding, &st); err != nil {
		t.Fatalf("binding: %v", err)
	}
	if st.Status != metav1.StatusSuccess {
		t.Errorf("binding answered %+v, want Success", st)
	}
	p, _ := pods.Get(ctx, "default", "p1", client.GetOptions{})
	if p.Spec.NodeName != "node1" {
		t.Errorf("after binding nodeName = %q", p.Spec.NodeName)
	}
	if err := pods.CreateSubresource(ctx, "default", "p1", "binding", binding, nil); !client.IsConflict(err) {
		t.Errorf("second binding: got %v, want Conflict", err)
	}

	var got widget
	if err := pods.GetSubresource(ctx, "default", "p1", "status", nil, &got); err != nil || got.Name != "p1" {
		t.Errorf("get status subresource: %v %+v", err, got)
	}

	rc, err := pods.StreamSubresource(ctx, "default", "p1", "log", url.Values{"tailLines": {"2"}, "follow": {"true"}})
	if err != nil {
		t.Fatalf("log: %v", err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	if string(b) != "p1 line 1\np1 line 2\n" {
		t.Errorf("log stream = %q", b)
	}
}

func TestRequestHeaders(t *testing.T) {
	var seen http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"kind":"Widget","apiVersion":"example.skiff.dev/v1","metadata":{"name":"x"}}`)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(&client.Config{Server: srv.URL, BearerToken: "s3cret", UserAgent: "skiff-test/1"})
	if err != nil {
		t.Fatal(err)
	}
	res := client.NewResource[widget](c, widgets)
	if _, err := res.Update(context.Background(), "default", newWidget("default", "x", 1), client.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{
		"Authorization": "Bearer s3cret", "User-Agent": "skiff-test/1",
		"Accept": "application/json", "Content-Type": "application/json",
	} {
		if got := seen.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

func TestRateLimiter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"metadata":{"name":"x"}}`)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(&client.Config{Server: srv.URL, QPS: 1, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	res := client.NewResource[widget](c, widgets)
	if _, err := res.Get(context.Background(), "default", "x", client.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	// The bucket is empty now; a request with a short deadline must fail waiting for a token.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := res.Get(ctx, "default", "x", client.GetOptions{}); err == nil || !strings.Contains(err.Error(), "rate limiter") {
		t.Errorf("second request within the same second: got %v, want a rate limiter error", err)
	}
}
