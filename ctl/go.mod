module github.com/skiffhq/skiff/ctl

go 1.26.0

require (
	github.com/skiffhq/skiff/shared v0.0.0
	github.com/spf13/cobra v1.10.2
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.1.0 // indirect
)

replace github.com/skiffhq/skiff/shared => ../shared
