#!/bin/sh
# Starts a local Skiff cluster on this machine (what `make run` runs): builds skiff-local, the launcher
# in e2e/cmd/skiff-local, when the Go toolchain and the source are here, then execs it. Ctrl-C stops the
# cluster cleanly; running the script again resumes it.
#
#   deploy/local-cluster.sh [--home DIR] [--bin DIR] [--nodes N] [other skiff-local flags]
#
# --home  where the cluster keeps its data, logs and kubeconfig (default ~/.skiff)
# --bin   directory of the skiff-* binaries (default: <repo>/bin); skiff-local is built there
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
home="${HOME:-/root}/.skiff"
bin="$repo/bin"
rest=""
while [ $# -gt 0 ]; do
	case "$1" in
	--home) home="$2"; shift 2 ;;
	--home=*) home="${1#--home=}"; shift ;;
	--bin) bin="$2"; shift 2 ;;
	--bin=*) bin="${1#--bin=}"; shift ;;
	-h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) rest="$rest $1"; shift ;;
	esac
done

if [ "$(id -u)" -ne 0 ]; then
	echo "local-cluster.sh: needs root (nodes are network namespaces; containers need cgroups and mounts): sudo $0" >&2
	exit 1
fi
for b in skiff-apiserver skiff-controller-manager skiff-scheduler skiff-nodeagent skiff-netproxy; do
	if [ ! -x "$bin/$b" ]; then
		echo "local-cluster.sh: $bin/$b is missing: run make build (or pass --bin DIR)" >&2
		exit 1
	fi
done
if command -v go >/dev/null 2>&1 && [ -f "$repo/e2e/cmd/skiff-local/main.go" ]; then
	(cd "$repo/e2e" && go build -o "$bin/skiff-local" ./cmd/skiff-local)
fi
if [ ! -x "$bin/skiff-local" ]; then
	echo "local-cluster.sh: $bin/skiff-local is missing and there is no Go toolchain to build it" >&2
	exit 1
fi
# shellcheck disable=SC2086 # the extra flags are words on purpose
exec "$bin/skiff-local" --home "$home" --bin "$bin" $rest
