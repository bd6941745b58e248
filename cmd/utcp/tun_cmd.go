package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/user"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/utcp/utcp/tun"
)

// tunHelp is the text of `utcp tun --help`.
const tunHelp = `Usage:
  sudo utcp tun create --user USER [--group GROUP] [--tun NAME] [--addr IP] [--peer IP] [--mtu N]
  utcp tun delete NAME

create makes a persistent TUN device owned by USER (and GROUP), configured
as utcp configures its own (the kernel's address --peer with utcp's --addr
as its peer, the MTU, link up). It stays until deleted or the machine
reboots, so USER can then run any utcp command on it without sudo:
  utcp --attach listen 4567      (the device utcp0; another with --tun NAME)
--attach opens the device without creating, configuring or removing it, and
takes its MTU from the device. delete removes the device; its owner needs no
sudo. /dev/net/tun must be open to USER (mode 0666, as most systems have it).

Flags of create:
`

// tunFlags defines the flags of `utcp tun create`.
func tunFlags(userName, group, name, addr, peer *string, mtu *int) *pflag.FlagSet {
	fs := pflag.NewFlagSet("utcp tun create", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	fs.StringVar(userName, "user", "", "the device's owner: a user `NAME` or uid (required)")
	fs.StringVar(group, "group", "", "also let the group `NAME` (or gid) use the device")
	fs.StringVar(name, "tun", defaultTUN, "the device's `NAME`")
	fs.StringVar(addr, "addr", defaultAddr, "utcp's own address: the kernel reaches utcp at this `IP`")
	fs.StringVar(peer, "peer", defaultPeer, "the kernel side's address on the TUN: utcp reaches the kernel at this `IP`")
	fs.IntVar(mtu, "mtu", defaultMTU, "the device's MTU, `N` bytes (68-65535)")
	return fs
}

// runTun runs `utcp tun ARGS` and returns the exit code.
func runTun(args []string, stdout, stderr io.Writer) int {
	err := tunCommand(args, stdout)
	var ue *usageError
	switch {
	case errors.Is(err, errHelp):
		var u, g, n, a, p string
		var m int
		fmt.Fprint(stdout, tunHelp, tunFlags(&u, &g, &n, &a, &p, &m).FlagUsages())
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, err)
		return exitUsage
	case err != nil:
		fmt.Fprintln(stderr, err)
		return exitRuntime
	}
	return exitOK
}

func tunCommand(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("missing subcommand: want utcp tun create or utcp tun delete (see utcp tun --help)")
	}
	switch args[0] {
	case "help", "-h", "--help":
		return errHelp
	case "delete":
		if len(args) == 2 && (args[1] == "-h" || args[1] == "--help") {
			return errHelp
		}
		if len(args) != 2 || strings.HasPrefix(args[1], "-") {
			return usagef("usage: utcp tun delete NAME")
		}
		if err := tun.DeletePersistent(args[1]); err != nil {
			return tunError(args[1], err)
		}
		fmt.Fprintf(stdout, "deleted TUN device %s\n", args[1])
		return nil
	case "create":
	default:
		return usagef("unknown subcommand %q: want utcp tun create or utcp tun delete", args[0])
	}
	var userName, group, name, addr, peer string
	var mtu int
	fs := tunFlags(&userName, &group, &name, &addr, &peer, &mtu)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errHelp
		}
		return usagef("%v (see utcp tun --help)", oneLine(err.Error()))
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q: usage: utcp tun create --user USER [flags]", fs.Arg(0))
	}
	if userName == "" {
		return usagef("missing --user: the user who may then run utcp on the device without sudo")
	}
	uid, err := lookupID(userName, func(s string) (string, error) {
		u, err := user.Lookup(s)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
	if err != nil {
		return usagef("bad --user %q: no such user", userName)
	}
	gid := -1
	if group != "" {
		if gid, err = lookupID(group, func(s string) (string, error) {
			g, err := user.LookupGroup(s)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		}); err != nil {
			return usagef("bad --group %q: no such group", group)
		}
	}
	cfg := tun.Config{Name: name, MTU: mtu}
	if cfg.PeerAddr, err = netip.ParseAddr(addr); err != nil || !cfg.PeerAddr.Is4() {
		return usagef("bad address %q for --addr: want an IPv4 address such as %s", addr, defaultAddr)
	}
	if cfg.KernelAddr, err = netip.ParseAddr(peer); err != nil || !cfg.KernelAddr.Is4() {
		return usagef("bad address %q for --peer: want an IPv4 address such as %s", peer, defaultPeer)
	}
	if err := tun.CreatePersistent(cfg, uid, gid); err != nil {
		if errors.Is(err, tun.ErrInvalidConfig) {
			return usagef("%v", strings.TrimPrefix(err.Error(), "tun: invalid config: "))
		}
		return tunError(name, err)
	}
	fmt.Fprintf(stdout, "created TUN device %s for %s: utcp %v, kernel %v, MTU %d\n"+
		"run utcp on it without sudo: utcp --attach --tun %s listen PORT\n", name, userName, cfg.PeerAddr, cfg.KernelAddr, mtu, name)
	return nil
}

// lookupID reads a numeric id, or looks a name up.
func lookupID(s string, lookup func(string) (string, error)) (int, error) {
	if n, err := strconv.ParseUint(s, 10, 31); err == nil {
		return int(n), nil
	}
	id, err := lookup(s)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(id, 10, 31)
	return int(n), err
}

// tunError is the line the user reads for an error of `utcp tun`.
func tunError(name string, err error) error {
	switch {
	case errors.Is(err, tun.ErrPermission):
		return errors.New("utcp tun needs root (CAP_NET_ADMIN) to create a TUN device, or to delete one that is not yours: run it with sudo")
	case errors.Is(err, tun.ErrExists):
		return fmt.Errorf("TUN device %s already exists; remove it with `utcp tun delete %s`, or pick another name with --tun", name, name)
	case errors.Is(err, tun.ErrNotExist):
		return fmt.Errorf("no TUN device %s", name)
	}
	return errors.New(oneLine(err.Error()))
}

// attachError is the line the user reads when --attach fails.
func attachError(name string, err error) error {
	switch {
	case errors.Is(err, tun.ErrNotExist):
		return fmt.Errorf("no TUN device %s to attach to: create it once with `sudo utcp tun create --user $USER --tun %s`", name, name)
	case errors.Is(err, tun.ErrPermission):
		return fmt.Errorf("TUN device %s is not yours (or /dev/net/tun is closed to you): recreate it with `sudo utcp tun create --user $USER --tun %s`", name, name)
	}
	return fmt.Errorf("attach to TUN device %s: %s", name, oneLine(err.Error()))
}
