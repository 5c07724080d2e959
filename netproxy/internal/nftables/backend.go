package nftables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// DefaultTable is the name of the table the backend owns.
const DefaultTable = "skiff"

// Config configures the nftables backend.
type Config struct {
	// Table is the inet table the backend owns; DefaultTable when empty.
	Table string
	// ClusterCIDRs are the pod networks: clients of a cluster IP outside them are masqueraded.
	ClusterCIDRs []netip.Prefix
	// NodePortAddresses restricts node ports to local addresses inside these prefixes; empty means every
	// local address except loopback.
	NodePortAddresses []netip.Prefix
	// MasqueradeAll masquerades every client of a cluster IP, not just those outside ClusterCIDRs.
	MasqueradeAll bool
	// MasqueradeMark is the packet mark bit meaning "masquerade in postrouting"; 0x4000 when zero.
	MasqueradeMark uint32
	// Runner runs nft; ExecRunner{} when nil.
	Runner Runner
}

// Backend programs Services into one nftables table. Not safe for concurrent Syncs (the proxier runs one
// at a time).
type Backend struct {
	cfg   Config
	table string // "inet skiff"

	// applied is what the last successful sync left in the kernel, per Service.
	applied map[proxy.ServiceKey]*fragment
	// cache reuses fragments of Services whose Service and slices did not change.
	cache map[proxy.ServiceKey]cacheEntry
	// synced is false until a full sync succeeded; partial syncs need it.
	synced bool
}

type cacheEntry struct {
	svc    *proxy.Service
	slices []*proxy.EndpointSlice
	frag   *fragment
}

// New returns an nftables backend.
func New(cfg Config) *Backend {
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.MasqueradeMark == 0 {
		cfg.MasqueradeMark = 0x4000
	}
	if cfg.Runner == nil {
		cfg.Runner = ExecRunner{}
	}
	return &Backend{cfg: cfg, table: "inet " + cfg.Table, applied: map[proxy.ServiceKey]*fragment{}, cache: map[proxy.ServiceKey]cacheEntry{}}
}

// Name implements proxy.Backend.
func (b *Backend) Name() string { return "nftables" }

// Available reports whether nft can be run and the kernel accepts an nftables table.
func (b *Backend) Available(ctx context.Context) error {
	if _, err := b.cfg.Runner.Run(ctx, nil, "nft", "list", "tables"); err != nil {
		return fmt.Errorf("nftables is not usable: %w", err)
	}
	return nil
}

// fragments computes every Service's fragment, reusing cached ones whose inputs are unchanged.
func (b *Backend) fragments(snap *proxy.Snapshot) map[proxy.ServiceKey]*fragment {
	out := make(map[proxy.ServiceKey]*fragment, len(snap.Services))
	next := make(map[proxy.ServiceKey]cacheEntry, len(snap.Services))
	for k, svc := range snap.Services {
		sl := snap.Slices[k]
		if c, ok := b.cache[k]; ok && c.svc == svc && slices.Equal(c.slices, sl) {
			out[k] = c.frag
			next[k] = c
			continue
		}
		f := b.serviceFragment(snap, svc)
		out[k] = f
		next[k] = cacheEntry{svc: svc, slices: sl, frag: f}
	}
	b.cache = next
	b.resolveConflicts(out)
	return out
}

// resolveConflicts keeps each map key (a VIP or node port) in one Service only: the API forbids two
// Services sharing one, but a batch can briefly hold both the old and the new owner, and a duplicate
// element would make the kernel refuse the whole transaction. The first Service in name order wins;
// the other's element is dropped until the conflict goes away.
func (b *Backend) resolveConflicts(frags map[proxy.ServiceKey]*fragment) {
	owner := map[[2]string]proxy.ServiceKey{}
	for _, k := range sortedKeys(frags) {
		f := frags[k]
		var kept []element
		conflict := false
		for i, e := range f.elems {
			id := [2]string{e.m, e.key}
			if _, taken := owner[id]; taken {
				if !conflict {
					conflict = true
					kept = append([]element(nil), f.elems[:i]...)
				}
				continue
			}
			owner[id] = k
			if conflict {
				kept = append(kept, e)
			}
		}
		if conflict {
			frags[k] = &fragment{chains: f.chains, elems: kept, sets: f.sets}
		}
	}
}

