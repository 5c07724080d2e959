// Package podroutes gives a node host-gateway routes to the other nodes' pods: for every other Node
// with a spec.podCIDR and an InternalIP, the route "<podCIDR> via <InternalIP>" in the agent's network
// namespace, so pods on different nodes reach each other by pod IP without encapsulation or NAT. The
// routes carry their own protocol number (Protocol), so routes left by a node that is gone, or whose
// CIDR or address changed, are recognised and removed, at start too (a restarted agent adopts what it
// finds). Routes of other origins are never touched.
//
// Host-gateway needs the nodes to share a link (one L2 segment): a node whose address is not on a
// local subnet is skipped with one log line. It does not do VXLAN, and it does not allocate CIDRs (the
// controller-manager's node IPAM does).
package podroutes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/informer"
)

// Protocol marks the routes this package owns (iproute2 shows it as "proto 200").
const Protocol = netlink.RouteProtocol(200)

// Route is one pod CIDR routed through a node address.
type Route struct {
	// CIDR is the other node's pod CIDR; Via its InternalIP; Node its name (for logs).
	CIDR, Via, Node string
}

func (r Route) String() string { return r.CIDR + " via " + r.Via }

// Desired computes the routes a node named self needs: one per other node with a pod CIDR and an
// InternalIP, leaving out CIDRs that overlap self's own. Sorted by CIDR.
func Desired(self string, nodes []*corev1.Node) []Route {
	var own *net.IPNet
	for _, n := range nodes {
		if n.Name == self && n.Spec.PodCIDR != "" {
			_, own, _ = net.ParseCIDR(n.Spec.PodCIDR)
		}
	}
	seen := map[string]bool{}
	var out []Route
	for _, n := range nodes {
		if n.Name == self || n.Spec.PodCIDR == "" {
			continue
		}
		_, cidr, err := net.ParseCIDR(n.Spec.PodCIDR)
		if err != nil || cidr.IP.To4() == nil {
			continue
		}
		if own != nil && (own.Contains(cidr.IP) || cidr.Contains(own.IP)) {
			continue
		}
		via := internalIP(n)
		if via == "" || seen[cidr.String()] {
			continue
		}
		seen[cidr.String()] = true
		out = append(out, Route{CIDR: cidr.String(), Via: via, Node: n.Name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CIDR < out[j].CIDR })
	return out
}

func internalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if ip := net.ParseIP(a.Address); ip != nil && ip.To4() != nil {
				return ip.String()
			}
		}
	}
	return ""
}

// Table is where routes are programmed: the kernel's main routing table of this network namespace
// (Kernel), or a fake in tests.
type Table interface {
	// List returns the routes carrying Protocol.
	List() ([]Route, error)
	// Replace adds or replaces the route for r.CIDR.
	Replace(r Route) error
	// Delete removes the route for r.CIDR.
	Delete(r Route) error
}

// Kernel is the main routing table of the calling process's network namespace, through netlink.
type Kernel struct{}

// List implements Table.
func (Kernel) List() ([]Route, error) {
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: Protocol},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return nil, fmt.Errorf("listing pod routes: %w", err)
	}
	var out []Route
	for _, r := range rs {
		if r.Dst == nil || r.Gw == nil {
			continue
		}
		out = append(out, Route{CIDR: r.Dst.String(), Via: r.Gw.String()})
	}
	return out, nil
}

// Replace implements Table.
func (Kernel) Replace(r Route) error {
	_, dst, err := net.ParseCIDR(r.CIDR)
	if err != nil {
		return err
	}
	gw := net.ParseIP(r.Via)
	if gw == nil {
		return fmt.Errorf("node address %q is not an IP", r.Via)
	}
	// The gateway must be on a local link: find the link the kernel would use and insist it has no
	// gateway of its own (host-gateway routing cannot cross a router).
	via, err := netlink.RouteGet(gw)
	if err != nil || len(via) == 0 {
		return fmt.Errorf("route %s: node address unreachable: %v", r, err)
	}
	if via[0].Gw != nil {
		return fmt.Errorf("route %s: node address %s is not on a local link (reached via %s); host-gateway routing needs the nodes on one segment", r, r.Via, via[0].Gw)
	}
	err = netlink.RouteReplace(&netlink.Route{
		LinkIndex: via[0].LinkIndex, Dst: dst, Gw: gw, Protocol: Protocol, Table: unix.RT_TABLE_MAIN, Scope: netlink.SCOPE_UNIVERSE,
	})
	if err != nil {
		return fmt.Errorf("adding route %s: %w", r, err)
	}
	return nil
}

