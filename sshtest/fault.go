package sshtest

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/golibssh/libssh"
)

// A Point is when a connection fault ([Faults.StopReading],
// [Faults.Blackhole], [Faults.Reset]) starts: when the client's n-th message
// of one kind reaches the server, counted from 1 on each connection. Set
// one field; the zero Point never comes.
type Point struct {
	// Auth is the n-th authentication request ("none", a password, a
	// public key or its probe, keyboard-interactive answers).
	Auth int
	// Channel is the n-th channel open (session or direct-tcpip).
	Channel int
	// Request is the n-th request on a session channel ("exec", "env",
	// "pty-req", "shell", "subsystem", "window-change", "signal").
	Request int
}

// IsZero reports whether p is the Point that never comes.
func (p Point) IsZero() bool { return p == Point{} }

func (p Point) check(field string) error {
	set := 0
	for _, n := range []int{p.Auth, p.Channel, p.Request} {
		if n < 0 {
			return fmt.Errorf("sshtest: Faults.%s has a negative count", field)
		}
		if n > 0 {
			set++
		}
	}
	if set > 1 {
		return fmt.Errorf("sshtest: Faults.%s sets more than one of Auth, Channel and Request", field)
	}
	return nil
}

// event is a kind of client message a Point counts.
type event int

const (
	evAuth event = iota
	evChannel
	evRequest
)

// is reports whether the count-th message of kind ev is p.
func (p Point) is(ev event, count int) bool {
	switch ev {
	case evAuth:
		return p.Auth == count
	case evChannel:
		return p.Channel == count
	default:
		return p.Request == count
	}
}

// The channel requests that Faults.CloseInsteadOfReply can name.
var requestTypes = []string{"pty-req", "exec", "shell", "env", "subsystem", "window-change"}

func (f *Faults) check() error {
	if f.DropAfter < 0 {
		return errors.New("sshtest: Faults.DropAfter is negative")
	}
	for field, p := range map[string]Point{"StopReading": f.StopReading, "Blackhole": f.Blackhole, "Reset": f.Reset} {
		if err := p.check(field); err != nil {
			return err
		}
	}
	for _, name := range f.CloseInsteadOfReply {
		if !slices.Contains(requestTypes, name) {
			return fmt.Errorf("sshtest: Faults.CloseInsteadOfReply: unknown channel request %q", name)
		}
	}
	return nil
}

// onConn reports whether a fault acts on the connection itself, which then
// runs through a faultConn.
func (f *Faults) onConn() bool {
	return !f.StopReading.IsZero() || !f.Blackhole.IsZero() || !f.Reset.IsZero()
}

// closesInstead reports whether the request named name is answered by
// closing the channel.
func (f *Faults) closesInstead(name string) bool {
	return slices.Contains(f.CloseInsteadOfReply, name)
}

// arrived counts a client message of kind ev and starts the connection
// faults whose Point it is. It runs in the message handler or a channel
// callback.
func (c *conn) arrived(ev event) {
	if c.fc == nil {
		return
	}
	c.counts[ev]++
	n, f := c.counts[ev], &c.srv.opts.Faults
	switch {
	case f.Reset.is(ev, n):
		c.fc.reset()
	case f.Blackhole.is(ev, n):
		c.fc.stop(true)
	case f.StopReading.is(ev, n):
		c.fc.stop(false)
	}
}

// faultConn is the client's TCP connection as libssh sees it when a
// connection fault is set. It is not a kernel socket, so AcceptSession
// relays it through a socket pair, and every byte between libssh and the
// client passes through Read and Write here, where the faults stop them.
type faultConn struct {
	net.Conn              // the accepted *net.TCPConn; embedded as net.Conn so that faultConn is not a syscall.Conn
	tcp      *net.TCPConn // the same, for SO_LINGER

	mu       sync.Mutex
	noRead   bool          // StopReading or Blackhole: the client's bytes are no longer read
	noWrite  bool          // Blackhole: what the server sends is dropped
	closed   chan struct{} // closed by Close
	isClosed bool
}

func newFaultConn(nc *net.TCPConn) *faultConn {
	return &faultConn{Conn: nc, tcp: nc, closed: make(chan struct{})}
}

// Read reads the client's bytes until the fault stops reading; then it
// waits for Close. Bytes that a Read was already waiting for when the
// fault started are dropped, so that nothing the client sends after the
// fault's Point reaches the server.
func (f *faultConn) Read(b []byte) (int, error) {
	if f.reading() {
		n, err := f.Conn.Read(b)
		if f.reading() || err != nil {
			return n, err
		}
	}
	<-f.closed
	return 0, net.ErrClosed
}

// Write sends the server's bytes to the client, or drops them once a
// blackhole started.
func (f *faultConn) Write(b []byte) (int, error) {
	f.mu.Lock()
	drop := f.noWrite
	f.mu.Unlock()
	if drop {
		return len(b), nil
	}
	return f.Conn.Write(b)
}

func (f *faultConn) reading() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.noRead
}

// stop stops reading from the client, and with blackhole also sending to
// it. The TCP connection stays open: the client's kernel still takes its
// bytes until the socket buffers are full, and sees no end. The receive
// buffer shrinks to the kernel's minimum, so that they are full after a
// few kilobytes, before a channel's window (32000 bytes for a libssh
// server that reads nothing) runs out.
func (f *faultConn) stop(blackhole bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noRead = true
	f.noWrite = f.noWrite || blackhole
	f.tcp.SetReadBuffer(1)
}

// reset aborts the TCP connection: with SO_LINGER 0, closing it sends the
// client a reset instead of a goodbye.
func (f *faultConn) reset() {
	f.tcp.SetLinger(0)
	f.Close()
}

func (f *faultConn) Close() error {
	f.mu.Lock()
	if f.isClosed {
		f.mu.Unlock()
		return nil
	}
	f.isClosed = true
	close(f.closed)
	f.mu.Unlock()
	return f.Conn.Close()
}

func (f *faultConn) SetDeadline(time.Time) error      { return nil }
func (f *faultConn) SetReadDeadline(time.Time) error  { return nil }
func (f *faultConn) SetWriteDeadline(time.Time) error { return nil }

// closeInstead answers a channel request that Faults.CloseInsteadOfReply
// names: no reply, the channel closed instead. [libssh.ServerMessage]
// does not say which channel the request came on, so every session channel of the
// connection that has not started a command is closed: the channel a
// client sends env, pty-req or exec on is one of them. It reports whether
// it answered the message.
func (c *conn) closeInstead(m *libssh.ServerMessage) bool {
	if !c.srv.opts.Faults.closesInstead(m.RequestType()) {
		return false
	}
	for _, s := range c.channels {
		if !s.started && !s.closing {
			s.closing = true
			s.ch.Close() // deferred until the handler returns
		}
	}
	return true
}
