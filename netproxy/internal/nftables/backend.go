package nftables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
	// NetNS is the path of the network namespace the Runner programs (tests: /run/netns/<name>), for
	// the netlink socket of partial syncs; empty for the current namespace.
	NetNS string
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
	// desired is every Service's fragment after conflict resolution; owner says which Service holds
	// each map key, dropped how many elements lost a conflict; pending lists the Services whose
	// desired fragment may differ from the applied one.
	desired map[proxy.ServiceKey]*fragment
	owner   map[elemID]proxy.ServiceKey
	dropped int
	pending map[proxy.ServiceKey]bool
	// synced is false until a full sync succeeded; partial syncs need it.
	synced bool
	// nl applies partial syncs over netlink.
	nl *netlinkWriter
	// lastFallback is why the last Sync, asked to be partial, ran as a full sync (nil if it did not).
	lastFallback error
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
	b := &Backend{cfg: cfg, table: "inet " + cfg.Table, nl: newNetlinkWriter(cfg.Table, cfg.NetNS)}
	b.reset()
	return b
}

// reset forgets everything computed and applied.
func (b *Backend) reset() {
	b.applied = map[proxy.ServiceKey]*fragment{}
	b.cache = map[proxy.ServiceKey]cacheEntry{}
	b.desired = map[proxy.ServiceKey]*fragment{}
	b.owner = map[elemID]proxy.ServiceKey{}
	b.dropped = 0
	b.pending = map[proxy.ServiceKey]bool{}
	b.synced = false
}

// LastFallback reports why the last Sync that was asked to be partial ran as a full sync instead (the
// kernel refused the partial batch, or the change was too big); nil when it ran as asked.
func (b *Backend) LastFallback() error { return b.lastFallback }

// Close releases the netlink resources; the rules stay.
func (b *Backend) Close() { b.nl.close() }

// Name implements proxy.Backend.
func (b *Backend) Name() string { return "nftables" }

// Available reports whether nft can be run and the kernel accepts an nftables table.
func (b *Backend) Available(ctx context.Context) error {
	if _, err := b.cfg.Runner.Run(ctx, nil, "nft", "list", "tables"); err != nil {
		return fmt.Errorf("nftables is not usable: %w", err)
	}
	return nil
}

// fragments brings b.desired up to date with snap and records the Services whose fragment changed in
// b.pending. Only Services whose Service or slice objects changed (the store replaces, never mutates,
// them) are recomputed; conflicts are re-resolved across all Services only when a change touches a
// key another Service holds, or an earlier conflict is outstanding. So a sync's cost follows the
// change, apart from one pointer comparison per Service.
func (b *Backend) fragments(snap *proxy.Snapshot) {
	var changed []proxy.ServiceKey
	for k, svc := range snap.Services {
		sl := snap.Slices[k]
		if c, ok := b.cache[k]; ok && c.svc == svc && slices.Equal(c.slices, sl) {
			continue
		}
		b.cache[k] = cacheEntry{svc: svc, slices: sl, frag: b.serviceFragment(snap, svc)}
		changed = append(changed, k)
	}
	if len(b.cache) > len(snap.Services) || len(changed) > 0 {
		for k := range b.cache {
			if _, ok := snap.Services[k]; !ok {
				delete(b.cache, k)
				changed = append(changed, k)
			}
		}
	}
	if len(changed) == 0 {
		return
	}
	if b.dropped == 0 && b.claim(changed) {
		return
	}
	b.resolveConflicts()
}

// claim moves the map keys of the changed Services to their new fragments when no other Service holds
// any of them (the common case), and reports whether it could.
func (b *Backend) claim(changed []proxy.ServiceKey) bool {
	for _, k := range changed {
		if old := b.desired[k]; old != nil {
			for _, e := range old.elems {
				if id := (elemID{e.m, e.key}); b.owner[id] == k {
					delete(b.owner, id)
				}
			}
		}
	}
	for _, k := range changed {
		c, ok := b.cache[k]
		if !ok {
			continue
		}
		for _, e := range c.frag.elems {
			id := elemID{e.m, e.key}
			if o, taken := b.owner[id]; taken && o != k {
				return false // a conflict: resolveConflicts starts over
			}
			b.owner[id] = k
		}
	}
	for _, k := range changed {
		b.pending[k] = true
		if c, ok := b.cache[k]; ok {
			b.desired[k] = c.frag
		} else {
			delete(b.desired, k)
		}
	}
	return true
}

// elemID names a map element: map and key.
type elemID [2]string

