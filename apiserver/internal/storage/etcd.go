package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// etcdStore is the Store over one etcd client, embedded or external.
type etcdStore struct {
	cfg      Config
	log      *zap.Logger
	client   *clientv3.Client
	embedded *embeddedEtcd // nil with external etcd
	metrics  *metrics

	ctx    context.Context // ended by Close; parent of the watch cache and compactor
	cancel context.CancelFunc
	wg     sync.WaitGroup

	watchSeq atomic.Int64 // numbers the etcd watch streams

	mu       sync.Mutex
	caches   map[string]*watchCache // by resource prefix
	closed   bool
	fatalErr error // the embedded etcd's fatal error, reported by Healthy
}

// NewEtcd opens the etcd-backed Store. With cfg.Endpoints it connects to that etcd cluster; without, it
// starts etcd embedded in cfg.DataDir (loopback listeners only) and stops it on Close. It returns when
// etcd answers, or with an error (wrapping ErrUnavailable if etcd cannot be reached).
func NewEtcd(ctx context.Context, cfg Config) (Store, error) {
	cfg = cfg.withDefaults()
	log := cfg.Logger.Named("storage")
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &etcdStore{cfg: cfg, log: log, metrics: m, caches: map[string]*watchCache{}}
	endpoints := cfg.Endpoints
	if len(endpoints) == 0 {
		s.embedded, err = startEmbedded(ctx, cfg, cfg.Logger)
		if err != nil {
			return nil, err
		}
		endpoints = []string{s.embedded.clientURL}
	}
	s.client, err = clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
		Context:              context.WithoutCancel(ctx),
		Logger:               quieter(cfg.Logger.Named("etcd-client")),
	})
	if err != nil {
		s.closeEmbedded()
		return nil, fmt.Errorf("connecting to etcd %v: %w: %w", endpoints, ErrUnavailable, err)
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := s.Healthy(ctx); err != nil {
		s.cancel()
		_ = s.client.Close()
		s.closeEmbedded()
		return nil, fmt.Errorf("connecting to etcd %v: %w", endpoints, err)
	}
	if s.embedded != nil {
		s.wg.Add(1)
		go s.forwardEmbeddedErrors()
	}
	s.wg.Add(1)
	go s.progressLoop()
	if cfg.CompactionInterval > 0 {
		s.wg.Add(1)
		go s.compactLoop()
	}
	log.Info("storage ready", zap.Strings("endpoints", endpoints), zap.Bool("embedded", s.embedded != nil))
	return s, nil
}

// forwardEmbeddedErrors logs a fatal error of the embedded etcd and makes Healthy report it.
func (s *etcdStore) forwardEmbeddedErrors() {
	defer s.wg.Done()
	select {
	case err, ok := <-s.embedded.etcd.Err():
		if !ok || err == nil {
			return
		}
		s.log.Error("embedded etcd failed", zap.Error(err))
		s.mu.Lock()
		s.fatalErr = err
		s.mu.Unlock()
	case <-s.ctx.Done():
	}
}

func (s *etcdStore) closeEmbedded() {
	if s.embedded != nil {
		s.embedded.close()
	}
}

// Close stops the watch cache (ending every watcher), then the etcd client, then the embedded etcd.
func (s *etcdStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	caches := s.caches
	s.caches = map[string]*watchCache{}
	s.mu.Unlock()

	s.cancel()
	for _, c := range caches {
		c.stop()
	}
	s.wg.Wait()
	err := s.client.Close()
	s.closeEmbedded()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("closing etcd client: %w", err)
	}
	return nil
}

// op runs one etcd request under the request timeout and records its latency.
func (s *etcdStore) op(ctx context.Context, operation string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	start := time.Now()
	err := f(ctx)
	s.metrics.requestDuration.WithLabelValues(operation).Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.requestErrors.WithLabelValues(operation).Inc()
		return classify(ctx, err)
	}
	return nil
}

// classify maps an etcd client error to the store's error classes, keeping the original in the chain.
func classify(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("%w: %w", ErrExpired, err)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("%w: %w", ErrTooLargeRevision, err)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return err // the caller gave up
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrTimeout),
		errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail), errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost),
		errors.Is(err, rpctypes.ErrLeaderChanged), errors.Is(err, rpctypes.ErrStopped),
		errors.Is(err, rpctypes.ErrNotCapable), errors.Is(err, rpctypes.ErrGRPCNoSpace),
		errors.Is(err, clientv3.ErrNoAvailableEndpoints):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted, codes.Aborted:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return err
}

func kvFrom(kv *mvccpb.KeyValue) KV {
	return KV{Key: string(kv.Key), Value: kv.Value, Revision: kv.ModRevision, CreateRevision: kv.CreateRevision}
}

// Create stores value at key if the key does not exist.
func (s *etcdStore) Create(ctx context.Context, key string, value []byte) (KV, error) {
	var resp *clientv3.TxnResponse
	err := s.op(ctx, "create", func(ctx context.Context) (err error) {
		resp, err = s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, string(value))).
			Commit()
		return err
	})
	if err != nil {
		return KV{}, fmt.Errorf("creating %s: %w", key, err)
	}
	if !resp.Succeeded {
		return KV{}, fmt.Errorf("creating %s: %w", key, ErrAlreadyExists)
	}
	rev := resp.Header.Revision
	return KV{Key: key, Value: value, Revision: rev, CreateRevision: rev}, nil
}

