package libssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"weak"

	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/internal/cgocallback"
	"github.com/golibssh/libssh/lib"
)

// ServerMessage is a client's request to a server-side session (see
// [AcceptSession]) that no channel callback took: authentication, a channel
// open, a request on a channel, a service or global request. It is valid
// only during the handler call that received it: afterwards, and on any
// other goroutine, its accessors return zero values and its methods an
// error. A nil or zero ServerMessage holds no message.
//
// The handler reads the request with [ServerMessage.Type] and the accessors
// of that type, and answers it with one Reply method or
// [ServerMessage.AcceptChannel], then returns true; returning false lets
// libssh answer by default (a refusal listing the methods of
// [ServerMessage.SetAuthMethods] for authentication; a service request is
// accepted). A message that a Reply method or AcceptChannel answered
// (even when AcceptChannel then returned an error) counts as answered
// whatever the handler returns: a second answer would break the protocol.
type ServerMessage struct {
	s        *Session
	m        lib.Message
	done     bool // the handler returned: m is gone
	answered bool // a reply went out
}

// made reports whether AcceptSession's handler got m.
func (m *ServerMessage) made() bool { return m != nil && m.s != nil && m.s.st != nil }

// live reports whether m may be used: in its handler call, on the
// handler's goroutine.
// On another goroutine inCallback is false, and done (which the handler's
// goroutine writes) is not read.
func (m *ServerMessage) live() bool { return m.made() && m.s.st.inCallback() && !m.done }

// usable returns why m may not be used, or nil.
func (m *ServerMessage) usable(what string) error {
	if !m.made() {
		return notMade("ServerMessage", "AcceptSession's handler")
	}
	if !m.live() {
		return errors.New("libssh: " + what + " outside the message handler call that received the message")
	}
	return nil
}

// The message types of [ServerMessage.Type].
var messageTypes = map[int]string{
	lib.SSH_REQUEST_AUTH:         "auth",
	lib.SSH_REQUEST_CHANNEL_OPEN: "channel-open",
	lib.SSH_REQUEST_CHANNEL:      "channel-request",
	lib.SSH_REQUEST_SERVICE:      "service-request",
	lib.SSH_REQUEST_GLOBAL:       "global-request",
}

// Type returns what the client asks for: "auth" (see
// [ServerMessage.AuthMethod]), "channel-open" (see
// [ServerMessage.ChannelType]), "channel-request" (see
// [ServerMessage.RequestType]), "service-request" or "global-request".
//
// Uses ssh_message_type.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) Type() string {
	if !m.live() {
		return ""
	}
	return messageTypes[lib.MessageType(m.m)]
}

// subtype returns the message's subtype when it is of type typ, else -1.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) subtype(typ int) int {
	if !m.live() || lib.MessageType(m.m) != typ {
		return -1
	}
	return lib.MessageSubtype(m.m)
}

// is reports whether m is live and an authentication request by method.
func (m *ServerMessage) is(method AuthMethod) bool {
	return m.AuthMethod() == method
}

// AuthMethod returns the method of an "auth" message (one of
// AuthMethodNone, AuthMethodPassword, AuthMethodPublicKey,
// AuthMethodInteractive, AuthMethodGSSAPIMIC), or 0.
//
// Uses ssh_message_subtype.
func (m *ServerMessage) AuthMethod() AuthMethod {
	if st := m.subtype(lib.SSH_REQUEST_AUTH); st > 0 {
		return AuthMethod(st)
	}
	return 0
}

// User returns the user name of an "auth" message, or "".
//
// Uses ssh_message_auth_user.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) User() string {
	if m.subtype(lib.SSH_REQUEST_AUTH) < 0 {
		return ""
	}
	return lib.MessageAuthUser(m.m)
}

// Password returns the password of a "password" authentication request,
// or "".
//
// Uses ssh_message_auth_password.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) Password() string {
	if !m.is(AuthMethodPassword) {
		return ""
	}
	return lib.MessageAuthPassword(m.m)
}

// PublicKey returns the key of a "publickey" authentication request, or
// nil. probe is true when the request carries no signature: the client
// asks whether the key would do, and [ServerMessage.ReplyPublicKeyOK] says
// yes. verified is true when the request carries a signature that libssh
// checked against the key: the client holds the private key. A request
// with neither is a bad signature: refuse it.
//
// Uses ssh_message_auth_pubkey and ssh_message_auth_publickey_state.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) PublicKey() (key *PublicKey, probe, verified bool) {
	if !m.is(AuthMethodPublicKey) {
		return nil, false, false
	}
	k := lib.MessageAuthPubkey(m.m) // owned by the message
	if k.IsNil() {
		return nil, false, false
	}
	pk, err := publicKeyOf(k)
	if err != nil {
		return nil, false, false
	}
	switch lib.MessageAuthPublickeyState(m.m) {
	case lib.SSH_PUBLICKEY_STATE_NONE:
		return pk, true, false
	case lib.SSH_PUBLICKEY_STATE_VALID:
		return pk, false, true
	}
	return pk, false, false
}

