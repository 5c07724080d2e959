package handlers

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiffhq/skiff/apiserver/internal/registry"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Table is meta.k8s.io/v1 Table, what `kubectl get` prints.
type Table struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ListMeta   `json:"metadata"`
	ColumnDefinitions []TableColumn `json:"columnDefinitions"`
	Rows              []TableRow    `json:"rows"`
}

// TableColumn describes one column.
type TableColumn struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Format      string `json:"format"`
	Description string `json:"description"`
	Priority    int32  `json:"priority"`
}

// TableRow is one object's cells, with its metadata for --show-labels, -L and the NAMESPACE column.
type TableRow struct {
	Cells  []any `json:"cells"`
	Object any   `json:"object,omitempty"`
}

// column is a column definition plus how to compute its cell.
type column struct {
	def  TableColumn
	cell func(doc map[string]any, obj metav1.Object) any
}

func col(name, typ string, prio int32, desc string, cell func(map[string]any, metav1.Object) any) column {
	format := ""
	if name == "Name" {
		format = "name"
	}
	return column{def: TableColumn{Name: name, Type: typ, Format: format, Description: desc, Priority: prio}, cell: cell}
}

var nameCol = col("Name", "string", 0, "Name must be unique within a namespace. It is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated.",
	func(_ map[string]any, o metav1.Object) any { return o.GetObjectMeta().Name })

func ageCol(now time.Time) column {
	return col("Age", "string", 0, "CreationTimestamp is a timestamp representing the server time when this object was created.",
		func(_ map[string]any, o metav1.Object) any { return age(now, o.GetObjectMeta().CreationTimestamp.Time) })
}

