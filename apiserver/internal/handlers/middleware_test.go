package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.uber.org/zap"
)

func TestLimitShedsWith429(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	h := Limit(slow, Limits{MaxInflight: 1, MaxMutatingInflight: 1})
	var wg sync.WaitGroup
	for _, method := range []string{"GET", "POST"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, "/api/v1/namespaces/a/pods", nil))
		}()
		<-entered
	}
	tests := []struct {
		name, method, path string
		want               int
	}{
		{"a read over the read limit", "GET", "/api/v1/pods", 429},
		{"a write over the write limit", "DELETE", "/api/v1/namespaces/a/pods/x", 429},
		{"a watch is never limited", "GET", "/api/v1/pods?watch=true", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			done := make(chan struct{})
			go func() {
				h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
				close(done)
			}()
			if tc.want == 0 {
				<-entered // it reached the handler although the read slot is taken; released below
				wg.Add(1)
				go func() { <-done; wg.Done() }()
				return
			}
			<-done
			var st map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &st)
			if rec.Code != tc.want || st["reason"] != "TooManyRequests" || rec.Header().Get("Retry-After") != "1" {
				t.Fatalf("got %d %v Retry-After %q", rec.Code, st, rec.Header().Get("Retry-After"))
			}
		})
	}
	close(release)
	wg.Wait()
}

func TestInstrumentTurnsPanicsInto500(t *testing.T) {
	h := Instrument(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), NewMetrics(nil), zap.NewNop())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/pods", nil))
	var st map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || rec.Code != 500 || st["kind"] != "Status" || st["reason"] != "InternalError" {
		t.Fatalf("got %d %s", rec.Code, rec.Body.String())
	}
}
