package libssh

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golibssh/libssh/internal/cgocallback"
	"github.com/golibssh/libssh/lib"
)

// listenBacklog bounds how many forwarded connections a RemoteListener
// holds that nobody has accepted yet; the server's further channel opens
// are refused until Accept takes some.
const listenBacklog = 64

// cancelForwardWait bounds how long RemoteListener.Close waits for the
// server to confirm that it stopped listening.
const cancelForwardWait = 10 * time.Second

// For port 0 Listen picks the port itself: a random one of the dynamic
// range (RFC 6335), at most chosenPortTries of them while the server
// refuses. It never lets the server choose: libssh (0.10 and 0.11 alike)
// reads the port the server chose from "the last packet we received" (its
// own FIXME), which can be the first part of a packet still arriving, and
// the read takes four bytes of it; that packet is then parsed shifted and
// dropped as garbage, so whatever it carried (channel data, a reply) is
// lost for good (TestListenPortZeroDuringTransfer).
const (
	chosenPortTries = 8
	dynamicPortMin  = 49152
	dynamicPortMax  = 65535
)

// remoteForwards is a session's remote forwarding state (ssh -R): its
// listeners and its share of libssh's one global-request slot, which the
// keepalive uses too (docs/design.md, "Remote forwarding"). Guarded by the
// lock, except sem.
type remoteForwards struct {
	// sem serialises the forward requests (tcpip-forward and
	// cancel-tcpip-forward): libssh holds one global request at a time.
	sem chan struct{}
	// busy: a forward request is being sent or awaits its answer. The
	// keepalive sends nothing meanwhile (ssh_send_keepalive would take
	// the answer and drop it).
	busy bool
	// dirty: a global request whose answer nobody collects may be
	// outstanding (a keepalive's, or an abandoned forward request's); the
	// next forward request collects it first.
	dirty bool
	// listeners are the open listeners; handler is the client message
	// handler that hands them the server's "forwarded-tcpip" channels,
	// installed by the first Listen and freed after the session.
	listeners map[*RemoteListener]struct{}
	handler   *cgocallback.ServerRegistration
}