func age(now, t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

func str(path ...string) func(map[string]any, metav1.Object) any {
	return func(d map[string]any, _ metav1.Object) any { return orNone(stringAt(d, path...)) }
}

func num(path ...string) func(map[string]any, metav1.Object) any {
	return func(d map[string]any, _ metav1.Object) any { return intAt(d, 0, path...) }
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// buildTable renders objects as a Table with the resource's columns.
func buildTable(res *registry.Resource, objs []metav1.Object, withColumns bool, includeObject string) *Table {
	cols := columnsFor(res, time.Now())
	t := &Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"}, Rows: []TableRow{}}
	if withColumns {
		for _, c := range cols {
			t.ColumnDefinitions = append(t.ColumnDefinitions, c.def)
		}
	}
	for _, obj := range objs {
		doc := toMap(obj)
		row := TableRow{Cells: make([]any, 0, len(cols))}
		for _, c := range cols {
			row.Cells = append(row.Cells, c.cell(doc, obj))
		}
		switch includeObject {
		case "None":
		case "Object":
			row.Object = obj
		default:
			row.Object = metav1.PartialObjectMetadata{
				TypeMeta:   metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"},
				ObjectMeta: *obj.GetObjectMeta(),
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// columnsFor returns the upstream kubectl columns of a resource (NAME AGE for the rest).
func columnsFor(res *registry.Resource, now time.Time) []column {
	a := ageCol(now)
	wl := workloadWide()
	switch res.Group + "/" + res.Plural {
	case "/pods":
		return []column{nameCol,
			col("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic.", podReady),
			col("Status", "string", 0, "The aggregate status of the containers in this pod.", podStatus),
			col("Restarts", "string", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", podRestarts(now)),
			a,
			col("IP", "string", 1, "The IP address assigned to the pod", str("status", "podIP")),
			col("Node", "string", 1, "The name of the node the pod is assigned to", str("spec", "nodeName")),
			col("Nominated Node", "string", 1, "The name of the node where the pod is nominated to run", str("status", "nominatedNodeName")),
			col("Readiness Gates", "string", 1, "The readiness gates of the pod", podReadinessGates),
		}
	case "apps/deployments":
		return append([]column{nameCol,
			col("Ready", "string", 0, "Number of the pod with ready state", func(d map[string]any, _ metav1.Object) any {
				return fmt.Sprintf("%d/%d", intAt(d, 0, "status", "readyReplicas"), intAt(d, 1, "spec", "replicas"))
			}),
			col("Up-to-date", "integer", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", num("status", "updatedReplicas")),
			col("Available", "integer", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", num("status", "availableReplicas")),
			a}, wl...)
	case "apps/replicasets", "/replicationcontrollers":
		return append([]column{nameCol,
			col("Desired", "integer", 0, "Replicas is the number of desired replicas.", func(d map[string]any, _ metav1.Object) any { return intAt(d, 1, "spec", "replicas") }),
			col("Current", "integer", 0, "Replicas is the most recently observed number of replicas.", num("status", "replicas")),
			col("Ready", "integer", 0, "The number of ready replicas for this replica set.", num("status", "readyReplicas")),
			a}, wl...)
	case "apps/daemonsets":
		return append([]column{nameCol,
			col("Desired", "integer", 0, "The total number of nodes that should be running the daemon pod.", num("status", "desiredNumberScheduled")),
			col("Current", "integer", 0, "The number of nodes that are running at least 1 daemon pod.", num("status", "currentNumberScheduled")),
			col("Ready", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more running and ready.", num("status", "numberReady")),
			col("Up-to-date", "integer", 0, "The total number of nodes that are running updated daemon pod", num("status", "updatedNumberScheduled")),
			col("Available", "integer", 0, "The number of nodes that should be running the daemon pod and have one or more available.", num("status", "numberAvailable")),
			col("Node Selector", "string", 0, "NodeSelector is a selector which must be true for the pod to fit on a node.", func(d map[string]any, _ metav1.Object) any {
				return orNone(formatMap(mapAt(d, "spec", "template", "spec", "nodeSelector")))
			}),
			a}, wl...)
	case "apps/statefulsets":
		return []column{nameCol,
			col("Ready", "string", 0, "Number of the pod with ready state", func(d map[string]any, _ metav1.Object) any {
				return fmt.Sprintf("%d/%d", intAt(d, 0, "status", "readyReplicas"), intAt(d, 1, "spec", "replicas"))
			}),
			a, wl[0], wl[1]}
	case "batch/jobs":
		return append([]column{nameCol,
			col("Status", "string", 0, "Status of the job.", jobStatus),
			col("Completions", "string", 0, "The desired number of successfully finished pods the job should be run with.", func(d map[string]any, _ metav1.Object) any {
				c := intAt(d, -1, "spec", "completions")
				if c < 0 {
					return fmt.Sprintf("%d/1 of %d", intAt(d, 0, "status", "succeeded"), intAt(d, 1, "spec", "parallelism"))
				}
				return fmt.Sprintf("%d/%d", intAt(d, 0, "status", "succeeded"), c)
			}),
			col("Duration", "string", 0, "Time required to complete the job.", func(d map[string]any, _ metav1.Object) any {
				start, ok := parseTime(stringAt(d, "status", "startTime"))
				if !ok {
					return ""
				}
				end, ok := parseTime(stringAt(d, "status", "completionTime"))
				if !ok {
					end = now
				}
				return duration.HumanDuration(end.Sub(start))
			}),
			a}, wideFrom("spec", "template", "spec", "containers")...)
	case "batch/cronjobs":
		return []column{nameCol,
			col("Schedule", "string", 0, "The schedule in Cron format", str("spec", "schedule")),
			col("Timezone", "string", 0, "The time zone for the given schedule", str("spec", "timeZone")),
			col("Suspend", "boolean", 0, "Whether subsequent executions are suspended", func(d map[string]any, _ metav1.Object) any {
				b, _ := valueAt(d, "spec", "suspend").(bool)
				return strings.Title(strconv.FormatBool(b)) //nolint:staticcheck // ASCII only
			}),
			col("Active", "integer", 0, "The number of currently running jobs", func(d map[string]any, _ metav1.Object) any { return len(listAt(d, "status", "active")) }),
			col("Last Schedule", "string", 0, "When the last job was successfully scheduled", func(d map[string]any, _ metav1.Object) any {
				t, ok := parseTime(stringAt(d, "status", "lastScheduleTime"))
				if !ok {
					return "<none>"
				}
				return age(now, t)
			}),
			a,
			col("Containers", "string", 1, "Names of each container in the template.", containerNames("spec", "jobTemplate", "spec", "template", "spec", "containers")),
			col("Images", "string", 1, "Images referenced by each container in the template.", containerImages("spec", "jobTemplate", "spec", "template", "spec", "containers")),
			col("Selector", "string", 1, "The label selector", func(map[string]any, metav1.Object) any { return "<none>" }),
		}
	case "/services":
		return []column{nameCol,
			col("Type", "string", 0, "The type of the service.", str("spec", "type")),
			col("Cluster-IP", "string", 0, "The cluster IP of the service.", str("spec", "clusterIP")),
			col("External-IP", "string", 0, "The external IP of the service.", serviceExternalIP),
			col("Port(s)", "string", 0, "The ports of the service.", servicePorts),
			a,
			col("Selector", "string", 1, "The label selector of the service.", func(d map[string]any, _ metav1.Object) any {
				return orNone(formatMap(mapAt(d, "spec", "selector")))
			}),
		}
	case "/endpoints":
		return []column{nameCol, col("Endpoints", "string", 0, "Endpoints of the service.", endpointsSummary), a}
	case "/nodes":
		return []column{nameCol,
			col("Status", "string", 0, "The status of the node", nodeStatus),
			col("Roles", "string", 0, "The roles of the node", nodeRoles),
			a,
			col("Version", "string", 0, "Kubelet Version reported by the node.", str("status", "nodeInfo", "kubeletVersion")),
			col("Internal-IP", "string", 1, "List of internal IPs in the node.", nodeAddress("InternalIP")),
			col("External-IP", "string", 1, "List of external IPs in the node.", nodeAddress("ExternalIP")),
			col("OS-Image", "string", 1, "OS image reported by the node.", str("status", "nodeInfo", "osImage")),
			col("Kernel-Version", "string", 1, "Kernel version reported by the node.", str("status", "nodeInfo", "kernelVersion")),
			col("Container-Runtime", "string", 1, "Container runtime reported by the node.", str("status", "nodeInfo", "containerRuntimeVersion")),
		}
	case "/namespaces":
		return []column{nameCol, col("Status", "string", 0, "The status of the namespace", str("status", "phase")), a}
	case "/configmaps":
		return []column{nameCol, col("Data", "integer", 0, "Number of data entries.", func(d map[string]any, _ metav1.Object) any {
			return len(mapAt(d, "data")) + len(mapAt(d, "binaryData"))
		}), a}
	case "/secrets":
		return []column{nameCol,
			col("Type", "string", 0, "The type of the secret", str("type")),
			col("Data", "integer", 0, "The number of data entries.", func(d map[string]any, _ metav1.Object) any { return len(mapAt(d, "data")) }),
			a}
	case "/serviceaccounts":
		return []column{nameCol, col("Secrets", "integer", 0, "The number of secrets.", func(d map[string]any, _ metav1.Object) any { return len(listAt(d, "secrets")) }), a}
	case "/events":
		return eventColumns(now)
	case "coordination.k8s.io/leases":
		return []column{nameCol, col("Holder", "string", 0, "The holder of the lease.", func(d map[string]any, _ metav1.Object) any {
			return stringAt(d, "spec", "holderIdentity")
		}), a}
	case "/persistentvolumes":
		return []column{nameCol,
			col("Capacity", "string", 0, "Capacity of the volume.", str("spec", "capacity", "storage")),
			col("Access Modes", "string", 0, "Access modes of the volume.", accessModes("spec", "accessModes")),
			col("Reclaim Policy", "string", 0, "What happens to the volume when released.", str("spec", "persistentVolumeReclaimPolicy")),
			col("Status", "string", 0, "Phase of the volume.", str("status", "phase")),
			col("Claim", "string", 0, "The claim bound to the volume.", func(d map[string]any, _ metav1.Object) any {
				ns, n := stringAt(d, "spec", "claimRef", "namespace"), stringAt(d, "spec", "claimRef", "name")
				if n == "" {
					return ""
				}
				return ns + "/" + n
			}),
			col("StorageClass", "string", 0, "Storage class of the volume.", func(d map[string]any, _ metav1.Object) any { return stringAt(d, "spec", "storageClassName") }),
			col("VolumeAttributesClass", "string", 0, "Volume attributes class.", str("spec", "volumeAttributesClassName")),
			col("Reason", "string", 0, "Reason of the phase.", func(d map[string]any, _ metav1.Object) any { return stringAt(d, "status", "reason") }),
			a,
			col("VolumeMode", "string", 1, "Volume mode.", func(d map[string]any, _ metav1.Object) any {
				return orDefault(stringAt(d, "spec", "volumeMode"), "Filesystem")
			}),
		}
	case "/persistentvolumeclaims":
		return []column{nameCol,
			col("Status", "string", 0, "Phase of the claim.", str("status", "phase")),
			col("Volume", "string", 0, "The bound volume.", func(d map[string]any, _ metav1.Object) any { return stringAt(d, "spec", "volumeName") }),
			col("Capacity", "string", 0, "Capacity of the bound volume.", func(d map[string]any, _ metav1.Object) any { return stringAt(d, "status", "capacity", "storage") }),
			col("Access Modes", "string", 0, "Access modes of the bound volume.", accessModes("status", "accessModes")),
			col("StorageClass", "string", 0, "Storage class of the claim.", func(d map[string]any, _ metav1.Object) any { return stringAt(d, "spec", "storageClassName") }),
			col("VolumeAttributesClass", "string", 0, "Volume attributes class.", str("spec", "volumeAttributesClassName")),
			a,
			col("VolumeMode", "string", 1, "Volume mode.", func(d map[string]any, _ metav1.Object) any {
				return orDefault(stringAt(d, "spec", "volumeMode"), "Filesystem")
			}),
		}
	case "autoscaling/horizontalpodautoscalers":
		return []column{nameCol,
			col("Reference", "string", 0, "The scale target.", func(d map[string]any, _ metav1.Object) any {
				return stringAt(d, "spec", "scaleTargetRef", "kind") + "/" + stringAt(d, "spec", "scaleTargetRef", "name")
			}),
			col("Targets", "string", 0, "Current and target metric values.", hpaTargets),
			col("MinPods", "string", 0, "Lower limit of replicas.", func(d map[string]any, _ metav1.Object) any {
				return strconv.FormatInt(intAt(d, 1, "spec", "minReplicas"), 10)
			}),
			col("MaxPods", "integer", 0, "Upper limit of replicas.", num("spec", "maxReplicas")),
			col("Replicas", "integer", 0, "Current replicas.", num("status", "currentReplicas")),
			a,
		}
	}
	return []column{nameCol, a}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func formatMap(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
	}
	return strings.Join(parts, ",")
}

// workloadWide are the -o wide columns of workloads: Containers, Images, Selector.
func workloadWide() []column {
	return append(wideFrom("spec", "template", "spec", "containers")[:2],
		col("Selector", "string", 1, "Label selector.", func(d map[string]any, _ metav1.Object) any {
			return orNone(formatSelector(mapAt(d, "spec", "selector")))
		}))
}

func wideFrom(path ...string) []column {
	return []column{
		col("Containers", "string", 1, "Names of each container in the template.", containerNames(path...)),
		col("Images", "string", 1, "Images referenced by each container in the template.", containerImages(path...)),
		col("Selector", "string", 1, "Label selector.", func(d map[string]any, _ metav1.Object) any {
			return orNone(formatSelector(mapAt(d, "spec", "selector")))
		}),
	}
}

func containerNames(path ...string) func(map[string]any, metav1.Object) any {
	return func(d map[string]any, _ metav1.Object) any {
		var names []string
		for _, c := range listAt(d, path...) {
			names = append(names, stringAt(c, "name"))
		}
		return strings.Join(names, ",")
	}
}

func containerImages(path ...string) func(map[string]any, metav1.Object) any {
	return func(d map[string]any, _ metav1.Object) any {
		var images []string
		for _, c := range listAt(d, path...) {
			images = append(images, stringAt(c, "image"))
		}
		return strings.Join(images, ",")
	}
}

// formatSelector renders a LabelSelector the way kubectl does ("app=web,tier in (a,b)").
func formatSelector(sel map[string]any) string {
	if sel == nil {
		return ""
	}
	var parts []string
	ml := mapAt(sel, "matchLabels")
	keys := make([]string, 0, len(ml))
	for k := range ml {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, ml[k]))
	}
	for _, e := range listAt(sel, "matchExpressions") {
		key, op := stringAt(e, "key"), stringAt(e, "operator")
		var vals []string
		for _, v := range listAt(e, "values") {
			vals = append(vals, fmt.Sprint(v))
		}
		switch op {
		case "In":
			parts = append(parts, fmt.Sprintf("%s in (%s)", key, strings.Join(vals, ",")))
		case "NotIn":
			parts = append(parts, fmt.Sprintf("%s notin (%s)", key, strings.Join(vals, ",")))
		case "Exists":
			parts = append(parts, key)
		case "DoesNotExist":
			parts = append(parts, "!"+key)
		}
	}
	return strings.Join(parts, ",")
}

func podReady(d map[string]any, _ metav1.Object) any {
	total := len(listAt(d, "spec", "containers"))
	ready := 0
	for _, cs := range listAt(d, "status", "containerStatuses") {
		if b, _ := valueAt(cs, "ready").(bool); b {
			ready++
		}
	}
	return fmt.Sprintf("%d/%d", ready, total)
}

// podStatus follows kubectl's printPod: the phase, refined by the pod's reason, container waiting and
// terminated reasons, init container progress and Terminating.
func podStatus(d map[string]any, o metav1.Object) any {
	reason := stringAt(d, "status", "phase")
	if r := stringAt(d, "status", "reason"); r != "" {
		reason = r
	}
	initContainers := listAt(d, "spec", "initContainers")
	for i, cs := range listAt(d, "status", "initContainerStatuses") {
		if code := intAt(cs, -1, "state", "terminated", "exitCode"); code == 0 {
			continue
		} else if code > 0 {
			if r := stringAt(cs, "state", "terminated", "reason"); r != "" {
				reason = "Init:" + r
			} else {
				reason = fmt.Sprintf("Init:ExitCode:%d", code)
			}
			break
		}
		if r := stringAt(cs, "state", "waiting", "reason"); r != "" && r != "PodInitializing" {
			reason = "Init:" + r
		} else {
			reason = fmt.Sprintf("Init:%d/%d", i, len(initContainers))
		}
		break
	}
	if !strings.HasPrefix(reason, "Init:") {
		running := false
		statuses := listAt(d, "status", "containerStatuses")
		for i := len(statuses) - 1; i >= 0; i-- {
			cs := statuses[i]
			if r := stringAt(cs, "state", "waiting", "reason"); r != "" {
				reason = r
			} else if r := stringAt(cs, "state", "terminated", "reason"); r != "" {
				reason = r
			} else if mapAt(cs, "state", "terminated") != nil {
				if sig := intAt(cs, 0, "state", "terminated", "signal"); sig != 0 {
					reason = fmt.Sprintf("Signal:%d", sig)
				} else {
					reason = fmt.Sprintf("ExitCode:%d", intAt(cs, 0, "state", "terminated", "exitCode"))
				}
			} else if b, _ := valueAt(cs, "ready").(bool); b && mapAt(cs, "state", "running") != nil {
				running = true
			}
		}
		if reason == "Completed" && running {
			reason = "Running"
		}
	}
	if o.GetObjectMeta().DeletionTimestamp != nil {
		if stringAt(d, "status", "reason") == "NodeLost" {
			return "Unknown"
		}
		return "Terminating"
	}
	return reason
}

func podRestarts(now time.Time) func(map[string]any, metav1.Object) any {
	return func(d map[string]any, _ metav1.Object) any {
		var n int64
		var last time.Time
		for _, cs := range listAt(d, "status", "containerStatuses") {
			n += intAt(cs, 0, "restartCount")
			if t, ok := parseTime(stringAt(cs, "lastState", "terminated", "finishedAt")); ok && t.After(last) {
				last = t
			}
		}
		if n > 0 && !last.IsZero() {
			return fmt.Sprintf("%d (%s ago)", n, age(now, last))
		}
		return strconv.FormatInt(n, 10)
	}
}

func podReadinessGates(d map[string]any, _ metav1.Object) any {
	gates := listAt(d, "spec", "readinessGates")
	if len(gates) == 0 {
		return "<none>"
	}
	ready := 0
	for _, g := range gates {
		for _, c := range listAt(d, "status", "conditions") {
			if stringAt(c, "type") == stringAt(g, "conditionType") && stringAt(c, "status") == "True" {
				ready++
			}
		}
	}
	return fmt.Sprintf("%d/%d", ready, len(gates))
}

func jobStatus(d map[string]any, _ metav1.Object) any {
	for _, c := range listAt(d, "status", "conditions") {
		if stringAt(c, "status") != "True" {
			continue
		}
		switch stringAt(c, "type") {
		case "Complete":
			return "Complete"
		case "Failed":
			return "Failed"
		case "FailureTarget":
			return "FailureTarget"
		case "SuccessCriteriaMet":
			return "SuccessCriteriaMet"
		case "Suspended":
			return "Suspended"
		}
	}
	if b, _ := valueAt(d, "spec", "suspend").(bool); b {
		return "Suspended"
	}
	return "Running"
}

func serviceExternalIP(d map[string]any, _ metav1.Object) any {
	typ := stringAt(d, "spec", "type")
	var ips []string
	for _, ing := range listAt(d, "status", "loadBalancer", "ingress") {
		if ip := stringAt(ing, "ip"); ip != "" {
			ips = append(ips, ip)
		} else if h := stringAt(ing, "hostname"); h != "" {
			ips = append(ips, h)
		}
	}
	for _, ip := range listAt(d, "spec", "externalIPs") {
		ips = append(ips, fmt.Sprint(ip))
	}
	switch typ {
	case "ExternalName":
		return stringAt(d, "spec", "externalName")
	case "LoadBalancer":
		if len(ips) == 0 {
			return "<pending>"
		}
	}
	if len(ips) == 0 {
		return "<none>"
	}
	return strings.Join(ips, ",")
}

func servicePorts(d map[string]any, _ metav1.Object) any {
	var parts []string
	for _, p := range listAt(d, "spec", "ports") {
		proto := orDefault(stringAt(p, "protocol"), "TCP")
		s := fmt.Sprintf("%d/%s", intAt(p, 0, "port"), proto)
		if np := intAt(p, 0, "nodePort"); np != 0 {
			s = fmt.Sprintf("%d:%d/%s", intAt(p, 0, "port"), np, proto)
		}
		parts = append(parts, s)
	}
	return orNone(strings.Join(parts, ","))
}

func endpointsSummary(d map[string]any, _ metav1.Object) any {
	var eps []string
	total := 0
	for _, ss := range listAt(d, "subsets") {
		ports := listAt(ss, "ports")
		for _, addr := range listAt(ss, "addresses") {
			ip := stringAt(addr, "ip")
			if len(ports) == 0 {
				total++
				if len(eps) < 3 {
					eps = append(eps, ip)
				}
				continue
			}
			for _, p := range ports {
				total++
				if len(eps) < 3 {
					eps = append(eps, fmt.Sprintf("%s:%d", ip, intAt(p, 0, "port")))
				}
			}
		}
	}
	if total == 0 {
		return "<none>"
	}
	s := strings.Join(eps, ",")
	if total > len(eps) {
		s += fmt.Sprintf(" + %d more...", total-len(eps))
	}
	return s
}

func nodeStatus(d map[string]any, _ metav1.Object) any {
	status := "Unknown"
	for _, c := range listAt(d, "status", "conditions") {
		if stringAt(c, "type") == "Ready" {
			if stringAt(c, "status") == "True" {
				status = "Ready"
			} else {
				status = "NotReady"
			}
		}
	}
	if b, _ := valueAt(d, "spec", "unschedulable").(bool); b {
		status += ",SchedulingDisabled"
	}
	return status
}

func nodeRoles(d map[string]any, _ metav1.Object) any {
	var roles []string
	for k, v := range mapAt(d, "metadata", "labels") {
		if r, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok && r != "" {
			roles = append(roles, r)
		} else if k == "kubernetes.io/role" {
			roles = append(roles, fmt.Sprint(v))
		}
	}
	sort.Strings(roles)
	return orNone(strings.Join(roles, ","))
}

func nodeAddress(typ string) func(map[string]any, metav1.Object) any {
	return func(d map[string]any, _ metav1.Object) any {
		var out []string
		for _, a := range listAt(d, "status", "addresses") {
			if stringAt(a, "type") == typ {
				out = append(out, stringAt(a, "address"))
			}
		}
		return orNone(strings.Join(out, ","))
	}
}

func accessModes(path ...string) func(map[string]any, metav1.Object) any {
	short := map[string]string{"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
	return func(d map[string]any, _ metav1.Object) any {
		var out []string
		for _, m := range listAt(d, path...) {
			s := fmt.Sprint(m)
			if v, ok := short[s]; ok {
				s = v
			}
			out = append(out, s)
		}
		return strings.Join(out, ",")
	}
}

func hpaTargets(d map[string]any, _ metav1.Object) any {
	var parts []string
	current := listAt(d, "status", "currentMetrics")
	for i, m := range listAt(d, "spec", "metrics") {
		if stringAt(m, "type") != "Resource" {
			parts = append(parts, "<unknown>")
			continue
		}
		target := intAt(m, -1, "resource", "target", "averageUtilization")
		cur := "<unknown>"
		if i < len(current) {
			if v := intAt(current[i], -1, "resource", "current", "averageUtilization"); v >= 0 {
				cur = fmt.Sprintf("%d%%", v)
			}
		}
		parts = append(parts, fmt.Sprintf("%s: %s/%d%%", stringAt(m, "resource", "name"), cur, target))
	}
	return orNone(strings.Join(parts, ", "))
}

func eventColumns(now time.Time) []column {
	lastSeen := func(d map[string]any, o metav1.Object) any {
		for _, p := range [][]string{{"series", "lastObservedTime"}, {"lastTimestamp"}, {"eventTime"}, {"firstTimestamp"}} {
			if t, ok := parseTime(stringAt(d, p...)); ok {
				return age(now, t)
			}
		}
		return age(now, o.GetObjectMeta().CreationTimestamp.Time)
	}
	return []column{
		col("Last Seen", "string", 0, "Time since the event was last seen", lastSeen),
		col("Type", "string", 0, "Type of the event", func(d map[string]any, _ metav1.Object) any { return stringAt(d, "type") }),
		col("Reason", "string", 0, "Reason of the event", func(d map[string]any, _ metav1.Object) any { return stringAt(d, "reason") }),
		col("Object", "string", 0, "The object the event is about", func(d map[string]any, _ metav1.Object) any {
			return strings.ToLower(stringAt(d, "involvedObject", "kind")) + "/" + stringAt(d, "involvedObject", "name")
		}),
		col("Subobject", "string", 1, "The field of the object", func(d map[string]any, _ metav1.Object) any { return stringAt(d, "involvedObject", "fieldPath") }),
		col("Source", "string", 1, "The reporting component", func(d map[string]any, _ metav1.Object) any {
			return orDefault(stringAt(d, "source", "component"), stringAt(d, "reportingComponent"))
		}),
		col("Message", "string", 0, "Message of the event", func(d map[string]any, _ metav1.Object) any { return stringAt(d, "message") }),
		col("First Seen", "string", 1, "Time since the event was first seen", func(d map[string]any, o metav1.Object) any {
			if t, ok := parseTime(stringAt(d, "firstTimestamp")); ok {
				return age(now, t)
			}
			return lastSeen(d, o)
		}),
		col("Count", "string", 1, "Times the event happened", func(d map[string]any, _ metav1.Object) any {
			return strconv.FormatInt(max(intAt(d, 1, "count"), intAt(d, 1, "series", "count")), 10)
		}),
		col("Name", "string", 1, "Name of the event", func(_ map[string]any, o metav1.Object) any { return o.GetObjectMeta().Name }),
	}
}
