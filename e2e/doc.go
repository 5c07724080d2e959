// Package e2e holds Skiff's end-to-end suite: it starts the real binaries and real containers and checks
// whole user stories. The tests need root and build tag e2e; run them with `make e2e`.
package e2e
