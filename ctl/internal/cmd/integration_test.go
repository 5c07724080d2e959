package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const webYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: httpd
        image: busybox:1
        command: [httpd, -f, -p, "8080"]
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplyCreatesConfiguresAndKeepsOthersChanges(t *testing.T) {
	ns := namespace(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "web.yaml", webYAML)

	if got, want := ok(t, args(ns, "apply", "-f", f)...), "deployment.apps/web created\nservice/web created\n"; got != want {
		t.Fatalf("first apply printed %q, want %q", got, want)
	}
	if got, want := ok(t, args(ns, "apply", "-f", f)...), "deployment.apps/web unchanged\nservice/web unchanged\n"; got != want {
		t.Fatalf("second apply printed %q, want %q", got, want)
	}
	// Someone else labels the deployment; the user changes replicas and drops the container port.
	ok(t, args(ns, "label", "deployment", "web", "owner=ops")...)
	changed := strings.Replace(strings.Replace(webYAML, "replicas: 2", "replicas: 4", 1), "        ports: [{containerPort: 8080}]\n", "", 1)
	writeFile(t, dir, "web.yaml", changed)
	if got, want := ok(t, args(ns, "apply", "-f", f)...), "deployment.apps/web configured\nservice/web unchanged\n"; got != want {
		t.Fatalf("third apply printed %q, want %q", got, want)
	}
	got := ok(t, args(ns, "get", "deploy", "web", "-o", `jsonpath={.spec.replicas} {.metadata.labels.owner} {.spec.template.spec.containers[0].ports}`)...)
	if got != "4 ops " {
		t.Errorf("after apply: replicas, someone else's label, removed ports = %q, want %q", got, "4 ops ")
	}
}

func TestApplyFolderRecursiveAndStdin(t *testing.T) {
	ns := namespace(t)
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: top}\ndata: {k: v}\n")
	writeFile(t, dir, "sub/b.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"nested"}}`)
	writeFile(t, dir, "notes.txt", "not a manifest")

	if got := ok(t, args(ns, "apply", "-f", dir)...); got != "configmap/top created\n" {
		t.Errorf("apply of a folder without -R printed %q", got)
	}
	if got := ok(t, args(ns, "apply", "-R", "-f", dir)...); got != "configmap/top unchanged\nconfigmap/nested created\n" {
		t.Errorf("apply -R printed %q", got)
	}
	r := ctl(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-stdin}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: second}\n", args(ns, "apply", "-f", "-")...)
	if r.code != 0 || r.out != "configmap/from-stdin created\nconfigmap/second created\n" {
		t.Errorf("apply -f - = %d %q %q", r.code, r.out, r.err)
	}
}

var spaces = regexp.MustCompile(` {2,}`)

