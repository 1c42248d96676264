package kdctest

import (
	"fmt"
	"math"
	"net"
	"syscall"
	"time"
)

// pickPort chooses the KDC's port; tests replace it to exercise the retry
// path.
var pickPort = freePort

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("kdctest: picking a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("kdctest: picking a free port: %w", err)
	}
	return port, nil
}

// waitReadable waits until at least one of fds is readable or hung up, or
// timeout has passed, and reports which are. A pidfd becomes readable when
// its process exits. It blocks the calling goroutine in epoll_wait rather
// than starting goroutines.
func waitReadable(timeout time.Duration, fds ...int) ([]bool, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	defer syscall.Close(ep)
	for i, fd := range fds {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return nil, fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	deadline := time.Now().Add(timeout)
	events := make([]syscall.EpollEvent, len(fds))
	for {
		// Round up, so that a wait never ends just before the deadline.
		msec := max(0, (time.Until(deadline)+time.Millisecond-1)/time.Millisecond)
		n, err := syscall.EpollWait(ep, events, int(min(msec, math.MaxInt32)))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("epoll_wait: %w", err)
		}
		ready := make([]bool, len(fds))
		for _, ev := range events[:n] {
			ready[ev.Fd] = true
		}
		return ready, nil
	}
}
