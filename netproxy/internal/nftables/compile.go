package nftables

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// This file translates the nft rule syntax the backend generates for Services (serviceFragment) into
// netlink expressions, byte for byte what nft 1.0.6 generates for the same text, so a chain written
// over netlink by a partial sync lists exactly like one written by `nft -f` in a full sync. It knows
// only that small vocabulary, and says so for anything else:
//
//	ip|ip6 saddr|daddr [!=] <address>|<prefix>|@<set>
//	tcp|udp|sctp dport <port>       meta l4proto <proto>
//	numgen random mod <n> == <v>    fib saddr|daddr type local
//	update @<set> { ip|ip6 saddr }  dnat ip|ip6 to <address>:<port>
//	jump|goto <chain>   drop   accept   return

// compileRule returns the expressions of one rule.
func compileRule(text string) ([]expr.Any, error) {
	c := ruleCompiler{toks: strings.Fields(text)}
	if err := c.compile(); err != nil {
		return nil, fmt.Errorf("compiling rule %q: %w", text, err)
	}
	return c.out, nil
}

type ruleCompiler struct {
	toks []string
	out  []expr.Any
	// nfproto is the family already matched by this rule (nft emits the dependency once).
	nfproto byte
}

func (c *ruleCompiler) next() (string, bool) {
	if len(c.toks) == 0 {
		return "", false
	}
	t := c.toks[0]
	c.toks = c.toks[1:]
	return t, true
}

func (c *ruleCompiler) need(what string) (string, error) {
	t, ok := c.next()
	if !ok {
		return "", fmt.Errorf("missing %s", what)
	}
	return t, nil
}

func (c *ruleCompiler) emit(e ...expr.Any) { c.out = append(c.out, e...) }

