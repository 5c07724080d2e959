package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/ctl/internal/apply"
	"github.com/skiffhq/skiff/ctl/internal/printers"
	"github.com/skiffhq/skiff/ctl/internal/resource"
	"github.com/skiffhq/skiff/shared/api/resources"
)

type fileOptions struct {
	filenames []string
	recursive bool
	output    string
}

func (o *fileOptions) bind(c *cobra.Command, what string) {
	c.Flags().StringSliceVarP(&o.filenames, "filename", "f", nil, "files, folders or - (stdin) holding the objects to "+what)
	c.Flags().BoolVarP(&o.recursive, "recursive", "R", false, "read folders given with -f recursively")
	c.Flags().StringVarP(&o.output, "output", "o", "", "print the resulting objects: json|yaml|name|jsonpath=...")
}

func newApply(f *Factory) *cobra.Command {
	o := &fileOptions{}
	c := &cobra.Command{
		Use:   "apply -f FILENAME",
		Short: "Apply a configuration to resources (create them, or merge the change three ways)",
		Example: `  skiffctl apply -f web.yaml
  skiffctl apply -R -f manifests/
  cat web.yaml | skiffctl apply -f -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runFiles(cmd.Context(), f, o, "apply")
		},
	}
	o.bind(c, "apply")
	return c
}

// objectNamespace decides where a namespaced object from a file goes and records it in the object, as
// kubectl does (so the last-applied configuration names it).
func objectNamespace(f *Factory, obj resource.Object, r resources.Resource) (string, error) {
	if !r.Namespaced {
		return "", nil
	}
	ns, explicit, err := f.Namespace()
	if err != nil {
		return "", err
	}
	if objNS := obj.Namespace(); objNS != "" {
		if explicit && objNS != ns {
			return "", fmt.Errorf("the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation", objNS, ns, objNS)
		}
		return objNS, nil
	}
	resource.SetNested(obj, ns, "metadata", "namespace")
	return ns, nil
}

// runFiles creates or applies every object of the -f files, going on after a failure.
func runFiles(ctx context.Context, f *Factory, o *fileOptions, verb string) error {
	srcs, err := resource.ReadFiles(o.filenames, o.recursive, f.IO.In)
	if err != nil {
		if err == resource.ErrNoObjects {
			return fmt.Errorf("no objects passed to %s", verb)
		}
		return err
	}
	var printer printers.ObjectPrinter
	if o.output != "" {
		format, err := printers.ParseFormat(o.output)
		if err != nil {
			return err
		}
		if printer, err = format.Printer(false); err != nil {
			return err
		}
	}
	d, err := f.Dynamic()
	if err != nil {
		return err
	}
	var failures []error
	for _, s := range srcs {
		r, err := s.Object.Resource()
		if err != nil {
			failures = append(failures, fmt.Errorf("%s: %w", s.File, err))
			continue
		}
		if s.Object.Name() == "" && verb == "apply" {
			failures = append(failures, fmt.Errorf("error when retrieving current configuration of %s from %q: resource name may not be empty", r.Kind, s.File))
			continue
		}
		ns, err := objectNamespace(f, s.Object, r)
		if err != nil {
			failures = append(failures, err)
			continue
		}
		var result string
		var obj resource.Object
		switch verb {
		case "create":
			created, err := d.Create(ctx, r, ns, s.Object, nil)
			if err != nil {
				failures = append(failures, withContext(fmt.Sprintf("error when creating %q", s.File), err))
				continue
			}
			obj, result = created, "created"
		default:
			out, err := apply.Apply(ctx, d, s.Object, r, ns)
			if err != nil {
				failures = append(failures, withContext(fmt.Sprintf("error when applying %q", s.File), err))
				continue
			}
			if out.MissingAnnotation {
				warn(f, "resource %s/%s is missing the %s annotation which is required by skiffctl apply. skiffctl apply should only be used on resources created declaratively by either skiffctl create --save-config or skiffctl apply. The missing annotation will be patched automatically.", r.Plural, s.Object.Name(), apply.LastAppliedAnnotation)
			}
			obj, result = out.Object, string(out.Result)
		}
		if printer != nil {
			if err := printer.Print(f.IO.Out, []resource.Object{obj}, false); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(f.IO.Out, "%s/%s %s\n", resource.TypeName(r), obj.Name(), result)
	}
	return errs(failures)
}
