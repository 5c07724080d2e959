package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// embeddedEtcd is an etcd server running in this process, in the store's data directory.
type embeddedEtcd struct {
	etcd      *embed.Etcd
	clientURL string
	closing   *atomic.Bool // set by close: etcd reports its listeners closing as errors, which they are not
}

// startEmbedded starts a single-member etcd in cfg.DataDir and waits until it serves. Without fixed
// listen URLs it picks free loopback ports, retrying if another process takes a port first.
func startEmbedded(ctx context.Context, cfg Config, log *zap.Logger) (*embeddedEtcd, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("starting embedded etcd: a data directory is required when no etcd endpoints are given")
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		e, err := startEmbeddedOnce(ctx, cfg, log)
		if err == nil {
			return e, nil
		}
		lastErr = err
		if cfg.ListenClientURL != "" && cfg.ListenPeerURL != "" || !isAddrInUse(err) {
			break
		}
	}
	return nil, lastErr
}

func startEmbeddedOnce(ctx context.Context, cfg Config, log *zap.Logger) (*embeddedEtcd, error) {
	clientURL, err := listenURL(cfg.ListenClientURL)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd client URL: %w", err)
	}
	peerURL, err := listenURL(cfg.ListenPeerURL)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd peer URL: %w", err)
	}

	ec := embed.NewConfig()
	ec.Name = "skiff"
	ec.Dir = cfg.DataDir
	ec.ListenClientUrls = []url.URL{*clientURL}
	ec.AdvertiseClientUrls = []url.URL{*clientURL}
	ec.ListenPeerUrls = []url.URL{*peerURL}
	ec.AdvertisePeerUrls = []url.URL{*peerURL}
	ec.InitialCluster = ec.Name + "=" + peerURL.String()
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync
	// The store compacts, Kubernetes-style; etcd's own compactor stays off.
	ec.AutoCompactionRetention = "0"
	// etcd is chatty at info level; its warnings and errors still reach the apiserver's log.
	ec.Logger = "zap"
	closing := &atomic.Bool{}
	elog := quieter(log.Named("etcd")).WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return &shutdownQuietCore{Core: c, closing: closing}
	}))
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(elog)

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", cfg.DataDir, err)
	}
	timer := time.NewTimer(cfg.StartTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s failed while starting: %w", cfg.DataDir, err)
	case <-timer.C:
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s not ready after %s", cfg.DataDir, cfg.StartTimeout)
	case <-ctx.Done():
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", cfg.DataDir, ctx.Err())
	}
	log.Info("embedded etcd ready", zap.String("data_dir", cfg.DataDir), zap.String("client_url", clientURL.String()))
	return &embeddedEtcd{etcd: e, clientURL: clientURL.String(), closing: closing}, nil
}

// listenURL parses a fixed URL, or picks a free loopback port when fixed is empty.
func listenURL(fixed string) (*url.URL, error) {
	if fixed != "" {
		u, err := url.Parse(fixed)
		if err != nil {
			return nil, fmt.Errorf("parsing %q: %w", fixed, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("%q: want http://host:port", fixed)
		}
		return u, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("finding a free loopback port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return nil, fmt.Errorf("finding a free loopback port: %w", err)
	}
	return &url.URL{Scheme: "http", Host: addr}, nil
}

// isAddrInUse reports whether start-up lost a race for a port. etcd does not always wrap the syscall
// error, so the message is the fallback.
func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || err != nil && strings.Contains(err.Error(), "address already in use")
}

// close stops the embedded etcd and waits for it.
func (e *embeddedEtcd) close() {
	e.closing.Store(true)
	e.etcd.Close()
	<-e.etcd.Server.StopNotify()
}

// quieter raises log's level to warn (etcd logs routine operations at info), unless it is already higher.
func quieter(log *zap.Logger) *zap.Logger {
	if !log.Core().Enabled(zapcore.InfoLevel) {
		return log
	}
	return log.WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))
}

// shutdownQuietCore drops the embedded etcd's error logs once it is being closed on purpose: etcd logs
// every listener it closes as a serving failure.
type shutdownQuietCore struct {
	zapcore.Core
	closing *atomic.Bool
}

func (c *shutdownQuietCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.closing.Load() && e.Level < zapcore.DPanicLevel {
		return ce
	}
	return c.Core.Check(e, ce)
}

func (c *shutdownQuietCore) With(fields []zapcore.Field) zapcore.Core {
	return &shutdownQuietCore{Core: c.Core.With(fields), closing: c.closing}
}