// Get reads the latest value of key with a linearizable read.
func (s *etcdStore) Get(ctx context.Context, key string) (KV, error) {
	kv, err := s.get(ctx, key)
	if err != nil {
		return KV{}, fmt.Errorf("getting %s: %w", key, err)
	}
	return kv, nil
}

func (s *etcdStore) get(ctx context.Context, key string) (KV, error) {
	var resp *clientv3.GetResponse
	err := s.op(ctx, "get", func(ctx context.Context) (err error) {
		resp, err = s.client.Get(ctx, key)
		return err
	})
	if err != nil {
		return KV{}, err
	}
	if len(resp.Kvs) == 0 {
		return KV{}, ErrNotFound
	}
	return kvFrom(resp.Kvs[0]), nil
}

// Update is a read-modify-write loop: each attempt writes only if the key's mod revision is still the
// one tryUpdate saw. When tryUpdate returns the stored bytes unchanged, nothing is written and the
// current KV is returned (its revision does not move), as Kubernetes does for no-op updates.
func (s *etcdStore) Update(ctx context.Context, key string, precondition int64, tryUpdate func(cur KV) ([]byte, error)) (KV, error) {
	cur, err := s.get(ctx, key)
	if err != nil {
		return KV{}, fmt.Errorf("updating %s: %w", key, err)
	}
	for {
		if precondition > 0 && cur.Revision != precondition {
			return KV{}, fmt.Errorf("updating %s: revision is %d, not %d: %w", key, cur.Revision, precondition, ErrConflict)
		}
		value, err := tryUpdate(cur)
		if err != nil {
			return KV{}, err
		}
		if bytes.Equal(value, cur.Value) {
			return cur, nil
		}
		var resp *clientv3.TxnResponse
		err = s.op(ctx, "update", func(ctx context.Context) (err error) {
			resp, err = s.client.Txn(ctx).
				If(clientv3.Compare(clientv3.ModRevision(key), "=", cur.Revision)).
				Then(clientv3.OpPut(key, string(value))).
				Else(clientv3.OpGet(key)).
				Commit()
			return err
		})
		if err != nil {
			return KV{}, fmt.Errorf("updating %s: %w", key, err)
		}
		if resp.Succeeded {
			return KV{Key: key, Value: value, Revision: resp.Header.Revision, CreateRevision: cur.CreateRevision}, nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return KV{}, fmt.Errorf("updating %s: deleted meanwhile: %w", key, ErrNotFound)
		}
		cur = kvFrom(kvs[0])
		if err := ctx.Err(); err != nil {
			return KV{}, fmt.Errorf("updating %s: %w", key, err)
		}
	}
}

// Delete removes key when the precondition and check accept its current value, retrying if the key
// changes between the read and the delete.
func (s *etcdStore) Delete(ctx context.Context, key string, precondition int64, check func(cur KV) error) (KV, error) {
	cur, err := s.get(ctx, key)
	if err != nil {
		return KV{}, fmt.Errorf("deleting %s: %w", key, err)
	}
	for {
		if precondition > 0 && cur.Revision != precondition {
			return KV{}, fmt.Errorf("deleting %s: revision is %d, not %d: %w", key, cur.Revision, precondition, ErrConflict)
		}
		if check != nil {
			if err := check(cur); err != nil {
				return KV{}, err
			}
		}
		var resp *clientv3.TxnResponse
		err = s.op(ctx, "delete", func(ctx context.Context) (err error) {
			resp, err = s.client.Txn(ctx).
				If(clientv3.Compare(clientv3.ModRevision(key), "=", cur.Revision)).
				Then(clientv3.OpDelete(key)).
				Else(clientv3.OpGet(key)).
				Commit()
			return err
		})
		if err != nil {
			return KV{}, fmt.Errorf("deleting %s: %w", key, err)
		}
		if resp.Succeeded {
			cur.Revision = resp.Header.Revision
			return cur, nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return KV{}, fmt.Errorf("deleting %s: deleted meanwhile: %w", key, ErrNotFound)
		}
		cur = kvFrom(kvs[0])
		if err := ctx.Err(); err != nil {
			return KV{}, fmt.Errorf("deleting %s: %w", key, err)
		}
	}
}

// Revision returns etcd's current revision (a linearizable read).
func (s *etcdStore) Revision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.op(ctx, "revision", func(ctx context.Context) error {
		resp, err := s.client.Get(ctx, compactRevKey, clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		rev = resp.Header.Revision
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reading the current revision: %w", err)
	}
	return rev, nil
}

// Healthy makes a linearizable read with a short timeout: it fails when etcd has no leader or cannot be
// reached.
func (s *etcdStore) Healthy(ctx context.Context) error {
	s.mu.Lock()
	fatal := s.fatalErr
	s.mu.Unlock()
	if fatal != nil {
		return fmt.Errorf("embedded etcd failed: %w: %w", ErrUnavailable, fatal)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := s.client.Get(ctx, "health", clientv3.WithCountOnly())
	s.metrics.requestDuration.WithLabelValues("health").Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.requestErrors.WithLabelValues("health").Inc()
		err = classify(ctx, err)
		if !errors.Is(err, ErrUnavailable) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return fmt.Errorf("etcd health check: %w", err)
	}
	return nil
}
