//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
	"github.com/skiffhq/skiff/shared/client"
	"github.com/skiffhq/skiff/shared/informer"
)

// restartableAPIServer is a skiff-apiserver process on a fixed port and data dir that a test can stop
// and start again.
type restartableAPIServer struct {
	t         *testing.T
	bin, dir  string
	port      int
	cmd       *exec.Cmd
	done      chan error
	startings int
}

func (a *restartableAPIServer) url() string { return fmt.Sprintf("http://127.0.0.1:%d", a.port) }

func (a *restartableAPIServer) start() {
	a.t.Helper()
	a.startings++
	log, err := os.Create(filepath.Join(a.dir, fmt.Sprintf("apiserver-%d.log", a.startings)))
	if err != nil {
		a.t.Fatal(err)
	}
	a.cmd = exec.Command(a.bin, "--port", fmt.Sprint(a.port), "--data-dir", filepath.Join(a.dir, "etcd"))
	a.cmd.Stdout, a.cmd.Stderr = log, log
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.done = make(chan error, 1)
	go func(cmd *exec.Cmd) { a.done <- cmd.Wait(); log.Close() }(a.cmd)
	waitHTTP200(a.t, a.url()+"/readyz", 60*time.Second)
}

func (a *restartableAPIServer) stop() {
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
	a.cmd = nil
}

// TestInformerAgainstTheRealAPIServer runs shared/informer against skiff-apiserver across a restart of
// the apiserver: every object the API holds ends up in the cache exactly as stored, each object is
// reported added exactly once, and updates and deletes made after the restart are all seen.
func TestInformerAgainstTheRealAPIServer(t *testing.T) {
	api := &restartableAPIServer{t: t, bin: apiserverBinary(t), dir: t.TempDir(), port: freeLoopbackPort(t)}
	api.start()
	t.Cleanup(api.stop)

	cs, err := client.NewForConfig(&client.Config{Server: api.url()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	adds := map[string]int{}
	deleted := map[string]bool{}
	inf := informer.New[corev1.ConfigMap](cs.ConfigMaps, informer.Options{Namespace: "default", MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
	inf.AddHandler(informer.Handler[corev1.ConfigMap]{
		OnAdd:    func(cm *corev1.ConfigMap) { mu.Lock(); adds[cm.Name]++; mu.Unlock() },
		OnDelete: func(cm *corev1.ConfigMap) { mu.Lock(); deleted[cm.Name] = true; mu.Unlock() },
	})
	go func() { _ = inf.Run(ctx) }()
	if !informer.WaitForCacheSync(ctx, inf) {
		t.Fatal("informer never synced")
	}

	create := func(name string) {
		t.Helper()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": "1"}}
		if _, err := cs.ConfigMaps.Create(ctx, "default", cm, client.CreateOptions{}); err != nil {
			t.Fatalf("creating %s: %v", name, err)
		}
	}
	for i := range 20 {
		create(fmt.Sprintf("before-%02d", i))
	}
	api.stop()
	api.start()
	for i := range 20 {
		create(fmt.Sprintf("after-%02d", i))
	}
	cur, err := cs.ConfigMaps.Get(ctx, "default", "before-00", client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Data["v"] = "2"
	if _, err := cs.ConfigMaps.Update(ctx, "default", cur, client.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.ConfigMaps.Delete(ctx, "default", "before-01", nil); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for {
		list, err := cs.ConfigMaps.List(ctx, "default", client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for _, cm := range list.Items {
			want[cm.Name] = cm.ResourceVersion
		}
		got := map[string]string{}
		for _, cm := range inf.List() {
			got[cm.Name] = cm.ResourceVersion
		}
		mu.Lock()
		del := deleted["before-01"]
		mu.Unlock()
		if fmt.Sprint(got) == fmt.Sprint(want) && del {
			break
		}
		last = fmt.Sprintf("cache has %d objects, API has %d; delete seen: %v", len(got), len(want), del)
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for the cache to match the API; last saw: %s", last)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if cm, ok := inf.Get("default/before-00"); !ok || cm.Data["v"] != "2" {
		t.Fatalf("the update made after the restart is not in the cache: %+v", cm)
	}
	mu.Lock()
	defer mu.Unlock()
	for name, n := range adds {
		if n != 1 {
			t.Errorf("%s was reported added %d times, want once", name, n)
		}
	}
	if len(adds) != 40 {
		t.Errorf("%d objects reported added, want 40", len(adds))
	}
}
