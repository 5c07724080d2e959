package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/ctl/internal/printers"
	"github.com/skiffhq/skiff/ctl/internal/resource"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
)

type getOptions struct {
	output        string
	selector      string
	fieldSelector string
	watch         bool
	watchOnly     bool
	showLabels    bool
	labelColumns  []string
	noHeaders     bool
	showKind      bool
	ignoreMissing bool
	filenames     []string
	recursive     bool
}

func newGet(f *Factory) *cobra.Command {
	o := &getOptions{}
	c := &cobra.Command{
		Use:   "get (TYPE[,TYPE...] [NAME...] | TYPE/NAME ... | -f FILE) [flags]",
		Short: "Display one or many resources",
		Example: `  skiffctl get pods -o wide
  skiffctl get deploy,rs,pods -l app=web
  skiffctl get all -A
  skiffctl get pod web-1 -o jsonpath='{.status.podIP}'
  skiffctl get pods -w`,
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGet(cmd.Context(), f, o, args)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&o.output, "output", "o", "", "output format: wide|json|yaml|name|jsonpath=TEMPLATE|custom-columns=SPEC")
	fl.StringVarP(&o.selector, "selector", "l", "", "label selector (e.g. app=web,tier!=db)")
	fl.StringVar(&o.fieldSelector, "field-selector", "", "field selector (e.g. status.phase=Running)")
	fl.BoolVarP(&o.watch, "watch", "w", false, "after listing, watch for changes")
	fl.BoolVar(&o.watchOnly, "watch-only", false, "watch for changes without listing first")
	fl.BoolVar(&o.showLabels, "show-labels", false, "show all labels as the last column")
	fl.StringSliceVarP(&o.labelColumns, "label-columns", "L", nil, "label keys to show as columns")
	fl.BoolVar(&o.noHeaders, "no-headers", false, "don't print headers")
	fl.BoolVar(&o.showKind, "show-kind", false, "prefix names with their kind")
	fl.BoolVar(&o.ignoreMissing, "ignore-not-found", false, "treat a missing named object as success")
	fl.StringSliceVarP(&o.filenames, "filename", "f", nil, "files naming the objects to get")
	fl.BoolVarP(&o.recursive, "recursive", "R", false, "read folders given with -f recursively")
	_ = c.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"wide", "json", "yaml", "name", "jsonpath=", "custom-columns="}, cobra.ShellCompDirectiveNoFileComp
	})
	return c
}

// target is one type's part of a get: a whole collection or some named objects.
type target struct {
	res   resources.Resource
	names []string
}

func buildTargets(f *Factory, args []string, filenames []string, recursive bool) (targets []target, multi, all bool, err error) {
	ns, _, err := f.Namespace()
	if err != nil {
		return nil, false, false, err
	}
	index := map[string]int{}
	addRef := func(r resources.Resource, name string) {
		k := r.GroupResource()
		i, ok := index[k]
		if !ok {
			i = len(targets)
			index[k] = i
			targets = append(targets, target{res: r})
		}
		if name != "" {
			targets[i].names = append(targets[i].names, name)
		}
	}
	if len(filenames) > 0 {
		if len(args) > 0 {
			return nil, false, false, usagef("arguments and -f cannot be combined")
		}
		srcs, err := resource.ReadFiles(filenames, recursive, f.IO.In)
		if err != nil {
			return nil, false, false, err
		}
		for _, s := range srcs {
			r, err := s.Object.Resource()
			if err != nil {
				return nil, false, false, err
			}
			addRef(r, s.Object.Name())
		}
		return targets, len(targets) > 1, false, nil
	}
	req, err := resource.ParseArgs(args, ns)
	if err != nil {
		return nil, false, false, err
	}
	for _, r := range req.Types {
		addRef(r, "")
	}
	for _, ref := range req.Refs {
		addRef(ref.Resource, ref.Name)
	}
	return targets, req.Multi, req.All, nil
}

