#!/bin/sh
# Installs the Debian packages Skiff's build, tests and local cluster need, if any is missing.
# Safe to run repeatedly; does nothing when everything is present.
set -eu

PACKAGES="containernetworking-plugins busybox-static docker-registry nftables iptables iproute2 kmod"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# docker-registry's maintainer script starts the service; the tests run their own instance instead.
apt-get install -y -qq --no-install-recommends $missing >/dev/null
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi
