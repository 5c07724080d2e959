package probe

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

func TestTracker(t *testing.T) {
	S, F := Success, Failure
	tests := []struct {
		name             string
		success, failure int
		initial          Result
		results          []Result
		want             []Result
	}{
		{"readiness starts failed and one success makes it ready", 1, 3, F, []Result{S}, []Result{S}},
		{"liveness fails only after failureThreshold failures in a row", 1, 3, S, []Result{F, F, S, F, F, F}, []Result{S, S, S, S, S, F}},
		{"successThreshold needs that many successes in a row", 2, 1, F, []Result{S, F, S, S}, []Result{F, F, F, S}},
		{"a failure run is reset by a success", 1, 2, S, []Result{F, S, F, S}, []Result{S, S, S, S}},
		{"unknown results change nothing", 1, 1, S, []Result{Unknown, Unknown}, []Result{S, S}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(Params{SuccessThreshold: tt.success, FailureThreshold: tt.failure}, tt.initial)
			for i, r := range tt.results {
				if got, _ := tr.Observe(r); got != tt.want[i] {
					t.Fatalf("after result %d (%s): state %s, want %s", i, r, got, tt.want[i])
				}
			}
		})
	}
}

func TestParamsDefaults(t *testing.T) {
	p := ParamsOf(&corev1.Probe{})
	if p.Period != 10*time.Second || p.Timeout != time.Second || p.SuccessThreshold != 1 || p.FailureThreshold != 3 || p.InitialDelay != 0 {
		t.Fatalf("defaults %+v", p)
	}
}

func hostPort(t *testing.T, addr string) (string, intstr.IntOrString) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, intstr.FromInt32(int32(n))
}

func TestHTTPProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			if r.Header.Get("X-Probe") != "yes" || !strings.HasPrefix(r.UserAgent(), "kube-probe/") {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			_, _ = w.Write([]byte("ok"))
		case "/redirect":
			http.Redirect(w, r, "/healthz", http.StatusFound)
		case "/slow":
			time.Sleep(500 * time.Millisecond)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	host, port := hostPort(t, srv.Listener.Addr().String())
	named := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port.IntVal}}}
	hdr := []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}}
	tests := []struct {
		name    string
		action  corev1.HTTPGetAction
		timeout time.Duration
		want    Result
		msg     string
	}{
		{"a 200 with the configured headers succeeds", corev1.HTTPGetAction{Path: "/healthz", Port: port, HTTPHeaders: hdr}, time.Second, Success, "ok"},
		{"a named container port is resolved", corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http"), HTTPHeaders: hdr}, time.Second, Success, "ok"},
		{"a same-host redirect is followed", corev1.HTTPGetAction{Path: "/redirect", Port: port, HTTPHeaders: hdr}, time.Second, Success, "ok"},
		{"a 503 fails with the status code", corev1.HTTPGetAction{Path: "/down", Port: port}, time.Second, Failure, "statuscode: 503"},
		{"a response slower than the timeout fails", corev1.HTTPGetAction{Path: "/slow", Port: port}, 100 * time.Millisecond, Failure, "Client.Timeout"},
		{"an unknown port name fails", corev1.HTTPGetAction{Port: intstr.FromString("nope")}, time.Second, Failure, "no container port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := Run(context.Background(), Action{HTTPGet: &tt.action}, Target{PodIP: host, Container: named}, tt.timeout)
			if got != tt.want || !strings.Contains(msg, tt.msg) {
				if !(tt.msg == "Client.Timeout" && strings.Contains(msg, "deadline")) {
					t.Fatalf("got %s %q, want %s containing %q", got, msg, tt.want, tt.msg)
				}
			}
		})
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port := hostPort(t, ln.Addr().String())
	a := Action{TCPSocket: &corev1.TCPSocketAction{Port: port}}
	if got, msg := Run(context.Background(), a, Target{PodIP: host}, time.Second); got != Success {
		t.Fatalf("open port: %s %s", got, msg)
	}
	ln.Close()
	if got, msg := Run(context.Background(), a, Target{PodIP: host}, time.Second); got != Failure || !strings.Contains(msg, "refused") {
		t.Fatalf("closed port: %s %s", got, msg)
	}
}

func TestGRPCProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	go func() { _ = s.Serve(ln) }()
	defer s.Stop()
	host, port := hostPort(t, ln.Addr().String())
	db, missing := "db", "missing"
	tests := []struct {
		name    string
		service *string
		want    Result
	}{
		{"the server's overall status SERVING succeeds", nil, Success},
		{"a NOT_SERVING service fails", &db, Failure},
		{"an unknown service fails", &missing, Failure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := Run(context.Background(), Action{GRPC: &corev1.GRPCAction{Port: port.IntVal, Service: tt.service}}, Target{PodIP: host}, 2*time.Second)
			if got != tt.want {
				t.Fatalf("got %s %q", got, msg)
			}
		})
	}
}

// shellExec runs the command on this machine: an Execer over a real process.
func shellExec(ctx context.Context, args []string, timeout time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if ctx.Err() != nil {
		return -1, out, ErrTimeout
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out, nil
	}
	return 0, out, err
}

func TestExecProbe(t *testing.T) {
	tests := []struct {
		name string
		cmd  []string
		want Result
		msg  string
	}{
		{"exit 0 succeeds", []string{"true"}, Success, ""},
		{"a non-zero exit fails with the output", []string{"sh", "-c", "echo not healthy; exit 1"}, Failure, "not healthy"},
		{"a command past the timeout fails", []string{"sleep", "5"}, Failure, "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := Run(context.Background(), Action{Exec: &corev1.ExecAction{Command: tt.cmd}}, Target{Exec: shellExec}, 300*time.Millisecond)
			if got != tt.want || !strings.Contains(msg, tt.msg) {
				t.Fatalf("got %s %q", got, msg)
			}
		})
	}
}
