package storage

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/zap/zapcore"
)

const warnLevel = zapcore.WarnLevel

func TestCreateGetUpdateDelete(t *testing.T) {
	s := newTestStore(t)
	ctx := testCtx(t)
	kv := mustCreate(t, s, "/registry/pods/default/a", "v1")
	if kv.Revision == 0 || kv.CreateRevision != kv.Revision {
		t.Fatalf("create returned %+v", kv)
	}
	if _, err := s.Create(ctx, "/registry/pods/default/a", []byte("v2")); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("duplicate create: got %v, want ErrAlreadyExists", err)
	}
	got, err := s.Get(ctx, "/registry/pods/default/a")
	if err != nil || string(got.Value) != "v1" || got.Revision != kv.Revision {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.Get(ctx, "/registry/pods/default/missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: got %v, want ErrNotFound", err)
	}
	up, err := s.Update(ctx, "/registry/pods/default/a", kv.Revision, func(cur KV) ([]byte, error) { return []byte("v2"), nil })
	if err != nil || up.Revision <= kv.Revision || up.CreateRevision != kv.Revision {
		t.Fatalf("update: %+v %v", up, err)
	}
	if _, err := s.Update(ctx, "/registry/pods/default/a", kv.Revision, func(cur KV) ([]byte, error) { return []byte("v3"), nil }); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: got %v, want ErrConflict", err)
	}
	if _, err := s.Delete(ctx, "/registry/pods/default/a", kv.Revision, nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale delete: got %v, want ErrConflict", err)
	}
	del, err := s.Delete(ctx, "/registry/pods/default/a", up.Revision, nil)
	if err != nil || string(del.Value) != "v2" || del.Revision <= up.Revision {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := s.Get(ctx, "/registry/pods/default/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: got %v", err)
	}
	res, err := s.List(ctx, "/registry/pods/", ListOptions{})
	if err != nil || len(res.Items) != 0 || res.Revision < del.Revision {
		t.Fatalf("list: %+v %v", res, err)
	}
	w, err := s.Watch(ctx, "/registry/pods/", kv.Revision-1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	evs := collect(t, w, 3)
	if evs[0].Type != Added || evs[1].Type != Modified || evs[2].Type != Deleted {
		t.Fatalf("events %+v", evs)
	}
	_ = context.Background
}
