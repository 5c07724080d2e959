package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"go.uber.org/zap"

	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/component"

	"github.com/skiffhq/skiff/netproxy/internal/dns"
	"github.com/skiffhq/skiff/netproxy/internal/healthcheck"
	"github.com/skiffhq/skiff/netproxy/internal/ipvs"
	"github.com/skiffhq/skiff/netproxy/internal/nftables"
	"github.com/skiffhq/skiff/netproxy/internal/proxy"
	"github.com/skiffhq/skiff/netproxy/internal/source"
)

// Run starts the netproxy and blocks until ctx ends. It leaves the programmed rules in place on the
// way out, so a restart drops no established traffic; --cleanup is the way to remove them.
func Run(ctx context.Context, cfg Config, log *zap.Logger) error {
	p, err := cfg.validate()
	if err != nil {
		return err
	}
	runner := nftables.ExecRunner{}
	if cfg.Cleanup {
		return cleanup(ctx, p, runner, log)
	}

	backend, err := chooseBackend(ctx, cfg, p, runner, log)
	if err != nil {
		return err
	}

	kc, err := client.LoadKubeconfig(cfg.Kubeconfig, cfg.Context)
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	if kc.UserAgent == "" {
		kc.UserAgent = "skiff-netproxy/" + cfg.NodeName
	}
	c, err := client.New(kc)
	if err != nil {
		return fmt.Errorf("connecting to the apiserver: %w", err)
	}

	reg := component.NewRegistry()
	store := proxy.NewStore(cfg.NodeName)
	hc := healthcheck.New(nil, store.Snapshot, log)
	afterSync := func(snap *proxy.Snapshot) {
		if err := hc.Sync(snap); err != nil {
			log.Warn("health-check node ports", zap.Error(err))
		}
	}
	proxier, err := proxy.NewProxier(proxy.Config{MinSyncPeriod: cfg.MinSyncPeriod, SyncPeriod: cfg.SyncPeriod, AfterSync: afterSync}, store, backend, reg, log)
	if err != nil {
		return err
	}
	src := source.New(c, store, log)

	health := component.NewServer(cfg.HealthAddr, reg, log)
	health.AddHealthCheck(proxier.Healthy)
	health.AddReadyCheck(proxier.Ready)
	metrics := component.NewServer(cfg.MetricsAddr, reg, log)
	for _, s := range []*component.Server{health, metrics} {
		if err := s.Listen(); err != nil {
			return err
		}
	}

	runs := []component.Runnable{
		health.Run, metrics.Run, proxier.Run, hc.Run,
		func(ctx context.Context) error { return src.Run(ctx, proxier.SetReady) },
	}
	if p.clusterDNS.IsValid() {
		dnsRun, err := startDNS(ctx, cfg, p, store, runner, log)
		if err != nil {
			return err
		}
		runs = append(runs, dnsRun)
	}
	log.Info("skiff-netproxy started", zap.String("node", cfg.NodeName), zap.String("backend", backend.Name()),
		zap.Duration("min_sync_period", cfg.MinSyncPeriod), zap.Duration("sync_period", cfg.SyncPeriod))
	return component.RunAll(ctx, runs...)
}

// chooseBackend picks the backend for --mode and removes what the other backend may have left.
func chooseBackend(ctx context.Context, cfg Config, p *parsed, runner nftables.Runner, log *zap.Logger) (proxy.Backend, error) {
	mode := cfg.Mode
	if mode == ModeAuto {
		if err := ipvs.Available(ctx); err != nil {
			log.Info("proxy mode selected", zap.String("mode", ModeNftables), zap.String("reason", err.Error()))
			mode = ModeNftables
		} else {
			log.Info("proxy mode selected", zap.String("mode", ModeIPVS), zap.String("reason", "the kernel has IP_VS"))
			mode = ModeIPVS
		}
	}
	nft := nftables.New(nftables.Config{ClusterCIDRs: p.clusterCIDRs, NodePortAddresses: p.nodePortAddrs, Shards: cfg.NftablesShards, Runner: runner})
	if err := nft.Available(ctx); err != nil {
		return nil, err // both backends need nft (ipvs for masquerading)
	}
	if mode == ModeNftables {
		if err := cleanupIPVS(ctx, runner); err != nil {
			log.Warn("removing leftovers of ipvs mode", zap.Error(err))
		}
		return nft, nil
	}
	if err := ipvs.Available(ctx); err != nil {
		return nil, err
	}
	k, err := ipvs.NewKernel()
	if err != nil {
		return nil, err
	}
	b, err := ipvs.New(ipvs.Config{Scheduler: cfg.IPVSScheduler, ClusterCIDRs: p.clusterCIDRs, NodePortAddresses: p.nodePortAddrs, Kernel: k, Runner: runner})
	if err != nil {
		return nil, err
	}
	if err := nft.Cleanup(ctx); err != nil {
		log.Warn("removing leftovers of nftables mode", zap.Error(err))
	}
	return b, nil
}

