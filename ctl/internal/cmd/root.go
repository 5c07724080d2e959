package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/shared/version"
)

// NewRoot builds the skiffctl command tree over the given streams.
func NewRoot(streams Streams) *cobra.Command {
	opts := &GlobalOptions{}
	f := &Factory{Opts: opts, IO: streams}
	root := &cobra.Command{
		Use:           "skiffctl",
		Short:         "skiffctl drives a Skiff (or Kubernetes) cluster through its API",
		Long:          "skiffctl drives a Skiff (or Kubernetes) cluster through its API. It reads the same kubeconfig as kubectl\n(--kubeconfig, $KUBECONFIG, ~/.kube/config) and falls back to " + DefaultServer + " when there is none.",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version prints the client build in one line; `skiffctl version` also asks the server.
		Version: version.Get().SkiffVersion,
	}
	root.SetVersionTemplate(version.String("skiffctl") + "\n")
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	pf := root.PersistentFlags()
	pf.StringVar(&opts.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file to use")
	pf.StringVar(&opts.Context, "context", "", "the name of the kubeconfig context to use")
	pf.StringVarP(&opts.Namespace, "namespace", "n", "", "the namespace scope for this request")
	pf.BoolVarP(&opts.AllNamespaces, "all-namespaces", "A", false, "work across all namespaces (get, describe, delete, wait)")
	pf.StringVarP(&opts.Server, "server", "s", "", "the address of the API server")
	pf.StringVar(&opts.Token, "token", "", "bearer token for authentication to the API server")
	pf.StringVar(&opts.RequestTimeout, "request-timeout", "0", "how long to wait for a single request before giving up (e.g. 1s, 2m); 0 waits forever")
	_ = root.RegisterFlagCompletionFunc("namespace", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return completeNames(cmd.Context(), f, "namespaces", toComplete), cobra.ShellCompDirectiveNoFileComp
	})
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%v (see '%s --help')", err, c.CommandPath())
	})

	for _, add := range []func(*Factory) *cobra.Command{
		newGet, newCreate, newApply, newDelete, newDescribe, newLogs, newExec,
		newScale, newLabel, newAnnotate, newPatch, newEdit, newRollout, newSet, newExpose, newRun,
		newCordon, newUncordon, newDrain, newWait, newTop, newPortForward,
		newVersion, newAPIResources, newClusterInfo, newConfig,
	} {
		root.AddCommand(add(f))
	}
	return root
}

// Execute runs skiffctl with args and returns the process exit code.
func Execute(args []string, streams Streams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRoot(streams)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return 130
	}
	return PrintError(streams.ErrOut, err)
}

// exactArgs and friends report argument mistakes in one line.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected arguments %q (see '%s --help')", args, cmd.CommandPath())
	}
	return nil
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s (see '%s --help')", what, cmd.CommandPath())
		}
		return nil
	}
}

func warn(f *Factory, format string, a ...any) {
	fmt.Fprintf(f.IO.ErrOut, "Warning: "+format+"\n", a...)
}
