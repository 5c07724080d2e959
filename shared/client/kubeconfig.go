package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Kubeconfig is the kubectl configuration file format (apiVersion v1, kind Config). Only the fields Skiff
// uses are decoded; others are ignored.
type Kubeconfig struct {
	APIVersion     string         `json:"apiVersion,omitempty"`
	Kind           string         `json:"kind,omitempty"`
	Clusters       []NamedCluster `json:"clusters,omitempty"`
	Users          []NamedUser    `json:"users,omitempty"`
	Contexts       []NamedContext `json:"contexts,omitempty"`
	CurrentContext string         `json:"current-context,omitempty"`
}

// NamedCluster is one entry of the clusters list.
type NamedCluster struct {
	Name    string            `json:"name"`
	Cluster KubeconfigCluster `json:"cluster"`
}

// KubeconfigCluster says where an apiserver is and how to verify it.
type KubeconfigCluster struct {
	Server                   string `json:"server,omitempty"`
	TLSServerName            string `json:"tls-server-name,omitempty"`
	InsecureSkipTLSVerify    bool   `json:"insecure-skip-tls-verify,omitempty"`
	CertificateAuthority     string `json:"certificate-authority,omitempty"`
	CertificateAuthorityData []byte `json:"certificate-authority-data,omitempty"`
}

// NamedUser is one entry of the users list.
type NamedUser struct {
	Name string         `json:"name"`
	User KubeconfigUser `json:"user"`
}

// KubeconfigUser holds one user's credentials.
type KubeconfigUser struct {
	ClientCertificate     string `json:"client-certificate,omitempty"`
	ClientCertificateData []byte `json:"client-certificate-data,omitempty"`
	ClientKey             string `json:"client-key,omitempty"`
	ClientKeyData         []byte `json:"client-key-data,omitempty"`
	Token                 string `json:"token,omitempty"`
	TokenFile             string `json:"tokenFile,omitempty"`
}

// NamedContext is one entry of the contexts list.
type NamedContext struct {
	Name    string            `json:"name"`
	Context KubeconfigContext `json:"context"`
}

