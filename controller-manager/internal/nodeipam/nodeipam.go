// Package nodeipam gives every node a pod CIDR: a /24 (--node-cidr-mask-size) out of --cluster-cidr,
// written to spec.podCIDR and spec.podCIDRs. The allocation map is rebuilt from the nodes at start,
// so a restart never hands out a range twice. IPv4 only.
package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"sync"

	"go.uber.org/zap"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/client"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
	"github.com/skiffhq/skiff/controller-manager/internal/events"
)

// Name is the controller's name in --controllers and metrics.
const Name = "nodeipam"

// NodePatcher patches nodes.
type NodePatcher interface {
	Patch(ctx context.Context, ns, name string, pt client.PatchType, data []byte, opts client.PatchOptions, sub ...string) (*corev1.Node, error)
}

// Allocator hands out fixed-size subnets of a cluster CIDR.
type Allocator struct {
	mu       sync.Mutex
	base     *big.Int
	maskSize int
	count    int
	used     map[int]string // index -> node
	byNode   map[string]int
	next     int
}

// NewAllocator splits cidr into subnets of prefix length maskSize.
func NewAllocator(cidr string, maskSize int) (*Allocator, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("parsing cluster CIDR %q: %w", cidr, err)
	}
	ones, bits := n.Mask.Size()
	if bits != 32 {
		return nil, fmt.Errorf("cluster CIDR %q: only IPv4 is supported", cidr)
	}
	if maskSize < ones || maskSize > 30 {
		return nil, fmt.Errorf("node CIDR mask size %d must be between %d and 30", maskSize, ones)
	}
	return &Allocator{
		base: new(big.Int).SetBytes(n.IP.To4()), maskSize: maskSize, count: 1 << (maskSize - ones),
		used: map[int]string{}, byNode: map[string]int{},
	}, nil
}

func (a *Allocator) subnet(i int) string {
	v := new(big.Int).Add(a.base, new(big.Int).Lsh(big.NewInt(int64(i)), uint(32-a.maskSize)))
	b := v.Bytes()
	ip := make(net.IP, 4)
	copy(ip[4-len(b):], b)
	return fmt.Sprintf("%s/%d", ip.String(), a.maskSize)
}

func (a *Allocator) index(cidr string) (int, bool) {
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil || ip.To4() == nil {
		return 0, false
	}
	if ones, _ := n.Mask.Size(); ones != a.maskSize {
		return 0, false
	}
	off := new(big.Int).Sub(new(big.Int).SetBytes(n.IP.To4()), a.base)
	if off.Sign() < 0 {
		return 0, false
	}
	i := int(new(big.Int).Rsh(off, uint(32-a.maskSize)).Int64())
	if i >= a.count {
		return 0, false
	}
	return i, true
}

// Occupy marks a node's existing CIDR as used.
func (a *Allocator) Occupy(node, cidr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i, ok := a.index(cidr); ok {
		a.used[i] = node
		a.byNode[node] = i
	}
}

// Allocate returns the node's subnet, taking the next free one if it has none.
func (a *Allocator) Allocate(node string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i, ok := a.byNode[node]; ok {
		return a.subnet(i), nil
	}
	for k := 0; k < a.count; k++ {
		i := (a.next + k) % a.count
		if _, taken := a.used[i]; !taken {
			a.used[i] = node
			a.byNode[node] = i
			a.next = i + 1
			return a.subnet(i), nil
		}
	}
	return "", fmt.Errorf("the cluster CIDR has no free /%d left", a.maskSize)
}

// Release frees a node's subnet.
func (a *Allocator) Release(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i, ok := a.byNode[node]; ok {
		delete(a.used, i)
		delete(a.byNode, node)
	}
}

// Controller assigns pod CIDRs to nodes. Run its queue only after the node cache has synced and
// Prime has been called.
type Controller struct {
	Alloc    *Allocator
	Nodes    controller.Store[corev1.Node]
	API      NodePatcher
	Recorder *events.Recorder
	Queue    controller.Queue
	Log      *zap.Logger
}

// Prime occupies the CIDRs the cached nodes already have.
func (c *Controller) Prime() {
	for _, n := range c.Nodes.List() {
		if n.Spec.PodCIDR != "" {
			c.Alloc.Occupy(n.Name, n.Spec.PodCIDR)
		}
	}
}

// Sync allocates a CIDR for a node that has none.
func (c *Controller) Sync(ctx context.Context, key string) error {
	n, ok := c.Nodes.Get(key)
	if !ok {
		c.Alloc.Release(key)
		return nil
	}
	if n.Spec.PodCIDR != "" {
		c.Alloc.Occupy(n.Name, n.Spec.PodCIDR)
		return nil
	}
	cidr, err := c.Alloc.Allocate(n.Name)
	if err != nil {
		c.Recorder.Eventf(events.Ref("v1", "Node", &n.ObjectMeta), events.Warning, "CIDRNotAvailable", "Node %s status is now: CIDRNotAvailable", n.Name)
		return err
	}
	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": n.ResourceVersion},
		"spec":     map[string]any{"podCIDR": cidr, "podCIDRs": []string{cidr}},
	})
	if _, err := c.API.Patch(ctx, "", n.Name, client.MergePatchType, patch, client.PatchOptions{}); err != nil {
		if client.IsNotFound(err) {
			c.Alloc.Release(n.Name)
			return nil
		}
		return fmt.Errorf("assigning pod CIDR %s to node %s: %w", cidr, n.Name, err)
	}
	c.Log.Info("pod_cidr_assigned", zap.String("node", n.Name), zap.String("cidr", cidr))
	return nil
}
