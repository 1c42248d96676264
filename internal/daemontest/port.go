package daemontest

import (
	"fmt"
	"net"
	"sync"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. A
// daemon told to listen on it may still find it taken by then; see
// [ErrExited] for telling that apart.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("picking a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("picking a free port: %w", err)
	}
	return port, nil
}

// BusyPort stands in for [FreePort] in tests of the retry path of a daemon
// start (see [ErrExited]): its first Times calls return Port, which the
// test keeps busy, and later calls a free port. Its methods may be called
// concurrently.
type BusyPort struct {
	Port  int // the busy port
	Times int // how many calls return Port

	mu    sync.Mutex
	calls int
}

// Pick returns Port during the first Times calls and [FreePort]'s result
// after that.
func (b *BusyPort) Pick() (int, error) {
	b.mu.Lock()
	b.calls++
	busy := b.calls <= b.Times
	b.mu.Unlock()
	if busy {
		return b.Port, nil
	}
	return FreePort()
}

// Calls returns how many times Pick has been called.
func (b *BusyPort) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}
