package sshtest

import (
	"crypto/subtle"
	"net"
	"sync"
	"syscall"

	"github.com/golibssh/libssh"
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

	// ready is closed once sess is set, or the handshake failed: the
	// message handler runs inside AcceptSession, before sess is known.
	ready chan struct{}

	mu        sync.Mutex
	sess      *libssh.Session      // nil until the key exchange is done
	listeners map[int]net.Listener // the ports tcpip-forward listens on, by port
	closed    bool                 // closeListeners ran: forward no more ports
}

// handle answers the client's messages that no channel callback took.
func (c *conn) handle(m *libssh.ServerMessage) bool {
	switch m.Type() {
	case "auth":
		c.srv.authRequests.Add(1)
		c.arrived(evAuth)
		return c.auth(m)
	case "channel-open":
		c.arrived(evChannel)
		if !c.authed {
			return false
		}
		switch m.ChannelType() {
		case "session":
			return c.openSession(m)
		case "direct-tcpip":
			return c.openForward(m)
		}
	case "global-request":
		return c.forwardRequest(m)
	case "channel-request": // a request no channel callback takes
		c.arrived(evRequest)
		return c.closeInstead(m)
	}
	return false // libssh's default: a refusal (a service request is accepted)
}

// auth answers an authentication request. Returning false makes libssh
// answer "failure" with the methods the server offers.
func (c *conn) auth(m *libssh.ServerMessage) bool {
	o := &c.srv.opts
	m.SetAuthMethods(c.srv.methods)
	ok := false
	switch m.AuthMethod() {
	case libssh.AuthMethodNone:
		ok = o.AuthNone
	case libssh.AuthMethodPassword:
		ok = o.Password != "" && equal(m.Password(), o.Password)
	case libssh.AuthMethodPublicKey:
		key, probe, verified := m.PublicKey()
		if !c.authorized(key) {
			return false
		}
		if probe { // "would you take this key?"
			return m.ReplyPublicKeyOK() == nil
		}
		ok = verified // libssh checked the signature
	case libssh.AuthMethodInteractive:
		return c.kbdint(m)
	}
	if !ok {
		return false
	}
	c.authed = true
	return m.ReplyAuthSuccess() == nil
}

// kbdint runs keyboard-interactive: the first request gets the first round
// of prompts, each right set of answers the next round, the last one
// success; a wrong answer fails and starts over.
func (c *conn) kbdint(m *libssh.ServerMessage) bool {
	rounds := c.srv.opts.KeyboardInteractive
	if len(rounds) == 0 {
		return false
	}
	answers, response := m.KbdintAnswers()
	if !response {
		c.round = 0
		return c.sendRound(m, rounds[0])
	}
	if c.round < 0 || c.round >= len(rounds) || !answered(answers, rounds[c.round]) {
		c.round = -1
		return false
	}
	c.round++
	if c.round < len(rounds) {
		return c.sendRound(m, rounds[c.round])
	}
	c.round = -1
	c.authed = true
	return m.ReplyAuthSuccess() == nil
}

func (c *conn) sendRound(m *libssh.ServerMessage, r Round) bool {
	round := libssh.KbdintRound{Name: r.Name, Instruction: r.Instruction}
	for _, p := range r.Prompts {
		round.Prompts = append(round.Prompts, libssh.KbdintPrompt{Msg: p.Text, Display: p.Echo})
	}
	return m.ReplyKbdint(round) == nil
}

// answered reports whether the client's answers are the round's.
func answered(answers []string, r Round) bool {
	if len(answers) != len(r.Prompts) {
		return false
	}
	ok := true
	for i, pr := range r.Prompts {
		ok = equal(answers[i], pr.Answer) && ok
	}
	return ok
}

// authorized reports whether key is one of the authorized keys.
func (c *conn) authorized(key *libssh.PublicKey) bool {
	for _, k := range c.srv.opts.AuthorizedKeys {
		if k.Equal(key) {
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
	c.closeListeners()
	if sess != nil {
		sess.Close()
	}
	if c.fc != nil {
		c.fc.Close()
	}
}
