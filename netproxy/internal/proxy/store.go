package proxy

import (
	"slices"
	"sync"
	"time"
)

// Snapshot is an immutable view of every Service and EndpointSlice the netproxy knows. Backends and the
// DNS server read it concurrently; nobody mutates it after Store built it.
type Snapshot struct {
	// NodeName is the node this netproxy runs on; endpoints on it are Local.
	NodeName string
	Services map[ServiceKey]*Service
	// Slices holds each Service's EndpointSlices, sorted by slice name.
	Slices map[ServiceKey][]*EndpointSlice
}

// Endpoints returns the endpoints serving one port of a Service: for every slice of the Service with a
// port of the same name and protocol, each endpoint address with that slice's port number. Addresses
// listed by two slices (a pod moving between slices) appear once, the readier copy winning. The result
// is sorted by address and port, so rules computed from it are stable.
func (s *Snapshot) Endpoints(svc *Service, port ServicePort) []EndpointAddr {
	var out []EndpointAddr
	seen := map[[2]any]int{}
	for _, sl := range s.Slices[svc.Key] {
		if sl.AddressType != IPv4 && sl.AddressType != IPv6 {
			continue
		}
		var num int32
		for _, p := range sl.Ports {
			if p.Name == port.Name && protocolOrTCP(p.Protocol) == protocolOrTCP(port.Protocol) {
				num = p.Port
				break
			}
		}
		if num <= 0 || num > 65535 {
			continue
		}
		for _, ep := range sl.Endpoints {
			for _, ip := range ep.Addresses {
				if !ip.IsValid() {
					continue
				}
				ea := EndpointAddr{
					IP: ip.Unmap(), Port: num,
					Ready: ep.Ready, Serving: ep.Serving, Terminating: ep.Terminating,
					Local:    s.NodeName != "" && ep.NodeName == s.NodeName,
					NodeName: ep.NodeName, Hostname: ep.Hostname,
				}
				k := [2]any{ea.IP, ea.Port}
				if i, ok := seen[k]; ok {
					if ea.Ready && !out[i].Ready {
						out[i] = ea
					}
					continue
				}
				seen[k] = len(out)
				out = append(out, ea)
			}
		}
	}
	slices.SortFunc(out, func(a, b EndpointAddr) int { return a.AddrPort().Compare(b.AddrPort()) })
	return out
}

func protocolOrTCP(p Protocol) Protocol {
	if p == "" {
		return TCP
	}
	return p
}

// SortedServices returns the Services in a stable order (namespace, then name).
func (s *Snapshot) SortedServices() []*Service {
	out := make([]*Service, 0, len(s.Services))
	for _, svc := range s.Services {
		out = append(out, svc)
	}
	slices.SortFunc(out, func(a, b *Service) int {
		if a.Key.Namespace != b.Key.Namespace {
			if a.Key.Namespace < b.Key.Namespace {
				return -1
			}
			return 1
		}
		if a.Key.Name < b.Key.Name {
			return -1
		}
		if a.Key.Name > b.Key.Name {
			return 1
		}
		return 0
	})
	return out
}

// Store collects Services and EndpointSlices from informer events. It is safe for concurrent use. Every
// change bumps the store's generation and calls the change callback, so a sync loop can batch them.
type Store struct {
	nodeName string

	mu       sync.Mutex
	services map[ServiceKey]*Service
	slices   map[EndpointSliceKey]*EndpointSlice
	snap     *Snapshot // nil when a change happened since it was built
	// pending holds, per Service, the earliest endpoint change not yet programmed.
	pending  map[ServiceKey]time.Time
	onChange func()
}

// NewStore returns an empty store for the node nodeName.
func NewStore(nodeName string) *Store {
	return &Store{
		nodeName: nodeName,
		services: map[ServiceKey]*Service{},
		slices:   map[EndpointSliceKey]*EndpointSlice{},
		pending:  map[ServiceKey]time.Time{},
	}
}

// OnChange sets the function called (without the store's lock held) after every change.
func (s *Store) OnChange(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChange = f
}

func (s *Store) changed() {
	s.snap = nil
	f := s.onChange
	s.mu.Unlock()
	if f != nil {
		f()
	}
}

// UpsertService adds or replaces a Service.
func (s *Store) UpsertService(svc *Service) {
	s.mu.Lock()
	s.services[svc.Key] = svc
	s.changed()
}

// DeleteService forgets a Service.
func (s *Store) DeleteService(k ServiceKey) {
	s.mu.Lock()
	delete(s.services, k)
	delete(s.pending, k)
	s.changed()
}

// UpsertSlice adds or replaces an EndpointSlice and records its trigger time for the network
// programming latency metric.
func (s *Store) UpsertSlice(sl *EndpointSlice) {
	s.mu.Lock()
	if old, ok := s.slices[sl.Key]; ok && old.Service != sl.Service {
		s.notePending(old.Service, sl.TriggerTime)
	}
	s.slices[sl.Key] = sl
	s.notePending(sl.Service, sl.TriggerTime)
	s.changed()
}

// DeleteSlice forgets an EndpointSlice; at is when the deletion was observed.
func (s *Store) DeleteSlice(k EndpointSliceKey, at time.Time) {
	s.mu.Lock()
	if old, ok := s.slices[k]; ok {
		s.notePending(old.Service, at)
	}
	delete(s.slices, k)
	s.changed()
}

func (s *Store) notePending(k ServiceKey, t time.Time) {
	if t.IsZero() {
		t = time.Now()
	}
	if cur, ok := s.pending[k]; !ok || t.Before(cur) {
		s.pending[k] = t
	}
}

// TakePending returns and clears the earliest unprogrammed endpoint change of each Service.
func (s *Store) TakePending() map[ServiceKey]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = map[ServiceKey]time.Time{}
	return p
}

// Snapshot returns the current state. It is rebuilt only after a change, so calling it often is cheap.
func (s *Store) Snapshot() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap != nil {
		return s.snap
	}
	snap := &Snapshot{
		NodeName: s.nodeName,
		Services: make(map[ServiceKey]*Service, len(s.services)),
		Slices:   make(map[ServiceKey][]*EndpointSlice, len(s.services)),
	}
	for k, v := range s.services {
		snap.Services[k] = v
	}
	for _, sl := range s.slices {
		snap.Slices[sl.Service] = append(snap.Slices[sl.Service], sl)
	}
	for _, list := range snap.Slices {
		slices.SortFunc(list, func(a, b *EndpointSlice) int {
			if a.Key.Name < b.Key.Name {
				return -1
			}
			if a.Key.Name > b.Key.Name {
				return 1
			}
			return 0
		})
	}
	s.snap = snap
	return snap
}

// restorePending puts back trigger times of a sync that failed, so the next one measures them.
func (s *Store) restorePending(p map[ServiceKey]time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range p {
		s.notePending(k, t)
	}
}
