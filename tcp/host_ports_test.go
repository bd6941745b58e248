package tcp

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/utcp/utcp/tun"
)

// remoteN is the n-th of many distinct remotes: addresses 10.1.0.0/16, ports from 1.
func remoteN(n int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(n >> 8), byte(n)}), uint16(1+n%1000))
}

// dialN dials remote on r's host and flushes the SYN.
func (r *hostRig) dialN(remote netip.AddrPort) (*tcb, error) {
	c, err := r.h.dial(r.now, remote)
	r.flush()
	return c, err
}

func TestHostPorts_Range(t *testing.T) {
	for _, tc := range []struct {
		name        string
		in          [2]uint16
		first, last uint16
		ok          bool
	}{
		{"default", [2]uint16{}, ephemeralFirst, ephemeralLast, true},
		{"Linux's default", [2]uint16{32768, 60999}, 32768, 60999, true},
		{"one port", [2]uint16{5000, 5000}, 5000, 5000, true},
		{"whole space", [2]uint16{1, 65535}, 1, 65535, true},
		{"port 0", [2]uint16{0, 100}, 0, 0, false},
		{"reversed", [2]uint16{2000, 1000}, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, last, err := portRange(tc.in)
			if !tc.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, [2]uint16{tc.first, tc.last}, [2]uint16{first, last})
			r := newHostRig(t, func(c *Config) { c.EphemeralPorts = tc.in })
			c, err := r.dialN(remoteN(1))
			require.NoError(t, err)
			assert.GreaterOrEqual(t, c.id.Local.Port(), first)
			assert.LessOrEqual(t, c.id.Local.Port(), last)
		})
	}
}

// TestHostPorts_NotSequential checks that the ports toward unrelated remotes
// are spread over the range as RFC 6056 §3.3.4's F makes them, not handed
// out in turn: few neighbours, and every eighth of the range used about
// equally. The bounds are many standard deviations wide.
func TestHostPorts_NotSequential(t *testing.T) {
	r := newHostRig(t, nil)
	const n = 2000
	var buckets [8]int
	successive, prev := 0, uint16(0)
	for i := range n {
		c, err := r.dialN(remoteN(i))
		require.NoError(t, err)
		p := c.id.Local.Port()
		if p == prev+1 {
			successive++
		}
		prev = p
		buckets[(int(p)-ephemeralFirst)*len(buckets)/(ephemeralLast-ephemeralFirst+1)]++
	}
	assert.Less(t, successive, n/20, "consecutive dials to different remotes rarely take neighbouring ports")
	for i, b := range buckets {
		assert.InDelta(t, n/len(buckets), b, float64(n/len(buckets)/2), "eighth %d of the range", i)
	}
}

func TestHostPorts_SameRemoteDistinctPorts(t *testing.T) {
	r := newHostRig(t, nil)
	remote := netip.MustParseAddrPort("10.0.0.2:80")
	seen := map[uint16]bool{}
	for range 3000 {
		c, err := r.dialN(remote)
		require.NoError(t, err)
		p := c.id.Local.Port()
		require.False(t, seen[p], "port %d handed out twice toward %v", p, remote)
		seen[p] = true
	}
}

// TestHostPorts_MoreThanTheRange checks that active opens toward different
// remotes are not bounded by the size of the range in total.
func TestHostPorts_MoreThanTheRange(t *testing.T) {
	r := newHostRig(t, nil)
	n := ephemeralLast - ephemeralFirst + 1 + 4000
	ports := map[uint16]int{}
	for i := range n {
		c, err := r.dialN(remoteN(i))
		require.NoError(t, err, "dial %d", i)
		ports[c.id.Local.Port()]++
	}
	assert.Len(t, r.h.conns, n, "every dial has its four-tuple")
	assert.Less(t, len(ports), n, "some ports serve several remotes")
}

func TestHostPorts_ExhaustedTowardOneRemote(t *testing.T) {
	r := newHostRig(t, func(c *Config) { c.EphemeralPorts = [2]uint16{100, 103} })
	a, b := netip.MustParseAddrPort("10.0.0.2:7"), netip.MustParseAddrPort("10.0.0.2:8")
	var toA []*tcb
	seen := map[uint16]bool{}
	for range 4 {
		c, err := r.dialN(a)
		require.NoError(t, err)
		seen[c.id.Local.Port()] = true
		toA = append(toA, c)
	}
	assert.Len(t, seen, 4, "the four ports, each once")
	_, err := r.dialN(a)
	assert.ErrorIs(t, err, ErrNoPorts, "every port is in use toward %v", a)
	_, err = r.h.listen(0)
	assert.ErrorIs(t, err, ErrNoPorts, "Listen(0) wants a port no connection uses")
	c, err := r.dialN(b)
	require.NoError(t, err, "another remote port is another four-tuple")
	assert.True(t, seen[c.id.Local.Port()], "a port in use toward %v serves %v too", a, b)

	// A closed connection's four-tuple is free again.
	toA[2].abort(r.now)
	r.h.touch(r.now, toA[2])
	r.flush()
	again, err := r.dialN(a)
	require.NoError(t, err)
	assert.Equal(t, toA[2].id.Local.Port(), again.id.Local.Port(), "the only free four-tuple toward %v", a)
	assert.NotEqual(t, c.id, again.id)
}

