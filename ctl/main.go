// Command skiffctl is Skiff's command line. The commands live in internal/cmd.
package main

import (
	"os"

	"github.com/skiffhq/skiff/ctl/internal/cmd"
)

func main() {
	os.Exit(cmd.Execute(os.Args[1:], cmd.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
}
