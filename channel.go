package libssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"

	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/internal/cgocallback"
	"github.com/golibssh/libssh/internal/chanio"
	"github.com/golibssh/libssh/lib"
)

// maxWriteChunk bounds what one Write hands libssh before it lets libssh
// send it: libssh copies accepted data into its output buffer, so this
// bounds that buffer and how long the session stays locked.
const maxWriteChunk = 64 << 10

// liveChannels counts ssh_channel objects this package is responsible for
// and has not freed (or seen freed with their session) yet.
var liveChannels atomic.Int64

// closedError is an error that matches ErrClosed.
type closedError string

func (e closedError) Error() string        { return string(e) }
func (e closedError) Is(target error) bool { return target == ErrClosed }

var (
	errChannelClosed       = closedError("libssh: use of closed channel")
	errSessionClosed       = closedError("libssh: use of a channel whose session was closed")
	errSessionDisconnected = closedError("libssh: use of a channel whose session was disconnected")
	errNotOpen             = errors.New("libssh: the channel is not open: call OpenSession or OpenForward first")
	errNilChannel          = closedError("libssh: use of a nil or zero Channel (make one with Session.NewChannel)")
	errNotAuthenticated    = fmt.Errorf("%w: log in before opening channels", ErrNotAuthenticated)
	errAlreadyOpen         = errors.New("libssh: the channel is open already: a channel is opened once")
)

// Channel is one SSH channel of a [Session]: a command, a shell, a
// subsystem or a forwarded connection. Make one with [Session.NewChannel],
// open it with [Channel.OpenSession] (or [Channel.OpenForward]), send a
// request such as [Channel.RequestExec], then read and write it; Close it
// when done.
//
// *Channel is an [io.ReadWriteCloser]: Read reads the remote standard
// output (or forwarded data), Stderr returns a reader for the remote
// standard error, and Write sends. All methods are safe for concurrent use;
// a Read or Write waiting for data or window never holds up other channels
// of the session. The channel becomes unusable, with errors matching
// [ErrClosed], when it or its session is closed. A nil or zero Channel is
// closed.
type Channel struct {
	s       *Session // keeps the session open while the channel is reachable
	c       *chanState
	cleanup runtime.Cleanup
}

// chanState is everything a Channel owns. The session's lock guards all of
// it; the callbacks write to it while the lock holder is inside libssh.
type chanState struct {
	st    *sessionState
	p     lib.Channel // NULL once freed, or once the session freed it
	owned bool        // false: a WrapChannel wrapper that must never free p
	dead  error       // why p is NULL

	origin string // where it was made, with GOLIBSSH_DEBUG=leaks or a leak hook (tests)

	internal *cgocallback.Registration // the channel's own bookkeeping callbacks
	user     *cgocallback.Registration // SetCallbacks's, or nil

	reqSem   chan struct{} // one pending open or request at a time (libssh keeps one request state)
	writeSem chan struct{} // one Write at a time, so that writes do not interleave

	opened       bool      // the open was confirmed
	localEOF     bool      // we sent EOF
	remoteEOF    bool      // the server sent EOF (or closed)
	remoteClosed bool      // the server closed the channel
	exit         exitState // what the server said about the command's end
	broken       error     // a pending open or request was abandoned, or a callback panicked
	closeQueued  bool      // Close was called inside a callback; unlock will close
	win          recvWindow

	// A stream's readers wait for its readGen (created by the first, nil
	// when nobody waits), which bumpLocked closes only when the stream's
	// activity count moved since it last looked (seenActivity), so that
	// input for one channel does not wake the readers of all the others,
	// nor stdout's data the stderr reader that Cmd keeps. events counts
	// what the bookkeeping callbacks saw besides data (EOF, close, exit
	// status, signal), which count for both streams; the data messages are
	// counted in C by the counting registration. The third slot,
	// endStream, is for the waiters of Wait, which wait for events only.
	readGen      [3]chan struct{}
	seenActivity [3]uint64
	events       uint64
	// A data stream's waiters may need more than any data: want is the
	// bytes the least demanding of them needs libssh to hold (0: any),
	// and wantData and wantEvents the stream's data messages and events
	// when it began to wait (see enoughLocked).
	want       [2]int
	wantData   [2]uint64
	wantEvents [2]uint64
	readWakes  [3]atomic.Uint64 // waits of each stream's readers that readGen ended, and Wait's looks after its first (for the tests)
	sent       int64            // bytes libssh took from writes (for the tests' engine dump)
}

// endStream is the readGen slot of waits for the channel's end (Wait):
// its activity is the bookkeeping events alone, so data does not wake them.
const endStream = 2

// activityLocked is a number that changes whenever the channel received a
// message the waiters of stream may wait for: data on it (stream 0 or 1),
// EOF, close, exit status or signal (all three).
func (c *chanState) activityLocked(stream int) uint64 {
	if stream == endStream {
		return c.events
	}
	return c.dataEventsLocked(stream) + c.events
}

// wakeReadersLocked ends the waits of the channel's readers (and of its
// Wait).
func (c *chanState) wakeReadersLocked() {
	for stream := range c.readGen {
		c.wakeStreamLocked(stream)
	}
}

// wakeStreamLocked ends the waits of the readers of one stream.
func (c *chanState) wakeStreamLocked(stream int) {
	if gen := c.readGen[stream]; gen != nil {
		close(gen)
		c.readGen[stream] = nil
	}
	if stream != endStream {
		c.want[stream] = 0
	}
}

