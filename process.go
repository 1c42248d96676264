package libssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Cmd is a command to run on the server, the way [os/exec.Cmd] runs one
// locally. Make it with [Session.Command] or [Session.CommandLine], or
// [Session.Shell] for the login shell (or their Context forms), set its
// fields, then call Run, Output, CombinedOutput or Success, or Start and
// Wait. A Cmd runs once.
//
// Each command has its own session channel: Start opens one, sends the
// requests its fields ask for (ForwardAgent, Pty, Env) and the command
// line, and Wait closes it. Many commands may
// run at once on one session, as many as the server allows channels
// (OpenSSH: MaxSessions, 10 by default; Start fails beyond).
//
// A Cmd is not safe for concurrent use, except that its pipes and its
// Process may be used from other goroutines while Wait runs.
type Cmd struct {
	// Path is the command's name, as given to Command; empty for a
	// command line.
	Path string
	// Args holds the name and the arguments given to Command; nil for a
	// command line.
	Args []string

	// Env holds "NAME=value" entries, each sent as an environment request
	// before the command (the value may contain '='; of duplicate names
	// the last wins). The server's own environment is not replaced.
	// OpenSSH sets only the names its AcceptEnv lists (none unless
	// configured; Debian's configuration lists LANG and LC_*); a refusal
	// fails Start with an error that names the variable and matches
	// [ErrRequestDenied].
	Env []string

	// Stdin is the command's standard input. nil sends EOF at once.
	// Otherwise a goroutine copies it, then sends EOF; Wait waits for that
	// copy (bounded by WaitDelay), which ends early when the command
	// has finished.
	Stdin io.Reader
	// Stdout and Stderr receive the command's standard output and error,
	// written by goroutines of the Cmd. When one is nil, its stream is
	// still read (so the command never blocks on it) and its start and
	// end are kept: see [Process.Stdout]. The same writer for both is
	// written by one goroutine at a time.
	Stdout io.Writer
	Stderr io.Writer

	// Pty, when not nil, asks the server for a pseudo-terminal for the
	// command or shell, as ssh -t does: programs that need a terminal
	// (sudo's password prompt, top, an interactive shell, a line editor)
	// then run as they would in one. Resize it with [Process.Resize]. On
	// a terminal the server merges standard error into standard output,
	// translates "\n" to "\r\n" and echoes what it reads; the exit status
	// arrives as without one. A refusal fails Start with an error matching
	// [ErrRequestDenied].
	Pty *Pty

	// ForwardAgent forwards the local SSH agent to the command or shell,
	// as ssh -A does: its programs (a remote ssh, git, ssh-add) can use
	// the agent's keys through the SSH_AUTH_SOCK the server sets. The
	// agent is [WithAgentSocket]'s, else $SSH_AUTH_SOCK's; without one,
	// Start fails with an error matching [ErrNoAgent]. Off by default,
	// and a trust decision: while the session is open, whoever controls
	// the server can have the agent sign with its keys. OpenSSH's sshd
	// keeps the agent socket for the whole connection, so the session's
	// later commands can use it too (see [Channel.RequestAuthAgent]).
	ForwardAgent bool

	// IgnoreStatus makes Run and Wait return nil for a command that
	// exited with a non-zero status, was killed by a signal or ended
	// without a status; [Process] still tells which. Errors of the
	// session, the channel, the context and the copying are still
	// returned.
	IgnoreStatus bool

	// Cancel is called when the context of a [Session.CommandContext]
	// command is done before the command ended. It defaults to sending
	// the KILL signal ([Process.Kill]); after it, Wait closes the channel
	// (at once, or after WaitDelay) and returns the context's error.
	// Setting Cancel for a command made without a context makes Start
	// fail. An error from Cancel is joined to the context's.
	//
	// OpenSSH delivers signals only to sessions with privilege
	// separation, which it does not use for root logins: there the
	// signal is ignored, and closing the channel does not end a command
	// that has no terminal.
	Cancel func() error
	// WaitDelay bounds the waits of Wait that the command itself cannot
	// end:
	//
	//   - once the context is done and Cancel was called, for the
	//     server's report of the command's end (zero: the channel is
	//     closed at once);
	//   - once the command has exited, for the end of its output, which
	//     background children that inherited it can hold open (zero: no
	//     bound, as with ssh);
	//   - once the command has ended, for the copying of Stdin (zero: no
	//     bound).
	//
	// When one of the last two expires, Wait closes the channel and
	// returns [ErrWaitDelay], unless the command failed.
	WaitDelay time.Duration

	// Process is the running command, set by Start.
	Process *Process

	s     *Session
	ctx   context.Context // nil unless made with a Context constructor
	line  string          // what is sent to the server
	shell bool            // Session.Shell: the login shell, not line
	err   error           // why the constructor could not make a usable Cmd; Start returns it

	stdinPipe  *stdinPipe
	stdoutPipe *outputPipe
	stderrPipe *outputPipe

	mu          sync.Mutex // guards the fields below
	started     bool
	waitCalled  bool
	waiting     bool // Wait has begun collecting: closed pipes are no longer drained
	interrupted bool // the context was done first, and Cancel was called

	stdout, stderr stream
	out            sync.WaitGroup // the goroutines reading stdout and stderr
	stdinDone      chan struct{}  // closed when the Stdin copy ended; nil without one
	stdinErr       error          // reading Stdin failed
	stopWatch      func() bool    // stops watching the context
	finishedCh     chan struct{}  // closed, with mu held, once Wait saw the command's end (or gave up on it)
	interruptDone  chan struct{}  // closed when interrupt has returned
	cancelErr      error          // Cancel's error, set by interrupt
}

