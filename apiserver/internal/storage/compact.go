package storage

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// compactRevKey is the key apiservers sharing one etcd use to agree on compaction, as Kubernetes does:
// its version counts compaction cycles, so of several apiservers only one compacts per cycle.
const compactRevKey = "compact_rev_key"

// compactLoop compacts etcd every CompactionInterval to the revision recorded one cycle earlier, so that
// between one and two intervals of history are always kept for watches and continue tokens.
func (s *etcdStore) compactLoop() {
	defer s.wg.Done()
	ticker := time.NewTicker(s.cfg.CompactionInterval)
	defer ticker.Stop()
	var version, rev int64
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-ticker.C:
		}
		var err error
		version, rev, err = s.compactCycle(s.ctx, version, rev)
		if err != nil && s.ctx.Err() == nil {
			s.log.Warn("compacting etcd", zap.Error(err))
		}
	}
}

// compactCycle claims cycle version+1 by bumping compactRevKey's version, and if it wins compacts to
// rev, the revision the previous cycle saw. It returns the version and revision for the next cycle.
func (s *etcdStore) compactCycle(ctx context.Context, version, rev int64) (int64, int64, error) {
	var resp *clientv3.TxnResponse
	err := s.op(ctx, "compact", func(ctx context.Context) (err error) {
		resp, err = s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.Version(compactRevKey), "=", version)).
			Then(clientv3.OpPut(compactRevKey, strconv.FormatInt(rev, 10))).
			Else(clientv3.OpGet(compactRevKey)).
			Commit()
		return err
	})
	if err != nil {
		return version, rev, err
	}
	curRev := resp.Header.Revision
	if !resp.Succeeded {
		// Another apiserver won this cycle; follow its count.
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return 0, curRev, nil
		}
		return kvs[0].Version, curRev, nil
	}
	if rev == 0 {
		return version + 1, curRev, nil // the first cycle only records where the next one compacts to
	}
	err = s.op(ctx, "compact", func(ctx context.Context) error {
		_, err := s.client.Compact(ctx, rev)
		if errors.Is(err, rpctypes.ErrCompacted) {
			return nil // someone (etcd itself, an operator) compacted further already
		}
		return err
	})
	if err != nil {
		return version + 1, curRev, err
	}
	s.metrics.compactions.Inc()
	s.metrics.compactedRevision.Set(float64(rev))
	s.log.Debug("compacted etcd", zap.Int64("resource_version", rev))
	return version + 1, curRev, nil
}