// KbdintAnswers returns the answers of a "keyboard-interactive"
// authentication request. response is false for the request that starts
// keyboard-interactive (it has no answers: reply with
// [ServerMessage.ReplyKbdint]), true when the client answers the last
// round sent.
//
// Uses ssh_message_auth_kbdint_is_response, ssh_userauth_kbdint_getnanswers
// and ssh_userauth_kbdint_getanswer.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) KbdintAnswers() (answers []string, response bool) {
	if !m.is(AuthMethodInteractive) || lib.MessageAuthKbdintIsResponse(m.m) == 0 {
		return nil, false
	}
	p := m.s.st.p
	n := lib.UserauthKbdintGetnanswers(p)
	answers = make([]string, max(n, 0))
	for i := range answers {
		answers[i] = lib.UserauthKbdintGetanswer(p, uint(i))
	}
	return answers, true
}

// SetAuthMethods sets the methods that a refusal of an "auth" message
// lists as those that can continue (libssh's default: password and
// publickey). Call it before returning false from the handler.
//
// Uses ssh_message_auth_set_methods.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) SetAuthMethods(methods AuthMethod) error {
	if err := m.usable("SetAuthMethods"); err != nil {
		return err
	}
	if m.subtype(lib.SSH_REQUEST_AUTH) < 0 {
		return errors.New("libssh: SetAuthMethods of a message that is not an authentication request")
	}
	if lib.MessageAuthSetMethods(m.m, int(methods)) != lib.SSH_OK {
		return m.s.st.errorLocked("set auth methods", "ssh_message_auth_set_methods failed")
	}
	return nil
}

// ReplyAuthSuccess logs the client in: it answers an "auth" message with
// success.
//
// Uses ssh_message_auth_reply_success.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) ReplyAuthSuccess() error {
	if err := m.usable("ReplyAuthSuccess"); err != nil {
		return err
	}
	if m.subtype(lib.SSH_REQUEST_AUTH) < 0 {
		return errors.New("libssh: ReplyAuthSuccess of a message that is not an authentication request")
	}
	if lib.MessageAuthReplySuccess(m.m, 0) != lib.SSH_OK {
		return m.s.st.errorLocked("reply auth success", "ssh_message_auth_reply_success failed")
	}
	m.answered = true
	return nil
}

// ReplyPublicKeyOK answers a "publickey" probe (see
// [ServerMessage.PublicKey]): the key would do, the client may sign with
// it.
//
// Uses ssh_message_auth_reply_pk_ok_simple.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) ReplyPublicKeyOK() error {
	if err := m.usable("ReplyPublicKeyOK"); err != nil {
		return err
	}
	if !m.is(AuthMethodPublicKey) {
		return errors.New("libssh: ReplyPublicKeyOK of a message that is not a publickey request")
	}
	if lib.MessageAuthReplyPkOkSimple(m.m) != lib.SSH_OK {
		return m.s.st.errorLocked("reply pk ok", "ssh_message_auth_reply_pk_ok_simple failed")
	}
	m.answered = true
	return nil
}

// ReplyKbdint answers a "keyboard-interactive" message with a round of
// prompts; the client's answers come in the next such message (see
// [ServerMessage.KbdintAnswers]). A round without prompts is a notice.
//
// Uses ssh_message_auth_interactive_request.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) ReplyKbdint(round KbdintRound) error {
	if err := m.usable("ReplyKbdint"); err != nil {
		return err
	}
	if !m.is(AuthMethodInteractive) {
		return errors.New("libssh: ReplyKbdint of a message that is not a keyboard-interactive request")
	}
	texts, echo := make([]string, len(round.Prompts)), make([]bool, len(round.Prompts))
	for i, p := range round.Prompts {
		texts[i], echo[i] = p.Msg, p.Display
	}
	for _, t := range append([]string{round.Name, round.Instruction}, texts...) {
		if err := checkString("keyboard-interactive prompt", t); err != nil {
			return err
		}
	}
	if lib.MessageAuthInteractiveRequest(m.m, round.Name, round.Instruction, texts, echo) != lib.SSH_OK {
		return m.s.st.errorLocked("reply kbdint", "ssh_message_auth_interactive_request failed")
	}
	m.answered = true
	return nil
}

// The channel types of [ServerMessage.ChannelType].
var channelTypes = map[int]string{
	lib.SSH_CHANNEL_SESSION:         "session",
	lib.SSH_CHANNEL_DIRECT_TCPIP:    "direct-tcpip",
	lib.SSH_CHANNEL_FORWARDED_TCPIP: "forwarded-tcpip",
	lib.SSH_CHANNEL_X11:             "x11",
	lib.SSH_CHANNEL_AUTH_AGENT:      "auth-agent@openssh.com",
}

