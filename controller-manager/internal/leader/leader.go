// Package leader runs a function only while this process holds a coordination.k8s.io/v1 Lease, the
// way Kubernetes's controller-manager does (15s lease, renewed every 2s, given up after a 10s renew
// deadline). Every write carries the Lease's resourceVersion, so two candidates can never both win
// the same term; losing the lease cancels the function's context.
//
// The lease is an efficiency measure: controllers' own writes carry resourceVersion preconditions, so
// a stale leader cannot corrupt state.
package leader

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	coordinationv1 "github.com/skiffhq/skiff/shared/api/coordination/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// LeaseClient is the part of the leases API the elector uses.
type LeaseClient interface {
	Get(ctx context.Context, ns, name string, opts client.GetOptions) (*coordinationv1.Lease, error)
	Create(ctx context.Context, ns string, l *coordinationv1.Lease, opts client.CreateOptions) (*coordinationv1.Lease, error)
	Update(ctx context.Context, ns string, l *coordinationv1.Lease, opts client.UpdateOptions) (*coordinationv1.Lease, error)
}

// Config names the lease and its timings.
type Config struct {
	Namespace, Name, Identity string
	LeaseDuration             time.Duration // 15s
	RenewDeadline             time.Duration // 10s
	RetryPeriod               time.Duration // 2s
}

// Elector campaigns for one lease.
type Elector struct {
	Cfg    Config
	Leases LeaseClient
	Log    *zap.Logger
	Now    func() time.Time
}

func (e *Elector) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// tryAcquireOrRenew takes or renews the lease; it reports whether we hold it.
func (e *Elector) tryAcquireOrRenew(ctx context.Context) (bool, error) {
	now := metav1.MicroTime{Time: e.now().UTC()}
	secs := int32(e.Cfg.LeaseDuration / time.Second)
	id := e.Cfg.Identity
	cur, err := e.Leases.Get(ctx, e.Cfg.Namespace, e.Cfg.Name, client.GetOptions{})
	if client.IsNotFound(err) {
		l := &coordinationv1.Lease{}
		l.APIVersion, l.Kind = "coordination.k8s.io/v1", "Lease"
		l.Namespace, l.Name = e.Cfg.Namespace, e.Cfg.Name
		zero := int32(0)
		l.Spec = coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now, LeaseTransitions: &zero}
		if _, err := e.Leases.Create(ctx, e.Cfg.Namespace, l, client.CreateOptions{}); err != nil {
			return false, err
		}
		return true, nil
	}
	if err != nil {
		return false, err
	}
	holder := ""
	if cur.Spec.HolderIdentity != nil {
		holder = *cur.Spec.HolderIdentity
	}
	if holder != "" && holder != id && cur.Spec.RenewTime != nil {
		dur := e.Cfg.LeaseDuration
		if cur.Spec.LeaseDurationSeconds != nil {
			dur = time.Duration(*cur.Spec.LeaseDurationSeconds) * time.Second
		}
		if cur.Spec.RenewTime.Add(dur).After(now.Time) {
			return false, nil // someone else holds an unexpired lease
		}
	}
	upd := *cur
	upd.Spec.HolderIdentity = &id
	upd.Spec.LeaseDurationSeconds = &secs
	upd.Spec.RenewTime = &now
	if holder != id {
		upd.Spec.AcquireTime = &now
		n := int32(0)
		if cur.Spec.LeaseTransitions != nil {
			n = *cur.Spec.LeaseTransitions
		}
		n++
		upd.Spec.LeaseTransitions = &n
	}
	if _, err := e.Leases.Update(ctx, e.Cfg.Namespace, &upd, client.UpdateOptions{}); err != nil {
		return false, err
	}
	return true, nil
}

// Run campaigns until it holds the lease, then calls run with a context that is cancelled when the
// lease is lost or ctx ends. It returns when run returns; an error means leadership was lost.
func (e *Elector) Run(ctx context.Context, run func(ctx context.Context)) error {
	for {
		ok, err := e.tryAcquireOrRenew(ctx)
		if err != nil && !client.IsConflict(err) && !client.IsAlreadyExists(err) {
			e.Log.Info("lease_acquire_failed", zap.Error(err))
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(e.Cfg.RetryPeriod):
		}
	}
	e.Log.Info("leader_elected", zap.String("lease", e.Cfg.Namespace+"/"+e.Cfg.Name), zap.String("identity", e.Cfg.Identity))
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(lctx)
	}()
	lastRenew := e.now()
	t := time.NewTicker(e.Cfg.RetryPeriod)
	defer t.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			<-done
			return nil
		case <-t.C:
			rctx, rcancel := context.WithTimeout(ctx, e.Cfg.RetryPeriod)
			ok, err := e.tryAcquireOrRenew(rctx)
			rcancel()
			if ok {
				lastRenew = e.now()
				continue
			}
			if e.now().Sub(lastRenew) > e.Cfg.RenewDeadline {
				cancel()
				<-done
				return fmt.Errorf("lost lease %s/%s: %v", e.Cfg.Namespace, e.Cfg.Name, err)
			}
		}
	}
}