func TestHostPorts_ListenersPortNeverChosen(t *testing.T) {
	r := newHostRig(t, func(c *Config) { c.EphemeralPorts = [2]uint16{100, 103} })
	r.listen(101)
	for i := range 200 {
		c, err := r.dialN(remoteN(i))
		require.NoError(t, err)
		assert.NotEqual(t, uint16(101), c.id.Local.Port(), "a listener's port is never chosen")
	}
	one := netip.MustParseAddrPort("10.0.0.2:7")
	for range 3 {
		_, err := r.dialN(one)
		require.NoError(t, err)
	}
	_, err := r.dialN(one)
	assert.ErrorIs(t, err, ErrNoPorts, "three ports, the fourth is the listener's")
}

func TestHostPorts_ListenZero(t *testing.T) {
	r := newHostRig(t, func(c *Config) { c.EphemeralPorts = [2]uint16{100, 103} })
	// A connection on 102 outlives its listener: the port stays in use.
	ln := r.listen(102)
	c, out := r.in(40000, 102, "S 5000:5000(0) win 65535")
	r.match(out, "40000 S. 1000:1000(0) ack 5001")
	_, out = r.in(40000, 102, ". 5001:5001(0) ack 1001 win 65535")
	r.match(out)
	require.Same(t, c, r.h.accept(ln))
	r.h.closeListener(r.now, ln)
	r.match(r.flush())
	d, err := r.dialN(netip.MustParseAddrPort("10.0.0.2:7"))
	require.NoError(t, err)

	used := map[uint16]bool{102: true, d.id.Local.Port(): true}
	got := map[uint16]bool{}
	for range 4 - len(used) {
		l, err := r.h.listen(0)
		require.NoError(t, err)
		got[l.port] = true
	}
	assert.False(t, got[102], "port 102 has a connection")
	assert.False(t, got[d.id.Local.Port()], "port %d has a connection", d.id.Local.Port())
	assert.Len(t, got, 4-len(used))
	_, err = r.h.listen(0)
	assert.ErrorIs(t, err, ErrNoPorts)
}

// TestHostPorts_SecretsPerHost checks that the port sequence comes from
// secrets of each host's own: two hosts dialling the same remotes agree on
// few ports (by chance, 1 in 16,384 each).
func TestHostPorts_SecretsPerHost(t *testing.T) {
	a, b := newHostRig(t, nil), newHostRig(t, nil)
	same := 0
	for i := range 200 {
		ca, err := a.dialN(remoteN(i))
		require.NoError(t, err)
		cb, err := b.dialN(remoteN(i))
		require.NoError(t, err)
		if ca.id.Local.Port() == cb.id.Local.Port() {
			same++
		}
	}
	assert.Less(t, same, 5)
	assert.NotEqual(t, a.h.isn.k0, a.h.eph.f[0], "F's key is not the ISN generator's")
}

func BenchmarkHostPorts_Dial(b *testing.B) {
	cfg := (&Config{Addr: hostAddr}).withDefaults()
	h := newHost(&cfg)
	remote := netip.MustParseAddrPort("10.0.0.2:80")
	for b.Loop() {
		if _, ok := h.dialPort(hostAddr, remote); !ok {
			b.Fatal("no port")
		}
	}
}

func TestStack_EphemeralPorts(t *testing.T) {
	ea, eb := tun.Pipe(1500)
	defer ea.Close()
	defer eb.Close()
	_, err := NewStack(ea, Config{Addr: addrA, EphemeralPorts: [2]uint16{2000, 1000}})
	assert.Error(t, err, "a reversed range")

	p := newPair(t, Config{Addr: addrA, EphemeralPorts: [2]uint16{40000, 40001}}, Config{Addr: addrB})
	lns := map[uint16]*Listener{}
	for _, port := range []uint16{80, 81} {
		ln, err := p.b.Listen(port)
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		lns[port] = ln
	}
	for _, port := range []uint16{80, 80, 81, 81} {
		c, err := p.a.Dial(netip.AddrPortFrom(addrB, port))
		require.NoError(t, err, "two ports toward each of two remotes")
		assert.Contains(t, []int{40000, 40001}, c.LocalAddr().(*net.TCPAddr).Port)
		_, err = lns[port].AcceptTCP()
		require.NoError(t, err)
	}
	_, err = p.a.Dial(netip.AddrPortFrom(addrB, 80))
	assert.ErrorIs(t, err, ErrNoPorts)
}
