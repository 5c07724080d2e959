// Package leaderelection elects one leader among the replicas of a component with a
// coordination.k8s.io/v1 Lease, the way Kubernetes components do: the leader renews the lease every
// RetryPeriod with a resourceVersion precondition (so two writers can never both win), candidates take
// over a lease that has not been renewed for LeaseDuration, and a leader that cannot renew within
// RenewDeadline stops leading. A clean shutdown releases the lease so a successor takes over at once.
//
// Leadership is for efficiency only: correctness still comes from preconditions on every write. The
// package does not retry after leadership is lost; Run returns ErrLeadershipLost and the component
// should exit (and be restarted) so no work of the old term survives.
package leaderelection

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	coordinationv1 "github.com/skiffhq/skiff/shared/api/coordination/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// Defaults, the same as Kubernetes components'.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// ErrLeadershipLost is returned by Run when the leader failed to renew within the renew deadline or
// another candidate took the lease.
var ErrLeadershipLost = errors.New("leader election lost")

// LeaseClient is the part of the Lease API an elector uses; *client.Resource[coordinationv1.Lease]
// implements it.
type LeaseClient interface {
	Get(ctx context.Context, namespace, name string, opts client.GetOptions) (*coordinationv1.Lease, error)
	Create(ctx context.Context, namespace string, lease *coordinationv1.Lease, opts client.CreateOptions) (*coordinationv1.Lease, error)
	Update(ctx context.Context, namespace string, lease *coordinationv1.Lease, opts client.UpdateOptions) (*coordinationv1.Lease, error)
}

// Config configures an Elector.
type Config struct {
	// Leases is the Lease client. Required.
	Leases LeaseClient
	// Namespace and Name of the Lease, e.g. kube-system/skiff-scheduler. Required.
	Namespace, Name string
	// Identity of this candidate, unique among candidates; DefaultIdentity() when empty.
	Identity string
	// LeaseDuration is how long a lease that is not renewed keeps other candidates away (15s).
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps trying to renew before it gives up (10s).
	RenewDeadline time.Duration
	// RetryPeriod is the interval between acquire and renew attempts (2s).
	RetryPeriod time.Duration
	// OnStartedLeading runs when leadership is acquired; its context is cancelled when leadership ends
	// (lost or shut down). Run waits for it to return before releasing the lease. Required.
	OnStartedLeading func(ctx context.Context)
	// OnStoppedLeading, when set, is called after leading ended (lost or shut down).
	OnStoppedLeading func()
	// OnNewLeader, when set, is called when the observed holder changes (including to this identity).
	OnNewLeader func(identity string)
	// Logger; nop when nil.
	Logger *zap.Logger
}

// Elector runs one candidate's election.
type Elector struct {
	cfg Config
	log *zap.Logger

	mu           sync.Mutex
	observed     *coordinationv1.Lease // last lease read or written
	observedAt   time.Time             // local time the observed record last changed
	observedRV   string
	leading      bool
	reportedLead string
}

// DefaultIdentity returns "<hostname>_<random>", unique per process.
func DefaultIdentity() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return host + "_" + strconv.FormatUint(rand.Uint64(), 36)
}

// New checks the configuration and returns an Elector.
func New(cfg Config) (*Elector, error) {
	if cfg.Leases == nil {
		return nil, errors.New("leader election: a Lease client is required")
	}
	if cfg.Namespace == "" || cfg.Name == "" {
		return nil, errors.New("leader election: the lease namespace and name are required")
	}
	if cfg.OnStartedLeading == nil {
		return nil, errors.New("leader election: OnStartedLeading is required")
	}
	if cfg.Identity == "" {
		cfg.Identity = DefaultIdentity()
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RenewDeadline <= 0 {
		cfg.RenewDeadline = DefaultRenewDeadline
	}
	if cfg.RetryPeriod <= 0 {
		cfg.RetryPeriod = DefaultRetryPeriod
	}
	if cfg.LeaseDuration <= cfg.RenewDeadline {
		return nil, fmt.Errorf("leader election: lease duration %v must be longer than the renew deadline %v", cfg.LeaseDuration, cfg.RenewDeadline)
	}
	if cfg.RenewDeadline <= cfg.RetryPeriod {
		return nil, fmt.Errorf("leader election: renew deadline %v must be longer than the retry period %v", cfg.RenewDeadline, cfg.RetryPeriod)
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Elector{cfg: cfg, log: log.With(zap.String("lease", cfg.Namespace+"/"+cfg.Name), zap.String("identity", cfg.Identity))}, nil
}

// Identity returns this candidate's identity.
func (e *Elector) Identity() string { return e.cfg.Identity }

// IsLeader reports whether this candidate currently holds the lease.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// Leader returns the identity of the last observed holder ("" when none).
func (e *Elector) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.observed == nil || e.observed.Spec.HolderIdentity == nil {
		return ""
	}
	return *e.observed.Spec.HolderIdentity
}

// Run campaigns until this candidate leads, runs OnStartedLeading, and keeps renewing. It returns nil
// after ctx is cancelled (having stopped the leader's work and released the lease), or
// ErrLeadershipLost when leadership was lost.
func (e *Elector) Run(ctx context.Context) error {
	if !e.acquire(ctx) {
		return nil // cancelled before leading
	}
	leaderCtx, stopLeading := context.WithCancel(ctx)
	defer stopLeading()
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		e.cfg.OnStartedLeading(leaderCtx)
	}()
	err := e.renew(ctx)
	stopLeading()
	<-workDone
	e.setLeading(false)
	if err == nil {
		e.release()
	}
	if e.cfg.OnStoppedLeading != nil {
		e.cfg.OnStoppedLeading()
	}
	return err
}

