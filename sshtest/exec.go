package sshtest

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/callbacks"
)

// ExecHandler answers an exec request in Go instead of running a command.
// It reads the client's input from e.Stdin, writes e.Stdout and e.Stderr,
// and returns the exit status to report (0–255). ctx ends when the client
// closes the channel or the server closes.
type ExecHandler func(ctx context.Context, e *Exec) (status int)

// Exec is one exec request, for an ExecHandler.
type Exec struct {
	Command string    // as the client sent it
	Env     []string  // "NAME=value", from the client's env requests before the exec
	Stdin   io.Reader // the client's input, until its EOF
	Stdout  io.Writer
	Stderr  io.Writer
	// Signals receives the names of the signals the client sends ("TERM").
	Signals <-chan string
}

// result is how a command ended.
type result struct {
	status int
	signal string // killed by this signal ("TERM"), or ""
	core   bool
}

// session is one session channel.
type session struct {
	conn    *conn
	ch      *libssh.Channel
	user    *callbacks.ChannelCallbacks // Options.Channel's, or nil
	env     []string
	started bool
	closing bool        // closed by Faults.CloseInsteadOfReply
	signals chan string // for an ExecHandler

	mu      sync.Mutex
	pid     int      // the running shell, or 0
	pending []string // signals that came before it started

	ctx    context.Context
	cancel context.CancelFunc
}

// openSession accepts a session channel and installs the server's
// callbacks, merged with the test's.
func (c *conn) openSession(m *libssh.ServerMessage) bool {
	s := &session{conn: c, signals: make(chan string, 16)}
	s.ctx, s.cancel = context.WithCancel(c.srv.ctx)
	ch, err := m.AcceptChannel(nil)
	if err != nil {
		s.cancel()
		c.srv.opts.Logger.Error("sshtest: accept session channel", "err", err)
		return false
	}
	s.ch = ch
	c.channels = append(c.channels, s)
	if f := c.srv.opts.Channel; f != nil {
		s.user = f(ch)
	}
	if err := ch.SetCallbacks(s.callbacks()); err != nil {
		s.cancel()
		ch.Close()
		c.srv.opts.Logger.Error("sshtest: install channel callbacks", "err", err)
	}
	return true
}

// callbacks merges the server's callbacks with the test's: a request the
// test handles is the test's, and the server still learns of the close.
func (s *session) callbacks() *callbacks.ChannelCallbacks {
	cb := &callbacks.ChannelCallbacks{}
	if s.user != nil {
		*cb = *s.user
	}
	if cb.OnExecRequest == nil {
		cb.OnExecRequest = s.onExec
	}
	if cb.OnEnvRequest == nil {
		cb.OnEnvRequest = func(name, value string) bool {
			s.env = append(s.env, name+"="+value)
			return true
		}
	}
	if cb.OnSignal == nil {
		cb.OnSignal = s.onSignal
	}
	if cb.OnSubsystemRequest == nil && s.conn.srv.opts.SFTP != nil {
		cb.OnSubsystemRequest = s.onSubsystem
	}
	s.faultCallbacks(cb)
	userClose := cb.OnClose
	cb.OnClose = func() {
		s.conn.channels = slices.DeleteFunc(s.conn.channels, func(o *session) bool { return o == s })
		s.cancel()
		if !s.started {
			s.ch.Close() // nothing runs to close it (run does); deferred until the callback returns
		}
		if userClose != nil {
			userClose()
		}
	}
	return cb
}

// faultCallbacks applies Faults.CloseInsteadOfReply and counts requests
// for the faults' Points. A request that the channel closes instead of
// answering must not have a channel callback: libssh answers every request
// a callback took, so it must reach the message handler, which answers
// nothing (conn.closeInstead). The handler counts the requests that reach
// it.
func (s *session) faultCallbacks(cb *callbacks.ChannelCallbacks) {
	f := &s.conn.srv.opts.Faults
	if f.closesInstead("exec") {
		cb.OnExecRequest = nil
	}
	if f.closesInstead("env") {
		cb.OnEnvRequest = nil
	}
	if f.closesInstead("pty-req") {
		cb.OnPtyRequest = nil
	}
	if f.closesInstead("shell") {
		cb.OnShellRequest = nil
	}
	if f.closesInstead("subsystem") {
		cb.OnSubsystemRequest = nil
	}
	if f.closesInstead("window-change") {
		cb.OnPtyWindowChange = nil
	}
	if !f.onConn() {
		return
	}
	count := func() { s.conn.arrived(evRequest) }
	if h := cb.OnExecRequest; h != nil {
		cb.OnExecRequest = func(command string) bool { count(); return h(command) }
	}
	if h := cb.OnEnvRequest; h != nil {
		cb.OnEnvRequest = func(name, value string) bool { count(); return h(name, value) }
	}
	if h := cb.OnPtyRequest; h != nil {
		cb.OnPtyRequest = func(term string, w, h2, pw, ph int) bool { count(); return h(term, w, h2, pw, ph) }
	}
	if h := cb.OnShellRequest; h != nil {
		cb.OnShellRequest = func() bool { count(); return h() }
	}
	if h := cb.OnSubsystemRequest; h != nil {
		cb.OnSubsystemRequest = func(name string) bool { count(); return h(name) }
	}
	if h := cb.OnPtyWindowChange; h != nil {
		cb.OnPtyWindowChange = func(w, h2, pw, ph int) bool { count(); return h(w, h2, pw, ph) }
	}
	if h := cb.OnSignal; h != nil {
		cb.OnSignal = func(sig string) { count(); h(sig) }
	}
}