// maxWant bounds what a reader may wait for libssh to hold: after a read,
// libssh 0.10 leaves the server at least half its base window to send
// (libssh 0.11 more than 1 MiB, counting what it holds), so a reader that
// drained the stream can always get this much, as long as the other
// stream is read too (unread stderr uses the same window, which a waiting
// reader no longer regrows; WithMaxWindow asks for both to be read).
const maxWant = windowBase / 2

// addWaiterLocked makes sure stream has a readGen, for a waiter that needs
// libssh to hold want bytes of the stream (0: any data), at most maxWant.
func (c *chanState) addWaiterLocked(stream, want int) {
	first := c.readGen[stream] == nil
	if first {
		c.readGen[stream] = make(chan struct{})
	}
	switch want = min(max(want, 0), maxWant); {
	case stream == endStream:
	case first && want > 0:
		c.want[stream] = want
		c.wantData[stream] = c.dataEventsLocked(stream)
		c.wantEvents[stream] = c.events
	case !first:
		c.want[stream] = min(c.want[stream], want) // the least demanding
	}
}

// dataEventsLocked counts the data messages stream (0 or 1) received.
func (c *chanState) dataEventsLocked(stream int) uint64 {
	if stream == 1 {
		return c.internal.StderrEvents()
	}
	return c.internal.DataEvents() - c.internal.StderrEvents()
}

// enoughLocked says whether what stream received is worth waking its
// waiters for: any event, or data when they wait for any, or libssh holds
// what they want. libssh's holding is as of the last data message, which
// no read of the stream followed, as the waiters are its readers.
func (c *chanState) enoughLocked(stream int) bool {
	if stream == endStream || c.want[stream] == 0 || c.events != c.wantEvents[stream] || c.broken != nil {
		return true
	}
	if c.dataEventsLocked(stream) == c.wantData[stream] {
		return false // nothing new since the wait began
	}
	return c.internal.Held(stream) >= c.want[stream]
}

// exitState is what the server reported about the remote command's end.
type exitState struct {
	hasStatus bool
	status    int
	signal    *ExitSignalError
}

// NewChannel makes a channel on the session, which must be authenticated
// (otherwise the error matches [ErrNotAuthenticated]). The channel is not
// open yet: call [Channel.OpenSession] or [Channel.OpenForward].
//
// Uses ssh_channel_new.
func (s *Session) NewChannel() (*Channel, error) {
	st, err := s.begin()
	if err != nil {
		return nil, err
	}
	defer st.unlock()
	defer runtime.KeepAlive(s)
	switch err := st.usableLocked(); {
	case err == ErrNotConnected || err == nil && !st.authenticated && st.server == nil:
		// libssh refuses without saying why.
		return nil, errNotAuthenticated
	case err != nil:
		return nil, err
	}
	p := lib.ChannelNew(st.p)
	if p.IsNil() {
		return nil, st.errorLocked("new channel", "ssh_channel_new failed (out of memory?)")
	}
	ch, err := st.adoptChannelLocked(s, p, true)
	if err != nil {
		lib.ChannelFree(p)
	}
	return ch, err
}

// adoptChannelLocked makes the Channel for p and installs its bookkeeping
// callbacks. On error the caller still owns p.
func (st *sessionState) adoptChannelLocked(s *Session, p lib.Channel, owned bool) (*Channel, error) {
	if st.channelsGone != nil {
		// Teardown is under way: libssh frees every channel with the
		// session, and this one would not be marked dead first.
		return nil, st.channelsGone
	}
	c := &chanState{st: st, p: p, owned: owned, reqSem: make(chan struct{}, 1), writeSem: make(chan struct{}, 1),
		win: newRecvWindow(st.cfg.maxWindow)}
	reg, err := cgocallback.InstallCounting(p, &callbacks.ChannelCallbacks{
		OnEOF:   func() { c.remoteEOF = true; c.events++ },
		OnClose: func() { c.remoteEOF, c.remoteClosed = true, true; c.events++ },
		OnExitStatus: func(status int) {
			c.exit.hasStatus, c.exit.status = true, status
			c.events++
		},
		OnExitSignal: func(signal string, core bool, errmsg, lang string) {
			c.exit.signal = &ExitSignalError{Signal: signal, CoreDumped: core, Message: errmsg, Lang: lang}
			c.events++
		},
	})
	if err != nil {
		return nil, err
	}
	c.internal = reg
	st.channels[c] = struct{}{}
	if owned {
		liveChannels.Add(1)
	}
	ch := &Channel{s: s, c: c}
	c.origin = creationStack()
	ch.cleanup = runtime.AddCleanup(ch, func(c *chanState) {
		// In a goroutine of its own: closing may wait (for the lock, for
		// the I/O goroutines), and cleanups share one goroutine.
		go func() {
			if c.close() {
				reportLeak("Channel", c.origin)
			}
		}()
	}, c)
	return ch, nil
}

// killChannelsLocked marks every channel dead before libssh frees them with
// the session: their callbacks come off, and their pointers are forgotten.
func (st *sessionState) killChannelsLocked(reason error) {
	for c := range st.channels {
		c.forgetLocked(reason)
	}
	st.deferred = nil
	st.channelsGone = reason
}