func (e *Elector) setLeading(v bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.leading = v
}

// jitter spreads candidates' attempts: RetryPeriod plus up to 20%.
func (e *Elector) jitter() time.Duration {
	p := e.cfg.RetryPeriod
	return p + rand.N(p/5+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// acquire tries until it holds the lease (true) or ctx ends (false).
func (e *Elector) acquire(ctx context.Context) bool {
	e.log.Info("attempting to acquire leader lease")
	for {
		if e.tryAcquireOrRenew(ctx) {
			e.setLeading(true)
			e.log.Info("acquired leader lease")
			return true
		}
		if !sleep(ctx, e.jitter()) {
			return false
		}
	}
}

// renew keeps the lease until ctx ends (nil) or a renewal fails for RenewDeadline (ErrLeadershipLost).
func (e *Elector) renew(ctx context.Context) error {
	for {
		if !sleep(ctx, e.cfg.RetryPeriod) {
			return nil
		}
		deadline := time.Now().Add(e.cfg.RenewDeadline)
		renewed := false
		for time.Now().Before(deadline) {
			attemptCtx, cancel := context.WithDeadline(ctx, deadline)
			ok := e.tryAcquireOrRenew(attemptCtx)
			cancel()
			if ok {
				renewed = true
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			if e.heldByOther() {
				break
			}
			// Retry quickly within the deadline: a renewal that fails transiently must not lose the lease.
			if !sleep(ctx, min(e.cfg.RetryPeriod/4+time.Millisecond, time.Until(deadline))) {
				return nil
			}
		}
		if !renewed {
			e.log.Info("failed to renew leader lease, stopping", zap.String("holder", e.Leader()))
			return ErrLeadershipLost
		}
	}
}

func (e *Elector) heldByOther() bool {
	h := e.Leader()
	return h != "" && h != e.cfg.Identity
}

func ptr[T any](v T) *T { return &v }

// observe records a lease read from or written to the server and reports leader changes.
func (e *Elector) observe(l *coordinationv1.Lease) {
	e.mu.Lock()
	if l.ResourceVersion != e.observedRV {
		e.observedRV = l.ResourceVersion
		e.observedAt = time.Now()
	}
	e.observed = l
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	changed := holder != e.reportedLead
	e.reportedLead = holder
	e.mu.Unlock()
	if changed && holder != "" {
		e.log.Info("new leader observed", zap.String("holder", holder))
		if e.cfg.OnNewLeader != nil {
			e.cfg.OnNewLeader(holder)
		}
	}
}

// tryAcquireOrRenew does one read-modify-write of the lease with a resourceVersion precondition.
func (e *Elector) tryAcquireOrRenew(ctx context.Context) bool {
	now := metav1.NowMicro()
	seconds := int32(e.cfg.LeaseDuration / time.Second)
	if seconds < 1 {
		seconds = 1
	}
	lease, err := e.cfg.Leases.Get(ctx, e.cfg.Namespace, e.cfg.Name, client.GetOptions{})
	switch {
	case client.IsNotFound(err):
		fresh := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: e.cfg.Namespace, Name: e.cfg.Name},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr(e.cfg.Identity),
				LeaseDurationSeconds: ptr(seconds),
				AcquireTime:          ptr(now),
				RenewTime:            ptr(now),
				LeaseTransitions:     ptr(int32(0)),
			},
		}
		created, err := e.cfg.Leases.Create(ctx, e.cfg.Namespace, fresh, client.CreateOptions{})
		if err != nil {
			e.log.Debug("creating leader lease failed", zap.Error(err))
			return false
		}
		e.observe(created)
		return true
	case err != nil:
		e.log.Info("reading leader lease failed", zap.Error(err))
		return false
	}
	e.observe(lease)

	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	if holder != "" && holder != e.cfg.Identity && !e.expired(lease) {
		return false // someone else leads
	}

	next := *lease
	next.Spec.HolderIdentity = ptr(e.cfg.Identity)
	next.Spec.LeaseDurationSeconds = ptr(seconds)
	next.Spec.RenewTime = ptr(now)
	if holder != e.cfg.Identity {
		next.Spec.AcquireTime = ptr(now)
		transitions := int32(0)
		if lease.Spec.LeaseTransitions != nil {
			transitions = *lease.Spec.LeaseTransitions
		}
		if holder != "" || lease.Spec.AcquireTime != nil {
			transitions++
		}
		next.Spec.LeaseTransitions = ptr(transitions)
	}
	updated, err := e.cfg.Leases.Update(ctx, e.cfg.Namespace, &next, client.UpdateOptions{})
	if err != nil {
		if client.IsConflict(err) {
			e.log.Debug("leader lease changed under us", zap.Error(err))
		} else {
			e.log.Info("updating leader lease failed", zap.Error(err))
		}
		return false
	}
	e.observe(updated)
	return true
}

