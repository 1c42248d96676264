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
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/lib"
)

// pumpRounds bounds how many packets the pump processes before it lets other
// goroutines take the session lock.
const pumpRounds = 64

// liveSessions counts ssh_session objects this package allocated and has
// not freed yet.
var liveSessions atomic.Int64

// Session is one SSH connection. Make one with [NewSession]; Close it when
// done. Its methods are safe for concurrent use.
type Session struct {
	st      *sessionState
	cleanup runtime.Cleanup
}

// sessionState is everything a Session owns. The pump goroutine refers to it,
// never to the Session, so an unreachable Session can still be cleaned up.
type sessionState struct {
	// mu guards every libssh call on the session (and, later, its
	// channels) and every field below. It is never held while waiting.
	mu sync.Mutex

	p     lib.Session // NULL once freed
	ev    lib.Event   // the pump's event; NULL before connecting and after teardown
	owned bool        // false: a WrapSession wrapper that must never free p

	cfg      config
	poller   atomic.Pointer[poller] // nil until connected; atomic for lockInterrupting, which cannot wait for the lock
	sockFD   int                    // the descriptor libssh was given, or -1
	pumpDone chan struct{}

	gen chan struct{} // closed and replaced after every pump round, and whenever libssh read input
	// counter is where libssh counts the bytes it reads from the socket,
	// and seenIn the count at the last wake-up. Any libssh call may read
	// and process input (a channel read, an EOF, a request), and the pump
	// never hears of input read before it looked: the kernel drops the
	// epoll event of data that is gone by then. So unlock wakes the
	// waiters whenever the count has moved.
	counter lib.Counter
	seenIn  uint64
	waiters atomic.Int32  // goroutines in waitLocked; changed with the lock held or after it was released
	done    chan struct{} // closed by Close

	// callSem serialises connect and authentication: libssh can have only
	// one such call pending per session.
	callSem chan struct{}

	closed        bool
	closing       atomic.Bool // set by Close before it interrupts calls in progress
	disconnected  atomic.Bool // set by Disconnect likewise; the session cannot connect again
	connected     bool
	authenticated bool
	// serviceAccepted: the server accepted the ssh-userauth service.
	serviceAccepted bool
	broken          error // the connection died, or a pending call was abandoned

	logLevel int
	logger   *callbacks.Logger
	pinned   bool // this lock holder pinned its thread for logging

	// channels are the session's live channels: teardown must take their
	// callbacks off and mark them dead before libssh frees them.
	channels map[*chanState]struct{}
	// deferred are channels closed from inside a callback; unlock closes
	// them once libssh has returned.
	deferred []*chanState
	// cbThread is the OS thread running a user's channel callback (there
	// is at most one per session: callbacks run under the lock), or 0.
	cbThread atomic.Int32

	// server is the message handler of a session made by AcceptSession,
	// freed after the session.
	server *callbacks.ServerRegistration
	// inHandler: the goroutine holding the lock runs the message handler
	// (not a channel callback), where SetCallbacks is allowed.
	inHandler bool

	// Properties as last read from libssh, for after Close.
	host, user, knownHosts string
	port                   int
}

// newState makes the state of a session p, which nothing shares yet.
//
//lockcheck:ok the session is not shared until newState returns
func newState(p lib.Session, owned bool, cfg config) *sessionState {
	liveSessions.Add(1)
	counter := lib.CounterNew() // NULL when out of memory: unlock then always wakes
	if !counter.IsNil() {
		lib.SetCounters(p, counter, lib.Counter{})
	}
	return &sessionState{
		p:        p,
		owned:    owned,
		cfg:      cfg,
		sockFD:   -1,
		gen:      make(chan struct{}),
		counter:  counter,
		done:     make(chan struct{}),
		callSem:  make(chan struct{}, 1),
		channels: map[*chanState]struct{}{},
	}
}

func wrap(st *sessionState) *Session {
	s := &Session{st: st}
	stack := creationStack()
	s.cleanup = runtime.AddCleanup(s, func(st *sessionState) {
		if st.close() {
			reportLeak("Session", stack)
		}
	}, st)
	return s
}

