//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/e2e/internal/cluster"
)

// TestNetproxy is the acceptance of skiff-netproxy (issue 7) on a real cluster: nodes in network
// namespaces of their own, busybox httpd pods that answer with their name, real kubectl. -short runs
// one node and the quick checks (ClusterIP, NodePort, DNS, deletion); the full run adds a second node,
// affinity, scaling, readiness changes under load and a netproxy SIGKILL.
func TestNetproxy(t *testing.T) {
	nodes := 2
	if testing.Short() {
		nodes = 1
	}
	c := cluster.Start(t, cluster.Options{Nodes: nodes, Bin: *skiffBin})
	node0 := c.Node(0)
	step := func(name string, f func(t *testing.T, c *cluster.TestCluster)) {
		if !t.Run(name, func(t *testing.T) { f(t, c.T(t)) }) {
			t.FailNow()
		}
	}

	if out, err := c.KubectlInput(npWebDeployment(c.Image(), 3), "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply deployment web: %v: %s", err, out)
	}
	c.MustKubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")
	var vip string
	var ready []npPod

	step("a ClusterIP answers from all 3 pods over 30 requests from the node", func(t *testing.T, c *cluster.TestCluster) {
		ready = npReadyPods(c, "app=web", 3)
		out, err := c.Kubectl("get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
		if vip = strings.TrimSpace(out); err != nil || !strings.HasPrefix(vip, "10.96.") {
			t.Fatalf("service web cluster IP %q: %v", vip, err)
		}
		npWaitAnswering(c, node0, "http://"+vip+"/", npNames(ready))
		got, err := npAskN(node0, "http://"+vip+"/", 30)
		if err != nil || len(got) != 3 {
			t.Fatalf("30 requests to %s from %s reached %v (%v), want all 3 pods %v", vip, node0.Name, got, err, npNames(ready))
		}
	})

	step("a pod resolves web.default.svc.cluster.local and web by DNS and reaches all 3 pods", func(t *testing.T, c *cluster.TestCluster) {
		clientNode := c.Node(nodes - 1).Name
		if out, err := c.KubectlInput(npClientPod("np-client", clientNode, c.Image()), "apply", "-f", "-"); err != nil {
			t.Fatalf("kubectl apply np-client: %v: %s", err, out)
		}
		defer c.Kubectl("delete", "pod", "np-client", "--wait=false")
		var logs string
		c.WaitForTimeout("pod np-client to finish its lookups and 60 requests", 3*time.Minute, func() (bool, string) {
			out, err := c.Kubectl("logs", "np-client")
			logs = out
			return err == nil && strings.Contains(out, "done"), npTail(out, 5)
		})
		for _, name := range []string{"web.default.svc.cluster.local", "web"} {
			if !strings.Contains(logs, name+" resolved: "+vip+"\n") {
				t.Errorf("pod np-client resolved %s to something else than %s:\n%s", name, vip, npTail(logs, 80))
				continue
			}
			got := map[string]int{}
			for _, l := range strings.Split(logs, "\n") {
				if rest, ok := strings.CutPrefix(l, name+" answer: hello from "); ok {
					got[strings.TrimSpace(rest)]++
				}
			}
			if len(got) != 3 {
				t.Errorf("30 requests from pod np-client (node %s) to http://%s/ reached %v, want all 3 pods %v\n%s", clientNode, name, got, npNames(ready), npTail(logs, 20))
			}
		}
	})

	step("a NodePort answers on the node address", func(t *testing.T, c *cluster.TestCluster) {
		c.MustKubectl("expose", "deployment", "web", "--name=web-np", "--type=NodePort", "--port=80", "--target-port=8080")
		defer c.Kubectl("delete", "service", "web-np")
		out, err := c.Kubectl("get", "service", "web-np", "-o", "jsonpath={.spec.ports[0].nodePort}")
		port := strings.TrimSpace(out)
		if err != nil || port == "" {
			t.Fatalf("node port of web-np: %v: %s", err, out)
		}
		url := "http://" + node0.IP + ":" + port + "/"
		for i := range nodes {
			npWaitAnswering(c, c.Node(i), url, npNames(ready))
		}
	})

	if !testing.Short() {
		step("ClientIP affinity pins a client to one pod", func(t *testing.T, c *cluster.TestCluster) {
			c.MustKubectl("patch", "service", "web", "--type=merge", "-p", `{"spec":{"sessionAffinity":"ClientIP"}}`)
			c.WaitForTimeout("20 requests in a row from the node to reach one pod", time.Minute, func() (bool, string) {
				got, err := npAskN(node0, "http://"+vip+"/", 20)
				return err == nil && len(got) == 1, fmt.Sprint(got, err)
			})
			c.MustKubectl("patch", "service", "web", "--type=merge", "-p", `{"spec":{"sessionAffinity":"None","sessionAffinityConfig":null}}`)
			npWaitAnswering(c, node0, "http://"+vip+"/", npNames(ready))
		})

		step("the health-check node port of an externalTrafficPolicy Local Service counts each node's endpoints", func(t *testing.T, c *cluster.TestCluster) {
			svc := `apiVersion: v1
kind: Service
metadata:
  name: web-local
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  healthCheckNodePort: 32555
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
`
			if out, err := c.KubectlInput(svc, "apply", "-f", "-"); err != nil {
				t.Fatalf("kubectl apply service web-local: %v: %s", err, out)
			}
			defer c.Kubectl("delete", "service", "web-local")
			if out, _ := c.Kubectl("get", "service", "web-local", "-o", "jsonpath={.spec.healthCheckNodePort}"); strings.TrimSpace(out) != "32555" {
				t.Fatalf("the apiserver kept healthCheckNodePort %q, want 32555", out)
			}
			local := map[string]int{}
			for _, p := range ready {
				local[p.Node]++
			}
			for i := range nodes {
				n := c.Node(i)
				wantCode := "200"
				if local[n.Name] == 0 {
					wantCode = "503"
				}
				want := fmt.Sprintf(`"localEndpoints":%d`, local[n.Name])
				c.WaitForTimeout(fmt.Sprintf("the health-check node port on %s to answer %s with %s", n.Name, wantCode, want), time.Minute, func() (bool, string) {
					body, err := n.HTTPGet("http://" + n.IP + ":32555/healthz")
					code := "200"
					if err != nil {
						if !strings.Contains(err.Error(), "503") {
							return false, err.Error()
						}
						code = "503"
					}
					return code == wantCode && strings.Contains(body, want), code + " " + body
				})
			}
		})

		step("scaling to 5 and back changes the answering set with no failed request", func(t *testing.T, c *cluster.TestCluster) {
			p := npStartProber(node0, "http://"+vip+"/")
			c.MustKubectl("scale", "deployment", "web", "--replicas=5")
			five := npReadyPods(c, "app=web", 5)
			seenReady := time.Now()
			npWaitAnswering(c, node0, "http://"+vip+"/", npNames(five))
			t.Logf("scale to 5: every new pod answered %s after kubectl showed it Ready", p.allAnsweredAfter(npNames(five), seenReady).Round(time.Millisecond))

			c.MustKubectl("scale", "deployment", "web", "--replicas=3")
			scaledDown := time.Now()
			three := npReadyPods(c, "app=web", 3)
			gone := npMinus(npNames(five), npNames(three))
			c.WaitForTimeout("the removed pods to stop answering", time.Minute, func() (bool, string) {
				last := p.lastAnswerFrom(gone)
				return !last.IsZero() && time.Since(last) > 3*time.Second, "last answer from a removed pod at " + last.Format(time.StampMilli)
			})
			t.Logf("scale to 3: removed pods answered for the last time %s after kubectl scale (they run a 3 s preStop)", p.lastAnswerFrom(gone).Sub(scaledDown).Round(time.Millisecond))
			if errs := p.stop(); len(errs) > 0 {
				t.Fatalf("%d of %d requests to the VIP failed while scaling: %v", len(errs), p.count(), errs)
			}
			ready = three
			t.Logf("netproxy on %s: %s", node0.Name, npProgrammingMetrics(node0))
		})

		step("a pod going unready stops answering, coming back ready answers again", func(t *testing.T, c *cluster.TestCluster) {
			victim := ready[0]
			p := npStartProber(node0, "http://"+vip+"/")
			if out, err := c.Kubectl("exec", victim.Name, "--", "touch", "/tmp/unready"); err != nil {
				t.Fatalf("kubectl exec %s -- touch /tmp/unready: %v: %s", victim.Name, err, out)
			}
			flipped := time.Now()
			c.WaitForTimeout(victim.Name+" to stop answering", time.Minute, func() (bool, string) {
				last := p.lastAnswerFrom([]string{victim.Name})
				return time.Since(last) > 2*time.Second && time.Since(flipped) > 3*time.Second, "last answer at " + last.Format(time.StampMilli)
			})
			t.Logf("unready: %s answered for the last time %s after its readiness probe was made to fail (probe period 1 s)", victim.Name, p.lastAnswerFrom([]string{victim.Name}).Sub(flipped).Round(time.Millisecond))
			if out, err := c.Kubectl("exec", victim.Name, "--", "rm", "/tmp/unready"); err != nil {
				t.Fatalf("kubectl exec %s -- rm /tmp/unready: %v: %s", victim.Name, err, out)
			}
			back := time.Now()
			c.WaitForTimeout(victim.Name+" to answer again", time.Minute, func() (bool, string) {
				return !p.firstAnswerFrom(victim.Name, back).IsZero(), "no answer from it since " + back.Format(time.StampMilli)
			})
			t.Logf("ready again: %s answered %s after its probe was made to pass (probe period 1 s)", victim.Name, p.firstAnswerFrom(victim.Name, back).Sub(back).Round(time.Millisecond))
			npWaitAnswering(c, node0, "http://"+vip+"/", npNames(ready))
			if errs := p.stop(); len(errs) > 0 {
				t.Fatalf("%d of %d requests to the VIP failed while a pod went unready and back: %v", len(errs), p.count(), errs)
			}
		})

		step("killing and restarting the netproxy drops no established traffic and leaves one copy of each rule", func(t *testing.T, c *cluster.TestCluster) {
			before := npTable(t, node0)
			conn, err := node0.Host.DialContext(context.Background(), "tcp", vip+":80")
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			p := npStartProber(node0, "http://"+vip+"/")
			c.KillComponent(node0.Proxy.Name)
			c.RestartComponent(node0.Proxy.Name)
			c.WaitForTimeout("the restarted netproxy to be ready", time.Minute, func() (bool, string) {
				out, err := node0.HTTPGet("http://127.0.0.1:10256/readyz")
				return err == nil, fmt.Sprint(out, err)
			})
			// The connection opened before the kill still reaches its pod.
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\nHost: web\r\n\r\n"); err != nil {
				t.Fatalf("writing on the connection opened before the restart: %v", err)
			}
			body, err := io.ReadAll(bufio.NewReader(conn))
			if err != nil || !strings.Contains(string(body), "hello from ") {
				t.Fatalf("the connection opened before the restart got %q, %v", body, err)
			}
			if errs := p.stop(); len(errs) > 0 {
				t.Fatalf("%d of %d requests to the VIP failed across the restart: %v", len(errs), p.count(), errs)
			}
			c.WaitForTimeout("the restarted netproxy to leave the same table", time.Minute, func() (bool, string) {
				after := npTable(t, node0)
				return after == before, "differs:\n" + npDiff(before, after)
			})
		})
	}

	step("deleting the Service removes every rule", func(t *testing.T, c *cluster.TestCluster) {
		c.MustKubectl("delete", "service", "web")
		c.WaitForTimeout("every rule of service web gone from "+node0.Name, time.Minute, func() (bool, string) {
			table := npTable(t, node0)
			return !strings.Contains(table, "default/web/") && !strings.Contains(table, vip+" "), npTail(table, 20)
		})
		if _, err := npAskN(node0, "http://"+vip+"/", 1); err == nil {
			t.Fatalf("%s still answers after its Service was deleted", vip)
		}
	})
	c.MustKubectl("delete", "deployment", "web")
}

