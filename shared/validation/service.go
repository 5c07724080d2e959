package validation

import (
	"fmt"
	"net"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

func validateService(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	s := &svc.Spec
	errs = append(errs, supported(s.Type, specPath.Child("type"), corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort,
		corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName)...)
	errs = append(errs, supported(s.SessionAffinity, specPath.Child("sessionAffinity"), corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone)...)
	if s.SessionAffinity == corev1.ServiceAffinityClientIP {
		cfg := s.SessionAffinityConfig
		tp := specPath.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds")
		if cfg == nil || cfg.ClientIP == nil || cfg.ClientIP.TimeoutSeconds == nil {
			errs = append(errs, field.Required(tp, ""))
		} else if t := *cfg.ClientIP.TimeoutSeconds; t <= 0 || t > 86400 {
			errs = append(errs, field.Invalid(tp, t, "must be greater than 0 and less than 86400"))
		}
	} else if s.SessionAffinityConfig != nil {
		errs = append(errs, field.Invalid(specPath.Child("sessionAffinityConfig"), s.SessionAffinityConfig,
			fmt.Sprintf("must not be set when session affinity is %s", s.SessionAffinity)))
	}

	headless := s.ClusterIP == corev1.ClusterIPNone
	if s.Type == corev1.ServiceTypeExternalName {
		if s.ClusterIP != "" {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIP"), "may not be set for ExternalName services"))
		}
		if s.ExternalName == "" {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		} else {
			errs = append(errs, msgs(specPath.Child("externalName"), s.ExternalName, validation.IsDNS1123Subdomain(s.ExternalName))...)
		}
	} else {
		if s.ClusterIP != "" && !headless {
			errs = append(errs, validation.IsValidIP(specPath.Child("clusterIP"), s.ClusterIP)...)
		}
		if len(s.ClusterIPs) > 0 && s.ClusterIPs[0] != s.ClusterIP && s.ClusterIP != "" {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), s.ClusterIPs[0], "must be same as `clusterIP`"))
		}
		if len(s.Ports) == 0 && !headless {
			errs = append(errs, field.Required(specPath.Child("ports"), ""))
		}
	}
	if headless && s.Type != corev1.ServiceTypeClusterIP && s.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Invalid(specPath.Child("clusterIP"), s.ClusterIP, "may not be set to 'None' for "+string(s.Type)+" services"))
	}

	names := sets.New[string]()
	type portKey struct {
		port     int32
		protocol corev1.Protocol
	}
	ports := map[portKey]bool{}
	for i, port := range s.Ports {
		pp := specPath.Child("ports").Index(i)
		if len(s.Ports) > 1 && port.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		}
		if port.Name != "" {
			errs = append(errs, msgs(pp.Child("name"), port.Name, validation.IsDNS1123Label(port.Name))...)
			if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names.Insert(port.Name)
		}
		errs = append(errs, msgs(pp.Child("port"), port.Port, validation.IsValidPortNum(int(port.Port)))...)
		errs = append(errs, supported(port.Protocol, pp.Child("protocol"), corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP)...)
		errs = append(errs, validatePortNumOrName(port.TargetPort, pp.Child("targetPort"))...)
		if port.NodePort != 0 {
			if s.Type != corev1.ServiceTypeNodePort && s.Type != corev1.ServiceTypeLoadBalancer {
				errs = append(errs, field.Forbidden(pp.Child("nodePort"), fmt.Sprintf("may not be used when `type` is '%s'", s.Type)))
			}
			errs = append(errs, msgs(pp.Child("nodePort"), port.NodePort, validation.IsValidPortNum(int(port.NodePort)))...)
		}
		k := portKey{port.Port, port.Protocol}
		if ports[k] {
			errs = append(errs, field.Duplicate(pp, fmt.Sprintf("%d/%s", port.Port, port.Protocol)))
		}
		ports[k] = true
	}
	errs = append(errs, metav1validation.ValidateLabels(s.Selector, specPath.Child("selector"))...)
	external := s.Type == corev1.ServiceTypeNodePort || s.Type == corev1.ServiceTypeLoadBalancer
	if s.ExternalTrafficPolicy != "" {
		if !external {
			errs = append(errs, field.Invalid(specPath.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy,
				"may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
		} else {
			errs = append(errs, supported(s.ExternalTrafficPolicy, specPath.Child("externalTrafficPolicy"),
				corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)...)
		}
	} else if external {
		errs = append(errs, field.Required(specPath.Child("externalTrafficPolicy"), ""))
	}
	if s.InternalTrafficPolicy != nil {
		errs = append(errs, supported(*s.InternalTrafficPolicy, specPath.Child("internalTrafficPolicy"),
			corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal)...)
	}
	for i, ip := range s.ExternalIPs {
		errs = append(errs, validation.IsValidIP(specPath.Child("externalIPs").Index(i), ip)...)
	}
	for i, f := range s.IPFamilies {
		errs = append(errs, supported(f, specPath.Child("ipFamilies").Index(i), corev1.IPv4Protocol, corev1.IPv6Protocol)...)
	}
	return errs
}

// validateServiceUpdate keeps an assigned cluster IP: Kubernetes never changes it in place.
func validateServiceUpdate(n, o *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	if o.Spec.ClusterIP != "" && o.Spec.Type != corev1.ServiceTypeExternalName && n.Spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, immutable(n.Spec.ClusterIP, o.Spec.ClusterIP, specPath.Child("clusterIP"))...)
	}
	return errs
}

func validateEndpoints(e *corev1.Endpoints) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range e.Subsets {
		sp := field.NewPath("subsets").Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(sp, "must specify `addresses` or `notReadyAddresses`"))
		}
		for name, addrs := range map[string][]corev1.EndpointAddress{"addresses": ss.Addresses, "notReadyAddresses": ss.NotReadyAddresses} {
			for j, a := range addrs {
				ap := sp.Child(name).Index(j)
				errs = append(errs, validation.IsValidIP(ap.Child("ip"), a.IP)...)
				if ip := net.ParseIP(a.IP); ip != nil {
					switch {
					case ip.IsUnspecified():
						errs = append(errs, field.Invalid(ap.Child("ip"), a.IP, "may not be unspecified (0.0.0.0)"))
					case ip.IsLoopback():
						errs = append(errs, field.Invalid(ap.Child("ip"), a.IP, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
					case ip.IsLinkLocalUnicast():
						errs = append(errs, field.Invalid(ap.Child("ip"), a.IP, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
					}
				}
				if a.Hostname != "" {
					errs = append(errs, msgs(ap.Child("hostname"), a.Hostname, validation.IsDNS1123Label(a.Hostname))...)
				}
			}
		}
		for j, port := range ss.Ports {
			pp := sp.Child("ports").Index(j)
			if len(ss.Ports) > 1 && port.Name == "" {
				errs = append(errs, field.Required(pp.Child("name"), ""))
			}
			errs = append(errs, msgs(pp.Child("port"), port.Port, validation.IsValidPortNum(int(port.Port)))...)
			errs = append(errs, supported(port.Protocol, pp.Child("protocol"), corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP)...)
		}
	}
	return errs
}
