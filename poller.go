package libssh

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poller waits for the session's socket on libssh's behalf. libssh runs
// nonblocking and never waits itself: the pump goroutine waits for input with
// waitRead, and a caller whose output libssh could not send yet waits with
// waitWrite.
type poller interface {
	// waitRead calls f (with a descriptor of the socket that f may poll)
	// until f returns true, waiting for the socket to become readable
	// before each further call. It returns early, with an error, once the
	// poller is closed.
	waitRead(f func(fd uintptr) bool) error
	// waitWrite is waitRead for writability.
	waitWrite(f func(fd uintptr) bool) error
	// edgeTriggered reports whether waitRead waits for new input after f
	// returned false, rather than returning at once while input is left.
	edgeTriggered() bool
	// sameSocket reports whether fd is still a descriptor of this
	// poller's socket (and not a number reused for another file).
	sameSocket(fd int) bool
	// shutdown shuts the socket down in both directions. It releases a
	// libssh call blocked on the socket without closing any descriptor.
	shutdown()
	// quickAck makes a TCP socket acknowledge the next segments at once.
	// OpenSSH's sshd leaves Nagle's algorithm on for sessions without a
	// pty, so its second small message in a row (a channel close, then an
	// open confirmation) waits for our ACK, which Linux delays by up to
	// 40 ms once we have sent something ("pingpong" mode). Linux clears
	// the flag again by itself when we send, so it is set before a wait
	// for input whenever libssh sent something since it was last set
	// (sessionState.ackDueLocked).
	quickAck()
	// close stops waitRead and waitWrite; release frees the descriptors
	// once nothing waits any more.
	close() error
	release()
}

// maxLibsshFD: libssh masks SSH_OPTIONS_FD with 0xffff, so a larger
// descriptor would silently become another one. (A variable for tests.)
var maxLibsshFD = 65535

// dupForLibssh duplicates fd (close-on-exec) for libssh to own.
func dupForLibssh(fd uintptr) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return -1, fmt.Errorf("libssh: duplicate socket descriptor: %w", e)
	}
	nfd := int(r)
	if nfd > maxLibsshFD {
		syscall.Close(nfd)
		return -1, fmt.Errorf("libssh: socket descriptor %d is above %d, which libssh cannot use (it keeps descriptors in 16 bits)", nfd, maxLibsshFD)
	}
	return nfd, nil
}

func fileID(fd int) (dev uint64, ino uint64, ok bool) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, 0, false
	}
	return uint64(st.Dev), uint64(st.Ino), true
}

// netPoller waits with Go's network poller on a socket that Go owns; libssh
// owns a dup of it.
type netPoller struct {
	tcp    bool            // sock is a TCP socket
	sock   net.Conn        // *net.TCPConn or *net.UnixConn
	raw    syscall.RawConn // of sock
	user   net.Conn        // the caller's conn when it is relayed through a socket pair
	bridge sync.WaitGroup  // the relay goroutines
}

// newNetPoller prepares conn for libssh: it returns the poller and a dup of
// the socket for SSH_OPTIONS_FD. A conn that is not a kernel socket is
// relayed through a socket pair. On error conn is closed.
func newNetPoller(conn net.Conn) (*netPoller, int, error) {
	p := &netPoller{}
	switch c := conn.(type) {
	case *net.TCPConn:
		// Go turns Nagle's algorithm off by default; keep it that way
		// explicitly: with Nagle libssh stalls ~40 ms per round trip.
		if err := c.SetNoDelay(true); err != nil {
			conn.Close()
			return nil, -1, fmt.Errorf("libssh: set TCP_NODELAY: %w", err)
		}
		p.sock, p.tcp = c, true
	case *net.UnixConn:
		p.sock = c
	default:
		sock, err := p.relay(conn)
		if err != nil {
			conn.Close()
			return nil, -1, err
		}
		p.sock = sock
	}
	raw, err := p.sock.(syscall.Conn).SyscallConn()
	if err != nil {
		p.close()
		p.release()
		return nil, -1, fmt.Errorf("libssh: socket of connection: %w", err)
	}
	p.raw = raw
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) { fd, dupErr = dupForLibssh(s) }); err != nil {
		dupErr = err
	}
	if dupErr != nil {
		p.close()
		p.release()
		return nil, -1, dupErr
	}
	return p, fd, nil
}

// relay connects conn to one end of a new socket pair and returns the other
// end, for a conn that has no kernel socket of its own.
func (p *netPoller) relay(conn net.Conn) (net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("libssh: socket pair for relaying the connection: %w", err)
	}
	ends := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "libssh-relay")
		ends[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			for _, e := range ends[:i] {
				e.Close()
			}
			for _, fd := range fds[i+1:] {
				syscall.Close(fd)
			}
			return nil, fmt.Errorf("libssh: socket pair for relaying the connection: %w", err)
		}
	}
	p.user = conn
	far := ends[1]
	p.bridge.Add(2)
	go func() {
		defer p.bridge.Done()
		io.Copy(conn, far)
		// libssh's side is done writing. Half-close the caller's
		// connection where it can, so that the server reads everything
		// (a goodbye included) and an end, not a reset; the other copy
		// then reads until the server closes, and close ends it in any
		// case. A connection that cannot half-close is closed.
		if cw, ok := conn.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
			conn.Close()
		}
	}()
	go func() {
		defer p.bridge.Done()
		io.Copy(far, conn)
		far.Close()
	}()
	return ends[0], nil
}

func (p *netPoller) waitRead(f func(fd uintptr) bool) error  { return p.raw.Read(f) }
func (p *netPoller) waitWrite(f func(fd uintptr) bool) error { return p.raw.Write(f) }
func (p *netPoller) edgeTriggered() bool                     { return true }

func (p *netPoller) sameSocket(fd int) bool {
	same := false
	p.raw.Control(func(s uintptr) {
		d1, i1, ok1 := fileID(int(s))
		d2, i2, ok2 := fileID(fd)
		same = ok1 && ok2 && d1 == d2 && i1 == i2
	})
	return same
}

func (p *netPoller) shutdown() {
	p.raw.Control(func(s uintptr) { syscall.Shutdown(int(s), syscall.SHUT_RDWR) })
}

func (p *netPoller) quickAck() {
	if p.tcp {
		p.raw.Control(func(s uintptr) { setQuickAck(int(s)) })
	}
}

func setQuickAck(fd int) error {
	return syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
}

func (p *netPoller) close() error {
	err := p.sock.Close()
	if p.user != nil {
		p.user.Close()
	}
	return err
}

func (p *netPoller) release() { p.bridge.Wait() }

// fdPoller waits with poll(2) on a dup of a socket that libssh made itself
// (a session handed to WrapSession already connected). Each wait holds an OS
// thread; a pipe wakes the waits on close.
type fdPoller struct {
	fd     int         // our dup of libssh's socket
	notTCP atomic.Bool // quickAck failed: not a TCP socket
	wake   [2]int      // pipe: readable once closed
	once   sync.Once
}

func newFDPoller(libsshFD int) (*fdPoller, error) {
	fd, err := dupForLibssh(uintptr(libsshFD))
	if err != nil {
		return nil, err
	}
	p := &fdPoller{fd: fd}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("libssh: wake-up pipe: %w", err)
	}
	return p, nil
}

type pollFD struct {
	fd      int32
	events  int16
	revents int16
}

const (
	pollIn  = 0x1
	pollOut = 0x4
)

func (p *fdPoller) wait(events int16, f func(fd uintptr) bool) error {
	for !f(uintptr(p.fd)) {
		fds := []pollFD{{fd: int32(p.fd), events: events}, {fd: int32(p.wake[0]), events: pollIn}}
		_, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), 0, 0, 0, 0)
		if e != 0 && e != syscall.EINTR {
			return fmt.Errorf("libssh: poll: %w", e)
		}
		if fds[1].revents != 0 {
			return net.ErrClosed
		}
	}
	return nil
}

func (p *fdPoller) waitRead(f func(fd uintptr) bool) error  { return p.wait(pollIn, f) }
func (p *fdPoller) waitWrite(f func(fd uintptr) bool) error { return p.wait(pollOut, f) }
func (p *fdPoller) edgeTriggered() bool                     { return false }

func (p *fdPoller) sameSocket(fd int) bool {
	d1, i1, ok1 := fileID(p.fd)
	d2, i2, ok2 := fileID(fd)
	return ok1 && ok2 && d1 == d2 && i1 == i2
}

func (p *fdPoller) shutdown() { syscall.Shutdown(p.fd, syscall.SHUT_RDWR) }

func (p *fdPoller) quickAck() {
	if !p.notTCP.Load() && setQuickAck(p.fd) != nil {
		p.notTCP.Store(true)
	}
}

func (p *fdPoller) close() error {
	p.once.Do(func() { syscall.Write(p.wake[1], []byte{0}) })
	return nil
}

func (p *fdPoller) release() {
	for _, fd := range []int{p.fd, p.wake[0], p.wake[1]} {
		syscall.Close(fd)
	}
}