// forgetLocked takes the callbacks off and drops the pointer; an owned
// channel is then freed by the caller or with the session.
func (c *chanState) forgetLocked(reason error) {
	if c.owned {
		liveChannels.Add(-1)
	}
	c.internal.Remove()
	c.user.Remove()
	c.internal, c.user = nil, nil
	c.p = lib.Channel{}
	c.win.dropSpill(0)
	c.win.dropSpill(1)
	c.dead = reason
	delete(c.st.channels, c)
	c.wakeReadersLocked()
}

// usableLocked returns why the channel cannot be used now, or nil.
func (c *chanState) usableLocked() error {
	switch {
	case c.p.IsNil():
		return c.dead
	case c.closeQueued:
		return errChannelClosed
	case c.broken != nil:
		return c.broken
	}
	return c.st.usableLocked()
}

// openLocked is usableLocked for calls that need an open channel.
func (c *chanState) openLocked() error {
	if err := c.usableLocked(); err != nil {
		return err
	}
	if !c.opened {
		return errNotOpen
	}
	return nil
}

// errorLocked captures libssh's error for a failed call on the channel.
func (c *chanState) errorLocked(op, fallback string) error {
	if err := c.st.interruptedErr(); err != nil {
		return err
	}
	if !c.st.checkStatusLocked() {
		return c.st.broken
	}
	return c.st.errorLocked(op, fallback)
}

// state returns the channel's state, or an error for a nil or zero Channel.
func (ch *Channel) state() (*chanState, error) {
	if ch == nil || ch.c == nil {
		return nil, errNilChannel
	}
	return ch.c, nil
}

// begin is how a method without a context that calls libssh begins: it
// refuses a nil or zero Channel and calls from callbacks (libssh cannot be
// re-entered there, and the lock is held), and takes the lock.
func (ch *Channel) begin() (*chanState, error) {
	c, err := ch.state()
	if err != nil {
		return nil, err
	}
	if err := refuseInCallback(); err != nil {
		return nil, err
	}
	c.st.lock()
	return c, nil
}

// locked runs f with the session locked, for a method without a context
// that needs the channel: nil or zero Channels, calls from callbacks and
// closed channels are errors, as for begin and usableLocked.
func (ch *Channel) locked(f func(c *chanState) error) error {
	c, err := ch.begin()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	defer c.st.unlock()
	if c.p.IsNil() || c.closeQueued {
		return c.usableLocked()
	}
	return f(c)
}

// inspect runs f with the session locked, for the channel's state queries:
// in a callback of the channel's session, whose goroutine holds the lock, it
// runs f directly; in a callback of another session, or on a nil Channel, it
// does not run f and returns false.
func (ch *Channel) inspect(f func(c *chanState)) bool {
	c, err := ch.state()
	if err != nil {
		return false
	}
	defer runtime.KeepAlive(ch)
	switch cs := callbackSession(); {
	case cs == c.st:
		f(c)
	case cs == nil:
		c.st.lock()
		defer c.st.unlock()
		f(c)
	default:
		return false
	}
	return true
}

// pending runs a libssh call that answers SSH_AGAIN until the server has
// replied (an open or a request), calling it again after each round of
// input. isOpen says whether the channel must be open (for a request) or
// must not (for an open). Cancelling ctx while the call is pending makes
// the channel unusable: libssh cannot abandon it. A request pending when the
// server closes the channel fails at once.
func (c *chanState) pending(ctx context.Context, op string, isOpen bool, call func(p lib.Channel) int) error {
	st := c.st
	if ctx == nil {
		return errNoContext
	}
	if err := refuseInCallback(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err // nothing sent, nothing changed
	}
	release, err := st.acquireSlot(ctx, c.reqSem, errSessionClosed)
	if err != nil {
		return err
	}
	defer release()
	err = st.drive(ctx, func() (bool, error) {
		err := c.usableLocked()
		switch {
		case err != nil:
		case isOpen && !c.opened:
			err = errNotOpen
		case !isOpen && c.opened:
			err = errAlreadyOpen
		}
		if err != nil {
			return false, err
		}
		switch rc := call(c.p); rc {
		case lib.SSH_OK:
			st.flushLocked()
			return true, nil
		case lib.SSH_ERROR:
			return false, c.errorLocked(op, "failed")
		}
		if c.remoteClosed {
			// libssh would wait for the reply for ever.
			return false, &Error{Op: op, Message: "the server closed the channel instead of answering"}
		}
		return false, nil
	})
	if werr, waiting := abandoned(err); waiting {
		return c.abandon(op, werr)
	}
	return err
}

// abandon records that a pending open or request was given up.
func (c *chanState) abandon(op string, err error) error {
	if errors.Is(err, ErrClosed) {
		return err
	}
	c.st.lock()
	defer c.st.unlock()
	err = &Error{Op: op, Message: "cancelled while pending; the channel cannot be used any more", Err: err}
	if c.broken == nil && !c.p.IsNil() {
		c.broken = err
		c.wakeReadersLocked()
	}
	return err
}

// OpenSession opens the channel as a session channel, the kind that runs a
// command, a shell or a subsystem.
//
// Uses ssh_channel_open_session.
func (ch *Channel) OpenSession(ctx context.Context) error {
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	return openChannelError(c.pending(ctx, "open session channel", false, func(p lib.Channel) int {
		rc := lib.ChannelOpenSession(p)
		c.opened = rc == lib.SSH_OK
		return rc
	}))
}

