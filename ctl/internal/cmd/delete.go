package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/ctl/internal/resource"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

type deleteOptions struct {
	fileOptions
	selector      string
	fieldSelector string
	all           bool
	cascade       string
	gracePeriod   int
	force         bool
	wait          bool
	timeout       time.Duration
	ignoreMissing bool
	now           bool
}

func newDelete(f *Factory) *cobra.Command {
	o := &deleteOptions{}
	c := &cobra.Command{
		Use:   "delete (TYPE[,TYPE...] [NAME...] | TYPE/NAME ... | -f FILE | TYPE -l SELECTOR | TYPE --all)",
		Short: "Delete resources by names, files, label selector or all of a type",
		Example: `  skiffctl delete deployment web
  skiffctl delete -f web.yaml
  skiffctl delete pods -l app=web --grace-period=0 --force
  skiffctl delete deployment web --cascade=orphan`,
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDelete(cmd.Context(), f, o, args)
		},
	}
	fl := c.Flags()
	fl.StringSliceVarP(&o.filenames, "filename", "f", nil, "files, folders or - (stdin) naming the objects to delete")
	fl.BoolVarP(&o.recursive, "recursive", "R", false, "read folders given with -f recursively")
	fl.StringVarP(&o.output, "output", "o", "", "name: print only type/name")
	fl.StringVarP(&o.selector, "selector", "l", "", "delete the objects matching this label selector")
	fl.StringVar(&o.fieldSelector, "field-selector", "", "delete the objects matching this field selector")
	fl.BoolVar(&o.all, "all", false, "delete every object of the given types in the namespace")
	fl.StringVar(&o.cascade, "cascade", "background", "what happens to dependents: background, foreground or orphan")
	fl.IntVar(&o.gracePeriod, "grace-period", -1, "seconds given to the object to terminate gracefully; -1 uses the object's default")
	fl.BoolVar(&o.force, "force", false, "delete immediately (grace period 0) without waiting for the kubelet to confirm")
	fl.BoolVar(&o.now, "now", false, "signal the object to stop immediately (grace period 1)")
	fl.BoolVar(&o.wait, "wait", true, "wait until the objects are gone before returning")
	fl.DurationVar(&o.timeout, "timeout", 0, "how long to wait for the deletion; 0 picks a timeout from the grace period")
	fl.BoolVar(&o.ignoreMissing, "ignore-not-found", false, "treat a missing object as success")
	return c
}

func propagation(cascade string) (metav1.DeletionPropagation, error) {
	switch strings.ToLower(cascade) {
	case "background", "true", "":
		return metav1.DeletePropagationBackground, nil
	case "foreground":
		return metav1.DeletePropagationForeground, nil
	case "orphan", "false":
		return metav1.DeletePropagationOrphan, nil
	}
	return "", usagef("invalid --cascade %q: must be background, foreground or orphan", cascade)
}

func runDelete(ctx context.Context, f *Factory, o *deleteOptions, args []string) error {
	prop, err := propagation(o.cascade)
	if err != nil {
		return err
	}
	opts := &metav1.DeleteOptions{PropagationPolicy: &prop}
	grace := o.gracePeriod
	if o.now {
		grace = 1
	}
	if o.force {
		if grace < 0 {
			grace = 0
		}
		warn(f, "Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.")
	}
	if grace >= 0 {
		g := int64(grace)
		opts.GracePeriodSeconds = &g
	}
	d, err := f.Dynamic()
	if err != nil {
		return err
	}
	ns, _, err := f.Namespace()
	if err != nil {
		return err
	}
	listNS := f.listNamespace(ns)
	var refs []resource.Ref
	switch {
	case len(o.filenames) > 0:
		if len(args) > 0 {
			return usagef("arguments and -f cannot be combined")
		}
		srcs, err := resource.ReadFiles(o.filenames, o.recursive, f.IO.In)
		if err != nil {
			return err
		}
		for _, s := range srcs {
			r, err := s.Object.Resource()
			if err != nil {
				return err
			}
			objNS, err := objectNamespace(f, s.Object, r)
			if err != nil {
				return err
			}
			refs = append(refs, resource.Ref{Resource: r, Namespace: objNS, Name: s.Object.Name()})
		}
	case len(args) == 0:
		return usagef("you must provide one or more resources by argument or filename (see 'skiffctl delete --help')")
	default:
		req, err := resource.ParseArgs(args, ns)
		if err != nil {
			return err
		}
		if len(req.Refs) > 0 {
			if o.all || o.selector != "" {
				return usagef("name cannot be provided when a selector or --all is specified")
			}
			refs = req.Refs
			break
		}
		if !o.all && o.selector == "" && o.fieldSelector == "" {
			return usagef("resource(s) were provided, but no name was specified")
		}
		refs, err = listRefs(ctx, d, req.Types, listNS, resource.ListOptions{LabelSelector: o.selector, FieldSelector: o.fieldSelector})
		if err != nil {
			return err
		}
		if len(refs) == 0 {
			noResources(f, req.Types[0], listNS)
			return nil
		}
	}
	var failures []error
	var deleted []deletedRef
	for _, ref := range refs {
		live, err := d.Get(ctx, ref)
		if err == nil {
			uid := live.UID()
			opts.Preconditions = &metav1.Preconditions{UID: &uid}
			err = d.Delete(ctx, ref, opts)
		}
		if err != nil {
			if client.IsNotFound(err) && o.ignoreMissing {
				continue
			}
			failures = append(failures, err)
			continue
		}
		if o.output == "name" {
			fmt.Fprintf(f.IO.Out, "%s\n", ref)
		} else {
			fmt.Fprintf(f.IO.Out, "%s deleted\n", ref.Quoted())
		}
		deleted = append(deleted, deletedRef{ref: ref, uid: live.UID()})
	}
	if o.wait && len(deleted) > 0 && o.gracePeriod != 0 && !(o.force && o.gracePeriod < 0) {
		timeout := o.timeout
		if timeout == 0 {
			timeout = 7 * 24 * time.Hour
		}
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		for _, dr := range deleted {
			if err := waitDeleted(wctx, d, dr.ref, dr.uid); err != nil {
				failures = append(failures, err)
			}
		}
	}
	return errs(failures)
}

type deletedRef struct {
	ref resource.Ref
	uid string
}

// waitDeleted returns once the object with this uid is gone: a 404, another uid under the name, or a
// DELETED watch event.
func waitDeleted(ctx context.Context, d *resource.Dynamic, ref resource.Ref, uid string) error {
	for {
		live, err := d.Get(ctx, ref)
		if client.IsNotFound(err) || (err == nil && live.UID() != uid) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("waiting for the deletion of %s: %w", ref, err)
		}
		events, stop, err := d.Watch(ctx, ref.Resource, ref.Namespace, resource.ListOptions{
			FieldSelector: "metadata.name=" + ref.Name, ResourceVersion: live.ResourceVersion(), TimeoutSeconds: 300,
		}, "")
		if err != nil {
			return fmt.Errorf("waiting for the deletion of %s: %w", ref, err)
		}
		gone := false
		for ev := range events {
			if ev.Type == metav1.Deleted {
				var o resource.Object
				if json.Unmarshal(ev.Object, &o) == nil && o.UID() == uid {
					gone = true
					break
				}
			}
		}
		stop()
		if gone {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("timed out waiting for the deletion of %s", ref)
		}
	}
}
