// Package manager wires Skiff's controllers into one process: it builds the shared informers each
// enabled controller needs, registers the event handlers that feed their work queues, waits for the
// caches, and runs every controller's workers (under leader election when asked). main.go only parses
// flags into a Config and calls Run.
package manager

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/skiffhq/skiff/shared/leaderelection"

	"github.com/skiffhq/skiff/controller-manager/internal/cronjob"
	"github.com/skiffhq/skiff/controller-manager/internal/daemonset"
	"github.com/skiffhq/skiff/controller-manager/internal/deployment"
	"github.com/skiffhq/skiff/controller-manager/internal/endpoints"
	"github.com/skiffhq/skiff/controller-manager/internal/garbagecollector"
	"github.com/skiffhq/skiff/controller-manager/internal/job"
	"github.com/skiffhq/skiff/controller-manager/internal/namespace"
	"github.com/skiffhq/skiff/controller-manager/internal/nodeipam"
	"github.com/skiffhq/skiff/controller-manager/internal/nodelifecycle"
	"github.com/skiffhq/skiff/controller-manager/internal/podautoscaler"
	"github.com/skiffhq/skiff/controller-manager/internal/replicaset"
	"github.com/skiffhq/skiff/controller-manager/internal/serviceaccount"
	"github.com/skiffhq/skiff/controller-manager/internal/statefulset"
	"github.com/skiffhq/skiff/controller-manager/internal/volume"
)

// AllControllers lists every controller name --controllers accepts, in start order.
var AllControllers = []string{
	replicaset.Name, deployment.Name, daemonset.Name, statefulset.Name, job.Name, cronjob.Name, volume.Name, podautoscaler.Name, endpoints.Name, endpoints.SliceName, nodelifecycle.Name,
	nodeipam.Name, garbagecollector.Name, namespace.Name, serviceaccount.Name,
}

// Config is everything the controller-manager is told by flags.
type Config struct {
	Kubeconfig  string
	Server      string
	Controllers []string
	HealthAddr  string

	// Leader is the leader election configuration (--leader-elect and friends, shared/leaderelection).
	Leader leaderelection.Options

	ConcurrentReplicaSetSyncs    int
	ConcurrentDeploymentSyncs    int
	ConcurrentEndpointSyncs      int
	ConcurrentGCSyncs            int
	ConcurrentNamespaceSyncs     int
	ConcurrentServiceAccountSync int
	ConcurrentDaemonSetSyncs     int
	ConcurrentJobSyncs           int
	ConcurrentStatefulSetSyncs   int
	ConcurrentVolumeSyncs        int
	ConcurrentHPASyncs           int
	// HPASyncPeriod, HPATolerance and HPADownscaleStabilization tune the autoscaler.
	HPASyncPeriod             time.Duration
	HPATolerance              float64
	HPADownscaleStabilization time.Duration
	// LocalPathBaseDir is where the local-path provisioner puts volumes on their node.
	LocalPathBaseDir       string
	ConcurrentCronJobSyncs int
	// JobBackoffBase and JobBackoffMax bound the delay before a failed job pod is replaced.
	JobBackoffBase, JobBackoffMax time.Duration
	MaxEndpointsPerSlice          int

	Node              nodelifecycle.Config
	AllocateNodeCIDRs bool
	ClusterCIDR       string
	NodeCIDRMaskSize  int

	// QPS and Burst bound the API client.
	QPS   float64
	Burst int
}