// npWebDeployment is a Deployment of the demo image whose pods are ready while /tmp/unready is absent,
// and keep serving for 3 s after they are told to stop (so their endpoint is gone before they are).
func npWebDeployment(image string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: %d
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: web
        image: %s
        command: ["httpd", "-f", "-p", "8080"]
        ports:
        - containerPort: 8080
        readinessProbe:
          exec:
            command: ["sh", "-c", "test ! -e /tmp/unready"]
          periodSeconds: 1
          failureThreshold: 1
        lifecycle:
          preStop:
            exec:
              command: ["sleep", "3"]
`, replicas, image)
}

// npClientPod resolves the Service by its full and its short name with busybox nslookup (the static
// busybox wget cannot resolve names itself, and its -T crashes), then asks the resolved address 30 times for each name,
// logging each answer.
func npClientPod(name, node, image string) string {
	script := `for n in web.default.svc.cluster.local web; do ` +
		`nslookup $n > /tmp/ns 2>&1; sed "s/^/$n nslookup: /" /tmp/ns; ` +
		`ip=$(awk '/^Address/ && !/:53$/ {a=$NF} END {print a}' /tmp/ns); echo "$n resolved: $ip"; ` +
		`for i in $(seq 30); do echo "$n answer: $(timeout 3 wget -qO- http://$ip/)"; done; done; ` +
		`echo done; sleep 3600`
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  nodeName: %s
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: client
    image: %s
    command: ["sh", "-c", %q]
`, name, node, image, script)
}

