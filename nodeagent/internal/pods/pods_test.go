package pods

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"

	"github.com/skiffhq/skiff/nodeagent/internal/runtime"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func TestQOSClass(t *testing.T) {
	tests := []struct {
		name string
		res  []corev1.ResourceRequirements
		want corev1.PodQOSClass
	}{
		{"no requests or limits is BestEffort", []corev1.ResourceRequirements{{}}, corev1.PodQOSBestEffort},
		{"limits equal to requests on cpu and memory is Guaranteed", []corev1.ResourceRequirements{{Limits: rl("cpu", "1", "memory", "1Gi"), Requests: rl("cpu", "1", "memory", "1Gi")}}, corev1.PodQOSGuaranteed},
		{"limits alone (requests default to them) is Guaranteed", []corev1.ResourceRequirements{{Limits: rl("cpu", "500m", "memory", "64Mi")}}, corev1.PodQOSGuaranteed},
		{"a memory limit only is Burstable", []corev1.ResourceRequirements{{Limits: rl("memory", "32Mi")}}, corev1.PodQOSBurstable},
		{"requests below limits is Burstable", []corev1.ResourceRequirements{{Limits: rl("cpu", "1", "memory", "1Gi"), Requests: rl("cpu", "500m", "memory", "1Gi")}}, corev1.PodQOSBurstable},
		{"one guaranteed and one best-effort container is Burstable", []corev1.ResourceRequirements{{Limits: rl("cpu", "1", "memory", "1Gi")}, {}}, corev1.PodQOSBurstable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var spec corev1.PodSpec
			for _, r := range tt.res {
				spec.Containers = append(spec.Containers, corev1.Container{Resources: r})
			}
			if got := QOSClass(&spec); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestOOMScoreAdjAndCgroupValues(t *testing.T) {
	c := &corev1.Container{Resources: corev1.ResourceRequirements{Requests: rl("cpu", "250m", "memory", "1Gi"), Limits: rl("cpu", "500m", "memory", "2Gi")}}
	if got := OOMScoreAdj(corev1.PodQOSBurstable, c, 4<<30); got != 750 {
		t.Fatalf("burstable oom_score_adj %d, want 750", got)
	}
	if OOMScoreAdj(corev1.PodQOSGuaranteed, c, 4<<30) != -997 || OOMScoreAdj(corev1.PodQOSBestEffort, c, 4<<30) != 1000 {
		t.Fatal("guaranteed/best-effort scores")
	}
	shares, quota, mem := cgroupResources(c)
	if shares != 256 || quota != 50000 || mem != 2<<30 {
		t.Fatalf("shares %d quota %d memory %d", shares, quota, mem)
	}
	if shares, quota, _ := cgroupResources(&corev1.Container{}); shares != 2 || quota != 0 {
		t.Fatalf("best-effort shares %d quota %d", shares, quota)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name      string
		prev, ran time.Duration
		want      time.Duration
	}{
		{"first crash waits 10s", 0, time.Second, 10 * time.Second},
		{"each crash doubles", 10 * time.Second, time.Second, 20 * time.Second},
		{"capped at five minutes", 160 * time.Second, time.Second, 5 * time.Minute},
		{"stays at the cap", 5 * time.Minute, time.Second, 5 * time.Minute},
		{"ten minutes of running resets it", 5 * time.Minute, 10 * time.Minute, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := nextBackoff(tt.prev, tt.ran); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

type fakeObjects struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
}

var errFakeNotFound = errors.New("not found")

func (f fakeObjects) ConfigMap(_ context.Context, _, name string) (*corev1.ConfigMap, error) {
	if c, ok := f.cms[name]; ok {
		return c, nil
	}
	return nil, errFakeNotFound
}

func (f fakeObjects) Secret(_ context.Context, _, name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[name]; ok {
		return s, nil
	}
	return nil, errFakeNotFound
}

func (f fakeObjects) IsNotFound(err error) bool { return errors.Is(err, errFakeNotFound) }

func TestContainerEnv(t *testing.T) {
	src := fakeObjects{
		cms:     map[string]*corev1.ConfigMap{"cfg": {Data: map[string]string{"a": "1", "b": "2"}}},
		secrets: map[string]*corev1.Secret{"sec": {Data: map[string][]byte{"pw": []byte("hunter2")}}},
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "web"}}}
	pod.Spec.NodeName = "n1"
	info := podRuntimeInfo{PodIPs: []string{"10.244.0.5"}, HostIP: "10.0.0.1", NodeCPU: resource.MustParse("2"), NodeMemory: resource.MustParse("4Gi")}
	no := false
	yes := true
	cmRef := func(name, key string, opt *bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: opt}}
	}
	field := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
	}
	tests := []struct {
		name    string
		c       corev1.Container
		image   []string
		want    string
		wantErr string
	}{
		{"container env overrides image env, order kept", corev1.Container{Env: []corev1.EnvVar{{Name: "PATH", Value: "/x"}, {Name: "Z", Value: "z"}}},
			[]string{"PATH=/bin", "HOME=/root"}, "PATH=/x HOME=/root Z=z", ""},
		{"fieldRef paths", corev1.Container{Env: []corev1.EnvVar{
			{Name: "N", ValueFrom: field("metadata.name")}, {Name: "NS", ValueFrom: field("metadata.namespace")},
			{Name: "UID", ValueFrom: field("metadata.uid")}, {Name: "APP", ValueFrom: field("metadata.labels['app']")},
			{Name: "NODE", ValueFrom: field("spec.nodeName")}, {Name: "IP", ValueFrom: field("status.podIP")}, {Name: "HOST", ValueFrom: field("status.hostIP")}}},
			nil, "N=p NS=ns UID=u1 APP=web NODE=n1 IP=10.244.0.5 HOST=10.0.0.1", ""},
		{"configMap and secret keys", corev1.Container{Env: []corev1.EnvVar{{Name: "A", ValueFrom: cmRef("cfg", "a", nil)},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "pw"}}}}},
			nil, "A=1 PW=hunter2", ""},
		{"envFrom with a prefix, then $(VAR) expansion and $$ escape", corev1.Container{
			EnvFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			Env:     []corev1.EnvVar{{Name: "X", Value: "$(CFG_a)-$(MISSING)-$$(CFG_b)"}}},
			nil, "CFG_a=1 CFG_b=2 X=1-$(MISSING)-$(CFG_b)", ""},
		{"resourceFieldRef falls back to node allocatable and divides rounding up", corev1.Container{
			Resources: corev1.ResourceRequirements{Requests: rl("cpu", "250m")},
			Env: []corev1.EnvVar{
				{Name: "LCPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
				{Name: "RCPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1m")}}},
				{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}}}},
			nil, "LCPU=2 RCPU=250 MEM=4096", ""},
		{"an optional missing key is skipped", corev1.Container{Env: []corev1.EnvVar{{Name: "Q", ValueFrom: cmRef("cfg", "nope", &yes)}, {Name: "R", ValueFrom: cmRef("gone", "a", &yes)}}}, nil, "", ""},
		{"a missing configmap is a config error", corev1.Container{Env: []corev1.EnvVar{{Name: "Q", ValueFrom: cmRef("gone", "a", &no)}}}, nil, "", `configmap "gone" not found`},
		{"a missing key is a config error", corev1.Container{Env: []corev1.EnvVar{{Name: "Q", ValueFrom: cmRef("cfg", "nope", nil)}}}, nil, "", "couldn't find key nope in ConfigMap ns/cfg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := containerEnv(context.Background(), src, pod, &tt.c, tt.image, info)
			if tt.wantErr != "" {
				var ce *configError
				if !errors.As(err, &ce) || ce.msg != tt.wantErr {
					t.Fatalf("error %v, want config error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(env, " "); got != tt.want {
				t.Fatalf("env %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCommandLine(t *testing.T) {
	env := []string{"WHO=world"}
	tests := []struct {
		name          string
		command, args []string
		want          string
	}{
		{"image entrypoint and cmd", nil, nil, "/entry default"},
		{"args replace cmd only", nil, []string{"hello", "$(WHO)"}, "/entry hello world"},
		{"command replaces both", []string{"sh", "-c"}, nil, "sh -c"},
		{"command and args", []string{"echo"}, []string{"$(WHO)"}, "echo world"},
	}
	for _, tt := range tests {
		c := &corev1.Container{Command: tt.command, Args: tt.args}
		if got := strings.Join(commandLine(c, []string{"/entry"}, []string{"default"}, env), " "); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPodPhase(t *testing.T) {
	run := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	ok := corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}
	bad := corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}
	creating := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	crashloop := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}
	S := func(s ...corev1.ContainerStatus) []corev1.ContainerStatus { return s }
	tests := []struct {
		name       string
		policy     corev1.RestartPolicy
		inits, cs  []corev1.ContainerStatus
		initFailed bool
		want       corev1.PodPhase
	}{
		{"a container still being created is Pending", corev1.RestartPolicyAlways, nil, S(run, creating), false, corev1.PodPending},
		{"an unfinished init container is Pending", corev1.RestartPolicyAlways, S(run), S(creating), false, corev1.PodPending},
		{"running is Running", corev1.RestartPolicyAlways, S(ok), S(run), false, corev1.PodRunning},
		{"crash-looping under Always is Running", corev1.RestartPolicyAlways, nil, S(crashloop), false, corev1.PodRunning},
		{"all exited 0 under Never is Succeeded", corev1.RestartPolicyNever, nil, S(ok, ok), false, corev1.PodSucceeded},
		{"an exit 1 under Never is Failed", corev1.RestartPolicyNever, nil, S(ok, bad), false, corev1.PodFailed},
		{"an exit 1 under OnFailure keeps Running (it restarts)", corev1.RestartPolicyOnFailure, nil, S(bad), false, corev1.PodRunning},
		{"all exited 0 under OnFailure is Succeeded", corev1.RestartPolicyOnFailure, nil, S(ok), false, corev1.PodSucceeded},
		{"a failed init under Never is Failed", corev1.RestartPolicyNever, S(bad), S(creating), true, corev1.PodFailed},
	}
	for _, tt := range tests {
		if got := podPhase(tt.policy, tt.inits, tt.cs, tt.initFailed); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestShouldRestart(t *testing.T) {
	ok, bad, start := &runtime.ExitStatus{ExitCode: 0}, &runtime.ExitStatus{ExitCode: 2}, &runtime.ExitStatus{ExitCode: 128, Reason: "StartError"}
	tests := []struct {
		policy corev1.RestartPolicy
		exit   *runtime.ExitStatus
		want   bool
	}{
		{corev1.RestartPolicyAlways, ok, true}, {corev1.RestartPolicyAlways, bad, true},
		{corev1.RestartPolicyOnFailure, ok, false}, {corev1.RestartPolicyOnFailure, bad, true}, {corev1.RestartPolicyOnFailure, start, true},
		{corev1.RestartPolicyNever, bad, false}, {corev1.RestartPolicyNever, ok, false},
	}
	for _, tt := range tests {
		if got := shouldRestart(tt.policy, tt.exit); got != tt.want {
			t.Errorf("%s with exit %+v: %v, want %v", tt.policy, tt.exit, got, tt.want)
		}
	}
}

func TestHostsAndResolvConf(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop"}}
	pod.Spec.Subdomain = "web"
	pod.Spec.HostAliases = []corev1.HostAlias{{IP: "10.1.2.3", Hostnames: []string{"db", "db.local"}}}
	hosts := hostsFile(pod, []string{"10.244.1.7"}, "cluster.local")
	for _, want := range []string{"127.0.0.1\tlocalhost", "10.244.1.7\tweb-0.web.shop.svc.cluster.local\tweb-0", "10.1.2.3\tdb\tdb.local"} {
		if !strings.Contains(hosts, want) {
			t.Errorf("hosts file lacks %q:\n%s", want, hosts)
		}
	}
	dns := DNSConfig{Servers: []string{"10.96.0.10"}, Domain: "cluster.local", HostResolvConf: "nameserver 1.1.1.1\nsearch corp.example\n"}
	if got, want := resolvConf(pod, dns), "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n"; got != want {
		t.Errorf("ClusterFirst resolv.conf:\n%q\nwant\n%q", got, want)
	}
	pod.Spec.DNSPolicy = corev1.DNSDefault
	if got := resolvConf(pod, dns); got != "search corp.example\nnameserver 1.1.1.1\n" {
		t.Errorf("Default resolv.conf: %q", got)
	}
	pod.Spec.DNSPolicy = corev1.DNSNone
	pod.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"9.9.9.9"}}
	if got := resolvConf(pod, dns); got != "nameserver 9.9.9.9\n" {
		t.Errorf("None resolv.conf: %q", got)
	}
}

func TestPullPolicyDefaults(t *testing.T) {
	for img, want := range map[string]corev1.PullPolicy{
		"busybox": corev1.PullAlways, "busybox:latest": corev1.PullAlways, "127.0.0.1:5000/busybox": corev1.PullAlways,
		"busybox:1.36": corev1.PullIfNotPresent, "127.0.0.1:5000/busybox:e2e": corev1.PullIfNotPresent,
		"busybox@sha256:0123": corev1.PullIfNotPresent,
	} {
		if got := pullPolicy(&corev1.Container{Image: img}); got != want {
			t.Errorf("%s: %s, want %s", img, got, want)
		}
	}
}