// onSignal delivers a signal at once, as sshd does, so that the client's
// next request finds it delivered; a handler gets it on Exec.Signals.
func (s *session) onSignal(sig string) {
	if s.conn.srv.opts.Exec != nil {
		select {
		case s.signals <- sig:
		default: // the handler does not take them: drop
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pid == 0 {
		s.pending = append(s.pending, sig)
		return
	}
	kill(s.pid, sig)
}

func kill(pid int, sig string) {
	if n := unix.SignalNum("SIG" + sig); n != 0 {
		syscall.Kill(pid, n)
	}
}

// onExec starts the command in a goroutine: the callback must not use the
// channel.
func (s *session) onExec(command string) bool {
	if s.started {
		return false
	}
	s.started = true
	// The command gets the environment as it is now: env requests after
	// this one change s.env in later callbacks, while run reads its copy.
	env := slices.Clone(s.env)
	s.conn.srv.goTracked(func() { s.run(command, env) })
	return true
}

// run runs the command and ends the channel as Options.Faults say.
func (s *session) run(command string, env []string) {
	defer s.cancel()
	defer s.ch.Close()
	out := &output{s: s}
	e := &Exec{
		Command: command,
		Env:     env,
		Stdin:   s.stdin(),
		Stdout:  out,
		Stderr:  &output{s: s, stderr: true, shared: out},
		Signals: s.signals,
	}
	var r result
	if h := s.conn.srv.opts.Exec; h != nil {
		r.status = h(s.ctx, e)
	} else {
		r = s.shell(e)
	}
	if out.dropped() || s.ctx.Err() != nil {
		return // the connection is gone, or the client closed the channel
	}
	s.finish(r)
}

// stdin returns the client's input, or for ZeroWindow a reader that never
// takes anything from the channel and ends with the channel.
func (s *session) stdin() io.Reader {
	if s.conn.srv.opts.Faults.ZeroWindow {
		return ctxReader{s.ctx}
	}
	return s.ch
}

type ctxReader struct{ ctx context.Context }

func (r ctxReader) Read([]byte) (int, error) {
	<-r.ctx.Done()
	return 0, io.EOF
}

// finish sends EOF and the exit status in the order the faults ask for,
// then run closes the channel.
func (s *session) finish(r result) {
	f := s.conn.srv.opts.Faults
	status := func() error {
		switch {
		case f.ExitSignal != "":
			return s.ch.RequestSendExitSignal(f.ExitSignal, false, "", "")
		case r.signal != "":
			return s.ch.RequestSendExitSignal(r.signal, r.core, "", "")
		}
		return s.ch.RequestSendExitStatus(r.status)
	}
	var err error
	switch {
	case f.CloseWithoutStatus:
		err = s.ch.CloseWrite()
	case f.ExitStatusBeforeEOF:
		err = errors.Join(status(), s.ch.CloseWrite())
	default:
		err = errors.Join(s.ch.CloseWrite(), status())
	}
	if err != nil && s.ctx.Err() == nil {
		s.conn.srv.opts.Logger.Info("sshtest: end of command", "err", err)
	}
}

// shell runs the command with /bin/sh -c in its own process group, which
// it kills when the channel or the server closes.
func (s *session) shell(e *Exec) result {
	cmd := exec.CommandContext(s.ctx, "/bin/sh", "-c", e.Command)
	cmd.Env = append(os.Environ(), e.Env...)
	cmd.Stdout, cmd.Stderr = e.Stdout, e.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Output held open by a background child ends the wait after this
	// long; the command's status is kept.
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return result{status: 255}
	}
	if err := cmd.Start(); err != nil {
		io.WriteString(e.Stderr, "sshtest: "+err.Error()+"\n")
		return result{status: 127}
	}
	s.conn.srv.goTracked(func() { // the client's input; ends with the channel, which run closes
		io.Copy(stdin, e.Stdin)
		stdin.Close()
	})
	s.mu.Lock()
	s.pid = cmd.Process.Pid
	for _, sig := range s.pending {
		kill(s.pid, sig)
	}
	s.mu.Unlock()
	cmd.Wait()
	s.mu.Lock()
	s.pid = 0 // it may be reused now
	s.mu.Unlock()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return result{signal: strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG"), core: ws.CoreDump()}
	}
	return result{status: ws.ExitStatus()}
}

// output writes one stream of a command to the channel, and carries out
// Faults.DropAfter (stdout and stderr count together).
type output struct {
	s      *session
	stderr bool
	shared *output // stderr counts with stdout's count

	mu      sync.Mutex
	written int
	gone    bool
}

var errDropped = errors.New("sshtest: connection dropped (Faults.DropAfter)")

func (o *output) Write(b []byte) (int, error) {
	c := o
	if o.shared != nil {
		c = o.shared
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return 0, errDropped
	}
	limit := o.s.conn.srv.opts.Faults.DropAfter
	send := b
	if limit > 0 && c.written+len(b) >= limit {
		send = b[:limit-c.written]
	}
	var n int
	var err error
	if o.stderr {
		n, err = o.s.ch.WriteStderr(send)
	} else {
		n, err = o.s.ch.Write(send)
	}
	c.written += n
	if err == nil && limit > 0 && c.written >= limit {
		c.gone = true
		o.s.conn.drop()
		return n, errDropped
	}
	return n, err
}

func (o *output) dropped() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gone
}
