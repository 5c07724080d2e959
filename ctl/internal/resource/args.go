package resource

import (
	"errors"
	"fmt"
	"strings"

	"github.com/skiffhq/skiff/shared/api/resources"
)

// UnknownTypeError is a resource word that names no served resource.
type UnknownTypeError struct{ Word string }

func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("the server doesn't have a resource type %q", e.Word)
}

// ResolveType resolves one resource word ("po", "deploy", "deployments.apps").
func ResolveType(word string) (resources.Resource, error) {
	r, ok := resources.Resolve(word)
	if !ok {
		return resources.Resource{}, &UnknownTypeError{Word: word}
	}
	return r, nil
}

// ResolveTypes resolves a comma-separated list of resource words; "all" expands to the resources of
// the "all" category. Duplicates are dropped, order is kept.
func ResolveTypes(list string) ([]resources.Resource, error) {
	var out []resources.Resource
	seen := map[string]bool{}
	add := func(r resources.Resource) {
		if k := r.GroupResource(); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	for _, w := range strings.Split(list, ",") {
		w = strings.TrimSpace(w)
		if w == "" {
			return nil, fmt.Errorf("empty resource type in %q", list)
		}
		if strings.EqualFold(w, "all") {
			for _, r := range resources.InCategory("all") {
				add(r)
			}
			continue
		}
		r, err := ResolveType(w)
		if err != nil {
			return nil, err
		}
		add(r)
	}
	return out, nil
}

// Request is what the positional arguments of get/delete/describe ask for: either whole collections of
// some types, or named objects.
type Request struct {
	// Types are the requested resources, in order.
	Types []resources.Resource
	// Refs are the named objects (empty when whole collections are asked for).
	Refs []Ref
	// Multi is true when more than one type is involved (then names print with their kind).
	Multi bool
	// All is true when "all" was asked for.
	All bool
}

// ErrNoType is returned when no resource type was given.
var ErrNoType = errors.New("you must specify the type of resource to get")

// ParseArgs understands kubectl's argument forms: "TYPE[,TYPE...] [NAME...]" and "TYPE/NAME ...".
// namespace is filled into the refs of namespaced resources.
func ParseArgs(args []string, namespace string) (*Request, error) {
	if len(args) == 0 {
		return nil, ErrNoType
	}
	req := &Request{}
	if strings.Contains(args[0], "/") {
		seen := map[string]bool{}
		for _, a := range args {
			typ, name, ok := strings.Cut(a, "/")
			if !ok {
				return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'skiffctl get resource/<resource_name>' instead of 'skiffctl get resource resource/<resource_name>')")
			}
			if name == "" {
				return nil, fmt.Errorf("arguments in resource/name form must have a single resource and name: %q", a)
			}
			r, err := ResolveType(typ)
			if err != nil {
				return nil, err
			}
			if !seen[r.GroupResource()] {
				seen[r.GroupResource()] = true
				req.Types = append(req.Types, r)
			}
			req.Refs = append(req.Refs, refFor(r, namespace, name))
		}
		req.Multi = len(req.Types) > 1
		return req, nil
	}
	for _, a := range args[1:] {
		if strings.Contains(a, "/") {
			return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'skiffctl get resource/<resource_name>' instead of 'skiffctl get resource resource/<resource_name>')")
		}
	}
	types, err := ResolveTypes(args[0])
	if err != nil {
		return nil, err
	}
	req.Types = types
	for _, w := range strings.Split(args[0], ",") {
		if strings.EqualFold(strings.TrimSpace(w), "all") {
			req.All = true
		}
	}
	req.Multi = len(types) > 1 || req.All
	for _, name := range args[1:] {
		for _, r := range types {
			req.Refs = append(req.Refs, refFor(r, namespace, name))
		}
	}
	return req, nil
}

func refFor(r resources.Resource, ns, name string) Ref {
	if !r.Namespaced {
		ns = ""
	}
	return Ref{Resource: r, Namespace: ns, Name: name}
}
