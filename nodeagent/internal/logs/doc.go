// Package logs provides the container log files of the node agent: a writer that stamps each line of a
// container's stdout and stderr in the CRI log format ("<RFC3339Nano> <stream> <F|P> <text>") and
// rotates the file by size, and a reader that serves those files with the options of `kubectl logs`
// (follow, tailLines, timestamps, sinceTime, limitBytes).
//
// The writer runs in the container's shim, not in the agent, so logs keep flowing while the agent is
// restarted. It does not compress or ship logs anywhere.
package logs
