package libssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DialContext opens a connection that the server makes to addr on the
// client's behalf, the way ssh -L does (a "direct-tcpip" channel), and
// returns it as a [net.Conn]. network must be "tcp", "tcp4" or "tcp6"; addr
// is "host:port", resolved by the server. The server must allow TCP
// forwarding (OpenSSH: AllowTcpForwarding); a refusal matches
// [ErrRequestDenied].
//
// The connection has working deadlines, and CloseWrite sends EOF (the far
// end reads end of input). It plugs into [net/http.Transport.DialContext],
// and into [WithConn] to reach a second server through this one.
//
// On error the returned net.Conn is nil (not a nil pointer in a non-nil
// interface). A nil ctx is an error.
//
// Uses ssh_channel_open_forward.
func (s *Session) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := sessionArgErr(s); err != nil {
		return nil, err
	}
	if ctx == nil {
		return nil, errNilContext("DialContext")
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("libssh: dial %s %s: unsupported network (only tcp forwarding exists)", network, addr)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("libssh: dial %s: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("libssh: dial %s: invalid port %q", addr, portStr)
	}
	conn, err := s.dial(ctx, host, port, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err // not conn: a nil *forwardConn would make a non-nil net.Conn
	}
	return conn, nil
}

// dial opens a direct-tcpip channel to host:port, telling the server that
// the connection comes from origin.
func (s *Session) dial(ctx context.Context, host string, port int, origin *net.TCPAddr) (*forwardConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch, err := s.NewChannel()
	if err != nil {
		return nil, err
	}
	srcHost := "127.0.0.1"
	if origin.IP != nil {
		srcHost = origin.IP.String()
	}
	if err := ch.openForward(ctx, host, port, srcHost, origin.Port); err != nil {
		ch.Close()
		return nil, err
	}
	return &forwardConn{
		ch:     ch,
		local:  origin,
		remote: forwardAddr(net.JoinHostPort(host, strconv.Itoa(port))),
		rd:     newDeadline(),
		wd:     newDeadline(),
	}, nil
}

// forwardAddr is the address a forwarded connection goes to, as given.
type forwardAddr string

func (a forwardAddr) Network() string { return "tcp" }
func (a forwardAddr) String() string  { return string(a) }

// forwardConn is a direct-tcpip channel as a net.Conn.
type forwardConn struct {
	ch     *Channel
	local  net.Addr
	remote net.Addr
	rd, wd *deadline
	closed atomic.Bool
}

// errConnClosed is the error of a forwarded connection or forwarder used
// after Close: it matches both [net.ErrClosed], which net/http and servers
// test for, and [ErrClosed].
var errConnClosed error = connClosedError{}

type connClosedError struct{}

func (connClosedError) Error() string { return "use of closed network connection" }
func (connClosedError) Is(target error) bool {
	return target == net.ErrClosed || target == ErrClosed
}

func (c *forwardConn) Read(b []byte) (int, error) {
	n, err := c.ch.c.read(c.rd.context(), b, false)
	return n, c.opError("read", err)
}

func (c *forwardConn) Write(b []byte) (int, error) {
	n, err := c.ch.c.write(c.wd.context(), b, false)
	return n, c.opError("write", err)
}

// opError makes errors net.OpErrors, as net.Conn's are, keeping io.EOF.
// A closed channel or session gives an error that also matches
// net.ErrClosed.
func (c *forwardConn) opError(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if errors.Is(err, ErrClosed) && !errors.Is(err, net.ErrClosed) {
		err = closedBecause{err}
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.remote, Err: err}
}

// closedBecause is an error matching ErrClosed that is made to match
// net.ErrClosed too, keeping its message and what it wraps.
type closedBecause struct{ err error }

func (e closedBecause) Error() string        { return e.err.Error() }
func (e closedBecause) Unwrap() error        { return e.err }
func (e closedBecause) Is(target error) bool { return target == net.ErrClosed }

// CloseWrite sends EOF: the far end reads end of input, and the connection
// can still be read.
func (c *forwardConn) CloseWrite() error { return c.opError("close", c.ch.CloseWrite()) }

// Close closes the channel. A second call returns an error matching
// net.ErrClosed, as a *net.TCPConn's does.
func (c *forwardConn) Close() error {
	if c.closed.Swap(true) {
		return c.opError("close", errConnClosed)
	}
	c.rd.stop()
	c.wd.stop()
	return c.opError("close", c.ch.Close())
}

func (c *forwardConn) LocalAddr() net.Addr  { return c.local }
func (c *forwardConn) RemoteAddr() net.Addr { return c.remote }

func (c *forwardConn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

func (c *forwardConn) SetReadDeadline(t time.Time) error  { c.rd.set(t); return nil }
func (c *forwardConn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// deadline is one direction's deadline: a channel closed when it passes,
// seen by the waits of that direction as a context. Moving the deadline
// while a call waits applies to that call.
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	expired chan struct{} // closed once the deadline has passed
}

func newDeadline() *deadline { return &deadline{expired: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	select {
	case <-d.expired:
		// It passed: calls from now on see the new one.
		d.expired = make(chan struct{})
	default:
	}
	if t.IsZero() {
		return
	}
	if wait := time.Until(t); wait > 0 {
		expired := d.expired
		d.timer = time.AfterFunc(wait, func() { d.expire(expired) })
	} else {
		close(d.expired)
	}
}

// expire closes expired if it is still the current channel.
func (d *deadline) expire(expired chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.expired == expired {
		select {
		case <-expired:
		default:
			close(expired)
		}
	}
}

func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

// context returns a context that is done when the current deadline passes.
func (d *deadline) context() context.Context {
	d.mu.Lock()
	defer d.mu.Unlock()
	return deadlineContext{d.expired}
}

// deadlineContext is done when its deadline passes; its error is
// os.ErrDeadlineExceeded, which is a net.Error whose Timeout is true.
type deadlineContext struct{ expired chan struct{} }

func (deadlineContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c deadlineContext) Done() <-chan struct{}     { return c.expired }
func (deadlineContext) Value(any) any               { return nil }
func (c deadlineContext) Err() error {
	select {
	case <-c.expired:
		return os.ErrDeadlineExceeded
	default:
		return nil
	}
}

// Forwarder listens on a local port and forwards each connection to a
// host and port reached through the session, as ssh -L does, or (made by
// [NewSOCKSForwarder]) to the target each SOCKS5 client asks for, as ssh -D
// does. Make one with [NewForwarder] or [NewSOCKSForwarder]; Close it when
// done. A nil or zero Forwarder listens
// nowhere: LocalAddr is nil, Clients 0, Done closed, and Close returns an
// error.
type Forwarder struct {
	s          *Session
	ln         net.Listener
	remoteHost string
	remotePort int
	socks      *socksConfig // a SOCKS forwarder's; nil for NewForwarder's
	errorLog   func(error)

	ctx     context.Context // done when the forwarder closes, or is to
	cancel  context.CancelFunc
	closing atomic.Bool   // the first closer sets it and does the work
	closed1 atomic.Bool   // Close was called (a second call is an error)
	watched chan struct{} // closed when the watcher (see NewForwarder) has returned
	done    chan struct{} // closed when Close has finished

	mu      sync.Mutex
	closed  bool
	clients map[net.Conn]*forwardConn // channel is nil while it opens
	wg      sync.WaitGroup            // the accept loop and the clients' goroutines
}

// ForwarderOption configures [NewForwarder].
type ForwarderOption func(*forwarderConfig)

type forwarderConfig struct {
	host     string
	listener net.Listener
	errorLog func(error)
	socks    socksConfig
}

// WithListenAddress makes the forwarder listen on host instead of
// 127.0.0.1: "0.0.0.0" or "::" opens the port to other machines, and with
// it the forwarded service.
func WithListenAddress(host string) ForwarderOption {
	return func(c *forwarderConfig) { c.host = host }
}

// WithListener makes the forwarder serve ln, which it closes on Close,
// instead of listening itself; the local port is then ignored.
func WithListener(ln net.Listener) ForwarderOption {
	return func(c *forwarderConfig) { c.listener = ln }
}

// WithErrorLog gives the forwarder a function to report the errors of its
// clients to, such as a channel the server refused to open, or a SOCKS
// client turned away. It is called
// from the forwarder's goroutines.
func WithErrorLog(log func(error)) ForwarderOption {
	return func(c *forwarderConfig) { c.errorLog = log }
}

// NewForwarder listens on 127.0.0.1:localPort (port 0 picks a free one; see
// [Forwarder.LocalAddr]) and forwards every connection it accepts, through
// s, to remoteHost:remotePort as the server resolves it. Each connection
// gets its own channel and is copied both ways with backpressure: a slow
// client slows its channel's window, and nothing is buffered without bound.
// A channel the server refuses closes that client only. ctx bounds the
// forwarder's life: when it is done, or when s closes, the forwarder
// closes. A nil ctx or a nil or zero s is an error.
func NewForwarder(ctx context.Context, s *Session, localPort int, remoteHost string, remotePort int, opts ...ForwarderOption) (*Forwarder, error) {
	if ctx == nil {
		return nil, errNilContext("NewForwarder")
	}
	if err := checkForwardTarget(remoteHost, remotePort); err != nil {
		return nil, err
	}
	return newForwarder(ctx, s, localPort, remoteHost, remotePort, false, opts)
}

// newForwarder makes a Forwarder to remoteHost:remotePort, or a SOCKS
// forwarder.
func newForwarder(ctx context.Context, s *Session, localPort int, remoteHost string, remotePort int, socks bool, opts []ForwarderOption) (*Forwarder, error) {
	cfg := forwarderConfig{host: "127.0.0.1"}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if err := cfg.socks.check(socks); err != nil {
		return nil, err
	}
	err := s.usable()
	if err != nil {
		return nil, err
	}
	ln := cfg.listener
	if ln == nil {
		if localPort < 0 || localPort > 65535 {
			return nil, fmt.Errorf("libssh: local port %d out of range", localPort)
		}
		ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(cfg.host, strconv.Itoa(localPort)))
		if err != nil {
			return nil, fmt.Errorf("libssh: forwarder: %w", err)
		}
	}
	fctx, cancel := context.WithCancel(ctx)
	f := &Forwarder{
		s:          s,
		ln:         ln,
		remoteHost: remoteHost,
		remotePort: remotePort,
		socks:      cfg.socks.ifSOCKS(socks),
		errorLog:   cfg.errorLog,
		ctx:        fctx,
		cancel:     cancel,
		clients:    map[net.Conn]*forwardConn{},
		watched:    make(chan struct{}),
		done:       make(chan struct{}),
	}
	f.wg.Add(1)
	go f.serve()
	// The watcher closes the forwarder when its context is done (also by
	// serve, when the listener fails) or its session closes.
	go func() {
		defer close(f.watched)
		select {
		case <-fctx.Done():
		case <-s.st.done:
		}
		f.close(true)
	}()
	return f, nil
}

// made reports whether NewForwarder made f.
func (f *Forwarder) made() bool { return f != nil && f.ln != nil }

// errNoForwarder is the error of Close on a nil or zero Forwarder.
var errNoForwarder = notMade("Forwarder", "NewForwarder")

// closedChan is a closed channel: the Done of a Forwarder that never served.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// LocalAddr returns the address the forwarder listens on (nil for a nil or
// zero Forwarder).
func (f *Forwarder) LocalAddr() net.Addr {
	if !f.made() {
		return nil
	}
	return f.ln.Addr()
}

// Done returns a channel that is closed once the forwarder has closed: by
// Close, its context, or its session closing. It is closed already for a
// nil or zero Forwarder.
func (f *Forwarder) Done() <-chan struct{} {
	if !f.made() {
		return closedChan
	}
	return f.done
}

// Clients returns how many connections the forwarder serves now.
func (f *Forwarder) Clients() int {
	if !f.made() {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.clients)
}

// Close stops listening, closes every client connection and its channel,
// and returns once the forwarder's goroutines have ended. It returns nil
// also when the forwarder had closed already with its context or session.
// A second call waits for the first (except in a callback) and, as with a
// [net.Listener], returns an error matching [net.ErrClosed] (and
// [ErrClosed]). Called from a
// callback, it returns nil at once and closes the forwarder in another
// goroutine, which waits for the callback to return (an error of that
// close is lost).
func (f *Forwarder) Close() error {
	if !f.made() {
		return errNoForwarder
	}
	inCallback := callbackSession() != nil
	if f.closed1.Swap(true) {
		if !inCallback {
			// In a callback, the first Close may be waiting for the
			// lock the callback holds.
			<-f.done
		}
		return &net.OpError{Op: "close", Net: "tcp", Addr: f.ln.Addr(), Err: errConnClosed}
	}
	if inCallback {
		// Closing waits for the forwarder's goroutines, which may wait
		// for the lock the callback holds: close once it has returned.
		go f.close(false)
		return nil
	}
	return f.close(false)
}

// close closes the forwarder once; the watcher neither waits for itself
// nor for another closer (which waits for it).
func (f *Forwarder) close(byWatcher bool) error {
	if !f.closing.CompareAndSwap(false, true) {
		if !byWatcher {
			<-f.done
		}
		return nil
	}
	f.mu.Lock()
	f.closed = true
	for client, conn := range f.clients {
		client.Close()
		if conn != nil {
			conn.Close()
		}
	}
	f.mu.Unlock()
	f.cancel() // ends channel opens in progress, and the watcher
	err := f.ln.Close()
	f.wg.Wait()
	if !byWatcher {
		<-f.watched
	}
	close(f.done)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("libssh: forwarder: %w", err)
	}
	return nil
}