// OpenForward opens the channel as a connection the server makes to
// host:port on the client's behalf (a "direct-tcpip" channel, what
// ssh -L uses). The server must allow TCP forwarding.
//
// Uses ssh_channel_open_forward.
func (ch *Channel) OpenForward(ctx context.Context, host string, port int) error {
	return ch.openForward(ctx, host, port, "127.0.0.1", 0)
}

// openForward is OpenForward with the originator the server is told about.
func (ch *Channel) openForward(ctx context.Context, host string, port int, srcHost string, srcPort int) error {
	if err := checkForwardTarget(host, port); err != nil {
		return err
	}
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	op := "open forward channel to " + net.JoinHostPort(host, strconv.Itoa(port))
	return openChannelError(c.pending(ctx, op, false, func(p lib.Channel) int {
		rc := lib.ChannelOpenForward(p, host, port, srcHost, srcPort)
		c.opened = rc == lib.SSH_OK
		return rc
	}))
}

// checkForwardTarget rejects a forward host that C would truncate and a port
// out of range.
func checkForwardTarget(host string, port int) error {
	if err := checkString("forward host", host); err != nil {
		return err
	}
	if port < 0 || port > 65535 {
		return fmt.Errorf("libssh: forward port %d out of range", port)
	}
	return nil
}

// RequestExec asks the server to run command (through the user's shell).
// A channel runs one command; make a new channel for the next.
//
// Uses ssh_channel_request_exec.
func (ch *Channel) RequestExec(ctx context.Context, command string) error {
	if err := checkString("command", command); err != nil {
		return err
	}
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	return c.pending(ctx, "exec request", true, func(p lib.Channel) int {
		return lib.ChannelRequestExec(p, command)
	})
}

// RequestEnv asks the server to set an environment variable for the command
// or shell requested next. OpenSSH accepts only the names its AcceptEnv
// lists; a refusal matches [ErrRequestDenied].
//
// Uses ssh_channel_request_env.
func (ch *Channel) RequestEnv(ctx context.Context, name, value string) error {
	if err := checkString("environment variable name", name); err != nil {
		return err
	}
	if err := checkString("environment variable value", value); err != nil {
		return err
	}
	if err := checkString("environment variable", name+value); err != nil {
		return err
	}
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	return c.pending(ctx, "env request "+name, true, func(p lib.Channel) int {
		return lib.ChannelRequestEnv(p, name, value)
	})
}

// RequestPty asks for a pseudo-terminal of type term ("xterm" when empty)
// with cols columns and rows rows, for the shell or command requested next.
//
// Uses ssh_channel_request_pty_size.
func (ch *Channel) RequestPty(ctx context.Context, term string, cols, rows int) error {
	if term == "" {
		term = "xterm"
	}
	if err := checkString("terminal type", term); err != nil {
		return err
	}
	if err := checkSize(cols, rows); err != nil {
		return err
	}
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	return c.pending(ctx, "pty request", true, func(p lib.Channel) int {
		return lib.ChannelRequestPtySize(p, term, cols, rows)
	})
}

// ChangePtySize tells the server that the terminal now has cols columns and
// rows rows. The server does not answer it.
//
// Uses ssh_channel_change_pty_size.
func (ch *Channel) ChangePtySize(ctx context.Context, cols, rows int) error {
	if err := checkSize(cols, rows); err != nil {
		return err
	}
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	return c.pending(ctx, "pty size change", true, func(p lib.Channel) int {
		return lib.ChannelChangePtySize(p, cols, rows)
	})
}

func checkSize(cols, rows int) error {
	if cols <= 0 || rows <= 0 || cols > 1<<16 || rows > 1<<16 {
		return fmt.Errorf("libssh: terminal size %dx%d out of range", cols, rows)
	}
	return nil
}

// RequestShell asks the server to start the user's login shell.
//
// Uses ssh_channel_request_shell.
func (ch *Channel) RequestShell(ctx context.Context) error {
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	return c.pending(ctx, "shell request", true, func(p lib.Channel) int {
		return lib.ChannelRequestShell(p)
	})
}

// RequestSubsystem asks the server to start a subsystem, such as "sftp".
//
// Uses ssh_channel_request_subsystem.
func (ch *Channel) RequestSubsystem(ctx context.Context, name string) error {
	if err := checkString("subsystem", name); err != nil {
		return err
	}
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	return c.pending(ctx, "subsystem request "+name, true, func(p lib.Channel) int {
		return lib.ChannelRequestSubsystem(p, name)
	})
}

// SendSignal asks the server to deliver a signal to the remote command:
// signal is its name without "SIG", such as "TERM" or "INT". The server does
// not answer; OpenSSH honours it since version 8.1.
//
// Uses ssh_channel_request_send_signal.
func (ch *Channel) SendSignal(ctx context.Context, signal string) error {
	if err := checkString("signal", signal); err != nil {
		return err
	}
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	return c.pending(ctx, "signal "+signal, true, func(p lib.Channel) int {
		return lib.ChannelRequestSendSignal(p, signal)
	})
}

