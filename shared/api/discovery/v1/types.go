// Package v1 holds the discovery.k8s.io/v1 API type EndpointSlice with Kubernetes's JSON field names.
// Import it as discoveryv1. It does not compute slices (that is the controller-manager's job).
package v1

import (
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// EndpointSlice is a subset of a service's endpoints.
type EndpointSlice struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	AddressType       AddressType    `json:"addressType"`
	Endpoints         []Endpoint     `json:"endpoints"`
	Ports             []EndpointPort `json:"ports"`
}

// EndpointSliceList is a list of endpoint slices.
type EndpointSliceList = metav1.List[EndpointSlice]

// AddressType is IPv4, IPv6 or FQDN.
type AddressType string

// The address types.
const (
	AddressTypeIPv4 AddressType = "IPv4"
	AddressTypeIPv6 AddressType = "IPv6"
	AddressTypeFQDN AddressType = "FQDN"
)

// Endpoint is one backend of a slice.
type Endpoint struct {
	Addresses          []string                `json:"addresses"`
	Conditions         EndpointConditions      `json:"conditions,omitempty"`
	Hostname           *string                 `json:"hostname,omitempty"`
	TargetRef          *corev1.ObjectReference `json:"targetRef,omitempty"`
	DeprecatedTopology map[string]string       `json:"deprecatedTopology,omitempty"`
	NodeName           *string                 `json:"nodeName,omitempty"`
	Zone               *string                 `json:"zone,omitempty"`
	Hints              *EndpointHints          `json:"hints,omitempty"`
}

// EndpointConditions are the readiness conditions of an endpoint.
type EndpointConditions struct {
	Ready       *bool `json:"ready,omitempty"`
	Serving     *bool `json:"serving,omitempty"`
	Terminating *bool `json:"terminating,omitempty"`
}

// EndpointHints are topology hints for consumers.
type EndpointHints struct {
	ForZones []ForZone `json:"forZones,omitempty"`
	ForNodes []ForNode `json:"forNodes,omitempty"`
}

// ForZone is a zone hint.
type ForZone struct {
	Name string `json:"name"`
}

// ForNode is a node hint.
type ForNode struct {
	Name string `json:"name"`
}

// EndpointPort is one port of a slice.
type EndpointPort struct {
	Name        *string          `json:"name,omitempty"`
	Protocol    *corev1.Protocol `json:"protocol,omitempty"`
	Port        *int32           `json:"port,omitempty"`
	AppProtocol *string          `json:"appProtocol,omitempty"`
}

// The labels endpoint slices carry.
const (
	LabelServiceName = "kubernetes.io/service-name"
	LabelManagedBy   = "endpointslice.kubernetes.io/managed-by"
)