// Sync implements proxy.Backend. A partial sync that the kernel refuses (someone changed the table by
// hand) is retried as a full sync at once.
func (b *Backend) Sync(ctx context.Context, snap *proxy.Snapshot, full bool) (proxy.RuleCounts, error) {
	frags := b.fragments(snap)
	if !full && b.synced {
		script := b.partialScript(frags)
		if script.Len() == 0 {
			return b.counts(), nil
		}
		if _, err := b.cfg.Runner.Run(ctx, []byte(script.String()), "nft", "-f", "-"); err == nil {
			b.applied = frags
			return b.counts(), nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if err := b.fullSync(ctx, frags); err != nil {
		b.synced = false
		return nil, err
	}
	b.applied = frags
	b.synced = true
	return b.counts(), nil
}

func (b *Backend) fullSync(ctx context.Context, frags map[proxy.ServiceKey]*fragment) error {
	existingChains, existingSets, err := b.existing(ctx)
	if err != nil {
		return err
	}
	script := b.fullScript(frags, existingChains, existingSets)
	if _, err := b.cfg.Runner.Run(ctx, []byte(script), "nft", "-f", "-"); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A table of an incompatible shape (an older version's maps) cannot be flushed into the new
		// one: replace it whole, at the cost of the affinity sets.
		script = "add table " + b.table + "\ndelete table " + b.table + "\n" + b.fullScript(frags, nil, nil)
		if _, err2 := b.cfg.Runner.Run(ctx, []byte(script), "nft", "-f", "-"); err2 != nil {
			return fmt.Errorf("applying full ruleset: %w (after: %v)", err2, err)
		}
	}
	return nil
}

// existing lists the chains and sets in the table now (empty when there is no table). It lists
// declarations only (no rules, no set elements), which stays cheap with 100,000 chains.
func (b *Backend) existing(ctx context.Context) (chains, sets map[string]bool, err error) {
	chains, sets = map[string]bool{}, map[string]bool{}
	for _, what := range []string{"chains", "sets"} {
		out, err := b.cfg.Runner.Run(ctx, nil, "nft", "-t", "-j", "list", what, "inet")
		if err != nil {
			return nil, nil, fmt.Errorf("listing nftables %s: %w", what, err)
		}
		var doc struct {
			Nftables []struct {
				Chain *struct{ Table, Name string } `json:"chain"`
				Set   *struct{ Table, Name string } `json:"set"`
			} `json:"nftables"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			return nil, nil, fmt.Errorf("decoding nft -j list %s: %w", what, err)
		}
		for _, o := range doc.Nftables {
			if o.Chain != nil && o.Chain.Table == b.cfg.Table {
				chains[o.Chain.Name] = true
			}
			if o.Set != nil && o.Set.Table == b.cfg.Table {
				sets[o.Set.Name] = true
			}
		}
	}
	return chains, sets, nil
}

func sortedKeys(frags map[proxy.ServiceKey]*fragment) []proxy.ServiceKey {
	keys := make([]proxy.ServiceKey, 0, len(frags))
	for k := range frags {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b proxy.ServiceKey) int { return strings.Compare(a.String(), b.String()) })
	return keys
}

// fullScript rewrites the whole table in one transaction. Flushing the table empties every chain but
// keeps sets and maps; maps are flushed explicitly, affinity sets are kept so clients stay pinned.
func (b *Backend) fullScript(frags map[proxy.ServiceKey]*fragment, existingChains, existingSets map[string]bool) string {
	var s strings.Builder
	t := b.table
	fmt.Fprintf(&s, "add table %s { comment \"Service virtual IPs, programmed by skiff-netproxy\"; }\n", t)
	fmt.Fprintf(&s, "flush table %s\n", t)
	hooks, regular, decls := b.base()
	desiredChains := map[string]bool{}
	desiredSets := map[string]bool{}
	for _, d := range decls {
		kind, rest, _ := strings.Cut(d, " ")
		name := strings.Fields(rest)[0]
		desiredSets[name] = true
		fmt.Fprintf(&s, "add %s %s %s\nflush %s %s %s\n", kind, t, rest, kind, t, name)
	}
	keys := sortedKeys(frags)
	for _, k := range keys {
		for _, set := range frags[k].sets {
			if !desiredSets[set.name] {
				desiredSets[set.name] = true
				fmt.Fprintf(&s, "add set %s %s %s\n", t, set.name, set.decl)
			}
		}
	}
	// Chains and their rules in block syntax: half the size of one "add rule" line per rule, and
	// correspondingly faster for nft to parse.
	fmt.Fprintf(&s, "table %s {\n", t)
	for _, h := range hooks {
		desiredChains[h.name] = true
		fmt.Fprintf(&s, "chain %s {\n%s\n", h.name, h.spec)
		writeBlockRules(&s, h.rules)
	}
	for _, c := range regular {
		desiredChains[c.name] = true
		fmt.Fprintf(&s, "chain %s {\n", c.name)
		writeBlockRules(&s, c.rules)
	}
	for _, k := range keys {
		for _, c := range frags[k].chains {
			desiredChains[c.name] = true
			fmt.Fprintf(&s, "chain %s {\n", c.name)
			writeBlockRules(&s, c.rules)
		}
	}
	s.WriteString("}\n")
	for _, fam := range families {
		var elems []string
		for _, p := range b.cfg.NodePortAddresses {
			if p.Addr().Is6() == fam.v6 {
				elems = append(elems, p.Masked().String())
			}
		}
		writeElements(&s, t, setNodePortIPs+fam.suffix, elems)
	}
	byMap := map[string][]string{}
	for _, k := range keys {
		for _, e := range frags[k].elems {
			byMap[e.m] = append(byMap[e.m], e.key+" : "+e.value)
		}
	}
	for _, m := range sortedMapNames(byMap) {
		writeElements(&s, t, m, byMap[m])
	}
	// Leftovers of earlier runs (Services deleted while the netproxy was down, older versions).
	for _, name := range sortedSet(existingChains) {
		if !desiredChains[name] {
			fmt.Fprintf(&s, "delete chain %s %s\n", t, name)
		}
	}
	for _, name := range sortedSet(existingSets) {
		if !desiredSets[name] {
			fmt.Fprintf(&s, "delete set %s %s\n", t, name)
		}
	}
	return s.String()
}

// partialScript changes only what differs between the applied fragments and frags, in an order the
// kernel accepts within one transaction: new chains exist before anything jumps to them, and a chain
// is deleted only after every map element and rule referring to it is gone.
func (b *Backend) partialScript(frags map[proxy.ServiceKey]*fragment) *strings.Builder {
	var addChains, delElems, flushChains, addRules, addElems, delChains, addSets, delSets strings.Builder
	t := b.table
	keys := map[proxy.ServiceKey]bool{}
	for k := range frags {
		keys[k] = true
	}
	for k := range b.applied {
		keys[k] = true
	}
	for k := range keys {
		oldF, newF := b.applied[k], frags[k]
		if oldF == newF {
			continue
		}
		if oldF == nil {
			oldF = &fragment{}
		}
		if newF == nil {
			newF = &fragment{}
		}
		oldChains := map[string]chain{}
		for _, c := range oldF.chains {
			oldChains[c.name] = c
		}
		newChains := map[string]bool{}
		for _, c := range newF.chains {
			newChains[c.name] = true
			old, existed := oldChains[c.name]
			if existed && slices.Equal(old.rules, c.rules) {
				continue
			}
			if existed {
				fmt.Fprintf(&flushChains, "flush chain %s %s\n", t, c.name)
			} else {
				fmt.Fprintf(&addChains, "add chain %s %s\n", t, c.name)
			}
			writeRules(&addRules, t, c.name, c.rules)
		}
		for _, c := range oldF.chains {
			if !newChains[c.name] {
				fmt.Fprintf(&flushChains, "flush chain %s %s\n", t, c.name)
				fmt.Fprintf(&delChains, "delete chain %s %s\n", t, c.name)
			}
		}
		oldElems := map[[2]string]string{}
		for _, e := range oldF.elems {
			oldElems[[2]string{e.m, e.key}] = e.value
		}
		newElems := map[[2]string]string{}
		for _, e := range newF.elems {
			newElems[[2]string{e.m, e.key}] = e.value
		}
		for _, e := range oldF.elems {
			if v, ok := newElems[[2]string{e.m, e.key}]; !ok || v != e.value {
				fmt.Fprintf(&delElems, "delete element %s %s { %s }\n", t, e.m, e.key)
			}
		}
		for _, e := range newF.elems {
			if v, ok := oldElems[[2]string{e.m, e.key}]; !ok || v != e.value {
				fmt.Fprintf(&addElems, "add element %s %s { %s : %s }\n", t, e.m, e.key, e.value)
			}
		}
		oldSets := map[string]bool{}
		for _, st := range oldF.sets {
			oldSets[st.name] = true
		}
		newSets := map[string]bool{}
		for _, st := range newF.sets {
			newSets[st.name] = true
			if !oldSets[st.name] {
				fmt.Fprintf(&addSets, "add set %s %s %s\n", t, st.name, st.decl)
			}
		}
		for _, st := range oldF.sets {
			if !newSets[st.name] {
				fmt.Fprintf(&delSets, "delete set %s %s\n", t, st.name)
			}
		}
	}
	var s strings.Builder
	for _, part := range []*strings.Builder{&addSets, &addChains, &delElems, &flushChains, &addRules, &addElems, &delChains, &delSets} {
		s.WriteString(part.String())
	}
	return &s
}

// Cleanup deletes the table; a missing table is not an error.
func (b *Backend) Cleanup(ctx context.Context) error {
	// "add" first makes the delete succeed whether or not the table exists, in one transaction.
	script := fmt.Sprintf("add table %s\ndelete table %s\n", b.table, b.table)
	if _, err := b.cfg.Runner.Run(ctx, []byte(script), "nft", "-f", "-"); err != nil {
		return fmt.Errorf("deleting table %s: %w", b.table, err)
	}
	b.applied = map[proxy.ServiceKey]*fragment{}
	b.cache = map[proxy.ServiceKey]cacheEntry{}
	b.synced = false
	return nil
}

// counts reports the programmed objects of the last successful sync.
func (b *Backend) counts() proxy.RuleCounts {
	hooks, regular, _ := b.base()
	c := proxy.RuleCounts{"chains": len(hooks) + len(regular)}
	for _, h := range hooks {
		c["rules"] += len(h.rules)
	}
	for _, r := range regular {
		c["rules"] += len(r.rules)
	}
	for _, f := range b.applied {
		c["chains"] += len(f.chains)
		c["rules"] += f.ruleCount()
		c["map_elements"] += len(f.elems)
		c["affinity_sets"] += len(f.sets)
	}
	for _, k := range []string{"map_elements", "affinity_sets"} {
		if _, ok := c[k]; !ok {
			c[k] = 0
		}
	}
	return c
}

// ErrNoTable is returned by Dump when the table does not exist.
var ErrNoTable = errors.New("table does not exist")

// Dump returns `nft list table` output for the backend's table (for tests and debugging).
func (b *Backend) Dump(ctx context.Context) (string, error) {
	out, err := b.cfg.Runner.Run(ctx, nil, "nft", "list", "table", b.table)
	if err != nil {
		if strings.Contains(err.Error(), "No such file or directory") {
			return "", ErrNoTable
		}
		return "", err
	}
	return string(out), nil
}

func writeBlockRules(s *strings.Builder, rules []string) {
	for _, r := range rules {
		s.WriteString(r)
		s.WriteByte('\n')
	}
	s.WriteString("}\n")
}

func writeRules(s *strings.Builder, table, chainName string, rules []string) {
	for _, r := range rules {
		fmt.Fprintf(s, "add rule %s %s %s\n", table, chainName, r)
	}
}

// writeElements adds elements in batches, keeping each command line of a reasonable size.
func writeElements(s *strings.Builder, table, set string, elems []string) {
	for len(elems) > 0 {
		n := min(len(elems), 500)
		fmt.Fprintf(s, "add element %s %s { %s }\n", table, set, strings.Join(elems[:n], ", "))
		elems = elems[n:]
	}
}

func sortedMapNames(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
