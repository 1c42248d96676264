package libssh

import (
	"context"
	"errors"
	"net"
	"weak"

	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/internal/cgocallback"
	"github.com/golibssh/libssh/lib"
)

// ServerMessage is a client's request to a server-side session (see
// [AcceptSession]) that no channel callback took: authentication, a channel
// open, a request on a channel, a service or global request. It is valid
// only during the handler call that received it. A nil or zero
// ServerMessage holds no message: Lib and LibSession return NULL, and
// AcceptChannel an error.
type ServerMessage struct {
	s    *Session
	m    lib.Message
	done bool // the handler returned: m is gone
}

// made reports whether AcceptSession's handler got m.
func (m *ServerMessage) made() bool { return m != nil && m.s != nil && m.s.st != nil }

// Lib returns the libssh message, for the ssh_message_* functions of
// package lib. It is valid only during the handler call.
func (m *ServerMessage) Lib() lib.Message {
	if m == nil {
		return lib.Message{}
	}
	return m.m
}

// LibSession returns the server-side libssh session the message came on,
// for the lib calls that take a session (such as
// ssh_userauth_kbdint_getanswer). It is valid only during the handler call.
func (m *ServerMessage) LibSession() lib.Session {
	if !m.made() {
		return lib.Session{}
	}
	return m.s.st.p
}

// AcceptChannel accepts the channel open m asks for (a session channel, or a
// direct-tcpip one for forwarding) and returns the channel, open, with cb
// installed (cb may be nil) before any request on it can arrive. The
// handler must then report m as answered. In the handler,
// [Channel.SetCallbacks] may still change the new channel's callbacks. The channel belongs to the
// session: close it when done, from the handler (which defers the close)
// or later.
//
// Uses ssh_message_channel_request_open_reply_accept.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) AcceptChannel(cb *callbacks.ChannelCallbacks) (*Channel, error) {
	if !m.made() {
		return nil, notMade("ServerMessage", "AcceptSession's handler")
	}
	if m.done || !m.s.st.inCallback() {
		return nil, errors.New("libssh: AcceptChannel outside the message handler call that received the message")
	}
	if lib.MessageType(m.m) != lib.SSH_REQUEST_CHANNEL_OPEN {
		return nil, errors.New("libssh: AcceptChannel of a message that is not a channel open")
	}
	st := m.s.st // locked: the handler runs inside the session's packet processing
	p := lib.MessageChannelRequestOpenReplyAccept(m.m)
	if p.IsNil() {
		return nil, st.errorLocked("accept channel", "ssh_message_channel_request_open_reply_accept failed")
	}
	ch, err := st.adoptChannelLocked(m.s, p, true)
	if err != nil {
		lib.ChannelFree(p)
		return nil, err
	}
	ch.c.opened = true
	if cb != nil {
		reg, err := cgocallback.InstallGuarded(p, cb, ch.c.guard)
		if err != nil {
			ch.c.closeQueued = true
			st.deferred = append(st.deferred, ch.c)
			return nil, err
		}
		ch.c.user = reg
	}
	return ch, nil
}

