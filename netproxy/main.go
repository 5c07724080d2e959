// Command skiff-netproxy is Skiff's service proxy, one per node: it watches Services and EndpointSlices
// and programs Service virtual IPs and node ports with nftables (or IPVS), and serves the cluster DNS.
// See README.md for flags and internal/daemon for the wiring.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/skiffhq/skiff/shared/component"
	"github.com/skiffhq/skiff/shared/version"

	"github.com/skiffhq/skiff/netproxy/internal/daemon"
)

func main() {
	cfg := daemon.Default()
	fs := pflag.NewFlagSet("skiff-netproxy", pflag.ContinueOnError)
	cfg.BindFlags(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "skiff-netproxy:", err)
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println(version.String("skiff-netproxy"))
		return
	}
	log, err := component.NewLogger(cfg.Log, "skiff-netproxy")
	if err != nil {
		fmt.Fprintln(os.Stderr, "skiff-netproxy:", err)
		os.Exit(2)
	}
	ctx, stop := component.SignalContext()
	defer stop()

	if err := daemon.Run(ctx, cfg, log); err != nil {
		// One plain line: start-up errors (bad flags, no IP_VS, no apiserver) are read by people.
		_ = log.Sync()
		fmt.Fprintln(os.Stderr, "skiff-netproxy:", err)
		stop()
		os.Exit(1)
	}
	if !cfg.Cleanup {
		log.Info("skiff-netproxy stopped; rules left in place")
	}
}
