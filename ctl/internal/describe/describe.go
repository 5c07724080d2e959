package describe

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	appsv1 "github.com/skiffhq/skiff/shared/api/apps/v1"
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/labels"
)

// Describer writes descriptions of objects.
type Describer struct {
	CS *client.Clientset
	// Now is the clock ages are computed against.
	Now func() time.Time
	// ShowEvents adds the Events section.
	ShowEvents bool
}

// Describe writes the description of one object.
func (d *Describer) Describe(ctx context.Context, out io.Writer, r resources.Resource, namespace, name string) error {
	if d.Now == nil {
		d.Now = time.Now
	}
	w := newWriter(out)
	var err error
	switch r.GroupResource() {
	case "pods":
		err = d.pod(ctx, w, namespace, name)
	case "deployments.apps":
		err = d.deployment(ctx, w, namespace, name)
	case "replicasets.apps":
		err = d.replicaSet(ctx, w, namespace, name)
	case "services":
		err = d.service(ctx, w, namespace, name)
	case "nodes":
		err = d.node(ctx, w, name)
	default:
		err = d.generic(ctx, w, r, namespace, name)
	}
	if err != nil {
		return err
	}
	return w.flush()
}

func (d *Describer) events(ctx context.Context, w *prefixWriter, namespace string, m *metav1.ObjectMeta, kind string) {
	if !d.ShowEvents {
		return
	}
	sel := "involvedObject.name=" + m.Name + ",involvedObject.uid=" + m.UID
	if namespace != "" {
		sel += ",involvedObject.namespace=" + namespace
	}
	if kind != "" {
		sel += ",involvedObject.kind=" + kind
	}
	list, err := d.CS.Events.List(ctx, namespace, client.ListOptions{FieldSelector: sel})
	if err != nil || len(list.Items) == 0 {
		w.line(0, "Events:\t<none>")
		return
	}
	evs := list.Items
	when := func(e corev1.Event) time.Time {
		if !e.LastTimestamp.IsZero() {
			return e.LastTimestamp.Time
		}
		if !e.EventTime.IsZero() {
			return e.EventTime.Time
		}
		return e.CreationTimestamp.Time
	}
	sort.SliceStable(evs, func(i, j int) bool { return when(evs[i]).Before(when(evs[j])) })
	w.line(0, "Events:")
	w.line(1, "Type\tReason\tAge\tFrom\tMessage")
	w.line(1, "----\t------\t----\t----\t-------")
	for _, e := range evs {
		age := Age(d.Now().Sub(when(e)))
		if e.Count > 1 && !e.FirstTimestamp.IsZero() {
			age = fmt.Sprintf("%s (x%d over %s)", age, e.Count, Age(d.Now().Sub(e.FirstTimestamp.Time)))
		}
		from := e.Source.Component
		if from == "" {
			from = e.ReportingController
		}
		if e.Source.Host != "" {
			from += ", " + e.Source.Host
		}
		w.line(1, "%s\t%s\t%s\t%s\t%s", e.Type, e.Reason, age, from, strings.TrimSpace(e.Message))
	}
}

func controlledBy(refs []metav1.OwnerReference) string {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r.Kind + "/" + r.Name
		}
	}
	return ""
}