// startDNS binds the cluster DNS address locally and the DNS sockets, then returns the serving loop.
// Binding happens before Run returns to RunAll, so a port in use fails start-up at once.
func startDNS(ctx context.Context, cfg Config, p *parsed, store *proxy.Store, runner nftables.Runner, log *zap.Logger) (component.Runnable, error) {
	host, _, _ := net.SplitHostPort(p.dnsAddr)
	if ip, err := netip.ParseAddr(host); err == nil && ip == p.clusterDNS {
		if err := dns.AddLocalAddress(ctx, runner, p.clusterDNS); err != nil {
			return nil, err
		}
	}
	upstreams := p.upstreams
	if len(upstreams) == 0 {
		data, err := os.ReadFile(cfg.ResolvConf)
		if err != nil {
			log.Warn("no DNS upstreams: reading resolv.conf failed; names outside the cluster get SERVFAIL", zap.String("path", cfg.ResolvConf), zap.Error(err))
		}
		upstreams = dns.ParseResolvConf(string(data))
	}
	var filtered []string
	for _, u := range upstreams {
		if h, _, _ := net.SplitHostPort(u); h != p.clusterDNS.String() {
			filtered = append(filtered, u) // never forward to ourselves
		}
	}
	srv := dns.New(dns.Config{Domain: cfg.ClusterDomain, Upstreams: filtered}, store.Snapshot, log)
	pc, err := net.ListenPacket("udp", p.dnsAddr)
	if err != nil {
		return nil, fmt.Errorf("cluster DNS: listening on udp %s: %w", p.dnsAddr, err)
	}
	ln, err := net.Listen("tcp", p.dnsAddr)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("cluster DNS: listening on tcp %s: %w", p.dnsAddr, err)
	}
	log.Info("cluster DNS listening", zap.String("addr", p.dnsAddr), zap.String("domain", cfg.ClusterDomain), zap.Strings("upstreams", filtered))
	return func(ctx context.Context) error { return srv.Serve(ctx, pc, ln) }, nil
}

// cleanupIPVS removes the IPVS backend's objects. Without IP_VS there are no virtual servers, but the
// dummy interface and masquerade table of an earlier kernel may remain.
func cleanupIPVS(ctx context.Context, runner nftables.Runner) error {
	if ipvs.Available(ctx) == nil {
		k, err := ipvs.NewKernel()
		if err != nil {
			return err
		}
		b, err := ipvs.New(ipvs.Config{Kernel: k, Runner: runner})
		if err != nil {
			return err
		}
		return b.Cleanup(ctx)
	}
	var errs []error
	if _, err := runner.Run(ctx, nil, "ip", "link", "show", ipvs.DefaultInterface); err == nil {
		if _, err := runner.Run(ctx, nil, "ip", "link", "del", ipvs.DefaultInterface); err != nil {
			errs = append(errs, err)
		}
	}
	t := "inet " + ipvs.DefaultTable
	if _, err := runner.Run(ctx, []byte("add table "+t+"\ndelete table "+t+"\n"), "nft", "-f", "-"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// cleanup implements --cleanup: every mode's objects and the cluster DNS address.
func cleanup(ctx context.Context, p *parsed, runner nftables.Runner, log *zap.Logger) error {
	var errs []error
	if err := nftables.New(nftables.Config{Runner: runner}).Cleanup(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := cleanupIPVS(ctx, runner); err != nil {
		errs = append(errs, fmt.Errorf("ipvs cleanup: %w", err))
	}
	if p.clusterDNS.IsValid() {
		if err := dns.RemoveLocalAddress(ctx, runner, p.clusterDNS); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	log.Info("cleanup done: nftables table, IPVS objects and the cluster DNS address removed")
	return nil
}