// expired says whether the holder failed to renew for a whole lease duration, judged by this process's
// clock from when the record last changed (not by the holder's renewTime, so clock skew does not matter).
func (e *Elector) expired(l *coordinationv1.Lease) bool {
	d := e.cfg.LeaseDuration
	if l.Spec.LeaseDurationSeconds != nil && *l.Spec.LeaseDurationSeconds > 0 {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.Since(e.observedAt) > d
}

// release gives up the lease if this candidate still holds it: empty holder, a one-second duration and a
// fresh renew time, so the next candidate takes over on its next attempt.
func (e *Elector) release() {
	e.mu.Lock()
	l := e.observed
	e.mu.Unlock()
	if l == nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != e.cfg.Identity {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.RenewDeadline)
	defer cancel()
	next := *l
	now := metav1.NowMicro()
	next.Spec.HolderIdentity = ptr("")
	next.Spec.LeaseDurationSeconds = ptr(int32(1))
	next.Spec.RenewTime = ptr(now)
	next.Spec.AcquireTime = ptr(now)
	updated, err := e.cfg.Leases.Update(ctx, e.cfg.Namespace, &next, client.UpdateOptions{})
	if err != nil {
		e.log.Info("releasing leader lease failed; a successor waits for it to expire", zap.Error(err))
		return
	}
	e.observe(updated)
	e.log.Info("released leader lease")
}

// Options are the usual leader election flags of a component.
type Options struct {
	// Enabled runs the work only while leading; when false it runs at once.
	Enabled                                   bool
	Namespace, Name, Identity                 string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// DefaultOptions returns leader election on, for the lease kube-system/<name>, with the default timings.
func DefaultOptions(name string) Options {
	return Options{
		Enabled: true, Namespace: "kube-system", Name: name,
		LeaseDuration: DefaultLeaseDuration, RenewDeadline: DefaultRenewDeadline, RetryPeriod: DefaultRetryPeriod,
	}
}

// BindFlags registers --leader-elect, --leader-elect-lease-duration, --leader-elect-renew-deadline,
// --leader-elect-retry-period, --leader-elect-resource-namespace, --leader-elect-resource-name and
// --leader-elect-identity, the names Kubernetes components use.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Enabled, "leader-elect", o.Enabled, "Run only while holding the leader lease (for running several replicas).")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration, "How long a lease that is not renewed keeps other candidates waiting.")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", o.RenewDeadline, "How long the leader retries renewing before it stops leading.")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", o.RetryPeriod, "Interval between attempts to acquire or renew the lease.")
	fs.StringVar(&o.Namespace, "leader-elect-resource-namespace", o.Namespace, "Namespace of the leader Lease.")
	fs.StringVar(&o.Name, "leader-elect-resource-name", o.Name, "Name of the leader Lease.")
	fs.StringVar(&o.Identity, "leader-elect-identity", o.Identity, "Identity of this candidate (default: hostname and a random suffix).")
}

// RunOrLead runs work directly when leader election is disabled, else campaigns for the lease and runs
// work while leading. It returns when ctx ends (nil, after work returned and the lease was released),
// when leadership is lost (ErrLeadershipLost), or with work's error if work fails while leading.
func RunOrLead(ctx context.Context, leases LeaseClient, o Options, log *zap.Logger, work func(ctx context.Context) error) error {
	if !o.Enabled {
		return work(ctx)
	}
	var workErr error
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	e, err := New(Config{
		Leases: leases, Namespace: o.Namespace, Name: o.Name, Identity: o.Identity,
		LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
		Logger: log,
		OnStartedLeading: func(leaderCtx context.Context) {
			workErr = work(leaderCtx)
			// Work that ends on its own (error or not) ends the term: release and return.
			cancel()
		},
	})
	if err != nil {
		return err
	}
	err = e.Run(runCtx)
	if workErr != nil && !errors.Is(workErr, context.Canceled) {
		return workErr
	}
	return err
}
