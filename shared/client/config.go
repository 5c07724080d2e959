package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults applied by New when a Config field is zero.
const (
	DefaultQPS       = 50
	DefaultBurst     = 100
	DefaultUserAgent = "skiff-client"
)

// Config says how to reach and authenticate to an apiserver. The zero value of every optional field
// means the default.
type Config struct {
	// Server is the apiserver's base URL, e.g. "http://127.0.0.1:8080" or "https://10.0.0.1:6443".
	// Required. A path prefix in the URL is kept.
	Server string
	// BearerToken, when set, is sent as "Authorization: Bearer <token>".
	BearerToken string
	// TLS configures server verification and the client certificate.
	TLS TLSConfig
	// UserAgent is sent on every request; DefaultUserAgent when empty.
	UserAgent string
	// Timeout bounds each non-streaming request (watches and log streams are bounded by their context
	// only). Zero means no timeout beyond the context.
	Timeout time.Duration
	// QPS and Burst configure the client-side token bucket. Zero means DefaultQPS/DefaultBurst; a
	// negative QPS disables throttling.
	QPS   float64
	Burst int
	// Namespace is the default namespace from the kubeconfig context ("default" when unset there). The
	// client itself never applies it: callers pass namespaces explicitly.
	Namespace string
	// Transport, when set, replaces the transport built from TLS (tests, proxies).
	Transport http.RoundTripper
}

// TLSConfig holds server verification and client certificate settings. Data fields win over file fields.
type TLSConfig struct {
	// CAData or CAFile are PEM CA certificates used to verify the server instead of the system pool.
	CAData []byte
	CAFile string
	// CertData/CertFile and KeyData/KeyFile are the PEM client certificate and key.
	CertData []byte
	CertFile string
	KeyData  []byte
	KeyFile  string
	// Insecure skips server certificate verification.
	Insecure bool
	// ServerName overrides the name used to verify the server certificate.
	ServerName string
}

func (t TLSConfig) empty() bool {
	return len(t.CAData) == 0 && t.CAFile == "" && len(t.CertData) == 0 && t.CertFile == "" &&
		len(t.KeyData) == 0 && t.KeyFile == "" && !t.Insecure && t.ServerName == ""
}

// tlsClientConfig builds a crypto/tls config, reading files as needed.
func (t TLSConfig) tlsClientConfig() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: t.Insecure, //nolint:gosec // explicit user choice (insecure-skip-tls-verify)
		ServerName:         t.ServerName,
	}
	ca := t.CAData
	if len(ca) == 0 && t.CAFile != "" {
		b, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading certificate authority: %w", err)
		}
		ca = b
	}
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("certificate authority data holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	cert, key := t.CertData, t.KeyData
	if len(cert) == 0 && t.CertFile != "" {
		b, err := os.ReadFile(t.CertFile)
		if err != nil {
			return nil, fmt.Errorf("reading client certificate: %w", err)
		}
		cert = b
	}
	if len(key) == 0 && t.KeyFile != "" {
		b, err := os.ReadFile(t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("reading client key: %w", err)
		}
		key = b
	}
	switch {
	case len(cert) > 0 && len(key) > 0:
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate and key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case len(cert) > 0 || len(key) > 0:
		return nil, errors.New("client certificate and client key must be given together")
	}
	return cfg, nil
}

// validate checks the server URL and returns it parsed.
func (c *Config) serverURL() (*url.URL, error) {
	if c.Server == "" {
		return nil, errors.New("no apiserver address configured (set a kubeconfig or --server)")
	}
	s := c.Server
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parsing apiserver address %q: %w", c.Server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("apiserver address %q: scheme must be http or https", c.Server)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("apiserver address %q has no host", c.Server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// TLSConfig returns the crypto/tls settings for connections to the apiserver, reading the CA, client
// certificate and key files as needed. Callers that dial the apiserver themselves (websocket streams)
// use it so they verify and authenticate exactly as the HTTP client does.
func (c *Config) TLSConfig() (*tls.Config, error) {
	return c.TLS.tlsClientConfig()
}

// transport builds the HTTP transport: keep-alives, sane dial timeouts and the TLS settings.
func (c *Config) transport() (http.RoundTripper, error) {
	if c.Transport != nil {
		return c.Transport, nil
	}
	t := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   50,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if !c.TLS.empty() {
		tc, err := c.TLS.tlsClientConfig()
		if err != nil {
			return nil, err
		}
		t.TLSClientConfig = tc
	}
	return t, nil
}