// RequestX11 asks the server to forward X11 connections to the client.
// protocol and cookie are the X authorisation to present; "" picks
// MIT-MAGIC-COOKIE-1 and a random cookie. singleConnection asks for one
// connection only. This package does not accept the X11 channels the
// server then opens.
//
// Uses ssh_channel_request_x11.
func (ch *Channel) RequestX11(ctx context.Context, singleConnection bool, protocol, cookie string, screen int) error {
	if err := checkString("X11 protocol", protocol); err != nil {
		return err
	}
	if err := checkString("X11 cookie", cookie); err != nil {
		return err
	}
	if screen < 0 || int64(screen) > math.MaxInt32 {
		return fmt.Errorf("libssh: X11 screen %d out of range", screen)
	}
	single := 0
	if singleConnection {
		single = 1
	}
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	return c.pending(ctx, "X11 request", true, func(p lib.Channel) int {
		return lib.ChannelRequestX11(p, single, protocol, cookie, screen)
	})
}

// RequestAuthAgent asks the server to forward connections to the client's
// SSH agent (OpenSSH's auth-agent-req@openssh.com), for the shell or
// command requested next; [Cmd.ForwardAgent] does it for a Cmd. From then
// on the session accepts every agent channel the server opens and relays
// each to the local agent: [WithAgentSocket]'s, else $SSH_AUTH_SOCK's,
// which must exist when it is called (otherwise the error matches
// [ErrNoAgent] and nothing is sent). A relay ends when its channel or the
// session closes. The opens do not say which channel they serve, and
// OpenSSH's sshd keeps one agent socket per connection: once one channel
// asked, the programs of the session's later channels find the agent too.
//
// Forwarding is a trust decision: while the session is open, the server's
// administrator (and anyone who controls the server) can ask the agent to
// sign with its keys, as they can with OpenSSH's ForwardAgent. The keys
// themselves never leave the agent.
//
// libssh sends the request without asking for a reply, so nil means sent,
// not accepted (sshd refuses it silently with AllowAgentForwarding no: the
// program then finds no SSH_AUTH_SOCK). It needs a session made by
// NewSession: a WrapSession session keeps its own session callbacks.
//
// Uses ssh_channel_request_auth_agent and the session callback
// channel_open_request_auth_agent_function.
func (ch *Channel) RequestAuthAgent(ctx context.Context) error {
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	if ctx == nil {
		return errNoContext
	}
	if err := ch.locked(func(c *chanState) error {
		if err := c.openLocked(); err != nil {
			return err
		}
		return c.st.forwardAgentLocked()
	}); err != nil {
		return err
	}
	return c.pending(ctx, "agent forwarding request", true, lib.ChannelRequestAuthAgent)
}

// RequestSendExitStatus sends the exit status of the channel's command to
// the client: it is for the server side of a channel (see package sshtest).
// The client does not answer.
//
// Uses ssh_channel_request_send_exit_status.
func (ch *Channel) RequestSendExitStatus(status int) error {
	if status < 0 || int64(status) > math.MaxInt32 {
		return fmt.Errorf("libssh: exit status %d out of range", status)
	}
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	return c.pending(context.Background(), "send exit status", true, func(p lib.Channel) int {
		return lib.ChannelRequestSendExitStatus(p, status)
	})
}

// RequestSendExitSignal tells the client that the channel's command was
// killed by signal (a name without "SIG", such as "TERM"), whether it
// dumped core, and an optional message and its language tag: the server
// side's counterpart of [ExitSignalError]. The client does not answer.
//
// Uses ssh_channel_request_send_exit_signal.
func (ch *Channel) RequestSendExitSignal(signal string, coreDumped bool, message, lang string) error {
	for _, f := range [][2]string{{"signal", signal}, {"message", message}, {"language tag", lang}} {
		if err := checkString(f[0], f[1]); err != nil {
			return err
		}
	}
	if signal == "" {
		return errors.New("libssh: empty signal name")
	}
	core := 0
	if coreDumped {
		core = 1
	}
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	return c.pending(context.Background(), "send exit signal", true, func(p lib.Channel) int {
		return lib.ChannelRequestSendExitSignal(p, signal, core, message, lang)
	})
}

// SetCallbacks installs cb on the channel, replacing the callbacks set
// before; nil removes them. cb is copied: changing it afterwards has no
// effect. On error the callbacks set before stay.
//
// The callbacks run while the session processes input (in a goroutine of
// this package or inside another call on the session), with the session
// locked. What they may call is the same for every callback of this
// package (see the package documentation, "Callbacks"): the session's
// cached facts (Host, User, Port, KnownHostsPath, String, IsOpen,
// IsConnected), the channel's state queries (IsOpen, IsAssigned, EOF,
// IsWritable, ExitStatus, String), and Close of a channel or of the session,
// which takes effect when the callback returns. Every other method returns
// [ErrInCallback], and so does every method of another session or its
// channels (except their cached facts). SetCallbacks itself may be called
// in the message handler of [AcceptSession]. A callback that panics makes
// the channel unusable: its later calls return the [*callbacks.PanicError].
//
// An OnData callback that consumes data takes it away from Read.
//
// Uses ssh_set_channel_callbacks and ssh_remove_channel_callbacks.
func (ch *Channel) SetCallbacks(cb *callbacks.ChannelCallbacks) error {
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	switch cs := callbackSession(); {
	case cs == c.st && c.st.inHandler:
		// The message handler of a server session runs from no
		// channel's callback list: the lock is this goroutine's.
	case cs != nil:
		return ErrInCallback
	default:
		c.st.lock()
		defer c.st.unlock()
	}
	if c.p.IsNil() || c.closeQueued {
		return c.usableLocked()
	}
	var reg *cgocallback.Registration
	if cb != nil {
		// The new callbacks first: on error the old ones stay.
		var err error
		if reg, err = cgocallback.InstallGuarded(c.p, cb, c.guard); err != nil {
			return err
		}
	}
	c.user.Remove()
	c.user = reg
	return nil
}

