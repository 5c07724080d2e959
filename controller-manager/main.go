// Command skiff-controller-manager runs Skiff's controllers (ReplicaSet, Deployment, DaemonSet,
// StatefulSet, Job, CronJob, PersistentVolume binding and local-path provisioning,
// HorizontalPodAutoscaler, Endpoints, EndpointSlice, node lifecycle, pod CIDRs, garbage collector,
// Namespace, ServiceAccount) in one process, leader-elected on a Lease, serving /healthz, /readyz and
// /metrics.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/component"
	"github.com/skiffhq/skiff/shared/version"

	"github.com/skiffhq/skiff/controller-manager/internal/manager"
)

func main() {
	cfg := manager.Default()
	logOpts := component.DefaultLogOptions()
	fs := pflag.NewFlagSet(manager.Component, pflag.ContinueOnError)
	cfg.BindFlags(fs)
	logOpts.BindFlags(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, manager.Component+":", err)
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println(version.String(manager.Component))
		return
	}
	if _, err := cfg.Enabled(); err != nil {
		fmt.Fprintln(os.Stderr, manager.Component+":", err)
		os.Exit(2)
	}
	log, err := component.NewLogger(logOpts, manager.Component)
	if err != nil {
		fmt.Fprintln(os.Stderr, manager.Component+":", err)
		os.Exit(2)
	}
	ctx, stop := component.SignalContext()
	defer stop()

	ccfg, err := client.Load(client.LoadOptions{Kubeconfig: cfg.Kubeconfig, Server: cfg.Server})
	if err != nil {
		log.Fatal("loading the apiserver configuration", zap.Error(err))
	}
	ccfg.UserAgent = manager.Component
	ccfg.QPS, ccfg.Burst = cfg.QPS, cfg.Burst
	c, err := client.New(ccfg)
	if err != nil {
		log.Fatal("building the apiserver client", zap.Error(err))
	}
	reg := component.NewRegistry()
	mgr, err := manager.New(cfg, c, reg, log)
	if err != nil {
		log.Fatal("configuring controllers", zap.Error(err))
	}
	srv := component.NewServer(cfg.HealthAddr, reg, log)
	if !cfg.Leader.Enabled {
		srv.AddReadyCheck(mgr.Ready)
	}
	if err := component.RunAll(ctx, srv.Run, mgr.Run); err != nil {
		log.Fatal("controller manager stopped", zap.Error(err))
	}
	log.Info("controller manager stopped")
}
