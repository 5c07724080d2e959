package server

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// fakeNodeAgent stands in for the nodeagent's API (its own engineer implements it): it records what
// reached it, answers log requests with text and upgrades exec requests to a websocket that echoes.
type fakeNodeAgent struct {
	*httptest.Server
	last chan *http.Request
}

func newFakeNodeAgent(t *testing.T) *fakeNodeAgent {
	f := &fakeNodeAgent{last: make(chan *http.Request, 10)}
	up := websocket.Upgrader{Subprotocols: []string{"v5.channel.k8s.io"}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.last <- r
		switch {
		case strings.HasPrefix(r.URL.Path, "/containerLogs/"):
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "log line for %s\n", r.URL.Path)
		case strings.HasPrefix(r.URL.Path, "/exec/"):
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			typ, msg, err := c.ReadMessage()
			if err == nil {
				_ = c.WriteMessage(typ, append([]byte{1}, msg[1:]...))
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func TestLogAndExecProxyToTheNodeAgent(t *testing.T) {
	ts := sharedServer(t)
	ns := ts.namespace(t, "proxy")
	agent := newFakeNodeAgent(t)
	host, portStr, _ := net.SplitHostPort(agent.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	ts.must(t, http.StatusCreated, "POST", "/api/v1/nodes", jsonCT, map[string]any{"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": "proxy-node"},
		"status": map[string]any{
			"addresses":       []any{map[string]any{"type": "Hostname", "address": "ignored.invalid"}, map[string]any{"type": "InternalIP", "address": host}},
			"daemonEndpoints": map[string]any{"kubeletEndpoint": map[string]any{"Port": port}},
		}})
	pods := "/api/v1/namespaces/" + ns + "/pods"
	p := pod("web", nil)
	p["metadata"].(map[string]any)["annotations"] = map[string]any{"kubectl.kubernetes.io/default-container": "side"}
	p["spec"].(map[string]any)["containers"] = []any{map[string]any{"name": "c", "image": "busybox"}, map[string]any{"name": "side", "image": "busybox"}}
	ts.must(t, http.StatusCreated, "POST", pods, jsonCT, p)

	if r := ts.req(t, "GET", pods+"/web/log", "", nil); r.code != http.StatusBadRequest || !strings.Contains(string(r.body), "does not have a host assigned") {
		t.Fatalf("logs of an unscheduled pod: %d %s", r.code, truncate(r.body))
	}
	ts.must(t, http.StatusCreated, "POST", pods+"/web/binding", jsonCT, map[string]any{"kind": "Binding", "apiVersion": "v1",
		"metadata": map[string]any{"name": "web"}, "target": map[string]any{"kind": "Node", "name": "proxy-node"}})

	tests := []struct {
		name      string
		query     string
		wantPath  string
		wantQuery string
	}{
		{"the default-container annotation picks the container", "?follow=true&tailLines=5&timestamps=true", "/containerLogs/" + ns + "/web/side", "follow=true&tailLines=5&timestamps=true"},
		{"a named container", "?container=c&previous=true&sinceSeconds=10&limitBytes=100", "/containerLogs/" + ns + "/web/c", "container=c&previous=true&sinceSeconds=10&limitBytes=100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.req(t, "GET", pods+"/web/log"+tc.query, "", nil)
			if r.code != http.StatusOK || !strings.Contains(string(r.body), "log line for "+tc.wantPath) {
				t.Fatalf("got %d %q", r.code, r.body)
			}
			got := <-agent.last
			if got.URL.Path != tc.wantPath || got.URL.RawQuery != tc.wantQuery {
				t.Fatalf("the agent got %s?%s, want %s?%s", got.URL.Path, got.URL.RawQuery, tc.wantPath, tc.wantQuery)
			}
		})
	}
	if r := ts.req(t, "GET", pods+"/web/log?container=x", "", nil); r.code != http.StatusBadRequest || str(r.json(t), "message") != `container "x" is not valid for pod "web"` {
		t.Fatalf("unknown container: %d %s", r.code, truncate(r.body))
	}

	t.Run("exec upgrades to the agent's websocket", func(t *testing.T) {
		d := websocket.Dialer{Subprotocols: []string{"v5.channel.k8s.io"}}
		u := strings.Replace(ts.url, "http://", "ws://", 1) + pods + "/web/exec?command=echo&command=hi&container=c&stdout=true&stderr=true"
		c, resp, err := d.Dial(u, nil)
		if err != nil {
			body := ""
			if resp != nil {
				b, _ := io.ReadAll(resp.Body)
				body = string(b)
			}
			t.Fatalf("dialing exec: %v %s", err, body)
		}
		defer c.Close()
		if c.Subprotocol() != "v5.channel.k8s.io" {
			t.Fatalf("subprotocol %q", c.Subprotocol())
		}
		if err := c.WriteMessage(websocket.BinaryMessage, []byte{0, 'h', 'i'}); err != nil {
			t.Fatal(err)
		}
		_, msg, err := c.ReadMessage()
		if err != nil || string(msg) != "\x01hi" {
			t.Fatalf("echo: %q %v", msg, err)
		}
		got := <-agent.last
		if got.URL.Path != "/exec/"+ns+"/web/c" || got.URL.Query()["command"][1] != "hi" {
			t.Fatalf("the agent got %s?%s", got.URL.Path, got.URL.RawQuery)
		}
	})
}
