package v1

import corev1 "github.com/skiffhq/skiff/shared/api/core/v1"

// Default sets an empty name and protocol TCP on every port, as Kubernetes does.
func (s *EndpointSlice) Default() {
	for i := range s.Ports {
		if s.Ports[i].Name == nil {
			empty := ""
			s.Ports[i].Name = &empty
		}
		if s.Ports[i].Protocol == nil {
			tcp := corev1.ProtocolTCP
			s.Ports[i].Protocol = &tcp
		}
	}
}
