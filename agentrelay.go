package libssh

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/golibssh/libssh/lib"
)

// agentRelay stands between libssh and the user's SSH agent. libssh talks
// to an agent with blocking socket I/O inside the authentication call, under
// the session lock; an agent that accepts and never answers would hold the
// session for ever. libssh is pointed at a socket of the relay instead, and
// the relay copies to the real agent. Cutting the relay (when the call's
// context ends, or on Close) closes libssh's end, so its call fails at once.
type agentRelay struct {
	dir    string
	ln     *net.UnixListener
	target string // the real agent's socket

	stop context.CancelFunc // ends dials to the agent in progress
	ctx  context.Context

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
	wg    sync.WaitGroup
}

// agentDialTimeout bounds connecting to the real agent (a local socket).
const agentDialTimeout = 5 * time.Second

// newAgentRelay listens on a new socket in a private directory and relays
// every connection to target.
func newAgentRelay(target string) (*agentRelay, error) {
	dir, err := os.MkdirTemp("", "golibssh-agent-")
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "agent.sock"), Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	a := &agentRelay{dir: dir, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	a.ctx, a.stop = context.WithCancel(context.Background())
	a.wg.Add(1)
	go a.serve()
	return a, nil
}

func (a *agentRelay) path() string { return a.ln.Addr().String() }

func (a *agentRelay) serve() {
	defer a.wg.Done()
	for {
		c, err := a.ln.Accept()
		if err != nil {
			return
		}
		if !a.track(c) {
			c.Close()
			return
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer a.untrack(c)
			d := net.Dialer{Timeout: agentDialTimeout}
			up, err := d.DialContext(a.ctx, "unix", a.target)
			if err != nil {
				return
			}
			if !a.track(up) {
				up.Close()
				return
			}
			defer a.untrack(up)
			var copies sync.WaitGroup
			copies.Add(1)
			go func() {
				defer copies.Done()
				io.Copy(up, c)
				up.Close()
			}()
			io.Copy(c, up)
			c.Close()
			copies.Wait()
		}()
	}
}

func (a *agentRelay) track(c net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return false
	}
	a.conns[c] = struct{}{}
	return true
}

func (a *agentRelay) untrack(c net.Conn) {
	c.Close()
	a.mu.Lock()
	delete(a.conns, c)
	a.mu.Unlock()
}

// cut closes every relayed connection: a libssh call talking to the agent
// fails at once. Later connections are relayed again.
func (a *agentRelay) cut() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.conns {
		c.Close()
	}
}

// close stops the relay and waits for its goroutines.
func (a *agentRelay) close() {
	a.mu.Lock()
	a.done = true
	a.mu.Unlock()
	a.ln.Close()
	a.stop()
	a.cut()
	a.wg.Wait()
	os.RemoveAll(a.dir)
}

// useAgentLocked points libssh at a relay to the agent (WithAgentSocket's,
// or $SSH_AUTH_SOCK) before a call that may use it, and returns a function
// that cuts the relay when ctx ends during the call; call it when the call
// returns. Without an agent socket that exists, libssh is left alone (it
// finds no agent at once).
func (st *sessionState) useAgentLocked(ctx context.Context) (stop func() bool, err error) {
	a := st.agent.Load()
	if a == nil {
		target, err := st.agentSocketLocked()
		if err != nil {
			return func() bool { return true }, nil
		}
		if a, err = newAgentRelay(target); err != nil {
			return nil, &Error{Op: "agent relay", Err: err}
		}
		if lib.OptionsSetString(st.p, lib.SSH_OPTIONS_IDENTITY_AGENT, a.path()) != lib.SSH_OK {
			a.close()
			return nil, st.errorLocked("set agent socket", "libssh refused the relay's socket")
		}
		st.agent.Store(a)
	}
	return context.AfterFunc(ctx, a.cut), nil
}
