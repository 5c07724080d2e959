package staticpod

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const manifest = `apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
spec:
  containers:
  - name: etcd
    image: registry.local/etcd:3.5
`

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etcd.yaml", manifest)
	write("web.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"w","image":"busybox"}]}}`)
	write("notes.txt", "not a manifest")
	write(".hidden.yaml", manifest)
	write("broken.yaml", "metadata: [")
	write("empty.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: empty\n")
	write("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n")

	pods, errs := Load(dir, "node-1")
	if len(pods) != 2 {
		t.Fatalf("loaded %d pods, want etcd and web", len(pods))
	}
	if len(errs) != 3 {
		t.Fatalf("errors %v, want one each for broken, empty and svc", errs)
	}
	for _, want := range []string{"broken.yaml", "spec.containers", "not a Pod"} {
		found := false
		for _, e := range errs {
			found = found || strings.Contains(e.Error(), want)
		}
		if !found {
			t.Fatalf("no error mentions %q: %v", want, errs)
		}
	}
	etcd := pods[0]
	if etcd.Name != "etcd-node-1" || etcd.Namespace != "kube-system" || etcd.Spec.NodeName != "node-1" {
		t.Fatalf("pod %s/%s on %q", etcd.Namespace, etcd.Name, etcd.Spec.NodeName)
	}
	if !IsStatic(etcd) || etcd.Annotations[AnnotationHash] != etcd.UID || etcd.UID == "" {
		t.Fatalf("annotations %v uid %q", etcd.Annotations, etcd.UID)
	}
	if etcd.Spec.RestartPolicy != "Always" || etcd.Spec.Containers[0].ImagePullPolicy == "" {
		t.Fatalf("not defaulted: %+v", etcd.Spec)
	}
	if pods[1].Namespace != "default" {
		t.Fatalf("web namespace %q", pods[1].Namespace)
	}

	again, _ := Load(dir, "node-1")
	if again[0].UID != etcd.UID {
		t.Fatal("the same manifest got a different UID")
	}
	write("etcd.yaml", strings.Replace(manifest, "3.5", "3.6", 1))
	changed, _ := Load(dir, "node-1")
	if changed[0].UID == etcd.UID {
		t.Fatal("a changed manifest kept its UID: the old pod would not be replaced")
	}
	other, _ := Load(dir, "node-2")
	if other[0].UID == changed[0].UID {
		t.Fatal("two nodes gave the same static pod the same UID")
	}
}