// guard wraps every call of a user's callback: it records the thread, so
// that a call back into the package from the callback is recognised, and a
// panic, so that the channel reports it.
func (c *chanState) guard(run func()) {
	exit := c.st.enterCallback()
	defer func() {
		exit()
		if r := recover(); r != nil {
			if c.broken == nil {
				c.broken = &callbacks.PanicError{Value: r}
				c.wakeReadersLocked() // they return it
			}
			panic(r) // for package cgocallback, which answers as if refused
		}
	}()
	run()
}

// Read reads the remote standard output (or, for a forwarded connection,
// its data). It waits until data arrives, and returns [io.EOF] once the
// server has sent EOF and everything before it was read. Close (of the
// channel or the session) ends a waiting Read.
//
// Uses ssh_channel_poll and ssh_channel_read_timeout, see [WithMaxWindow].
func (ch *Channel) Read(b []byte) (int, error) {
	c, err := ch.state()
	if err != nil {
		return 0, err
	}
	defer runtime.KeepAlive(ch)
	return c.read(context.Background(), b, false)
}

// Stderr returns a reader for the remote standard error, which behaves like
// Read.
func (ch *Channel) Stderr() io.Reader {
	if ch == nil {
		return stderrReader{}
	}
	return stderrReader{ch.c}
}

type stderrReader struct{ c *chanState }

func (r stderrReader) Read(b []byte) (int, error) {
	if r.c == nil {
		return 0, errNilChannel
	}
	return r.c.read(context.Background(), b, true)
}

// maxReadChunk bounds what one read asks libssh for (it counts in 32 bits).
const maxReadChunk = 1 << 30

func (c *chanState) read(ctx context.Context, b []byte, stderr bool) (int, error) {
	return c.readAtLeast(ctx, b, stderr, 1)
}

// readAtLeast reads into b until it has read at least atLeast bytes (at
// most len(b)), as io.ReadAtLeast does, but its waits end only when libssh
// holds what is missing (or an event came): a reader that needs a whole
// message is woken once for it, not for each piece of it.
func (c *chanState) readAtLeast(ctx context.Context, b []byte, stderr bool, atLeast int) (int, error) {
	if err := refuseInCallback(); err != nil {
		return 0, err
	}
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > maxReadChunk {
		b = b[:maxReadChunk]
	}
	atLeast = min(max(atLeast, 1), len(b))
	stream := 0
	if stderr {
		stream = 1
	}
	st := c.st
	got, need := 0, 0
	first := true
	err := st.driveOn(ctx, c, stream, &need, func() (bool, error) {
		if err := c.openLocked(); err != nil {
			return false, err
		}
		if first {
			// A wait for the server that an earlier call began and gave
			// up (on its deadline) is not a stall: the caller was away.
			first = false
			c.win.waiting = false
		}
		assisted := false
		for {
			n := c.readLocked(b[got:], stream)
			switch {
			case n > 0:
				got += n
				if got < atLeast {
					continue
				}
				st.flushLocked() // reading may have queued a window adjustment
				return true, nil
			case n == lib.SSH_EOF:
				if got > 0 {
					return false, io.ErrUnexpectedEOF
				}
				return false, io.EOF
			case n == lib.SSH_ERROR:
				return false, c.errorLocked("channel read", "failed")
			}
			if !assisted && st.assistLocked() {
				assisted = true
				if err := c.openLocked(); err != nil {
					return false, err
				}
				continue
			}
			if got > 0 {
				st.flushLocked()
			}
			need = atLeast - got
			return false, nil
		}
	})
	err, _ = abandoned(err)
	return got, err
}

// Write sends b to the remote end. It waits whenever the server's window is
// full or the connection does not take more yet (it never fails for that),
// and returns when libssh has taken all of b or with the error that stopped
// it. Writes after CloseWrite fail. Close (of the channel or the session)
// ends a waiting Write.
//
// Uses ssh_channel_write.
func (ch *Channel) Write(b []byte) (int, error) {
	c, err := ch.state()
	if err != nil {
		return 0, err
	}
	defer runtime.KeepAlive(ch)
	return c.write(context.Background(), b, false)
}

// WriteString is Write for a string.
func (ch *Channel) WriteString(s string) (int, error) {
	return ch.Write([]byte(s))
}

// WriteStderr is Write for the standard error stream, which only a server
// sends (see package sshtest).
//
// Uses ssh_channel_write_stderr.
func (ch *Channel) WriteStderr(b []byte) (int, error) {
	c, err := ch.state()
	if err != nil {
		return 0, err
	}
	defer runtime.KeepAlive(ch)
	return c.write(context.Background(), b, true)
}

