package e2e

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestForward puts `utcp forward` between the test's namespace and a
// second one, the "internet", that holds an HTTP server at 198.18.0.5:
//
//	curl ─route 198.18.0.0/15─▶ utcpf0 (TUN) ─▶ utcp forward
//	utcp forward ─SO_MARK 100, rule fwmark 100 → table 100─▶ fwdn 10.12.0.1
//	    ─veth─ fwdf 10.12.0.2 + 198.18.0.5 [second namespace: the server]
//
// The main table sends 198.18.0.0/15 into the TUN; table 100, which only
// utcp's marked sockets reach, sends it over the veth, so the relay's own
// connections do not loop back into utcp.
const (
	fwdMark     = 100
	fwdDownload = 4 << 20 // each download
	fwdParallel = 50      // downloads at once
	fwdDeadline = 2 * time.Minute
)

var (
	fwdServer  = netip.MustParseAddrPort("198.18.0.5:80")
	fwdNear    = netip.MustParseAddr("10.12.0.1")
	fwdFar     = netip.MustParseAddr("10.12.0.2")
	fwdPrefix  = netip.MustParsePrefix("198.18.0.0/15")
	fwdOutside = netip.MustParseAddrPort("203.0.113.9:80") // routed into the TUN, outside --allow

	// The same over IPv6: the server also at 2001:db8:18::5, behind the
	// veth's fd00:12::/64.
	fwdServer6  = netip.MustParseAddrPort("[2001:db8:18::5]:80")
	fwdNear6    = netip.MustParseAddr("fd00:12::1")
	fwdFar6     = netip.MustParseAddr("fd00:12::2")
	fwdPrefix6  = netip.MustParsePrefix("2001:db8:18::/64")
	fwdOutside6 = netip.MustParseAddrPort("[2001:db8:99::9]:80")
)

