// Package faultnet makes TCP connections misbehave for tests: a client
// socket with a small send buffer whose fullness a test can see, and a relay
// between a client and a server that a test can freeze (stop reading, go
// silent), reset, or make send bytes of its own.
package faultnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Socket is the client socket a [Dialer] made. A test keeps it to see
// whether the socket's send buffer is full.
type Socket struct {
	mu sync.Mutex
	fd int // a dup of the dialled socket, or -1
}

// Dialer returns a dial function for libssh.WithDialer that sets the
// socket's SO_SNDBUF to sndbuf bytes before it connects (the kernel
// doubles the value and keeps a minimum), and the Socket it will have
// dialled. Close the Socket when done.
func Dialer(sndbuf int) (func(ctx context.Context, network, addr string) (net.Conn, error), *Socket) {
	s := &Socket{fd: -1}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, sndbuf)
			})
			return errors.Join(err, serr)
		}}
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		raw, err := conn.(*net.TCPConn).SyscallConn()
		if err != nil {
			conn.Close()
			return nil, err
		}
		var dupErr error
		raw.Control(func(fd uintptr) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.fd >= 0 {
				dupErr = errors.New("faultnet: the dialer dialled twice")
				return
			}
			s.fd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
			if dupErr != nil {
				s.fd = -1
			}
		})
		if dupErr != nil {
			conn.Close()
			return nil, dupErr
		}
		return conn, nil
	}
	return dial, s
}

// Full reports whether the socket's send buffer is full: the socket is
// not writable (Linux calls a TCP socket writable while at least a third
// of its send buffer is free).
func (s *Socket) Full() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return false, errors.New("faultnet: nothing dialled")
	}
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(fds, 0)
	for err == unix.EINTR { // a signal (the Go runtime's, ASan's) came first
		n, err = unix.Poll(fds, 0)
	}
	if err != nil {
		return false, err
	}
	if fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
		return false, errors.New("faultnet: the socket failed or was closed")
	}
	return n == 0, nil
}

// Unsent returns how many bytes the socket holds that the peer has not
// acknowledged (SIOCOUTQ).
func (s *Socket) Unsent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return 0
	}
	n, err := unix.IoctlGetInt(s.fd, unix.SIOCOUTQ)
	if err != nil {
		return 0
	}
	return n
}

// WaitFull waits until the send buffer is full, checking every few
// milliseconds, or until ctx ends.
func (s *Socket) WaitFull(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		full, err := s.Full()
		if err != nil || full {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("faultnet: the send buffer did not fill (%d bytes unsent): %w", s.Unsent(), ctx.Err())
		case <-tick.C:
		}
	}
}

// Close closes the Socket's dup of the socket (not the connection).
func (s *Socket) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

// Relay listens on 127.0.0.1 and relays every connection it accepts to a
// target address. Its methods act on every connection it relays.
type Relay struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  []*relayed
}

// relayed is one relayed connection: client is the accepted side (the
// client's peer), server the dialled one.
type relayed struct {
	client, server *net.TCPConn
	done           chan struct{} // closed when the relay closes the connection
	once           sync.Once

	mu        sync.Mutex
	noRead    bool          // the client's bytes are no longer read
	noForward bool          // the server's bytes are dropped
	paused    chan struct{} // while not nil, the client's bytes wait; closed on resume
	// writeMu orders the writes to the client (the server's bytes and
	// Inject's), apart from mu, which a blocked write must not hold.
	writeMu sync.Mutex
}

// NewRelay starts a relay to target ("host:port"). rcvbuf, when positive,
// is the SO_RCVBUF of the accepted sockets, so that a client's bytes fill
// the relay's side quickly once it stops reading. Close it when done.
func NewRelay(target string, rcvbuf int) (*Relay, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		if rcvbuf <= 0 {
			return nil
		}
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
		})
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{ln: ln, target: target}
	r.wg.Add(1)
	go r.serve()
	return r, nil
}

// Addr returns the address the relay listens on.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

func (r *Relay) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", r.target, 10*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		rc := &relayed{client: c.(*net.TCPConn), server: s.(*net.TCPConn), done: make(chan struct{})}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			rc.close()
			return
		}
		r.conns = append(r.conns, rc)
		r.mu.Unlock()
		r.wg.Add(2)
		go func() {
			defer r.wg.Done()
			rc.fromClient()
		}()
		go func() {
			defer r.wg.Done()
			rc.fromServer()
		}()
	}
}