// stream is one output stream of a running command.
type stream struct {
	saver    *outputSaver // keeps the output when the Cmd had no writer
	readErr  error        // reading the channel failed
	writeErr error        // the writer failed; the rest was discarded
}

// Command returns a Cmd that runs name with args on the server. The
// server's shell runs the command: name and each argument are quoted with
// [ShellQuote], so each arrives as one word, whatever bytes it holds. For
// pipes, redirections or variables, use [Session.CommandLine]. On a nil or
// zero Session it returns a Cmd whose Start fails.
func (s *Session) Command(name string, args ...string) *Cmd {
	argv := append([]string{name}, args...)
	return &Cmd{s: s, Path: name, Args: argv, line: shellJoin(argv), err: sessionArgErr(s)}
}

// CommandContext is [Session.Command] with a context: when ctx is done
// before the command has ended, Cancel is called (by default sending the
// KILL signal), the channel is closed and Wait returns ctx's error. ctx
// also bounds Start's requests.
//
// Unlike [os/exec.CommandContext], it does not panic when ctx is nil: it
// returns a Cmd whose Start (and so Run, Output, CombinedOutput and
// Success) returns an error saying so, and starts nothing.
func (s *Session) CommandContext(ctx context.Context, name string, args ...string) *Cmd {
	c := s.Command(name, args...)
	c.setContext(ctx, "CommandContext")
	return c
}

// CommandLine returns a Cmd that sends line to the server as it is: the
// user's login shell there interprets it, with its pipes, quotes and
// variables. On a nil or zero Session it returns a Cmd whose Start fails.
func (s *Session) CommandLine(line string) *Cmd {
	return &Cmd{s: s, line: line, err: sessionArgErr(s)}
}

// CommandLineContext is [Session.CommandLine] with a context, as
// [Session.CommandContext] (a nil ctx makes Start fail, without a panic).
func (s *Session) CommandLineContext(ctx context.Context, line string) *Cmd {
	c := s.CommandLine(line)
	c.setContext(ctx, "CommandLineContext")
	return c
}

// Shell returns a Cmd that starts the user's login shell on the server,
// as ssh without a command does, instead of a command: a Cmd whose Path,
// Args and String are empty. Set [Cmd.Pty] for an interactive shell;
// without one, the shell reads commands from Stdin, as in ssh host <
// script. On a nil or zero Session it returns a Cmd whose Start fails.
func (s *Session) Shell() *Cmd {
	return &Cmd{s: s, shell: true, err: sessionArgErr(s)}
}

// ShellContext is [Session.Shell] with a context, as
// [Session.CommandContext] (a nil ctx makes Start fail, without a panic).
func (s *Session) ShellContext(ctx context.Context) *Cmd {
	c := s.Shell()
	c.setContext(ctx, "ShellContext")
	return c
}

// Pty describes the pseudo-terminal a [Cmd] asks for.
//
// libssh 0.10 sends no terminal modes (ssh_channel_request_pty_size sends
// an empty list; the modes call came with libssh 0.11), so the server's
// defaults apply: with OpenSSH, those of a new pty (echo on, canonical
// input, ^C interrupting). A program can change them with stty.
type Pty struct {
	// Term is the terminal type, the remote TERM; "xterm" when empty.
	Term string
	// Cols and Rows are the terminal's size in characters: 80 and 24
	// when zero.
	Cols, Rows int
}

// size returns the terminal's type and size, with the defaults applied.
func (p *Pty) size() (term string, cols, rows int) {
	term, cols, rows = p.Term, p.Cols, p.Rows
	if term == "" {
		term = "xterm"
	}
	if cols == 0 {
		cols = 80
	}
	if rows == 0 {
		rows = 24
	}
	return term, cols, rows
}

// check returns what the server would not take in p, or nil.
func (p *Pty) check() error {
	term, cols, rows := p.size()
	if err := checkString("Cmd.Pty.Term", term); err != nil {
		return err
	}
	return checkSize(cols, rows)
}

func (c *Cmd) setContext(ctx context.Context, fn string) {
	if ctx == nil {
		if c.err == nil {
			c.err = errNilContext(fn)
		}
		return
	}
	c.ctx = ctx
	c.Cancel = func() error { return c.Process.Kill() }
}

// errNilCmd is the error of the methods of a nil *Cmd.
var errNilCmd = notMade("Cmd", "Session.Command, Session.CommandLine or Session.Shell")

// String returns the line sent to the server. It is for debugging: the
// server's shell, not necessarily a POSIX one, interprets it. It is empty
// for a shell ([Session.Shell]) and for a nil Cmd.
func (c *Cmd) String() string {
	if c == nil {
		return ""
	}
	return c.line
}

// Run starts the command and waits for it to end: [Cmd.Start], then
// [Cmd.Wait]. It returns nil when the command exited with status 0, an
// [*ExitError] when it exited otherwise or was killed by a signal, and an
// [*ExitMissingError] when the server reported neither (see
// Cmd.IgnoreStatus); other errors say why the command could not run or be
// followed to its end.
func (c *Cmd) Run() error {
	if c == nil {
		return errNilCmd
	}
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the command and returns its standard output. Stdout must be
// nil. A failed command's standard error is in the error's Process when
// Stderr is nil: see [Process.Stderr].
func (c *Cmd) Output() ([]byte, error) {
	if c == nil {
		return nil, errNilCmd
	}
	if c.Stdout != nil || c.stdoutPipe != nil {
		return nil, errors.New("libssh: Stdout already set")
	}
	var out bytes.Buffer
	c.Stdout = &out
	err := c.Run()
	return out.Bytes(), err
}

// CombinedOutput runs the command and returns its standard output and
// standard error together, in the order they arrived. Stdout and Stderr
// must be nil.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	if c == nil {
		return nil, errNilCmd
	}
	if c.Stdout != nil || c.stdoutPipe != nil {
		return nil, errors.New("libssh: Stdout already set")
	}
	if c.Stderr != nil || c.stderrPipe != nil {
		return nil, errors.New("libssh: Stderr already set")
	}
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.Bytes(), err
}

// Success runs the command and reports whether it exited with status 0. A
// command that exited otherwise, was killed or ended without a status
// gives false and no error; an error says that the command could not be
// run or followed to its end.
func (c *Cmd) Success() (bool, error) {
	if c == nil {
		return false, errNilCmd
	}
	err := c.Run()
	var exit *ExitError
	var missing *ExitMissingError
	if err == nil || errors.As(err, &exit) || errors.As(err, &missing) {
		return c.Process.Success(), nil
	}
	return false, err
}

// StdinPipe returns a pipe to the command's standard input: closing it
// sends EOF. Call it before Start; Wait closes it when the command has
// ended, so close it yourself to tell the command that input is over.
//
// As with [os/exec.Cmd.StdinPipe], the pipe may be written and closed
// before Start: the first 64 KiB written are kept (as much as a Linux pipe
// holds), a write beyond that waits until the command has started, and a
// Close sends EOF once the command has started and received what was
// written. If Start fails, the writes waiting and those that follow fail
// with an error that wraps Start's.
func (c *Cmd) StdinPipe() (io.WriteCloser, error) {
	if c == nil {
		return nil, errNilCmd
	}
	if c.Stdin != nil || c.stdinPipe != nil {
		return nil, errors.New("libssh: Stdin already set")
	}
	if c.started {
		return nil, errors.New("libssh: StdinPipe after the command started")
	}
	c.stdinPipe = newStdinPipe(c.ctx)
	return c.stdinPipe, nil
}

// StdoutPipe returns a pipe from the command's standard output. Call it
// before Start, and read to EOF before calling Wait, which closes it.
// Closing the pipe early discards the rest of the output.
func (c *Cmd) StdoutPipe() (io.ReadCloser, error) { return c.outputPipe(false) }

// StderrPipe is [Cmd.StdoutPipe] for standard error.
func (c *Cmd) StderrPipe() (io.ReadCloser, error) { return c.outputPipe(true) }

func (c *Cmd) outputPipe(stderr bool) (io.ReadCloser, error) {
	if c == nil {
		return nil, errNilCmd
	}
	name, w, pipe := "Stdout", c.Stdout, &c.stdoutPipe
	if stderr {
		name, w, pipe = "Stderr", c.Stderr, &c.stderrPipe
	}
	if w != nil || *pipe != nil {
		return nil, errors.New("libssh: " + name + " already set")
	}
	if c.started {
		return nil, errors.New("libssh: " + name + "Pipe after the command started")
	}
	*pipe = &outputPipe{c: c, stderr: stderr}
	return *pipe, nil
}