// Listen asks the server to listen on addr and to forward each connection
// it accepts there back through the session, as ssh -R does (a
// "tcpip-forward" global request), and returns a [net.Listener] whose
// Accept returns those connections. network must be "tcp", "tcp4" or
// "tcp6"; addr is "host:port" as the server resolves it: "" or "0.0.0.0"
// for every address (OpenSSH allows other than loopback only with
// GatewayPorts), "localhost" for loopback. For port 0 Listen picks the port,
// which [RemoteListener.Addr] then reports: a random one of 49152-65535,
// and another while the server refuses, at most 8. (It does not let the
// server choose: libssh reads the chosen port from whatever packet it
// handled last, and when that is part of a packet still arriving, the
// packet is lost, with the channel data it carried.)
//
// The listener is a [*RemoteListener], which adds AcceptContext. Its
// connections are the type [Session.DialContext] returns: deadlines work,
// CloseWrite sends EOF. A session may have many listeners; each incoming
// connection goes to the one whose port (and address) it was made to.
// Close asks the server to stop listening and ends pending Accepts; closing
// the session ends all its listeners.
//
// A server that refuses (OpenSSH: AllowTcpForwarding no or local, a port
// under 1024 for a user other than root, a port in use) gives an error
// matching [ErrRequestDenied]; a session not authenticated yet, one
// matching [ErrNotAuthenticated]. When ctx ends while the server has not
// answered, Listen returns an error matching the context's; the session
// stays usable,
// but the server may then listen until the session ends, its connections
// refused. A nil ctx is an error; on error the net.Listener is nil.
//
// Uses ssh_channel_listen_forward and ssh_channel_cancel_forward, and
// ssh_set_message_callback for the server's "forwarded-tcpip" channels.
func (s *Session) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	st, err := s.enter(ctx)
	if err != nil {
		return nil, err
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("libssh: listen %s %s: unsupported network (only tcp forwarding exists)", network, addr)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("libssh: listen %s: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("libssh: listen %s: invalid port %q", addr, portStr)
	}
	if err := checkString("listen address", host); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	release, err := st.acquireSlot(ctx, st.fwd.sem, ErrClosed)
	if err != nil {
		return nil, err
	}
	defer release()
	defer runtime.KeepAlive(s)
	st.lock()
	err = st.usableLocked()
	if err == nil && !st.owned {
		// ssh_set_message_callback would replace the owner's handler,
		// and stay on its session after Close.
		err = errors.New("libssh: Listen needs a session made by NewSession, not WrapSession")
	}
	if err == nil && !st.authenticated {
		// A server answers a global request before authentication
		// with SSH_MSG_UNIMPLEMENTED, which libssh does not take for
		// the answer: the slot would stay taken (see keepalive.go).
		err = fmt.Errorf("%w: log in before asking the server to listen", ErrNotAuthenticated)
	}
	if err == nil {
		err = st.installForwardHandlerLocked()
	}
	st.unlock()
	if err != nil {
		return nil, err
	}
	l := &RemoteListener{s: s, st: st, host: host, port: port,
		queue: make(chan *forwardConn, listenBacklog), done: make(chan struct{})}
	op := "listen on " + net.JoinHostPort(host, portStr) + " (remote)"
	tries := 1
	if port == 0 {
		tries = chosenPortTries
	}
	asked := 0 // ports the server refused
	for range tries {
		if port == 0 {
			l.port = dynamicPortMin + rand.IntN(dynamicPortMax-dynamicPortMin+1)
		}
		registered := false
		err = st.globalRequest(ctx, op, func() int {
			if !registered {
				// Registered before the request goes out: a connection
				// may come right behind the answer.
				st.fwd.listeners[l] = struct{}{}
				registered = true
			}
			// l.port is never 0 here, so libssh reads no port from its
			// input buffer (see chosenPortTries).
			rc, _ := lib.ChannelListenForward(st.p, host, l.port)
			if rc == lib.SSH_ERROR {
				delete(st.fwd.listeners, l)
			}
			return rc
		})
		var e *Error
		if err == nil || !errors.As(err, &e) || e.Code != ErrorCodeRequestDenied {
			break // listening, or a failure another port would not fix
		}
		asked++
	}
	if err != nil && port == 0 && asked == tries {
		err = fmt.Errorf("%w; it refused %d random ports of %d-%d", deniedForward(err), asked, dynamicPortMin, dynamicPortMax)
	}
	if err != nil {
		st.lock()
		delete(st.fwd.listeners, l)
		st.unlock()
		return nil, deniedForward(err)
	}
	return l, nil
}

// deniedForward says what a refused forward request usually means.
func deniedForward(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Code == ErrorCodeRequestDenied {
		e.Message = "the server refused to forward the port (forwarding not allowed, a privileged port, or a port in use)"
	}
	return err
}

// globalRequest runs call, a libssh function that sends a global request
// and collects its answer (ssh_channel_listen_forward or
// ssh_channel_cancel_forward), until the server answered. The caller holds
// st.fwd.sem. libssh keeps one global request at a time: a call made while
// another is outstanding only collects that one's answer and returns it as
// its own. So the keepalive sends nothing while busy is set, and an answer
// nobody collected (dirty) is collected first with
// ssh_channel_cancel_forward("", 0), which, when no request is outstanding
// after all, sends a cancel of nothing that every server refuses, and is
// collected in turn. When ctx ends before the answer, the request is left
// for the next one to collect, and the session stays usable.
func (st *sessionState) globalRequest(ctx context.Context, op string, call func() int) error {
	err := st.drive(ctx, func() (bool, error) {
		if err := st.usableLocked(); err != nil {
			return false, err
		}
		st.fwd.busy = true
		for st.fwd.dirty {
			if lib.ChannelCancelForward(st.p, "", 0) == lib.SSH_AGAIN {
				return false, nil
			}
			st.fwd.dirty = false
		}
		switch call() {
		case lib.SSH_OK:
			st.fwd.busy = false
			return true, nil
		case lib.SSH_ERROR:
			st.fwd.busy = false
			return false, st.errorLocked(op, "failed")
		}
		return false, nil
	})
	if werr, waiting := abandoned(err); waiting {
		err = werr
		if !errors.Is(err, ErrClosed) {
			err = &Error{Op: op, Message: "cancelled while the server had not answered", Err: err}
		}
	}
	st.lock()
	if st.fwd.busy {
		st.fwd.busy, st.fwd.dirty = false, true
	}
	st.unlock()
	return err
}

