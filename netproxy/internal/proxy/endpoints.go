package proxy

// Selection is the endpoints one service port sends traffic to, split by traffic policy.
type Selection struct {
	// Cluster is where traffic with the Cluster policy goes: the ready endpoints, or, when none is ready,
	// the serving terminating ones (so a rolling update does not drop a Service to zero endpoints).
	Cluster []EndpointAddr
	// Local is the same rule applied to endpoints on this node only, for the Local policies.
	Local []EndpointAddr
	// Any is true when the port has any endpoint at all, usable or not.
	Any bool
}

// Select applies Kubernetes' endpoint selection rules to the endpoints of one service port.
func Select(eps []EndpointAddr) Selection {
	sel := Selection{Any: len(eps) > 0}
	sel.Cluster = usable(eps, false)
	sel.Local = usable(eps, true)
	return sel
}

func usable(eps []EndpointAddr, localOnly bool) []EndpointAddr {
	var ready, terminating []EndpointAddr
	for _, e := range eps {
		if localOnly && !e.Local {
			continue
		}
		switch {
		case e.Ready:
			ready = append(ready, e)
		case e.Serving && e.Terminating:
			terminating = append(terminating, e)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return terminating
}

// Internal returns the endpoints for traffic to the cluster IP, honouring internalTrafficPolicy.
func (s Selection) Internal(svc *Service) []EndpointAddr {
	if svc.InternalLocal {
		return s.Local
	}
	return s.Cluster
}

// External returns the endpoints for node port and external IP traffic, honouring externalTrafficPolicy.
func (s Selection) External(svc *Service) []EndpointAddr {
	if svc.ExternalLocal {
		return s.Local
	}
	return s.Cluster
}
