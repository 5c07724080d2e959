// Command skiff-scheduler is Skiff's scheduler. This entry point parses flags, sets up logging and metrics, serves the
// health endpoints and shuts down on SIGTERM.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/skiffhq/skiff/shared/component"
	"github.com/skiffhq/skiff/shared/version"
)

func main() {
	logOpts := component.DefaultLogOptions()
	healthAddr := "127.0.0.1:10259"
	fs := pflag.NewFlagSet("skiff-scheduler", pflag.ContinueOnError)
	logOpts.BindFlags(fs)
	fs.StringVar(&healthAddr, "health-addr", healthAddr, "address of the /healthz, /readyz and /metrics server")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == pflag.ErrHelp {
			return
		}
		fmt.Fprintln(os.Stderr, "skiff-scheduler:", err)
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println(version.String("skiff-scheduler"))
		return
	}
	log, err := component.NewLogger(logOpts, "skiff-scheduler")
	if err != nil {
		fmt.Fprintln(os.Stderr, "skiff-scheduler:", err)
		os.Exit(2)
	}
	ctx, stop := component.SignalContext()
	defer stop()

	srv := component.NewServer(healthAddr, component.NewRegistry(), log)
	if err := srv.Run(ctx); err != nil {
		log.Fatal("skiff-scheduler stopped", zap.Error(err))
	}
	log.Info("skiff-scheduler stopped")
}