func TestGetTablesAndFormats(t *testing.T) {
	ns := namespace(t)
	f := writeFile(t, t.TempDir(), "web.yaml", webYAML)
	ok(t, args(ns, "apply", "-f", f)...)

	out := ok(t, args(ns, "get", "deploy")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || spaces.ReplaceAllString(lines[0], " ") != "NAME READY UP-TO-DATE AVAILABLE AGE" || !strings.HasPrefix(lines[1], "web ") {
		t.Errorf("get deploy printed:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^NAME {3,}READY`).MatchString(out) {
		t.Errorf("columns are not separated by kubectl's padding:\n%s", out)
	}
	out = ok(t, args(ns, "get", "deploy,svc")...)
	if !strings.Contains(out, "deployment.apps/web") || !strings.Contains(out, "service/web") || !strings.Contains(out, "\n\nNAME") {
		t.Errorf("get deploy,svc does not print a kind-prefixed table per type:\n%s", out)
	}
	out = ok(t, args(ns, "get", "deploy", "-o", "wide")...)
	if !strings.Contains(out, "CONTAINERS") || !strings.Contains(out, "busybox:1") || !strings.Contains(out, "app=web") {
		t.Errorf("get -o wide lacks the wide columns:\n%s", out)
	}
	if got := ok(t, args(ns, "get", "deploy,svc", "-o", "name")...); got != "deployment.apps/web\nservice/web\n" {
		t.Errorf("-o name printed %q", got)
	}
	out = ok(t, "get", "svc", "-A", "--show-labels")
	if !strings.HasPrefix(out, "NAMESPACE ") || !strings.Contains(out, "LABELS") || !strings.Contains(out, ns[1]) {
		t.Errorf("get -A --show-labels:\n%s", out)
	}
	out = ok(t, args(ns, "get", "deploy", "web", "-o", "json")...)
	if !strings.Contains(out, `"kind": "Deployment"`) || strings.Contains(out, `"kind": "List"`) {
		t.Errorf("get NAME -o json is not the object itself:\n%s", out)
	}
	out = ok(t, args(ns, "get", "deploy", "-o", "yaml")...)
	if !strings.HasPrefix(out, "apiVersion: v1\nitems:\n") || !strings.Contains(out, "kind: List") {
		t.Errorf("get TYPE -o yaml is not a List:\n%s", out)
	}
	if got := ok(t, args(ns, "get", "pods", "-l", "app=web", "-o", "custom-columns=NAME:.metadata.name")...); got != "" {
		t.Errorf("an empty list with custom-columns printed %q", got)
	}
	r := ctl(t, "", args(ns, "get", "pods")...)
	if r.code != 0 || r.out != "" || r.err != fmt.Sprintf("No resources found in %s namespace.\n", ns[1]) {
		t.Errorf("empty get = %d %q %q", r.code, r.out, r.err)
	}
	if got := ok(t, args(ns, "get", "svc", "--field-selector", "metadata.name=web", "-o", "name")...); got != "service/web\n" {
		t.Errorf("--field-selector printed %q", got)
	}
	out = ok(t, args(ns, "get", "all")...)
	if !strings.Contains(out, "deployment.apps/web") || !strings.Contains(out, "service/web") {
		t.Errorf("get all:\n%s", out)
	}
}

func TestDelete(t *testing.T) {
	ns := namespace(t)
	f := writeFile(t, t.TempDir(), "web.yaml", webYAML)
	ok(t, args(ns, "apply", "-f", f)...)
	for i := 0; i < 3; i++ {
		ok(t, args(ns, "create", "configmap", fmt.Sprintf("cm%d", i), "--from-literal=i="+fmt.Sprint(i))...)
	}
	ok(t, args(ns, "label", "cm", "cm0", "cm1", "group=x")...)

	if got := ok(t, args(ns, "delete", "deployment", "web")...); got != `deployment.apps "web" deleted`+"\n" {
		t.Errorf("delete printed %q", got)
	}
	r := ctl(t, "", args(ns, "get", "deployment", "web")...)
	if r.code != 1 || r.err != `Error from server (NotFound): deployments.apps "web" not found`+"\n" {
		t.Errorf("get after delete = %d %q", r.code, r.err)
	}
	if got := ok(t, args(ns, "delete", "cm", "-l", "group=x")...); got != "configmap \"cm0\" deleted\nconfigmap \"cm1\" deleted\n" {
		t.Errorf("delete -l printed %q", got)
	}
	if got := ok(t, args(ns, "delete", "-f", f, "--ignore-not-found")...); got != "service \"web\" deleted\n" {
		t.Errorf("delete -f printed %q", got)
	}
	if got := ok(t, args(ns, "delete", "cm", "--all", "--cascade=orphan", "--wait=false")...); !strings.Contains(got, `configmap "cm2" deleted`) {
		t.Errorf("delete --all printed %q", got)
	}
}

func TestWorkloadCommands(t *testing.T) {
	ns := namespace(t)
	ok(t, args(ns, "create", "deployment", "web", "--image=busybox:1", "--replicas=3", "--", "httpd", "-f", "-p", "8080")...)

	if got := ok(t, args(ns, "scale", "deployment", "web", "--replicas=5")...); got != "deployment.apps/web scaled\n" {
		t.Errorf("scale printed %q", got)
	}
	if got := ok(t, args(ns, "set", "image", "deployment/web", "busybox=busybox:2")...); got != "deployment.apps/web image updated\n" {
		t.Errorf("set image printed %q", got)
	}
	ok(t, args(ns, "annotate", "deploy/web", "note=hello")...)
	ok(t, args(ns, "patch", "deploy", "web", "--type=merge", "-p", `{"metadata":{"labels":{"tier":"fe"}}}`)...)
	ok(t, args(ns, "patch", "deploy", "web", "--type=json", "-p", `[{"op":"replace","path":"/spec/minReadySeconds","value":2}]`)...)
	got := ok(t, args(ns, "get", "deploy", "web", "-o", `jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.metadata.annotations.note} {.metadata.labels.tier} {.spec.minReadySeconds} {.spec.template.spec.containers[0].command}`)...)
	if want := `5 busybox:2 hello fe 2 ["httpd","-f","-p","8080"]`; got != want {
		t.Errorf("deployment after scale/set image/annotate/patch: %q, want %q", got, want)
	}
	if got := ok(t, args(ns, "expose", "deployment", "web", "--port=80", "--target-port=8080")...); got != "service/web exposed\n" {
		t.Errorf("expose printed %q", got)
	}
	got = ok(t, args(ns, "get", "svc", "web", "-o", `jsonpath={.spec.selector.app} {.spec.ports[0].port} {.spec.ports[0].targetPort}`)...)
	if got != "web 80 8080" {
		t.Errorf("exposed service: %q", got)
	}
	out := ok(t, args(ns, "describe", "svc", "web")...)
	for _, want := range []string{"Selector:", "app=web", "TargetPort:", "8080/TCP", "Endpoints:"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe svc lacks %q:\n%s", want, out)
		}
	}
	out = ok(t, args(ns, "describe", "deploy", "web")...)
	for _, want := range []string{"Replicas:", "5 desired", "busybox:2", "NewReplicaSet:", "Events:"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe deployment lacks %q:\n%s", want, out)
		}
	}
	ok(t, args(ns, "rollout", "restart", "deployment/web")...)
	if got := ok(t, args(ns, "get", "deploy", "web", "-o", "jsonpath={.spec.template.metadata.annotations}")...); !strings.Contains(got, restartedAt) {
		t.Errorf("rollout restart did not annotate the template: %q", got)
	}
	ok(t, args(ns, "rollout", "pause", "deployment/web")...)
	r := ctl(t, "", args(ns, "rollout", "pause", "deployment/web")...)
	if r.code != 1 || !strings.Contains(r.err, "already paused") {
		t.Errorf("second pause = %d %q", r.code, r.err)
	}
	ok(t, args(ns, "rollout", "resume", "deployment/web")...)
	ok(t, args(ns, "run", "solo", "--image=busybox", "--restart=Never", "--", "sleep", "1")...)
	if got := ok(t, args(ns, "get", "pod", "solo", "-o", "jsonpath={.metadata.labels.run} {.spec.restartPolicy} {.spec.containers[0].args}")...); got != `solo Never ["sleep","1"]` {
		t.Errorf("run made %q", got)
	}
	if got := ok(t, args(ns, "create", "configmap", "cfg", "--from-literal=a=1", "--dry-run=client", "-o", "name")...); got != "configmap/cfg\n" {
		t.Errorf("--dry-run=client -o name printed %q", got)
	}
	if r := ctl(t, "", args(ns, "get", "cm", "cfg")...); r.code != 1 {
		t.Errorf("--dry-run=client created the object")
	}
}

