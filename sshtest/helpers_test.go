package sshtest_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/golibssh/libssh/internal/testbound"
)

// The bounded waits of package internal/testbound, under the names the
// tests use.
func testCtx(t testing.TB, d time.Duration) context.Context { return testbound.Ctx(t, d) }

func recv[T any](t testing.TB, c <-chan T, d time.Duration) T {
	t.Helper()
	return testbound.Recv(t, c, d)
}

func waitGroup(t testing.TB, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	testbound.WaitGroup(t, wg, d)
}
