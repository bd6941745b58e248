package tcp_test

import (
	"fmt"
	"io"
	"log"
	"net/netip"
	"os"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
)

// Example is the README's example: a stack on a TUN device, an echo server
// (passive open) and a client connection (active open) to the kernel side.
// It needs root, so it is compiled but not run.
func Example() {
	link, err := tun.Open(tun.Config{Name: "utcp0",
		KernelAddr: netip.MustParseAddr("10.9.0.1"), PeerAddr: netip.MustParseAddr("10.9.0.2")})
	if err != nil {
		log.Fatal(err) // tun.ErrPermission without CAP_NET_ADMIN
	}
	defer link.Close()
	st, err := tcp.NewStack(link, tcp.Config{Addr: netip.MustParseAddr("10.9.0.2")})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// Passive open: Accept returns once the third segment of the handshake arrives.
	ln, err := st.Listen(4567)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }() // echo, then FIN
		}
	}()

	// Active open: Dial returns once the SYN-ACK has arrived and been ACKed.
	c, err := st.Dial(netip.MustParseAddrPort("10.9.0.1:8080"))
	if err != nil {
		log.Fatal(err) // errors.Is(err, syscall.ECONNREFUSED) when a RST answers the SYN
	}
	fmt.Fprintln(c, "hello")
	c.CloseWrite()        // half-close: FIN, reading goes on
	io.Copy(os.Stdout, c) // until the peer's FIN: io.EOF
	c.Close()
}