// NewSession makes a session for host and, unless [WithAutoConnect](false)
// says otherwise, connects it. It does not verify the server's host key and
// does not authenticate: call [Session.VerifyHost] and one of the Userauth
// methods next.
//
// host is the name the server is known by: Go dials it (unless [WithConn]
// gives a connection), known_hosts is searched for it and GSSAPI uses it. The
// context bounds connecting; cancelling it makes NewSession return the
// context's error. On any error, a connection given with WithConn is closed.
//
//lockcheck:ok the session it makes is not shared before configure locks it
func NewSession(ctx context.Context, host string, opts ...Option) (*Session, error) {
	cfg := defaultConfig()
	fail := func(err error) (*Session, error) {
		if cfg.conn != nil {
			cfg.conn.Close()
		}
		return nil, err
	}
	// Apply every option before reporting the first error, so that a
	// connection given with WithConn is closed whatever its position.
	var optErr error
	for _, o := range opts {
		if err := o(&cfg); err != nil && optErr == nil {
			optErr = err
		}
	}
	if optErr != nil {
		return fail(optErr)
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

// WrapSession wraps a session made with the low-level package lib, and
// switches it to nonblocking mode (this package drives libssh that way). An
// owned wrapper frees the session on Close; a wrapper that is not owned never
// frees or disconnects it (the caller must, after closing the wrapper).
// A session that is not connected yet connects with [Session.Connect], which
// dials the host and port set on it; one that is already connected keeps its
// socket and is then waited on with poll(2), which holds an OS thread while
// waiting. The wrapper sets the session's counters (ssh_set_counters) for
// its own use until it is closed: do not set them meanwhile.
func WrapSession(p lib.Session, owned bool) (*Session, error) {
	if p.IsNil() {
		return nil, errors.New("libssh: WrapSession of a NULL session")
	}
	cfg := defaultConfig()
	st := newState(p, owned, cfg)
	s := wrap(st)
	st.lock()
	lib.SetBlocking(p, 0)
	st.readPropertiesLocked()
	var err error
	if lib.IsConnected(p) == 1 {
		err = st.adoptConnectionLocked()
	}
	st.unlock()
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// adoptConnectionLocked takes over the socket of a session libssh connected
// itself. On failure it leaves the caller's session alone.
func (st *sessionState) adoptConnectionLocked() error {
	fd := lib.GetFd(st.p)
	pl, err := newFDPoller(fd)
	if err == nil {
		st.setPollerLocked(pl)
		st.sockFD, st.connected = fd, true
		err = st.startPumpLocked()
	}
	if err != nil {
		st.owned = false // Close must not free or disconnect what it could not adopt
	}
	return err
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
		if err := setStr(lib.SSH_OPTIONS_SSH_DIR, "ssh directory", *cfg.sshDir); err != nil {
			return err
		}
	}
	if cfg.processConfig {
		if lib.OptionsParseConfig(p) != lib.SSH_OK {
			return st.errorLocked("read ssh_config", "")
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

// setupLoggingLocked routes libssh's (thread-local) log to slog for this session.
func (st *sessionState) setupLoggingLocked() {
	level, logger := st.cfg.verbosity, st.cfg.logger
	if level < 0 {
		level = LogNone
		if logger != nil {
			level = LogWarning
		}
	}
	if level == LogNone {
		return
	}
	if logger == nil {
		logger = slog.Default()
	}
	// Setting the option also sets libssh's log level for the calling OS
	// thread: pin the goroutine until that is undone, or some other thread
	// would keep logging (to stderr) for whatever session runs on it.
	runtime.LockOSThread()
	lib.OptionsSetInt(st.p, lib.SSH_OPTIONS_LOG_VERBOSITY, level)
	callbacks.SetThreadLogging(0, nil)
	runtime.UnlockOSThread()
	host := st.host
	st.logger = callbacks.NewLogger(func(priority int, function, message string) {
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
	st.logLevel = level
}

// lock takes the session lock. With logging on, it pins the goroutine to
// its OS thread and points libssh's thread-local logging at this session.
//
// Called from inside a user's channel callback, whose goroutine already
// holds the lock, it panics with ErrInCallback instead of deadlocking; the
// callbacks package recovers the panic and the channel reports it.
func (st *sessionState) lock() {
	if st.lockUnlessInCallback() {
		panic(ErrInCallback)
	}
}

// lockUnlessInCallback takes the lock, unless the calling goroutine holds it
// already because it is running a user's channel callback; it reports that
// case.
func (st *sessionState) lockUnlessInCallback() (inCallback bool) {
	if !st.mu.TryLock() {
		if st.inCallback() {
			return true
		}
		st.mu.Lock()
	}
	st.afterLock()
	return false
}

// inCallback reports whether the calling goroutine is running a user's
// channel callback of this session (and so already holds the lock).
// During a callback from C the goroutine stays on the calling thread.
func (st *sessionState) inCallback() bool {
	tid := st.cbThread.Load()
	return tid != 0 && tid == int32(unix.Gettid())
}

// locked runs f with the session locked. Inside a user's channel callback,
// where this goroutine holds the lock already, it runs f directly.
func (st *sessionState) locked(f func()) {
	if !st.lockUnlessInCallback() {
		defer st.unlock()
	}
	f()
}

func (st *sessionState) afterLock() {
	if st.logLevel > 0 {
		runtime.LockOSThread()
		callbacks.SetThreadLogging(st.logLevel, st.logger)
		st.pinned = true
	}
}

func (st *sessionState) unlock() {
	st.runDeferredLocked()
	if st.inputReadLocked() {
		// libssh read input: someone may be waiting for it.
		if st.waiters.Load() > 0 {
			st.bumpLocked()
		} else if !st.counter.IsNil() {
			st.seenIn = st.counter.InBytes()
		}
	}
	if st.pinned {
		callbacks.SetThreadLogging(0, nil)
		runtime.UnlockOSThread()
		st.pinned = false
	}
	st.mu.Unlock()
}

// unlockFlushing unlocks, then lets libssh send what the call made under
// the lock left in its output buffer (libssh itself sends only when it sees
// the socket writable in a poll).
//
//lockcheck:ok its caller holds the lock, which it releases
func (st *sessionState) unlockFlushing() {
	st.runDeferredLocked()
	pending := st.writePendingLocked()
	pl := st.currentPoller()
	st.unlock()
	if pending && pl != nil {
		st.flush(pl)
	}
}

// writePendingLocked reports whether libssh has output it could not send yet.
func (st *sessionState) writePendingLocked() bool {
	return !st.p.IsNil() && lib.GetPollFlags(st.p)&lib.SSH_WRITE_PENDING != 0
}

// runDeferredLocked closes the channels closed from inside callbacks.
func (st *sessionState) runDeferredLocked() {
	for len(st.deferred) > 0 {
		c := st.deferred[0]
		st.deferred = st.deferred[1:]
		c.closeLocked()
	}
	st.deferred = nil
}

// inputReadLocked reports whether libssh has read input since the waiters
// were last woken (always, when there is no counter).
func (st *sessionState) inputReadLocked() bool {
	return st.counter.IsNil() || st.counter.InBytes() != st.seenIn
}

// bumpLocked wakes everyone waiting for the session to make progress.
func (st *sessionState) bumpLocked() {
	close(st.gen)
	st.gen = make(chan struct{})
	if !st.counter.IsNil() {
		st.seenIn = st.counter.InBytes()
	}
}

// errorLocked captures libssh's current error for op. fallback is used when
// libssh recorded no message (some failures set none).
func (st *sessionState) errorLocked(op, fallback string) *Error {
	e := &Error{Op: op, Message: fallback}
	if !st.p.IsNil() {
		if msg := lib.GetError(st.p); msg != "" {
			e.Message = msg
		}
		e.Code = ErrorCode(lib.GetErrorCode(st.p))
	}
	return e
}

// usableLocked returns why the session cannot be used now, or nil.
func (st *sessionState) usableLocked() error {
	switch {
	case st.closed, st.closing.Load():
		return ErrClosed
	case st.broken != nil:
		return st.broken
	case !st.connected:
		return ErrNotConnected
	}
	return nil
}

// interruptedErr returns the error for a libssh call that failed because
// Close or Disconnect shut the socket down under it, or nil.
func (st *sessionState) interruptedErr() error {
	switch {
	case st.closing.Load():
		return ErrClosed
	case st.disconnected.Load():
		return errDisconnected
	}
	return nil
}

// errDisconnected: Connect after Disconnect.
var errDisconnected = fmt.Errorf("%w: it was disconnected; make a new session to connect again", ErrNotConnected)

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

// acquire takes the right to make a connect or auth call; release returns it.
func (st *sessionState) acquire(ctx context.Context) (release func(), err error) {
	select {
	case st.callSem <- struct{}{}:
		return func() { <-st.callSem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-st.done:
		return nil, ErrClosed
	}
}

// waitLocked is called with the lock held after libssh asked to be called
// again. It flushes output libssh could not send yet, releases the lock, and
// waits for the pump's next round (or other input read), the context, or
// Close. It returns with the lock released.
func (st *sessionState) waitLocked(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		st.unlock()
		return err
	}
	if st.inputReadLocked() {
		// The call that asked to be called again read input itself, which
		// may be what the caller waits for: look before waiting.
		st.unlockFlushing()
		return nil
	}
	gen := st.gen
	st.waiters.Add(1)
	defer st.waiters.Add(-1)
	st.unlockFlushing()
	if pl := st.currentPoller(); pl != nil {
		pl.quickAck() // the reply this waits for is ACKed at once
	}
	select {
	case <-gen:
		select {
		case <-st.done: // Close bumps the generation too; it wins
			return ErrClosed
		default:
			return nil
		}
	case <-ctx.Done():
		return ctx.Err()
	case <-st.done:
		return ErrClosed
	}
}

// flush lets libssh send the output it has buffered, waiting for the socket
// to become writable when it is full. (Go's poller is edge-triggered: it may
// only wait for writability when the socket is really full, or no edge comes.)
func (st *sessionState) flush(pl poller) {
	pl.waitWrite(func(fd uintptr) bool {
		st.lock()
		defer st.unlock()
		if st.p.IsNil() || st.ev.IsNil() {
			return true
		}
		rc := lib.Flush(st.ev, st.p, int(fd), pumpRounds)
		st.bumpLocked()
		return rc != 1
	})
}

// abandon handles a wait for a pending libssh call that ended with err. When
// the context ended, libssh cannot cancel the call, so the session cannot be
// used any more; abandon records that and says so.
func (st *sessionState) abandon(op string, err error) error {
	if err == ErrClosed {
		return err
	}
	st.lock()
	defer st.unlock()
	err = &Error{Op: op, Message: "cancelled while pending; the session cannot be used any more", Err: err}
	if st.broken == nil {
		st.broken = err
	}
	return err
}

// startPumpLocked creates the session's event and starts the pump goroutine.
// It must follow the first ssh_connect call, which creates the poll context
// the event takes over.
func (st *sessionState) startPumpLocked() error {
	ev := lib.EventNew()
	if ev.IsNil() {
		return errors.New("libssh: ssh_event_new failed (out of memory?)")
	}
	if lib.EventAddSession(ev, st.p) != lib.SSH_OK {
		lib.EventFree(ev)
		return st.errorLocked("add session to event", "ssh_event_add_session failed")
	}
	st.ev = ev
	st.pumpDone = make(chan struct{})
	go st.pump(st.currentPoller(), st.pumpDone)
	return nil
}

// pump waits for input in the network poller and lets libssh process it,
// then wakes the waiters. Go's poller is edge-triggered, so each round drains
// the socket completely before waiting again.
func (st *sessionState) pump(pl poller, done chan struct{}) {
	defer close(done)
	pl.waitRead(func(fd uintptr) bool {
		defer pl.quickAck() // before waiting for more
		for {
			st.lock()
			if st.ev.IsNil() {
				st.unlock()
				return true
			}
			rc := lib.Pump(st.ev, int(fd), pumpRounds)
			if rc == lib.SSH_ERROR && st.broken == nil && st.interruptedErr() == nil {
				st.broken = st.errorLocked("connection", "connection lost")
			}
			st.runDeferredLocked()
			if rc != lib.SSH_ERROR && st.writePendingLocked() {
				// Send what callbacks and deferred closes queued, as far
				// as the socket takes it without waiting.
				lib.Flush(st.ev, st.p, int(fd), pumpRounds)
			}
			st.bumpLocked()
			st.unlock()
			switch rc {
			case 0:
				return false // drained: wait for more input
			case lib.SSH_ERROR:
				return true // nothing left to pump
			}
			runtime.Gosched()
		}
	})
}

// Connect connects the session to its server: dials it (or uses the
// [WithConn] connection) and runs the key exchange. It does nothing when the
// session is connected already. Cancelling ctx makes it return the context's
// error; the session is then unusable and should be closed.
//
// Uses ssh_connect.
func (s *Session) Connect(ctx context.Context) error {
	st := s.st
	if st.cfg.connectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, st.cfg.connectTimeout)
		defer cancel()
	}
	release, err := st.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()

	st.lock()
	if st.connected && st.usableLocked() == nil {
		st.unlock()
		return nil
	}
	if err := st.connectableLocked(); err != nil {
		st.unlock()
		return err
	}
	st.readPropertiesLocked()
	addr := net.JoinHostPort(st.host, strconv.Itoa(st.port))
	conn := st.cfg.conn
	st.cfg.conn = nil
	st.unlock()

	op := "connect to " + addr
	if conn == nil {
		dial := st.cfg.dial
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		conn, err = dial(ctx, "tcp", addr)
		if err != nil {
			return &Error{Op: op, Err: err}
		}
	}
	pl, fd, err := newNetPoller(conn)
	if err != nil {
		return &Error{Op: op, Err: err}
	}

	st.lock()
	if err := st.connectableLocked(); err != nil { // Close or Disconnect came while dialling
		st.unlock()
		syscallClose(fd)
		pl.close()
		pl.release()
		return err
	}
	st.setPollerLocked(pl)
	if lib.OptionsSetInt(st.p, lib.SSH_OPTIONS_FD, fd) != lib.SSH_OK {
		syscallClose(fd)
		err := st.errorLocked(op, "libssh refused the socket")
		st.broken = err
		st.unlock()
		return err
	}
	st.sockFD = fd
	for {
		// Close or Disconnect may have ended the session while this call
		// waited.
		if err := st.connectableLocked(); err != nil {
			st.unlock()
			return err
		}
		rc := lib.Connect(st.p)
		if st.ev.IsNil() && rc != lib.SSH_ERROR {
			if err := st.startPumpLocked(); err != nil {
				st.broken = err
				st.unlock()
				return err
			}
		}
		switch rc {
		case lib.SSH_OK:
			st.connected = true
			st.readPropertiesLocked()
			st.unlock()
			return nil
		case lib.SSH_ERROR:
			if err := st.interruptedErr(); err != nil {
				st.unlock()
				return err
			}
			err := st.errorLocked(op, "connection failed")
			if st.broken == nil {
				st.broken = err
			}
			st.unlock()
			return err
		}
		if err := st.waitLocked(ctx); err != nil {
			return st.abandon(op, err)
		}
		st.lock()
	}
}

// Disconnect says goodbye to the server and closes the connection, and with
// it every channel of the session; a Connect in progress ends with an error.
// The session stays open (IsOpen) but cannot connect again. Disconnecting
// twice does nothing.
//
// Uses ssh_disconnect.
func (s *Session) Disconnect() error {
	st := s.st
	if st.inCallback() {
		panic(ErrInCallback)
	}
	st.disconnected.Store(true)
	st.lockInterrupting()
	if st.closed {
		st.unlock()
		return ErrClosed
	}
	pl, pumpDone := st.teardownLocked(errSessionDisconnected)
	st.bumpLocked()
	st.unlock()
	st.stopPoller(pl, pumpDone)
	return nil
}

// teardownLocked stops the event loop and ends the connection, politely
// when it is still alive. It returns the poller and the pump's done channel
// for stopPoller, which must be called after unlocking.
func (st *sessionState) teardownLocked(reason error) (poller, chan struct{}) {
	st.killChannelsLocked(reason)
	if !st.ev.IsNil() {
		lib.EventRemoveSession(st.ev, st.p)
		lib.EventFree(st.ev)
		st.ev = lib.Event{}
	}
	pl := st.currentPoller()
	if st.owned && st.connected && st.broken == nil && lib.IsConnected(st.p) == 1 {
		lib.Disconnect(st.p)
		// ssh_disconnect forgets the socket (some libssh versions close it,
		// others do not). Close the descriptor only if it still is ours:
		// the same socket as Go's, not a number reused since.
		if st.sockFD >= 0 && pl != nil && pl.sameSocket(st.sockFD) {
			syscallClose(st.sockFD)
		}
		st.sockFD = -1
	} else if st.owned && pl != nil {
		// Not connected yet, or the connection broke: libssh's copy of
		// the socket would keep it open until ssh_free. End it now.
		pl.shutdown()
	}
	st.connected = false
	st.setPollerLocked(nil)
	pumpDone := st.pumpDone
	st.pumpDone = nil
	return pl, pumpDone
}

// stopPoller closes the poller, which ends the pump, and waits for the pump.
func (st *sessionState) stopPoller(pl poller, pumpDone chan struct{}) {
	if pl == nil {
		return
	}
	pl.close()
	if pumpDone != nil {
		<-pumpDone
	}
	pl.release()
}

// lockInterrupting takes the lock for Close and Disconnect. When another
// goroutine holds it — possibly inside a libssh call blocked on the socket —
// it shuts the socket down first, which makes that call return.
func (st *sessionState) lockInterrupting() {
	if !st.mu.TryLock() {
		if st.inCallback() {
			panic(ErrInCallback)
		}
		if pl := st.currentPoller(); pl != nil {
			pl.shutdown()
		}
		st.mu.Lock()
	}
	st.afterLock()
}

func (st *sessionState) setPollerLocked(pl poller) {
	if pl == nil {
		st.poller.Store(nil)
	} else {
		st.poller.Store(&pl)
	}
}

// currentPoller returns the poller, or nil. It needs no lock, for
// lockInterrupting's sake.
func (st *sessionState) currentPoller() poller {
	if p := st.poller.Load(); p != nil {
		return *p
	}
	return nil
}

// Close closes the session: it ends the connection (telling the server
// goodbye when it can), closes every channel, frees the C session, and wakes
// every goroutine waiting on the session with [ErrClosed]. Close is
// idempotent: later calls return nil. A Close while another goroutine is
// inside a libssh call shuts the socket down to end that call first.
//
// Uses ssh_disconnect and ssh_free.
func (s *Session) Close() error {
	if s.st.inCallback() {
		panic(ErrInCallback) // before the cleanup is stopped: the session stays as it was
	}
	s.cleanup.Stop()
	s.st.close()
	return nil
}

// close closes the session; it reports whether it was open.
func (st *sessionState) close() bool {
	if st.inCallback() {
		panic(ErrInCallback)
	}
	st.closing.Store(true)
	st.lockInterrupting()
	if st.closed {
		st.unlock()
		return false
	}
	st.closed = true
	close(st.done)
	pl, pumpDone := st.teardownLocked(errSessionClosed)
	if !st.p.IsNil() {
		if st.owned {
			lib.Free(st.p) // closes libssh's descriptor if still open
		} else if !st.counter.IsNil() {
			lib.SetCounters(st.p, lib.Counter{}, lib.Counter{}) // the caller's session outlives the counter
		}
		st.p = lib.Session{}
		liveSessions.Add(-1)
	}
	if !st.counter.IsNil() {
		lib.CounterFree(st.counter)
		st.counter = lib.Counter{}
	}
	st.server.Free()
	st.bumpLocked()
	if st.logger != nil {
		st.logger.Close()
	}
	conn := st.cfg.conn
	st.cfg.conn = nil
	st.unlock()
	st.stopPoller(pl, pumpDone)
	if conn != nil {
		conn.Close()
	}
	return true
}

// IsOpen reports whether the session is open: true until Close.
func (s *Session) IsOpen() bool {
	st := s.st
	st.lock()
	defer st.unlock()
	return !st.closed
}

// IsConnected reports whether the session is connected to its server.
//
// Uses ssh_is_connected.
func (s *Session) IsConnected() bool {
	st := s.st
	st.lock()
	defer st.unlock()
	return st.usableLocked() == nil && lib.IsConnected(st.p) == 1
}

// Wait waits until the session has processed input from the server (the next
// socket event), the context ends, or the session closes. It is a building
// block for polling loops; most callers never need it.
func (s *Session) Wait(ctx context.Context) error {
	st := s.st
	st.lock()
	if err := st.usableLocked(); err != nil {
		st.unlock()
		return err
	}
	return st.waitLocked(ctx)
}

// LastError returns libssh's message for the session's last error, or ""
// (after Close too).
//
// Uses ssh_get_error.
func (s *Session) LastError() string {
	st := s.st
	st.lock()
	defer st.unlock()
	if st.p.IsNil() {
		return ""
	}
	return lib.GetError(st.p)
}

// readPropertiesLocked caches the options libssh resolved.
func (st *sessionState) readPropertiesLocked() {
	if st.p.IsNil() {
		return
	}
	st.host = lib.OptionsGet(st.p, lib.SSH_OPTIONS_HOST)
	st.user = lib.OptionsGet(st.p, lib.SSH_OPTIONS_USER)
	st.knownHosts = lib.OptionsGet(st.p, lib.SSH_OPTIONS_KNOWNHOSTS)
	st.port = int(lib.OptionsGetPort(st.p))
}

// property reads one of the options libssh resolved (the cached value after
// Close).
func property[T any](s *Session, read func(st *sessionState) T) T {
	st := s.st
	st.lock()
	defer st.unlock()
	st.readPropertiesLocked()
	return read(st)
}

// Host returns the server's host name, as known_hosts knows it.
func (s *Session) Host() string { return property(s, func(st *sessionState) string { return st.host }) }

// User returns the user name the session logs in as.
func (s *Session) User() string { return property(s, func(st *sessionState) string { return st.user }) }

// KnownHostsPath returns the user's known_hosts file. Before connecting it is
// "" unless set with [WithKnownHosts]; libssh fills in its default then.
func (s *Session) KnownHostsPath() string {
	return property(s, func(st *sessionState) string { return st.knownHosts })
}

// Port returns the server's port.
func (s *Session) Port() int { return property(s, func(st *sessionState) int { return st.port }) }

// FD returns the socket descriptor libssh uses, or -1 when it has none
// (before connecting, after Close). It is for diagnostics: reading or
// writing it would corrupt the session.
//
// Uses ssh_get_fd.
func (s *Session) FD() int {
	st := s.st
	st.lock()
	defer st.unlock()
	if st.p.IsNil() {
		return -1
	}
	return lib.GetFd(st.p)
}

// String describes the session, such as
// "libssh.Session(user@host:22, connected)".
func (s *Session) String() string {
	st := s.st
	st.lock()
	defer st.unlock()
	state := "connected"
	if err := st.usableLocked(); err != nil {
		state = "not connected"
		if st.closed {
			state = "closed"
		}
	}
	return fmt.Sprintf("libssh.Session(%s@%s:%d, %s)", st.user, st.host, st.port, state)
}

// WithLib calls f with the session locked and its libssh session, for
// libssh calls this package does not wrap (through package lib). f must
// not keep p, free it, or call methods of s or its channels; libssh runs
// nonblocking, so a call may answer SSH_AGAIN. It returns f's error, or
// [ErrClosed] after Close.
func (s *Session) WithLib(f func(p lib.Session) error) error {
	st := s.st
	st.lock()
	defer st.unlockFlushing()
	if st.p.IsNil() {
		return ErrClosed
	}
	return f(st.p)
}
