package podautoscaler

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
)

// PodUsage is one pod's measured CPU use.
type PodUsage struct {
	// MilliCPU is the average CPU use over the window, in millicores.
	MilliCPU int64
	// Timestamp is when the measurement ended.
	Timestamp time.Time
}

// MetricsSource returns the current CPU use of pods, keyed by pod UID. Pods it cannot measure yet
// are left out.
type MetricsSource interface {
	PodCPU(ctx context.Context, pods []*corev1.Pod) (map[string]PodUsage, error)
}

// AgentMetrics reads per-pod usage straight from each node's agent, GET
// http://<InternalIP>:<kubeletEndpoint port>/stats/summary, whose cumulative CPU counters it turns into
// a rate between two reads (so a pod has a value from its second read on).
type AgentMetrics struct {
	Nodes  controller.Store[corev1.Node]
	Client *http.Client

	mu   sync.Mutex
	last map[string]sample // pod UID -> previous counter reading
}

type sample struct {
	nanos uint64
	at    time.Time
}

type summary struct {
	Pods []struct {
		UID           string `json:"uid"`
		CPUUsageNanos uint64 `json:"cpuUsageCoreNanoSeconds"`
	} `json:"pods"`
}

func nodeAddress(n *corev1.Node) string {
	port := int(n.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = 10250
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return net.JoinHostPort(a.Address, strconv.Itoa(port))
		}
	}
	return ""
}

// PodCPU implements MetricsSource.
func (m *AgentMetrics) PodCPU(ctx context.Context, pods []*corev1.Pod) (map[string]PodUsage, error) {
	want := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			want[p.Spec.NodeName] = append(want[p.Spec.NodeName], p)
		}
	}
	hc := m.Client
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	m.mu.Lock()
	if m.last == nil {
		m.last = map[string]sample{}
	}
	m.mu.Unlock()
	out := map[string]PodUsage{}
	var firstErr error
	for nodeName := range want {
		n, ok := m.Nodes.Get(nodeName)
		if !ok {
			continue
		}
		addr := nodeAddress(n)
		if addr == "" {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/stats/summary", nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("reading stats of node %s: %w", nodeName, err)
			}
			continue
		}
		var s summary
		err = json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("decoding stats of node %s: %w", nodeName, err)
			}
			continue
		}
		now := time.Now()
		m.mu.Lock()
		for _, ps := range s.Pods {
			prev, ok := m.last[ps.UID]
			m.last[ps.UID] = sample{nanos: ps.CPUUsageNanos, at: now}
			if !ok || ps.CPUUsageNanos < prev.nanos || !now.After(prev.at) {
				continue
			}
			rate := float64(ps.CPUUsageNanos-prev.nanos) / float64(now.Sub(prev.at).Nanoseconds())
			out[ps.UID] = PodUsage{MilliCPU: int64(rate * 1000), Timestamp: now}
		}
		m.mu.Unlock()
	}
	if len(out) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

func resourceMilli(m int64) resource.Quantity {
	return *resource.NewMilliQuantity(m, resource.DecimalSI)
}
