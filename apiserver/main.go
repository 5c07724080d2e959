// Command skiff-apiserver is Skiff's API server: the Kubernetes REST/JSON API over etcd (embedded by
// default), with watch, discovery and the health and metrics endpoints on the same port.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/skiffhq/skiff/apiserver/internal/server"
	"github.com/skiffhq/skiff/shared/component"
	"github.com/skiffhq/skiff/shared/version"
)

func main() {
	cfg := server.DefaultConfig()
	fs := pflag.NewFlagSet("skiff-apiserver", pflag.ContinueOnError)
	cfg.BindFlags(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "skiff-apiserver:", err)
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println(version.String("skiff-apiserver"))
		return
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "skiff-apiserver:", err)
		os.Exit(2)
	}
	log, err := component.NewLogger(cfg.Log, "skiff-apiserver")
	if err != nil {
		fmt.Fprintln(os.Stderr, "skiff-apiserver:", err)
		os.Exit(2)
	}
	ctx, stop := component.SignalContext() // before the slow etcd start
	defer stop()

	srv, err := server.New(ctx, cfg, log, component.NewRegistry())
	if err != nil {
		log.Fatal("starting the apiserver", zap.Error(err))
	}
	if err := srv.Run(ctx); err != nil {
		log.Fatal("apiserver stopped", zap.Error(err))
	}
	log.Info("apiserver stopped")
}