// fromClient copies the client's bytes to the server until reading stops;
// bytes a read was waiting for when it stopped are dropped. While reading
// is paused, it waits, bytes already read included.
func (c *relayed) fromClient() {
	buf := make([]byte, 32<<10)
	for {
		c.waitResumed()
		if c.stopped() {
			<-c.done
			return
		}
		n, err := c.client.Read(buf)
		c.waitResumed()
		if c.stopped() {
			<-c.done
			return
		}
		if n > 0 {
			if _, werr := c.server.Write(buf[:n]); werr != nil {
				c.close()
				return
			}
		}
		if err != nil {
			c.server.CloseWrite()
			return
		}
	}
}

// fromServer copies the server's bytes to the client, or drops them once
// the relay stopped forwarding them.
func (c *relayed) fromServer() {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.server.Read(buf)
		if n > 0 {
			var werr error
			if c.forwarding() {
				// Not under mu: a client that stops reading blocks this
				// write, and StopReading or Blackhole must still return.
				c.writeMu.Lock()
				_, werr = c.client.Write(buf[:n])
				c.writeMu.Unlock()
			}
			if werr != nil {
				c.close()
				return
			}
		}
		if err != nil {
			if c.forwarding() {
				c.client.CloseWrite()
			}
			return
		}
	}
}

// forwarding reports whether the server's bytes still reach the client.
func (c *relayed) forwarding() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.noForward
}

// waitResumed waits while reading is paused, or until the relay closes.
func (c *relayed) waitResumed() {
	c.mu.Lock()
	resumed := c.paused
	c.mu.Unlock()
	if resumed != nil {
		select {
		case <-resumed:
		case <-c.done:
		}
	}
}

func (c *relayed) stopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.noRead
}

func (c *relayed) close() {
	c.once.Do(func() {
		close(c.done)
		c.client.Close()
		c.server.Close()
	})
}

func (r *Relay) each(f func(c *relayed)) {
	r.mu.Lock()
	conns := append([]*relayed(nil), r.conns...)
	r.mu.Unlock()
	for _, c := range conns {
		f(c)
	}
}

// StopReading stops reading what clients send; what servers send still
// reaches them. The TCP connections stay open.
func (r *Relay) StopReading() {
	r.each(func(c *relayed) {
		c.mu.Lock()
		c.noRead = true
		c.mu.Unlock()
	})
}

// PauseReading stops reading what clients send until ResumeReading, which
// forwards it all; what servers send still reaches them.
func (r *Relay) PauseReading() {
	r.each(func(c *relayed) {
		c.mu.Lock()
		if c.paused == nil {
			c.paused = make(chan struct{})
		}
		c.mu.Unlock()
	})
}

// ResumeReading undoes PauseReading.
func (r *Relay) ResumeReading() {
	r.each(func(c *relayed) {
		c.mu.Lock()
		if c.paused != nil {
			close(c.paused)
			c.paused = nil
		}
		c.mu.Unlock()
	})
}

// Blackhole stops reading what clients send and drops what servers send.
// The TCP connections stay open.
func (r *Relay) Blackhole() {
	r.each(func(c *relayed) {
		c.mu.Lock()
		c.noRead, c.noForward = true, true
		c.mu.Unlock()
	})
}

// Reset resets the clients' connections (SO_LINGER 0, then close) and
// closes the servers'.
func (r *Relay) Reset() {
	r.each(func(c *relayed) {
		c.client.SetLinger(0)
		c.close()
	})
}

// Inject stops forwarding what servers send and sends b to the clients
// instead, keeping the connections open. Call it when no server bytes are
// on their way, so that b starts where a packet would.
func (r *Relay) Inject(b []byte) error {
	var errs []error
	r.each(func(c *relayed) {
		c.mu.Lock()
		c.noForward = true
		c.mu.Unlock()
		c.writeMu.Lock() // after a server write in flight, not inside it
		defer c.writeMu.Unlock()
		_, err := c.client.Write(b)
		errs = append(errs, err)
	})
	return errors.Join(errs...)
}

// Close stops the relay and closes every connection it relays.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	conns := r.conns
	r.conns = nil
	r.mu.Unlock()
	err := r.ln.Close()
	for _, c := range conns {
		c.close()
	}
	r.wg.Wait()
	return err
}
