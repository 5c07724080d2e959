//go:build e2e

package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/e2e/internal/cluster"
	"github.com/skiffhq/skiff/shared/testenv/busybox"
)

// cliRunner runs one command line tool against the cluster and returns its combined output.
type cliRunner struct {
	name string
	run  func(args ...string) (string, error)
}

// storyRecord is what one CLI printed at each step, normalized so the two CLIs can be compared: the
// deployment's name is replaced by NAME, ages, IPs and generated pod suffixes are blanked and runs of
// spaces are collapsed.
type storyRecord struct {
	steps []string
	out   map[string]string
}

var (
	ageRE    = regexp.MustCompile(`\b\d+(s|m|h|d)(\d+(s|m))?\b`)
	ipRE     = regexp.MustCompile(`\b10\.\d+\.\d+\.\d+(:\d+)?\b`)
	suffixRE = regexp.MustCompile(`NAME-[a-z0-9]{6,10}(-[a-z0-9]{5})?`)
	spaceRE  = regexp.MustCompile(`[ \t]+`)
)

func normalize(out, name string) string {
	out = strings.ReplaceAll(out, name, "NAME")
	out = suffixRE.ReplaceAllString(out, "NAME-POD")
	out = ipRE.ReplaceAllString(out, "IP")
	out = ageRE.ReplaceAllString(out, "AGE")
	out = spaceRE.ReplaceAllString(out, " ")
	return strings.TrimSpace(out)
}

// headers keeps the header line of each table in a get output: the columns a CLI prints.
func headers(out string) string {
	var h []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "NAME") || strings.HasPrefix(l, "NAMESPACE") {
			h = append(h, l)
		}
	}
	return strings.Join(h, "\n")
}

// keyLines keeps the lines of a describe output that start with one of the keys.
func keyLines(out string, keys ...string) string {
	var kept []string
	for _, l := range strings.Split(out, "\n") {
		for _, k := range keys {
			if strings.HasPrefix(l, k+":") {
				kept = append(kept, l)
			}
		}
	}
	return strings.Join(kept, "\n")
}

// lastLine is the final line of an output (rollout status prints its result there).
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestCtlStory runs the seeds' "try it" story twice against one cluster, once with skiffctl and once
// with the real kubectl, and checks that both succeed and print equivalent results at every step.
func TestCtlStory(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Nodes: 1, Bin: *skiffBin})
	image2 := c.Registry() + "/skiff/busybox:v2"
	if err := busybox.Push(image2, "httpd", "-f", "-p", "8080", "-h", "/var/www"); err != nil {
		t.Fatal(err)
	}
	clis := []cliRunner{{"skiffctl", c.Skiffctl}, {"kubectl", c.Kubectl}}
	records := map[string]*storyRecord{}
	for _, cli := range clis {
		rec := &storyRecord{out: map[string]string{}}
		records[cli.name] = rec
		if !t.Run(cli.name, func(t *testing.T) { ctlStory(t, c.T(t), cli, image2, rec) }) {
			t.FailNow()
		}
	}
	s, k := records["skiffctl"], records["kubectl"]
	for _, step := range s.steps {
		t.Logf("step %q printed (both CLIs, normalized): %q", step, s.out[step])
		if s.out[step] != k.out[step] {
			t.Errorf("step %q: the CLIs differ\n--- skiffctl:\n%s\n--- kubectl:\n%s", step, s.out[step], k.out[step])
		}
	}
	t.Logf("compared %d steps between skiffctl and kubectl", len(s.steps))
}

