package client_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/shared/client"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const twoContexts = `apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://dev.example:6443
    certificate-authority: certs/ca.crt
    tls-server-name: apiserver.dev
- name: prod-cluster
  cluster:
    server: https://prod.example:6443
    insecure-skip-tls-verify: true
users:
- name: dev-user
  user:
    token: dev-token
- name: prod-user
  user:
    tokenFile: prod.token
    client-certificate: /abs/client.crt
    client-key: client.key
contexts:
- name: dev
  context:
    cluster: dev-cluster
    user: dev-user
    namespace: team-a
- name: prod
  context:
    cluster: prod-cluster
    user: prod-user
`

func TestLoadKubeconfig(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // relative path -> content
		path    string            // explicit --kubeconfig (relative to the temp dir)
		env     string            // KUBECONFIG, relative entries joined with ':'
		context string
		check   func(t *testing.T, dir string, cfg *client.Config)
		wantErr string
	}{
		{
			name:  "current context with token, CA file relative to the kubeconfig and namespace",
			files: map[string]string{"kc": twoContexts},
			path:  "kc",
			check: func(t *testing.T, dir string, cfg *client.Config) {
				if cfg.Server != "https://dev.example:6443" || cfg.BearerToken != "dev-token" || cfg.Namespace != "team-a" {
					t.Errorf("got server %q token %q namespace %q", cfg.Server, cfg.BearerToken, cfg.Namespace)
				}
				if cfg.TLS.CAFile != filepath.Join(dir, "certs/ca.crt") || cfg.TLS.ServerName != "apiserver.dev" {
					t.Errorf("CA file %q server name %q", cfg.TLS.CAFile, cfg.TLS.ServerName)
				}
			},
		},
		{
			name:    "--context override with token file, client cert paths, insecure and default namespace",
			files:   map[string]string{"kc": twoContexts, "prod.token": "prod-token\n"},
			path:    "kc",
			context: "prod",
			check: func(t *testing.T, dir string, cfg *client.Config) {
				if cfg.Server != "https://prod.example:6443" || cfg.BearerToken != "prod-token" || !cfg.TLS.Insecure {
					t.Errorf("got server %q token %q insecure %v", cfg.Server, cfg.BearerToken, cfg.TLS.Insecure)
				}
				if cfg.TLS.CertFile != "/abs/client.crt" || cfg.TLS.KeyFile != filepath.Join(dir, "client.key") {
					t.Errorf("cert %q key %q", cfg.TLS.CertFile, cfg.TLS.KeyFile)
				}
				if cfg.Namespace != "default" {
					t.Errorf("namespace %q, want default", cfg.Namespace)
				}
			},
		},
		{
			name: "KUBECONFIG list: first file wins per name, missing files are skipped",
			files: map[string]string{
				"a": "clusters:\n- name: c\n  cluster:\n    server: http://first:8080\ncontexts:\n- name: x\n  context:\n    cluster: c\n",
				"b": "current-context: x\nclusters:\n- name: c\n  cluster:\n    server: http://second:8080\n",
			},
			env: "missing:a:b",
			check: func(t *testing.T, dir string, cfg *client.Config) {
				if cfg.Server != "http://first:8080" {
					t.Errorf("server %q, want the first file's", cfg.Server)
				}
			},
		},
		{
			name: "certificate data fields are base64",
			files: map[string]string{"kc": "current-context: x\nclusters:\n- name: c\n  cluster:\n    server: https://h:6443\n" +
				"    certificate-authority-data: " + base64.StdEncoding.EncodeToString([]byte("CA PEM")) + "\n" +
				"users:\n- name: u\n  user:\n    client-certificate-data: " + base64.StdEncoding.EncodeToString([]byte("CERT")) + "\n" +
				"    client-key-data: " + base64.StdEncoding.EncodeToString([]byte("KEY")) + "\n" +
				"contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"},
			path: "kc",
			check: func(t *testing.T, dir string, cfg *client.Config) {
				if string(cfg.TLS.CAData) != "CA PEM" || string(cfg.TLS.CertData) != "CERT" || string(cfg.TLS.KeyData) != "KEY" {
					t.Errorf("decoded CA %q cert %q key %q", cfg.TLS.CAData, cfg.TLS.CertData, cfg.TLS.KeyData)
				}
			},
		},
		{name: "unknown context", files: map[string]string{"kc": twoContexts}, path: "kc", context: "staging", wantErr: `context "staging" not found`},
		{name: "context names a missing cluster", files: map[string]string{"kc": "current-context: x\ncontexts:\n- name: x\n  context:\n    cluster: gone\n"}, path: "kc", wantErr: `cluster "gone" not found`},
		{name: "context names a missing user", files: map[string]string{"kc": "current-context: x\nclusters:\n- name: c\n  cluster:\n    server: http://h\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: nobody\n"}, path: "kc", wantErr: `user "nobody" not found`},
		{name: "no current context", files: map[string]string{"kc": "clusters: []\n"}, path: "kc", wantErr: "no current-context"},
		{name: "malformed YAML", files: map[string]string{"kc": "clusters: [\n"}, path: "kc", wantErr: "parsing kubeconfig"},
		{name: "explicit path that does not exist", path: "nope", wantErr: "reading kubeconfig"},
		{name: "nothing anywhere", wantErr: "no kubeconfig found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeFile(t, dir, name, content)
			}
			t.Setenv("HOME", filepath.Join(dir, "home"))
			env := ""
			if tt.env != "" {
				var parts []string
				for _, p := range strings.Split(tt.env, ":") {
					parts = append(parts, filepath.Join(dir, p))
				}
				env = strings.Join(parts, ":")
			}
			t.Setenv("KUBECONFIG", env)
			path := ""
			if tt.path != "" {
				path = filepath.Join(dir, tt.path)
			}
			cfg, err := client.LoadKubeconfig(path, tt.context)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, dir, cfg)
		})
	}
}

func TestHomeKubeconfigAndLoadOverrides(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", dir)

	cfg, err := client.Load(client.LoadOptions{Server: "http://127.0.0.1:8080"})
	if err != nil || cfg.Server != "http://127.0.0.1:8080" {
		t.Fatalf("--server alone with no kubeconfig: %v %+v", err, cfg)
	}
	if _, err := client.Load(client.LoadOptions{}); !errors.Is(err, client.ErrNoKubeconfig) {
		t.Errorf("nothing at all: got %v, want ErrNoKubeconfig", err)
	}

	writeFile(t, dir, ".kube/config", twoContexts)
	cfg, err = client.Load(client.LoadOptions{Token: "override"})
	if err != nil || cfg.Server != "https://dev.example:6443" || cfg.BearerToken != "override" {
		t.Fatalf("~/.kube/config with --token: %v %+v", err, cfg)
	}
	cfg, err = client.Load(client.LoadOptions{Server: "http://elsewhere:1"})
	if err != nil || cfg.Server != "http://elsewhere:1" || cfg.BearerToken != "dev-token" {
		t.Fatalf("--server overrides the kubeconfig's server only: %v %+v", err, cfg)
	}
}

// TestKubeconfigTLS connects through a kubeconfig that carries the test server's CA as data.
func TestKubeconfigTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"kind":"Widget","metadata":{"name":"x","namespace":"default"}}`)
	}))
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	dir := t.TempDir()
	kc := writeFile(t, dir, "kc", "current-context: x\nclusters:\n- name: c\n  cluster:\n    server: "+srv.URL+"\n"+
		"    certificate-authority-data: "+base64.StdEncoding.EncodeToString(caPEM)+"\n"+
		"contexts:\n- name: x\n  context:\n    cluster: c\n")
	writeFile(t, dir, "ca.crt", string(caPEM))
	noCA := writeFile(t, dir, "noca", "current-context: x\nclusters:\n- name: c\n  cluster:\n    server: "+srv.URL+"\n"+
		"contexts:\n- name: x\n  context:\n    cluster: c\n")
	caFile := writeFile(t, dir, "cafile", "current-context: x\nclusters:\n- name: c\n  cluster:\n    server: "+srv.URL+"\n"+
		"    certificate-authority: ca.crt\ncontexts:\n- name: x\n  context:\n    cluster: c\n")

	tests := []struct {
		name    string
		path    string
		wantErr bool
	}{
		{"CA data verifies the server", kc, false},
		{"CA file relative to the kubeconfig verifies the server", caFile, false},
		{"without the CA the server is not trusted", noCA, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := client.LoadKubeconfig(tt.path, "")
			if err != nil {
				t.Fatal(err)
			}
			c, err := client.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = client.NewResource[widget](c, widgets).Get(context.Background(), "default", "x", client.GetOptions{})
			if (err != nil) != tt.wantErr {
				t.Errorf("get: err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  client.Config
		want string
	}{
		{"no server", client.Config{}, "no apiserver address"},
		{"bad scheme", client.Config{Server: "ftp://h"}, "scheme must be http or https"},
		{"bad CA data", client.Config{Server: "https://h", TLS: client.TLSConfig{CAData: []byte("junk")}}, "no PEM certificate"},
		{"cert without key", client.Config{Server: "https://h", TLS: client.TLSConfig{CertData: []byte("c")}}, "given together"},
		{"missing CA file", client.Config{Server: "https://h", TLS: client.TLSConfig{CAFile: "/nonexistent/ca"}}, "reading certificate authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.New(&tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestConfigTLSConfig checks the exported TLS settings that callers dialling the apiserver themselves
// use: they trust exactly the configured CA, keep the server name and reject bad material.
func TestConfigTLSConfig(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	caFile := writeFile(t, t.TempDir(), "ca.crt", string(caPEM))
	addr := strings.TrimPrefix(srv.URL, "https://")

	tests := []struct {
		name          string
		tls           client.TLSConfig
		wantErr       string // from TLSConfig itself
		wantHandshake bool
	}{
		{"CA data verifies the server", client.TLSConfig{CAData: caPEM, ServerName: "example.com"}, "", true},
		{"CA file verifies the server", client.TLSConfig{CAFile: caFile, ServerName: "example.com"}, "", true},
		{"wrong server name is rejected", client.TLSConfig{CAData: caPEM, ServerName: "other.test"}, "", false},
		{"without the CA the server is not trusted", client.TLSConfig{ServerName: "example.com"}, "", false},
		{"bad CA data is an error", client.TLSConfig{CAData: []byte("junk")}, "no PEM certificate", false},
		{"missing CA file is an error", client.TLSConfig{CAFile: "/nonexistent/ca"}, "reading certificate authority", false},
		{"cert without key is an error", client.TLSConfig{CertData: []byte("c")}, "given together", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := client.Config{Server: srv.URL, TLS: tt.tls}
			tc, err := cfg.TLSConfig()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.MinVersion != tls.VersionTLS12 || tc.ServerName != tt.tls.ServerName {
				t.Errorf("min version %x server name %q, want %x %q", tc.MinVersion, tc.ServerName, tls.VersionTLS12, tt.tls.ServerName)
			}
			conn, err := tls.Dial("tcp", addr, tc)
			if err == nil {
				conn.Close()
			}
			if (err == nil) != tt.wantHandshake {
				t.Errorf("handshake: err = %v, want success %v", err, tt.wantHandshake)
			}
		})
	}
}
