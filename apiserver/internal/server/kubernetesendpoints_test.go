package server

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestKubernetesServiceEndpoints(t *testing.T) {
	ts := sharedServer(t)
	_, port, err := net.SplitHostPort(ts.Addr())
	if err != nil {
		t.Fatal(err)
	}
	const (
		epPath    = "/api/v1/namespaces/default/endpoints/kubernetes"
		slicePath = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes"
		svcPath   = "/api/v1/namespaces/default/services/kubernetes"
	)
	endpointsOK := func() (bool, string) {
		r := ts.req(t, "GET", epPath, "", nil)
		if r.code != http.StatusOK {
			return false, fmt.Sprintf("%d %s", r.code, truncate(r.body))
		}
		ep := r.json(t)
		subsets, _ := ep["subsets"].([]any)
		if len(subsets) != 1 {
			return false, truncate(r.body)
		}
		ss := subsets[0].(map[string]any)
		addrs, _ := ss["addresses"].([]any)
		ports, _ := ss["ports"].([]any)
		ok := len(addrs) == 1 && addrs[0].(map[string]any)["ip"] == "127.0.0.1" &&
			len(ports) == 1 && fmt.Sprint(ports[0].(map[string]any)["port"]) == port &&
			ports[0].(map[string]any)["name"] == "https" && ports[0].(map[string]any)["protocol"] == "TCP"
		return ok, truncate(r.body)
	}
	sliceOK := func() (bool, string) {
		r := ts.req(t, "GET", slicePath, "", nil)
		if r.code != http.StatusOK {
			return false, fmt.Sprintf("%d %s", r.code, truncate(r.body))
		}
		s := r.json(t)
		eps, _ := s["endpoints"].([]any)
		ports, _ := s["ports"].([]any)
		ok := str(s, "addressType") == "IPv4" && str(s, "metadata.labels.kubernetes.io/service-name") == "" &&
			s["metadata"].(map[string]any)["labels"].(map[string]any)["kubernetes.io/service-name"] == "kubernetes" &&
			len(eps) == 1 && fmt.Sprint(eps[0].(map[string]any)["addresses"]) == "[127.0.0.1]" &&
			len(ports) == 1 && fmt.Sprint(ports[0].(map[string]any)["port"]) == port
		return ok, truncate(r.body)
	}

	t.Run("at start the Endpoints and EndpointSlice point at the apiserver", func(t *testing.T) {
		eventually(t, "the kubernetes Endpoints at 127.0.0.1:"+port, 10*time.Second, endpointsOK)
		eventually(t, "the kubernetes EndpointSlice at 127.0.0.1:"+port, 10*time.Second, sliceOK)
		eventually(t, "the kubernetes Service's targetPort "+port, 10*time.Second, func() (bool, string) {
			svc := ts.must(t, http.StatusOK, "GET", svcPath, "", nil)
			tp := svc["spec"].(map[string]any)["ports"].([]any)[0].(map[string]any)["targetPort"]
			return fmt.Sprint(tp) == port, fmt.Sprint(tp)
		})
	})
	t.Run("deleted Endpoints come back", func(t *testing.T) {
		ts.must(t, http.StatusOK, "DELETE", epPath, "", nil)
		eventually(t, "the kubernetes Endpoints recreated", 10*time.Second, endpointsOK)
	})
	t.Run("a changed EndpointSlice is put back", func(t *testing.T) {
		ts.must(t, http.StatusOK, "PATCH", slicePath, "application/merge-patch+json",
			`{"endpoints":[{"addresses":["10.1.2.3"],"conditions":{"ready":true}}]}`)
		eventually(t, "the kubernetes EndpointSlice restored", 10*time.Second, sliceOK)
	})
	t.Run("a changed Endpoints is put back", func(t *testing.T) {
		ts.must(t, http.StatusOK, "PATCH", epPath, "application/merge-patch+json",
			`{"subsets":[{"addresses":[{"ip":"10.1.2.3"}],"ports":[{"name":"https","port":1,"protocol":"TCP"}]}]}`)
		eventually(t, "the kubernetes Endpoints restored", 10*time.Second, endpointsOK)
	})
}