func (d *Describer) pod(ctx context.Context, w *prefixWriter, ns, name string) error {
	p, err := d.CS.Pods.Get(ctx, ns, name, client.GetOptions{})
	if err != nil {
		return err
	}
	w.meta(&p.ObjectMeta, true)
	prio := "0"
	if p.Spec.Priority != nil {
		prio = fmt.Sprint(*p.Spec.Priority)
	}
	w.line(0, "Priority:\t%s", prio)
	if p.Spec.ServiceAccountName != "" {
		w.line(0, "Service Account:\t%s", p.Spec.ServiceAccountName)
	}
	node := "<none>"
	if p.Spec.NodeName != "" {
		node = p.Spec.NodeName
		if p.Status.HostIP != "" {
			node += "/" + p.Status.HostIP
		}
	}
	w.line(0, "Node:\t%s", node)
	if p.Status.StartTime != nil {
		w.line(0, "Start Time:\t%s", formatTime(*p.Status.StartTime))
	}
	w.writeMap(0, "Labels", p.Labels)
	w.writeMap(0, "Annotations", p.Annotations)
	status := string(p.Status.Phase)
	if p.DeletionTimestamp != nil {
		status = "Terminating (lasts " + Age(d.Now().Sub(p.DeletionTimestamp.Time)) + ")"
	}
	w.line(0, "Status:\t%s", status)
	if p.Status.Reason != "" {
		w.line(0, "Reason:\t%s", p.Status.Reason)
	}
	if p.Status.Message != "" {
		w.line(0, "Message:\t%s", p.Status.Message)
	}
	w.line(0, "IP:\t%s", p.Status.PodIP)
	if len(p.Status.PodIPs) > 0 {
		w.line(0, "IPs:")
		for _, ip := range p.Status.PodIPs {
			w.line(1, "IP:\t%s", ip.IP)
		}
	} else {
		w.line(0, "IPs:\t<none>")
	}
	if c := controlledBy(p.OwnerReferences); c != "" {
		w.line(0, "Controlled By:\t%s", c)
	}
	statuses := map[string]corev1.ContainerStatus{}
	for _, s := range p.Status.ContainerStatuses {
		statuses[s.Name] = s
	}
	if len(p.Spec.InitContainers) > 0 {
		w.line(0, "Init Containers:")
		initStatuses := map[string]corev1.ContainerStatus{}
		for _, s := range p.Status.InitContainerStatuses {
			initStatuses[s.Name] = s
		}
		for _, c := range p.Spec.InitContainers {
			d.container(w, c, initStatuses[c.Name])
		}
	}
	w.line(0, "Containers:")
	for _, c := range p.Spec.Containers {
		d.container(w, c, statuses[c.Name])
	}
	if len(p.Status.Conditions) > 0 {
		w.line(0, "Conditions:")
		w.line(1, "Type\tStatus")
		for _, c := range p.Status.Conditions {
			w.line(1, "%s \t%s ", c.Type, c.Status)
		}
	}
	if len(p.Spec.Volumes) > 0 {
		w.line(0, "Volumes:")
		for _, v := range p.Spec.Volumes {
			w.line(1, "%s:", v.Name)
			w.line(2, "Type:\t%s", volumeType(v))
		}
	} else {
		w.line(0, "Volumes:\t<none>")
	}
	if p.Status.QOSClass != "" {
		w.line(0, "QoS Class:\t%s", p.Status.QOSClass)
	}
	w.writeMap(0, "Node-Selectors", p.Spec.NodeSelector)
	var tols []string
	for _, t := range p.Spec.Tolerations {
		s := t.Key
		if t.Operator == "Exists" && t.Key == "" {
			s = ""
		}
		if t.Value != "" {
			s += "=" + t.Value
		}
		if t.Effect != "" {
			s += ":" + string(t.Effect)
		}
		if t.Operator == "Exists" {
			s += " op=Exists"
		}
		if t.TolerationSeconds != nil {
			s += fmt.Sprintf(" for %ds", *t.TolerationSeconds)
		}
		tols = append(tols, strings.TrimSpace(s))
	}
	w.writeList(0, "Tolerations", tols)
	d.events(ctx, w, ns, &p.ObjectMeta, "")
	return nil
}

func volumeType(v corev1.Volume) string {
	switch {
	case v.EmptyDir != nil:
		return "EmptyDir (a temporary directory that shares a pod's lifetime)"
	case v.HostPath != nil:
		return "HostPath (bare host directory volume) " + v.HostPath.Path
	case v.ConfigMap != nil:
		return "ConfigMap (a volume populated by a ConfigMap) " + v.ConfigMap.Name
	case v.Secret != nil:
		return "Secret (a volume populated by a Secret) " + v.Secret.SecretName
	case v.Projected != nil:
		return "Projected (a volume that contains injected data from multiple sources)"
	case v.PersistentVolumeClaim != nil:
		return "PersistentVolumeClaim " + v.PersistentVolumeClaim.ClaimName
	}
	return "<unknown>"
}