type npPod struct {
	Name, Node, IP string
}

func npNames(ps []npPod) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

func npMinus(a, b []string) []string {
	var out []string
	for _, x := range a {
		found := false
		for _, y := range b {
			found = found || x == y
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}

// npReadyPods waits until exactly n pods match selector, all Ready and none terminating.
func npReadyPods(c *cluster.TestCluster, selector string, n int) []npPod {
	var ps []npPod
	c.WaitForTimeout(fmt.Sprintf("%d ready pods with %s", n, selector), 3*time.Minute, func() (bool, string) {
		out, err := c.Kubectl("get", "pods", "-l", selector, "-o", "json")
		if err != nil {
			return false, fmt.Sprint(err, out)
		}
		var l struct {
			Items []struct {
				Metadata struct {
					Name              string  `json:"name"`
					DeletionTimestamp *string `json:"deletionTimestamp"`
				} `json:"metadata"`
				Spec   struct{ NodeName string } `json:"spec"`
				Status struct {
					PodIP      string `json:"podIP"`
					Conditions []struct{ Type, Status string }
				} `json:"status"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			return false, err.Error()
		}
		ps = nil
		var seen []string
		all := true
		for _, it := range l.Items {
			ready := false
			for _, cond := range it.Status.Conditions {
				ready = ready || (cond.Type == "Ready" && cond.Status == "True")
			}
			seen = append(seen, fmt.Sprintf("%s(ready=%v terminating=%v)", it.Metadata.Name, ready, it.Metadata.DeletionTimestamp != nil))
			if !ready || it.Metadata.DeletionTimestamp != nil || it.Status.PodIP == "" {
				all = false
				continue
			}
			ps = append(ps, npPod{Name: it.Metadata.Name, Node: it.Spec.NodeName, IP: it.Status.PodIP})
		}
		return all && len(l.Items) == n, strings.Join(seen, " ")
	})
	return ps
}

// npAsk asks url once from the node and returns the answering pod's name.
func npAsk(n *cluster.TestNode, url string) (string, error) {
	body, err := n.HTTPGet(url)
	if err != nil {
		return "", err
	}
	name, ok := strings.CutPrefix(strings.TrimSpace(body), "hello from ")
	if !ok {
		return "", fmt.Errorf("GET %s answered %q", url, body)
	}
	return name, nil
}

// npAskN asks url k times from the node and counts the answers per pod.
func npAskN(n *cluster.TestNode, url string, k int) (map[string]int, error) {
	got := map[string]int{}
	for i := 0; i < k; i++ {
		name, err := npAsk(n, url)
		if err != nil {
			return got, fmt.Errorf("request %d: %w", i, err)
		}
		got[name]++
	}
	return got, nil
}

// npWaitAnswering waits until url, asked from node n, has been answered by exactly the pods in want.
func npWaitAnswering(c *cluster.TestCluster, n *cluster.TestNode, url string, want []string) {
	c.WaitForTimeout(fmt.Sprintf("%s from node %s to answer from exactly %v", url, n.Name, want), 2*time.Minute, func() (bool, string) {
		got, err := npAskN(n, url, 6*len(want))
		if err != nil {
			return false, err.Error()
		}
		var names []string
		for k := range got {
			names = append(names, k)
		}
		sort.Strings(names)
		return strings.Join(names, " ") == strings.Join(want, " "), fmt.Sprint(got)
	})
}

// npProber asks a URL from a node in a loop, a new connection each time, and records every answer.
type npProber struct {
	mu      sync.Mutex
	answers []npAnswer
	errs    []string
	stopc   chan struct{}
	done    chan struct{}
}

type npAnswer struct {
	at   time.Time
	name string
}

func npStartProber(n *cluster.TestNode, url string) *npProber {
	p := &npProber{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stopc:
				return
			case <-time.After(50 * time.Millisecond):
			}
			name, err := npAsk(n, url)
			p.mu.Lock()
			if err != nil {
				p.errs = append(p.errs, time.Now().Format(time.StampMilli)+" "+err.Error())
			} else {
				p.answers = append(p.answers, npAnswer{at: time.Now(), name: name})
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// stop ends the probing and returns the failed requests.
func (p *npProber) stop() []string {
	close(p.stopc)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errs
}

func (p *npProber) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.answers) + len(p.errs)
}

// lastAnswerFrom is when one of names last answered (zero if never).
func (p *npProber) lastAnswerFrom(names []string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var last time.Time
	for _, a := range p.answers {
		for _, n := range names {
			if a.name == n && a.at.After(last) {
				last = a.at
			}
		}
	}
	return last
}

// firstAnswerFrom is when name first answered after since.
func (p *npProber) firstAnswerFrom(name string, since time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.answers {
		if a.name == name && a.at.After(since) {
			return a.at
		}
	}
	return time.Time{}
}

// allAnsweredAfter is how long after since every one of names had answered at least once (answers
// before since count as at since).
func (p *npProber) allAnsweredAfter(names []string, since time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var latest time.Duration
	for _, n := range names {
		var first time.Duration = -1
		for _, a := range p.answers {
			if a.name == n {
				first = max(0, a.at.Sub(since))
				break
			}
		}
		if first > latest {
			latest = first
		}
	}
	return latest
}

// npTable lists the netproxy's nftables tables (inet skiff, skiff-1, ...) inside the node's namespace, without what legitimately changes between two listings (affinity entries'
// remaining time).
func npTable(t *testing.T, n *cluster.TestNode) string {
	t.Helper()
	tables, err := n.Exec("nft", "list", "tables", "inet")
	if err != nil {
		t.Fatalf("nft list tables on %s: %v: %s", n.Name, err, tables)
	}
	var out string
	for _, l := range strings.Split(tables, "\n") {
		name := strings.TrimPrefix(strings.TrimSpace(l), "table inet ")
		if name != "skiff" && !strings.HasPrefix(name, "skiff-") || name == "skiff-ipvs" {
			continue
		}
		listing, err := n.Exec("nft", "list", "table", "inet", name)
		if err != nil {
			continue // deleted meanwhile
		}
		out += listing
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "expires") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// npDiff shows the lines only one of two listings has.
func npDiff(a, b string) string {
	count := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(b, "\n") {
		count[l]--
	}
	var out []string
	for l, n := range count {
		if n > 0 {
			out = append(out, "- "+l)
		} else if n < 0 {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return npTail(strings.Join(out, "\n"), 40)
}

// npProgrammingMetrics summarizes the netproxy's own measurements: network programming latency (from
// the EndpointSlice change to the rules applied) and partial sync durations.
func npProgrammingMetrics(n *cluster.TestNode) string {
	body, err := n.HTTPGet("http://127.0.0.1:10249/metrics")
	if err != nil {
		return "metrics unavailable: " + err.Error()
	}
	vals := map[string]float64{}
	for _, l := range strings.Split(body, "\n") {
		for _, name := range []string{
			"skiff_netproxy_network_programming_duration_seconds_sum", "skiff_netproxy_network_programming_duration_seconds_count",
			`skiff_netproxy_sync_duration_seconds_sum{kind="partial"}`, `skiff_netproxy_sync_duration_seconds_count{kind="partial"}`,
		} {
			if rest, ok := strings.CutPrefix(l, name+" "); ok {
				var v float64
				fmt.Sscan(rest, &v)
				vals[name] = v
			}
		}
	}
	avg := func(sum, count string) string {
		if vals[count] == 0 {
			return "none"
		}
		return fmt.Sprintf("%.0f, mean %s", vals[count], time.Duration(vals[sum]/vals[count]*float64(time.Second)).Round(100*time.Microsecond))
	}
	return "endpoint changes programmed: " + avg("skiff_netproxy_network_programming_duration_seconds_sum", "skiff_netproxy_network_programming_duration_seconds_count") +
		"; partial syncs: " + avg(`skiff_netproxy_sync_duration_seconds_sum{kind="partial"}`, `skiff_netproxy_sync_duration_seconds_count{kind="partial"}`)
}

func npTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