// Default returns the defaults (Kubernetes's where it has one).
func Default() Config {
	host, _ := os.Hostname()
	le := leaderelection.DefaultOptions("skiff-controller-manager")
	le.Identity = fmt.Sprintf("%s_%d", host, os.Getpid())
	return Config{
		Controllers: []string{"*"}, HealthAddr: "127.0.0.1:10257",
		Leader:                    le,
		ConcurrentReplicaSetSyncs: 5, ConcurrentDeploymentSyncs: 5, ConcurrentEndpointSyncs: 5,
		ConcurrentGCSyncs: 20, ConcurrentNamespaceSyncs: 10, ConcurrentServiceAccountSync: 5,
		ConcurrentDaemonSetSyncs: 2, ConcurrentJobSyncs: 5, ConcurrentStatefulSetSyncs: 5, ConcurrentVolumeSyncs: 2, ConcurrentHPASyncs: 5,
		HPASyncPeriod: podautoscaler.DefaultSyncPeriod, HPATolerance: podautoscaler.DefaultTolerance,
		HPADownscaleStabilization: podautoscaler.DefaultDownscaleStabilization,
		LocalPathBaseDir:          volume.DefaultLocalPathBase, ConcurrentCronJobSyncs: 5,
		JobBackoffBase: job.DefaultBackoffBase, JobBackoffMax: job.DefaultBackoffMax,
		MaxEndpointsPerSlice: endpoints.DefaultMaxEndpointsPerSlice,
		Node:                 nodelifecycle.DefaultConfig(),
		AllocateNodeCIDRs:    false, ClusterCIDR: "10.244.0.0/16", NodeCIDRMaskSize: 24,
		QPS: 200, Burst: 400,
	}
}

