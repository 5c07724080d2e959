// Package config holds skiff-scheduler's settings: the command-line flags (Options) and the policy file
// given with --config (File), with their defaults, and turns them into the scheduler's Config. It does
// not run anything.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	v1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/component"
	"github.com/skiffhq/skiff/shared/leaderelection"

	"github.com/skiffhq/skiff/scheduler/internal/framework"
	"github.com/skiffhq/skiff/scheduler/internal/scheduler"
)

// Component is the scheduler's name in logs, user agents and the default lease.
const Component = "skiff-scheduler"

// Options are the command-line flags.
type Options struct {
	Kubeconfig string
	Server     string
	ConfigFile string
	// SchedulerName, when set, overrides the config file's schedulerName.
	SchedulerName string
	HealthAddr    string
	QPS           float64
	Burst         int
	LeaderElect   leaderelection.Options
	Log           component.LogOptions
}

// DefaultOptions returns the flag defaults.
func DefaultOptions() Options {
	le := leaderelection.DefaultOptions(Component)
	return Options{
		HealthAddr:  "127.0.0.1:10259",
		QPS:         500,
		Burst:       1000,
		LeaderElect: le,
		Log:         component.DefaultLogOptions(),
	}
}

// BindFlags registers the flags.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "path to a kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&o.Server, "master", o.Server, "apiserver address, overriding the kubeconfig (http://127.0.0.1:8080)")
	fs.StringVar(&o.ConfigFile, "config", o.ConfigFile, "path to the scheduler policy file (YAML); defaults apply without it")
	fs.StringVar(&o.SchedulerName, "scheduler-name", o.SchedulerName, `the spec.schedulerName this scheduler serves (default "default-scheduler", or the config file's)`)
	fs.StringVar(&o.HealthAddr, "health-addr", o.HealthAddr, "address of the /healthz, /readyz and /metrics server")
	fs.Float64Var(&o.QPS, "kube-api-qps", o.QPS, "requests per second to the apiserver (negative: unlimited)")
	fs.IntVar(&o.Burst, "kube-api-burst", o.Burst, "burst of requests to the apiserver")
	o.LeaderElect.BindFlags(fs)
	o.Log.BindFlags(fs)
}

// File is the policy file. Every field is optional; a missing one keeps its default.
type File struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	// SchedulerName is the spec.schedulerName served. Default "default-scheduler".
	SchedulerName string `json:"schedulerName,omitempty"`
	// PercentageOfNodesToScore: 0 (default) is adaptive, 50% - nodes/125 with a 5% floor; 100 checks
	// every node.
	PercentageOfNodesToScore *int32 `json:"percentageOfNodesToScore,omitempty"`
	// MinFeasibleNodesToFind is the floor of the search. Default 100.
	MinFeasibleNodesToFind *int `json:"minFeasibleNodesToFind,omitempty"`
	// EquivalenceClasses and ScoreCache switch the Borg optimisations. Default true.
	EquivalenceClasses *bool `json:"equivalenceClasses,omitempty"`
	ScoreCache         *bool `json:"scoreCache,omitempty"`
	// MaxCachedClasses bounds the equivalence cache. Default 64.
	MaxCachedClasses *int `json:"maxCachedClasses,omitempty"`
	// Preemption switches preemption. Default true.
	Preemption *bool `json:"preemption,omitempty"`
	// PodInitialBackoffSeconds and PodMaxBackoffSeconds bound the retry back-off. Default 1 and 10.
	PodInitialBackoffSeconds *float64 `json:"podInitialBackoffSeconds,omitempty"`
	PodMaxBackoffSeconds     *float64 `json:"podMaxBackoffSeconds,omitempty"`
	// PodMaxUnschedulableSeconds: an unschedulable pod is retried at least this often. Default 300.
	PodMaxUnschedulableSeconds *float64 `json:"podMaxUnschedulableSeconds,omitempty"`
	// AssumedPodTTLSeconds: how long a bound pod keeps its room before the binding is observed. Default 30.
	AssumedPodTTLSeconds *float64 `json:"assumedPodTTLSeconds,omitempty"`
	// BindWorkers bounds the bindings in flight. Default 256.
	BindWorkers *int `json:"bindWorkers,omitempty"`
	// Events switches Scheduled/FailedScheduling/Preempted events. Default true.
	Events *bool `json:"events,omitempty"`
	// Scoring sets the scores' weights and the resource-allocation policy.
	Scoring *Scoring `json:"scoring,omitempty"`
}

// Scoring is the score policy.
type Scoring struct {
	// Weights by score name; 0 disables a score. Defaults: NodeResourcesFit 1,
	// NodeResourcesBalancedAllocation 1, NodeAffinity 2, InterPodAffinity 2, TaintToleration 3,
	// PodTopologySpread 2, SelectorSpread 1.
	Weights map[string]int64 `json:"weights,omitempty"`
	// LeastAllocated and MostAllocated mix worst fit and best fit into NodeResourcesFit. Default 1 and 0.
	LeastAllocated *int64 `json:"leastAllocated,omitempty"`
	MostAllocated  *int64 `json:"mostAllocated,omitempty"`
	// Resources the allocation scores average over. Default cpu and memory, weight 1 each.
	Resources []framework.ResourceWeight `json:"resources,omitempty"`
}

// ScoreNames are the scores the Weights map accepts.
var ScoreNames = []string{
	framework.NodeResourcesFit, framework.BalancedAllocation, framework.NodeAffinity, framework.InterPodAffinity,
	framework.TaintToleration, framework.PodTopologySpread, framework.SelectorSpread,
}

