// Package admission is the apiserver's admission chain: small plugins that default and check an object
// on create (and some on update) after it is decoded and defaulted and before it is validated and
// stored, as Kubernetes's built-in admission plugins of the same names do. A plugin's error (a
// *metav1.Status, usually 403 Forbidden) refuses the write.
//
// It does not do admission webhooks, and it reads other objects only through Objects.
package admission

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Operation is the kind of write being admitted.
type Operation string

// The operations plugins see.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
)

// Attributes describe one write. Object may be changed in place by mutating plugins.
type Attributes struct {
	Operation Operation
	// Group and Resource name the resource ("" and "pods"); Subresource is "" for the main resource.
	Group, Resource, Subresource string
	Namespace, Name              string
	Object                       metav1.Object
	// OldObject is the stored object (updates only).
	OldObject metav1.Object
}

// Plugin is one admission step.
type Plugin interface {
	Admit(ctx context.Context, a Attributes) error
}

// Objects reads the objects plugins consult (priority classes, storage classes). Errors that mean
// "not found" satisfy apierrors.IsNotFound.
type Objects interface {
	Get(ctx context.Context, group, version, resource, namespace, name string) (metav1.Object, error)
	List(ctx context.Context, group, version, resource, namespace string) ([]metav1.Object, error)
}

// Config configures the chain.
type Config struct {
	Objects Objects
	// Enable and Disable adjust the default set (every plugin); naming an unknown plugin, or one in
	// both lists, is an error.
	Enable, Disable []string
	// DefaultNotReadyTolerationSeconds and DefaultUnreachableTolerationSeconds are the
	// tolerationSeconds DefaultTolerationSeconds gives pods (Kubernetes: 300).
	DefaultNotReadyTolerationSeconds    int64
	DefaultUnreachableTolerationSeconds int64
}

// The plugin names, in the order they run (Kubernetes's relative order).
const (
	ServiceAccountPlugin           = "ServiceAccount"
	PriorityPlugin                 = "Priority"
	DefaultTolerationSecondsPlugin = "DefaultTolerationSeconds"
	DefaultStorageClassPlugin      = "DefaultStorageClass"
)

// Names lists every plugin in the order they run.
func Names() []string {
	return []string{ServiceAccountPlugin, PriorityPlugin, DefaultTolerationSecondsPlugin, DefaultStorageClassPlugin}
}

// Chain runs the enabled plugins in order.
type Chain struct {
	names   []string
	plugins []Plugin
}

// New builds the chain of enabled plugins.
func New(cfg Config) (*Chain, error) {
	enabled, err := Enabled(cfg.Enable, cfg.Disable)
	if err != nil {
		return nil, err
	}
	c := &Chain{}
	for _, name := range enabled {
		var p Plugin
		switch name {
		case ServiceAccountPlugin:
			p = serviceAccount{}
		case PriorityPlugin:
			p = priority{objects: cfg.Objects}
		case DefaultTolerationSecondsPlugin:
			p = defaultTolerationSeconds{notReady: cfg.DefaultNotReadyTolerationSeconds, unreachable: cfg.DefaultUnreachableTolerationSeconds}
		case DefaultStorageClassPlugin:
			p = defaultStorageClass{objects: cfg.Objects}
		}
		c.names = append(c.names, name)
		c.plugins = append(c.plugins, p)
	}
	return c, nil
}

// Enabled resolves the --enable-admission-plugins and --disable-admission-plugins lists into the
// plugins that run, in order.
func Enabled(enable, disable []string) ([]string, error) {
	all := Names()
	for _, list := range [][]string{enable, disable} {
		for _, n := range list {
			if !slices.Contains(all, n) {
				return nil, fmt.Errorf("unknown admission plugin %q (known: %s)", n, strings.Join(all, ", "))
			}
		}
	}
	for _, n := range enable {
		if slices.Contains(disable, n) {
			return nil, fmt.Errorf("admission plugin %q is both enabled and disabled", n)
		}
	}
	var out []string
	for _, n := range all {
		if !slices.Contains(disable, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// Names lists the chain's plugins in order.
func (c *Chain) Names() []string { return slices.Clone(c.names) }

// Admit runs every plugin; the first error refuses the write.
func (c *Chain) Admit(ctx context.Context, a Attributes) error {
	for _, p := range c.plugins {
		if err := p.Admit(ctx, a); err != nil {
			return err
		}
	}
	return nil
}
