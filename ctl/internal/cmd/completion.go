package cmd

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/ctl/internal/resource"
	"github.com/skiffhq/skiff/shared/api/resources"
	"github.com/skiffhq/skiff/shared/client"
)

func isNotFound(err error) bool { return client.IsNotFound(err) }

// completeNames lists the names of a resource's objects for shell completion; errors complete nothing.
func completeNames(ctx context.Context, f *Factory, word, prefix string) []string {
	r, ok := resources.Resolve(word)
	if !ok {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d, err := f.Dynamic()
	if err != nil {
		return nil
	}
	ns, _, err := f.Namespace()
	if err != nil {
		return nil
	}
	items, _, err := d.List(ctx, r, ns, resource.ListOptions{})
	if err != nil {
		return nil
	}
	var out []string
	for _, it := range items {
		if strings.HasPrefix(it.Name(), prefix) {
			out = append(out, it.Name())
		}
	}
	return out
}

// resourceWords are the names completion offers for a resource type.
func resourceWords(prefix string) []string {
	var out []string
	for _, r := range resources.All() {
		if r.HasVerb("list") && strings.HasPrefix(r.Plural, prefix) {
			out = append(out, r.Plural)
		}
	}
	if strings.HasPrefix("all", prefix) {
		out = append(out, "all")
	}
	return out
}

// completeTypeThenNames completes a resource type first and object names after it ("TYPE/NAME" too).
func completeTypeThenNames(f *Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			if typ, name, ok := strings.Cut(toComplete, "/"); ok {
				var out []string
				for _, n := range completeNames(cmd.Context(), f, typ, name) {
					out = append(out, typ+"/"+n)
				}
				return out, cobra.ShellCompDirectiveNoFileComp
			}
			return resourceWords(toComplete), cobra.ShellCompDirectiveNoFileComp
		}
		if strings.Contains(args[0], "/") || strings.Contains(args[0], ",") {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return completeNames(cmd.Context(), f, args[0], toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFixedType completes names of one resource type (logs, exec: pods).
func completeFixedType(f *Factory, word string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return completeNames(cmd.Context(), f, word, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}