// BindFlags registers the flags on fs.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Kubeconfig, "kubeconfig", c.Kubeconfig, "path to a kubeconfig for the apiserver")
	fs.StringVar(&c.Server, "server", c.Server, "apiserver address, overriding the kubeconfig (e.g. http://127.0.0.1:8080)")
	fs.StringSliceVar(&c.Controllers, "controllers", c.Controllers,
		"controllers to run: '*' is all, 'foo' enables foo, '-foo' disables foo; known: "+strings.Join(AllControllers, ", "))
	fs.StringVar(&c.HealthAddr, "health-addr", c.HealthAddr, "address of the /healthz, /readyz and /metrics server")
	c.Leader.BindFlags(fs)
	fs.IntVar(&c.ConcurrentReplicaSetSyncs, "concurrent-replicaset-syncs", c.ConcurrentReplicaSetSyncs, "replica set workers")
	fs.IntVar(&c.ConcurrentDeploymentSyncs, "concurrent-deployment-syncs", c.ConcurrentDeploymentSyncs, "deployment workers")
	fs.IntVar(&c.ConcurrentEndpointSyncs, "concurrent-endpoint-syncs", c.ConcurrentEndpointSyncs, "endpoints and endpointslice workers (each)")
	fs.IntVar(&c.ConcurrentGCSyncs, "concurrent-gc-syncs", c.ConcurrentGCSyncs, "garbage collector workers")
	fs.IntVar(&c.ConcurrentNamespaceSyncs, "concurrent-namespace-syncs", c.ConcurrentNamespaceSyncs, "namespace workers")
	fs.IntVar(&c.ConcurrentServiceAccountSync, "concurrent-serviceaccount-syncs", c.ConcurrentServiceAccountSync, "service account workers")
	fs.IntVar(&c.ConcurrentDaemonSetSyncs, "concurrent-daemonset-syncs", c.ConcurrentDaemonSetSyncs, "daemon set workers")
	fs.IntVar(&c.ConcurrentStatefulSetSyncs, "concurrent-statefulset-syncs", c.ConcurrentStatefulSetSyncs, "stateful set workers")
	fs.IntVar(&c.ConcurrentVolumeSyncs, "concurrent-volume-syncs", c.ConcurrentVolumeSyncs, "persistent volume binder workers (each for volumes and claims)")
	fs.StringVar(&c.LocalPathBaseDir, "local-path-base-dir", c.LocalPathBaseDir, "directory on each node under which local-path volumes are created")
	fs.IntVar(&c.ConcurrentHPASyncs, "concurrent-horizontal-pod-autoscaler-syncs", c.ConcurrentHPASyncs, "autoscaler workers")
	fs.DurationVar(&c.HPASyncPeriod, "horizontal-pod-autoscaler-sync-period", c.HPASyncPeriod, "how often each autoscaler is evaluated")
	fs.Float64Var(&c.HPATolerance, "horizontal-pod-autoscaler-tolerance", c.HPATolerance, "metric ratio change below which the autoscaler does nothing")
	fs.DurationVar(&c.HPADownscaleStabilization, "horizontal-pod-autoscaler-downscale-stabilization", c.HPADownscaleStabilization, "scale-down stabilization window when an autoscaler's behavior sets none")
	fs.IntVar(&c.ConcurrentJobSyncs, "concurrent-job-syncs", c.ConcurrentJobSyncs, "job workers")
	fs.IntVar(&c.ConcurrentCronJobSyncs, "concurrent-cron-job-syncs", c.ConcurrentCronJobSyncs, "cron job workers")
	fs.DurationVar(&c.JobBackoffBase, "job-backoff-base", c.JobBackoffBase, "delay before the first failed job pod is replaced (doubles per failure)")
	fs.DurationVar(&c.JobBackoffMax, "job-backoff-max", c.JobBackoffMax, "the longest delay before a failed job pod is replaced")
	fs.IntVar(&c.MaxEndpointsPerSlice, "max-endpoints-per-slice", c.MaxEndpointsPerSlice, "endpoints per EndpointSlice")
	fs.DurationVar(&c.Node.MonitorPeriod, "node-monitor-period", c.Node.MonitorPeriod, "how often node health is checked")
	fs.DurationVar(&c.Node.GracePeriod, "node-monitor-grace-period", c.Node.GracePeriod, "how long a node may be silent before it is marked Unknown")
	fs.Float64Var(&c.Node.EvictionRate, "node-eviction-rate", c.Node.EvictionRate, "nodes per second that may get a NoExecute taint in a healthy zone")
	fs.Float64Var(&c.Node.SecondaryEvictionRate, "secondary-node-eviction-rate", c.Node.SecondaryEvictionRate, "the same rate in an unhealthy zone of a large cluster")
	fs.Float64Var(&c.Node.UnhealthyZoneThreshold, "unhealthy-zone-threshold", c.Node.UnhealthyZoneThreshold, "fraction of not-ready nodes (at least 3) that makes a zone unhealthy")
	fs.IntVar(&c.Node.LargeClusterSizeThreshold, "large-cluster-size-threshold", c.Node.LargeClusterSizeThreshold, "zones larger than this keep evicting at the secondary rate when unhealthy")
	fs.DurationVar(&c.Node.DefaultNotReadyToleration, "default-not-ready-toleration-seconds", c.Node.DefaultNotReadyToleration, "toleration assumed for pods without one for the not-ready taint")
	fs.DurationVar(&c.Node.DefaultUnreachableToleration, "default-unreachable-toleration-seconds", c.Node.DefaultUnreachableToleration, "toleration assumed for pods without one for the unreachable taint")
	fs.BoolVar(&c.AllocateNodeCIDRs, "allocate-node-cidrs", c.AllocateNodeCIDRs, "assign each node a pod CIDR from --cluster-cidr")
	fs.StringVar(&c.ClusterCIDR, "cluster-cidr", c.ClusterCIDR, "the pod network range node CIDRs are cut from")
	fs.IntVar(&c.NodeCIDRMaskSize, "node-cidr-mask-size", c.NodeCIDRMaskSize, "prefix length of each node's pod CIDR")
	fs.Float64Var(&c.QPS, "kube-api-qps", c.QPS, "requests per second to the apiserver")
	fs.IntVar(&c.Burst, "kube-api-burst", c.Burst, "burst of requests to the apiserver")
}

// Enabled resolves --controllers into the set of controllers to run.
func (c *Config) Enabled() (map[string]bool, error) {
	known := map[string]bool{}
	for _, n := range AllControllers {
		known[n] = true
	}
	on := map[string]bool{}
	star := false
	for _, s := range c.Controllers {
		s = strings.TrimSpace(s)
		switch {
		case s == "*":
			star = true
		case strings.HasPrefix(s, "-"):
			if !known[s[1:]] {
				return nil, fmt.Errorf("--controllers: unknown controller %q (known: %s)", s[1:], strings.Join(AllControllers, ", "))
			}
		case s == "":
		default:
			if !known[s] {
				return nil, fmt.Errorf("--controllers: unknown controller %q (known: %s)", s, strings.Join(AllControllers, ", "))
			}
			on[s] = true
		}
	}
	if star {
		for _, n := range AllControllers {
			on[n] = true
		}
	}
	for _, s := range c.Controllers {
		if strings.HasPrefix(s, "-") {
			delete(on, s[1:])
		}
	}
	if !c.AllocateNodeCIDRs {
		delete(on, nodeipam.Name)
	}
	return on, nil
}
