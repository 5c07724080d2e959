package nftables

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/skiffhq/skiff/netproxy/internal/proxy"
)

// DefaultTable is the name of the backend's first table; the others are named <table>-1, <table>-2, ...
const DefaultTable = "skiff"

// DefaultShards is how many tables the backend spreads Services over by default.
const DefaultShards = 8

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
	// Shards is how many tables the Services are spread over (DefaultShards when zero). The kernel
	// re-validates every jump of a table on each transaction that adds one, so a change costs time in
	// proportion to its table's size: more shards make partial syncs cheaper. Packets of new
	// connections pass each table's hooks in turn until one rewrites them.
	Shards int
	// NetNS is the path of the network namespace the Runner programs (tests: /run/netns/<name>), for
	// the netlink socket of partial syncs; empty for the current namespace.
	NetNS string
}

// Backend programs Services into one nftables table. Not safe for concurrent Syncs (the proxier runs one
// at a time).
type Backend struct {
	cfg Config
	// tables are the shard tables' names ("skiff", "skiff-1", ...); a Service lives in one of them.
	tables []string

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
	if cfg.Shards <= 0 {
		cfg.Shards = DefaultShards
	}
	b := &Backend{cfg: cfg, nl: newNetlinkWriter(cfg.NetNS)}
	for i := 0; i < cfg.Shards; i++ {
		b.tables = append(b.tables, shardTable(cfg.Table, i))
	}
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

func shardTable(base string, i int) string {
	if i == 0 {
		return base
	}
	return fmt.Sprintf("%s-%d", base, i)
}

// isShardTable reports whether name is one of base's shard tables, of any shard count.
func isShardTable(base, name string) bool {
	if name == base {
		return true
	}
	rest, ok := strings.CutPrefix(name, base+"-")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// shard is the index of the table holding a Service.
func (b *Backend) shard(k proxy.ServiceKey) int {
	h := fnv.New32a()
	h.Write([]byte(k.Namespace))
	h.Write([]byte{'/'})
	h.Write([]byte(k.Name))
	return int(h.Sum32() % uint32(len(b.tables)))
}

// TableOf returns the table ("inet skiff-3") that holds a Service's rules.
func (b *Backend) TableOf(k proxy.ServiceKey) string { return "inet " + b.tables[b.shard(k)] }

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
		if len(ch) == 0 {
			b.markApplied()
			return b.counts(), nil
		}
		msgs := 0
		for _, c := range ch {
			msgs += c.messages()
		}
		if msgs <= maxPartialMessages {
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
			b.lastFallback = fmt.Errorf("%d changes: a full sync is cheaper", msgs)
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
	existing, err := b.existing(ctx)
	if err != nil {
		return err
	}
	script := b.fullScript(frags, existing)
	if _, err := b.cfg.Runner.Run(ctx, []byte(script), "nft", "-f", "-"); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A table of an incompatible shape (an older version's maps) cannot be flushed into the new
		// one: replace the tables whole, at the cost of the affinity sets.
		var fresh strings.Builder
		for name := range existing {
			fmt.Fprintf(&fresh, "delete table inet %s\n", name)
		}
		fresh.WriteString(b.fullScript(frags, nil))
		if _, err2 := b.cfg.Runner.Run(ctx, []byte(fresh.String()), "nft", "-f", "-"); err2 != nil {
			return fmt.Errorf("applying full ruleset: %w (after: %v)", err2, err)
		}
	}
	return nil
}

// tableObjects are the chains and sets one table holds.
type tableObjects struct {
	chains, sets map[string]bool
}

// existing lists the backend's tables (any shard count) with their chains and sets, over netlink:
// declarations only (no rules, no set elements), which stays cheap with 100,000 chains (nft 1.0.6's
// `list chains` fills its whole cache first and takes seconds).
func (b *Backend) existing(ctx context.Context) (map[string]*tableObjects, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return b.nl.list(b.cfg.Table)
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

// fullScript rewrites every shard table in one transaction, and deletes the tables of shards no
// longer in use. Flushing a table empties every chain but keeps sets and maps; maps are flushed
// explicitly, affinity sets are kept so clients stay pinned.
func (b *Backend) fullScript(frags map[proxy.ServiceKey]*fragment, existing map[string]*tableObjects) string {
	var s strings.Builder
	byShard := make([][]proxy.ServiceKey, len(b.tables))
	for _, k := range sortedKeys(frags) {
		i := b.shard(k)
		byShard[i] = append(byShard[i], k)
	}
	for i, name := range b.tables {
		old := existing[name]
		if old == nil {
			old = &tableObjects{}
		}
		b.tableScript(&s, name, frags, byShard[i], old)
	}
	var gone []string
	for name := range existing {
		if !slices.Contains(b.tables, name) {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	for _, name := range gone {
		fmt.Fprintf(&s, "delete table inet %s\n", name)
	}
	return s.String()
}

// tableScript rewrites one shard table with the fragments of keys.
func (b *Backend) tableScript(s *strings.Builder, name string, frags map[proxy.ServiceKey]*fragment, keys []proxy.ServiceKey, existing *tableObjects) {
	t := "inet " + name
	fmt.Fprintf(s, "add table %s { comment \"Service virtual IPs, programmed by skiff-netproxy\"; }\n", t)
	fmt.Fprintf(s, "flush table %s\n", t)
	hooks, regular, decls := b.base()
	desiredChains := map[string]bool{}
	desiredSets := map[string]bool{}
	for _, d := range decls {
		kind, rest, _ := strings.Cut(d, " ")
		setName := strings.Fields(rest)[0]
		desiredSets[setName] = true
		fmt.Fprintf(s, "add %s %s %s\nflush %s %s %s\n", kind, t, rest, kind, t, setName)
	}
	for _, k := range keys {
		for _, set := range frags[k].sets {
			if !desiredSets[set.name] {
				desiredSets[set.name] = true
				fmt.Fprintf(s, "add set %s %s %s\n", t, set.name, set.decl)
			}
		}
	}
	// Chains and their rules in block syntax: half the size of one "add rule" line per rule, and
	// correspondingly faster for nft to parse.
	fmt.Fprintf(s, "table %s {\n", t)
	for _, h := range hooks {
		desiredChains[h.name] = true
		fmt.Fprintf(s, "chain %s {\n%s\n", h.name, h.spec)
		writeBlockRules(s, h.rules)
	}
	for _, c := range regular {
		desiredChains[c.name] = true
		fmt.Fprintf(s, "chain %s {\n", c.name)
		writeBlockRules(s, c.rules)
	}
	for _, k := range keys {
		for _, c := range frags[k].chains {
			desiredChains[c.name] = true
			fmt.Fprintf(s, "chain %s {\n", c.name)
			writeBlockRules(s, c.rules)
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
		writeElements(s, t, setNodePortIPs+fam.suffix, elems)
	}
	byMap := map[string][]string{}
	for _, k := range keys {
		for _, e := range frags[k].elems {
			byMap[e.m] = append(byMap[e.m], e.key+" : "+e.value)
		}
	}
	for _, m := range sortedMapNames(byMap) {
		writeElements(s, t, m, byMap[m])
	}
	// Leftovers of earlier runs (Services deleted while the netproxy was down, older versions).
	for _, c := range sortedSet(existing.chains) {
		if !desiredChains[c] {
			fmt.Fprintf(s, "delete chain %s %s\n", t, c)
		}
	}
	for _, st := range sortedSet(existing.sets) {
		if !desiredSets[st] {
			fmt.Fprintf(s, "delete set %s %s\n", t, st)
		}
	}
}

// diff computes what differs between the applied and the desired fragments of the pending Services,
// per shard table, so its cost follows the change, not the tables.
func (b *Backend) diff() []*changes {
	shards := map[int]*changes{}
	for _, k := range sortedKeySet(b.pending) {
		oldF, newF := b.applied[k], b.desired[k]
		i := b.shard(k)
		if shards[i] == nil {
			shards[i] = &changes{table: b.tables[i]}
		}
		c := shards[i]
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
	var out []*changes
	for i := range b.tables {
		if c := shards[i]; c != nil && !c.empty() {
			out = append(out, c)
		}
	}
	return out
}

// Cleanup deletes the backend's tables (of any shard count); missing tables are not an error.
func (b *Backend) Cleanup(ctx context.Context) error {
	names := map[string]bool{}
	for _, t := range b.tables {
		names[t] = true
	}
	if existing, err := b.existing(ctx); err == nil {
		for t := range existing {
			names[t] = true
		}
	}
	// "add" first makes each delete succeed whether or not the table exists, in one transaction.
	var script strings.Builder
	for _, t := range sortedSet(names) {
		fmt.Fprintf(&script, "add table inet %s\ndelete table inet %s\n", t, t)
	}
	if _, err := b.cfg.Runner.Run(ctx, []byte(script.String()), "nft", "-f", "-"); err != nil {
		return fmt.Errorf("deleting tables %s: %w", strings.Join(sortedSet(names), ", "), err)
	}
	b.reset()
	return nil
}

// counts reports the programmed objects of the last successful sync.
func (b *Backend) counts() proxy.RuleCounts {
	hooks, regular, _ := b.base()
	n := len(b.tables)
	c := proxy.RuleCounts{"chains": n * (len(hooks) + len(regular)), "tables": n}
	for _, h := range hooks {
		c["rules"] += n * len(h.rules)
	}
	for _, r := range regular {
		c["rules"] += n * len(r.rules)
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

// ErrNoTable is returned by Dump when none of the tables exists.
var ErrNoTable = errors.New("table does not exist")

// Dump returns `nft list table` output for each of the backend's tables that exists, in shard order
// (for tests and debugging).
func (b *Backend) Dump(ctx context.Context) (string, error) {
	var s strings.Builder
	for _, t := range b.tables {
		out, err := b.cfg.Runner.Run(ctx, nil, "nft", "list", "table", "inet", t)
		if err != nil {
			if strings.Contains(err.Error(), "No such file or directory") {
				continue
			}
			return "", err
		}
		s.Write(out)
	}
	if s.Len() == 0 {
		return "", ErrNoTable
	}
	return s.String(), nil
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
