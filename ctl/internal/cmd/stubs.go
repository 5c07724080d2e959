package cmd

import "github.com/spf13/cobra"

func stub(use string) func(*Factory) *cobra.Command {
	return func(*Factory) *cobra.Command {
		return &cobra.Command{Use: use, Hidden: true, RunE: func(*cobra.Command, []string) error { return usagef("%s is not implemented yet", use) }}
	}
}

var (
	newDescribe    = stub("describe")
	newLogs        = stub("logs")
	newExec        = stub("exec")
	newScale       = stub("scale")
	newLabel       = stub("label")
	newAnnotate    = stub("annotate")
	newPatch       = stub("patch")
	newEdit        = stub("edit")
	newRollout     = stub("rollout")
	newSet         = stub("set")
	newExpose      = stub("expose")
	newRun         = stub("run")
	newCordon      = stub("cordon")
	newUncordon    = stub("uncordon")
	newDrain       = stub("drain")
	newWait        = stub("wait")
	newTop         = stub("top")
	newPortForward = stub("port-forward")
)
