package manager

import (
	"sort"
	"strings"
	"testing"
)

func TestEnabled(t *testing.T) {
	tests := []struct {
		name      string
		flags     []string
		cidrs     bool
		want      string
		wantError bool
	}{
		{"star enables everything but nodeipam without --allocate-node-cidrs", []string{"*"}, false,
			"cronjob,daemonset,deployment,endpoints,endpointslice,garbagecollector,horizontalpodautoscaling,job,namespace,nodelifecycle,persistentvolume-binder,replicaset,serviceaccount,statefulset", false},
		{"star with cidrs enables nodeipam", []string{"*"}, true,
			"cronjob,daemonset,deployment,endpoints,endpointslice,garbagecollector,horizontalpodautoscaling,job,namespace,nodeipam,nodelifecycle,persistentvolume-binder,replicaset,serviceaccount,statefulset", false},
		{"a minus removes one", []string{"*", "-garbagecollector", "-endpointslice"}, false,
			"cronjob,daemonset,deployment,endpoints,horizontalpodautoscaling,job,namespace,nodelifecycle,persistentvolume-binder,replicaset,serviceaccount,statefulset", false},
		{"names alone enable only those", []string{"replicaset", "deployment"}, false, "deployment,replicaset", false},
		{"an unknown name is an error", []string{"*", "-nosuch"}, false, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.Controllers, c.AllocateNodeCIDRs = tc.flags, tc.cidrs
			on, err := c.Enabled()
			if (err != nil) != tc.wantError {
				t.Fatalf("err = %v", err)
			}
			var names []string
			for n := range on {
				names = append(names, n)
			}
			sort.Strings(names)
			if got := strings.Join(names, ","); !tc.wantError && got != tc.want {
				t.Fatalf("enabled = %s, want %s", got, tc.want)
			}
		})
	}
}
