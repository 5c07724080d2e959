// Command skiff-nodeagent is Skiff's node agent (its kubelet): it registers the Node, runs the pods
// bound to it in libcontainer containers with CNI networking, and serves logs and stats on its API.
//
// The same binary is also the container init ("skiff-nodeagent init", run by libcontainer) and the
// per-container shim ("skiff-nodeagent shim <bundle>").
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/resource"

	// Device rules for the cgroup manager, and the C part of container init.
	_ "github.com/opencontainers/cgroups/devices"
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/component"
	"github.com/skiffhq/skiff/shared/version"

	"github.com/skiffhq/skiff/nodeagent/internal/events"
	"github.com/skiffhq/skiff/nodeagent/internal/image"
	"github.com/skiffhq/skiff/nodeagent/internal/network"
	"github.com/skiffhq/skiff/nodeagent/internal/node"
	"github.com/skiffhq/skiff/nodeagent/internal/podroutes"
	"github.com/skiffhq/skiff/nodeagent/internal/pods"
	"github.com/skiffhq/skiff/nodeagent/internal/runtime"
	"github.com/skiffhq/skiff/nodeagent/internal/server"
)

type config struct {
	log              component.LogOptions
	kubeconfig       string
	server           string
	nodeName         string
	nodeIP           string
	podCIDR          string
	rootDir          string
	cgroupRoot       string
	logDir           string
	cniConfDir       string
	cniBinDir        string
	imagesDir        string
	manifestDir      string
	clusterDNS       []string
	clusterDomain    string
	address          string
	port             int
	healthAddr       string
	nodeLabels       string
	taints           string
	insecure         []string
	maxPods          int64
	podPidsLimit     int64
	logMaxSize       string
	logMaxFiles      int
	imageGCHigh      int
	imageGCLow       int
	workers          int
	nodeStatusPeriod time.Duration
	showVersion      bool
}

func defaults() *config {
	host, _ := os.Hostname()
	return &config{
		log:              component.DefaultLogOptions(),
		nodeName:         strings.ToLower(host),
		rootDir:          "/var/lib/skiff/nodeagent",
		cgroupRoot:       "/skiff",
		cniConfDir:       "/etc/cni/net.d",
		cniBinDir:        "/usr/lib/cni",
		clusterDNS:       []string{"10.96.0.10"},
		clusterDomain:    "cluster.local",
		address:          "0.0.0.0",
		port:             10250,
		healthAddr:       "127.0.0.1:10248",
		insecure:         []string{"localhost", "127.0.0.1"},
		maxPods:          110,
		logMaxSize:       "10Mi",
		logMaxFiles:      5,
		imageGCHigh:      85,
		imageGCLow:       80,
		workers:          4,
		nodeStatusPeriod: 10 * time.Second,
	}
}

