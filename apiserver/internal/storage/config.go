package storage

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Config says which etcd to use and how the store behaves. The zero value (plus a DataDir) is a working
// embedded store.
type Config struct {
	// Endpoints are the client URLs of an external etcd cluster. Empty means run etcd embedded in DataDir.
	Endpoints []string
	// DataDir is the embedded etcd's data directory (required when Endpoints is empty).
	DataDir string
	// ListenClientURL and ListenPeerURL fix the embedded etcd's listeners (for example
	// "http://127.0.0.1:2379"). Empty means a free loopback port chosen at start, so that several stores
	// on one machine never collide.
	ListenClientURL string
	ListenPeerURL   string
	// UnsafeNoFsync turns off fsync in the embedded etcd (tests only: a crash loses acknowledged writes).
	UnsafeNoFsync bool

	// DialTimeout bounds connecting to etcd (default 5s); RequestTimeout bounds each etcd request
	// (default 10s). A request that runs out of time fails with ErrUnavailable.
	DialTimeout    time.Duration
	RequestTimeout time.Duration
	// StartTimeout bounds the embedded etcd's start-up (default 60s).
	StartTimeout time.Duration

	// CompactionInterval is how often the store compacts etcd, Kubernetes-style: each cycle compacts to
	// the revision seen by the previous cycle, so 1-2 intervals of history survive (default 5m; negative
	// turns compaction off, for example when another apiserver or etcd itself compacts).
	CompactionInterval time.Duration

	// WatchCacheSize is how many recent events the watch cache keeps per resource prefix (default
	// 10000). A watch from a revision inside that window is served from memory.
	WatchCacheSize int
	// WatcherBuffer is how many events may queue for one watcher before it is ended with ErrTooSlow
	// (default 1000).
	WatcherBuffer int
	// ProgressInterval is how often the watch cache asks etcd for a progress notification, which keeps
	// its revision current for prefixes that see no writes (default 5s).
	ProgressInterval time.Duration

	// Logger receives the store's logs; the embedded etcd logs through it at warn level and above.
	// Nil means no logs.
	Logger *zap.Logger
	// Registerer receives the store's metrics. Nil means a private registry (metrics not exported).
	Registerer prometheus.Registerer
}

func (c Config) withDefaults() Config {
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 60 * time.Second
	}
	if c.CompactionInterval == 0 {
		c.CompactionInterval = 5 * time.Minute
	}
	if c.WatchCacheSize <= 0 {
		c.WatchCacheSize = 10000
	}
	if c.WatcherBuffer <= 0 {
		c.WatcherBuffer = 1000
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	return c
}
