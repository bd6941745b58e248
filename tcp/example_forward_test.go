package tcp_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/netip"
	"syscall"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
)

// Example_forward is the README's forwarding example: a stack in
// forwarding mode answers for every address. It accepts connections to
// port 80 of any destination, greets each from the address it was sent
// to, and refuses the rest with a RST. A second stack, joined to it by a
// tun.Pipe as a TUN device would join it to the kernel, is the client.
func Example_forward() {
	fwdEnd, clientEnd := tun.Pipe(1500)
	defer fwdEnd.Close()
	defer clientEnd.Close()

	fwd, err := tcp.NewStack(fwdEnd, tcp.Config{
		Addr: netip.MustParseAddr("10.0.0.1"),
		// Forward runs on the stack's loop and must not block: decide at
		// once, or hand the request to a goroutine.
		Forward: func(req *tcp.ForwardRequest) {
			if req.ID().Local.Port() != 80 {
				req.Refuse() // RST from the original destination
				return
			}
			go func() {
				c, err := req.Accept() // SYN-ACK from the original destination
				if err != nil {
					return
				}
				fmt.Fprintf(c, "hello from %v\n", c.LocalAddr())
				c.Close()
			}()
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer fwd.Close()

	client, err := tcp.NewStack(clientEnd, tcp.Config{Addr: netip.MustParseAddr("10.0.0.2")})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	c, err := client.Dial(netip.MustParseAddrPort("198.18.0.7:80"))
	if err != nil {
		log.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	fmt.Print(string(b))

	_, err = client.Dial(netip.MustParseAddrPort("203.0.113.5:25"))
	fmt.Println("port 25 refused:", errors.Is(err, syscall.ECONNREFUSED))
	// Output:
	// hello from 198.18.0.7:80
	// port 25 refused: true
}