func (c *config) bindFlags(fs *pflag.FlagSet) {
	c.log.BindFlags(fs)
	fs.StringVar(&c.kubeconfig, "kubeconfig", c.kubeconfig, "kubeconfig of the apiserver to register with")
	fs.StringVar(&c.server, "server", c.server, "apiserver address; overrides the kubeconfig's, enough on its own without one")
	fs.StringVar(&c.nodeName, "node-name", c.nodeName, "name of the Node object (default: the hostname)")
	fs.StringVar(&c.nodeIP, "node-ip", c.nodeIP, "the node's InternalIP, where the apiserver reaches the agent API (default: the first non-loopback address)")
	fs.StringVar(&c.podCIDR, "pod-cidr", c.podCIDR, "this node's pod CIDR, used for the default CNI configuration (e.g. 10.244.1.0/24)")
	fs.StringVar(&c.rootDir, "root-dir", c.rootDir, "where the agent keeps images, containers and pod state")
	fs.StringVar(&c.cgroupRoot, "cgroup-root", c.cgroupRoot, "cgroup under which all pods run")
	fs.StringVar(&c.logDir, "pod-log-dir", c.logDir, "where container logs are written (default: <root-dir>/logs)")
	fs.StringVar(&c.cniConfDir, "cni-conf-dir", c.cniConfDir, "CNI network configuration directory; a default bridge config is written there if it is empty")
	fs.StringVar(&c.cniBinDir, "cni-bin-dir", c.cniBinDir, "CNI plugin binaries (colon-separated list)")
	fs.StringVar(&c.manifestDir, "manifest-dir", c.manifestDir, "static pod manifests, run without an apiserver and mirrored into it (default: <root-dir>/manifests; \"none\" disables)")
	fs.StringVar(&c.imagesDir, "images-dir", c.imagesDir, "directory of image tarballs (docker save or OCI layout) imported at start")
	fs.StringSliceVar(&c.clusterDNS, "cluster-dns", c.clusterDNS, "nameserver(s) for pods with dnsPolicy ClusterFirst")
	fs.StringVar(&c.clusterDomain, "cluster-domain", c.clusterDomain, "the cluster's DNS domain")
	fs.StringVar(&c.address, "address", c.address, "address of the agent API")
	fs.IntVar(&c.port, "port", c.port, "port of the agent API (logs, pods, stats)")
	fs.StringVar(&c.healthAddr, "health-addr", c.healthAddr, "address of the /healthz, /readyz and /metrics server")
	fs.StringVar(&c.nodeLabels, "node-labels", c.nodeLabels, "labels to add to the Node: key=value,...")
	fs.StringVar(&c.taints, "register-with-taints", c.taints, "taints to register the Node with: key=value:Effect,...")
	fs.StringSliceVar(&c.insecure, "insecure-registry", c.insecure, "registries (host or host:port) that may be used over plain HTTP")
	fs.Int64Var(&c.maxPods, "max-pods", c.maxPods, "the Node's pod capacity")
	fs.Int64Var(&c.podPidsLimit, "pod-max-pids", c.podPidsLimit, "process limit of each container (0: none)")
	fs.StringVar(&c.logMaxSize, "container-log-max-size", c.logMaxSize, "rotate a container log past this size")
	fs.IntVar(&c.logMaxFiles, "container-log-max-files", c.logMaxFiles, "log files kept per container, the current one included")
	fs.IntVar(&c.imageGCHigh, "image-gc-high-threshold", c.imageGCHigh, "disk use percent above which unused images are removed")
	fs.IntVar(&c.imageGCLow, "image-gc-low-threshold", c.imageGCLow, "disk use percent image garbage collection brings the disk down to")
	fs.IntVar(&c.workers, "workers", c.workers, "pods synced in parallel")
	fs.DurationVar(&c.nodeStatusPeriod, "node-status-update-frequency", c.nodeStatusPeriod, "how often the Node status is written")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "init":
			// libcontainer's container init; nsenter's C constructor has run already.
			libcontainer.Init()
			return
		case runtime.ShimArg:
			os.Exit(runtime.RunShim(os.Args))
		case "bench-start":
			if err := benchStart(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "skiff-nodeagent:", err)
				os.Exit(1)
			}
			return
		}
	}
	cfg := defaults()
	fs := pflag.NewFlagSet("skiff-nodeagent", pflag.ContinueOnError)
	cfg.bindFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "skiff-nodeagent:", err)
		os.Exit(2)
	}
	if cfg.showVersion {
		fmt.Println(version.String("skiff-nodeagent"))
		return
	}
	log, err := component.NewLogger(cfg.log, "skiff-nodeagent")
	if err != nil {
		fmt.Fprintln(os.Stderr, "skiff-nodeagent:", err)
		os.Exit(2)
	}
	ctx, stop := component.SignalContext()
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Fatal("skiff-nodeagent stopped", zap.Error(err))
	}
	log.Info("skiff-nodeagent stopped; containers keep running")
}

// firstAddress is the first global unicast address of an up interface.
func firstAddress() (string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 || strings.HasPrefix(i.Name, "cni") || strings.HasPrefix(i.Name, "veth") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				return ipn.IP.String(), nil
			}
		}
	}
	return "", errors.New("no non-loopback address found; pass --node-ip")
}