func TestForward(t *testing.T) {
	internet := newForwardInternet(t)
	ln := internet.listenFar(t, int(fwdServer.Port()))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seed, err := strconv.ParseUint(strings.TrimPrefix(r.URL.Path, "/"), 10, 64)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		io.CopyN(w, newPattern(seed), int64(n))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	const tunName = "utcpf0"
	var ln6 net.Listener
	require.NoError(t, internet.inNS(func() (err error) {
		ln6, err = listenWhenReady("tcp6", fwdServer6)
		return err
	}), "the server's IPv6 listener")
	go srv.Serve(ln6)

	u := startUtcp(t, tunName, "forward", "--ipv6", "--mark", strconv.Itoa(fwdMark), "--allow", fwdPrefix.String(), "--allow", fwdPrefix6.String(), "-v")
	u.waitStderr(t, "forwarding every TCP connection")
	dev, err := netlink.LinkByName(tunName)
	require.NoError(t, err)
	for _, p := range []netip.Prefix{fwdPrefix, netip.PrefixFrom(fwdOutside.Addr(), 32), fwdPrefix6, netip.PrefixFrom(fwdOutside6.Addr(), 128)} {
		require.NoError(t, netlink.RouteAdd(&netlink.Route{LinkIndex: dev.Attrs().Index, Dst: prefixNet(p)}), "route %v into the TUN", p)
	}

	t.Run("curl", func(t *testing.T) {
		dir := t.TempDir()
		args := []string{"-sS", "--fail", "--parallel", "--parallel-max", strconv.Itoa(fwdParallel), "--max-time", "100"}
		for i := range fwdParallel {
			args = append(args, "-o", filepath.Join(dir, strconv.Itoa(i)), fmt.Sprintf("http://%v/%d?n=%d", fwdServer, i, fwdDownload))
		}
		start := time.Now()
		curl := startTool(t, "curl", args...)
		select {
		case <-curl.done:
		case <-time.After(fwdDeadline):
			require.FailNow(t, "curl did not finish", "stderr:\n%s", curl.stderr.String())
		}
		took := time.Since(start)
		require.Equal(t, 0, curl.code, "curl: %s", curl.stderr.String())
		for i := range fwdParallel {
			b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)))
			require.NoError(t, err)
			require.Equal(t, patternSHA256(uint64(i), fwdDownload), sha256.Sum256(b), "download %d: SHA-256", i)
		}
		t.Logf("curl: %d concurrent downloads of %d MiB through utcp forward in %v, SHA-256 equal", fwdParallel, fwdDownload>>20, took.Round(time.Millisecond))
	})

	t.Run("net/http", func(t *testing.T) {
		const size = 1 << 20
		start := time.Now()
		httpDownloads(t, fwdServer, fwdParallel, 1000, size)
		t.Logf("net/http: %d concurrent downloads of %d MiB in %v", fwdParallel, size>>20, time.Since(start).Round(time.Millisecond))
	})

	t.Run("IPv6", func(t *testing.T) {
		httpDownloads(t, fwdServer6, 10, 2000, 1<<20)
		_, err := net.DialTimeout("tcp6", fwdOutside6.String(), waitTimeout)
		require.ErrorIs(t, err, syscall.ECONNREFUSED, "outside --allow over IPv6: a RST")
	})

	t.Run("outside --allow: RST", func(t *testing.T) {
		start := time.Now()
		_, err := net.DialTimeout("tcp4", fwdOutside.String(), waitTimeout)
		require.ErrorIs(t, err, syscall.ECONNREFUSED, "a RST answers the SYN")
		t.Logf("dial %v: refused in %v", fwdOutside, time.Since(start).Round(time.Microsecond))
		curl := startTool(t, "curl", "-sS", "--max-time", "20", "http://"+fwdOutside.String()+"/")
		assert.Equal(t, 7, curl.wait(t), "curl: couldn't connect (its text for ECONNREFUSED)")
	})

	u.signal(t, syscall.SIGINT)
	u.wait(t)
	stderr := u.stderr.String()
	t.Logf("utcp forward -v:\n%s", lastLines(stderr, 4))
	c := forwardCounters(t, stderr)
	assert.Equal(t, c["dialed"], c["relayed"], "every dial relayed")
	assert.Equal(t, c["relayed"], c["accepted"], "every connection the stack accepted was relayed: none came from utcp's own dials looping back")
	assert.GreaterOrEqual(t, c["relayed"], uint64(fwdParallel+1+10), "curl may reuse connections; net/http does not")
	assert.Equal(t, uint64(3), c["not_allowed"])
	assert.Equal(t, uint64(3), c["refused"], "the stack's RSTs")
	assert.Zero(t, c["dial_refused"]+c["dial_timeouts"]+c["accept_failed"])
}

// httpDownloads makes n concurrent net/http downloads of size octets from
// server, pattern seeds from seed0 on, one connection each, and checks
// each one's SHA-256.
func httpDownloads(t *testing.T, server netip.AddrPort, n int, seed0 uint64, size int) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: fwdDeadline}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			seed := seed0 + uint64(i)
			resp, err := client.Get(fmt.Sprintf("http://%v/%d?n=%d", server, seed, size))
			if !assert.NoError(t, err) {
				return
			}
			defer resp.Body.Close()
			h := sha256.New()
			got, err := io.Copy(h, resp.Body)
			assert.NoError(t, err)
			assert.Equal(t, int64(size), got)
			assert.Equal(t, patternSHA256(seed, int64(size)), [32]byte(h.Sum(nil)), "download %d from %v: SHA-256", seed, server)
		})
	}
	wg.Wait()
}

// forwardCounters reads the counters of utcp forward -v's "tcp:" and
// "forward:" lines.
func forwardCounters(t *testing.T, stderr string) map[string]uint64 {
	t.Helper()
	c := map[string]uint64{}
	for _, l := range lines(stderr) {
		rest, ok := strings.CutPrefix(l, "forward: ")
		if !ok {
			rest, ok = strings.CutPrefix(l, "tcp: ")
		}
		if !ok {
			continue
		}
		for _, f := range strings.Fields(rest) {
			k, v, _ := strings.Cut(f, "=")
			n, err := strconv.ParseUint(v, 10, 64)
			if err == nil {
				c[k] = n
			}
		}
	}
	require.Contains(t, c, "relayed", "utcp forward -v prints its counters:\n%s", stderr)
	return c
}