func ctlStory(t *testing.T, c *cluster.TestCluster, cli cliRunner, image2 string, rec *storyRecord) {
	name := "web-" + cli.name
	sel := "app=" + name
	must := func(args ...string) string {
		t.Helper()
		out, err := cli.run(args...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", cli.name, strings.Join(args, " "), err, out)
		}
		return out
	}
	record := func(step, out string) {
		rec.steps = append(rec.steps, step)
		rec.out[step] = normalize(out, name)
	}

	record("create deployment", must(append([]string{"create", "deployment", name, "--image=" + c.Image(), "--replicas=3", "--"}, webCommand...)...))
	ready := readyPods(c, sel, 3, 3*time.Minute)

	out := must("get", "deployment,rs,pods", "-o", "wide", "-l", sel)
	record("get deployment,rs,pods -o wide (columns)", headers(out))
	for _, want := range []string{"deployment.apps/" + name, "replicaset.apps/" + name + "-", "pod/" + name + "-", "3/3"} {
		if !strings.Contains(out, want) {
			t.Errorf("get deployment,rs,pods -o wide lacks %q:\n%s", want, out)
		}
	}

	record("expose", must("expose", "deployment", name, "--port=80", "--target-port=8080"))
	c.WaitFor("3 endpoints for service "+name, func() (bool, string) {
		out, err := cli.run("get", "endpoints", name, "-o", "jsonpath={.subsets[*].addresses[*].ip}")
		return err == nil && len(strings.Fields(out)) == 3, out
	})
	desc := must("describe", "svc", name)
	record("describe svc", keyLines(desc, "Name", "Namespace", "Selector", "Type", "Port", "TargetPort", "Session Affinity"))
	eps := ipRE.FindAllString(keyLines(desc, "Endpoints"), -1)
	if len(eps) != 3 {
		t.Errorf("describe svc lists %d endpoints, want 3:\n%s", len(eps), desc)
	}
	out = must("get", "endpoints", name)
	record("get endpoints (columns)", headers(out))

	clusterIP := strings.TrimSpace(must("get", "svc", name, "-o", "jsonpath={.spec.clusterIP}"))
	answersFrom(c, c.Node(0), "http://"+clusterIP+"/", ready)
	// Every pod has answered a request by now, so its httpd -v log shows it.
	pod := ready[0].Name
	c.WaitFor("the log of "+pod+" through "+cli.name, func() (bool, string) {
		out, err := cli.run("logs", pod)
		if err == nil && strings.Contains(out, "served GET / from") {
			return true, ""
		}
		// Say what the reference client sees for the same pod, to tell a CLI bug from an agent one.
		ref, refErr := c.Kubectl("logs", pod)
		return false, fmt.Sprintf("%s printed %q (err %v); kubectl printed %q (err %v)", cli.name, out, err, ref, refErr)
	})
	if out := strings.TrimSpace(must("exec", pod, "--", "hostname")); out != pod {
		t.Errorf("%s exec %s -- hostname printed %q", cli.name, pod, out)
	}
	exitOut, err := cli.run("exec", pod, "--", "sh", "-c", "exit 3")
	if err == nil || !strings.Contains(fmt.Sprint(err), "exit status 3") {
		t.Errorf("%s exec of a command exiting 3: err %v, output %q; want exit status 3", cli.name, err, exitOut)
	}

	record("scale", must("scale", "deployment", name, "--replicas=5"))
	readyPods(c, sel, 5, 3*time.Minute)

	record("set image", must("set", "image", "deployment/"+name, "busybox="+image2))
	record("rollout status", lastLine(must("rollout", "status", "deployment/"+name, "--timeout=180s")))
	for _, p := range readyPods(c, sel, 5, 3*time.Minute) {
		if p.Image != image2 {
			t.Errorf("after the rollout %s runs %s, want %s", p.Name, p.Image, image2)
		}
	}
	record("rollout undo", must("rollout", "undo", "deployment/"+name))
	record("rollout status after undo", lastLine(must("rollout", "status", "deployment/"+name, "--timeout=180s")))
	ready = readyPods(c, sel, 5, 3*time.Minute)
	for _, p := range ready {
		if p.Image != c.Image() {
			t.Errorf("after rollout undo %s runs %s, want %s", p.Name, p.Image, c.Image())
		}
	}

	record("delete deployment", must("delete", "deployment", name))
	record("delete service", must("delete", "service", name))
	c.WaitFor("the pods of "+name+" to be gone", func() (bool, string) {
		ps, err := pods(c, sel)
		if err != nil {
			return false, err.Error()
		}
		return len(ps) == 0, summary(ps)
	})
	out, err = cli.run("get", "deployment", name)
	if err == nil {
		t.Errorf("%s get of a deleted deployment succeeded:\n%s", cli.name, out)
	}
	record("get deleted deployment", out)
}
