package libssh_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/internal/testbound"
)

// identitiesOnly returns options for an ssh directory holding copies of the
// named test keys (as its default identity files) and an agent socket that
// does not exist, so that only those keys can log in.
func identitiesOnly(t *testing.T, keys ...string) []libssh.Option {
	t.Helper()
	dir := t.TempDir()
	for _, k := range keys {
		b, err := os.ReadFile(sshdtest.Keys(k))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, k), b, 0o600))
	}
	return []libssh.Option{libssh.WithSSHDir(dir), libssh.WithAgentSocket(filepath.Join(dir, "no-agent"))}
}

func splitHostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// spawn runs f in a goroutine that wg waits for, as sync.WaitGroup.Go does.
func spawn(wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		f()
	}()
}

// uniqueSleep returns "sleep 600.NNNNNN", a sleep of a length no other
// test uses, so that pgrep and pkill find it and nothing else, and kills it
// when the test ends: closing a channel does not end a command that has no
// terminal.
func uniqueSleep(t testing.TB) string {
	sleep := fmt.Sprintf("sleep 600.%06d", rand.IntN(1000000))
	t.Cleanup(func() { exec.Command("pkill", "-fx", sleep).Run() })
	return sleep
}

// serveTCP runs handle for every connection to a new listener on
// 127.0.0.1 until the test ends, and returns the listener's port.
func serveTCP(t testing.TB, handle func(net.Conn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serveListener(t, ln, handle)
	return ln.Addr().(*net.TCPAddr).Port
}

// refusingAddr returns an address on 127.0.0.1 that refuses connections
// until the test ends: a TCP socket bound to it that does not listen. A
// listener closed at once (the usual way to find a closed port) gives its
// port back, and a test running in parallel can be given it for a
// listener of its own; this socket keeps it (it does not set SO_REUSEADDR,
// so no other socket can bind the port).
func refusingAddr(t testing.TB) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// serveListener runs handle, in a goroutine of its own, for every
// connection ln accepts, until the test ends: then it closes ln and waits
// for the handlers, at most 30 seconds.
func serveListener(t testing.TB, ln net.Listener, handle func(net.Conn)) {
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		waitGroup(t, &wg, 30*time.Second)
	})
	spawn(&wg, func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			spawn(&wg, func() {
				defer c.Close()
				handle(c)
			})
		}
	})
}

// The bounded waits of package internal/testbound, under the names the
// tests use.
func testCtx(t testing.TB, d time.Duration) context.Context { return testbound.Ctx(t, d) }

func recv[T any](t testing.TB, c <-chan T, d time.Duration) T {
	t.Helper()
	return testbound.Recv(t, c, d)
}

func until(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	testbound.Until(t, d, cond)
}

func waitGroup(t testing.TB, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	testbound.WaitGroup(t, wg, d)
}

func allStacks() []byte { return testbound.AllStacks() }

// closeAtEnd closes c when the test ends, failing the test if Close has not
// returned within 30 s.
func closeAtEnd(t testing.TB, c interface{ Close() error }) {
	t.Cleanup(func() { testbound.Do(t, 30*time.Second, func() { c.Close() }) })
}

// readAll reads r to its end in a goroutine and returns what it read, or
// fails the test if that takes longer than d (a channel whose EOF never
// comes, say).
func readAll(t testing.TB, r io.Reader, d time.Duration) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		done <- result{b, err}
	}()
	res := recv(t, done, d)
	return res.b, res.err
}
