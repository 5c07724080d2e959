package component

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServerEndpoints(t *testing.T) {
	s := NewServer("127.0.0.1:0", NewRegistry(), zap.NewNop())
	var notReady error = errors.New("caches not synced")
	s.AddReadyCheck(func() error { return notReady })
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	base := "http://" + s.Addr

	tests := []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/healthz", 200, "ok"},
		{"/livez", 200, "ok"},
		{"/readyz", 503, "caches not synced"},
		{"/metrics", 200, "go_goroutines"},
		{"/version", 200, `"minor":"32"`},
	}
	for _, tt := range tests {
		code, body := get(t, base+tt.path)
		if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.wantCode, tt.wantBody)
		}
	}
	notReady = nil
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d once ready, want 200", code)
	}
	_, body := get(t, base+"/version")
	var v map[string]string
	if err := json.Unmarshal([]byte(body), &v); err != nil || v["major"] != "1" {
		t.Errorf("/version is not the Kubernetes version document: %s (%v)", body, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestHealthCheckFailure(t *testing.T) {
	s := NewServer("127.0.0.1:0", NewRegistry(), zap.NewNop())
	s.AddHealthCheck(func() error { return errors.New("last sync too old") })
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		if code, body := get(t, "http://"+s.Addr+p); code != 503 || !strings.Contains(body, "last sync too old") {
			t.Errorf("GET %s = %d %q, want 503 naming the failed check", p, code, body)
		}
	}
}

func TestRunAllStopsEveryRunnableOnFirstError(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	err := RunAll(context.Background(),
		func(ctx context.Context) error { <-ctx.Done(); close(stopped); return ctx.Err() },
		func(context.Context) error { return boom },
	)
	if !errors.Is(err, boom) {
		t.Fatalf("RunAll = %v, want %v", err, boom)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the other runnable was not stopped")
	}
}

func TestNewLoggerRejectsUnknownFormat(t *testing.T) {
	tests := []struct {
		format  string
		wantErr bool
	}{{"json", false}, {"console", false}, {"", false}, {"xml", true}}
	for _, tt := range tests {
		_, err := NewLogger(LogOptions{Format: tt.format}, "test")
		if (err != nil) != tt.wantErr {
			t.Errorf("NewLogger(%q) error = %v, wantErr %v", tt.format, err, tt.wantErr)
		}
	}
}