func (c *ruleCompiler) compile() error {
	for len(c.toks) > 0 {
		t, _ := c.next()
		var err error
		switch t {
		case "ip", "ip6":
			err = c.addrMatch(t)
		case "tcp", "udp", "sctp":
			err = c.portMatch(t)
		case "meta":
			err = c.metaMatch()
		case "numgen":
			err = c.numgen()
		case "fib":
			err = c.fib()
		case "update":
			err = c.update()
		case "dnat":
			err = c.dnat()
		case "jump", "goto":
			chain, err2 := c.need("chain name")
			if err2 != nil {
				return err2
			}
			kind := expr.VerdictJump
			if t == "goto" {
				kind = expr.VerdictGoto
			}
			c.emit(&expr.Verdict{Kind: kind, Chain: chain})
		case "drop":
			c.emit(&expr.Verdict{Kind: expr.VerdictDrop})
		case "accept":
			c.emit(&expr.Verdict{Kind: expr.VerdictAccept})
		case "return":
			c.emit(&expr.Verdict{Kind: expr.VerdictReturn})
		default:
			return fmt.Errorf("unsupported statement %q", t)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func nfprotoOf(fam string) byte {
	if fam == "ip6" {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}

// family emits the layer 3 protocol dependency of an ip/ip6 match, once per rule.
func (c *ruleCompiler) family(fam string) {
	p := nfprotoOf(fam)
	if c.nfproto == p {
		return
	}
	c.nfproto = p
	c.emit(&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}})
}

// addrOffset is where saddr/daddr sit in the network header, and their length.
func addrOffset(fam, field string) (off, length uint32, err error) {
	switch {
	case fam == "ip" && field == "saddr":
		return 12, 4, nil
	case fam == "ip" && field == "daddr":
		return 16, 4, nil
	case fam == "ip6" && field == "saddr":
		return 8, 16, nil
	case fam == "ip6" && field == "daddr":
		return 24, 16, nil
	}
	return 0, 0, fmt.Errorf("unsupported field %s %s", fam, field)
}

func (c *ruleCompiler) addrMatch(fam string) error {
	field, err := c.need("saddr or daddr")
	if err != nil {
		return err
	}
	off, length, err := addrOffset(fam, field)
	if err != nil {
		return err
	}
	val, err := c.need("address")
	if err != nil {
		return err
	}
	op := expr.CmpOpEq
	if val == "!=" {
		op = expr.CmpOpNeq
		if val, err = c.need("address"); err != nil {
			return err
		}
	}
	c.family(fam)
	if set, ok := strings.CutPrefix(val, "@"); ok {
		if op != expr.CmpOpEq {
			return fmt.Errorf("negated set lookups are not supported")
		}
		c.emit(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: length},
			&expr.Lookup{SourceRegister: 1, SetName: set})
		return nil
	}
	var pfx netip.Prefix
	if strings.Contains(val, "/") {
		if pfx, err = netip.ParsePrefix(val); err != nil {
			return err
		}
	} else {
		a, err := netip.ParseAddr(val)
		if err != nil {
			return err
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if pfx.Addr().Is4() != (fam == "ip") {
		return fmt.Errorf("address %s is not of family %s", val, fam)
	}
	addr := pfx.Masked().Addr().AsSlice()
	bits := pfx.Bits()
	switch {
	case bits == 0:
		return fmt.Errorf("a /0 prefix matches everything; not supported")
	case bits%8 == 0:
		// A byte-aligned prefix loads only its bytes.
		n := uint32(bits / 8)
		c.emit(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
			&expr.Cmp{Op: op, Register: 1, Data: addr[:n]})
	default:
		mask := netip.PrefixFrom(netip.IPv6Unspecified(), bits)
		if fam == "ip" {
			mask = netip.PrefixFrom(netip.IPv4Unspecified(), bits)
		}
		c.emit(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: length},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: length, Mask: prefixMask(mask), Xor: make([]byte, length)},
			&expr.Cmp{Op: op, Register: 1, Data: addr})
	}
	return nil
}

// prefixMask returns the netmask of p's length, p.Addr().BitLen() bits long.
func prefixMask(p netip.Prefix) []byte {
	m := make([]byte, p.Addr().BitLen()/8)
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

func protoNum(name string) (byte, error) {
	switch name {
	case "tcp":
		return unix.IPPROTO_TCP, nil
	case "udp":
		return unix.IPPROTO_UDP, nil
	case "sctp":
		return unix.IPPROTO_SCTP, nil
	}
	return 0, fmt.Errorf("unsupported protocol %q", name)
}

func (c *ruleCompiler) l4proto(name string) error {
	p, err := protoNum(name)
	if err != nil {
		return err
	}
	c.emit(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}})
	return nil
}

func parsePort(s string) ([]byte, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port %q", s)
	}
	return binary.BigEndian.AppendUint16(nil, uint16(n)), nil
}

func (c *ruleCompiler) portMatch(proto string) error {
	if t, err := c.need("dport"); err != nil || t != "dport" {
		return fmt.Errorf("only %s dport is supported", proto)
	}
	v, err := c.need("port")
	if err != nil {
		return err
	}
	port, err := parsePort(v)
	if err != nil {
		return err
	}
	if err := c.l4proto(proto); err != nil {
		return err
	}
	c.emit(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port})
	return nil
}

func (c *ruleCompiler) metaMatch() error {
	if t, err := c.need("l4proto"); err != nil || t != "l4proto" {
		return fmt.Errorf("only meta l4proto is supported")
	}
	p, err := c.need("protocol")
	if err != nil {
		return err
	}
	return c.l4proto(p)
}

func (c *ruleCompiler) numgen() error {
	// numgen random mod <n> == <v>
	want := []string{"random", "mod"}
	for _, w := range want {
		if t, _ := c.next(); t != w {
			return fmt.Errorf("only numgen random mod N == V is supported")
		}
	}
	nTok, _ := c.next()
	eq, _ := c.next()
	vTok, _ := c.next()
	n, err1 := strconv.ParseUint(nTok, 10, 32)
	v, err2 := strconv.ParseUint(vTok, 10, 32)
	if err1 != nil || err2 != nil || eq != "==" || n == 0 {
		return fmt.Errorf("only numgen random mod N == V is supported")
	}
	c.emit(&expr.Numgen{Register: 1, Modulus: uint32(n), Type: unix.NFT_NG_RANDOM},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, uint32(v))})
	return nil
}

