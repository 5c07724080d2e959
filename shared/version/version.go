// Package version holds the build version stamped into every Skiff binary with -ldflags, and the
// Kubernetes-compatible /version document the apiserver serves.
package version

import (
	"fmt"
	"runtime"
)

// Set at build time: go build -ldflags "-X github.com/skiffhq/skiff/shared/version.Version=v0.1.0 ...".
var (
	Version   = "v0.0.0-dev"
	GitCommit = "unknown"
	BuildDate = "1970-01-01T00:00:00Z"
)

// KubernetesMinor is the Kubernetes minor version Skiff's API reports; kubectl's dispatcher picks its
// client by it, and 1.32 is the version Skiff's wire format is checked against.
const KubernetesMinor = "32"

// Info is the /version document, in Kubernetes's shape.
type Info struct {
	Major        string `json:"major"`
	Minor        string `json:"minor"`
	GitVersion   string `json:"gitVersion"`
	GitCommit    string `json:"gitCommit"`
	GitTreeState string `json:"gitTreeState"`
	BuildDate    string `json:"buildDate"`
	GoVersion    string `json:"goVersion"`
	Compiler     string `json:"compiler"`
	Platform     string `json:"platform"`
	SkiffVersion string `json:"skiffVersion,omitempty"`
}

// Get returns the version document of this binary.
func Get() Info {
	return Info{
		Major:        "1",
		Minor:        KubernetesMinor,
		GitVersion:   "v1." + KubernetesMinor + ".0-skiff",
		GitCommit:    GitCommit,
		GitTreeState: "clean",
		BuildDate:    BuildDate,
		GoVersion:    runtime.Version(),
		Compiler:     runtime.Compiler,
		Platform:     runtime.GOOS + "/" + runtime.GOARCH,
		SkiffVersion: Version,
	}
}

// String is the one line a binary prints for --version.
func String(binary string) string {
	return fmt.Sprintf("%s %s (commit %s, built %s, %s)", binary, Version, GitCommit, BuildDate, runtime.Version())
}