func TestRolloutStatusHistoryUndo(t *testing.T) {
	ns := namespace(t)
	ok(t, args(ns, "create", "deployment", "web", "--image=busybox:2", "--replicas=2")...)
	uid := ok(t, args(ns, "get", "deploy", "web", "-o", "jsonpath={.metadata.uid}")...)
	// What the deployment controller would have made: one ReplicaSet per revision.
	for rev, image := range map[int]string{1: "busybox:1", 2: "busybox:2"} {
		rs := fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web-rev%d","labels":{"app":"web","pod-template-hash":"h%d"},
"annotations":{"deployment.kubernetes.io/revision":"%d"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":%q,"controller":true}]},
"spec":{"replicas":0,"selector":{"matchLabels":{"app":"web","pod-template-hash":"h%d"}},"template":{"metadata":{"labels":{"app":"web","pod-template-hash":"h%d"}},
"spec":{"containers":[{"name":"busybox","image":%q}]}}}}`, rev, rev, rev, uid, rev, rev, image)
		if r := ctl(t, rs, args(ns, "create", "-f", "-")...); r.code != 0 {
			t.Fatalf("creating revision %d: %s", rev, r.err)
		}
	}
	ok(t, args(ns, "annotate", "deploy", "web", "deployment.kubernetes.io/revision=2")...)

	out := ok(t, args(ns, "rollout", "history", "deployment/web")...)
	if !regexp.MustCompile(`(?s)REVISION +CHANGE-CAUSE\n1 +<none>\n2 +<none>`).MatchString(out) {
		t.Errorf("rollout history:\n%s", out)
	}
	if got := ok(t, args(ns, "rollout", "undo", "deployment/web")...); got != "deployment.apps/web rolled back\n" {
		t.Errorf("undo printed %q", got)
	}
	got := ok(t, args(ns, "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.metadata.labels}")...)
	if got != `busybox:1 {"app":"web"}` {
		t.Errorf("after undo the template is %q, want revision 1's image without pod-template-hash", got)
	}
	if got := ok(t, args(ns, "rollout", "undo", "deployment/web", "--to-revision=1")...); !strings.Contains(got, "skipped rollback") {
		t.Errorf("undo to the current template printed %q", got)
	}

	// rollout status reads the status the controller writes (K8S-API.md §9).
	gen := ok(t, args(ns, "get", "deploy", "web", "-o", "jsonpath={.metadata.generation}")...)
	r := ctl(t, "", args(ns, "rollout", "status", "deployment/web", "--watch=false")...)
	if r.code != 0 || r.out != "Waiting for deployment spec update to be observed...\n" {
		t.Errorf("status before the controller observed: %d %q %q", r.code, r.out, r.err)
	}
	ok(t, args(ns, "patch", "deploy", "web", "--subresource=status", "--type=merge", "-p",
		fmt.Sprintf(`{"status":{"observedGeneration":%s,"replicas":3,"updatedReplicas":2,"availableReplicas":2}}`, gen))...)
	r = ctl(t, "", args(ns, "rollout", "status", "deployment/web", "--watch=false")...)
	if r.out != `Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...`+"\n" {
		t.Errorf("status with an old replica: %q %q", r.out, r.err)
	}
	ok(t, args(ns, "patch", "deploy", "web", "--subresource=status", "--type=merge", "-p", `{"status":{"replicas":2}}`)...)
	if got := ok(t, args(ns, "rollout", "status", "deployment/web", "--timeout=30s")...); got != `deployment "web" successfully rolled out`+"\n" {
		t.Errorf("rollout status printed %q", got)
	}
	ok(t, args(ns, "patch", "deploy", "web", "--subresource=status", "--type=merge", "-p", `{"status":{"conditions":[{"type":"Available","status":"True"}]}}`)...)
	if got := ok(t, args(ns, "wait", "--for=condition=Available", "deployment/web", "--timeout=30s")...); got != "deployment.apps/web condition met\n" {
		t.Errorf("wait printed %q", got)
	}
	if got := ok(t, args(ns, "wait", "--for=jsonpath={.spec.replicas}=2", "deployment/web")...); got != "deployment.apps/web condition met\n" {
		t.Errorf("wait jsonpath printed %q", got)
	}
	r = ctl(t, "", args(ns, "wait", "--for=condition=Progressing", "deployment/web", "--timeout=1s")...)
	if r.code != 1 || !strings.Contains(r.err, "timed out waiting for the condition on deployment.apps/web (last seen: no condition Progressing yet)") {
		t.Errorf("wait for a missing condition = %d %q", r.code, r.err)
	}
}

func TestNodeCommands(t *testing.T) {
	ns := namespace(t)
	node := "fake-node-" + ns[1][len(ns[1])-8:]
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Node
metadata: {name: %[1]s}
status:
  allocatable: {cpu: "2", memory: 4Gi, pods: "110"}
  addresses: [{type: InternalIP, address: 127.0.0.1}]
---
apiVersion: v1
kind: Pod
metadata: {name: managed}
spec:
  nodeName: %[1]s
  containers: [{name: c, image: busybox, resources: {requests: {cpu: 500m, memory: 1Gi}}}]
`, node)
	if r := ctl(t, manifest, args(ns, "apply", "-f", "-")...); r.code != 0 {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { ctl(t, "", "delete", "node", node, "--wait=false") })

	out := ok(t, "describe", "node", node)
	for _, want := range []string{"Non-terminated Pods:", "(1 in total)", "managed", "500m (25%)", "Allocated resources:"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe node lacks %q:\n%s", want, out)
		}
	}
	if got := ok(t, "cordon", node); got != "node/"+node+" cordoned\n" {
		t.Errorf("cordon printed %q", got)
	}
	if got := ok(t, "cordon", node); got != "node/"+node+" already cordoned\n" {
		t.Errorf("second cordon printed %q", got)
	}
	r := ctl(t, "", "drain", node, "--timeout=30s")
	if r.code != 1 || !strings.Contains(r.err, "cannot delete Pods that declare no controller (use --force to override): "+ns[1]+"/managed") {
		t.Errorf("drain of an unmanaged pod without --force = %d %q", r.code, r.err)
	}
	r = ctl(t, "", "drain", node, "--force", "--grace-period=0", "--timeout=30s")
	if r.code != 0 || !strings.Contains(r.out, "evicting pod "+ns[1]+"/managed") || !strings.HasSuffix(r.out, "node/"+node+" drained\n") {
		t.Errorf("drain --force = %d\n%s\n%s", r.code, r.out, r.err)
	}
	if got := ok(t, "uncordon", node); got != "node/"+node+" uncordoned\n" {
		t.Errorf("uncordon printed %q", got)
	}
}