func (c *ruleCompiler) fib() error {
	field, _ := c.next()
	typ, _ := c.next()
	local, _ := c.next()
	if (field != "saddr" && field != "daddr") || typ != "type" || local != "local" {
		return fmt.Errorf("only fib saddr|daddr type local is supported")
	}
	c.emit(&expr.Fib{Register: 1, ResultADDRTYPE: true, FlagSADDR: field == "saddr", FlagDADDR: field == "daddr"},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, unix.RTN_LOCAL)})
	return nil
}

func (c *ruleCompiler) update() error {
	// update @set { ip saddr }
	set, _ := c.next()
	open, _ := c.next()
	fam, _ := c.next()
	field, _ := c.next()
	closing, _ := c.next()
	name, ok := strings.CutPrefix(set, "@")
	if !ok || open != "{" || closing != "}" || (fam != "ip" && fam != "ip6") {
		return fmt.Errorf("only update @set { ip|ip6 saddr|daddr } is supported")
	}
	off, length, err := addrOffset(fam, field)
	if err != nil {
		return err
	}
	c.family(fam)
	c.emit(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: length},
		&expr.Dynset{SrcRegKey: 1, SetName: name, Operation: unix.NFT_DYNSET_OP_UPDATE})
	return nil
}

func (c *ruleCompiler) dnat() error {
	fam, _ := c.next()
	to, _ := c.next()
	target, _ := c.next()
	if (fam != "ip" && fam != "ip6") || to != "to" {
		return fmt.Errorf("only dnat ip|ip6 to <address>:<port> is supported")
	}
	ap, err := netip.ParseAddrPort(target)
	if err != nil {
		return fmt.Errorf("dnat target %q: %w", target, err)
	}
	if ap.Addr().Is4() != (fam == "ip") {
		return fmt.Errorf("dnat target %s is not of family %s", target, fam)
	}
	nfFam := uint32(unix.NFPROTO_IPV4)
	if fam == "ip6" {
		nfFam = unix.NFPROTO_IPV6
	}
	c.emit(&expr.Immediate{Register: 1, Data: ap.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: binary.BigEndian.AppendUint16(nil, ap.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: nfFam, RegAddrMin: 1, RegProtoMin: 2, Specified: true})
	return nil
}

// compileKey returns the key bytes of a map element ("10.96.0.5 . tcp . 80", "tcp . 30080"): each part
// of a concatenation takes a multiple of 4 bytes, as the kernel stores it.
func compileKey(key string) ([]byte, error) {
	var out []byte
	for _, part := range strings.Split(key, " . ") {
		part = strings.TrimSpace(part)
		var b []byte
		if a, err := netip.ParseAddr(part); err == nil {
			b = a.AsSlice()
		} else if p, err := protoNum(part); err == nil {
			b = []byte{p}
		} else if port, err := parsePort(part); err == nil {
			b = port
		} else {
			return nil, fmt.Errorf("element key %q: unsupported part %q", key, part)
		}
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		out = append(out, b...)
	}
	return out, nil
}

// compileVerdict returns the verdict of a map element value ("goto <chain>", "drop").
func compileVerdict(value string) (*expr.Verdict, error) {
	f := strings.Fields(value)
	switch {
	case len(f) == 2 && f[0] == "goto":
		return &expr.Verdict{Kind: expr.VerdictGoto, Chain: f[1]}, nil
	case len(f) == 2 && f[0] == "jump":
		return &expr.Verdict{Kind: expr.VerdictJump, Chain: f[1]}, nil
	case len(f) == 1 && f[0] == "drop":
		return &expr.Verdict{Kind: expr.VerdictDrop}, nil
	case len(f) == 1 && f[0] == "accept":
		return &expr.Verdict{Kind: expr.VerdictAccept}, nil
	}
	return nil, fmt.Errorf("unsupported element verdict %q", value)
}