func runGet(ctx context.Context, f *Factory, o *getOptions, args []string) error {
	format, err := printers.ParseFormat(o.output)
	if err != nil {
		return err
	}
	if len(args) == 0 && len(o.filenames) == 0 {
		return usagef("you must specify the type of resource to get. Use \"skiffctl api-resources\" for a complete list of supported resources")
	}
	targets, multi, _, err := buildTargets(f, args, o.filenames, o.recursive)
	if err != nil {
		return err
	}
	if (o.watch || o.watchOnly) && len(targets) > 1 {
		return usagef("watch is only supported on individual resources and resource collections, but %d resources were found", len(targets))
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
	opts := resource.ListOptions{LabelSelector: o.selector, FieldSelector: o.fieldSelector}
	out := f.IO.Out
	var failures []error
	named := false
	for _, t := range targets {
		if len(t.names) > 0 {
			named = true
		}
	}

	if format.IsTable() {
		printed := 0
		var lastRV string
		for _, t := range targets {
			if o.watchOnly {
				break
			}
			table, rv, errsHere := getTable(ctx, d, t, listNS, opts, o.ignoreMissing)
			failures = append(failures, errsHere...)
			lastRV = rv
			if table == nil || len(table.Rows) == 0 {
				continue
			}
			if printed > 0 {
				fmt.Fprintln(out)
			}
			tw := printers.NewTabWriter(out)
			if err := printers.PrintTable(tw, table, tableOptions(f, o, format, t.res, multi || o.showKind)); err != nil {
				return err
			}
			tw.Flush()
			printed++
		}
		if printed == 0 && !named && len(failures) == 0 && !o.watch && !o.watchOnly {
			noResources(f, t0(targets), listNS)
		}
		if o.watch || o.watchOnly {
			return watchTable(ctx, f, d, targets[0], listNS, opts, lastRV, tableOptions(f, o, format, targets[0].res, o.showKind), printed > 0)
		}
		return errs(failures)
	}

	printer, err := format.Printer(o.noHeaders)
	if err != nil {
		return err
	}
	var objs []resource.Object
	var lastRV string
	for _, t := range targets {
		if o.watchOnly {
			break
		}
		got, rv, errsHere := getObjects(ctx, d, t, listNS, opts, o.ignoreMissing)
		failures = append(failures, errsHere...)
		objs = append(objs, got...)
		lastRV = rv
	}
	single := len(targets) == 1 && len(targets[0].names) == 1
	if !o.watchOnly && (len(objs) > 0 || !single) {
		if len(objs) == 0 && !named && format.Name != "json" && format.Name != "yaml" {
			noResources(f, t0(targets), listNS)
		} else if err := printer.Print(out, objs, !single); err != nil {
			return err
		}
	}
	if o.watch || o.watchOnly {
		return watchObjects(ctx, d, targets[0], listNS, opts, lastRV, printer, out)
	}
	return errs(failures)
}

func t0(ts []target) resources.Resource { return ts[0].res }

func noResources(f *Factory, r resources.Resource, ns string) {
	if ns == "" || !r.Namespaced {
		fmt.Fprintln(f.IO.ErrOut, "No resources found")
		return
	}
	fmt.Fprintf(f.IO.ErrOut, "No resources found in %s namespace.\n", ns)
}

func tableOptions(f *Factory, o *getOptions, format printers.Format, r resources.Resource, withKind bool) printers.TableOptions {
	to := printers.TableOptions{
		Wide:          format.Name == "wide",
		NoHeaders:     o.noHeaders,
		WithNamespace: f.Opts.AllNamespaces && r.Namespaced,
		ShowLabels:    o.showLabels,
		LabelColumns:  o.labelColumns,
	}
	if withKind {
		to.Kind = resource.TypeName(r)
	}
	return to
}

// getTable fetches one target as a single Table (named objects' rows are concatenated).
func getTable(ctx context.Context, d *resource.Dynamic, t target, ns string, opts resource.ListOptions, ignoreMissing bool) (*resource.Table, string, []error) {
	if len(t.names) == 0 {
		table, err := d.GetTable(ctx, t.res, ns, "", opts)
		if err != nil {
			return nil, "", []error{err}
		}
		return table, table.Metadata.ResourceVersion, nil
	}
	var merged *resource.Table
	var failures []error
	for _, name := range t.names {
		if ns == "" && t.res.Namespaced {
			return nil, "", []error{usagef("a resource cannot be retrieved by name across all namespaces")}
		}
		table, err := d.GetTable(ctx, t.res, ns, name, opts)
		if err != nil {
			if ignoreMissing && isNotFound(err) {
				continue
			}
			failures = append(failures, err)
			continue
		}
		if merged == nil {
			merged = table
		} else {
			merged.Rows = append(merged.Rows, table.Rows...)
		}
	}
	if merged == nil {
		return nil, "", failures
	}
	return merged, merged.Metadata.ResourceVersion, failures
}

func getObjects(ctx context.Context, d *resource.Dynamic, t target, ns string, opts resource.ListOptions, ignoreMissing bool) ([]resource.Object, string, []error) {
	if len(t.names) == 0 {
		items, rv, err := d.List(ctx, t.res, ns, opts)
		if err != nil {
			return nil, "", []error{err}
		}
		return items, rv, nil
	}
	var out []resource.Object
	var failures []error
	var rv string
	for _, name := range t.names {
		if ns == "" && t.res.Namespaced {
			return nil, "", []error{usagef("a resource cannot be retrieved by name across all namespaces")}
		}
		obj, err := d.Get(ctx, resource.Ref{Resource: t.res, Namespace: ns, Name: name})
		if err != nil {
			if ignoreMissing && isNotFound(err) {
				continue
			}
			failures = append(failures, err)
			continue
		}
		rv = obj.ResourceVersion()
		out = append(out, obj)
	}
	return out, rv, failures
}

func watchOpts(t target, opts resource.ListOptions, rv string) resource.ListOptions {
	w := opts
	w.ResourceVersion = rv
	if len(t.names) == 1 {
		w.FieldSelector = "metadata.name=" + t.names[0]
		if rv == "" {
			w.ResourceVersion = "0"
		}
	}
	return w
}

func watchTable(ctx context.Context, f *Factory, d *resource.Dynamic, t target, ns string, opts resource.ListOptions, rv string, to printers.TableOptions, headersPrinted bool) error {
	events, stop, err := d.Watch(ctx, t.res, ns, watchOpts(t, opts, rv), resource.TableAccept)
	if err != nil {
		return err
	}
	defer stop()
	tw := printers.NewTabWriter(f.IO.Out)
	var columns []resource.TableColumn
	for ev := range events {
		switch ev.Type {
		case metav1.Error:
			var st metav1.Status
			_ = json.Unmarshal(ev.Object, &st)
			return fmt.Errorf("watch ended: %s", st.Message)
		case metav1.Bookmark:
			continue
		}
		var table resource.Table
		if err := json.Unmarshal(ev.Object, &table); err != nil || table.Kind != "Table" {
			continue
		}
		if len(table.ColumnDefinitions) > 0 {
			columns = table.ColumnDefinitions
		}
		table.ColumnDefinitions = columns
		eo := to
		eo.NoHeaders = to.NoHeaders || headersPrinted
		if err := printers.PrintTable(tw, &table, eo); err != nil {
			return err
		}
		headersPrinted = true
		tw.Flush()
	}
	return ctx.Err()
}

func watchObjects(ctx context.Context, d *resource.Dynamic, t target, ns string, opts resource.ListOptions, rv string, p printers.ObjectPrinter, out io.Writer) error {
	events, stop, err := d.Watch(ctx, t.res, ns, watchOpts(t, opts, rv), "")
	if err != nil {
		return err
	}
	defer stop()
	_, isYAML := p.(printers.YAMLPrinter)
	first := true
	for ev := range events {
		if ev.Type == metav1.Bookmark || ev.Type == metav1.Error {
			continue
		}
		var obj resource.Object
		if err := json.Unmarshal(ev.Object, &obj); err != nil {
			continue
		}
		if isYAML && !first {
			fmt.Fprintln(out, "---")
		}
		first = false
		if err := p.Print(out, []resource.Object{obj}, false); err != nil {
			return err
		}
	}
	return ctx.Err()
}