// Delete implements Table.
func (Kernel) Delete(r Route) error {
	_, dst, err := net.ParseCIDR(r.CIDR)
	if err != nil {
		return err
	}
	err = netlink.RouteDel(&netlink.Route{Dst: dst, Protocol: Protocol, Table: unix.RT_TABLE_MAIN})
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("removing route %s: %w", r, err)
	}
	return nil
}

// Sync makes table hold exactly want (among the routes carrying Protocol). It returns how many routes
// it added or replaced and removed; a route that fails is reported and the rest still applied.
func Sync(table Table, want []Route) (added, removed int, err error) {
	have, err := table.List()
	if err != nil {
		return 0, 0, err
	}
	current := map[string]string{}
	for _, r := range have {
		current[r.CIDR] = r.Via
	}
	wanted := map[string]bool{}
	var errs []error
	for _, r := range want {
		wanted[r.CIDR] = true
		if current[r.CIDR] == r.Via {
			continue
		}
		if err := table.Replace(r); err != nil {
			errs = append(errs, err)
			continue
		}
		added++
	}
	for _, r := range have {
		if wanted[r.CIDR] {
			continue
		}
		if err := table.Delete(r); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return added, removed, errors.Join(errs...)
}

// Controller keeps the node's pod routes in line with the Nodes it watches.
type Controller struct {
	self   string
	nodes  *informer.Informer[corev1.Node]
	table  Table
	log    *zap.Logger
	resync time.Duration
	kick   chan struct{}

	mu       sync.Mutex
	lastErrs string
}

// New returns a controller for the node named self, programming the kernel's routing table.
func New(c *client.Client, self string, log *zap.Logger) *Controller {
	nodes := client.NewResource[corev1.Node](c, client.ResourceInfo{Version: "v1", Resource: "nodes", Kind: "Node"})
	return NewWithTable(nodes, self, Kernel{}, log)
}

// NewWithTable returns a controller over any Node lister-watcher and route table.
func NewWithTable(nodes informer.ListerWatcher[corev1.Node], self string, table Table, log *zap.Logger) *Controller {
	c := &Controller{
		self: self, table: table, log: log.Named("podroutes"), resync: 30 * time.Second, kick: make(chan struct{}, 1),
	}
	c.nodes = informer.New[corev1.Node](nodes, informer.Options{Logger: log, Name: "nodes"})
	c.nodes.AddHandler(informer.Handler[corev1.Node]{
		OnAdd:    func(*corev1.Node) { c.poke() },
		OnUpdate: func(old, n *corev1.Node) { c.poke() },
		OnDelete: func(*corev1.Node) { c.poke() },
	})
	return c
}

func (c *Controller) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Run watches the Nodes and syncs the routes on every change and every 30 seconds (repairing drift),
// until ctx ends. Routes stay in place when it returns: pods keep reaching each other while the agent
// restarts.
func (c *Controller) Run(ctx context.Context) error {
	go func() { _ = c.nodes.Run(ctx) }()
	if !informer.WaitForCacheSync(ctx, c.nodes) {
		return nil
	}
	tick := time.NewTicker(c.resync)
	defer tick.Stop()
	for {
		c.sync()
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
		case <-tick.C:
		}
	}
}

// sync applies the desired routes. Failures are logged (once per distinct error), never returned: a
// node whose peers are unreachable still runs its own pods.
func (c *Controller) sync() {
	want := Desired(c.self, c.nodes.List())
	added, removed, err := Sync(c.table, want)
	if added > 0 || removed > 0 {
		c.log.Info("pod routes synced", zap.Int("routes", len(want)), zap.Int("added", added), zap.Int("removed", removed))
	}
	errs := ""
	if err != nil {
		errs = err.Error()
	}
	c.mu.Lock()
	changed := errs != c.lastErrs
	c.lastErrs = errs
	c.mu.Unlock()
	if err != nil && changed {
		c.log.Warn("pod routes incomplete", zap.Error(err))
	}
}
