package registry_test

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/skiffhq/skiff/shared/testenv/busybox"
	"github.com/skiffhq/skiff/shared/testenv/registry"
)

func TestPushAndPull(t *testing.T) {
	ref := registry.Start(t) + "/skiff/busybox:test"
	if err := busybox.Push(ref, "sh"); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatalf("pulling %s back: %v", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Cmd; len(got) != 1 || got[0] != "sh" {
		t.Errorf("pulled image command %q, want [sh]", got)
	}
}