// installForwardHandlerLocked installs the message handler that takes the
// server's "forwarded-tcpip" channel opens, once per session.
func (st *sessionState) installForwardHandlerLocked() error {
	if st.fwd.handler != nil {
		return nil
	}
	reg, err := cgocallback.InstallClient(st.p, st.forwardedLocked, st.serverGuard)
	if err != nil {
		return err
	}
	st.fwd.handler = reg
	if st.fwd.listeners == nil {
		st.fwd.listeners = map[*RemoteListener]struct{}{}
	}
	return nil
}

// forwardedLocked is the client's message handler: it accepts a
// "forwarded-tcpip" channel open for a listener with room in its backlog
// and queues the connection; everything else gets libssh's default answer
// (a refusal).
func (st *sessionState) forwardedLocked(m lib.Message) bool {
	if lib.MessageType(m) != lib.SSH_REQUEST_CHANNEL_OPEN || lib.MessageSubtype(m) != lib.SSH_CHANNEL_FORWARDED_TCPIP {
		return false
	}
	dest, port := lib.MessageChannelRequestOpenDestination(m), lib.MessageChannelRequestOpenDestinationPort(m)
	var l *RemoteListener
	for c := range st.fwd.listeners {
		if c.port != port || c.closed.Load() {
			continue
		}
		if l == nil || c.host == dest {
			l = c
		}
	}
	if l == nil || len(l.queue) == cap(l.queue) {
		return false // only this handler sends on queue, under the lock: a send now never blocks
	}
	p := lib.MessageChannelRequestOpenReplyAccept(m)
	if p.IsNil() {
		return true // libssh answered (or failed to, and the session says why)
	}
	ch, err := st.adoptChannelLocked(l.s, p, true)
	if err != nil {
		lib.ChannelFree(p)
		return true
	}
	ch.c.opened = true
	orig := lib.MessageChannelRequestOpenOriginator(m)
	origPort := lib.MessageChannelRequestOpenOriginatorPort(m)
	l.queue <- &forwardConn{
		ch:     ch,
		local:  l.Addr(),
		remote: tcpAddr(orig, origPort),
		rd:     newDeadline(),
		wd:     newDeadline(),
	}
	return true
}

// endListenersLocked ends every listener of the session (teardown).
func (st *sessionState) endListenersLocked() {
	for l := range st.fwd.listeners {
		l.end()
	}
	clear(st.fwd.listeners)
}

// tcpAddr returns host:port as a *net.TCPAddr when host is an IP address
// or empty, else as a name.
func tcpAddr(host string, port int) net.Addr {
	if host == "" {
		return &net.TCPAddr{Port: port}
	}
	if ip := net.ParseIP(host); ip != nil {
		return &net.TCPAddr{IP: ip, Port: port}
	}
	return forwardAddr(net.JoinHostPort(host, strconv.Itoa(port)))
}