// ChannelType returns the channel type a "channel-open" message asks for:
// "session", "direct-tcpip" (port forwarding: see
// [ServerMessage.Destination]), "forwarded-tcpip", "x11" or
// "auth-agent@openssh.com"; "" for any other message or type.
//
// Uses ssh_message_subtype.
func (m *ServerMessage) ChannelType() string {
	return channelTypes[m.subtype(lib.SSH_REQUEST_CHANNEL_OPEN)]
}

// Destination returns where a "direct-tcpip" channel open asks the server
// to connect, or "" and 0.
//
// Uses ssh_message_channel_request_open_destination and
// ssh_message_channel_request_open_destination_port.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) Destination() (host string, port int) {
	if m.ChannelType() != "direct-tcpip" {
		return "", 0
	}
	return lib.MessageChannelRequestOpenDestination(m.m), lib.MessageChannelRequestOpenDestinationPort(m.m)
}

// Originator returns where the connection of a "direct-tcpip" or
// "forwarded-tcpip" channel open came from, as the client says, or "" and
// 0.
//
// Uses ssh_message_channel_request_open_originator and
// ssh_message_channel_request_open_originator_port.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) Originator() (host string, port int) {
	if t := m.ChannelType(); t != "direct-tcpip" && t != "forwarded-tcpip" {
		return "", 0
	}
	return lib.MessageChannelRequestOpenOriginator(m.m), lib.MessageChannelRequestOpenOriginatorPort(m.m)
}

// The request types of [ServerMessage.RequestType].
var requestTypes = map[int]string{
	lib.SSH_CHANNEL_REQUEST_PTY:           "pty-req",
	lib.SSH_CHANNEL_REQUEST_EXEC:          "exec",
	lib.SSH_CHANNEL_REQUEST_SHELL:         "shell",
	lib.SSH_CHANNEL_REQUEST_ENV:           "env",
	lib.SSH_CHANNEL_REQUEST_SUBSYSTEM:     "subsystem",
	lib.SSH_CHANNEL_REQUEST_WINDOW_CHANGE: "window-change",
	lib.SSH_CHANNEL_REQUEST_X11:           "x11-req",
}

// RequestType returns the request type of a "channel-request" message, a
// request on a channel that no channel callback took: "pty-req", "exec",
// "shell", "env", "subsystem", "window-change" or "x11-req"; "" for any
// other message or type. It does not say which channel the request came
// on.
//
// Uses ssh_message_subtype.
func (m *ServerMessage) RequestType() string {
	return requestTypes[m.subtype(lib.SSH_REQUEST_CHANNEL)]
}

// AcceptChannel accepts the channel open m asks for (a session channel, or a
// direct-tcpip one for forwarding) and returns the channel, open, with cb
// installed (cb may be nil) before any request on it can arrive. Once the
// open is confirmed m counts as answered, even if an error follows (the
// channel is then closed). In the handler,
// [Channel.SetCallbacks] may still change the new channel's callbacks. The channel belongs to the
// session: close it when done, from the handler (which defers the close)
// or later.
//
// Uses ssh_message_channel_request_open_reply_accept.
//
//lockcheck:ok it runs in the message handler, whose goroutine holds the lock
func (m *ServerMessage) AcceptChannel(cb *callbacks.ChannelCallbacks) (*Channel, error) {
	if err := m.usable("AcceptChannel"); err != nil {
		return nil, err
	}
	if lib.MessageType(m.m) != lib.SSH_REQUEST_CHANNEL_OPEN {
		return nil, errors.New("libssh: AcceptChannel of a message that is not a channel open")
	}
	st := m.s.st // locked: the handler runs inside the session's packet processing
	if st.channelsGone != nil {
		return nil, st.channelsGone // before accepting: the handler may still refuse
	}
	p := lib.MessageChannelRequestOpenReplyAccept(m.m)
	if p.IsNil() {
		return nil, st.errorLocked("accept channel", "ssh_message_channel_request_open_reply_accept failed")
	}
	m.answered = true // the confirmation went out: a refusal now would be a second answer
	ch, err := st.adoptChannelLocked(m.s, p, true)
	if err != nil {
		lib.ChannelFree(p) // closes the channel it confirmed
		return nil, err
	}
	ch.c.opened = true
	if cb != nil {
		reg, err := cgocallback.InstallGuarded(p, cb, ch.c.guard)
		if err != nil {
			ch.c.closeQueued = true
			ch.c.wakeReadersLocked()
			st.deferred = append(st.deferred, ch.c)
			return nil, err
		}
		ch.c.user = reg
	}
	return ch, nil
}

