// Package dns is the cluster DNS server the netproxy runs on every node. It answers, from the same
// Service and EndpointSlice model the proxy programs, for names in the cluster domain:
//
//	<svc>.<ns>.svc.<domain>                  A/AAAA: the cluster IPs; headless: the ready endpoints
//	_<port>._<proto>.<svc>.<ns>.svc.<domain> SRV for each named port (headless: one per endpoint)
//	<hostname>.<svc>.<ns>.svc.<domain>       A/AAAA of the endpoint with that hostname (StatefulSet pods)
//	<a-b-c-d>.<ns>.pod.<domain>              A for a dashed pod address
//
// Names in the domain that do not exist get NXDOMAIN (existing parents get an empty NOERROR), so a
// resolver's search path falls through quickly; every other name is forwarded to the node's upstream
// resolvers. The package also puts the cluster DNS address on the node's loopback interface so pods
// reach the server at 10.96.0.10 without NAT.
//
// It does not watch the apiserver: it reads Snapshots the netproxy's store builds.
package dns
