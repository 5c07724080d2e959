package nftables

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	nft "github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/mdlayher/netlink"
)

// changes is the difference between two states of the table that a partial sync applies, grouped in
// the order one transaction must apply them: a set or chain exists before anything refers to it, and
// is deleted only after every rule and map element referring to it is gone.
type changes struct {
	table       string // the shard table these changes apply to
	addSets     []affinitySet
	addChains   []string
	delElems    []element
	flushChains []string
	addRules    []chain // rules appended to (new or flushed) chains
	addElems    []element
	delChains   []string
	delSets     []string
}

func (c *changes) empty() bool {
	return len(c.addSets)+len(c.addChains)+len(c.delElems)+len(c.flushChains)+len(c.addRules)+
		len(c.addElems)+len(c.delChains)+len(c.delSets) == 0
}

// messages is how many netlink messages applying c takes.
func (c *changes) messages() int {
	n := len(c.addSets) + len(c.addChains) + len(c.delElems) + len(c.flushChains) + len(c.addElems) + len(c.delChains) + len(c.delSets)
	for _, ch := range c.addRules {
		n += len(ch.rules)
	}
	return n
}

// netlinkWriter applies changes to the table as one nf_tables netlink batch: the kernel commits the
// whole batch or none of it, like an `nft -f` transaction, but nothing is read from the kernel first.
// (nft 1.0.6 reads every chain of the table into its cache before applying even one rule, which makes
// a one-endpoint change cost as much as listing 100,000 chains.)
type netlinkWriter struct {
	netns  string   // path of the network namespace to program; "" for the current one
	nsFile *os.File // opened on first use
	// timeout bounds one batch's round trip, so a kernel that never answers cannot hang the sync loop.
	timeout time.Duration
}

func newNetlinkWriter(netns string) *netlinkWriter {
	return &netlinkWriter{netns: netns, timeout: 30 * time.Second}
}

func (w *netlinkWriter) conn() (*nft.Conn, error) {
	deadline := nft.SockOption(func(c *netlink.Conn) error {
		// Acknowledgements of a big batch queue up before the first one is read.
		_ = c.SetReadBuffer(8 << 20)
		return c.SetDeadline(time.Now().Add(w.timeout))
	})
	opts := []nft.ConnOption{nft.WithSockOptions(deadline)}
	if w.netns != "" {
		if w.nsFile == nil {
			f, err := os.Open(w.netns)
			if err != nil {
				return nil, fmt.Errorf("opening network namespace %s: %w", w.netns, err)
			}
			w.nsFile = f
		}
		opts = append(opts, nft.WithNetNSFd(int(w.nsFile.Fd())))
	}
	return nft.New(opts...)
}

// apply sends the changes of every table as one batch (one transaction across tables). An error
// means the kernel applied nothing.
func (w *netlinkWriter) apply(all []*changes) error {
	cc, err := w.conn()
	if err != nil {
		return err
	}
	msgs := 0
	for _, c := range all {
		if err := w.add(cc, c); err != nil {
			return fmt.Errorf("table %s: %w", c.table, err)
		}
		msgs += c.messages()
	}
	if err := cc.Flush(); err != nil {
		if errors.Is(err, syscall.ENOBUFS) {
			return fmt.Errorf("netlink batch of %d messages overflowed the socket buffer: %w", msgs, err)
		}
		return fmt.Errorf("netlink batch of %d messages: %w", msgs, err)
	}
	return nil
}

// add queues one table's changes on cc.
func (w *netlinkWriter) add(cc *nft.Conn, c *changes) error {
	t := &nft.Table{Family: nft.TableFamilyINet, Name: c.table}
	for _, s := range c.addSets {
		set := &nft.Set{Table: t, Name: s.name, KeyType: nft.TypeIPAddr, KeyByteOrder: binaryutil.BigEndian,
			Dynamic: true, HasTimeout: true, Timeout: time.Duration(s.timeoutSeconds) * time.Second, Size: 65535}
		if s.v6 {
			set.KeyType = nft.TypeIP6Addr
		}
		if err := cc.AddSet(set, nil); err != nil {
			return fmt.Errorf("set %s: %w", s.name, err)
		}
	}
	for _, name := range c.addChains {
		cc.AddChain(&nft.Chain{Table: t, Name: name})
	}
	if err := elements(cc, t, c.delElems, false); err != nil {
		return err
	}
	for _, name := range c.flushChains {
		cc.FlushChain(&nft.Chain{Table: t, Name: name})
	}
	for _, ch := range c.addRules {
		target := &nft.Chain{Table: t, Name: ch.name}
		for _, r := range ch.rules {
			exprs, err := compileRule(r)
			if err != nil {
				return fmt.Errorf("chain %s: %w", ch.name, err)
			}
			cc.AddRule(&nft.Rule{Table: t, Chain: target, Exprs: exprs})
		}
	}
	if err := elements(cc, t, c.addElems, true); err != nil {
		return err
	}
	for _, name := range c.delChains {
		cc.DelChain(&nft.Chain{Table: t, Name: name})
	}
	for _, name := range c.delSets {
		cc.DelSet(&nft.Set{Table: t, Name: name})
	}
	return nil
}

// elements adds or deletes verdict map elements, one message per map.
func elements(cc *nft.Conn, t *nft.Table, elems []element, add bool) error {
	byMap := map[string][]nft.SetElement{}
	var order []string
	for _, e := range elems {
		key, err := compileKey(e.key)
		if err != nil {
			return fmt.Errorf("map %s: %w", e.m, err)
		}
		se := nft.SetElement{Key: key}
		if add {
			if se.VerdictData, err = compileVerdict(e.value); err != nil {
				return fmt.Errorf("map %s element %s: %w", e.m, e.key, err)
			}
		}
		if _, ok := byMap[e.m]; !ok {
			order = append(order, e.m)
		}
		byMap[e.m] = append(byMap[e.m], se)
	}
	for _, m := range order {
		set := &nft.Set{Table: t, Name: m, IsMap: true}
		var err error
		if add {
			err = cc.SetAddElements(set, byMap[m])
		} else {
			err = cc.SetDeleteElements(set, byMap[m])
		}
		if err != nil {
			return fmt.Errorf("map %s: %w", m, err)
		}
	}
	return nil
}

// list returns the inet tables that are shards of base, with their chains and sets.
func (w *netlinkWriter) list(base string) (map[string]*tableObjects, error) {
	cc, err := w.conn()
	if err != nil {
		return nil, err
	}
	tables, err := cc.ListTablesOfFamily(nft.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("listing nftables tables: %w", err)
	}
	out := map[string]*tableObjects{}
	for _, t := range tables {
		if !isShardTable(base, t.Name) {
			continue
		}
		objs := &tableObjects{chains: map[string]bool{}, sets: map[string]bool{}}
		out[t.Name] = objs
		sets, err := cc.GetSets(t)
		if err != nil {
			return nil, fmt.Errorf("listing the sets of table %s: %w", t.Name, err)
		}
		for _, s := range sets {
			objs.sets[s.Name] = true
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	chains, err := cc.ListChainsOfTableFamily(nft.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("listing nftables chains: %w", err)
	}
	for _, ch := range chains {
		if objs := out[ch.Table.Name]; objs != nil {
			objs.chains[ch.Name] = true
		}
	}
	return out, nil
}

func (w *netlinkWriter) close() {
	if w.nsFile != nil {
		w.nsFile.Close()
		w.nsFile = nil
	}
}
