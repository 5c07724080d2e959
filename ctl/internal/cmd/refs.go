package cmd

import (
	"context"

	"github.com/skiffhq/skiff/ctl/internal/resource"
	"github.com/skiffhq/skiff/shared/api/resources"
)

// namedRefs reads "TYPE NAME..." or "TYPE/NAME..." arguments that must name objects.
func namedRefs(f *Factory, args []string) ([]resource.Ref, error) {
	ns, _, err := f.Namespace()
	if err != nil {
		return nil, err
	}
	req, err := resource.ParseArgs(args, ns)
	if err != nil {
		return nil, err
	}
	if len(req.Refs) == 0 {
		return nil, usagef("resource(s) were provided, but no name was specified")
	}
	return req.Refs, nil
}

// oneRef reads exactly one named object.
func oneRef(f *Factory, args []string) (resource.Ref, error) {
	refs, err := namedRefs(f, args)
	if err != nil {
		return resource.Ref{}, err
	}
	if len(refs) != 1 {
		return resource.Ref{}, usagef("exactly one object is required, got %d", len(refs))
	}
	return refs[0], nil
}

// liveObject reads exactly one named object and fetches it, for commands that work from its current state.
func liveObject(ctx context.Context, f *Factory, args []string) (*resource.Dynamic, resource.Ref, resource.Object, error) {
	ref, err := oneRef(f, args)
	if err != nil {
		return nil, ref, nil, err
	}
	d, err := f.Dynamic()
	if err != nil {
		return nil, ref, nil, err
	}
	live, err := d.Get(ctx, ref)
	if err != nil {
		return nil, ref, nil, err
	}
	return d, ref, live, nil
}

// eachLive fetches each object and calls fn with it. A failure for one object is collected and the
// others still run, as kubectl does; the collected failures are returned together.
func eachLive(ctx context.Context, f *Factory, refs []resource.Ref, fn func(d *resource.Dynamic, ref resource.Ref, live resource.Object) error) error {
	d, err := f.Dynamic()
	if err != nil {
		return err
	}
	var failures []error
	for _, ref := range refs {
		live, err := d.Get(ctx, ref)
		if err == nil {
			err = fn(d, ref, live)
		}
		if err != nil {
			failures = append(failures, err)
		}
	}
	return errs(failures)
}

// selectedRefs reads named objects, or with a selector or --all, every matching object of the types.
func selectedRefs(ctx context.Context, f *Factory, args []string, selector string, all bool) ([]resource.Ref, error) {
	ns, _, err := f.Namespace()
	if err != nil {
		return nil, err
	}
	req, err := resource.ParseArgs(args, ns)
	if err != nil {
		return nil, err
	}
	if len(req.Refs) > 0 {
		if selector != "" || all {
			return nil, usagef("names and a selector (or --all) cannot be combined")
		}
		return req.Refs, nil
	}
	if selector == "" && !all {
		return nil, usagef("resource(s) were provided, but no name, selector or --all was specified")
	}
	d, err := f.Dynamic()
	if err != nil {
		return nil, err
	}
	return listRefs(ctx, d, req.Types, ns, resource.ListOptions{LabelSelector: selector})
}

// listRefs lists the objects of each type in namespace ("" for all) and returns them as refs, in type
// order.
func listRefs(ctx context.Context, d *resource.Dynamic, types []resources.Resource, namespace string, opts resource.ListOptions) ([]resource.Ref, error) {
	var refs []resource.Ref
	for _, r := range types {
		items, _, err := d.List(ctx, r, namespace, opts)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			refs = append(refs, resource.Ref{Resource: r, Namespace: it.Namespace(), Name: it.Name()})
		}
	}
	return refs, nil
}
