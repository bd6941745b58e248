// Command utcp runs utcp, a TCP/IPv4 stack in user space, on a TUN device,
// so that the Linux kernel's TCP and utcp's talk to each other:
//
//	sudo utcp listen 4567        # then: nc 10.9.0.2 4567
//	sudo utcp dial 10.9.0.1 4567 # to: nc -l 4567
//	sudo utcp echo 7
//	sudo utcp http 8080 --dir .  # then: curl http://10.9.0.2:8080/
//
// Run `utcp --help` for the flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/utcp/utcp/tcp"
	"github.com/utcp/utcp/tun"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	// SIGINT and SIGTERM end the command cleanly: connections reset, the
	// TUN device removed, exit 128+signal. A second signal kills at once.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		signal.Stop(sigs)
		cancel(interrupted{sig: sig.(syscall.Signal)})
	}()
	// A closed stdout is an error to report, not a silent death that would
	// skip the cleanup.
	signal.Ignore(syscall.SIGPIPE)
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, openTUN))
}

// openTUN creates and configures the TUN device: the kernel's side gets
// c.Peer, with c.Addr (utcp's) as the point-to-point peer.
func openTUN(c linkConfig) (tcp.Link, error) {
	d, err := tun.Open(tun.Config{Name: c.Name, KernelAddr: c.Peer, PeerAddr: c.Addr, KernelAddr6: c.Peer6, PeerAddr6: c.Addr6, MTU: c.MTU, Offload: c.Offload})
	if err != nil {
		return nil, err
	}
	return d, nil
}
