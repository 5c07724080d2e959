package podroutes

import (
	"errors"
	"net"
	"os"
	"reflect"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

func node(name, cidr, ip string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Spec.PodCIDR = cidr
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
	}
	return n
}

func TestDesired(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []*corev1.Node
		want  []Route
	}{
		{"every other node with a CIDR and an InternalIP gets a route, sorted", []*corev1.Node{
			node("a", "10.244.0.0/24", "10.0.0.2"), node("c", "10.244.2.0/24", "10.0.0.4"), node("b", "10.244.1.0/24", "10.0.0.3"),
		}, []Route{{"10.244.1.0/24", "10.0.0.3", "b"}, {"10.244.2.0/24", "10.0.0.4", "c"}}},
		{"a node without a pod CIDR yet is left out", []*corev1.Node{
			node("a", "10.244.0.0/24", "10.0.0.2"), node("b", "", "10.0.0.3"),
		}, nil},
		{"a node without an InternalIP is left out", []*corev1.Node{
			node("a", "10.244.0.0/24", "10.0.0.2"), node("b", "10.244.1.0/24", ""),
		}, nil},
		{"a CIDR overlapping our own is never routed away", []*corev1.Node{
			node("a", "10.244.0.0/24", "10.0.0.2"), node("b", "10.244.0.0/24", "10.0.0.3"), node("c", "10.244.0.0/16", "10.0.0.4"),
		}, nil},
		{"a malformed or IPv6 CIDR is ignored", []*corev1.Node{
			node("a", "10.244.0.0/24", "10.0.0.2"), node("b", "bogus", "10.0.0.3"), node("c", "fd00::/64", "10.0.0.4"),
		}, nil},
		{"a CIDR claimed by two nodes is routed once", []*corev1.Node{
			node("a", "10.244.0.0/24", "10.0.0.2"), node("b", "10.244.1.0/24", "10.0.0.3"), node("c", "10.244.1.0/24", "10.0.0.4"),
		}, []Route{{"10.244.1.0/24", "10.0.0.3", "b"}}},
		{"we are not registered yet: every node is routed", []*corev1.Node{
			node("b", "10.244.1.0/24", "10.0.0.3"),
		}, []Route{{"10.244.1.0/24", "10.0.0.3", "b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Desired("a", tc.nodes); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Desired = %v, want %v", got, tc.want)
			}
		})
	}
}

// fakeTable is an in-memory route table.
type fakeTable struct {
	routes map[string]string
	fail   map[string]bool
}

func (f *fakeTable) List() ([]Route, error) {
	var out []Route
	for c, v := range f.routes {
		out = append(out, Route{CIDR: c, Via: v})
	}
	return out, nil
}

func (f *fakeTable) Replace(r Route) error {
	if f.fail[r.CIDR] {
		return errors.New("unreachable")
	}
	f.routes[r.CIDR] = r.Via
	return nil
}

func (f *fakeTable) Delete(r Route) error { delete(f.routes, r.CIDR); return nil }

