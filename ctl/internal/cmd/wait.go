package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/util/jsonpath"

	"github.com/skiffhq/skiff/ctl/internal/progress"
	"github.com/skiffhq/skiff/ctl/internal/resource"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
)

// condition is a parsed --for.
type condition struct {
	kind string // "condition", "delete", "jsonpath", "create"
	// name and value of condition=Name[=Value] (value defaults to True).
	name, value string
	jp          *jsonpath.JSONPath
	expr        string
}

// parseFor reads --for=delete, --for=create, --for=condition=Ready[=True] or --for=jsonpath='{.x}'=value.
func parseFor(s string) (*condition, error) {
	switch {
	case s == "delete":
		return &condition{kind: "delete"}, nil
	case s == "create":
		return &condition{kind: "create"}, nil
	case strings.HasPrefix(s, "condition="):
		rest := strings.TrimPrefix(s, "condition=")
		name, value, ok := strings.Cut(rest, "=")
		if !ok {
			value = "True"
		}
		if name == "" {
			return nil, usagef("--for=condition needs a condition name")
		}
		return &condition{kind: "condition", name: name, value: value}, nil
	case strings.HasPrefix(s, "jsonpath="):
		rest := strings.TrimPrefix(s, "jsonpath=")
		expr, value := rest, ""
		if i := strings.LastIndex(rest, "}="); i >= 0 {
			expr, value = rest[:i+1], rest[i+2:]
		} else if !strings.HasPrefix(rest, "{") {
			if e, v, ok := strings.Cut(rest, "="); ok {
				expr, value = e, v
			}
		}
		if !strings.HasPrefix(expr, "{") {
			expr = "{" + expr + "}"
		}
		jp := jsonpath.New("wait").AllowMissingKeys(true)
		if err := jp.Parse(expr); err != nil {
			return nil, usagef("invalid --for jsonpath %q: %v", expr, err)
		}
		return &condition{kind: "jsonpath", jp: jp, expr: expr, value: value}, nil
	}
	return nil, usagef("unrecognized --for %q: use delete, create, condition=NAME[=VALUE] or jsonpath='{...}'=VALUE", s)
}

// met reports whether obj satisfies the condition, and what was seen (for progress).
func (c *condition) met(obj resource.Object) (bool, string) {
	switch c.kind {
	case "create":
		return true, "created"
	case "condition":
		conds, _ := resource.Nested(obj, "status", "conditions")
		list, _ := conds.([]any)
		for _, it := range list {
			m, _ := it.(map[string]any)
			t, _ := m["type"].(string)
			if strings.EqualFold(t, c.name) {
				st, _ := m["status"].(string)
				// Conditions that describe an older generation do not count.
				if og, ok := m["observedGeneration"].(float64); ok {
					if g, _ := resource.Nested(obj, "metadata", "generation"); g != nil && og < g.(float64) {
						return false, fmt.Sprintf("condition %s=%s is for an older generation", t, st)
					}
				}
				return strings.EqualFold(st, c.value), fmt.Sprintf("condition %s=%s", t, st)
			}
		}
		return false, fmt.Sprintf("no condition %s yet", c.name)
	case "jsonpath":
		var doc any
		b, _ := json.Marshal(obj)
		_ = json.Unmarshal(b, &doc)
		var buf bytes.Buffer
		if err := c.jp.Execute(&buf, doc); err != nil {
			return false, err.Error()
		}
		got := buf.String()
		if c.value == "" {
			return got != "", fmt.Sprintf("%s is %q", c.expr, got)
		}
		return got == c.value, fmt.Sprintf("%s is %q", c.expr, got)
	}
	return false, ""
}

func newWait(f *Factory) *cobra.Command {
	var forSpec, selector string
	var all bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "wait (TYPE NAME | TYPE/NAME | TYPE -l SELECTOR | TYPE --all) --for=CONDITION",
		Short: "Wait until objects meet a condition, are created or are deleted",
		Example: `  skiffctl wait --for=condition=Available deployment/web --timeout=2m
  skiffctl wait --for=delete pod/web-1
  skiffctl wait --for=jsonpath='{.status.phase}'=Running pod/web-1`,
		ValidArgsFunction: completeTypeThenNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			cond, err := parseFor(forSpec)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			var refs []resource.Ref
			if cond.kind == "create" || cond.kind == "delete" {
				if refs, err = namedRefs(f, args); err != nil && selector == "" && !all {
					return err
				}
			}
			if len(refs) == 0 {
				if refs, err = selectedRefs(ctx, f, args, selector, all); err != nil {
					return err
				}
			}
			if len(refs) == 0 {
				return fmt.Errorf("no matching resources found")
			}
			d, err := f.Dynamic()
			if err != nil {
				return err
			}
			rep := progress.New(f.IO.Out)
			stop := make(chan struct{})
			defer close(stop)
			go rep.Run(stop)
			var failures []error
			for _, ref := range refs {
				if err := waitOne(ctx, d, ref, cond, rep); err != nil {
					rep.Done("")
					failures = append(failures, err)
					continue
				}
				rep.Done(fmt.Sprintf("%s condition met", ref))
			}
			return errs(failures)
		},
	}
	c.Flags().StringVar(&forSpec, "for", "", "delete, create, condition=NAME[=VALUE] or jsonpath='{...}'=VALUE (required)")
	c.Flags().StringVarP(&selector, "selector", "l", "", "wait for every object matching this selector")
	c.Flags().BoolVar(&all, "all", false, "wait for every object of the type")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long; 0 waits forever")
	_ = c.MarkFlagRequired("for")
	return c
}

func waitOne(ctx context.Context, d *resource.Dynamic, ref resource.Ref, cond *condition, rep *progress.Reporter) error {
	timedOut := func(seen string) error {
		return fmt.Errorf("timed out waiting for the condition on %s (last seen: %s)", ref, seen)
	}
	seen := "nothing yet"
	for {
		obj, err := d.Get(ctx, ref)
		switch {
		case client.IsNotFound(err):
			if cond.kind == "delete" {
				return nil
			}
			seen = "not found"
		case err != nil:
			if ctx.Err() != nil {
				return timedOut(seen)
			}
			return err
		default:
			if cond.kind == "delete" {
				seen = "still present"
			} else {
				ok, s := cond.met(obj)
				seen = s
				if ok {
					return nil
				}
			}
		}
		rep.Update(fmt.Sprintf("waiting for %s: %s", ref, seen))
		rv := ""
		if obj != nil {
			rv = obj.ResourceVersion()
		}
		events, stopWatch, err := d.Watch(ctx, ref.Resource, ref.Namespace, resource.ListOptions{FieldSelector: "metadata.name=" + ref.Name, ResourceVersion: rv, TimeoutSeconds: 120}, "")
		if err != nil {
			if ctx.Err() != nil {
				return timedOut(seen)
			}
			return err
		}
		for ev := range events {
			var o resource.Object
			if ev.Type == metav1.Bookmark || json.Unmarshal(ev.Object, &o) != nil {
				continue
			}
			if ev.Type == metav1.Deleted {
				if cond.kind == "delete" {
					stopWatch()
					return nil
				}
				seen = "deleted"
				continue
			}
			if cond.kind == "delete" {
				continue
			}
			ok, s := cond.met(o)
			seen = s
			if ok {
				stopWatch()
				return nil
			}
			rep.Update(fmt.Sprintf("waiting for %s: %s", ref, seen))
		}
		stopWatch()
		if ctx.Err() != nil {
			return timedOut(seen)
		}
	}
}