// AcceptSession runs the server side of an SSH connection on conn, which
// a listener accepted: it takes the host keys from bind, runs the key
// exchange and returns the session. From then on handle receives every
// client message no channel callback takes, and answers it (false leaves
// the answer to libssh: a refusal, except that a service request is
// accepted); it runs with the session locked, like a channel callback, so
// it may use [ServerMessage.AcceptChannel] and package lib on the message,
// but not other methods of the session or its channels (do that from
// another goroutine).
//
// Cancelling ctx abandons the key exchange. On any error conn is closed.
// Package sshtest is built on it; it also serves anyone writing a server
// with libssh's server API. Of the options, [WithLogger] and
// [WithLogVerbosity] apply.
//
// Uses ssh_bind_accept_fd, ssh_set_server_callbacks, ssh_set_message_callback
// and ssh_handle_key_exchange.
//
//lockcheck:ok the session it makes is not shared before the lock is taken
func AcceptSession(ctx context.Context, conn net.Conn, bind lib.Bind, handle func(*ServerMessage) (answered bool), opts ...Option) (*Session, error) {
	if conn == nil {
		return nil, errors.New("libssh: AcceptSession of a nil connection")
	}
	fail := func(err error) (*Session, error) {
		conn.Close()
		return nil, err
	}
	if bind.IsNil() {
		return fail(errors.New("libssh: AcceptSession needs a bind with the host keys"))
	}
	if handle == nil {
		return fail(errors.New("libssh: AcceptSession needs a message handler"))
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return fail(err)
		}
	}
	s, err := newOwnedSession(cfg)
	if err != nil {
		return fail(err)
	}
	st, p := s.st, s.st.p
	closeWith := func(err error) (*Session, error) {
		s.Close()
		return nil, err
	}
	const op = "accept"
	pl, fd, err := newNetPoller(conn)
	if err != nil {
		return closeWith(&Error{Op: op, Err: err})
	}
	// The handler holds the Session weakly, so that a server session
	// nobody closes can still be cleaned up.
	ws := weak.Make(s)
	st.lock()
	st.setupLoggingLocked()
	st.setPollerLocked(pl)
	if lib.BindAcceptFd(bind, p, fd) != lib.SSH_OK {
		// libssh may have taken the socket before it failed (a bind
		// without a usable key fails after that); then ssh_free closes
		// it, and closing it here too could close a reused descriptor.
		if lib.GetFd(p) == fd {
			st.sockFD = fd
		} else {
			syscallClose(fd)
		}
		st.unlock()
		return closeWith(&Error{Op: op, Message: "ssh_bind_accept_fd failed (no usable host key?)"})
	}
	st.sockFD = fd
	reg, err := cgocallback.InstallServer(p, func(m lib.Message) bool {
		s := ws.Value()
		if s == nil {
			return false
		}
		msg := &ServerMessage{s: s, m: m}
		defer func() { msg.done = true }()
		return handle(msg)
	}, st.serverGuard)
	if err != nil {
		st.unlock()
		return closeWith(err)
	}
	st.server = reg
	st.unlock()
	err = st.drive(ctx, func() (bool, error) {
		if err := st.connectableLocked(); err != nil {
			return false, err
		}
		rc := lib.HandleKeyExchange(p)
		if st.ev.IsNil() && rc != lib.SSH_ERROR {
			if err := st.startIOLocked(); err != nil {
				return false, err
			}
		}
		if rc == lib.SSH_AGAIN && st.connected {
			// The pump ran the rest of the key exchange and went on to
			// the client's first request; libssh's kex check then says
			// "again" for ever (it looks for the state right after kex).
			rc = lib.SSH_OK
		}
		switch rc {
		case lib.SSH_OK:
			st.setConnectedLocked()
			st.readPropertiesLocked()
			return true, nil
		case lib.SSH_ERROR:
			return false, st.errorLocked("key exchange", "key exchange failed")
		}
		return false, nil
	})
	if werr, waiting := abandoned(err); waiting {
		return closeWith(st.abandon("key exchange", werr))
	}
	if err != nil {
		return closeWith(err)
	}
	return s, nil
}

// serverGuard wraps every call of a server session's message handler as
// chanState.guard wraps a channel callback: calls back into the package are
// recognised, and a panic breaks the session.
func (st *sessionState) serverGuard(run func()) {
	exit := st.enterCallback()
	st.inHandler = true
	// Messages come only after the key exchange: the session is
	// connected, even if AcceptSession has not looked yet (the channels
	// the handler accepts are usable at once).
	if !st.connected {
		st.setConnectedLocked()
	}
	defer func() {
		exit()
		st.inHandler = false
		if r := recover(); r != nil {
			if st.broken == nil {
				st.setBrokenLocked(&callbacks.PanicError{Value: r})
			}
			panic(r) // for package cgocallback, which refuses the message
		}
	}()
	run()
}
