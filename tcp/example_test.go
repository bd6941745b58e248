package tcp_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"
	"os"
	"time"

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

// Example_httpClient runs net/http over two stacks joined in memory: an
// http.Server on one stack's listener, an http.Client whose Transport dials
// through the other's DialContext. Shutdown then closes the server's stack
// gracefully.
func Example_httpClient() {
	clientEnd, serverEnd := tun.Pipe(1500)
	defer clientEnd.Close()
	defer serverEnd.Close()
	client, err := tcp.NewStack(clientEnd, tcp.Config{Addr: netip.MustParseAddr("10.9.0.1")})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	server, err := tcp.NewStack(serverEnd, tcp.Config{Addr: netip.MustParseAddr("10.9.0.2")})
	if err != nil {
		log.Fatal(err)
	}

	ln, err := server.ListenAddr("tcp", ":80") // as net.Listen
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, %s", r.URL.Path[1:])
	})}
	go srv.Serve(ln)

	tr := &http.Transport{DialContext: client.DialContext}
	resp, err := (&http.Client{Transport: tr}).Get("http://10.9.0.2/utcp")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, string(body))

	tr.CloseIdleConnections() // the client's FIN
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil { // the listener closes, then every connection
		log.Fatal(err)
	}
	srv.Close()
	// Output: 200 OK hello, utcp
}
