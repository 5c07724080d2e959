package handlers

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"

	"go.uber.org/zap"

	"github.com/skiffhq/skiff/apiserver/internal/apierrors"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// defaultKubeletPort is the nodeagent API port when a Node does not report one.
const defaultKubeletPort = 10250

// defaultContainerAnnotation names the container kubectl logs and exec pick by default.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// proxyToNode forwards pods/log, pods/exec and pods/attach to the nodeagent of the pod's node:
// http://<node InternalIP>:<kubelet port>/<kind>/<namespace>/<pod>/<container>?<original query>.
// httputil.ReverseProxy passes Connection: Upgrade through, so exec's websocket (v5.channel.k8s.io) and
// SPDY upgrades reach the nodeagent, which speaks the stream protocol itself.
func (a *API) proxyToNode(q *request, kind string) {
	ctx := q.r.Context()
	obj, err := a.reg.Get(ctx, q.res, q.info.Namespace, q.info.Name)
	if err != nil {
		q.fail(err)
		return
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		q.fail(apierrors.NewInternalError(fmt.Errorf("pods decode as %T", obj)))
		return
	}
	container, err := podContainer(pod, q.query("container"))
	if err != nil {
		q.fail(err)
		return
	}
	if pod.Spec.NodeName == "" {
		q.fail(apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name)))
		return
	}
	nodeRes, ok := a.reg.Lookup("", "v1", "nodes")
	if !ok {
		q.fail(apierrors.NewInternalError(fmt.Errorf("nodes are not served")))
		return
	}
	nobj, err := a.reg.Get(ctx, nodeRes, "", pod.Spec.NodeName)
	if err != nil {
		if apierrors.IsNotFound(err) {
			q.fail(apierrors.NewBadRequest(fmt.Sprintf("node %q of pod %s was not found", pod.Spec.NodeName, pod.Name)))
			return
		}
		q.fail(err)
		return
	}
	node := nobj.(*corev1.Node)
	host := nodeAddress4(node)
	if host == "" {
		q.fail(apierrors.NewBadRequest(fmt.Sprintf("node %q reports no address", node.Name)))
		return
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = defaultKubeletPort
	}
	target := &url.URL{
		Scheme:   "http",
		Host:     net.JoinHostPort(host, strconv.Itoa(port)),
		Path:     "/" + kind + "/" + pod.Namespace + "/" + pod.Name + "/" + container,
		RawQuery: q.r.URL.RawQuery,
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = target.Host
		},
		Transport:     a.cfg.NodeTransport,
		FlushInterval: -1, // stream log lines as they come
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			a.log.Warn("proxying to nodeagent failed", zap.String("node", node.Name), zap.String("pod", pod.Namespace+"/"+pod.Name), zap.Error(err))
			writeStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("the nodeagent of node %q cannot be reached: %v", node.Name, err)), apierrors.Target{})
		},
	}
	proxy.ServeHTTP(q.w, q.r)
}

// podContainer resolves the container of a log or exec request: the named one, else the
// default-container annotation, else the only or first container.
func podContainer(pod *corev1.Pod, name string) (string, error) {
	if name == "" {
		name = pod.Annotations[defaultContainerAnnotation]
	}
	if name == "" {
		if len(pod.Spec.Containers) == 0 {
			return "", apierrors.NewBadRequest(fmt.Sprintf("pod %s has no containers", pod.Name))
		}
		return pod.Spec.Containers[0].Name, nil
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return name, nil
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return name, nil
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %q is not valid for pod %q", name, pod.Name))
}

// nodeAddress4 picks the node's InternalIP, falling back to its Hostname.
func nodeAddress4(node *corev1.Node) string {
	for _, typ := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeHostName} {
		for _, addr := range node.Status.Addresses {
			if addr.Type == typ && addr.Address != "" {
				return addr.Address
			}
		}
	}
	return ""
}