// KubeconfigContext ties a cluster, a user and a default namespace together.
type KubeconfigContext struct {
	Cluster   string `json:"cluster"`
	User      string `json:"user,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// ErrNoKubeconfig is returned when no kubeconfig file was given, $KUBECONFIG names no existing file and
// ~/.kube/config does not exist.
var ErrNoKubeconfig = errors.New("no kubeconfig found (pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config)")

// KubeconfigPaths returns the files to read, in priority order: the explicit path if given, else the
// existing files of the $KUBECONFIG list, else ~/.kube/config if it exists.
func KubeconfigPaths(explicit string) ([]string, error) {
	if explicit != "" {
		return []string{explicit}, nil
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		var paths []string
		seen := map[string]bool{}
		for _, p := range filepath.SplitList(env) {
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			if _, err := os.Stat(p); err == nil {
				paths = append(paths, p)
			}
		}
		if len(paths) > 0 {
			return paths, nil
		}
	}
	home, err := os.UserHomeDir()
	if err == nil {
		p := filepath.Join(home, ".kube", "config")
		if _, err := os.Stat(p); err == nil {
			return []string{p}, nil
		}
	}
	return nil, ErrNoKubeconfig
}

// ReadKubeconfig parses the given files and merges them: for every named cluster, user and context the
// first file that defines it wins, and so does the first non-empty current-context. Relative certificate
// and token file paths are resolved against the directory of the file that holds them.
func ReadKubeconfig(paths ...string) (*Kubeconfig, error) {
	merged := &Kubeconfig{APIVersion: "v1", Kind: "Config"}
	clusters, users, contexts := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading kubeconfig: %w", err)
		}
		var kc Kubeconfig
		if err := yaml.Unmarshal(b, &kc); err != nil {
			return nil, fmt.Errorf("parsing kubeconfig %s: %w", p, err)
		}
		dir := filepath.Dir(p)
		for _, c := range kc.Clusters {
			if clusters[c.Name] {
				continue
			}
			clusters[c.Name] = true
			c.Cluster.CertificateAuthority = resolvePath(dir, c.Cluster.CertificateAuthority)
			merged.Clusters = append(merged.Clusters, c)
		}
		for _, u := range kc.Users {
			if users[u.Name] {
				continue
			}
			users[u.Name] = true
			u.User.ClientCertificate = resolvePath(dir, u.User.ClientCertificate)
			u.User.ClientKey = resolvePath(dir, u.User.ClientKey)
			u.User.TokenFile = resolvePath(dir, u.User.TokenFile)
			merged.Users = append(merged.Users, u)
		}
		for _, c := range kc.Contexts {
			if contexts[c.Name] {
				continue
			}
			contexts[c.Name] = true
			merged.Contexts = append(merged.Contexts, c)
		}
		if merged.CurrentContext == "" {
			merged.CurrentContext = kc.CurrentContext
		}
	}
	return merged, nil
}

func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	return filepath.Join(dir, p)
}

// Config resolves a context (the current context when name is empty) into a client Config.
func (k *Kubeconfig) Config(contextName string) (*Config, error) {
	if contextName == "" {
		contextName = k.CurrentContext
	}
	if contextName == "" {
		return nil, errors.New("kubeconfig has no current-context; pass --context")
	}
	var ctx *KubeconfigContext
	for i := range k.Contexts {
		if k.Contexts[i].Name == contextName {
			ctx = &k.Contexts[i].Context
			break
		}
	}
	if ctx == nil {
		return nil, fmt.Errorf("context %q not found in kubeconfig", contextName)
	}
	var cluster *KubeconfigCluster
	for i := range k.Clusters {
		if k.Clusters[i].Name == ctx.Cluster {
			cluster = &k.Clusters[i].Cluster
			break
		}
	}
	if cluster == nil {
		return nil, fmt.Errorf("context %q: cluster %q not found in kubeconfig", contextName, ctx.Cluster)
	}
	var user KubeconfigUser
	if ctx.User != "" {
		found := false
		for i := range k.Users {
			if k.Users[i].Name == ctx.User {
				user, found = k.Users[i].User, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("context %q: user %q not found in kubeconfig", contextName, ctx.User)
		}
	}
	cfg := &Config{
		Server: cluster.Server,
		TLS: TLSConfig{
			CAData:     cluster.CertificateAuthorityData,
			CAFile:     cluster.CertificateAuthority,
			CertData:   user.ClientCertificateData,
			CertFile:   user.ClientCertificate,
			KeyData:    user.ClientKeyData,
			KeyFile:    user.ClientKey,
			Insecure:   cluster.InsecureSkipTLSVerify,
			ServerName: cluster.TLSServerName,
		},
		BearerToken: user.Token,
		Namespace:   ctx.Namespace,
	}
	if cfg.BearerToken == "" && user.TokenFile != "" {
		b, err := os.ReadFile(user.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("context %q: reading token file: %w", contextName, err)
		}
		cfg.BearerToken = strings.TrimSpace(string(b))
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.Server == "" {
		return nil, fmt.Errorf("context %q: cluster %q has no server", contextName, ctx.Cluster)
	}
	return cfg, nil
}

// LoadKubeconfig reads the kubeconfig (explicit path, else $KUBECONFIG, else ~/.kube/config) and
// resolves the named context, or the current context when contextName is empty.
func LoadKubeconfig(path, contextName string) (*Config, error) {
	paths, err := KubeconfigPaths(path)
	if err != nil {
		return nil, err
	}
	kc, err := ReadKubeconfig(paths...)
	if err != nil {
		return nil, err
	}
	cfg, err := kc.Config(contextName)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", strings.Join(paths, string(filepath.ListSeparator)), err)
	}
	return cfg, nil
}

// LoadOptions are the usual command-line connection flags of a component or the CLI.
type LoadOptions struct {
	// Kubeconfig is an explicit kubeconfig path (--kubeconfig).
	Kubeconfig string
	// Context overrides the current context (--context).
	Context string
	// Server overrides the cluster address (--server); with no kubeconfig at all, it alone is enough.
	Server string
	// Token overrides the bearer token (--token).
	Token string
}

// Load builds a Config from the flags: the kubeconfig when one is found (an explicit --kubeconfig must
// exist), with Server and Token overriding it; with no kubeconfig, Server alone.
func Load(o LoadOptions) (*Config, error) {
	cfg, err := LoadKubeconfig(o.Kubeconfig, o.Context)
	switch {
	case errors.Is(err, ErrNoKubeconfig) && o.Server != "" && o.Context == "":
		cfg = &Config{Server: o.Server, Namespace: "default"}
	case err != nil:
		return nil, err
	}
	if o.Server != "" {
		cfg.Server = o.Server
	}
	if o.Token != "" {
		cfg.BearerToken = o.Token
	}
	return cfg, nil
}
