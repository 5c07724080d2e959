package client_test

import (
	"context"
	"io"
	"reflect"
	"testing"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/api/resources"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/internal/fakeapiserver"
)

// TestClientsetCoversTable: every listable resource of the served table has a Clientset field with the
// same group, version, plural and scope, and no field points elsewhere.
func TestClientsetCoversTable(t *testing.T) {
	cs := client.NewClientset(newClient(t, "http://127.0.0.1:1"))
	have := map[client.ResourceInfo]string{}
	v := reflect.ValueOf(cs).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		info := f.MethodByName("Info")
		if !info.IsValid() {
			continue
		}
		have[info.Call(nil)[0].Interface().(client.ResourceInfo)] = v.Type().Field(i).Name
	}
	want := map[client.ResourceInfo]bool{}
	for _, r := range resources.All() {
		if !r.HasVerb("list") {
			continue
		}
		info := client.InfoFor(r)
		want[info] = true
		if _, ok := have[info]; !ok {
			t.Errorf("no Clientset field for %s", info)
		}
	}
	for info, field := range have {
		if !want[info] {
			t.Errorf("Clientset.%s is %s, which is not a listable served resource", field, info)
		}
	}
}

func TestClientsetPods(t *testing.T) {
	ctx := context.Background()
	fake := fakeapiserver.New(t)
	cs := client.NewClientset(newClient(t, fake.URL()))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	created, err := cs.Pods.Create(ctx, "", pod, client.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Kind != "Pod" || created.APIVersion != "v1" || created.UID == "" {
		t.Errorf("created %+v", created.TypeMeta)
	}
	if err := cs.BindPod(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Target: corev1.ObjectReference{Kind: "Node", Name: "node1"}}); err != nil {
		t.Fatal(err)
	}
	got, err := cs.Pods.Get(ctx, "default", "web", client.GetOptions{})
	if err != nil || got.Spec.NodeName != "node1" {
		t.Fatalf("after binding: %v, nodeName %q", err, got.Spec.NodeName)
	}
	two := int64(2)
	rc, err := cs.PodLogs(ctx, "default", "web", client.PodLogOptions{Container: "c", TailLines: &two})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "web line 1\nweb line 2\n" {
		t.Errorf("logs %q", b)
	}
	if _, err := client.For[corev1.PodSpec](cs.Client); err == nil {
		t.Error("For of a non-object type succeeded")
	}
}
