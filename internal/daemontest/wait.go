package daemontest

import (
	"fmt"
	"math"
	"syscall"
	"time"
)

// WaitReadable waits until at least one of fds is readable or hung up, or
// timeout has passed, and reports which are (ready[i] for fds[i]; all false
// after a timeout). A timeout of 0 or less polls without waiting. A pidfd
// becomes readable when its process exits, a FIFO read end when it holds
// data or its last writer has closed it.
//
// It blocks the calling goroutine in epoll_wait(2) rather than starting
// goroutines, so that nothing is left running afterwards, and retries when
// interrupted by a signal.
func WaitReadable(timeout time.Duration, fds ...int) ([]bool, error) {
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
