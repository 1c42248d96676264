package libssh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"

	"github.com/golibssh/libssh/internal/cgocallback"
	"github.com/golibssh/libssh/lib"
)

// Session is one SSH connection. Make one with [NewSession]; Close it when
// done. Its methods are safe for concurrent use. A nil or zero Session is
// closed: its methods return errors matching [ErrClosed].
type Session struct {
	st      *sessionState
	cleanup runtime.Cleanup
}

// errNilSession is what the methods of a nil or zero Session return.
var errNilSession = fmt.Errorf("%w (the Session is nil or was not made by NewSession)", ErrClosed)

// errNoContext is what a call given a nil context returns.
var errNoContext = errors.New("libssh: nil context")

// state returns the session's state, or an error for a nil or zero Session.
func (s *Session) state() (*sessionState, error) {
	if s == nil || s.st == nil {
		return nil, errNilSession
	}
	return s.st, nil
}

// enter is how a method that takes a context begins: it refuses a nil or
// zero Session, a nil context and calls from callbacks.
func (s *Session) enter(ctx context.Context) (*sessionState, error) {
	st, err := s.state()
	if err != nil {
		return nil, err
	}
	if ctx == nil {
		return nil, errNoContext
	}
	if err := refuseInCallback(); err != nil {
		return nil, err
	}
	return st, nil
}

// begin is how a method without a context that calls libssh begins: it
// refuses a nil or zero Session and calls from callbacks, and takes the
// lock, which the caller releases.
func (s *Session) begin() (*sessionState, error) {
	st, err := s.state()
	if err != nil {
		return nil, err
	}
	if err := refuseInCallback(); err != nil {
		return nil, err
	}
	st.lock()
	return st, nil
}

// usable returns why the session cannot be used now, or nil.
func (s *Session) usable() error {
	st, err := s.begin()
	if err != nil {
		return err
	}
	defer st.unlock()
	return st.usableLocked()
}

// wrapped holds the libssh sessions that have a Session wrapper, so that a
// second wrapper (which would free the session twice, or drive it from two
// pumps) is refused.
var wrapped sync.Map // lib.Session → *sessionState (struct{} while WrapSession makes it)

func wrap(st *sessionState) *Session {
	s := &Session{st: st}
	stack := creationStack()
	s.cleanup = runtime.AddCleanup(s, func(st *sessionState) {
		// In a goroutine of its own: closing may wait (for the lock, for
		// the I/O goroutines), and cleanups share one goroutine.
		go func() {
			if st.close() {
				reportLeak("Session", stack)
			}
		}()
	}, st)
	return s
}

// NewSession makes a session for host and, unless [WithAutoConnect](false)
// says otherwise, connects it (see [Session.Connect]). It does not
// authenticate. With the default host key policy it does not check the
// server's key either: call [Session.VerifyHost], then one of the Userauth
// methods, or [Session.Authenticate], which does both. With
// [WithHostKeyCallback] it fails when the callback refuses the key.
//
// host is the name the server is known by: Go dials it (unless [WithConn]
// gives a connection), known_hosts is searched for it and GSSAPI uses it. The
// context bounds connecting; cancelling it makes NewSession return the
// context's error. On any error, a connection given with WithConn is closed.
//
//lockcheck:ok the session it makes is not shared before configure locks it
func NewSession(ctx context.Context, host string, opts ...Option) (*Session, error) {
	cfg, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	return newSession(ctx, host, cfg)
}

// applyOptions applies every option before reporting the first error, so
// that a connection given with WithConn is closed (on error) whatever its
// position.
func applyOptions(opts []Option) (config, error) {
	cfg := defaultConfig()
	var optErr error
	for _, o := range opts {
		if o == nil {
			if optErr == nil {
				optErr = errors.New("libssh: nil Option")
			}
			continue
		}
		if err := o(&cfg); err != nil && optErr == nil {
			optErr = err
		}
	}
	if optErr != nil {
		cfg.closeConn()
		return cfg, optErr
	}
	return cfg, nil
}

// closeConn closes the WithConn connection of a config that no session
// took.
func (cfg *config) closeConn() {
	if cfg.conn != nil {
		cfg.conn.Close()
		cfg.conn = nil
	}
}

