package pods

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// objectSource fetches the ConfigMaps and Secrets that env refers to. A missing object returns an error
// for which isNotFound is true.
type objectSource interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	IsNotFound(err error) bool
}

// podRuntimeInfo is what the downward API needs beyond the pod object.
type podRuntimeInfo struct {
	PodIPs     []string
	HostIP     string
	NodeCPU    resource.Quantity // allocatable, used when a container has no limit
	NodeMemory resource.Quantity
}

// configError is a container configuration problem (CreateContainerConfigError): a missing ConfigMap,
// Secret or key, or an unknown field path.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func optional(b *bool) bool { return b != nil && *b }

// containerEnv builds the environment of c: the image's env, then envFrom in order, then env in
// order; later names override earlier ones. $(VAR) in env values expands to variables defined before
// it by the pod (not the image), $$ escapes.
func containerEnv(ctx context.Context, src objectSource, pod *corev1.Pod, c *corev1.Container, imageEnv []string, info podRuntimeInfo) ([]string, error) {
	var order []string
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, kv := range imageEnv {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	podVars := map[string]string{}
	ns := pod.Namespace
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := src.ConfigMap(ctx, ns, from.ConfigMapRef.Name)
			if err != nil {
				if src.IsNotFound(err) && optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, refError("configmap", from.ConfigMapRef.Name, err, src)
			}
			for _, k := range sortedKeys(cm.Data) {
				set(from.Prefix+k, cm.Data[k])
				podVars[from.Prefix+k] = cm.Data[k]
			}
		case from.SecretRef != nil:
			s, err := src.Secret(ctx, ns, from.SecretRef.Name)
			if err != nil {
				if src.IsNotFound(err) && optional(from.SecretRef.Optional) {
					continue
				}
				return nil, refError("secret", from.SecretRef.Name, err, src)
			}
			keys := make([]string, 0, len(s.Data))
			for k := range s.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				set(from.Prefix+k, string(s.Data[k]))
				podVars[from.Prefix+k] = string(s.Data[k])
			}
		}
	}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom == nil {
			v = expand(v, podVars)
		} else {
			var ok bool
			var err error
			v, ok, err = envSource(ctx, src, pod, c, e.ValueFrom, info)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		set(e.Name, v)
		podVars[e.Name] = v
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

func refError(kind, name string, err error, src objectSource) error {
	if src.IsNotFound(err) {
		return &configError{fmt.Sprintf("%s %q not found", kind, name)}
	}
	return fmt.Errorf("reading %s %s: %w", kind, name, err)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// envSource resolves one valueFrom. ok is false when an optional source is missing.
func envSource(ctx context.Context, src objectSource, pod *corev1.Pod, c *corev1.Container, vf *corev1.EnvVarSource, info podRuntimeInfo) (string, bool, error) {
	switch {
	case vf.FieldRef != nil:
		v, err := podField(pod, vf.FieldRef.FieldPath, info)
		return v, err == nil, err
	case vf.ResourceFieldRef != nil:
		target := c
		if n := vf.ResourceFieldRef.ContainerName; n != "" && n != c.Name {
			target = nil
			for i := range pod.Spec.Containers {
				if pod.Spec.Containers[i].Name == n {
					target = &pod.Spec.Containers[i]
				}
			}
			if target == nil {
				return "", false, &configError{fmt.Sprintf("resourceFieldRef: container %q not found", n)}
			}
		}
		v, err := resourceField(target, vf.ResourceFieldRef, info)
		return v, err == nil, err
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		cm, err := src.ConfigMap(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if src.IsNotFound(err) && optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, refError("configmap", ref.Name, err, src)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if b, isBin := cm.BinaryData[ref.Key]; isBin {
				return string(b), true, nil
			}
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, &configError{fmt.Sprintf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)}
		}
		return v, true, nil
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		s, err := src.Secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if src.IsNotFound(err) && optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, refError("secret", ref.Name, err, src)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if sv, ok := s.StringData[ref.Key]; ok {
				return sv, true, nil
			}
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, &configError{fmt.Sprintf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)}
		}
		return string(v), true, nil
	}
	return "", false, &configError{"env valueFrom names no source"}
}

// podField resolves a downward API field path.
func podField(pod *corev1.Pod, path string, info podRuntimeInfo) (string, error) {
	mapKey := func(prefix string) (string, bool) {
		if rest, ok := strings.CutPrefix(path, prefix+"['"); ok && strings.HasSuffix(rest, "']") {
			return strings.TrimSuffix(rest, "']"), true
		}
		return "", false
	}
	if k, ok := mapKey("metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := mapKey("metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return info.HostIP, nil
	case "status.hostIPs":
		return info.HostIP, nil
	case "status.podIP":
		if len(info.PodIPs) > 0 {
			return info.PodIPs[0], nil
		}
		return "", nil
	case "status.podIPs":
		return strings.Join(info.PodIPs, ","), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	return "", &configError{fmt.Sprintf("unsupported fieldRef path %q", path)}
}

func formatMap(m map[string]string) string {
	var lines []string
	for _, k := range sortedKeys(m) {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n")
}

// resourceField resolves limits.cpu, requests.memory and the like, divided by the divisor and rounded
// up, with the node's allocatable standing in for an unset limit.
func resourceField(c *corev1.Container, sel *corev1.ResourceFieldSelector, info podRuntimeInfo) (string, error) {
	divisor := sel.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	var q resource.Quantity
	switch sel.Resource {
	case "limits.cpu":
		q = *c.Resources.Limits.Cpu()
		if q.IsZero() {
			q = info.NodeCPU
		}
	case "requests.cpu":
		q = *c.Resources.Requests.Cpu()
	case "limits.memory":
		q = *c.Resources.Limits.Memory()
		if q.IsZero() {
			q = info.NodeMemory
		}
	case "requests.memory":
		q = *c.Resources.Requests.Memory()
	case "limits.ephemeral-storage":
		q = *c.Resources.Limits.EphemeralStorage()
	case "requests.ephemeral-storage":
		q = *c.Resources.Requests.EphemeralStorage()
	default:
		return "", &configError{fmt.Sprintf("unsupported resourceFieldRef resource %q", sel.Resource)}
	}
	if strings.HasSuffix(sel.Resource, ".cpu") {
		v := math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue()))
		return strconv.FormatInt(int64(v), 10), nil
	}
	v := math.Ceil(float64(q.Value()) / float64(divisor.Value()))
	return strconv.FormatInt(int64(v), 10), nil
}

// expand replaces $(VAR) with vars[VAR]; unknown references stay as written and $$ is a literal $.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// commandLine is what the container runs: command replaces the image entrypoint, args replace the
// image cmd (and drop it when command is given alone), both with $(VAR) expanded from env.
func commandLine(c *corev1.Container, entrypoint, cmd []string, env []string) []string {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var out []string
	switch {
	case len(c.Command) > 0:
		out = append(out, c.Command...)
		out = append(out, c.Args...)
	case len(c.Args) > 0:
		out = append(append(out, entrypoint...), c.Args...)
	default:
		out = append(append(out, entrypoint...), cmd...)
	}
	for i := range out {
		out[i] = expand(out[i], vars)
	}
	return out
}