func (c *chanState) write(ctx context.Context, b []byte, stderr bool) (int, error) {
	// The callback check comes before writeMu: a callback's goroutine
	// holds the lock, which a writer holding writeMu may wait for.
	if err := refuseInCallback(); err != nil {
		return 0, err
	}
	send := lib.ChannelWrite
	if stderr {
		send = lib.ChannelWriteStderr
	}
	st := c.st
	// One Write at a time, so that writes do not interleave; a writer
	// waiting here gives up with its context.
	release, err := st.acquireSlot(ctx, c.writeSem, errSessionClosed)
	if err != nil {
		return 0, err
	}
	defer release()
	written := 0
	short := false // the last step ran out of window
	sleepy := true // waitInputLocked did not time out since the last progress
	wait := func() error {
		if !short || !sleepy {
			return st.waitLocked(ctx)
		}
		timedOut, err := st.waitInputLocked(ctx)
		sleepy = !timedOut
		return err
	}
	for first := true; first || written < len(b); first = false {
		err := st.driveWith(ctx, func() (bool, error) {
			short = false
			err := c.openLocked()
			if err == nil && c.localEOF {
				err = errors.New("libssh: write after CloseWrite")
			}
			if err == nil && c.remoteClosed {
				err = &Error{Op: "channel write", Message: "the server closed the channel"}
			}
			if err != nil {
				return false, err
			}
			if written == len(b) {
				return true, nil
			}
			// Hand libssh more only once it sent what it holds: that
			// bounds its output buffer to about one chunk.
			if !st.flushLocked() {
				return false, nil // the flusher wakes us
			}
			chunk := b[written:min(len(b), written+maxWriteChunk)]
			n := send(c.p, chunk)
			if n == lib.SSH_ERROR {
				st.unsent = true // the flush above no longer tells
				return false, c.errorLocked("channel write", "failed")
			}
			written += max(n, 0)
			c.sent += int64(max(n, 0))
			sleepy = sleepy || n > 0
			// Also after a write of nothing: the call may have read
			// input, and queued answers to it.
			st.flushLocked()
			// A short write: the window is full (or a key re-exchange
			// runs); wait for the server.
			short = n < len(chunk)
			return !short, nil
		}, wait)
		if err != nil {
			err, _ = abandoned(err)
			return written, err
		}
	}
	return written, nil
}

// CloseWrite sends EOF: the remote end reads end of input, and the channel
// can still be read. It does nothing when EOF was sent already.
//
// Uses ssh_channel_send_eof.
func (ch *Channel) CloseWrite() error {
	c, err := ch.begin()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	defer c.st.unlock()
	if err := c.openLocked(); err != nil {
		return err
	}
	if c.localEOF {
		return nil
	}
	// SSH_AGAIN means the EOF is queued.
	if lib.ChannelSendEof(c.p) == lib.SSH_ERROR {
		return c.errorLocked("send EOF", "failed")
	}
	c.localEOF = true
	c.st.flushLocked()
	return nil
}

// Close closes the channel (telling the server, when the session is still
// connected) and frees it. It is idempotent, and never fails for a channel
// whose session was closed or disconnected. Called inside one of the
// session's callbacks, it takes effect when the callback returns; inside a
// callback of another session it returns [ErrInCallback].
//
// Uses ssh_channel_free.
func (ch *Channel) Close() error {
	c, err := ch.state()
	if err != nil {
		return err
	}
	if cs := callbackSession(); cs != nil && cs != c.st {
		return ErrInCallback
	}
	ch.cleanup.Stop()
	c.close()
	return nil
}

// close closes the channel; it reports whether it was still open.
func (c *chanState) close() bool {
	st := c.st
	if st.inCallback() {
		// The lock is this goroutine's: libssh is calling back and may be
		// iterating over this channel's callbacks, so freeing must wait
		// until it has returned.
		if c.p.IsNil() || c.closeQueued {
			return false
		}
		c.closeQueued = true
		c.wakeReadersLocked() // they return errChannelClosed
		st.deferred = append(st.deferred, c)
		return true
	}
	st.lock()
	defer st.unlock()
	open := c.closeLocked()
	st.flushLocked()
	return open
}

// closeLocked frees the channel: its callbacks come off first, since libssh
// may keep the channel (and call its callbacks) until the server confirms
// the close. It reports whether the channel was still there.
func (c *chanState) closeLocked() bool {
	p, st := c.p, c.st
	if p.IsNil() {
		return false
	}
	c.forgetLocked(errChannelClosed)
	c.closeQueued = false
	if c.owned {
		// ssh_channel_free sends CLOSE when the channel is open, or closed
		// by the server only, through ssh_channel_close, which sends EOF
		// first and, in libssh 0.10, returns without sending CLOSE when
		// that EOF could not be flushed at once (SSH_AGAIN: the socket
		// was full, or the poll reported the input waiting in the
		// read-ahead buffer and not writability). The server then keeps
		// the channel, and what it forwards, for ever. The EOF sent here
		// first is marked sent even then, so the close goes on to CLOSE.
		if !c.localEOF && (lib.ChannelIsOpen(p) == 1 || c.remoteClosed && lib.IsConnected(st.p) == 1) {
			lib.ChannelSendEof(p)
		}
		lib.ChannelFree(p)
	}
	st.bumpLocked() // wake the channel's waiters
	return true
}

// Wait waits until the remote end has finished with the channel: the server
// closed it, or sent EOF and the command's exit status or signal. It
// returns nil then, whatever the exit status; [Channel.ExitStatus] tells
// it. Wait does not read: unread output stays readable, and a command whose
// output nobody reads may block when the channel's window fills.
func (ch *Channel) Wait(ctx context.Context) error {
	c, err := ch.state()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	return c.waitUntil(ctx, func() bool { return c.remoteClosed || c.remoteEOF && c.exit.known() })
}

