// Package cmd holds skiffctl's commands: one cobra command per verb, built over a Factory that turns
// the global flags (--kubeconfig, --context, -n, -A, --server, --request-timeout) into API clients.
// Execute runs the root command and maps every failure to one line on stderr and an exit code.
//
// Printing lives in internal/printers, manifest reading and the untyped client in internal/resource,
// apply's three-way merge in internal/apply, describe's text in internal/describe and exec's stream
// protocol in internal/remotecommand.
package cmd