// RemoteListener is a port the server listens on for the client (see
// [Session.Listen]). It is a [net.Listener], and adds AcceptContext. An
// open listener keeps its Session reachable, as an accepted connection
// does. A nil or zero RemoteListener listens nowhere: Addr is nil, and the
// other methods return an error.
type RemoteListener struct {
	// s keeps the Session reachable while the listener is open, as a
	// connection keeps its channel's: a caller may hold only the listener.
	s    *Session
	st   *sessionState
	host string // the address asked for, as sent
	port int    // the port the server listens on (-1 while unknown)

	queue   chan *forwardConn // accepted channels; only the message handler sends
	done    chan struct{}     // closed when the listener ends
	endOnce sync.Once
	closed  atomic.Bool // Close was called
}

func (l *RemoteListener) made() bool { return l != nil && l.st != nil }

// end closes done once: Accepts return, nothing more is queued.
func (l *RemoteListener) end() { l.endOnce.Do(func() { close(l.done) }) }

// Addr returns the address the server listens on, with the port it
// chose for port 0. It is a *net.TCPAddr when the address asked for is an
// IP address or empty. Nil for a nil or zero RemoteListener.
func (l *RemoteListener) Addr() net.Addr {
	if !l.made() {
		return nil
	}
	return tcpAddr(l.host, l.port)
}

// Accept waits for the next connection to the server's port and returns
// it (see [Session.Listen]). After Close, or once the session has ended,
// it returns an error matching [net.ErrClosed].
func (l *RemoteListener) Accept() (net.Conn, error) {
	return l.AcceptContext(context.Background())
}

// AcceptContext is Accept that also gives up when ctx ends, returning the
// context's error. A nil ctx is an error; in a callback it returns
// [ErrInCallback] (the connection would come through the lock the callback
// holds).
func (l *RemoteListener) AcceptContext(ctx context.Context) (net.Conn, error) {
	if !l.made() {
		return nil, errNoListener
	}
	if ctx == nil {
		return nil, errNilContext("AcceptContext")
	}
	if err := refuseInCallback(); err != nil {
		// The connection it waits for comes through the lock the
		// callback holds.
		return nil, err
	}
	select {
	case <-l.done:
		return nil, l.acceptError()
	default:
	}
	select {
	case c := <-l.queue:
		return c, nil
	case <-l.done:
		return nil, l.acceptError()
	case <-l.st.ended:
		return nil, l.acceptError()
	case <-ctx.Done():
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: ctx.Err()}
	}
}

// acceptError is the error of an Accept on a listener that ended.
func (l *RemoteListener) acceptError() error {
	err := errConnClosed
	if !l.closed.Load() {
		if reason := l.st.endReason(); reason != nil {
			err = reason
			if errors.Is(err, ErrClosed) && !errors.Is(err, net.ErrClosed) {
				err = closedBecause{err}
			}
		}
	}
	return &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: err}
}

// errNoListener is the error of a nil or zero RemoteListener.
var errNoListener = notMade("RemoteListener", "Session.Listen")

// Close stops the listener: pending Accepts return an error matching
// [net.ErrClosed], connections not accepted yet are closed (accepted ones
// stay open), and the server is asked to stop listening
// ("cancel-tcpip-forward"). Close waits for the server's answer, at most
// 10 seconds; a refusal is returned as an error. A second Close returns an
// error matching net.ErrClosed. Called from a callback, it ends the
// listener at once and asks the server from another goroutine.
//
// Uses ssh_channel_cancel_forward.
func (l *RemoteListener) Close() error {
	if !l.made() {
		return errNoListener
	}
	if l.closed.Swap(true) {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.Addr(), Err: errConnClosed}
	}
	l.end()
	if cs := callbackSession(); cs != nil {
		go l.cancel()
		return nil
	}
	return l.cancel()
}

