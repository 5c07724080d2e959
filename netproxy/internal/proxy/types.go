package proxy

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Protocol is a transport protocol as the API spells it: "TCP", "UDP" or "SCTP".
type Protocol string

// Protocols the backends program.
const (
	TCP  Protocol = "TCP"
	UDP  Protocol = "UDP"
	SCTP Protocol = "SCTP"
)

// Lower returns the protocol as nftables and IPVS spell it ("tcp").
func (p Protocol) Lower() string { return strings.ToLower(string(p)) }

// DefaultAffinityTimeout is Kubernetes' default sessionAffinityConfig.clientIP.timeoutSeconds (3 hours).
const DefaultAffinityTimeout = 10800 * time.Second

// ServiceKey names a Service: namespace and name.
type ServiceKey struct {
	Namespace string
	Name      string
}

func (k ServiceKey) String() string { return k.Namespace + "/" + k.Name }

// Service is what the netproxy needs to know about one Service.
type Service struct {
	Key ServiceKey
	// ClusterIPs are the virtual IPs; empty for headless Services (clusterIP: None) and ExternalName.
	ClusterIPs []netip.Addr
	// ExternalIPs are extra addresses routed to this node that behave like node ports on the service port.
	ExternalIPs []netip.Addr
	Ports       []ServicePort
	// AffinityClientIP is sessionAffinity: ClientIP; AffinityTimeout its timeout.
	AffinityClientIP bool
	AffinityTimeout  time.Duration
	// ExternalLocal is externalTrafficPolicy: Local (node ports and external IPs reach local endpoints only,
	// and keep the client's source address).
	ExternalLocal bool
	// HealthCheckNodePort is spec.healthCheckNodePort: with ExternalLocal, the node port on which the
	// netproxy answers whether this node has local endpoints (0: none).
	HealthCheckNodePort int32
	// InternalLocal is internalTrafficPolicy: Local (cluster IP traffic reaches local endpoints only).
	InternalLocal bool
	// Headless is clusterIP: None: DNS answers with endpoint addresses, no rules are programmed.
	Headless bool
	// ExternalName is set for type ExternalName: DNS answers with a CNAME, no rules are programmed.
	ExternalName string
}

// ServicePort is one port of a Service.
type ServicePort struct {
	// Name is the port's name; it may be empty when the Service has a single port.
	Name     string
	Protocol Protocol
	Port     int32
	// NodePort is the node port for NodePort and LoadBalancer Services, 0 otherwise.
	NodePort int32
}

// EndpointSliceKey names an EndpointSlice.
type EndpointSliceKey struct {
	Namespace string
	Name      string
}

func (k EndpointSliceKey) String() string { return k.Namespace + "/" + k.Name }

// AddressType of an EndpointSlice.
type AddressType string

// Address types the netproxy understands; FQDN slices are ignored.
const (
	IPv4 AddressType = "IPv4"
	IPv6 AddressType = "IPv6"
)

// EndpointSlice is one slice of a Service's endpoints. All endpoints in a slice serve the same port
// numbers: that is how the endpoints controller resolves a named targetPort per pod.
type EndpointSlice struct {
	Key         EndpointSliceKey
	Service     ServiceKey
	AddressType AddressType
	Ports       []EndpointPort
	Endpoints   []Endpoint
	// TriggerTime is when the change this slice reflects happened (annotation
	// endpoints.kubernetes.io/last-change-trigger-time), or when the netproxy received it.
	TriggerTime time.Time
}

// EndpointPort is a port served by every endpoint of a slice. Name matches the ServicePort's name.
type EndpointPort struct {
	Name     string
	Protocol Protocol
	Port     int32
}

// Endpoint is one backend (usually a pod).
type Endpoint struct {
	Addresses []netip.Addr
	// Ready, Serving and Terminating are the EndpointSlice conditions.
	Ready       bool
	Serving     bool
	Terminating bool
	NodeName    string
	// Hostname is set for pods with spec.hostname and spec.subdomain naming this Service.
	Hostname string
}

// EndpointAddr is one endpoint of one service port, as the backends program it.
type EndpointAddr struct {
	IP          netip.Addr
	Port        int32
	Ready       bool
	Serving     bool
	Terminating bool
	// Local is true when the endpoint runs on this node.
	Local    bool
	NodeName string
	Hostname string
}

// AddrPort returns the endpoint's address and port.
func (e EndpointAddr) AddrPort() netip.AddrPort { return netip.AddrPortFrom(e.IP, uint16(e.Port)) }

func (e EndpointAddr) String() string { return e.AddrPort().String() }

// ServicePortName identifies one port of one Service, for logs and rule names.
func ServicePortName(k ServiceKey, p ServicePort) string {
	name := p.Name
	if name == "" {
		name = fmt.Sprintf("p%d", p.Port)
	}
	return k.Namespace + "/" + k.Name + "/" + p.Protocol.Lower() + "/" + name
}
