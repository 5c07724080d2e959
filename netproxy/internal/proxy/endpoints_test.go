package proxy

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func ep(ip string, ready, serving, terminating bool, node string) Endpoint {
	return Endpoint{Addresses: []netip.Addr{netip.MustParseAddr(ip)}, Ready: ready, Serving: serving, Terminating: terminating, NodeName: node}
}

func addrs(eps []EndpointAddr) []string {
	var out []string
	for _, e := range eps {
		out = append(out, e.String())
	}
	return out
}

func TestEndpointsResolvesNamedPortsPerSlice(t *testing.T) {
	svc := &Service{Key: ServiceKey{"ns", "web"}, Ports: []ServicePort{{Name: "http", Protocol: TCP, Port: 80}, {Name: "dns", Protocol: UDP, Port: 53}}}
	snap := &Snapshot{NodeName: "n1", Services: map[ServiceKey]*Service{svc.Key: svc}, Slices: map[ServiceKey][]*EndpointSlice{
		svc.Key: {
			// Pods whose "http" container port is 8080 ...
			{Key: EndpointSliceKey{"ns", "web-a"}, Service: svc.Key, AddressType: IPv4,
				Ports:     []EndpointPort{{Name: "http", Protocol: TCP, Port: 8080}},
				Endpoints: []Endpoint{ep("10.0.0.2", true, true, false, "n1"), ep("10.0.0.1", true, true, false, "n2")}},
			// ... and pods where it is 9090 (a rolling update that renumbered the port).
			{Key: EndpointSliceKey{"ns", "web-b"}, Service: svc.Key, AddressType: IPv4,
				Ports:     []EndpointPort{{Name: "http", Protocol: TCP, Port: 9090}, {Name: "dns", Protocol: UDP, Port: 5353}},
				Endpoints: []Endpoint{ep("10.0.0.3", true, true, false, "n1")}},
			{Key: EndpointSliceKey{"ns", "web-fqdn"}, Service: svc.Key, AddressType: "FQDN",
				Ports: []EndpointPort{{Name: "http", Protocol: TCP, Port: 80}}},
		},
	}}
	for _, tc := range []struct {
		name string
		port ServicePort
		want []string
	}{
		{"named port takes each slice's number, sorted", svc.Ports[0], []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:9090"}},
		{"a port only some slices serve", svc.Ports[1], []string{"10.0.0.3:5353"}},
		{"protocol must match too", ServicePort{Name: "http", Protocol: UDP, Port: 80}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := addrs(snap.Endpoints(svc, tc.port)); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	local := snap.Endpoints(svc, svc.Ports[0])
	if !local[1].Local || local[0].Local {
		t.Fatalf("Local flags wrong: %+v", local)
	}
}

func TestEndpointsDeduplicatesPreferringReady(t *testing.T) {
	svc := &Service{Key: ServiceKey{"ns", "web"}, Ports: []ServicePort{{Protocol: TCP, Port: 80}}}
	mk := func(name string, e Endpoint) *EndpointSlice {
		return &EndpointSlice{Key: EndpointSliceKey{"ns", name}, Service: svc.Key, AddressType: IPv4,
			Ports: []EndpointPort{{Protocol: TCP, Port: 80}}, Endpoints: []Endpoint{e}}
	}
	snap := &Snapshot{Slices: map[ServiceKey][]*EndpointSlice{svc.Key: {
		mk("a", ep("10.0.0.1", false, false, false, "")), mk("b", ep("10.0.0.1", true, true, false, "")),
	}}}
	got := snap.Endpoints(svc, svc.Ports[0])
	if len(got) != 1 || !got[0].Ready {
		t.Fatalf("got %+v, want one ready copy", got)
	}
}

func TestSelect(t *testing.T) {
	mk := func(ip string, ready, serving, term, local bool) EndpointAddr {
		return EndpointAddr{IP: netip.MustParseAddr(ip), Port: 80, Ready: ready, Serving: serving, Terminating: term, Local: local}
	}
	for _, tc := range []struct {
		name             string
		eps              []EndpointAddr
		cluster, localEP []string
	}{
		{"only ready endpoints get traffic",
			[]EndpointAddr{mk("10.0.0.1", true, true, false, true), mk("10.0.0.2", false, true, true, true), mk("10.0.0.3", false, false, false, false)},
			[]string{"10.0.0.1:80"}, []string{"10.0.0.1:80"}},
		{"serving terminating endpoints are the fallback when none is ready",
			[]EndpointAddr{mk("10.0.0.2", false, true, true, false), mk("10.0.0.3", false, false, true, false), mk("10.0.0.4", false, true, true, true)},
			[]string{"10.0.0.2:80", "10.0.0.4:80"}, []string{"10.0.0.4:80"}},
		{"the local subset falls back on its own",
			[]EndpointAddr{mk("10.0.0.1", true, true, false, false), mk("10.0.0.2", false, true, true, true)},
			[]string{"10.0.0.1:80"}, []string{"10.0.0.2:80"}},
		{"unready, non-serving endpoints never get traffic",
			[]EndpointAddr{mk("10.0.0.1", false, false, false, true)},
			nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel := Select(tc.eps)
			if got := addrs(sel.Cluster); !slices.Equal(got, tc.cluster) {
				t.Errorf("cluster: got %v, want %v", got, tc.cluster)
			}
			if got := addrs(sel.Local); !slices.Equal(got, tc.localEP) {
				t.Errorf("local: got %v, want %v", got, tc.localEP)
			}
			svc := &Service{InternalLocal: true}
			if got := addrs(sel.Internal(svc)); !slices.Equal(got, tc.localEP) {
				t.Errorf("internal with policy Local: got %v, want %v", got, tc.localEP)
			}
		})
	}
}

func TestStorePendingKeepsEarliestTriggerTime(t *testing.T) {
	s := NewStore("n1")
	calls := 0
	s.OnChange(func() { calls++ })
	k := ServiceKey{"ns", "web"}
	t0 := time.Now().Add(-time.Minute)
	s.UpsertSlice(&EndpointSlice{Key: EndpointSliceKey{"ns", "a"}, Service: k, TriggerTime: t0.Add(time.Second)})
	s.UpsertSlice(&EndpointSlice{Key: EndpointSliceKey{"ns", "a"}, Service: k, TriggerTime: t0})
	if p := s.TakePending(); !p[k].Equal(t0) {
		t.Fatalf("pending %v, want %v", p[k], t0)
	}
	if p := s.TakePending(); len(p) != 0 {
		t.Fatalf("pending not cleared: %v", p)
	}
	if calls != 2 {
		t.Fatalf("change callback called %d times, want 2", calls)
	}
	snap := s.Snapshot()
	if s.Snapshot() != snap {
		t.Fatal("snapshot rebuilt without a change")
	}
	s.DeleteSlice(EndpointSliceKey{"ns", "a"}, time.Now())
	if len(s.Snapshot().Slices[k]) != 0 {
		t.Fatal("deleted slice still in the snapshot")
	}
}