// Start starts the command and returns without waiting for it to end:
// it opens a session channel, sends the requests for agent forwarding, a
// terminal and the Env entries, then the command line or the shell
// request (waiting for the server to accept each but the first, which
// has no answer), and starts copying. After a successful Start, call
// [Cmd.Wait] to release the channel. If Start fails, nothing is left
// open, and the writers of a [Cmd.StdinPipe] get an error. A Start that
// failed on the Cmd's fields (Env, Pty, Cancel, Stdin and the pipes, or
// ForwardAgent without an agent) may be called again once they are
// mended; a pipe from StdinPipe then gives the command EOF at once, as
// its writes failed.
func (c *Cmd) Start() error {
	if c == nil {
		return errNilCmd
	}
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	if started {
		return errors.New("libssh: the command was started already")
	}
	if err := c.start(); err != nil {
		if c.stdinPipe != nil {
			c.stdinPipe.fail(err)
		}
		return err
	}
	return nil
}

// start is Start once the Cmd is known not to have started.
func (c *Cmd) start() error {
	switch {
	case c.s == nil:
		return errNilCmd
	case c.err != nil:
		return c.err
	}
	// Bad input leaves the Cmd as it was: it can be mended and started.
	switch {
	case c.Cancel != nil && c.ctx == nil:
		return errors.New("libssh: Cmd.Cancel set for a command made without a context")
	case c.Stdin != nil && c.stdinPipe != nil:
		return errors.New("libssh: Cmd.Stdin set as well as StdinPipe")
	case c.Stdout != nil && c.stdoutPipe != nil:
		return errors.New("libssh: Cmd.Stdout set as well as StdoutPipe")
	case c.Stderr != nil && c.stderrPipe != nil:
		return errors.New("libssh: Cmd.Stderr set as well as StderrPipe")
	}
	env, err := c.envPairs()
	if err != nil {
		return err
	}
	if err := checkString("command line", c.line); err != nil {
		return err
	}
	if c.Pty != nil {
		if err := c.Pty.check(); err != nil {
			return err
		}
	}
	if c.ForwardAgent {
		if err := c.s.agentToForward(); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	ch, err := c.s.NewChannel()
	if err != nil {
		return err
	}
	if err := c.request(ctx, ch, env); err != nil {
		ch.Close()
		return err
	}
	if c.Stdin == nil && (c.stdinPipe == nil || c.stdinPipe.failed()) {
		if err := ch.CloseWrite(); err != nil {
			ch.Close()
			return err
		}
	}
	p := &Process{Cmd: c, ch: ch, done: make(chan struct{})}
	c.mu.Lock()
	c.Process = p
	c.mu.Unlock()
	c.finishedCh = make(chan struct{})

	stdout, stderr := c.Stdout, c.Stderr
	if stdout != nil && interfaceEqual(stdout, stderr) {
		w := &lockedWriter{w: stdout}
		stdout, stderr = w, w
	}
	c.startOutput(ch, &c.stdout, stdout, c.stdoutPipe, false)
	c.startOutput(ch, &c.stderr, stderr, c.stderrPipe, true)
	if c.Stdin != nil {
		c.stdinDone = make(chan struct{})
		go c.copyStdin(ch)
	}
	if c.stdinPipe != nil {
		c.stdinPipe.start(ch)
	}
	if c.ctx != nil {
		c.interruptDone = make(chan struct{})
		c.stopWatch = context.AfterFunc(c.ctx, c.interrupt)
	}
	return nil
}

// envPairs checks Env and returns its entries as name and value, the last
// of duplicate names winning (in the place of the first).
func (c *Cmd) envPairs() ([][2]string, error) {
	var pairs [][2]string
	index := make(map[string]int, len(c.Env))
	for _, e := range c.Env {
		name, value, ok := strings.Cut(e, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("libssh: Cmd.Env entry %q is not NAME=value", e)
		}
		if err := checkString("Cmd.Env entry (environment variable "+name+")", e); err != nil {
			return nil, err
		}
		if i, dup := index[name]; dup {
			pairs[i][1] = value
			continue
		}
		index[name] = len(pairs)
		pairs = append(pairs, [2]string{name, value})
	}
	return pairs, nil
}

// request opens ch and asks the server for agent forwarding, a terminal,
// the environment and the command or shell, in OpenSSH's order.
func (c *Cmd) request(ctx context.Context, ch *Channel, env [][2]string) error {
	if err := ch.OpenSession(ctx); err != nil {
		return err
	}
	if c.ForwardAgent {
		if err := ch.RequestAuthAgent(ctx); err != nil {
			return err
		}
	}
	if c.Pty != nil {
		term, cols, rows := c.Pty.size()
		if err := ch.RequestPty(ctx, term, cols, rows); err != nil {
			if errors.Is(err, ErrRequestDenied) {
				return fmt.Errorf("libssh: the server refused a terminal: %w", err)
			}
			return err
		}
	}
	for _, kv := range env {
		if err := ch.RequestEnv(ctx, kv[0], kv[1]); err != nil {
			if errors.Is(err, ErrRequestDenied) {
				return fmt.Errorf("libssh: the server refused to set the environment variable %s (OpenSSH sets only those its AcceptEnv lists): %w", kv[0], err)
			}
			return err
		}
	}
	if c.shell {
		return ch.RequestShell(ctx)
	}
	return ch.RequestExec(ctx, c.line)
}

// startOutput starts the goroutine that reads one output stream into w,
// or into a saver when w is nil; a pipe's stream is left to its reader.
func (c *Cmd) startOutput(ch *Channel, st *stream, w io.Writer, pipe *outputPipe, stderr bool) {
	if pipe != nil {
		return
	}
	if w == nil {
		st.saver = &outputSaver{}
		w = st.saver
	}
	r := streamReader(ch, stderr)
	c.out.Add(1)
	go func() {
		defer c.out.Done()
		st.writeErr, st.readErr = copyOutput(w, r)
	}()
}

// copyOutput copies r to w until EOF. When w fails, the rest of r is read
// and discarded, so that the command is not blocked.
func copyOutput(w io.Writer, r io.Reader) (writeErr, readErr error) {
	bp := chunkBufs.Get().(*[]byte)
	defer chunkBufs.Put(bp)
	buf := *bp
	for {
		n, err := r.Read(buf)
		if n > 0 && writeErr == nil {
			if _, werr := w.Write(buf[:n]); werr != nil {
				writeErr = werr
			}
		}
		if err == io.EOF {
			return writeErr, nil
		}
		if err != nil {
			return writeErr, err
		}
	}
}

// copyStdin copies Stdin to the channel, then sends EOF. A write fails
// only when the command or the channel has ended, which is not an error
// of the copy; a read error of Stdin is.
func (c *Cmd) copyStdin(ch *Channel) {
	defer close(c.stdinDone)
	w := &channelWriter{ch: ch}
	if _, err := io.Copy(w, c.Stdin); err != nil && w.err == nil {
		c.stdinErr = fmt.Errorf("libssh: reading Cmd.Stdin: %w", err)
	}
	// The command reads EOF, also after a read error. This fails only
	// when the channel has ended.
	ch.CloseWrite()
}

// channelWriter is a channel's Write that remembers its error, so that
// io.Copy's errors can be told apart.
type channelWriter struct {
	ch  *Channel
	err error
}

func (w *channelWriter) Write(b []byte) (int, error) {
	n, err := w.ch.Write(b)
	if err != nil {
		w.err = err
	}
	return n, err
}

// interrupt runs when the context is done: unless the command has ended,
// it calls Cancel and closes the channel (after WaitDelay, unless the
// command ends first).
func (c *Cmd) interrupt() {
	defer close(c.interruptDone)
	c.mu.Lock()
	select {
	case <-c.finishedCh:
		c.mu.Unlock()
		return
	default:
	}
	c.interrupted = true
	c.mu.Unlock()
	if c.Cancel != nil {
		if err := c.Cancel(); err != nil && !errors.Is(err, ErrProcessDone) && !errors.Is(err, ErrClosed) {
			c.cancelErr = err
		}
	}
	if c.WaitDelay > 0 {
		t := time.NewTimer(c.WaitDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.finishedCh:
			return
		}
	}
	c.Process.ch.Close()
}

// Wait waits for the command to end and for the copying to and from it to
// finish, closes its channel, and returns what [Cmd.Run] returns. When
// the context was done first, it returns the context's error. Wait must
// be called once, after a successful Start; with pipes, after the reads
// have finished. Called from a callback it returns [ErrInCallback].
func (c *Cmd) Wait() error {
	if c == nil {
		return errNilCmd
	}
	if err := refuseInCallback(); err != nil {
		return err // the command's end comes through the lock the callback holds
	}
	c.mu.Lock()
	p, waitCalled := c.Process, c.waitCalled
	c.waitCalled = p != nil
	c.mu.Unlock()
	if p == nil {
		return errors.New("libssh: Wait: the command was not started")
	}
	if waitCalled {
		return errors.New("libssh: Wait was called already")
	}

	waitErr, delayed := c.waitEnd(p)
	c.mu.Lock()
	close(c.finishedCh)
	interrupted := c.interrupted
	c.mu.Unlock()
	if c.stopWatch != nil && !c.stopWatch() {
		<-c.interruptDone // it may still be closing the channel
	}

	// The output goroutines end at EOF, or once the channel is closed.
	c.mu.Lock()
	c.waiting = true
	c.mu.Unlock()
	c.out.Wait()
	status, exitErr := p.ch.ExitStatus()
	p.ch.Close()
	if c.stdinPipe != nil {
		c.stdinPipe.closeAfterWait()
	}
	ioErr := c.waitStdin()
	p.finish(status, exitErr)

	switch {
	case interrupted:
		if c.cancelErr != nil {
			return fmt.Errorf("%w (and Cmd.Cancel failed: %w)", c.ctx.Err(), c.cancelErr)
		}
		return c.ctx.Err()
	case waitErr != nil:
		return waitErr
	case delayed:
		// The copies ended when the channel was closed.
	case c.stdout.readErr != nil:
		return c.stdout.readErr
	case c.stderr.readErr != nil:
		return c.stderr.readErr
	}
	if !c.IgnoreStatus {
		switch {
		case errors.Is(exitErr, ErrNoExitStatus):
			return &ExitMissingError{p}
		case exitErr != nil || status != 0:
			return &ExitError{p}
		}
	}
	if delayed {
		return ErrWaitDelay
	}
	return errors.Join(c.stdout.writeErr, c.stderr.writeErr, ioErr)
}

// waitEnd waits until the server has finished with the channel. With
// WaitDelay, once the command's end is known it waits at most that long for
// the rest (output held open by the command's background children), then
// closes the channel and reports that it did.
func (c *Cmd) waitEnd(p *Process) (err error, delayed bool) {
	if c.WaitDelay <= 0 {
		return p.ch.Wait(context.Background()), false
	}
	ch := p.ch.c
	if err := ch.waitUntil(context.Background(), func() bool { return ch.remoteClosed || ch.exit.known() }); err != nil {
		return err, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.WaitDelay)
	defer cancel()
	err = p.ch.Wait(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		p.ch.Close()
		return nil, true
	}
	return err, false
}

// waitStdin waits for the Stdin copy, at most WaitDelay when it is set.
func (c *Cmd) waitStdin() error {
	if c.stdinDone == nil {
		return nil
	}
	if c.WaitDelay <= 0 {
		<-c.stdinDone
		return c.stdinErr
	}
	t := time.NewTimer(c.WaitDelay)
	defer t.Stop()
	select {
	case <-c.stdinDone:
		return c.stdinErr
	case <-t.C:
		return ErrWaitDelay
	}
}

// Process is a started remote command: [Cmd.Start] sets [Cmd.Process].
// Once [Cmd.Wait] has returned, it tells how the command ended; until then
// its methods report a running command.
type Process struct {
	// Cmd is the command.
	Cmd *Cmd

	ch   *Channel
	done chan struct{} // closed when Wait has recorded the end

	exited bool // the server reported an exit status
	code   int
	signal *ExitSignalError
}

// finish records how the command ended.
func (p *Process) finish(status int, err error) {
	var sig *ExitSignalError
	switch {
	case err == nil:
		p.exited, p.code = true, status
	case errors.As(err, &sig):
		p.signal = sig
	}
	close(p.done)
}

// made reports whether Start made p (a nil or zero Process reads as a
// command that was not started).
func (p *Process) made() bool { return p != nil && p.done != nil && p.ch != nil && p.Cmd != nil }

// errNoProcess is the error of the requests of a nil or zero Process.
var errNoProcess = notMade("Process", "Cmd.Start")

func (p *Process) ended() bool {
	if !p.made() {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Exited reports whether the server reported an exit status.
func (p *Process) Exited() bool { return p.ended() && p.exited }

// ExitCode returns the command's exit status, or -1 while it runs, when it
// was killed by a signal and when the server reported nothing.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.code
}

// Success reports whether the command exited with status 0.
func (p *Process) Success() bool { return p.Exited() && p.code == 0 }

// Signal returns the name of the signal that killed the command, without
// "SIG" (such as "TERM"), or "".
func (p *Process) Signal() string {
	if !p.ended() || p.signal == nil {
		return ""
	}
	return p.signal.Signal
}

// CoreDumped reports whether the command was killed by a signal and
// dumped core.
func (p *Process) CoreDumped() bool { return p.ended() && p.signal != nil && p.signal.CoreDumped }

// Stdout returns the command's standard output when [Cmd.Stdout] was nil
// and no pipe was made: its first and last 32 KiB, with a line saying how
// many bytes were left out between them. It is nil otherwise, and until
// Wait has returned.
func (p *Process) Stdout() []byte { return p.collected(false) }

// Stderr is [Process.Stdout] for standard error.
func (p *Process) Stderr() []byte { return p.collected(true) }

func (p *Process) collected(stderr bool) []byte {
	if !p.ended() {
		return nil
	}
	st := &p.Cmd.stdout
	if stderr {
		st = &p.Cmd.stderr
	}
	if st.saver == nil {
		return nil
	}
	return st.saver.Bytes()
}

// SendSignal asks the server to deliver a signal to the command: sig is
// its name without "SIG", such as "TERM" or "INT". See
// [Channel.SendSignal]. It returns [ErrProcessDone] once Wait has closed
// the channel.
func (p *Process) SendSignal(sig string) error {
	if !p.made() {
		return errNoProcess
	}
	if p.ended() {
		return ErrProcessDone
	}
	err := p.ch.SendSignal(context.Background(), sig)
	if errors.Is(err, errChannelClosed) {
		return ErrProcessDone
	}
	return err
}

// Resize tells the server that the command's terminal ([Cmd.Pty]) now has
// cols columns and rows rows, as ssh does when its window changes; the
// program gets SIGWINCH. The server does not answer. It returns an error
// for a command without a terminal, and [ErrProcessDone] once Wait has
// closed the channel. It may be called while Wait runs.
func (p *Process) Resize(cols, rows int) error {
	if !p.made() {
		return errNoProcess
	}
	if p.Cmd.Pty == nil {
		return errors.New("libssh: Resize of a command without a terminal (Cmd.Pty was nil)")
	}
	if p.ended() {
		return ErrProcessDone
	}
	err := p.ch.ChangePtySize(context.Background(), cols, rows)
	if errors.Is(err, errChannelClosed) {
		return ErrProcessDone
	}
	return err
}

// Kill sends the KILL signal: [Process.SendSignal]("KILL").
func (p *Process) Kill() error { return p.SendSignal("KILL") }

// String describes how the command ended, such as "exit status 1",
// "signal: KILL (core dumped)" or "running"; "not started" for a nil or
// zero Process.
func (p *Process) String() string {
	switch {
	case !p.made():
		return "not started"
	case !p.ended():
		return "running"
	case p.exited:
		return "exit status " + itoa(p.code)
	case p.signal != nil:
		s := "signal: " + p.signal.Signal
		if p.signal.CoreDumped {
			s += " (core dumped)"
		}
		return s
	}
	return "no exit status"
}

// stdinPipeBuffer is how much a stdin pipe keeps before Start: as much as
// a Linux pipe holds, so that what works with os/exec's pipe works here.
const stdinPipeBuffer = 64 << 10

// stdinPipe is what StdinPipe returns. Before Start it keeps up to
// stdinPipeBuffer bytes and makes further writes wait; Start hands it the
// channel, and a goroutine (flush) sends what was kept, then lets the
// writers write to the channel, then sends EOF if Close came first. A
// failed Start fails it for good.
//
// Exactly one of Close and flush sends EOF: each sets its flag (closed,
// sent) and reads the other's under mu.
type stdinPipe struct {
	ctx     context.Context // the Cmd's; Background for Command
	mu      sync.Mutex
	buf     []byte        // written before Start
	ch      *Channel      // set by start
	err     error         // Start failed, or sending buf did: writes fail with it
	sent    bool          // buf was sent: writes go to ch
	closed  bool          // Close (or Wait) was called
	ready   chan struct{} // closed once sent or err is set
	closing chan struct{} // closed with closed: wakes the writers waiting for ready
	flushed chan struct{} // closed when flush has returned; nil until start
}

func newStdinPipe(ctx context.Context) *stdinPipe {
	w := &stdinPipe{ctx: context.Background(), ready: make(chan struct{}), closing: make(chan struct{})}
	if ctx != nil {
		w.ctx = ctx
	}
	return w
}

// Write keeps what is written before Start (up to stdinPipeBuffer; a
// longer write waits for Start, or for the Cmd's context to end), and
// sends to the command after it. From a callback it returns ErrInCallback.
func (w *stdinPipe) Write(b []byte) (n int, err error) {
	if err := refuseInCallback(); err != nil {
		return 0, err // the lock this would wait for is the callback's
	}
	for {
		w.mu.Lock()
		switch {
		case w.closed:
			w.mu.Unlock()
			return n, os.ErrClosed
		case w.err != nil:
			err := w.err
			w.mu.Unlock()
			return n, err
		case w.sent:
			ch := w.ch
			w.mu.Unlock()
			k, err := ch.Write(b)
			return n + k, err
		case w.ch == nil:
			// Not started: keep what fits.
			k := min(len(b), stdinPipeBuffer-len(w.buf))
			w.buf = append(w.buf, b[:k]...)
			n, b = n+k, b[k:]
			if len(b) == 0 {
				w.mu.Unlock()
				return n, nil
			}
		}
		ready, closing := w.ready, w.closing
		w.mu.Unlock()
		select {
		case <-ready:
		case <-closing:
		case <-w.ctx.Done():
			return n, w.ctx.Err()
		}
	}
}

// Close sends EOF once the command has started and received what was
// written before (at once when it has). It returns nil when the command
// has ended, and for a second Close.
func (w *stdinPipe) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.closing)
	sent, ch := w.sent, w.ch
	w.mu.Unlock()
	if !sent {
		return nil // flush sends EOF; or Start failed, and nothing is to be sent
	}
	if err := ch.CloseWrite(); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	return nil
}