func TestVersionAndDiscovery(t *testing.T) {
	out := ok(t, "version")
	if !strings.Contains(out, "Client Version: v1.32") || !strings.Contains(out, "Server Version: v1.32") {
		t.Errorf("version printed %q", out)
	}
	out = ok(t, "api-resources")
	for _, re := range []string{`(?m)^NAME +SHORTNAMES +APIVERSION +NAMESPACED +KIND$`, `(?m)^pods +po +v1 +true +Pod$`, `(?m)^deployments +deploy +apps/v1 +true +Deployment$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("api-resources does not match %s:\n%s", re, out)
		}
	}
	if out := ok(t, "cluster-info"); !strings.Contains(out, "control plane is running at "+apiURL) {
		t.Errorf("cluster-info printed %q", out)
	}
	if out := ok(t, "config", "current-context"); out != "test\n" {
		t.Errorf("current-context printed %q", out)
	}
}

func TestConfigUseContext(t *testing.T) {
	src, err := os.ReadFile(os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	kc := writeFile(t, t.TempDir(), "config", string(src))
	if got := ok(t, "--kubeconfig", kc, "config", "use-context", "other"); got != "Switched to context \"other\".\n" {
		t.Errorf("use-context printed %q", got)
	}
	if got := ok(t, "--kubeconfig", kc, "config", "current-context"); got != "other\n" {
		t.Errorf("after use-context: %q", got)
	}
	// The context's namespace becomes the default namespace.
	if got := ok(t, "--kubeconfig", kc, "get", "svc", "-o", "name"); strings.Contains(got, "service/kubernetes") {
		t.Errorf("context namespace kube-system not used: %q", got)
	}
	r := ctl(t, "", "--kubeconfig", kc, "config", "use-context", "nope")
	if r.code != 1 || r.err != "error: no context exists with the name: \"nope\"\n" {
		t.Errorf("use-context nope = %d %q", r.code, r.err)
	}
}

func TestErrorsAreOneLine(t *testing.T) {
	ns := namespace(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown resource type", []string{"get", "foo"}, `error: the server doesn't have a resource type "foo"`},
		{"missing object", []string{"get", "pod", "nope"}, `Error from server (NotFound): pods "nope" not found`},
		{"missing deployment", []string{"describe", "deploy/nope"}, `Error from server (NotFound): deployments.apps "nope" not found`},
		{"no type", []string{"get"}, `error: you must specify the type of resource to get. Use "skiffctl api-resources" for a complete list of supported resources`},
		{"mixed name forms", []string{"get", "pods", "pod/x"}, `error: there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'skiffctl get resource/<resource_name>' instead of 'skiffctl get resource resource/<resource_name>')`},
		{"bad output format", []string{"get", "pods", "-o", "xml"}, `error: unable to match a printer suitable for the output format "xml", allowed formats are: custom-columns,json,jsonpath,name,wide,yaml`},
		{"unknown flag", []string{"get", "pods", "--frobnicate"}, `error: unknown flag: --frobnicate (see 'skiffctl get --help')`},
		{"delete without names", []string{"delete", "pods"}, `error: resource(s) were provided, but no name was specified`},
		{"scale without replicas", []string{"scale", "deploy/web"}, `error: the --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0`},
		{"bad cascade", []string{"delete", "pod", "x", "--cascade=sideways"}, `error: invalid --cascade "sideways": must be background, foreground or orphan`},
		{"bad patch type", []string{"patch", "pod", "x", "--type=xml", "-p", "{}"}, `error: --type must be one of [json merge strategic], not "xml"`},
		{"missing file", []string{"apply", "-f", "/nonexistent.yaml"}, `error: the path "/nonexistent.yaml" does not exist`},
		{"apply without -f", []string{"apply"}, `error: must specify one of -f and -k`},
		{"exec without command", []string{"exec", "pod-x"}, `error: you must specify at least one command for the container`},
		{"create deployment without image", []string{"create", "deployment", "x"}, `error: required flag(s) "image" not set`},
		{"wait without for", []string{"wait", "pod/x"}, `error: required flag(s) "for" not set`},
		{"rollout of a pod", []string{"rollout", "status", "pod/x"}, `error: no rollout support for pods: only deployments are rolled out by skiffctl`},
		{"bad request timeout", []string{"--request-timeout=soon", "get", "pods"}, `error: invalid --request-timeout "soon": a duration like 5s, 1m or 0 is expected`},
		{"invalid object", []string{"create", "service", "clusterip", "Bad_Name", "--tcp=80"}, `Error from server (Invalid): `},
		{"unknown command", []string{"frobnicate"}, `error: unknown command "frobnicate" for "skiffctl"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ctl(t, "", args(ns, tc.args...)...)
			if r.code != 1 {
				t.Errorf("exit code %d, want 1 (stderr %q)", r.code, r.err)
			}
			lines := strings.Split(strings.TrimSuffix(r.err, "\n"), "\n")
			if len(lines) != 1 {
				t.Errorf("stderr has %d lines, want one:\n%s", len(lines), r.err)
			}
			if !strings.HasPrefix(lines[0], tc.want) {
				t.Errorf("stderr = %q\nwant    %q", lines[0], tc.want)
			}
		})
	}
	r := ctl(t, "", "-s", "http://127.0.0.1:1", "get", "pods")
	if r.code != 1 || r.err != "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?\n" {
		t.Errorf("refused connection = %d %q", r.code, r.err)
	}
}

func TestCompletion(t *testing.T) {
	ns := namespace(t)
	ok(t, args(ns, "create", "configmap", "complete-me")...)
	out := ok(t, args(ns, "__complete", "get", "configmaps", "comp")...)
	if !strings.HasPrefix(out, "complete-me\n") {
		t.Errorf("name completion printed %q", out)
	}
	out = ok(t, "__complete", "get", "deploy")
	if !strings.HasPrefix(out, "deployments\n") {
		t.Errorf("type completion printed %q", out)
	}
	for _, shell := range []string{"bash", "zsh"} {
		if out := ok(t, "completion", shell); !strings.Contains(out, "skiffctl") {
			t.Errorf("completion %s printed no script", shell)
		}
	}
}
