package libssh

// Hooks for the tests in package libssh_test.

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/golibssh/libssh/lib"
)

// LiveSessions returns how many C sessions this package has not freed.
func LiveSessions() int64 { return liveSessions.Load() }

// LiveKeys returns how many C private keys this package has not freed.
func LiveKeys() int64 { return liveKeys.Load() }

// SetMaxLibsshFD changes the highest descriptor libssh may be given.
func SetMaxLibsshFD(n int) { maxLibsshFD = n }

// SetLeakHook routes leak reports to h (nil: back to stderr).
func SetLeakHook(h func(kind, stack string)) { leakHook = h }

// LiveChannels returns how many C channels this package has not freed.
func LiveChannels() int64 { return liveChannels.Load() }

// SessionChannels returns how many channels the session tracks (open or
// not yet freed).
func SessionChannels(s *Session) (n int) {
	s.inspect(func(st *sessionState) { n = len(st.channels) })
	return n
}

// CheckKnownHostsRevoked is checkKnownHostsRevoked, for the tests.
func CheckKnownHostsRevoked(files []string, host string, port int, keyBlob []byte) error {
	return checkKnownHostsRevoked(files, host, port, keyBlob)
}

// WriterSleeps returns how many times a writer of the session waited for
// window in the kernel (waitInputLocked).
func WriterSleeps(s *Session) (n uint64) {
	s.inspect(func(st *sessionState) { n = st.sleeps.Load() })
	return n
}

// SetWriterSleepMax sets how long the session's writers wait for window in
// the kernel before they wait as other waits do.
func SetWriterSleepMax(s *Session, d time.Duration) {
	s.inspect(func(st *sessionState) { st.sleepMax = d })
}

// KeepaliveArmed reports whether the session has a keepalive timer.
func KeepaliveArmed(s *Session) (armed bool) {
	s.inspect(func(st *sessionState) { armed = st.ka != nil && !st.ka.stopped.Load() })
	return armed
}

// ChannelReadWakes returns how many times the readers of the channel's
// stream (0 stdout, 1 stderr) were woken to look for input, or (2) how
// many times a Wait looked again after its first look.
func ChannelReadWakes(ch *Channel, stream int) (n uint64) {
	ch.inspect(func(c *chanState) { n = c.readWakes[stream].Load() })
	return n
}

// ChannelDataEvents returns how many data messages the channel received on
// stream (0 stdout, 1 stderr).
func ChannelDataEvents(ch *Channel, stream int) (n uint64) {
	ch.inspect(func(c *chanState) { n = c.dataEventsLocked(stream) })
	return n
}

// ChannelReaderWaits reports whether a reader waits for the channel's
// stream (0 stdout, 1 stderr, 2 Wait).
func ChannelReaderWaits(ch *Channel, stream int) (waits bool) {
	ch.inspect(func(c *chanState) { waits = c.readGen[stream] != nil })
	return waits
}

// ChannelWindow returns what the channel holds of the data it received
// (libssh's buffers of both streams and the spill) and its window target.
func ChannelWindow(ch *Channel) (held, target int) {
	ch.inspect(func(c *chanState) {
		if c.p.IsNil() {
			return
		}
		for stream := range 2 {
			held += max(lib.ChannelPoll(c.p, stream), 0) + len(c.win.spill[stream])
		}
		target = c.win.target
	})
	return held, target
}

// HostKeyWaiters returns how many calls wait for the verdict of the
// session's host key callback run in progress.
func HostKeyWaiters(s *Session) (n int) {
	s.inspect(func(st *sessionState) {
		if st.hostKeyRun != nil {
			n = st.hostKeyRun.waiting
		}
	})
	return n
}

// WaitHostKeyCallbacks waits until no goroutine runs the session's host
// key callback.
func WaitHostKeyCallbacks(s *Session) {
	if st, err := s.state(); err == nil {
		st.hostKeyRuns.Wait()
	}
}

