module github.com/skiffhq/skiff/e2e

go 1.26

require github.com/skiffhq/skiff/shared v0.0.0

replace github.com/skiffhq/skiff/shared => ../shared
