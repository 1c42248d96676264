// Package testbound gives every wait in a test its own bound, so that a
// wait that never ends fails within seconds under the test's name, with
// every goroutine's stack, instead of at the global -timeout.
package testbound

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Ctx returns a context for one wait of a test: cancelled when the test
// ends (as t.Context is) or after d. A context that bounds the life of what
// a test waits to see end (NewForwarder's, CommandContext's) must outlast
// that wait, or its expiry could end it instead.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// Recv receives from c, or fails the test with every goroutine's stack if
// nothing arrives within d. Call it from the test's goroutine only.
func Recv[T any](t testing.TB, c <-chan T, d time.Duration) T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-c:
		return v
	case <-timer.C:
		var state string
		if Report != nil {
			state = "\n" + Report()
		}
		t.Fatalf("still waiting after %v;%s\ngoroutines:\n%s", d, state, AllStacks())
		panic("unreachable")
	}
}

// Report, when set (in TestMain, before the tests run), says more about
// the state of things when a bounded wait fails: a package's internal
// state that the goroutines' stacks do not show.
var Report func() string

// WaitGroup waits for wg, or fails the test as Recv does if that takes
// longer than d. Call it from the test's goroutine only.
func WaitGroup(t testing.TB, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	Do(t, d, wg.Wait)
}

// Do runs f, or fails the test as Recv does if f has not returned within
// d (a Close that waits for ever, in a cleanup, say). Call it from the
// test's goroutine only.
func Do(t testing.TB, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	Recv(t, done, d)
}

// AllStacks returns the stacks of all goroutines.
func AllStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Until polls cond (every millisecond) until it holds, or fails the test as
// Recv does if it does not within d. It is for a state the test cannot be
// told of, only look at. Call it from the test's goroutine only.
func Until(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	done := make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for !cond() {
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
		close(done)
	}()
	Recv(t, done, d)
}
