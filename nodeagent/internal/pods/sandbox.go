package pods

import (
	"fmt"
	"os"
	"strings"

	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
)

// DNSConfig is the cluster DNS the pods of this node use.
type DNSConfig struct {
	Servers []string // --cluster-dns
	Domain  string   // --cluster-domain, "cluster.local"
	// HostResolvConf is the node's resolv.conf, used by dnsPolicy Default.
	HostResolvConf string
}

// podHostname is the pod's hostname: spec.hostname or the pod name, cut to 63 characters.
func podHostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// hostsFile is the pod's /etc/hosts, as the kubelet writes it.
func hostsFile(pod *corev1.Pod, podIPs []string, domain string) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	host := podHostname(pod)
	for _, ip := range podIPs {
		if pod.Spec.Subdomain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", ip, host, pod.Spec.Subdomain, pod.Namespace, domain, host)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, host)
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.String()
}

// resolvConf is the pod's /etc/resolv.conf for its dnsPolicy and dnsConfig.
func resolvConf(pod *corev1.Pod, dns DNSConfig) string {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault
	}
	var servers, searches, options []string
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		if len(dns.Servers) == 0 {
			servers, searches, options = parseResolvConf(dns.HostResolvConf)
			break
		}
		servers = append(servers, dns.Servers...)
		searches = []string{pod.Namespace + ".svc." + dns.Domain, "svc." + dns.Domain, dns.Domain}
		_, hostSearch, _ := parseResolvConf(dns.HostResolvConf)
		searches = append(searches, hostSearch...)
		options = []string{"ndots:5"}
	case corev1.DNSDefault:
		servers, searches, options = parseResolvConf(dns.HostResolvConf)
	case corev1.DNSNone:
	}
	if c := pod.Spec.DNSConfig; c != nil {
		servers = append(servers, c.Nameservers...)
		searches = append(searches, c.Searches...)
		for _, o := range c.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			options = append(options, opt)
		}
	}
	if len(searches) > 32 {
		searches = searches[:32]
	}
	var b strings.Builder
	if len(searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(searches, " "))
	}
	for i, s := range servers {
		if i == 3 {
			break // resolv.conf honours three nameservers
		}
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.String()
}

func parseResolvConf(content string) (servers, searches, options []string) {
	for _, line := range strings.Split(content, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "nameserver":
			servers = append(servers, f[1])
		case "search":
			searches = append(searches, f[1:]...)
		case "options":
			options = append(options, f[1:]...)
		}
	}
	return
}

// writeFileAtomic replaces path with content.
func writeFileAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