func TestSync(t *testing.T) {
	for _, tc := range []struct {
		name           string
		have, want     map[string]string
		fail           string
		added, removed int
		wantErr        bool
	}{
		{"missing routes are added", map[string]string{}, map[string]string{"10.244.1.0/24": "10.0.0.3"}, "", 1, 0, false},
		{"a stale route (node gone) is removed", map[string]string{"10.244.9.0/24": "10.0.0.9"}, map[string]string{}, "", 0, 1, false},
		{"a route whose node moved is replaced", map[string]string{"10.244.1.0/24": "10.0.0.3"}, map[string]string{"10.244.1.0/24": "10.0.0.7"}, "", 1, 0, false},
		{"routes already right are left alone", map[string]string{"10.244.1.0/24": "10.0.0.3"}, map[string]string{"10.244.1.0/24": "10.0.0.3"}, "", 0, 0, false},
		{"one failing route does not stop the others", map[string]string{"10.244.9.0/24": "10.0.0.9"},
			map[string]string{"10.244.1.0/24": "10.0.0.3", "10.244.2.0/24": "10.0.0.4"}, "10.244.1.0/24", 1, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeTable{routes: map[string]string{}, fail: map[string]bool{tc.fail: true}}
			for k, v := range tc.have {
				ft.routes[k] = v
			}
			var want []Route
			for k, v := range tc.want {
				want = append(want, Route{CIDR: k, Via: v})
			}
			added, removed, err := Sync(ft, want)
			if added != tc.added || removed != tc.removed || (err != nil) != tc.wantErr {
				t.Fatalf("Sync = %d added, %d removed, err %v; want %d, %d, error %v", added, removed, err, tc.added, tc.removed, tc.wantErr)
			}
			expect := map[string]string{}
			for k, v := range tc.want {
				if k != tc.fail {
					expect[k] = v
				}
			}
			if !reflect.DeepEqual(ft.routes, expect) {
				t.Fatalf("table %v, want %v", ft.routes, expect)
			}
		})
	}
}

// inNewNetns runs f on a thread in a fresh network namespace with a veth pair, a0 (10.99.0.1/24) and
// a1, both up. The thread is discarded afterwards.
func inNewNetns(t *testing.T, f func() error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("programming routes needs root (a network namespace of the test's own)")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "a0"}, PeerName: "a1"}
		if err := netlink.LinkAdd(veth); err != nil {
			errc <- err
			return
		}
		for _, name := range []string{"a0", "a1", "lo"} {
			l, err := netlink.LinkByName(name)
			if err == nil {
				err = netlink.LinkSetUp(l)
			}
			if err != nil {
				errc <- err
				return
			}
		}
		a0, _ := netlink.LinkByName("a0")
		addr, _ := netlink.ParseAddr("10.99.0.1/24")
		if err := netlink.AddrAdd(a0, addr); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestKernelTable(t *testing.T) {
	inNewNetns(t, func() error {
		k := Kernel{}
		// A route of another origin in the same range of addresses is never touched.
		_, other, _ := net.ParseCIDR("10.244.7.0/24")
		a0, _ := netlink.LinkByName("a0")
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: a0.Attrs().Index, Dst: other, Gw: net.ParseIP("10.99.0.7")}); err != nil {
			return err
		}
		want := []Route{{CIDR: "10.244.1.0/24", Via: "10.99.0.3"}, {CIDR: "10.244.2.0/24", Via: "10.99.0.4"}}
		if added, removed, err := Sync(k, want); err != nil || added != 2 || removed != 0 {
			return errors.Join(err, errors.New("first sync did not add two routes"))
		}
		got, err := k.List()
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, want) {
			return errors.New("routes after the first sync: " + describe(got))
		}
		// Node 2 left, node 1 moved.
		want = []Route{{CIDR: "10.244.1.0/24", Via: "10.99.0.9"}}
		if added, removed, err := Sync(k, want); err != nil || added != 1 || removed != 1 {
			return errors.Join(err, errors.New("second sync did not replace one and remove one"))
		}
		if got, _ = k.List(); !reflect.DeepEqual(got, want) {
			return errors.New("routes after the second sync: " + describe(got))
		}
		rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: other}, netlink.RT_FILTER_DST)
		if err != nil || len(rs) != 1 {
			return errors.New("the foreign route was touched")
		}
		// A node address behind a router is refused with a clear error, not routed.
		_, far, _ := net.ParseCIDR("192.0.2.0/24")
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: a0.Attrs().Index, Dst: far, Gw: net.ParseIP("10.99.0.254")}); err != nil {
			return err
		}
		if _, _, err := Sync(k, []Route{{CIDR: "10.244.3.0/24", Via: "192.0.2.5"}}); err == nil {
			return errors.New("a node address behind a router was accepted")
		}
		return nil
	})
}

func describe(rs []Route) string {
	s := ""
	for _, r := range rs {
		s += r.String() + "; "
	}
	return s
}