// resolveConflicts recomputes b.desired from every cached fragment, keeping each map key (a VIP or
// node port) in one Service only: the API forbids two Services sharing one, but a batch can briefly
// hold both the old and the new owner, and a duplicate element would make the kernel refuse the whole
// transaction. The first Service in name order wins; the other's element is dropped until the
// conflict goes away.
func (b *Backend) resolveConflicts() {
	keys := make([]proxy.ServiceKey, 0, len(b.cache))
	for k := range b.cache {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	b.owner = make(map[elemID]proxy.ServiceKey, len(b.owner))
	b.dropped = 0
	desired := make(map[proxy.ServiceKey]*fragment, len(keys))
	for _, k := range keys {
		f := b.cache[k].frag
		var kept []element
		conflict := false
		for i, e := range f.elems {
			id := elemID{e.m, e.key}
			if _, taken := b.owner[id]; taken {
				if !conflict {
					conflict = true
					kept = append([]element(nil), f.elems[:i]...)
				}
				b.dropped++
				continue
			}
			b.owner[id] = k
			if conflict {
				kept = append(kept, e)
			}
		}
		if conflict {
			f = &fragment{chains: f.chains, elems: kept, sets: f.sets}
		}
		desired[k] = f
		if b.desired[k] != f {
			b.pending[k] = true
		}
	}
	for k := range b.desired {
		if _, ok := desired[k]; !ok {
			b.pending[k] = true
		}
	}
	b.desired = desired
}

// maxPartialMessages bounds a partial sync: beyond it (a change touching thousands of Services) one
// nft transaction rewriting the table is cheaper than that many netlink messages and their acks.
const maxPartialMessages = 20000

// Sync implements proxy.Backend. A partial sync is one netlink batch with only the changed chains,
// rules, map elements and sets. A partial sync that the kernel refuses (someone changed the table by
// hand) is retried as a full sync at once; LastFallback says why.
func (b *Backend) Sync(ctx context.Context, snap *proxy.Snapshot, full bool) (proxy.RuleCounts, error) {
	b.fragments(snap)
	b.lastFallback = nil
	if !full && b.synced {
		if len(b.pending) == 0 {
			return b.counts(), nil
		}
		ch := b.diff()
		if ch.empty() {
			b.markApplied()
			return b.counts(), nil
		}
		if ch.messages() <= maxPartialMessages {
			err := b.nl.apply(ch)
			if err == nil {
				b.markApplied()
				return b.counts(), nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			b.lastFallback = err
		} else {
			b.lastFallback = fmt.Errorf("%d changes: a full sync is cheaper", ch.messages())
		}
	}
	if err := b.fullSync(ctx, b.desired); err != nil {
		b.synced = false
		return nil, err
	}
	b.applied = maps.Clone(b.desired)
	clear(b.pending)
	b.synced = true
	return b.counts(), nil
}

// markApplied records that the kernel now holds the pending Services' desired fragments.
func (b *Backend) markApplied() {
	for k := range b.pending {
		if f, ok := b.desired[k]; ok {
			b.applied[k] = f
		} else {
			delete(b.applied, k)
		}
	}
	clear(b.pending)
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

func sortedKeySet(m map[proxy.ServiceKey]bool) []proxy.ServiceKey {
	keys := make([]proxy.ServiceKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}

func compareKeys(a, b proxy.ServiceKey) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

func sortedKeys(frags map[proxy.ServiceKey]*fragment) []proxy.ServiceKey {
	keys := make([]proxy.ServiceKey, 0, len(frags))
	for k := range frags {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
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

// diff computes what differs between the applied and the desired fragments of the pending Services,
// so its cost follows the change, not the table.
func (b *Backend) diff() *changes {
	c := &changes{}
	for _, k := range sortedKeySet(b.pending) {
		oldF, newF := b.applied[k], b.desired[k]
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
		for _, ch := range oldF.chains {
			oldChains[ch.name] = ch
		}
		newChains := map[string]bool{}
		for _, ch := range newF.chains {
			newChains[ch.name] = true
			old, existed := oldChains[ch.name]
			if existed && slices.Equal(old.rules, ch.rules) {
				continue
			}
			if existed {
				c.flushChains = append(c.flushChains, ch.name)
			} else {
				c.addChains = append(c.addChains, ch.name)
			}
			c.addRules = append(c.addRules, ch)
		}
		for _, ch := range oldF.chains {
			if !newChains[ch.name] {
				c.flushChains = append(c.flushChains, ch.name)
				c.delChains = append(c.delChains, ch.name)
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
				c.delElems = append(c.delElems, e)
			}
		}
		for _, e := range newF.elems {
			if v, ok := oldElems[[2]string{e.m, e.key}]; !ok || v != e.value {
				c.addElems = append(c.addElems, e)
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
				c.addSets = append(c.addSets, st)
			}
		}
		for _, st := range oldF.sets {
			if !newSets[st.name] {
				c.delSets = append(c.delSets, st.name)
			}
		}
	}
	return c
}

// Cleanup deletes the table; a missing table is not an error.
func (b *Backend) Cleanup(ctx context.Context) error {
	// "add" first makes the delete succeed whether or not the table exists, in one transaction.
	script := fmt.Sprintf("add table %s\ndelete table %s\n", b.table, b.table)
	if _, err := b.cfg.Runner.Run(ctx, []byte(script), "nft", "-f", "-"); err != nil {
		return fmt.Errorf("deleting table %s: %w", b.table, err)
	}
	b.reset()
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
