// Command skiff-scheduler is Skiff's scheduler: it binds pending pods to nodes (filter, score, bind) with
// Borg's optimisations and priority preemption, leader-elected on the Lease kube-system/skiff-scheduler,
// serving /healthz, /readyz and /metrics.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/component"
	"github.com/skiffhq/skiff/shared/leaderelection"
	"github.com/skiffhq/skiff/shared/version"

	"github.com/skiffhq/skiff/scheduler/internal/config"
	"github.com/skiffhq/skiff/scheduler/internal/scheduler"
)

func main() {
	opts := config.DefaultOptions()
	fs := pflag.NewFlagSet(config.Component, pflag.ContinueOnError)
	opts.BindFlags(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, config.Component+":", err)
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println(version.String(config.Component))
		return
	}
	cfg, err := opts.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, config.Component+":", err)
		os.Exit(2)
	}
	log, err := component.NewLogger(opts.Log, config.Component)
	if err != nil {
		fmt.Fprintln(os.Stderr, config.Component+":", err)
		os.Exit(2)
	}
	ctx, stop := component.SignalContext()
	defer stop()

	ccfg, err := client.Load(client.LoadOptions{Kubeconfig: opts.Kubeconfig, Server: opts.Server})
	if err != nil {
		log.Fatal("loading the apiserver configuration", zap.Error(err))
	}
	ccfg.UserAgent = config.Component
	ccfg.QPS, ccfg.Burst = opts.QPS, opts.Burst
	cs, err := client.NewForConfig(ccfg)
	if err != nil {
		log.Fatal("building the apiserver client", zap.Error(err))
	}
	reg := component.NewRegistry()
	runner := scheduler.NewRunner(cs, cfg, opts.LeaderElect, reg, log, nil)
	srv := component.NewServer(opts.HealthAddr, reg, log)
	srv.AddReadyCheck(runner.Ready)
	if err := srv.Listen(); err != nil {
		log.Fatal("starting the health server", zap.Error(err))
	}
	log.Info("starting", zap.String("scheduler_name", cfg.SchedulerName), zap.Bool("leader_elect", opts.LeaderElect.Enabled),
		zap.String("version", version.Get().GitVersion))
	err = component.RunAll(ctx, srv.Run, runner.Run)
	switch {
	case errors.Is(err, leaderelection.ErrLeadershipLost):
		log.Error("leadership lost; exiting so that no work of the old term survives")
		os.Exit(1)
	case err != nil:
		log.Fatal("scheduler stopped", zap.Error(err))
	}
	log.Info("scheduler stopped")
}