func (d *Describer) container(w *prefixWriter, c corev1.Container, s corev1.ContainerStatus) {
	w.line(1, "%s:", c.Name)
	if s.ContainerID != "" {
		w.line(2, "Container ID:\t%s", s.ContainerID)
	}
	w.line(2, "Image:\t%s", c.Image)
	w.line(2, "Image ID:\t%s", s.ImageID)
	var ports []string
	for _, p := range c.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = "TCP"
		}
		ports = append(ports, fmt.Sprintf("%d/%s", p.ContainerPort, proto))
	}
	if len(ports) == 0 {
		w.line(2, "Port:\t<none>")
	} else {
		w.line(2, "Port:\t%s", strings.Join(ports, ", "))
	}
	if len(c.Command) > 0 {
		w.line(2, "Command:")
		for _, a := range c.Command {
			w.line(3, "%s", a)
		}
	}
	if len(c.Args) > 0 {
		w.line(2, "Args:")
		for _, a := range c.Args {
			w.line(3, "%s", a)
		}
	}
	state := func(title string, st corev1.ContainerState) {
		switch {
		case st.Running != nil:
			w.line(2, "%s:\tRunning", title)
			w.line(3, "Started:\t%s", formatTime(st.Running.StartedAt))
		case st.Waiting != nil:
			w.line(2, "%s:\tWaiting", title)
			if st.Waiting.Reason != "" {
				w.line(3, "Reason:\t%s", st.Waiting.Reason)
			}
		case st.Terminated != nil:
			w.line(2, "%s:\tTerminated", title)
			if st.Terminated.Reason != "" {
				w.line(3, "Reason:\t%s", st.Terminated.Reason)
			}
			w.line(3, "Exit Code:\t%d", st.Terminated.ExitCode)
			w.line(3, "Started:\t%s", formatTime(st.Terminated.StartedAt))
			w.line(3, "Finished:\t%s", formatTime(st.Terminated.FinishedAt))
		default:
			if title == "State" {
				w.line(2, "%s:\tWaiting", title)
			}
		}
	}
	state("State", s.State)
	if s.LastTerminationState.Terminated != nil {
		state("Last State", s.LastTerminationState)
	}
	w.line(2, "Ready:\t%v", s.Ready)
	w.line(2, "Restart Count:\t%d", s.RestartCount)
	if len(c.Resources.Limits) > 0 {
		w.writeResources(2, "Limits", c.Resources.Limits)
	}
	if len(c.Resources.Requests) > 0 {
		w.writeResources(2, "Requests", c.Resources.Requests)
	}
	if len(c.Env) > 0 {
		w.line(2, "Environment:")
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				w.line(3, "%s:\t<set from a reference>", e.Name)
			} else {
				w.line(3, "%s:\t%s", e.Name, e.Value)
			}
		}
	} else {
		w.line(2, "Environment:\t<none>")
	}
	if len(c.VolumeMounts) > 0 {
		w.line(2, "Mounts:")
		for _, m := range c.VolumeMounts {
			mode := "rw"
			if m.ReadOnly {
				mode = "ro"
			}
			w.line(3, "%s from %s (%s)", m.MountPath, m.Name, mode)
		}
	} else {
		w.line(2, "Mounts:\t<none>")
	}
}

func (d *Describer) podTemplate(w *prefixWriter, t corev1.PodTemplateSpec) {
	w.line(0, "Pod Template:")
	w.writeMap(1, "Labels", t.Labels)
	if len(t.Annotations) > 0 {
		w.writeMap(1, "Annotations", t.Annotations)
	}
	w.line(1, "Containers:")
	for _, c := range t.Spec.Containers {
		w.line(2, "%s:", c.Name)
		w.line(3, "Image:\t%s", c.Image)
		var ports []string
		for _, p := range c.Ports {
			ports = append(ports, fmt.Sprintf("%d/%s", p.ContainerPort, orDefault(string(p.Protocol), "TCP")))
		}
		w.line(3, "Port:\t%s", orNone(strings.Join(ports, ", ")))
		if len(c.Command) > 0 {
			w.line(3, "Command:")
			for _, a := range c.Command {
				w.line(4, "%s", a)
			}
		}
		if len(c.Args) > 0 {
			w.line(3, "Args:")
			for _, a := range c.Args {
				w.line(4, "%s", a)
			}
		}
		w.line(3, "Environment:\t%s", orNone(envList(c.Env)))
		w.line(3, "Mounts:\t<none>")
	}
	w.line(1, "Volumes:\t<none>")
}

