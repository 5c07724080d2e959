// Command busybox-image builds Skiff's busybox test image from Debian's /bin/busybox and pushes it to a
// registry (--push 127.0.0.1:5000/busybox:latest) and/or writes a `docker save` tarball (--tarball
// out.tar --tag skiff.local/busybox:latest) for a node's --images-dir.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/skiffhq/skiff/shared/testenv/busybox"
)

func main() {
	push := flag.String("push", "", "push the image to this reference (plain HTTP for loopback registries)")
	tarballPath := flag.String("tarball", "", "write a docker save tarball to this path")
	tag := flag.String("tag", "skiff.local/busybox:latest", "reference recorded in the tarball")
	flag.Parse()
	if *push == "" && *tarballPath == "" {
		fmt.Fprintln(os.Stderr, "busybox-image: pass --push <ref> and/or --tarball <path>")
		os.Exit(2)
	}
	if *push != "" {
		if err := busybox.Push(*push); err != nil {
			fmt.Fprintln(os.Stderr, "busybox-image:", err)
			os.Exit(1)
		}
		fmt.Println("pushed", *push)
	}
	if *tarballPath != "" {
		if err := busybox.WriteTarball(*tarballPath, *tag); err != nil {
			fmt.Fprintln(os.Stderr, "busybox-image:", err)
			os.Exit(1)
		}
		fmt.Println("wrote", *tarballPath, "as", *tag)
	}
}