// AcceptSession runs the server side of an SSH connection on conn, which
// a listener accepted: it serves with hostKeys (one key of each type at
// most, such as one made by [GenerateKey] or read by [ParsePrivateKeyFile];
// AcceptSession copies them, so they may be closed afterwards), runs the
// key exchange and returns the session. From then on handle receives every
// client message no channel callback takes, and answers it (see
// [ServerMessage]); it runs with the session locked, like a channel
// callback, so it may use the methods of [ServerMessage] (returning false
// for a message none of them answered leaves the answer to libssh: a
// refusal, except that a service request is accepted), but not other
// methods of the session or its channels (do that from another
// goroutine). Once the session is being closed, handle is no longer
// called: libssh refuses what still arrives.
//
// Cancelling ctx abandons the key exchange. On any error conn is closed.
// Package sshtest is built on it; it also serves anyone writing a server
// with libssh's server API. Of the options, [WithLogger] and
// [WithLogVerbosity] apply.
//
// Uses ssh_bind_new, ssh_bind_options_set(SSH_BIND_OPTIONS_IMPORT_KEY),
// ssh_bind_accept_fd, ssh_set_server_callbacks, ssh_set_message_callback
// and ssh_handle_key_exchange.
//
//lockcheck:ok the session it makes is not shared before the lock is taken
func AcceptSession(ctx context.Context, conn net.Conn, hostKeys []*PrivateKey, handle func(*ServerMessage) (answered bool), opts ...Option) (*Session, error) {
	if conn == nil {
		return nil, errors.New("libssh: AcceptSession of a nil connection")
	}
	fail := func(err error) (*Session, error) {
		conn.Close()
		return nil, err
	}
	if ctx == nil {
		return fail(errNilContext("AcceptSession"))
	}
	if handle == nil {
		return fail(errors.New("libssh: AcceptSession needs a message handler"))
	}
	bind, err := newBind(hostKeys)
	if err != nil {
		return fail(err)
	}
	defer lib.BindFree(bind) // the session keeps copies of the keys
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
		// libssh may have taken the socket before it failed; then
		// ssh_free closes it, and closing it here too could close a
		// reused descriptor.
		if lib.GetFd(p) == fd {
			st.sockFD = fd
		} else {
			syscallClose(fd)
		}
		st.unlock()
		return closeWith(&Error{Op: op, Message: "ssh_bind_accept_fd failed"})
	}
	st.useSocketLocked(fd)
	reg, err := cgocallback.InstallServer(p, func(m lib.Message) bool {
		s := ws.Value()
		if s == nil {
			return false
		}
		msg := &ServerMessage{s: s, m: m}
		defer func() { msg.done = true }()
		return handle(msg) || msg.answered
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

// newBind returns a bind holding copies of keys; the caller frees it.
//
//lockcheck:ok the bind is the caller's alone; each key is read under its own lock (dup)
func newBind(keys []*PrivateKey) (lib.Bind, error) {
	if len(keys) == 0 {
		return lib.Bind{}, errors.New("libssh: AcceptSession needs a host key")
	}
	bind := lib.BindNew()
	if bind.IsNil() {
		return lib.Bind{}, errors.New("libssh: ssh_bind_new failed (out of memory?)")
	}
	types := map[int]bool{}
	for i, k := range keys {
		key, err := k.dup()
		if err != nil {
			lib.BindFree(bind)
			switch {
			case !k.made():
				return lib.Bind{}, fmt.Errorf("libssh: AcceptSession: host key %d is nil or zero (not made by ParsePrivateKey, ParsePrivateKeyFile or GenerateKey)", i+1)
			case errors.Is(err, ErrClosed):
				return lib.Bind{}, fmt.Errorf("%w (AcceptSession: host key %d is closed)", ErrClosed, i+1)
			}
			return lib.Bind{}, err
		}
		t := lib.KeyType(key)
		rc := lib.SSH_ERROR
		if !types[t] {
			rc = lib.BindImportKey(bind, key)
		}
		lib.KeyFree(key)
		switch {
		case types[t]:
			lib.BindFree(bind)
			return lib.Bind{}, fmt.Errorf("libssh: AcceptSession: host key %d: a second key of type %s", i+1, lib.KeyTypeToChar(t))
		case rc != lib.SSH_OK:
			lib.BindFree(bind)
			return lib.Bind{}, fmt.Errorf("libssh: AcceptSession: host key %d: libssh refused it as a host key", i+1)
		}
		types[t] = true
	}
	return bind, nil
}

// serverGuard wraps every call of a server session's message handler as
// chanState.guard wraps a channel callback: calls back into the package are
// recognised, and a panic breaks the session.
func (st *sessionState) serverGuard(run func()) {
	if st.channelsGone != nil {
		// Teardown's goodbye is processing input: the session is ending,
		// and libssh refuses what the handler is not asked about.
		return
	}
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
