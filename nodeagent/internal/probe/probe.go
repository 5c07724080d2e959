// Package probe runs one container health check or lifecycle hook action (exec, httpGet, tcpSocket,
// grpc, sleep) and turns a series of probe results into a probe's state with Kubernetes's
// successThreshold and failureThreshold rules (Tracker).
//
// Network probes are sent from the agent's network namespace (the node's) to the pod IP, as the
// kubelet does; exec probes run inside the container through an Execer. Scheduling probes per
// container (initialDelaySeconds, periodSeconds, startup gating) is the pod manager's job.
package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Result is the outcome of one probe.
type Result int

// Results.
const (
	Unknown Result = iota
	Success
	Failure
)

func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Failure:
		return "failure"
	}
	return "unknown"
}

// Action is what a probe or a lifecycle hook does; exactly one field is set.
type Action struct {
	Exec      *corev1.ExecAction
	HTTPGet   *corev1.HTTPGetAction
	TCPSocket *corev1.TCPSocketAction
	GRPC      *corev1.GRPCAction
	Sleep     *corev1.SleepAction
}

// FromProbe is the action of a probe.
func FromProbe(p *corev1.Probe) Action {
	return Action{Exec: p.Exec, HTTPGet: p.HTTPGet, TCPSocket: p.TCPSocket, GRPC: p.GRPC}
}

// FromHandler is the action of a lifecycle hook.
func FromHandler(h *corev1.LifecycleHandler) Action {
	return Action{Exec: h.Exec, HTTPGet: h.HTTPGet, TCPSocket: h.TCPSocket, Sleep: h.Sleep}
}

// Execer runs a command in the probed container and returns its exit code and (bounded) output.
type Execer func(ctx context.Context, args []string, timeout time.Duration) (code int, output []byte, err error)

// ErrTimeout is what an Execer returns when the command ran past the timeout.
var ErrTimeout = errors.New("timed out")

// Target is the container a probe checks.
type Target struct {
	// PodIP is where network probes go when the action names no host.
	PodIP string
	// Container resolves named ports.
	Container *corev1.Container
	// Exec runs exec actions.
	Exec Execer
}

// maxOutput bounds the output kept in a probe's message, as the kubelet's 10 KiB.
const maxOutput = 10 << 10

// UserAgent is sent by HTTP probes (the kubelet's is kube-probe/<minor version>).
const UserAgent = "kube-probe/1.32"

// Run performs the action once within timeout. The message says why it failed (and is the output of
// a successful exec).
func Run(ctx context.Context, a Action, t Target, timeout time.Duration) (Result, string) {
	if timeout <= 0 {
		timeout = time.Second
	}
	switch {
	case a.Exec != nil:
		if t.Exec == nil || len(a.Exec.Command) == 0 {
			return Failure, "exec probe without a command"
		}
		code, out, err := t.Exec(ctx, a.Exec.Command, timeout)
		if errors.Is(err, ErrTimeout) {
			return Failure, fmt.Sprintf("command %q timed out", strings.Join(a.Exec.Command, " "))
		}
		if err != nil {
			return Failure, err.Error()
		}
		if code != 0 {
			msg := strings.TrimSpace(string(out))
			if msg == "" {
				msg = fmt.Sprintf("command %q exited with %d", strings.Join(a.Exec.Command, " "), code)
			}
			return Failure, msg
		}
		return Success, string(out)
	case a.HTTPGet != nil:
		return runHTTP(ctx, a.HTTPGet, t, timeout)
	case a.TCPSocket != nil:
		port, err := ResolvePort(a.TCPSocket.Port, t.Container)
		if err != nil {
			return Failure, err.Error()
		}
		host := a.TCPSocket.Host
		if host == "" {
			host = t.PodIP
		}
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return Failure, fmt.Sprintf("dial tcp %s: %v", net.JoinHostPort(host, strconv.Itoa(port)), unwrapNet(err))
		}
		c.Close()
		return Success, ""
	case a.GRPC != nil:
		return runGRPC(ctx, a.GRPC, t, timeout)
	case a.Sleep != nil:
		select {
		case <-time.After(time.Duration(a.Sleep.Seconds) * time.Second):
		case <-ctx.Done():
		}
		return Success, ""
	}
	return Failure, "no probe action is set"
}

