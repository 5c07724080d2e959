package daemon

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestFlagsValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		check   func(*parsed) bool
	}{
		{"defaults are valid and serve DNS on the cluster DNS address", nil, "",
			func(p *parsed) bool { return p.dnsAddr == "10.96.0.10:53" && len(p.clusterCIDRs) == 1 }},
		{"unknown mode", []string{"--mode=iptables"}, `--mode: "iptables" is not one of auto, nftables, ipvs`, nil},
		{"bad CIDR names the flag", []string{"--nodeport-addresses=10.0.0.0/33"}, "--nodeport-addresses", nil},
		{"cluster DNS outside the service CIDR", []string{"--cluster-dns=10.97.0.10"}, "outside --service-cidr", nil},
		{"DNS can be turned off", []string{"--cluster-dns="}, "", func(p *parsed) bool { return !p.clusterDNS.IsValid() }},
		{"upstreams get port 53", []string{"--dns-upstream=127.0.0.53,[::1]:5353"}, "",
			func(p *parsed) bool { return strings.Join(p.upstreams, ",") == "127.0.0.53:53,[::1]:5353" }},
		{"non-positive sync period", []string{"--sync-period=0s"}, "--sync-period must be positive", nil},
		{"node name is lower-cased", []string{"--node-name=Node-A"}, "", nil},
		{"nftables shards out of range", []string{"--nftables-shards=0"}, "--nftables-shards: 0 is not between 1 and 64", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			cfg.BindFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			p, err := cfg.validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err %v, want one line containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil && !tc.check(p) {
				t.Fatalf("parsed %+v", p)
			}
			if strings.ToLower(cfg.NodeName) != cfg.NodeName || cfg.NodeName == "" {
				t.Fatalf("node name %q", cfg.NodeName)
			}
		})
	}
}