// SetSOCKSHandshakeTimeout changes how long a SOCKS client has for its
// handshake, and returns the previous value.
func SetSOCKSHandshakeTimeout(d time.Duration) time.Duration {
	return time.Duration(socksHandshakeTimeout.Swap(int64(d)))
}

// InputInTeardown arranges that s's teardown, once it has killed the
// channels, calls send (which must not block) and lets libssh process the
// input that then arrives, as the goodbye's flush does when output is
// pending: it waits, at most d, until input waits in the kernel, and reads
// once. The returned channel tells how that went. It is for one test at a
// time: the hook is global; the test's cleanup removes it.
//
// The wait polls a condition nothing signals (the kernel's count), every
// millisecond, within d.
func InputInTeardown(t testing.TB, s *Session, send func(), d time.Duration) <-chan error {
	done := make(chan error, 1)
	var hook func(st *sessionState)
	hook = func(st *sessionState) {
		if st != s.st || !teardownHook.CompareAndSwap(&hook, nil) {
			return
		}
		done <- func() error {
			send()
			for deadline := time.Now().Add(d); ; time.Sleep(time.Millisecond) {
				inq, err := unix.IoctlGetInt(st.sockFD, unix.SIOCINQ)
				if err != nil {
					return err
				}
				if inq > 0 { // (teardown dropped the read-ahead buffer already)
					break
				}
				if time.Now().After(deadline) {
					return errors.New("no input arrived during teardown")
				}
			}
			if _, alive := st.readInputLocked(1); !alive {
				return fmt.Errorf("the session broke reading: %v", st.broken)
			}
			return nil
		}()
	}
	teardownHook.Store(&hook)
	t.Cleanup(func() { teardownHook.CompareAndSwap(&hook, nil) })
	return done
}

// StrandInput sets up the wake-up the poller cannot give (see
// TestRegressInputLeftInReadahead). Once a goroutine waits on s (a reader
// parked for its channel's data), it takes s's lock and calls send, which
// makes the server send; it waits, at most d, until at least n bytes wait
// in the kernel and the pump, woken for them, left its turn to this
// holder. Then it forgets that turn, as if the poller had never reported
// the input, lets libssh read once (4 KiB, which the read-ahead serves
// from a fill of up to 64 KiB, so the rest stays in its buffer), and
// unlocks. It reports whether input was left that way, with no turn for
// the pump pending (false: the pump was woken again meanwhile).
//
// The waits poll a condition nothing signals (the kernel's count, the
// pump's flag), every millisecond, within d.
func StrandInput(s *Session, send func(), n int, d time.Duration) (bool, error) {
	if s == nil || s.st == nil {
		return false, ErrClosed
	}
	st := s.st
	deadline := time.Now().Add(d)
	for st.waiters.Load() == 0 {
		if time.Now().After(deadline) {
			return false, errors.New("nobody waits on the session")
		}
		time.Sleep(time.Millisecond)
	}
	st.lock()
	defer st.unlock()
	if st.readahead == 0 {
		return false, errors.New("the session's socket has no read-ahead buffer")
	}
	send()
	for {
		inq, err := unix.IoctlGetInt(st.sockFD, unix.SIOCINQ)
		if err != nil {
			return false, err
		}
		if inq >= n && st.pumpWanted.Load() {
			break
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("%d bytes in the kernel, pump's turn left %v", inq, st.pumpWanted.Load())
		}
		time.Sleep(time.Millisecond)
	}
	st.pumpWanted.Store(false)
	st.readInputLocked(1)
	return !st.pumpWanted.Load() && lib.ReadaheadBuffered(st.sockFD) > 0, nil
}

// NewTailWriter returns proxy.go's tailWriter: it keeps the last max bytes
// written to it, and String returns them.
func NewTailWriter(max int) interface {
	io.Writer
	fmt.Stringer
} {
	return &tailWriter{max: max}
}