func unwrapNet(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// ResolvePort turns a port number or a container port name into a number.
func ResolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port number %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n <= 65535 {
		return n, nil
	}
	if c != nil {
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort), nil
			}
		}
	}
	return 0, fmt.Errorf("port %q is not a number and no container port has that name", p.StrVal)
}

func runHTTP(ctx context.Context, g *corev1.HTTPGetAction, t Target, timeout time.Duration) (Result, string) {
	port, err := ResolvePort(g.Port, t.Container)
	if err != nil {
		return Failure, err.Error()
	}
	host := g.Host
	if host == "" {
		host = t.PodIP
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if path == "" {
		path = "/"
	} else if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	full, err := url.Parse(u.String() + path)
	if err != nil {
		return Failure, fmt.Sprintf("invalid probe URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, full.String(), nil)
	if err != nil {
		return Failure, err.Error()
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{
		Transport: &http.Transport{
			DisableKeepAlives: true,
			// HTTPS probes do not verify certificates, as the kubelet's.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
			Proxy:           nil,
		},
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			// Redirects to the same host are followed (up to 10); others end the probe with the redirect.
			if len(via) >= 10 || r.URL.Hostname() != via[0].URL.Hostname() {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Failure, fmt.Sprintf("Get %q: %v", full.String(), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return Success, string(body)
	}
	return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
}

func runGRPC(ctx context.Context, g *corev1.GRPCAction, t Target, timeout time.Duration) (Result, string) {
	addr := net.JoinHostPort(t.PodIP, strconv.Itoa(int(g.Port)))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUserAgent(UserAgent))
	if err != nil {
		return Failure, fmt.Sprintf("failed to connect service %q: %v", addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	service := ""
	if g.Service != nil {
		service = *g.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return Failure, fmt.Sprintf("health rpc to %s failed: %v", addr, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Failure, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String())
	}
	return Success, ""
}

// Params are a probe's timing and thresholds with Kubernetes's defaults applied.
type Params struct {
	InitialDelay, Period, Timeout      time.Duration
	SuccessThreshold, FailureThreshold int
}

// ParamsOf applies the defaults (period 10s, timeout 1s, thresholds 1 and 3).
func ParamsOf(p *corev1.Probe) Params {
	out := Params{
		InitialDelay:     time.Duration(p.InitialDelaySeconds) * time.Second,
		Period:           time.Duration(p.PeriodSeconds) * time.Second,
		Timeout:          time.Duration(p.TimeoutSeconds) * time.Second,
		SuccessThreshold: int(p.SuccessThreshold), FailureThreshold: int(p.FailureThreshold),
	}
	if out.Period <= 0 {
		out.Period = 10 * time.Second
	}
	if out.Timeout <= 0 {
		out.Timeout = time.Second
	}
	if out.SuccessThreshold <= 0 {
		out.SuccessThreshold = 1
	}
	if out.FailureThreshold <= 0 {
		out.FailureThreshold = 3
	}
	return out
}

// Tracker turns probe results into the probe's state: it flips to Success after SuccessThreshold
// successes in a row and to Failure after FailureThreshold failures in a row.
type Tracker struct {
	success, failure int
	okRun, failRun   int
	state            Result
}

// NewTracker starts in state initial (readiness and startup start as Failure, liveness as Success).
func NewTracker(p Params, initial Result) *Tracker {
	return &Tracker{success: p.SuccessThreshold, failure: p.FailureThreshold, state: initial}
}

// State is the current state.
func (t *Tracker) State() Result { return t.state }

// Observe records one result and returns the state and whether it changed.
func (t *Tracker) Observe(r Result) (Result, bool) {
	switch r {
	case Success:
		t.okRun++
		t.failRun = 0
		if t.state != Success && t.okRun >= t.success {
			t.state = Success
			return t.state, true
		}
	case Failure:
		t.failRun++
		t.okRun = 0
		if t.state != Failure && t.failRun >= t.failure {
			t.state = Failure
			return t.state, true
		}
	}
	return t.state, false
}

// Limit keeps at most maxOutput bytes of a command's output.
type Limit struct{ bytes.Buffer }

// Write keeps the first maxOutput bytes and drops the rest.
func (l *Limit) Write(p []byte) (int, error) {
	if room := maxOutput - l.Len(); room > 0 {
		if len(p) > room {
			l.Buffer.Write(p[:room])
		} else {
			l.Buffer.Write(p)
		}
	}
	return len(p), nil
}