// cancel takes the listener off the session, closes what it had queued and
// asks the server to stop listening.
func (l *RemoteListener) cancel() error {
	st := l.st
	st.lock()
	_, listed := st.fwd.listeners[l]
	delete(st.fwd.listeners, l)
	st.unlock()
	for {
		select {
		case c := <-l.queue:
			c.Close()
			continue
		default:
		}
		break
	}
	if !listed {
		return nil // the session ended (or Listen failed): nothing to cancel
	}
	ctx, stop := context.WithTimeout(context.Background(), cancelForwardWait)
	defer stop()
	release, err := st.acquireSlot(ctx, st.fwd.sem, ErrClosed)
	if err == nil {
		op := "cancel listening on " + net.JoinHostPort(l.host, strconv.Itoa(l.port)) + " (remote)"
		err = st.globalRequest(ctx, op, func() int { return lib.ChannelCancelForward(st.p, l.host, l.port) })
		release()
	}
	if err == nil || errors.Is(err, ErrClosed) {
		return nil // a closed session listens no more
	}
	return &net.OpError{Op: "close", Net: "tcp", Addr: l.Addr(), Err: err}
}

// The global request kinds of [ServerMessage.ForwardRequest].
var forwardRequests = map[int]string{
	lib.SSH_GLOBAL_REQUEST_TCPIP_FORWARD:        "tcpip-forward",
	lib.SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD: "cancel-tcpip-forward",
}

// ForwardRequest returns what a "global-request" message for remote
// forwarding asks: kind is "tcpip-forward" (listen on address:port, port 0
// for one the server chooses, and open a "forwarded-tcpip" channel for each
// connection, with [Channel.OpenReverseForward]) or
// "cancel-tcpip-forward" (stop); "" for any other message.
//
// Uses ssh_message_subtype, ssh_message_global_request_address and
// ssh_message_global_request_port.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) ForwardRequest() (kind, address string, port int) {
	kind = forwardRequests[m.subtype(lib.SSH_REQUEST_GLOBAL)]
	if kind == "" {
		return "", "", 0
	}
	return kind, lib.MessageGlobalRequestAddress(m.m), lib.MessageGlobalRequestPort(m.m)
}

// ReplyForwardSuccess accepts a "tcpip-forward" or "cancel-tcpip-forward"
// message (see [ServerMessage.ForwardRequest]); boundPort is the port the
// server chose when the client asked for port 0 (ignored otherwise). The
// handler must then report m as answered; returning false refuses it.
//
// Uses ssh_message_global_request_reply_success.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) ReplyForwardSuccess(boundPort int) error {
	if err := m.usable("ReplyForwardSuccess"); err != nil {
		return err
	}
	if kind, _, _ := m.ForwardRequest(); kind == "" {
		return errors.New("libssh: ReplyForwardSuccess of a message that is not a forward request")
	}
	if boundPort < 0 || boundPort > 65535 {
		return fmt.Errorf("libssh: bound port %d out of range", boundPort)
	}
	if lib.MessageGlobalRequestReplySuccess(m.m, uint16(boundPort)) != lib.SSH_OK {
		return m.s.st.errorLocked("reply forward success", "ssh_message_global_request_reply_success failed")
	}
	return nil
}

// OpenReverseForward opens the channel, on the server side of a session
// (see [AcceptSession]), as a connection to a port the client asked the
// server to listen on (a "forwarded-tcpip" channel): address and port are
// what the client asked for (the port the server chose, for port 0), and
// originHost and originPort where the connection came from.
//
// Uses ssh_channel_open_reverse_forward.
func (ch *Channel) OpenReverseForward(ctx context.Context, address string, port int, originHost string, originPort int) error {
	if err := checkForwardTarget(address, port); err != nil {
		return err
	}
	if err := checkForwardTarget(originHost, originPort); err != nil {
		return err
	}
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	op := "open forwarded channel for " + net.JoinHostPort(address, strconv.Itoa(port))
	return openChannelError(c.pending(ctx, op, false, func(p lib.Channel) int {
		rc := lib.ChannelOpenReverseForward(p, address, port, originHost, originPort)
		c.opened = rc == lib.SSH_OK
		return rc
	}))
}
