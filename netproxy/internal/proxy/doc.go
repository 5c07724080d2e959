// Package proxy is the netproxy's model of the cluster's Services and their endpoints and the sync loop
// that hands that model to a backend.
//
// The model is deliberately small and independent of the API types: a Service is its virtual IPs, ports,
// node ports, session affinity and traffic policies; an EndpointSlice is a set of endpoints (addresses,
// readiness, node) with the port numbers they serve. Store collects them from informer events and
// produces immutable Snapshots; Proxier batches changes (MinSyncPeriod), runs a full resync every
// SyncPeriod, and records sync metrics. Endpoint selection rules shared by every backend (ready endpoints
// first, serving-terminating ones only as a fallback, node-local subsets for the Local traffic policies)
// live in endpoints.go.
//
// The package does not talk to the apiserver (see internal/source) nor to the kernel (see the backends
// internal/nftables and internal/ipvs).
package proxy