// waitUntil waits until done, called with the session locked, is true.
// done may look only at what the bookkeeping callbacks set (EOF, close,
// exit status, signal): its waits end only when one of those arrives, or
// when the channel or the session becomes unusable (endStream).
func (c *chanState) waitUntil(ctx context.Context, done func() bool) error {
	if ctx == nil {
		return errNoContext
	}
	if err := refuseInCallback(); err != nil {
		return err
	}
	first := true
	err := c.st.driveOn(ctx, c, endStream, nil, func() (bool, error) {
		if !first {
			c.readWakes[endStream].Add(1)
		}
		first = false
		if c.broken == nil && done() {
			return true, nil
		}
		return false, c.openLocked()
	})
	err, _ = abandoned(err)
	return err
}

// PollLoop waits until the server has sent EOF and both streams were
// consumed, by reads or by an OnData callback, and then returns nil. It is
// LibSSH.jl's poll_loop, whose SSH_EOF is nil here; with this package
// callbacks fire without it. Otherwise it returns why it stopped: ctx's
// error, an error matching [ErrClosed] once the channel or its session was
// closed, [ErrInCallback] in a callback, or the error that broke the
// channel or the session.
//
// Uses ssh_channel_poll.
func (ch *Channel) PollLoop(ctx context.Context) error {
	c, err := ch.state()
	if err != nil {
		return err
	}
	if ctx == nil {
		return errNoContext
	}
	if err := refuseInCallback(); err != nil {
		return err
	}
	defer runtime.KeepAlive(ch)
	err = c.st.drive(ctx, func() (bool, error) {
		if err := c.openLocked(); err != nil {
			return false, err
		}
		out, errOut := lib.ChannelPoll(c.p, 0), lib.ChannelPoll(c.p, 1)
		if out == lib.SSH_ERROR || errOut == lib.SSH_ERROR {
			return false, c.errorLocked("channel poll", "failed")
		}
		return out == lib.SSH_EOF && errOut == lib.SSH_EOF && !c.win.hasSpill(), nil
	})
	err, _ = abandoned(err)
	return err
}

func (e *exitState) known() bool { return e.hasStatus || e.signal != nil }

// ExitStatus returns the remote command's exit status, once the server sent
// it. A command killed by a signal returns -1 and an [*ExitSignalError]. A
// channel that ended without either returns [ErrNoExitStatus]; one still
// running returns [ErrNotExited]. It does not wait: see [Channel.Wait].
//
// libssh 0.10 reports exit signals only through a callback, which the
// channel installs itself.
func (ch *Channel) ExitStatus() (int, error) {
	if _, err := ch.state(); err != nil {
		return -1, err
	}
	status, err := -1, ErrNotExited
	ok := ch.inspect(func(c *chanState) {
		switch {
		case c.exit.signal != nil:
			err = c.exit.signal
		case c.exit.hasStatus:
			status, err = c.exit.status, nil
		case c.remoteClosed || c.p.IsNil():
			err = ErrNoExitStatus
		}
	})
	if !ok {
		return -1, ErrInCallback
	}
	return status, err
}

// IsOpen reports whether the channel is open: opened, not closed by either
// end, and on a connected session.
//
// Uses ssh_channel_is_open.
func (ch *Channel) IsOpen() bool {
	open := false
	ch.inspect(func(c *chanState) {
		open = c.openLocked() == nil && lib.ChannelIsOpen(c.p) == 1
	})
	return open
}

// EOF reports whether the server has sent EOF and everything before it was
// read. It is true for a closed channel.
//
// Uses ssh_channel_is_eof.
func (ch *Channel) EOF() bool {
	eof := true
	ch.inspect(func(c *chanState) {
		if !c.p.IsNil() && !c.closeQueued {
			eof = lib.ChannelIsEof(c.p) != 0 && !c.win.hasSpill()
		}
	})
	return eof
}

// IsWritable reports whether Write can send: the channel is open and
// CloseWrite was not called.
func (ch *Channel) IsWritable() bool {
	writable := false
	ch.inspect(func(c *chanState) {
		writable = c.openLocked() == nil && !c.localEOF && lib.ChannelIsOpen(c.p) == 1
	})
	return writable
}

// String describes the channel, such as "libssh.Channel(open)".
func (ch *Channel) String() string {
	state := "nil"
	ch.inspect(func(c *chanState) {
		switch {
		case c.p.IsNil() || c.closeQueued:
			state = "closed"
		case !c.opened:
			state = "not open"
		case c.remoteClosed:
			state = "closed by the server"
		case c.remoteEOF:
			state = "open, EOF received"
		default:
			state = "open"
		}
	})
	return "libssh.Channel(" + state + ")"
}

func init() {
	chanio.ReadAtLeast = func(r io.Reader, b []byte, atLeast int) (int, error) {
		ch, ok := r.(*Channel)
		if !ok || len(b) < atLeast || atLeast <= 0 {
			return io.ReadAtLeast(r, b, atLeast)
		}
		c, err := ch.state()
		if err != nil {
			return 0, err
		}
		defer runtime.KeepAlive(ch)
		return c.readAtLeast(context.Background(), b, false, atLeast)
	}
}
