// Package tuntest runs tests that need a TUN device inside a private
// network namespace, so they never touch the machine's own interfaces,
// addresses or routes.
//
// A package's TestMain calls Main. When the test binary runs as root (with
// CAP_SYS_ADMIN and CAP_NET_ADMIN), Main re-executes it in a new network
// namespace made by the kernel for the child (clone with CLONE_NEWNET), brings
// lo up there, and exits with the child's status; everything the tests create
// vanishes with the namespace. Otherwise the tests run normally and
// RequireNetns skips the ones that need the namespace, or fails them when the
// environment variable CI is "true".
package tuntest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
)

// Environment variables passed from the parent test process to the child.
const (
	// EnvInNetns marks the child that runs inside the private namespace.
	EnvInNetns = "UTCP_IN_NETNS"
	// envParentNetns holds the parent's namespace (readlink of
	// /proc/self/ns/net) so the child can check it really is elsewhere.
	envParentNetns = "UTCP_PARENT_NETNS"
)

// Linux capability numbers (linux/capability.h).
const (
	capNetAdmin = 12
	capSysAdmin = 21 // needed for CLONE_NEWNET
)

var (
	mainCalled bool
	netnsErr   error // why the tests are not in a usable private namespace; nil if they are
)

// Main is called from TestMain. It either re-executes the test binary in a
// private network namespace and exits with its status, or runs m.
// skipReason says why a test that needs a TUN device cannot run.
const skipReason = "needs root/CAP_NET_ADMIN to create a TUN device in a private network namespace"

func Main(m *testing.M) {
	mainCalled = true
	switch {
	case os.Getenv(EnvInNetns) == "1":
		netnsErr = setupChild()
	case privileged():
		code, err := runInNetns()
		if err == nil {
			os.Exit(code)
		}
		// Could not make the namespace: run here, where RequireNetns skips
		// (or, under CI, fails) instead of touching the root namespace.
		netnsErr = err
		fmt.Fprintf(os.Stderr, "tuntest: %v\n", err)
	default:
		netnsErr = errors.New("not running as root")
	}
	if netnsErr != nil && os.Getenv("CI") != "true" {
		// go test shows skip messages only with -v: say once, always, why
		// the TUN tests of this package will skip.
		fmt.Fprintf(os.Stderr, "tuntest: tests that need a TUN device will skip: %s (%v)\n", skipReason, netnsErr)
	}
	os.Exit(m.Run())
}

// RequireNetns skips t (fails it when CI=true) unless the test runs inside
// the private network namespace made by Main, with /dev/net/tun available.
func RequireNetns(t testing.TB) {
	t.Helper()
	if !mainCalled {
		t.Fatal("tuntest: RequireNetns needs TestMain to call tuntest.Main(m)")
	}
	err := netnsErr
	if err == nil {
		if _, statErr := os.Stat("/dev/net/tun"); statErr != nil {
			err = fmt.Errorf("/dev/net/tun is missing: %w", statErr)
		}
	}
	if err != nil {
		unavailable(t, fmt.Sprintf("%s (%v)", skipReason, err))
	}
}

// RequireTool returns the path of the program name, or skips t (fails it when
// CI=true) if it is not installed.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		unavailable(t, fmt.Sprintf("needs %s installed (%v)", name, err))
	}
	return path
}

// InNetns reports whether the tests run inside the private namespace.
func InNetns() bool { return mainCalled && netnsErr == nil }

// Unprivileged reports whether the process lacks CAP_NET_ADMIN, so that
// creating a TUN device must fail with a permission error.
func Unprivileged() bool {
	caps, err := effectiveCaps()
	return err == nil && os.Geteuid() != 0 && caps&(1<<capNetAdmin) == 0
}

// unavailable skips t, or fails it under CI where every test must run.
func unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(reason + "; CI=true, so this is a failure")
		return
	}
	t.Skip(reason)
}

// privileged reports whether the process can create a network namespace and
// configure interfaces in it.
func privileged() bool {
	if os.Geteuid() == 0 {
		return true
	}
	caps, err := effectiveCaps()
	return err == nil && caps&(1<<capNetAdmin) != 0 && caps&(1<<capSysAdmin) != 0
}

// effectiveCaps reads the CapEff mask from /proc/self/status.
func effectiveCaps() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff in /proc/self/status")
}

// runInNetns runs this test binary again, with the same arguments and
// environment plus the marker, in a new network namespace, and returns its
// exit code.
func runInNetns() (int, error) {
	parentNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return 0, fmt.Errorf("cannot read own network namespace: %w", err)
	}
	// Pdeathsig is tied to the thread that forks the child: keep it alive.
	runtime.LockOSThread()
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), EnvInNetns+"=1", envParentNetns+"="+parentNS)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET, // a fresh namespace with only lo, owned by the child
		Pdeathsig:  syscall.SIGKILL,      // never leave the child behind
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("cannot start the tests in a new network namespace: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			// Pass it on, so a go test timeout (SIGQUIT) dumps the child's goroutines.
			_ = cmd.Process.Signal(sig)
		case err := <-waited:
			var exitErr *exec.ExitError
			if err != nil && !errors.As(err, &exitErr) {
				return 0, err
			}
			st := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if st.Signaled() {
				fmt.Fprintf(os.Stderr, "tuntest: test process killed by %v\n", st.Signal())
				return 128 + int(st.Signal()), nil
			}
			return st.ExitStatus(), nil
		}
	}
}

// setupChild checks that this process is in a namespace of its own and
// brings its loopback interface up.
func setupChild() error {
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("cannot read own network namespace: %w", err)
	}
	if parent := os.Getenv(envParentNetns); parent == "" || parent == ns {
		return fmt.Errorf("%s=1 is set but the process is not in a private network namespace (%s)", EnvInNetns, ns)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo in the private namespace: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up in the private namespace: %w", err)
	}
	return nil
}

// RaceEnabled reports whether the test binary was built with -race, so
// that tests can size their work to the detector's cost.
func RaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