func envList(env []corev1.EnvVar) string {
	var out []string
	for _, e := range env {
		out = append(out, e.Name+"="+e.Value)
	}
	return strings.Join(out, ", ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (d *Describer) deployment(ctx context.Context, w *prefixWriter, ns, name string) error {
	dep, err := d.CS.Deployments.Get(ctx, ns, name, client.GetOptions{})
	if err != nil {
		return err
	}
	w.meta(&dep.ObjectMeta, true)
	w.line(0, "CreationTimestamp:\t%s", formatTime(dep.CreationTimestamp))
	w.writeMap(0, "Labels", dep.Labels)
	w.writeMap(0, "Annotations", dep.Annotations)
	w.line(0, "Selector:\t%s", labels.FormatLabelSelector(dep.Spec.Selector))
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	w.line(0, "Replicas:\t%d desired | %d updated | %d total | %d available | %d unavailable", want, st.UpdatedReplicas, st.Replicas, st.AvailableReplicas, st.UnavailableReplicas)
	strategy := string(dep.Spec.Strategy.Type)
	w.line(0, "StrategyType:\t%s", orDefault(strategy, "RollingUpdate"))
	w.line(0, "MinReadySeconds:\t%d", dep.Spec.MinReadySeconds)
	if ru := dep.Spec.Strategy.RollingUpdate; ru != nil {
		mu, ms := "25%", "25%"
		if ru.MaxUnavailable != nil {
			mu = ru.MaxUnavailable.String()
		}
		if ru.MaxSurge != nil {
			ms = ru.MaxSurge.String()
		}
		w.line(0, "RollingUpdateStrategy:\t%s max unavailable, %s max surge", mu, ms)
	}
	d.podTemplate(w, dep.Spec.Template)
	if len(st.Conditions) > 0 {
		w.line(0, "Conditions:")
		w.line(1, "Type\tStatus\tReason")
		w.line(1, "----\t------\t------")
		for _, c := range st.Conditions {
			w.line(1, "%s \t%s\t%s", c.Type, c.Status, c.Reason)
		}
	}
	old, newRS := d.replicaSetsOf(ctx, ns, dep)
	w.line(0, "OldReplicaSets:\t%s", rsList(old))
	w.line(0, "NewReplicaSet:\t%s", rsList(newRS))
	d.events(ctx, w, ns, &dep.ObjectMeta, "Deployment")
	return nil
}

// replicaSetsOf splits a deployment's ReplicaSets into old ones and the one matching its template.
func (d *Describer) replicaSetsOf(ctx context.Context, ns string, dep *appsv1.Deployment) (old, current []appsv1.ReplicaSet) {
	sel := labels.FormatLabelSelector(dep.Spec.Selector)
	list, err := d.CS.ReplicaSets.List(ctx, ns, client.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, nil
	}
	for _, rs := range OwnedReplicaSets(list.Items, dep.UID) {
		if rs.Annotations[RevisionAnnotation] != "" && rs.Annotations[RevisionAnnotation] == dep.Annotations[RevisionAnnotation] {
			current = append(current, rs)
		} else if rs.Spec.Replicas != nil && *rs.Spec.Replicas > 0 || rs.Status.Replicas > 0 {
			old = append(old, rs)
		}
	}
	return old, current
}

// RevisionAnnotation is the deployment.kubernetes.io/revision annotation on Deployments and ReplicaSets.
const RevisionAnnotation = "deployment.kubernetes.io/revision"

// OwnedReplicaSets keeps the ReplicaSets controlled by the given owner UID.
func OwnedReplicaSets(all []appsv1.ReplicaSet, uid string) []appsv1.ReplicaSet {
	var out []appsv1.ReplicaSet
	for _, rs := range all {
		for _, o := range rs.OwnerReferences {
			if o.UID == uid {
				out = append(out, rs)
				break
			}
		}
	}
	return out
}

func rsList(list []appsv1.ReplicaSet) string {
	if len(list) == 0 {
		return "<none>"
	}
	var parts []string
	for _, rs := range list {
		want := int32(0)
		if rs.Spec.Replicas != nil {
			want = *rs.Spec.Replicas
		}
		parts = append(parts, fmt.Sprintf("%s (%d/%d replicas created)", rs.Name, rs.Status.Replicas, want))
	}
	return strings.Join(parts, ", ")
}

func (d *Describer) replicaSet(ctx context.Context, w *prefixWriter, ns, name string) error {
	rs, err := d.CS.ReplicaSets.Get(ctx, ns, name, client.GetOptions{})
	if err != nil {
		return err
	}
	w.meta(&rs.ObjectMeta, true)
	w.line(0, "Selector:\t%s", labels.FormatLabelSelector(rs.Spec.Selector))
	w.writeMap(0, "Labels", rs.Labels)
	w.writeMap(0, "Annotations", rs.Annotations)
	if c := controlledBy(rs.OwnerReferences); c != "" {
		w.line(0, "Controlled By:\t%s", c)
	}
	want := int32(1)
	if rs.Spec.Replicas != nil {
		want = *rs.Spec.Replicas
	}
	w.line(0, "Replicas:\t%d current / %d desired", rs.Status.Replicas, want)
	running, waiting, succeeded, failed := 0, 0, 0, 0
	if pods, err := d.CS.Pods.List(ctx, ns, client.ListOptions{LabelSelector: labels.FormatLabelSelector(rs.Spec.Selector)}); err == nil {
		for _, p := range pods.Items {
			owned := false
			for _, o := range p.OwnerReferences {
				owned = owned || o.UID == rs.UID
			}
			if !owned {
				continue
			}
			switch p.Status.Phase {
			case corev1.PodRunning:
				running++
			case corev1.PodSucceeded:
				succeeded++
			case corev1.PodFailed:
				failed++
			default:
				waiting++
			}
		}
	}
	w.line(0, "Pods Status:\t%d Running / %d Waiting / %d Succeeded / %d Failed", running, waiting, succeeded, failed)
	d.podTemplate(w, rs.Spec.Template)
	d.events(ctx, w, ns, &rs.ObjectMeta, "ReplicaSet")
	return nil
}

func (d *Describer) service(ctx context.Context, w *prefixWriter, ns, name string) error {
	svc, err := d.CS.Services.Get(ctx, ns, name, client.GetOptions{})
	if err != nil {
		return err
	}
	w.meta(&svc.ObjectMeta, true)
	w.writeMap(0, "Labels", svc.Labels)
	w.writeMap(0, "Annotations", svc.Annotations)
	sel := formatSelector(svc.Spec.Selector)
	w.line(0, "Selector:\t%s", orNone(sel))
	w.line(0, "Type:\t%s", svc.Spec.Type)
	if svc.Spec.IPFamilyPolicy != nil {
		w.line(0, "IP Family Policy:\t%s", *svc.Spec.IPFamilyPolicy)
	}
	if len(svc.Spec.IPFamilies) > 0 {
		var fams []string
		for _, f := range svc.Spec.IPFamilies {
			fams = append(fams, string(f))
		}
		w.line(0, "IP Families:\t%s", strings.Join(fams, ","))
	}
	w.line(0, "IP:\t%s", orNone(svc.Spec.ClusterIP))
	if len(svc.Spec.ClusterIPs) > 0 {
		w.line(0, "IPs:\t%s", strings.Join(svc.Spec.ClusterIPs, ","))
	}
	ep, _ := d.CS.Endpoints.Get(ctx, ns, name, client.GetOptions{})
	for _, p := range svc.Spec.Ports {
		pname := orDefault(p.Name, "<unset>")
		proto := orDefault(string(p.Protocol), "TCP")
		w.line(0, "Port:\t%s\t%d/%s", pname, p.Port, proto)
		tp := p.TargetPort.String()
		if p.TargetPort.IntValue() == 0 && p.TargetPort.String() == "0" {
			tp = fmt.Sprint(p.Port)
		}
		w.line(0, "TargetPort:\t%s/%s", tp, proto)
		if p.NodePort != 0 {
			w.line(0, "NodePort:\t%s\t%d/%s", pname, p.NodePort, proto)
		}
		w.line(0, "Endpoints:\t%s", endpointsFor(ep, p.Name))
	}
	w.line(0, "Session Affinity:\t%s", orDefault(string(svc.Spec.SessionAffinity), "None"))
	if svc.Spec.InternalTrafficPolicy != nil {
		w.line(0, "Internal Traffic Policy:\t%s", *svc.Spec.InternalTrafficPolicy)
	}
	d.events(ctx, w, ns, &svc.ObjectMeta, "Service")
	return nil
}

// endpointsFor lists the ready addresses of one service port: "10.244.0.5:8080,10.244.0.6:8080".
func endpointsFor(ep *corev1.Endpoints, portName string) string {
	if ep == nil {
		return "<none>"
	}
	var out []string
	for _, s := range ep.Subsets {
		for _, p := range s.Ports {
			if p.Name != portName && !(len(s.Ports) == 1 && portName == "") {
				continue
			}
			for _, a := range s.Addresses {
				out = append(out, fmt.Sprintf("%s:%d", a.IP, p.Port))
			}
		}
	}
	if len(out) == 0 {
		return "<none>"
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func (d *Describer) node(ctx context.Context, w *prefixWriter, name string) error {
	n, err := d.CS.Nodes.Get(ctx, "", name, client.GetOptions{})
	if err != nil {
		return err
	}
	w.meta(&n.ObjectMeta, false)
	var roles []string
	for k := range n.Labels {
		if r, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok {
			roles = append(roles, r)
		}
	}
	sort.Strings(roles)
	w.line(0, "Roles:\t%s", orNone(strings.Join(roles, ",")))
	w.writeMap(0, "Labels", n.Labels)
	w.writeMap(0, "Annotations", n.Annotations)
	w.line(0, "CreationTimestamp:\t%s", formatTime(n.CreationTimestamp))
	var taints []string
	for _, t := range n.Spec.Taints {
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		taints = append(taints, s+":"+string(t.Effect))
	}
	w.writeList(0, "Taints", taints)
	w.line(0, "Unschedulable:\t%v", n.Spec.Unschedulable)
	if len(n.Status.Conditions) > 0 {
		w.line(0, "Conditions:")
		w.line(1, "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage")
		w.line(1, "----\t------\t-----------------\t------------------\t------\t-------")
		for _, c := range n.Status.Conditions {
			w.line(1, "%s \t%s \t%s \t%s \t%s \t%s", c.Type, c.Status, formatTime(c.LastHeartbeatTime), formatTime(c.LastTransitionTime), c.Reason, c.Message)
		}
	}
	w.line(0, "Addresses:")
	for _, a := range n.Status.Addresses {
		w.line(1, "%s:\t%s", a.Type, a.Address)
	}
	w.writeResources(0, "Capacity", n.Status.Capacity)
	w.writeResources(0, "Allocatable", n.Status.Allocatable)
	info := n.Status.NodeInfo
	w.line(0, "System Info:")
	w.line(1, "Machine ID:\t%s", info.MachineID)
	w.line(1, "Kernel Version:\t%s", info.KernelVersion)
	w.line(1, "OS Image:\t%s", info.OSImage)
	w.line(1, "Operating System:\t%s", info.OperatingSystem)
	w.line(1, "Architecture:\t%s", info.Architecture)
	w.line(1, "Container Runtime Version:\t%s", info.ContainerRuntimeVersion)
	w.line(1, "Kubelet Version:\t%s", info.KubeletVersion)
	if n.Spec.PodCIDR != "" {
		w.line(0, "PodCIDR:\t%s", n.Spec.PodCIDR)
	}
	if len(n.Spec.PodCIDRs) > 0 {
		w.line(0, "PodCIDRs:\t%s", strings.Join(n.Spec.PodCIDRs, ","))
	}
	pods, err := d.CS.Pods.List(ctx, "", client.ListOptions{FieldSelector: "spec.nodeName=" + name})
	if err != nil {
		return err
	}
	var active []corev1.Pod
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			active = append(active, p)
		}
	}
	w.line(0, "Non-terminated Pods:\t(%d in total)", len(active))
	w.line(1, "Namespace\tName\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge")
	w.line(1, "---------\t----\t------------\t----------\t---------------\t-------------\t---")
	totals := map[string]*resource.Quantity{}
	add := func(key string, q resource.Quantity) {
		if totals[key] == nil {
			z := resource.Quantity{}
			totals[key] = &z
		}
		totals[key].Add(q)
	}
	for _, p := range active {
		req, lim := PodRequestsAndLimits(&p)
		cpuR, cpuL, memR, memL := req[corev1.ResourceCPU], lim[corev1.ResourceCPU], req[corev1.ResourceMemory], lim[corev1.ResourceMemory]
		add("cpuR", cpuR)
		add("cpuL", cpuL)
		add("memR", memR)
		add("memL", memL)
		w.line(1, "%s\t%s\t%s\t%s\t%s\t%s\t%s", p.Namespace, p.Name,
			pct(cpuR, n.Status.Allocatable[corev1.ResourceCPU]), pct(cpuL, n.Status.Allocatable[corev1.ResourceCPU]),
			pct(memR, n.Status.Allocatable[corev1.ResourceMemory]), pct(memL, n.Status.Allocatable[corev1.ResourceMemory]),
			Age(d.Now().Sub(p.CreationTimestamp.Time)))
	}
	total := func(k string) resource.Quantity {
		if q := totals[k]; q != nil {
			return *q
		}
		return resource.Quantity{}
	}
	w.line(0, "Allocated resources:")
	w.line(1, "(Total limits may be over 100 percent, i.e., overcommitted.)")
	w.line(1, "Resource\tRequests\tLimits")
	w.line(1, "--------\t--------\t------")
	w.line(1, "cpu\t%s\t%s", pct(total("cpuR"), n.Status.Allocatable[corev1.ResourceCPU]), pct(total("cpuL"), n.Status.Allocatable[corev1.ResourceCPU]))
	w.line(1, "memory\t%s\t%s", pct(total("memR"), n.Status.Allocatable[corev1.ResourceMemory]), pct(total("memL"), n.Status.Allocatable[corev1.ResourceMemory]))
	d.events(ctx, w, "", &n.ObjectMeta, "Node")
	return nil
}

// pct prints "250m (12%)" of an allocatable amount.
func pct(q, of resource.Quantity) string {
	s := q.String()
	if of.IsZero() {
		return s + " (0%)"
	}
	return fmt.Sprintf("%s (%d%%)", s, int64(float64(q.MilliValue())/float64(of.MilliValue())*100))
}

// PodRequestsAndLimits sums the requests and limits of a pod's containers (init containers count by
// their maximum, as the scheduler does).
func PodRequestsAndLimits(p *corev1.Pod) (req, lim corev1.ResourceList) {
	req, lim = corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range p.Spec.Containers {
		for k, v := range c.Resources.Requests {
			q := req[k]
			q.Add(v)
			req[k] = q
		}
		for k, v := range c.Resources.Limits {
			q := lim[k]
			q.Add(v)
			lim[k] = q
		}
	}
	for _, c := range p.Spec.InitContainers {
		for k, v := range c.Resources.Requests {
			if q := req[k]; v.Cmp(q) > 0 {
				req[k] = v.DeepCopy()
			}
		}
		for k, v := range c.Resources.Limits {
			if q := lim[k]; v.Cmp(q) > 0 {
				lim[k] = v.DeepCopy()
			}
		}
	}
	return req, lim
}

// generic describes any object by its metadata, followed by its events.
func (d *Describer) generic(ctx context.Context, w *prefixWriter, r resources.Resource, ns, name string) error {
	obj := r.New()
	res := client.NewResource[map[string]any](d.CS.Client, client.InfoFor(r))
	raw, err := res.Get(ctx, ns, name, client.GetOptions{})
	if err != nil {
		return err
	}
	m := obj.GetObjectMeta()
	md, _ := (*raw)["metadata"].(map[string]any)
	m.Name, _ = md["name"].(string)
	m.Namespace, _ = md["namespace"].(string)
	m.UID, _ = md["uid"].(string)
	toMap := func(v any) map[string]string {
		out := map[string]string{}
		if mm, ok := v.(map[string]any); ok {
			for k, v := range mm {
				out[k] = fmt.Sprint(v)
			}
		}
		return out
	}
	w.meta(m, r.Namespaced)
	w.writeMap(0, "Labels", toMap(md["labels"]))
	w.writeMap(0, "Annotations", toMap(md["annotations"]))
	w.line(0, "API Version:\t%s", r.GroupVersion())
	w.line(0, "Kind:\t%s", r.Kind)
	for _, section := range []string{"spec", "data", "status"} {
		if v, ok := (*raw)[section]; ok {
			w.line(0, "%s:", strings.ToUpper(section[:1])+section[1:])
			writeValue(w, 1, v)
		}
	}
	d.events(ctx, w, ns, m, r.Kind)
	return nil
}

func writeValue(w *prefixWriter, level int, v any) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			switch x[k].(type) {
			case map[string]any, []any:
				w.line(level, "%s:", k)
				writeValue(w, level+1, x[k])
			default:
				w.line(level, "%s:\t%v", k, x[k])
			}
		}
	case []any:
		for _, it := range x {
			switch it.(type) {
			case map[string]any, []any:
				w.line(level, "-")
				writeValue(w, level+1, it)
			default:
				w.line(level, "%v", it)
			}
		}
	default:
		w.line(level, "%v", x)
	}
}

func formatSelector(m map[string]string) string {
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}