// patternSHA256 is the SHA-256 of the first n octets of newPattern(seed).
func patternSHA256(seed uint64, n int64) [32]byte {
	h := sha256.New()
	io.CopyN(h, newPattern(seed), n)
	return [32]byte(h.Sum(nil))
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	l := lines(s)
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// newForwardInternet makes the second namespace and the veth pair to it
// (fwdn in the test's namespace, fwdf there, holding the server's
// address), and the routing that keeps utcp's marked connections off the
// TUN: rule fwmark → table 100, whose route to the prefix is the veth.
// Cleanup deletes the pair, the namespace and the rule.
func newForwardInternet(t *testing.T) *kernelPath {
	t.Helper()
	p := &kernelPath{near: fwdNear, far: fwdServer.Addr(), ns: -1}
	require.NoError(t, onNewThread(func() error {
		ns, err := netns.New() // this thread only; it dies with the goroutine
		p.ns = ns
		return err
	}), "the second namespace")
	t.Cleanup(func() { assert.NoError(t, p.ns.Close()) })

	const near, far = "fwdn", "fwdf"
	require.NoError(t, netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: near}, PeerName: far}), "the veth pair")
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(near); err == nil {
			assert.NoError(t, netlink.LinkDel(l), "deleting one end deletes both")
		}
	})
	peer, err := netlink.LinkByName(far)
	require.NoError(t, err)
	require.NoError(t, netlink.LinkSetNsFd(peer, int(p.ns)))
	link, err := netlink.LinkByName(near)
	require.NoError(t, err)
	require.NoError(t, netlink.AddrAdd(link, &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(fwdNear, 24))}))
	require.NoError(t, netlink.AddrAdd(link, &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(fwdNear6, 64)), Flags: unix.IFA_F_NODAD}))
	require.NoError(t, netlink.LinkSetUp(link))
	require.NoError(t, p.inNS(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		l, err := netlink.LinkByName(far)
		if err != nil {
			return err
		}
		for _, a := range []netip.Prefix{netip.PrefixFrom(fwdFar, 24), netip.PrefixFrom(fwdServer.Addr(), 32),
			netip.PrefixFrom(fwdFar6, 64), netip.PrefixFrom(fwdServer6.Addr(), 128)} {
			if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: prefixNet(a), Flags: unix.IFA_F_NODAD}); err != nil {
				return err
			}
		}
		return errors.Join(netlink.LinkSetUp(lo), netlink.LinkSetUp(l))
	}), "configure the second namespace")

	// Table 100: the real route, for the relay's marked sockets only.
	require.NoError(t, netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(fwdPrefix), Gw: fwdFar.AsSlice(), Table: fwdMark}))
	require.NoError(t, netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(fwdPrefix6), Gw: fwdFar6.AsSlice(), Table: fwdMark}))
	for _, family := range []int{unix.AF_INET, unix.AF_INET6} {
		rule := netlink.NewRule()
		rule.Family, rule.Mark, rule.Table = family, fwdMark, fwdMark
		require.NoError(t, netlink.RuleAdd(rule), "ip rule add fwmark 100 table 100 (family %d)", family)
		t.Cleanup(func() { assert.NoError(t, netlink.RuleDel(rule)) })
	}
	// Replies to the marked connections come in on the veth from an address
	// the main table routes into the TUN: strict reverse-path filtering
	// would drop them.
	setSysctl(t, "/proc/sys/net/ipv4/conf/all/rp_filter", "0")
	setSysctl(t, "/proc/sys/net/ipv4/conf/"+near+"/rp_filter", "0")
	return p
}
