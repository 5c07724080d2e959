// Command skiffctl is Skiff's command line. The commands live in internal/cmd.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/shared/version"
)

func main() {
	root := &cobra.Command{
		Use:           "skiffctl",
		Short:         "skiffctl drives a Skiff (or Kubernetes) cluster through its API",
		Version:       version.Get().SkiffVersion,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate(version.String("skiffctl") + "\n")
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
