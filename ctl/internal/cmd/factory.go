package cmd

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/skiffhq/skiff/ctl/internal/resource"
	"github.com/skiffhq/skiff/shared/client"
)

// DefaultServer is used when no kubeconfig exists and no --server is given, as kubectl falls back to
// localhost:8080 (the apiserver's default port).
const DefaultServer = "http://127.0.0.1:8080"

// Streams are the standard streams a command reads and writes.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// GlobalOptions are the flags every command shares.
type GlobalOptions struct {
	Kubeconfig     string
	Context        string
	Namespace      string
	AllNamespaces  bool
	Server         string
	Token          string
	RequestTimeout string
}

// Factory builds clients from the global flags, once.
type Factory struct {
	Opts *GlobalOptions
	IO   Streams

	cfg *client.Config
	cs  *client.Clientset
}

// Config resolves the connection settings.
func (f *Factory) Config() (*client.Config, error) {
	if f.cfg != nil {
		return f.cfg, nil
	}
	cfg, err := client.Load(client.LoadOptions{Kubeconfig: f.Opts.Kubeconfig, Context: f.Opts.Context, Server: f.Opts.Server, Token: f.Opts.Token})
	if errors.Is(err, client.ErrNoKubeconfig) && f.Opts.Context == "" {
		cfg, err = &client.Config{Server: DefaultServer, Namespace: "default"}, nil
	}
	if err != nil {
		return nil, err
	}
	timeout, err := parseTimeout(f.Opts.RequestTimeout)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = timeout
	cfg.UserAgent = "skiffctl"
	cfg.QPS = -1
	f.cfg = cfg
	return cfg, nil
}

// parseTimeout reads --request-timeout: "0" (none), a plain number of seconds, or a Go duration.
func parseTimeout(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid --request-timeout %q: a duration like 5s, 1m or 0 is expected", s)
	}
	return d, nil
}

// Clientset returns the typed clients.
func (f *Factory) Clientset() (*client.Clientset, error) {
	if f.cs != nil {
		return f.cs, nil
	}
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	cs, err := client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	f.cs = cs
	return cs, nil
}

// Dynamic returns the untyped client.
func (f *Factory) Dynamic() (*resource.Dynamic, error) {
	cs, err := f.Clientset()
	if err != nil {
		return nil, err
	}
	return &resource.Dynamic{C: cs.Client}, nil
}

// listNamespace is where a list runs for a command working in ns: every namespace ("") with
// --all-namespaces, else ns.
func (f *Factory) listNamespace(ns string) string {
	if f.Opts.AllNamespaces {
		return ""
	}
	return ns
}

// Namespace returns the namespace to work in (-n, else the kubeconfig context's, else "default") and
// whether it was given explicitly with -n.
func (f *Factory) Namespace() (string, bool, error) {
	if f.Opts.Namespace != "" {
		return f.Opts.Namespace, true, nil
	}
	cfg, err := f.Config()
	if err != nil {
		return "", false, err
	}
	if cfg.Namespace != "" {
		return cfg.Namespace, false, nil
	}
	return "default", false, nil
}
