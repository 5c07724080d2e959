package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiffhq/skiff/shared/client"
)

func TestLeaderElectionHoldsTheLeaseAndRuns(t *testing.T) {
	e := newEnv(t, "--leader-elect=true", "--leader-elect-identity", "cm-a")
	newFakeAgent(e, "n1")
	c := ctx(t)
	eventually(t, "the leader lease held by cm-a", 20*time.Second, func() string {
		l, err := e.leases.Get(c, "kube-system", "skiff-controller-manager", client.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != "cm-a" {
			return fmt.Sprintf("holder %v", l.Spec.HolderIdentity)
		}
		return ""
	})
	if _, err := e.sets.Create(c, "default", newRS("led", 2), client.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the leader to run the replicaset controller", 20*time.Second, func() string {
		if n, r := active(e.listPods("default", "app=led")); n != 2 || r != 2 {
			return fmt.Sprintf("%d pods %d ready", n, r)
		}
		return ""
	})
}