// start is called by Start once the command runs: it starts sending what
// was written before. It does nothing to a pipe that an earlier Start
// failed (Start has sent EOF).
func (w *stdinPipe) start(ch *Channel) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	w.ch = ch
	w.flushed = make(chan struct{})
	go w.flush(ch, w.buf)
	w.buf = nil
}

// flush sends buf, then lets the writers write to ch, then sends EOF if
// the pipe was closed meanwhile.
func (w *stdinPipe) flush(ch *Channel, buf []byte) {
	defer close(w.flushed)
	var err error
	if len(buf) > 0 {
		_, err = ch.Write(buf)
	}
	w.mu.Lock()
	if err != nil {
		w.err = fmt.Errorf("libssh: stdin pipe: %w", err)
	} else {
		w.sent = true
	}
	close(w.ready)
	eof := w.closed && err == nil
	w.mu.Unlock()
	if eof {
		ch.CloseWrite() // fails only when the channel has ended
	}
}

// failed reports whether a Start failed the pipe.
func (w *stdinPipe) failed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err != nil
}

// fail is called when Start fails: writers waiting, and those to come, get
// an error wrapping Start's; what was kept is dropped. A started pipe is
// left alone.
func (w *stdinPipe) fail(startErr error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch != nil || w.err != nil {
		return
	}
	w.err = fmt.Errorf("libssh: stdin pipe of a command that did not start: %w", startErr)
	w.buf = nil
	close(w.ready)
}