// LoadFile reads and validates a policy file; unknown fields are errors.
func LoadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading scheduler config: %w", err)
	}
	return ParseFile(b)
}

// ParseFile parses and validates a policy file's contents.
func ParseFile(b []byte) (*File, error) {
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("scheduler config: %w", err)
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if string(bytes.TrimSpace(js)) != "null" {
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("scheduler config: %w", err)
		}
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("scheduler config: %w", err)
	}
	return &f, nil
}

func (f *File) validate() error {
	var errs []error
	if p := f.PercentageOfNodesToScore; p != nil && (*p < 0 || *p > 100) {
		errs = append(errs, fmt.Errorf("percentageOfNodesToScore: %d is not in 0..100", *p))
	}
	if m := f.MinFeasibleNodesToFind; m != nil && *m < 1 {
		errs = append(errs, fmt.Errorf("minFeasibleNodesToFind: %d must be at least 1", *m))
	}
	for name, v := range map[string]*float64{"podInitialBackoffSeconds": f.PodInitialBackoffSeconds, "podMaxBackoffSeconds": f.PodMaxBackoffSeconds,
		"podMaxUnschedulableSeconds": f.PodMaxUnschedulableSeconds, "assumedPodTTLSeconds": f.AssumedPodTTLSeconds} {
		if v != nil && *v < 0 {
			errs = append(errs, fmt.Errorf("%s: %g must not be negative", name, *v))
		}
	}
	if f.PodInitialBackoffSeconds != nil && f.PodMaxBackoffSeconds != nil && *f.PodMaxBackoffSeconds < *f.PodInitialBackoffSeconds {
		errs = append(errs, errors.New("podMaxBackoffSeconds must not be below podInitialBackoffSeconds"))
	}
	if s := f.Scoring; s != nil {
		for name, w := range s.Weights {
			if !slices.Contains(ScoreNames, name) {
				errs = append(errs, fmt.Errorf("scoring.weights: unknown score %q (known: %v)", name, ScoreNames))
			}
			if w < 0 {
				errs = append(errs, fmt.Errorf("scoring.weights.%s: %d must not be negative", name, w))
			}
		}
		if (s.LeastAllocated != nil && *s.LeastAllocated < 0) || (s.MostAllocated != nil && *s.MostAllocated < 0) {
			errs = append(errs, errors.New("scoring: leastAllocated and mostAllocated must not be negative"))
		}
		for i, r := range s.Resources {
			if r.Name == "" || r.Weight < 1 {
				errs = append(errs, fmt.Errorf("scoring.resources[%d]: needs a name and a weight of at least 1", i))
			}
		}
	}
	return errors.Join(errs...)
}

func seconds(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }

// Apply returns the scheduler config: the defaults overridden by the file (which may be nil).
func (f *File) Apply(c scheduler.Config) scheduler.Config {
	if f == nil {
		return c
	}
	if f.SchedulerName != "" {
		c.SchedulerName = f.SchedulerName
	}
	a := &c.Algorithm
	if f.PercentageOfNodesToScore != nil {
		a.PercentageOfNodesToScore = *f.PercentageOfNodesToScore
	}
	if f.MinFeasibleNodesToFind != nil {
		a.MinFeasibleNodesToFind = *f.MinFeasibleNodesToFind
	}
	if f.EquivalenceClasses != nil {
		a.EquivalenceClasses = *f.EquivalenceClasses
	}
	if f.ScoreCache != nil {
		a.ScoreCache = *f.ScoreCache
	}
	if f.MaxCachedClasses != nil {
		a.MaxCachedClasses = *f.MaxCachedClasses
	}
	if f.Preemption != nil {
		c.DisablePreemption = !*f.Preemption
	}
	if f.PodInitialBackoffSeconds != nil {
		c.Queue.InitialBackoff = seconds(*f.PodInitialBackoffSeconds)
	}
	if f.PodMaxBackoffSeconds != nil {
		c.Queue.MaxBackoff = seconds(*f.PodMaxBackoffSeconds)
	}
	if f.PodMaxUnschedulableSeconds != nil {
		c.Queue.MaxUnschedulable = seconds(*f.PodMaxUnschedulableSeconds)
	}
	if f.AssumedPodTTLSeconds != nil {
		c.AssumedPodTTL = seconds(*f.AssumedPodTTLSeconds)
	}
	if f.BindWorkers != nil {
		c.BindWorkers = *f.BindWorkers
	}
	if f.Events != nil {
		c.Events = *f.Events
	}
	if s := f.Scoring; s != nil {
		w := make(map[string]int64, len(a.Weights))
		for k, v := range a.Weights {
			w[k] = v
		}
		for k, v := range s.Weights {
			w[k] = v
		}
		a.Weights = w
		if s.LeastAllocated != nil {
			a.LeastAllocatedWeight = *s.LeastAllocated
		}
		if s.MostAllocated != nil {
			a.MostAllocatedWeight = *s.MostAllocated
		}
		if len(s.Resources) > 0 {
			a.Resources = s.Resources
		}
	}
	return c
}

// Build turns the options (and the policy file they name) into the scheduler config.
func (o *Options) Build() (scheduler.Config, error) {
	c := scheduler.DefaultConfig()
	if o.ConfigFile != "" {
		f, err := LoadFile(o.ConfigFile)
		if err != nil {
			return c, err
		}
		c = f.Apply(c)
	}
	if o.SchedulerName != "" {
		c.SchedulerName = o.SchedulerName
	}
	if c.SchedulerName == "" {
		c.SchedulerName = v1.DefaultSchedulerName
	}
	return c, nil
}
