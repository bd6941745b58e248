package tcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"github.com/utcp/utcp/ip"
)

// scriptICMP is a parsed "< icmp" line: an ICMP error about a segment we
// sent, from a router on the path, as the Stack would take it: through
// ip.Endpoint.Input, then host.icmpError.
//
//	< icmp unreach frag-needed mtu 1200 seq 1 len 1500
//	< icmp unreach port seq 0
//	< icmp time-exceeded seq 1
//	< icmp source-quench seq 1
//
// TYPE is unreach (destination unreachable, with a CODE: net, host, proto,
// port, frag-needed, srcroute or a number), time-exceeded, param-problem or
// source-quench. mtu is the next-hop MTU of frag-needed (0 if left out);
// seq is the quoted segment's SEQ, relative to iss (required); len is the
// quoted datagram's total length (default 1500).
type scriptICMP struct {
	typ, code uint8
	mtu       uint16
	seq       uint32
	qlen      uint16
}

var scriptICMPCodes = map[string]uint8{
	"net": ip.ICMPCodeNetUnreachable, "host": ip.ICMPCodeHostUnreachable,
	"proto": ip.ICMPCodeProtoUnreachable, "port": ip.ICMPCodePortUnreachable,
	"frag-needed": ip.ICMPCodeFragNeeded, "srcroute": ip.ICMPCodeSourceRouteFail,
}

// scriptParseICMP parses the argument of "< icmp ...".
func scriptParseICMP(arg string) (*scriptICMP, error) {
	f := strings.Fields(arg)[1:]
	if len(f) == 0 {
		return nil, errors.New("icmp: want a type")
	}
	m := &scriptICMP{qlen: 1500}
	switch f[0] {
	case "unreach":
		m.typ = ip.ICMPTypeDestUnreachable
		if len(f) < 2 {
			return nil, errors.New("icmp unreach: want a code")
		}
		c, ok := scriptICMPCodes[f[1]]
		if !ok {
			n, err := strconv.ParseUint(f[1], 10, 8)
			if err != nil {
				return nil, fmt.Errorf("icmp unreach: unknown code %q", f[1])
			}
			c = uint8(n)
		}
		m.code = c
		f = f[2:]
	case "time-exceeded":
		m.typ, f = ip.ICMPTypeTimeExceeded, f[1:]
	case "param-problem":
		m.typ, f = ip.ICMPTypeParamProblem, f[1:]
	case "source-quench":
		m.typ, f = ip.ICMPTypeSourceQuench, f[1:]
	default:
		return nil, fmt.Errorf("icmp: unknown type %q", f[0])
	}
	hasSeq := false
	for len(f) > 0 {
		if len(f) < 2 {
			return nil, fmt.Errorf("icmp: %s wants a value", f[0])
		}
		n, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("icmp: %s: bad number %q", f[0], f[1])
		}
		switch f[0] {
		case "mtu":
			if n > 0xffff {
				return nil, errors.New("icmp: mtu above 65535")
			}
			m.mtu = uint16(n)
		case "seq":
			m.seq, hasSeq = uint32(n), true
		case "len":
			if n < ip.HeaderLen+20 || n > 0xffff {
				return nil, errors.New("icmp: len outside 40..65535")
			}
			m.qlen = uint16(n)
		default:
			return nil, fmt.Errorf("icmp: unknown field %q", f[0])
		}
		f = f[2:]
	}
	if !hasSeq {
		return nil, errors.New("icmp: want seq N (the quoted SEQ, relative to iss)")
	}
	return m, nil
}

// injectICMP sends the ICMP error of a "< icmp" line through the IP layer
// and the host, as Stack.handlePacket does.
func (r *scriptRunner) injectICMP(l *scriptLine) {
	m := l.icmp
	local, remote := r.opt.id.Local, r.remote(l)
	// The quote: our IPv4 header as sent and the first 8 octets of TCP.
	qh := ip.Header{TotalLen: m.qlen, DontFragment: true, TTL: 1, Protocol: ip.ProtoTCP, Src: local.Addr(), Dst: remote.Addr()}
	quote := make([]byte, ip.HeaderLen+8)
	ip.PutHeader(quote, &qh)
	binary.BigEndian.PutUint16(quote[ip.HeaderLen:], local.Port())
	binary.BigEndian.PutUint16(quote[ip.HeaderLen+2:], remote.Port())
	binary.BigEndian.PutUint32(quote[ip.HeaderLen+4:], m.seq+uint32(r.opt.iss))
	router := netip.AddrFrom4([4]byte{10, 0, 0, 254})
	pkt := ip.AppendICMPError(nil, router, local.Addr(), m.typ, m.code, uint32(m.mtu), quote)
	r.ep.Addr = local.Addr()
	_, seg, out, e := r.ep.Input(pkt, nil)
	if seg != nil || out != nil {
		r.failf("icmp: the IP layer returned a segment or a reply")
	}
	r.tracef("< icmp type %d code %d mtu %d seq %d", m.typ, m.code, m.mtu, m.seq)
	if e.Type != 0 {
		r.h.icmpError(r.now, &e)
	}
	r.flush()
}

// scriptSoftErr checks a "softerr NAME" line: the connection's soft error
// (tcb.softError) is NAME, or none.
func (r *scriptRunner) scriptSoftErr(l *scriptLine) {
	got := r.conn(l).softError()
	switch {
	case l.err == nil && got != nil:
		r.failf("got soft error %v, want none", got)
	case l.err != nil && !errors.Is(got, l.err):
		r.failf("got soft error %v, want %v", got, l.err)
	}
}

// scriptICMPErrNames are the errnos ICMP errors give, for err and softerr.
var scriptICMPErrNames = map[string]error{
	"ENETUNREACH":  syscall.ENETUNREACH,
	"EHOSTUNREACH": syscall.EHOSTUNREACH,
	"ENOPROTOOPT":  syscall.ENOPROTOOPT,
	"EPROTO":       syscall.EPROTO,
	"EOPNOTSUPP":   syscall.EOPNOTSUPP,
}