// closeAfterWait is Wait's close, once the channel is closed: later writes
// fail with os.ErrClosed, and flush has returned.
func (w *stdinPipe) closeAfterWait() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.closing)
	}
	flushed := w.flushed
	w.mu.Unlock()
	if flushed != nil {
		<-flushed
	}
}

// outputPipe is what StdoutPipe and StderrPipe return.
type outputPipe struct {
	c      *Cmd
	stderr bool

	mu     sync.Mutex
	closed bool
}

func (r *outputPipe) Read(b []byte) (int, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return 0, os.ErrClosed
	}
	p := r.c.process()
	if p == nil {
		return 0, errors.New("libssh: read from a pipe of a command not started")
	}
	return streamReader(p.ch, r.stderr).Read(b)
}

// Close makes later reads fail; until Wait, the rest of the output is read
// and discarded, so that the command is not blocked.
func (r *outputPipe) Close() error {
	r.mu.Lock()
	closed := r.closed
	r.closed = true
	r.mu.Unlock()
	if closed {
		return nil
	}
	c := r.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Process == nil || c.waiting {
		return nil // nothing to read, or Wait closes the channel
	}
	src := streamReader(c.Process.ch, r.stderr)
	c.out.Add(1)
	go func() {
		defer c.out.Done()
		copyOutput(io.Discard, src)
	}()
	return nil
}

