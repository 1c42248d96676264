package libssh

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"github.com/golibssh/libssh/internal/cgocallback"
	"github.com/golibssh/libssh/lib"
)

// ErrNoAgent: agent forwarding was asked for, but there is no local SSH
// agent to forward: neither [WithAgentSocket] nor $SSH_AUTH_SOCK names a
// Unix socket that exists.
var ErrNoAgent = errors.New("libssh: no SSH agent to forward")

// agentSocketLocked returns the local agent's socket: WithAgentSocket's,
// else $SSH_AUTH_SOCK. The error, matching ErrNoAgent, says why there is
// none.
func (st *sessionState) agentSocketLocked() (string, error) {
	path, from := os.Getenv("SSH_AUTH_SOCK"), "$SSH_AUTH_SOCK"
	if st.cfg.agentSocket != nil {
		path, from = *st.cfg.agentSocket, "WithAgentSocket"
	}
	if path == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrNoAgent, from)
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %s: %w", ErrNoAgent, from, err)
	case fi.Mode().Type() != os.ModeSocket:
		return "", fmt.Errorf("%w: %s: %s is not a Unix socket", ErrNoAgent, from, path)
	}
	return path, nil
}

// agentToForward returns why the session has no agent to forward, or nil.
func (s *Session) agentToForward() error {
	st, err := s.begin()
	if err != nil {
		return err
	}
	defer st.unlock()
	_, err = st.agentSocketLocked()
	return err
}

// agentForwarding serves the auth-agent@openssh.com channels a server opens
// once a channel of the session asked for agent forwarding
// (Channel.RequestAuthAgent): each is relayed to the local agent by
// goroutines of its own. The session's lock guards reg and target.
type agentForwarding struct {
	reg    *cgocallback.SessionRegistration // the session callback that answers the opens; nil until asked
	target string                           // the local agent's socket; "" until asked
	relays sync.WaitGroup                   // the relays running; Close waits for them
}

// forwardAgentLocked makes the session accept the server's agent channel
// opens from now on and relay them to the local agent, which must exist.
func (st *sessionState) forwardAgentLocked() error {
	switch {
	case st.server != nil:
		return errors.New("libssh: agent forwarding is for client sessions")
	case !st.owned:
		// ssh_set_callbacks would replace the caller's own struct.
		return errors.New("libssh: agent forwarding needs a session made by NewSession, not WrapSession")
	}
	if err := st.usableLocked(); err != nil {
		return err
	}
	target, err := st.agentSocketLocked()
	if err != nil {
		return err
	}
	if st.agentFwd.reg == nil {
		reg, err := cgocallback.InstallSession(st.p, st.openAgentChannelLocked)
		if err != nil {
			return fmt.Errorf("libssh: agent forwarding: %w", err)
		}
		st.agentFwd.reg = reg
	}
	st.agentFwd.target = target
	return nil
}

// openAgentChannelLocked answers a server's agent channel open: it runs
// inside libssh's packet processing (the session callback), so it only
// makes the channel and starts its relay. It refuses (a NULL channel) when
// no channel asked for forwarding, as OpenSSH's ssh does.
func (st *sessionState) openAgentChannelLocked() lib.Channel {
	if st.agentFwd.target == "" || st.closed || st.closing.Load() {
		return lib.Channel{}
	}
	p := lib.ChannelNew(st.p)
	if p.IsNil() {
		return p
	}
	ch, err := st.adoptChannelLocked(nil, p, true)
	if err != nil {
		lib.ChannelFree(p)
		return lib.Channel{}
	}
	ch.c.opened = true // libssh confirms the open when this returns
	st.agentFwd.relays.Add(1)
	go st.relayAgent(ch, st.agentFwd.target)
	return p
}

// relayAgent copies between an agent channel and a new connection to the
// local agent until either side ends, or the session does.
func (st *sessionState) relayAgent(ch *Channel, target string) {
	defer st.agentFwd.relays.Done()
	defer ch.Close()
	d := net.Dialer{Timeout: agentDialTimeout}
	up, err := d.Dial("unix", target)
	if err != nil {
		return // closing the channel tells the server's side
	}
	defer up.Close()
	toAgent, fromAgent := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(toAgent)
		io.Copy(up, ch)
		up.Close() // the remote client is done: so is the agent's side
	}()
	go func() {
		defer close(fromAgent)
		io.Copy(ch, up)
		ch.CloseWrite()
	}()
	select {
	case <-toAgent:
	case <-st.ended:
		// The channel's calls fail now; an agent that neither reads nor
		// answers is cut here.
		up.Close()
	}
	<-toAgent
	<-fromAgent
}