func (f *Forwarder) serve() {
	defer f.wg.Done()
	for {
		client, err := f.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				f.report(fmt.Errorf("libssh: forwarder: accept: %w", err))
				f.cancel() // a broken listener ends the forwarder, by the watcher

			}
			return
		}
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			client.Close()
			return
		}
		f.clients[client] = nil
		f.wg.Add(1)
		f.mu.Unlock()
		go f.forward(client)
	}
}

// forward serves one client: it opens the channel and copies both ways
// until both directions have ended.
func (f *Forwarder) forward(client net.Conn) {
	defer f.wg.Done()
	defer func() {
		f.mu.Lock()
		delete(f.clients, client)
		f.mu.Unlock()
		client.Close()
	}()
	origin, _ := client.RemoteAddr().(*net.TCPAddr)
	if origin == nil {
		origin = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	}
	host, port := f.remoteHost, f.remotePort
	var err error
	dialCtx := f.ctx
	if f.socks != nil {
		// The handshake, the dial and the reply have
		// socksHandshakeTimeout together: a client that connects and
		// says nothing, or a server that never opens the connection,
		// does not hold the connection and this goroutine for ever.
		deadline := time.Now().Add(time.Duration(socksHandshakeTimeout.Load()))
		client.SetDeadline(deadline)
		var cancel context.CancelFunc
		dialCtx, cancel = context.WithDeadline(f.ctx, deadline)
		defer cancel()
		if host, port, err = f.socks.handshake(client); err != nil {
			if f.ctx.Err() == nil {
				f.report(fmt.Errorf("libssh: SOCKS forwarder: connection from %s: %w", client.RemoteAddr(), err))
			}
			return
		}
	}
	conn, err := f.s.dial(dialCtx, host, port, origin)
	if f.socks != nil {
		if rerr := socksReply(client, err); err == nil {
			err = rerr
		}
		client.SetDeadline(time.Time{})
	}
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		if f.ctx.Err() == nil {
			f.report(fmt.Errorf("libssh: forwarder: connection from %s: %w", client.RemoteAddr(), err))
		}
		return
	}
	defer conn.Close()
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.clients[client] = conn
	f.mu.Unlock()

	done := make(chan struct{})
	go func() {
		defer close(done)
		// Server to client. Each piece is written before the next is
		// read, so the channel's window is the only buffer.
		if _, err := copyChunks(client, conn); err != nil {
			// A reset client, or a channel gone with its session: end
			// both directions.
			client.Close()
			conn.Close()
			return
		}
		if cw, ok := client.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		// The far end may still read. Once the server closes the channel
		// nothing more goes either way: end the client's connection, which
		// also ends the other direction's read.
		c := conn.ch.c
		c.waitUntil(f.ctx, func() bool { return c.remoteClosed })
		client.Close()
	}()
	if _, err := copyChunks(conn, client); err != nil {
		client.Close()
		conn.Close()
	} else {
		conn.CloseWrite()
	}
	<-done
}

// copyChunks copies src to dst in pieces of maxWriteChunk, the size a
// channel write takes at once (io.Copy would use the sockets' 32 KiB).
func copyChunks(dst io.Writer, src io.Reader) (int64, error) {
	bp := chunkBufs.Get().(*[]byte)
	defer chunkBufs.Put(bp)
	// Hiding the sockets' ReadFrom and WriteTo keeps this buffer in use.
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *bp)
}

func (f *Forwarder) report(err error) {
	if f.errorLog != nil {
		f.errorLog(err)
	}
}
