package sshtest

import (
	"crypto/subtle"
	"net"
	"sync"
	"syscall"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/lib"
)

// conn is one client connection. Its fields without a lock are used only in
// the message handler, which the session runs under its own lock.
type conn struct {
	srv *Server
	raw net.Conn // the accepted socket, for DropAfter

	authed   bool
	round    int        // keyboard-interactive: the round whose answers are awaited, or -1
	fc       *faultConn // the connection as libssh has it, when a fault acts on it; else nil
	counts   [3]int     // client messages so far, by event, for the faults' Points
	channels []*session // the open session channels

	mu   sync.Mutex
	sess *libssh.Session // nil until the key exchange is done
}

// handle answers the client's messages that no channel callback took.
func (c *conn) handle(m *libssh.ServerMessage) bool {
	msg := m.Lib()
	switch lib.MessageType(msg) {
	case lib.SSH_REQUEST_AUTH:
		c.arrived(evAuth)
		return c.auth(m)
	case lib.SSH_REQUEST_CHANNEL_OPEN:
		c.arrived(evChannel)
		if !c.authed {
			return false
		}
		switch lib.MessageSubtype(msg) {
		case lib.SSH_CHANNEL_SESSION:
			return c.openSession(m)
		case lib.SSH_CHANNEL_DIRECT_TCPIP:
			return c.openForward(m)
		}
	case lib.SSH_REQUEST_CHANNEL: // a request no channel callback takes
		c.arrived(evRequest)
		return c.closeInstead(m)
	}
	return false // libssh's default: a refusal (a service request is accepted)
}

// auth answers an authentication request. Returning false makes libssh
// answer "failure" with the methods the server offers.
func (c *conn) auth(m *libssh.ServerMessage) bool {
	msg, o := m.Lib(), &c.srv.opts
	lib.MessageAuthSetMethods(msg, c.srv.methods)
	ok := false
	switch lib.MessageSubtype(msg) {
	case lib.SSH_AUTH_METHOD_NONE:
		ok = o.AuthNone
	case lib.SSH_AUTH_METHOD_PASSWORD:
		ok = o.Password != "" && equal(lib.MessageAuthPassword(msg), o.Password)
	case lib.SSH_AUTH_METHOD_PUBLICKEY:
		if !c.authorized(lib.MessageAuthPubkey(msg)) {
			return false
		}
		switch lib.MessageAuthPublickeyState(msg) {
		case lib.SSH_PUBLICKEY_STATE_NONE: // a probe: "would you take this key?"
			return lib.MessageAuthReplyPkOkSimple(msg) == lib.SSH_OK
		case lib.SSH_PUBLICKEY_STATE_VALID: // libssh checked the signature
			ok = true
		}
	case lib.SSH_AUTH_METHOD_INTERACTIVE:
		return c.kbdint(m)
	}
	if !ok {
		return false
	}
	c.authed = true
	return lib.MessageAuthReplySuccess(msg, 0) == lib.SSH_OK
}

// kbdint runs keyboard-interactive: the first request gets the first round
// of prompts, each right set of answers the next round, the last one
// success; a wrong answer fails and starts over.
func (c *conn) kbdint(m *libssh.ServerMessage) bool {
	msg, rounds := m.Lib(), c.srv.opts.KeyboardInteractive
	if len(rounds) == 0 {
		return false
	}
	if lib.MessageAuthKbdintIsResponse(msg) == 0 {
		c.round = 0
		return c.sendRound(msg, rounds[0])
	}
	if c.round < 0 || c.round >= len(rounds) || !answered(m.LibSession(), rounds[c.round]) {
		c.round = -1
		return false
	}
	c.round++
	if c.round < len(rounds) {
		return c.sendRound(msg, rounds[c.round])
	}
	c.round = -1
	c.authed = true
	return lib.MessageAuthReplySuccess(msg, 0) == lib.SSH_OK
}

func (c *conn) sendRound(msg lib.Message, r Round) bool {
	texts, echo := make([]string, len(r.Prompts)), make([]bool, len(r.Prompts))
	for i, p := range r.Prompts {
		texts[i], echo[i] = p.Text, p.Echo
	}
	return lib.MessageAuthInteractiveRequest(msg, r.Name, r.Instruction, texts, echo) == lib.SSH_OK
}

// answered reports whether the client's answers are the round's.
func answered(p lib.Session, r Round) bool {
	if lib.UserauthKbdintGetnanswers(p) != len(r.Prompts) {
		return false
	}
	ok := true
	for i, pr := range r.Prompts {
		ok = equal(lib.UserauthKbdintGetanswer(p, uint(i)), pr.Answer) && ok
	}
	return ok
}

// authorized reports whether key is one of the authorized keys.
func (c *conn) authorized(key lib.Key) bool {
	if key.IsNil() {
		return false
	}
	pk, err := libssh.PublicKeyOf(key)
	if err != nil {
		return false
	}
	for _, k := range c.srv.opts.AuthorizedKeys {
		if k.Equal(pk) {
			return true
		}
	}
	return false
}

func equal(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// drop cuts the connection without a goodbye: the socket is shut down
// under libssh, which then finds it dead.
func (c *conn) drop() {
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return
	}
	if raw, err := sc.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { syscall.Shutdown(int(fd), syscall.SHUT_RDWR) })
	}
}

// close closes the session, which closes its channels and so ends their
// goroutines. It is idempotent.
func (c *conn) close() {
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if sess != nil {
		sess.Close()
	}
	if c.fc != nil {
		c.fc.Close()
	}
}
