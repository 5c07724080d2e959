// Command skiff-local runs a whole Skiff cluster on this machine, for trying Skiff out (`make run`):
// skiff-apiserver (embedded etcd), skiff-controller-manager and skiff-scheduler on loopback, and one
// node or more, each a network namespace (skiff-node<i>) on a private bridge with no route off the
// machine, running skiff-nodeagent and skiff-netproxy. Everything it keeps is under --home: etcd's
// data, the nodes' image stores, one log file per component and a kubeconfig. Ctrl-C (or SIGTERM)
// stops every component and removes every namespace, link, mount, cgroup and nftables table; the
// next start resumes the same cluster, objects and pods included. A crashed run's leftovers are
// removed at start.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/skiffhq/skiff/e2e/internal/cluster"
)

// DemoImage is the busybox image every node imports at start; DemoImageV2 is the same image under a
// second tag, for trying `kubectl set image`.
const (
	DemoImage   = "skiff.local/busybox:1.35"
	DemoImageV2 = "skiff.local/busybox:v2"
)

type options struct {
	home, bin                  string
	nodes                      int
	apiPort, schedPort, cmPort int
	subnet                     string
}

func main() {
	home, _ := os.UserHomeDir()
	self, _ := os.Executable()
	o := options{}
	flag.StringVar(&o.home, "home", filepath.Join(home, ".skiff"), "directory holding the cluster's data, logs and kubeconfig")
	flag.StringVar(&o.bin, "bin", filepath.Dir(self), "directory of the skiff-* binaries")
	flag.IntVar(&o.nodes, "nodes", 1, "number of nodes (network namespaces skiff-node1, skiff-node2, ...)")
	flag.IntVar(&o.apiPort, "api-port", 8080, "apiserver port on 127.0.0.1")
	flag.IntVar(&o.schedPort, "scheduler-port", 10259, "scheduler health and metrics port on 127.0.0.1")
	flag.IntVar(&o.cmPort, "controller-manager-port", 10257, "controller-manager health and metrics port on 127.0.0.1")
	flag.StringVar(&o.subnet, "node-subnet", "10.249.0.0/24", "private /24 of the bridge the nodes share (.1 is the bridge, .2 the first node)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "skiff-local:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root: nodes are network namespaces and containers need cgroups and mounts (try sudo make run)")
	}
	if o.nodes < 1 || o.nodes > 50 {
		return fmt.Errorf("--nodes %d: want 1 to 50", o.nodes)
	}
	subnet, err := netip.ParsePrefix(o.subnet)
	if err != nil || !subnet.Addr().Is4() || subnet.Bits() > 26 {
		return fmt.Errorf("--node-subnet %q: want an IPv4 prefix of /26 or wider", o.subnet)
	}
	if o.home, err = filepath.Abs(o.home); err != nil {
		return err
	}
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	l := cluster.LocalLayout(o.home, subnet.Masked())
	if pid := cluster.Owner(l); pid != 0 {
		return fmt.Errorf("a cluster is already running from %s (pid %d); stop it with Ctrl-C or kill %d", o.home, pid, pid)
	}
	if err := cluster.RemoveLeftovers(l); err != nil {
		fmt.Fprintln(os.Stderr, "skiff-local: removing the leftovers of an earlier run:", err)
	}
	resumed := fileExists(filepath.Join(o.home, "etcd"))
	images := filepath.Join(o.home, "images")
	tarball := filepath.Join(images, "busybox-1.35.tar")
	if !fileExists(tarball) {
		if err := os.MkdirAll(images, 0o755); err != nil {
			return err
		}
		if err := writeDemoImage(tarball + ".tmp"); err != nil {
			return fmt.Errorf("building the demo image: %w", err)
		}
		if err := os.Rename(tarball+".tmp", tarball); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := cluster.New(cluster.Config{
		Layout: l, Bin: o.bin, Nodes: o.nodes, APIPort: o.apiPort, SchedulerPort: o.schedPort, ControllerManagerPort: o.cmPort,
		ImagesDir: images,
		Logf:      func(format string, args ...any) { fmt.Printf("skiff: "+format+"\n", args...) },
	})
	word := "starting a new"
	if resumed {
		word = "resuming the"
	}
	fmt.Printf("skiff: %s %d-node cluster in %s (logs in %s)\n", word, o.nodes, o.home, l.LogDir())
	startErr := c.Start(ctx)
	if startErr == nil {
		printSummary(c, l)
		supervise(ctx, c)
	}
	fmt.Println("\nskiff: stopping the cluster...")
	stopErr := c.Stop(true)
	left := c.Leftovers()
	switch {
	case startErr != nil && ctx.Err() == nil:
		return fmt.Errorf("starting the cluster: %w (logs in %s)", startErr, l.LogDir())
	case stopErr != nil || len(left) > 0:
		return fmt.Errorf("stopping the cluster: %v; left behind: %v", stopErr, left)
	}
	fmt.Printf("skiff: stopped; no namespace, link, mount or cgroup left. Data kept in %s: run again to resume.\n", o.home)
	return nil
}

func printSummary(c *cluster.Cluster, l cluster.Layout) {
	addrs := c.ControlPlaneAddrs()
	fmt.Printf("\nskiff: cluster ready\n")
	fmt.Printf("  %-19s %s  (embedded etcd in %s)\n", "apiserver", addrs["apiserver"], filepath.Join(l.Dir, "etcd"))
	fmt.Printf("  %-19s %s\n", "controller-manager", addrs["controller-manager"])
	fmt.Printf("  %-19s %s\n", "scheduler", addrs["scheduler"])
	for _, n := range c.Nodes() {
		fmt.Printf("  %-19s %s: agent API %s:10250, health 127.0.0.1:10248, in network namespace %s (pod CIDR %s)\n",
			"nodeagent", n.Name, n.IP, n.Host.Name, n.PodCIDR)
		fmt.Printf("  %-19s %s: Service VIPs (nftables), metrics 127.0.0.1:10249, health 127.0.0.1:10256, DNS %s:53, in %s\n",
			"netproxy", n.Name, cluster.ClusterDNS, n.Host.Name)
	}
	fmt.Printf("  %-19s %s and %s (imported by every node)\n", "images", DemoImage, DemoImageV2)
	fmt.Printf("  %-19s %s\n\n", "logs", l.LogDir())
	fmt.Printf("export KUBECONFIG=%s\n\n", c.Kubeconfig)
	n := c.Nodes()[0].Host.Name
	fmt.Printf("Try:\n")
	fmt.Printf("  kubectl create deployment web --image=%s --replicas=3 -- httpd -f -p 8080\n", DemoImage)
	fmt.Printf("  kubectl expose deployment web --port=80 --target-port=8080\n")
	fmt.Printf("  ip netns exec %s wget -qO- http://$(kubectl get svc web -o jsonpath='{.spec.clusterIP}')/\n", n)
	fmt.Printf("Ctrl-C stops the cluster; running this again resumes it.\n")
}

// supervise restarts a component that exits on its own (with a pause, so a crash loop does not spin)
// until ctx ends.
func supervise(ctx context.Context, c *cluster.Cluster) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	restarts := map[string]int{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, name := range c.Components() {
			p := c.Component(name)
			if p.Running() || ctx.Err() != nil {
				continue
			}
			restarts[name]++
			status := p.ExitStatus()
			if restarts[name] > 5 {
				if restarts[name] == 6 {
					fmt.Printf("skiff: %s keeps exiting (%s); not restarting it again. Its log: %s\n%s\n", name, status, p.LogPath, indent(cluster.Tail(p.LogPath, 10)))
				}
				continue
			}
			fmt.Printf("skiff: %s exited (%s); restarting it (log: %s)\n", name, status, p.LogPath)
			if err := p.Start(); err != nil {
				fmt.Printf("skiff: restarting %s: %v\n", name, err)
			}
		}
	}
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

// writeDemoImage writes cluster.DemoImage as a `docker save` tarball tagged DemoImage and DemoImageV2.
func writeDemoImage(path string) error {
	img, err := cluster.DemoImage()
	if err != nil {
		return err
	}
	refs := map[name.Reference]v1.Image{}
	for _, ref := range []string{DemoImage, DemoImageV2} {
		tag, err := name.NewTag(ref)
		if err != nil {
			return err
		}
		refs[tag] = img
	}
	return tarball.MultiRefWriteToFile(path, refs)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