// newSession is NewSession after the options.
//
//lockcheck:ok the session it makes is not shared before configure locks it
func newSession(ctx context.Context, host string, cfg config) (*Session, error) {
	fail := func(err error) (*Session, error) {
		cfg.closeConn()
		return nil, err
	}
	if ctx == nil {
		return fail(errNoContext)
	}
	if host == "" {
		return fail(errors.New("libssh: empty host name"))
	}
	if err := checkString("host name", host); err != nil {
		return fail(err)
	}
	s, err := newOwnedSession(cfg)
	if err != nil {
		return fail(err)
	}
	st := s.st
	if err := st.configure(host); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.autoConnect {
		if err := s.Connect(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// newOwnedSession makes a nonblocking libssh session owned by the Session
// it returns.
//
//lockcheck:ok the session it makes is not shared yet
func newOwnedSession(cfg config) (*Session, error) {
	p := lib.New()
	if p.IsNil() {
		return nil, errors.New("libssh: ssh_new failed (out of memory?)")
	}
	lib.SetBlocking(p, 0)
	return wrap(newState(p, true, cfg)), nil
}

// configure applies the options to the new session.
func (st *sessionState) configure(host string) error {
	st.lock()
	defer st.unlock()
	p, cfg := st.p, &st.cfg
	setStr := func(opt int, name, v string) error {
		if lib.OptionsSetString(p, opt, v) != lib.SSH_OK {
			return st.errorLocked("set "+name, fmt.Sprintf("libssh refused %q", v))
		}
		return nil
	}
	if err := setStr(lib.SSH_OPTIONS_HOST, "host", host); err != nil {
		return err
	}
	// The ssh directory first: ssh_config is read from it.
	if cfg.sshDir != nil {
		// Expanded here, so that libssh reads the directory the Go side
		// reads (sshDirPath): libssh would take "~user" without a slash
		// for a directory "user" in the user's own home.
		dir, err := sshDirPath(cfg.sshDir)
		if err != nil {
			return &Error{Op: "set ssh directory", Err: err}
		}
		if err := setStr(lib.SSH_OPTIONS_SSH_DIR, "ssh directory", dir); err != nil {
			return err
		}
	}
	st.origHost = host
	if cfg.processConfig {
		if lib.OptionsParseConfig(p) != lib.SSH_OK {
			return st.errorLocked("read ssh_config", "")
		}
		if err := st.proxyFromConfigLocked(host); err != nil {
			return err
		}
		if err := st.serverAliveLocked(host); err != nil {
			return err
		}
	}
	if cfg.port != 0 && lib.OptionsSetUint(p, lib.SSH_OPTIONS_PORT, uint(cfg.port)) != lib.SSH_OK {
		return st.errorLocked("set port", "")
	}
	if cfg.user != nil {
		if err := setStr(lib.SSH_OPTIONS_USER, "user", *cfg.user); err != nil {
			return err
		}
	} else if lib.OptionsGet(p, lib.SSH_OPTIONS_USER) == "" {
		// NULL makes libssh use the local user name.
		if lib.OptionsSetNull(p, lib.SSH_OPTIONS_USER) != lib.SSH_OK {
			return st.errorLocked("set user", "cannot find the local user name")
		}
	}
	if cfg.processConfig {
		if err := st.certConfigLocked(host); err != nil {
			return err
		}
	}
	// Never let libssh read ssh_config at connect (it was read above if
	// asked for): a config read then could make host key checking lenient.
	if lib.OptionsSetBool(p, lib.SSH_OPTIONS_PROCESS_CONFIG, 0) != lib.SSH_OK {
		return st.errorLocked("set process_config", "")
	}
	for _, o := range []struct {
		opt  int
		name string
		v    *string
	}{
		{lib.SSH_OPTIONS_KNOWNHOSTS, "known_hosts", cfg.knownHosts},
		{lib.SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "global known_hosts", cfg.globalKnownHosts},
		{lib.SSH_OPTIONS_IDENTITY_AGENT, "agent socket", cfg.agentSocket},
		{lib.SSH_OPTIONS_GSSAPI_SERVER_IDENTITY, "GSSAPI server identity", cfg.gssapiServer},
		{lib.SSH_OPTIONS_GSSAPI_CLIENT_IDENTITY, "GSSAPI client identity", cfg.gssapiClient},
	} {
		if o.v != nil {
			if err := setStr(o.opt, o.name, *o.v); err != nil {
				return err
			}
		}
	}
	if err := st.setAlgorithmsLocked(); err != nil {
		return err
	}
	if cfg.gssapiDelegate != nil {
		v := 0
		if *cfg.gssapiDelegate {
			v = 1
		}
		lib.OptionsSetInt(p, lib.SSH_OPTIONS_GSSAPI_DELEGATE_CREDENTIALS, v)
	}
	st.readPropertiesLocked()
	st.setupLoggingLocked()
	return nil
}

// setupLoggingLocked routes libssh's (thread-local) log to slog for this
// session, and reads the algorithms the key exchange chooses from the log
// (see Algorithms): until then the lock holder's thread logs at
// captureLevel at least, and the lines the user did not ask for are
// dropped.
func (st *sessionState) setupLoggingLocked() {
	level, logger := st.cfg.verbosity, st.cfg.logger
	if level < 0 {
		level = LogNone
		if logger != nil {
			level = LogWarning
		}
	}
	if logger == nil {
		logger = slog.Default()
	}
	if level > LogNone {
		// Setting the option also sets libssh's log level for the calling
		// OS thread: pin the goroutine until that is undone, or some other
		// thread would keep logging (to stderr) for whatever session runs
		// on it.
		runtime.LockOSThread()
		lib.OptionsSetInt(st.p, lib.SSH_OPTIONS_LOG_VERBOSITY, level)
		cgocallback.SetThreadLogging(0, nil)
		runtime.UnlockOSThread()
	}
	host := st.properties().host
	st.logger = cgocallback.NewLogger(func(priority int, function, message string) {
		// Called inside libssh on the lock holder's goroutine.
		if st.capturing {
			if n, ok := parseNegotiation(function, message); ok {
				st.negotiated = n
				st.endCaptureLocked()
			}
		}
		if priority > level {
			return
		}
		lvl := slog.LevelDebug - 4
		switch priority {
		case LogWarning:
			lvl = slog.LevelWarn
		case LogProtocol:
			lvl = slog.LevelInfo
		case LogPacket:
			lvl = slog.LevelDebug
		}
		logger.Log(context.Background(), lvl, message, "libssh", function, "host", host)
	})
	// The level takes effect at the next lock.
	st.userLogLevel = level
	st.capturing = true
	st.logLevel = max(level, captureLevel)
}

// endCaptureLocked stops reading the log for the negotiated algorithms:
// from the next lock on, the thread logs at the user's level.
func (st *sessionState) endCaptureLocked() {
	st.capturing = false
	st.logLevel = st.userLogLevel
}

// connectableLocked returns why Connect cannot go on, or nil.
func (st *sessionState) connectableLocked() error {
	switch err := st.usableLocked(); {
	case err == ErrClosed:
		return err
	case st.disconnected.Load():
		return errDisconnected
	case err == ErrNotConnected:
		return nil
	default:
		return err
	}
}

// errWasDisconnected is why a session ended by Disconnect ended (Err).
var errWasDisconnected = closedError("libssh: the session was disconnected")

// errDisconnected: Connect after Disconnect.
var errDisconnected = fmt.Errorf("%w: it was disconnected; make a new session to connect again", ErrNotConnected)

// Connect connects the session to its server: dials it (or uses the
// [WithConn] connection) and runs the key exchange. It does nothing when the
// session is connected already. Cancelling ctx makes it return the context's
// error; the session is then unusable and should be closed.
//
// Then it applies the host key policy when that needs no call of its own:
// with [WithHostKeyCallback] it runs the callback (which ctx does not
// bound), and returns its refusal as an error after closing the
// connection; with [InsecureIgnoreHostKey] it accepts the key. With the
// default policy, call [Session.VerifyHost] next.
//
// Uses ssh_connect.
func (s *Session) Connect(ctx context.Context) (err error) {
	st, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(s)
	if st.cfg.connectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, st.cfg.connectTimeout)
		defer cancel()
	}
	release, err := st.acquireSlot(ctx, st.callSem, ErrClosed)
	if err != nil {
		return err
	}
	defer release()

	if err := st.lockCtx(ctx); err != nil {
		return err
	}
	if st.connected && st.usableLocked() == nil {
		st.unlock()
		return nil
	}
	if err := st.connectableLocked(); err != nil {
		st.unlock()
		return err
	}
	st.readPropertiesLocked()
	props := st.properties()
	addr := net.JoinHostPort(props.host, strconv.Itoa(props.port))
	conn := st.cfg.conn
	st.cfg.conn = nil
	base := st.cfg // for ProxyJump hops
	jumps, proxyCmd := st.jumps, st.proxyCmd
	st.unlock()
	defer func() {
		if err != nil {
			// The session cannot connect again: its ProxyJump hops and
			// ProxyCommand are of no use any more.
			st.lock()
			d := st.takeDependentsLocked()
			st.unlock()
			closeDependents(d)
		}
	}()

	op := "connect to " + addr
	var proxy *proxyProcess
	switch {
	case conn != nil:
	case len(jumps) > 0:
		if conn, err = st.dialJumps(ctx, base, jumps, addr); err != nil {
			return err
		}
	case proxyCmd != "":
		if conn, proxy, err = st.startProxy(proxyCmd, props); err != nil {
			return &Error{Op: op, Message: "ProxyCommand", Err: err}
		}
	default:
		dial := st.cfg.dial
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		conn, err = dial(ctx, "tcp", addr)
		if err != nil {
			if conn != nil {
				conn.Close()
			}
			return &Error{Op: op, Err: err}
		}
		if conn == nil {
			return &Error{Op: op, Message: "the dialer returned neither a connection nor an error"}
		}
	}
	pl, fd, err := newNetPoller(conn)
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	drop := func() {
		syscallClose(fd)
		pl.close()
		pl.release()
	}
	if err := st.lockCtx(ctx); err != nil {
		drop()
		return err
	}
	if err := st.connectableLocked(); err != nil { // Close or Disconnect came while dialling
		st.unlock()
		drop()
		return err
	}
	st.setPollerLocked(pl)
	if lib.OptionsSetInt(st.p, lib.SSH_OPTIONS_FD, fd) != lib.SSH_OK {
		syscallClose(fd)
		err := st.errorLocked(op, "libssh refused the socket")
		st.setBrokenLocked(err)
		st.unlock()
		return err
	}
	st.useSocketLocked(fd)
	st.unlock()
	err = st.drive(ctx, func() (bool, error) {
		// Close or Disconnect may have ended the session meanwhile.
		if err := st.connectableLocked(); err != nil {
			return false, err
		}
		rc := lib.Connect(st.p)
		if st.ev.IsNil() && rc != lib.SSH_ERROR {
			if err := st.startIOLocked(); err != nil {
				st.setBrokenLocked(err)
				return false, err
			}
		}
		switch rc {
		case lib.SSH_OK:
			st.setConnectedLocked()
			st.readPropertiesLocked()
			if st.cfg.insecureHostKey {
				if err := st.acceptAnyLocked(); err != nil {
					st.setBrokenLocked(err)
					return false, err
				}
			}
			return true, nil
		case lib.SSH_ERROR:
			if err := st.interruptedErr(); err != nil {
				return false, err
			}
			err := st.errorLocked(op, "connection failed")
			st.setBrokenLocked(err)
			return false, err
		}
		return false, nil
	})
	if werr, waiting := abandoned(err); waiting {
		err = st.abandon(op, werr)
	}
	if err != nil && proxy != nil {
		// The session cannot connect again: end the command now, which
		// also collects the last of its standard error.
		proxy.Close()
		if said := proxy.said(); said != "" {
			err = fmt.Errorf("%w (the ProxyCommand's standard error: %q)", err, said)
		}
	}
	if err == nil && st.cfg.hostKeyCallback != nil {
		if err = st.checkByCallback(ctx); err != nil {
			st.lock()
			if st.closed {
				st.unlock()
				return err
			}
			stopper := st.refuseHostLocked(err)
			st.unlock()
			stopper.run()
		}
	}
	return err
}

// Disconnect says goodbye to the server and closes the connection, and with
// it every channel of the session; a Connect in progress ends with an error.
// The session stays open (IsOpen) but cannot connect again. Disconnecting
// twice does nothing.
//
// Uses ssh_disconnect.
func (s *Session) Disconnect() error {
	st, err := s.state()
	if err != nil {
		return err
	}
	if err := refuseInCallback(); err != nil {
		return err
	}
	defer runtime.KeepAlive(s)
	st.disconnected.Store(true)
	st.end(errWasDisconnected)
	st.lockInterrupting()
	if st.closed {
		st.unlock()
		return ErrClosed
	}
	stopper := st.teardownLocked(errSessionDisconnected)
	st.bumpLocked()
	dependents := st.takeDependentsLocked()
	st.unlock()
	stopper.run()
	closeDependents(dependents)
	return nil
}

// Close closes the session: it ends the connection (telling the server
// goodbye when it can), closes every channel, frees the C session, and wakes
// every goroutine waiting on the session with [ErrClosed]. Close is
// idempotent: later calls return nil. A call in progress on the session
// ends with ErrClosed: Close does not wait for it. Called from a callback
// of the session, Close takes effect when the callback returns; from a
// callback of another session it returns [ErrInCallback].
//
// Uses ssh_disconnect and ssh_free.
func (s *Session) Close() error {
	st, err := s.state()
	if err != nil {
		return err
	}
	if cs := callbackSession(); cs != nil && cs != st {
		return ErrInCallback
	}
	s.cleanup.Stop()
	st.close()
	return nil
}

// Done returns a channel that is closed when the session ends: when Close
// or Disconnect is called, when the connection is lost or closed by the
// server, or when a call abandoned while pending leaves the session
// unusable. [Session.Err] then says why. A session not connected yet has
// not ended. For a nil or zero Session the channel is closed already.
//
// Done watches the connection without any call in progress: the session's
// I/O goroutine reads the socket whenever input arrives. A server that
// stops answering without closing the connection is seen only with
// [WithKeepalive]; the session then ends with [ErrPeerUnresponsive].
func (s *Session) Done() <-chan struct{} {
	st, err := s.state()
	if err != nil {
		return closedChan
	}
	return st.ended
}

// Err returns nil while the session has not ended, and once Done is closed
// why it ended: [ErrClosed] after Close, an error matching it after
// Disconnect, or the error that broke the connection. The first reason
// stays. For a nil or zero Session it returns an error matching ErrClosed.
func (s *Session) Err() error {
	st, err := s.state()
	if err != nil {
		return err
	}
	return st.endReason()
}

// IsOpen reports whether the session is open: true until Close.
func (s *Session) IsOpen() bool {
	st, err := s.state()
	return err == nil && !st.closing.Load()
}

// IsConnected reports whether the session is connected to its server: it
// turns false as soon as the connection is found closed or broken.
//
// Uses ssh_is_connected and ssh_get_status.
func (s *Session) IsConnected() bool {
	st, err := s.state()
	return err == nil && !st.closing.Load() && st.alive.Load()
}

// inspect runs f with the session locked; in a callback of this session,
// whose goroutine holds the lock, it runs f directly, and in a callback of
// another session (or on a nil Session) not at all.
func (s *Session) inspect(f func(st *sessionState)) {
	st, err := s.state()
	if err != nil {
		return
	}
	defer runtime.KeepAlive(s)
	switch cs := callbackSession(); {
	case cs == st:
		f(st)
	case cs == nil:
		st.lock()
		defer st.unlock()
		f(st)
	}
}

// readPropertiesLocked caches the options libssh resolved.
func (st *sessionState) readPropertiesLocked() {
	if st.p.IsNil() {
		return
	}
	p := properties{
		host:       lib.OptionsGet(st.p, lib.SSH_OPTIONS_HOST),
		user:       lib.OptionsGet(st.p, lib.SSH_OPTIONS_USER),
		knownHosts: lib.OptionsGet(st.p, lib.SSH_OPTIONS_KNOWNHOSTS),
		port:       int(lib.OptionsGetPort(st.p)),
	}
	st.propMu.Lock()
	st.props = p
	st.propMu.Unlock()
}

// properties returns the cached options; it needs no lock.
func (st *sessionState) properties() properties {
	st.propMu.Lock()
	defer st.propMu.Unlock()
	return st.props
}

// property reads one of the cached options (see readPropertiesLocked): it
// works anywhere, in callbacks and after Close too.
func property[T any](s *Session, read func(p properties) T) T {
	st, err := s.state()
	if err != nil {
		var zero T
		return zero
	}
	return read(st.properties())
}

// Host returns the server's host name, as known_hosts knows it.
func (s *Session) Host() string { return property(s, func(p properties) string { return p.host }) }

// User returns the user name the session logs in as.
func (s *Session) User() string { return property(s, func(p properties) string { return p.user }) }

// KnownHostsPath returns the user's known_hosts file. Before connecting it is
// "" unless set with [WithKnownHosts]; libssh fills in its default then.
func (s *Session) KnownHostsPath() string {
	return property(s, func(p properties) string { return p.knownHosts })
}

// Port returns the server's port.
func (s *Session) Port() int { return property(s, func(p properties) int { return p.port }) }

// FD returns the socket descriptor libssh uses, or -1 when it has none
// (before connecting, after Close). It is for diagnostics: reading or
// writing it would corrupt the session.
//
// Uses ssh_get_fd.
func (s *Session) FD() int {
	fd := -1
	s.inspect(func(st *sessionState) {
		if !st.p.IsNil() {
			fd = lib.GetFd(st.p)
		}
	})
	return fd
}

// String describes the session, such as
// "libssh.Session(user@host:22, connected)".
func (s *Session) String() string {
	st, err := s.state()
	if err != nil {
		return "libssh.Session(nil)"
	}
	state := "connected"
	switch {
	case st.closing.Load():
		state = "closed"
	case !st.alive.Load():
		state = "not connected"
	}
	p := st.properties()
	return fmt.Sprintf("libssh.Session(%s@%s:%d, %s)", p.user, p.host, p.port, state)
}