func run(ctx context.Context, cfg *config, log *zap.Logger) error {
	if os.Geteuid() != 0 {
		return errors.New("skiff-nodeagent must run as root (it creates namespaces, cgroups and mounts)")
	}
	if cfg.nodeName == "" {
		return errors.New("--node-name is empty and the hostname could not be read")
	}
	if cfg.nodeIP == "" {
		ip, err := firstAddress()
		if err != nil {
			return err
		}
		cfg.nodeIP = ip
	}
	if net.ParseIP(cfg.nodeIP) == nil {
		return fmt.Errorf("--node-ip %q is not an IP address", cfg.nodeIP)
	}
	labels, err := node.ParseLabels(cfg.nodeLabels)
	if err != nil {
		return err
	}
	taints, err := node.ParseTaints(cfg.taints)
	if err != nil {
		return err
	}
	logMax, err := resource.ParseQuantity(cfg.logMaxSize)
	if err != nil {
		return fmt.Errorf("--container-log-max-size: %w", err)
	}
	if cfg.logDir == "" {
		cfg.logDir = filepath.Join(cfg.rootDir, "logs")
	}
	switch cfg.manifestDir {
	case "":
		cfg.manifestDir = filepath.Join(cfg.rootDir, "manifests")
	case "none":
		cfg.manifestDir = ""
	}
	restCfg, err := client.Load(client.LoadOptions{Kubeconfig: cfg.kubeconfig, Server: cfg.server})
	if err != nil {
		return err
	}
	restCfg.UserAgent = "skiff-nodeagent/" + cfg.nodeName
	c, err := client.New(restCfg)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locating the agent binary: %w", err)
	}

	reg := component.NewRegistry()
	rt, err := runtime.New(filepath.Join(cfg.rootDir, "containers"), filepath.Join(cfg.rootDir, "libcontainer"), self)
	if err != nil {
		return err
	}
	images, err := image.New(filepath.Join(cfg.rootDir, "images"), cfg.insecure)
	if err != nil {
		return err
	}
	if cfg.imagesDir != "" {
		imported, err := images.ImportDir(ctx, cfg.imagesDir)
		if err != nil {
			log.Error("importing image tarballs", zap.Error(err))
		}
		for _, img := range imported {
			log.Info("image imported", zap.Strings("names", img.Names), zap.String("id", img.ID))
		}
	}
	nw, err := network.New(network.Config{
		ConfDir: cfg.cniConfDir, BinDirs: filepath.SplitList(cfg.cniBinDir), CacheDir: filepath.Join(cfg.rootDir, "cni", "cache"),
	})
	if err != nil {
		return err
	}
	if wrote, err := nw.EnsureDefaultConfig(cfg.podCIDR, filepath.Join(cfg.rootDir, "cni", "networks")); err != nil {
		return err
	} else if wrote {
		log.Info("wrote default CNI configuration", zap.String("dir", cfg.cniConfDir), zap.String("pod_cidr", cfg.podCIDR))
	}
	recorder, err := events.New(events.NewAPISink(c), cfg.nodeName, reg, log)
	if err != nil {
		return err
	}
	capacity := node.Capacity(cfg.rootDir, cfg.maxPods)
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	pm, err := pods.New(pods.Config{
		NodeName: cfg.nodeName, NodeIP: cfg.nodeIP, RootDir: cfg.rootDir, LogDir: cfg.logDir, CgroupRoot: cfg.cgroupRoot,
		DNS:     pods.DNSConfig{Servers: cfg.clusterDNS, Domain: cfg.clusterDomain, HostResolvConf: string(resolv)},
		NodeCPU: capacity[corev1.ResourceCPU], NodeMemory: capacity[corev1.ResourceMemory],
		PodPidsLimit: cfg.podPidsLimit, Workers: cfg.workers,
		LogMaxSize: logMax.Value(), LogMaxFiles: cfg.logMaxFiles,
		ImageGC:  image.GCPolicy{HighPercent: cfg.imageGCHigh, LowPercent: cfg.imageGCLow},
		Recorder: recorder, ManifestDir: cfg.manifestDir,
	}, pods.NewAPI(c), rt, images, nw, reg, log)
	if err != nil {
		return err
	}
	hostname, _ := os.Hostname()
	na := node.New(node.Config{
		Name: cfg.nodeName, IP: cfg.nodeIP, Hostname: hostname, Port: int32(cfg.port), PodCIDR: cfg.podCIDR,
		Labels: labels, Taints: taints, RootDir: cfg.rootDir, MaxPods: cfg.maxPods, StatusInterval: cfg.nodeStatusPeriod,
		Images: func() []corev1.ContainerImage {
			var out []corev1.ContainerImage
			for _, img := range images.List() {
				out = append(out, corev1.ContainerImage{Names: append(append([]string(nil), img.RepoDigests...), img.Names...), SizeBytes: img.Size})
			}
			return out
		},
	}, c, log)
	api := server.New(net.JoinHostPort(cfg.address, strconv.Itoa(cfg.port)), pm, reg, log)
	if err := api.Listen(); err != nil {
		return err
	}
	health := component.NewServer(cfg.healthAddr, reg, log)
	health.AddReadyCheck(pm.Ready)
	if err := health.Listen(); err != nil {
		return err
	}
	log.Info("skiff-nodeagent starting", zap.String("node", cfg.nodeName), zap.String("node_ip", cfg.nodeIP), zap.String("version", version.Version))
	return component.RunAll(ctx, health.Run, api.Run, na.Run, pm.Run, recorder.Run, podroutes.New(c, cfg.nodeName, log).Run)
}
