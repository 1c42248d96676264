package sshtest_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

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
		buf := make([]byte, 1<<20)
		t.Fatalf("still waiting after %v; goroutines:\n%s", d, buf[:runtime.Stack(buf, true)])
		panic("unreachable")
	}
}

// waitGroup waits for wg, or fails the test as recv does if that takes
// longer than d.
func waitGroup(t testing.TB, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	recv(t, done, d)
}
