//go:build e2e

package e2e

import "flag"

// skiffBin is the directory holding the built binaries (make e2e passes <repo>/bin).
var skiffBin = flag.String("skiff-bin", "../bin", "directory of the skiff binaries under test")