// process returns Process, or nil before Start.
func (c *Cmd) process() *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Process
}

// streamReader returns the reader of ch's standard output or error.
func streamReader(ch *Channel, stderr bool) io.Reader {
	if stderr {
		return ch.Stderr()
	}
	return ch
}

// lockedWriter serialises the writes of two goroutines to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// interfaceEqual reports whether a and b are the same writer, without
// panicking on writers of types that cannot be compared.
func interfaceEqual(a, b any) (equal bool) {
	defer func() {
		if recover() != nil {
			equal = false
		}
	}()
	return a == b
}

// collectHalf is how much of an unattached stream's start, and of its
// end, a Process keeps.
const collectHalf = 32 << 10

// outputSaver keeps the first and the last collectHalf bytes written to
// it.
type outputSaver struct {
	prefix []byte
	suffix []byte // a ring once full; pos is its oldest byte
	pos    int
	total  int64
}

func (s *outputSaver) Write(b []byte) (int, error) {
	n := len(b)
	s.total += int64(n)
	if room := collectHalf - len(s.prefix); room > 0 {
		k := min(room, len(b))
		s.prefix = append(s.prefix, b[:k]...)
		b = b[k:]
	}
	if len(b) >= collectHalf {
		s.suffix = append(s.suffix[:0], b[len(b)-collectHalf:]...)
		s.pos = 0
		return n, nil
	}
	if room := collectHalf - len(s.suffix); room > 0 {
		k := min(room, len(b))
		s.suffix = append(s.suffix, b[:k]...)
		b = b[k:]
	}
	for len(b) > 0 {
		k := copy(s.suffix[s.pos:], b)
		b = b[k:]
		s.pos = (s.pos + k) % collectHalf
	}
	return n, nil
}

// Bytes returns what was kept, with a line counting the bytes left out.
func (s *outputSaver) Bytes() []byte {
	out := append([]byte(nil), s.prefix...)
	if omitted := s.total - int64(len(s.prefix)+len(s.suffix)); omitted > 0 {
		out = fmt.Appendf(out, "\n... omitting %d bytes ...\n", omitted)
	}
	out = append(out, s.suffix[s.pos:]...)
	return append(out, s.suffix[:s.pos]...)
}
