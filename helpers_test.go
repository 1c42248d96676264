package libssh_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
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

// spawn runs f in a goroutine that wg waits for (sync.WaitGroup.Go needs
// Go 1.25; the module supports 1.24).
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
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
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
	return ln.Addr().(*net.TCPAddr).Port
}

// testCtx returns a context for one wait of a test: cancelled when the test
// ends (as t.Context is) or after d, so that a wait that never ends fails
// in d under the test's name instead of at the global -timeout. A context
// that bounds the life of what a test waits to see end (NewForwarder's,
// CommandContext's) must outlast that wait, or its expiry could end it
// instead.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// recv receives from c, or fails the test with every goroutine's stack if
// nothing arrives within d. Call it from the test's goroutine only.
func recv[T any](t testing.TB, c <-chan T, d time.Duration) T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-c:
		return v
	case <-timer.C:
		t.Fatalf("still waiting after %v; goroutines:\n%s", d, allStacks())
		panic("unreachable")
	}
}

// waitGroup waits for wg, or fails the test with every goroutine's stack if
// that takes longer than d. Call it from the test's goroutine only.
func waitGroup(t testing.TB, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	recv(t, done, d)
}

// allStacks returns the stacks of all goroutines.
func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}
