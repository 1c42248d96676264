package libssh

// The engine: how a session drives libssh without ever hanging a caller.
//
// Invariants (docs/design.md explains why each exists):
//
//  1. The lock. st.sem, a one-slot channel, is the session's lock. It guards
//     every libssh call on the session and its channels and every field of
//     sessionState and chanState not marked otherwise. "lock" means this and
//     nothing else. lock() waits for it unconditionally (for the engine's own
//     goroutines and for calls that take no context: nothing holds it for
//     long, see 3); lockCtx(ctx) gives up when ctx ends or the session
//     closes; lockWithin(d), for the keepalive timer, after d. A function
//     named ...Locked is called with the lock held and returns with it
//     held. waitLocked and its variants (waitOnLocked, and waitInputLocked
//     for a writer short of window) are the functions that are called
//     locked and return unlocked; drive and the public methods take and
//     release the lock themselves.
//  2. One owner for the socket. The socket is nonblocking for libssh at all
//     times (libssh clears O_NONBLOCK on the first writability of a
//     connecting socket; unlock sets it back until the session is connected).
//     Only the session's two I/O goroutines wait on it: the pump for input,
//     the flusher for writability while libssh holds unsent output. unlock
//     kicks the flusher when the hold's last flush left output (unsent). A
//     pump that wakes while another goroutine holds the lock leaves its
//     turn to that holder, whose unlock takes it (lockForPump). One caller
//     waits on the socket, without the lock and for at most 2 ms: a writer
//     short of window (waitInputLocked), to which the pump also leaves its
//     turn. A reader that finds nothing
//     buffered runs a few of the pump's rounds itself before it waits
//     (assistLocked), as any libssh call may read input; it never waits.
//  3. Nothing under the lock waits for a third party that a context cannot
//     stop: libssh's socket I/O never blocks (2); the agent is reached
//     through a relay Go owns and cuts (agentrelay.go). GSSAPI's KDC traffic
//     and known_hosts file access are the exceptions, documented on the
//     methods that do them.
//  4. Waits. A waiter takes the generation channel st.gen under the lock,
//     unlocks and selects on it, its context and st.done. bumpLocked closes
//     and replaces st.gen (once a waiter took it: genTaken) after every pump
//     and flush round, and unlock does, when someone waits (st.waiters),
//     whenever libssh read input during the call (the counter rule: any
//     libssh call may read input, and the kernel does not tell the pump about
//     input that is gone by the time it looks, so unlock compares libssh's
//     input byte counter with the count at the last wake-up). A channel's
//     readers wait on the stream's readGen instead, which bumpLocked closes
//     only when the channel received something for that stream
//     (chanState.activityLocked), and Channel.Wait on a third one that only
//     the channel's EOF, close, exit status and signal end (endStream).
//  5. One drive loop. Every libssh call that answers "again" runs through
//     drive: lock, step, and while the step is not done, wait and lock again.
//     The step checks whether the session and channel are still usable.
//  6. Fatal state is read, not inferred: after every pump and flush round
//     and every failed call, checkStatusLocked reads ssh_get_status; a closed
//     or failed connection sets st.broken, which every waiter then returns.
//     The one inference: with WithKeepalive, silence past its count breaks
//     the session with ErrPeerUnresponsive (keepalive.go).
//  7. Callbacks. Channel callbacks and a message handler (a server's, or
//     the client's that takes forwarded-tcpip channels) run on the
//     goroutine that is inside libssh, with the lock held. They are run
//     through a guard that records their OS thread (callbackThreads), so a
//     call back into this package is recognised before it takes the lock or
//     any other mutex or slot: it works (cached facts and the channel's state
//     queries), is deferred until the libssh call returns (Channel.Close,
//     Session.Close), or returns ErrInCallback. A call from a callback into
//     another session is refused the same way.
//  8. Deferred closes. Channels closed from a callback are closed by the
//     next unlock; a session closed from a callback is closed by a goroutine
//     that unlock starts.
//  9. Close never queues behind a call: it marks the session closing, closes
//     st.done (which ends every wait and every lockCtx), cuts the agent
//     relay, and takes the lock, which nothing holds for long (after
//     closeGrace it shuts the socket down under the holder). On the way out
//     it waits up to closeGrace for libssh's unsent output, so that the
//     goodbye is not lost behind it: the one bounded wait for the socket
//     under the lock; after the goodbye it reads what the server still
//     sends until it closes, for another closeGrace at most, so that
//     closing does not reset the connection before the server read it.

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/golibssh/libssh/internal/cgocallback"
	"github.com/golibssh/libssh/lib"
)

// pumpRounds bounds how many rounds (one read of at most 4 KiB each, and the
// packets it completes) the pump runs before it lets other goroutines take
// the session lock. Short turns let readers drain libssh's buffers while
// they are small: with 50 channels downloading at once, 4 rounds took a
// third less client CPU than 64 (three interleaved runs of
// BenchmarkManyChannels, 1.9-2.0 s against 2.7-3.0 s), and one download
// the same.
const pumpRounds = 4

// unlockTurns bounds the pump's turns an unlock takes for it (at most 1
// MiB of input, about a millisecond of libssh's work), after which the
// pump's helper goroutine takes the rest. While the lock's holder reads
// a fast download, taking the turns inline spares a goroutine hand-off
// per turn: 2 turns, then the helper, ran a 64 MiB download 12 % slower
// than waiting for the lock, 64 turns 2 % (paired medians of 12
// interleaved rounds; SFTP gets 11 % faster than with 2 turns).
const unlockTurns = 64

// assistRounds bounds how many rounds a reader that found nothing buffered
// runs of the pump's work itself before it waits (assistLocked).
const assistRounds = 8

// liveSessions counts ssh_session objects this package allocated and has
// not freed yet.
var liveSessions atomic.Int64

// sessionState is everything a Session owns. The I/O goroutines refer to it,
// never to the Session, so an unreachable Session can still be cleaned up.
type sessionState struct {
	// sem is the session lock (invariant 1).
	sem chan struct{}
	// lockHolder is the goroutine holding sem, in lockassert builds.
	lockHolder holder

	p     lib.Session // NULL once freed
	ev    lib.Event   // the pump's event; NULL before connecting and after teardown
	owned bool        // false: a WrapSession wrapper that must never free p

	cfg    config
	poller atomic.Pointer[poller] // nil until connected; atomic for interrupt, which cannot wait for the lock
	sockFD int                    // the descriptor libssh was given, or -1
	// readahead: the buffer under libssh's reads of sockFD (lib.ReadaheadRegister's
	// id), or 0; see useSocketLocked.
	readahead uint64
	// nonblockOK: the socket was seen nonblocking after connecting, when
	// libssh no longer changes its flags.
	nonblockOK bool
	ioDone     []chan struct{} // closed when the pump, the flusher and the pump's helper end
	ioStop     chan struct{}   // closed by teardown: the flusher and the pump's helper stop
	kick       chan struct{}   // one slot: libssh has output to send
	// pumpWanted: the pump woke for input while the lock was busy, and went
	// back to waiting; whoever unlocks next takes its turn (lockForPump).
	// held: the lock is held (set after taking it, cleared before
	// releasing it), which lockForPump reads instead of the channel, whose
	// failed non-blocking send is no synchronizing operation.
	pumpWanted atomic.Bool
	held       atomic.Bool
	// pumpKick wakes the pump's helper, which takes the pump's turns with
	// the lock waited for when an unlock left input (pumpForThePump).
	pumpKick chan struct{}

	gen chan struct{} // closed and replaced after every round (invariant 4)
	// genTaken: a waiter took gen since it was made; a round that finds it
	// untaken keeps it (nobody to wake), which spares a channel per round.
	genTaken bool
	counter  lib.Counter   // libssh's count of the bytes it read
	seenIn   uint64        // counter at the last wake-up
	inAtLock uint64        // counter when the lock was taken (socketReadLocked)
	ackOut   uint64        // the output counter when quickAck was last due
	waiters  atomic.Int32  // goroutines in waitLocked
	done     chan struct{} // closed when Close begins
	// sleeper: the writer waiting for input in the kernel, if any
	// (waitInputLocked); sleeps counts those waits, which end after
	// sleepMax (a test's setting; 0 means defaultSleepMax).
	sleeper  kernelWake
	sleeps   atomic.Uint64
	sleepMax time.Duration

	// ended is closed, and endErr set, when the session ends: it closes,
	// disconnects, or breaks (Session.Done and Session.Err).
	endMu  sync.Mutex
	ended  chan struct{}
	endErr error

	// callSem serialises connect and authentication: libssh can have only
	// one such call pending per session.
	callSem chan struct{}

	closed        bool
	closing       atomic.Bool // Close began: the session is unusable
	disconnected  atomic.Bool // Disconnect began; the session cannot connect again
	closeDeferred bool        // Close was called from a callback: unlock closes
	connected     bool
	alive         atomic.Bool // connected and not broken, for IsConnected from anywhere
	authenticated bool
	// hostKey is the server key a host key policy accepted for this
	// connection (hostkey.go), or nil: the Userauth calls send nothing
	// while it is nil.
	hostKey *PublicKey
	// hostKeyRun is the WithHostKeyCallback callback's run in progress, or
	// nil (hostkey.go): the callers that need its verdict share it.
	hostKeyRun *hostKeyRun
	// hostKeyRuns counts the goroutines running the host key callback.
	hostKeyRuns sync.WaitGroup
	// serviceAccepted: the server accepted the ssh-userauth service.
	serviceAccepted bool
	broken          error // the connection died, or a pending call was abandoned

	logLevel     int // libssh's log level for the lock holder's thread
	userLogLevel int // the level the user asked for
	logger       *cgocallback.Logger
	pinned       bool // this lock holder pinned its thread for logging
	// unsent: libssh may hold output it has not sent. Every lock hold
	// starts with it set; flushLocked, called after a hold's last libssh
	// call, replaces it with what it found, and unlock kicks the flusher
	// only while it is set.
	unsent bool
	// capturing: the key exchange has not chosen its algorithms yet, and
	// the logger looks for the line that says what it chose (negotiated).
	capturing  bool
	negotiated negotiation

	// channels are the session's live channels: teardown must take their
	// callbacks off and mark them dead before libssh frees them.
	channels map[*chanState]struct{}
	// channelsGone is why the channels were killed (teardown): from then
	// on no channel is adopted and the server's message handler is not
	// called, though teardown's goodbye still processes input, which may
	// open channels; libssh frees those with the session.
	channelsGone error
	// deferred are channels closed from inside a callback (invariant 8).
	deferred []*chanState

	// ka runs WithKeepalive's rounds once the session is authenticated;
	// nil when keepalives are off.
	ka *keepalive
	// fwd is the remote forwarding state (listen.go), which shares
	// libssh's global-request slot with ka.
	fwd remoteForwards

	// agent relays libssh's agent connections (agentrelay.go), or holds
	// nil. Atomic for lockInterrupting, which cuts it without the lock.
	agent atomic.Pointer[agentRelay]
	// agentFwd serves the agent channels the server opens once a channel
	// asked for agent forwarding (agentforward.go).
	agentFwd agentForwarding

	// server is the message handler of a session made by AcceptSession,
	// freed after the session.
	server *cgocallback.ServerRegistration
	// inHandler: the goroutine holding the lock runs the message handler
	// (not a channel callback), where SetCallbacks is allowed.
	inHandler bool

	// jumps are ssh_config's ProxyJump hops and proxyCmd its ProxyCommand
	// (with WithProxyCommand), which Connect goes through (proxy.go);
	// origHost is the host name NewSession was given (%n).
	jumps    []jumpHop
	proxyCmd string
	origHost string
	// dependents are closed after the session: its ProxyJump hops and its
	// ProxyCommand process.
	dependents []io.Closer

	// props are the options libssh resolved, for reading without the lock
	// (from callbacks, after Close).
	propMu sync.Mutex
	props  properties
}

// properties are the session facts that can be read at any time.
type properties struct {
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
	st := &sessionState{
		sem:      make(chan struct{}, 1),
		p:        p,
		owned:    owned,
		cfg:      cfg,
		sockFD:   -1,
		kick:     make(chan struct{}, 1),
		pumpKick: make(chan struct{}, 1),
		gen:      make(chan struct{}),
		counter:  counter,
		done:     make(chan struct{}),
		ended:    make(chan struct{}),
		callSem:  make(chan struct{}, 1),
		channels: map[*chanState]struct{}{},
		fwd:      remoteForwards{sem: make(chan struct{}, 1)},
	}
	wrapped.Store(p, st)
	return st
}

// --- callbacks (invariant 7) ---

// callbackThreads maps the OS thread id of every thread running a user's
// callback or message handler to its session; callbacksRunning counts them,
// so that the common case (none) costs one atomic load.
var (
	callbackThreads  sync.Map // int32 → *sessionState
	callbacksRunning atomic.Int32
)

// callbackSession returns the session whose callback the calling goroutine
// is running, or nil. During a callback from C the goroutine stays on the
// calling thread.
func callbackSession() *sessionState {
	if callbacksRunning.Load() == 0 {
		return nil
	}
	if v, ok := callbackThreads.Load(int32(unix.Gettid())); ok {
		return v.(*sessionState)
	}
	return nil
}

// inCallback reports whether the calling goroutine runs a callback of st
// (and so holds st's lock already).
func (st *sessionState) inCallback() bool { return callbackSession() == st }

// enterCallback records that the calling thread runs a callback of st; the
// function it returns undoes that.
func (st *sessionState) enterCallback() (exit func()) {
	tid := int32(unix.Gettid())
	prev, nested := callbackThreads.Swap(tid, st)
	callbacksRunning.Add(1)
	return func() {
		callbacksRunning.Add(-1)
		if nested {
			callbackThreads.Store(tid, prev)
		} else {
			callbackThreads.Delete(tid)
		}
	}
}

// refuseInCallback returns ErrInCallback when the calling goroutine runs any
// session's callback: the methods that call it can neither run there (the
// lock is held, or another session's lock could be taken in the wrong order)
// nor be deferred.
func refuseInCallback() error {
	if callbackSession() != nil {
		return ErrInCallback
	}
	return nil
}

// --- the lock (invariant 1) ---

// lock takes the session lock, waiting as long as it takes. Public methods
// call refuseInCallback (or inCallback) first.
func (st *sessionState) lock() {
	st.sem <- struct{}{}
	st.afterLock()
}

// lockCtx takes the session lock unless ctx ends or the session closes
// first.
func (st *sessionState) lockCtx(ctx context.Context) error {
	select {
	case st.sem <- struct{}{}:
	default:
		select {
		case st.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-st.done:
			return ErrClosed
		}
	}
	st.afterLock()
	return nil
}

// tryLock takes the lock if it is free.
func (st *sessionState) tryLock() bool {
	select {
	case st.sem <- struct{}{}:
		st.afterLock()
		return true
	default:
		return false
	}
}

// lockWithin takes the lock unless it stays busy for d or the session
// closes first.
func (st *sessionState) lockWithin(d time.Duration) bool {
	if st.tryLock() {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return st.lockCtx(ctx) == nil
}

// afterLock points libssh's thread-local logging at this session, pinning
// the goroutine to its thread until unlock.
func (st *sessionState) afterLock() {
	st.held.Store(true)
	st.heldBy()
	st.unsent = true
	st.inAtLock = st.inCountLocked()
	if st.logLevel > 0 {
		runtime.LockOSThread()
		cgocallback.SetThreadLogging(st.logLevel, st.logger)
		st.pinned = true
	}
}

// unlock runs the deferred closes, keeps the socket nonblocking, wakes the
// waiters when libssh read input, kicks the flusher when libssh has output to
// send, and releases the lock; then it takes the pump's turn if the pump
// left it (lockForPump).
func (st *sessionState) unlock() {
	st.drainReadaheadLocked()
	left := st.unlockNoTurn()
	switch {
	case st.pumpWanted.Load():
		st.pumpForThePump()
	case left:
		kickSlot(st.pumpKick)
	}
}

// drainReadaheadLocked lets libssh process the input the socket's
// read-ahead buffer holds, at most a buffer's worth (readaheadRounds
// rounds of 4 KiB), and sends what that queued. libssh's calls other than
// the pump's turns (a flush, a read, a write, an assist) read the socket
// once or a few times and may leave input in the buffer, and the poller,
// which reports new input in the kernel only, would never say it is there:
// before this, a reader could wait for ever for data in the buffer.
// Processing it here costs no goroutine hand-off; kicking the pump's
// helper for it instead cost a tenth of the rate of a push through
// DialContext (docs/design.md, "Reading the socket").
func (st *sessionState) drainReadaheadLocked() {
	if st.ev.IsNil() || st.broken != nil || st.closeDeferred || !st.socketReadLocked() {
		return
	}
	ran := false
	for r := 0; r < readaheadRounds && st.inputLeftLocked(); r++ {
		ran = true
		if _, alive := st.readInputLocked(1); !alive {
			break
		}
	}
	if ran {
		// (This flush may read input too: what it leaves goes to the
		// pump's helper, see unlock.)
		st.flushLocked()
	}
}

// socketReadLocked says whether libssh received input during this hold
// of the lock: only then can the read-ahead buffer hold input the hold
// left (a hold that did not read leaves it as the last one did). It costs
// no cgo call, which a slow reader's many small reads would feel.
func (st *sessionState) socketReadLocked() bool { return st.readSinceLocked(st.inAtLock) }

// inputLeftLocked says whether the socket's read-ahead buffer holds input.
// The socket must still be libssh's: libssh closes it itself on some
// errors, which drops the buffer, and the number may be another session's
// by now.
func (st *sessionState) inputLeftLocked() bool {
	return st.readahead != 0 && !st.p.IsNil() && lib.GetFd(st.p) == st.sockFD &&
		lib.ReadaheadBuffered(st.sockFD) > 0
}

// readaheadRounds bounds drainReadaheadLocked: libssh reads 4 KiB a round,
// and the buffer holds at most 64 KiB.
const readaheadRounds = 16

// unlockNoTurn is unlock without the pump's turn. It reports whether input
// is left in the socket's read-ahead buffer (see drainReadaheadLocked; the
// pump's turns track that themselves), which unlock hands to the pump's
// helper.
func (st *sessionState) unlockNoTurn() (inputLeft bool) {
	st.runDeferredLocked()
	if !st.nonblockOK && st.sockFD >= 0 && !st.p.IsNil() {
		st.keepNonblockingLocked()
	}
	if st.inputReadLocked() {
		// libssh read input: someone may be waiting for it.
		if st.waiters.Load() > 0 {
			st.bumpLocked()
		} else {
			st.seenIn = st.inCountLocked()
		}
	}
	st.checkUnsentLocked()
	if !st.ev.IsNil() && st.unsent && st.writePendingLocked() {
		kickSlot(st.kick)
	}
	inputLeft = st.socketReadLocked() && st.inputLeftLocked()
	closeNow := st.closeDeferred && !st.closed
	st.closeDeferred = false
	if st.pinned {
		cgocallback.SetThreadLogging(0, nil)
		runtime.UnlockOSThread()
		st.pinned = false
	}
	st.released()
	st.held.Store(false)
	<-st.sem
	if closeNow {
		// Close was called from a callback: the goroutine holding the lock
		// may be the pump, which close waits for.
		go st.close()
	}
	return inputLeft
}

// keepNonblockingLocked sets O_NONBLOCK back on the socket when libssh
// cleared it (invariant 2). Once the session is connected and the flag is
// set, libssh no longer touches it and the check stops.
func (st *sessionState) keepNonblockingLocked() {
	fd := lib.GetFd(st.p)
	if fd < 0 {
		return
	}
	flags, err := unix.FcntlInt(uintptr(fd), syscall.F_GETFL, 0)
	if err != nil {
		return
	}
	if flags&syscall.O_NONBLOCK == 0 {
		unix.FcntlInt(uintptr(fd), syscall.F_SETFL, flags|syscall.O_NONBLOCK)
	} else if st.connected {
		st.nonblockOK = true
	}
}

// writePendingLocked reports whether libssh has output it could not send yet.
func (st *sessionState) writePendingLocked() bool {
	return !st.p.IsNil() && lib.GetPollFlags(st.p)&lib.SSH_WRITE_PENDING != 0
}

// runDeferredLocked closes the channels closed from inside callbacks.
func (st *sessionState) runDeferredLocked() {
	for len(st.deferred) > 0 {
		st.unsent = true
		c := st.deferred[0]
		st.deferred = st.deferred[1:]
		c.closeLocked()
	}
	st.deferred = nil
}

// --- waits (invariants 4 and 5) ---

// ackDueLocked reports whether libssh sent something since it last said
// so: Linux delays ACKs again ("pingpong" mode) only once we send, so
// quickAck is needed before a wait only then (a setsockopt per wait cost
// 1 % of the client's CPU with 50 busy channels).
func (st *sessionState) ackDueLocked() bool {
	if st.counter.IsNil() {
		return true
	}
	out := st.counter.OutBytes()
	if out == st.ackOut {
		return false
	}
	st.ackOut = out
	return true
}

// inputReadLocked reports whether libssh has read input since the waiters
// were last woken.
func (st *sessionState) inputReadLocked() bool { return st.readSinceLocked(st.seenIn) }

// inCountLocked is libssh's count of the bytes it read (0 without a
// counter). Reading it costs no cgo call.
func (st *sessionState) inCountLocked() uint64 {
	if st.counter.IsNil() {
		return 0
	}
	return st.counter.InBytes()
}

// readSinceLocked says whether libssh read input since its count was in
// (inCountLocked); always true without a counter, when nothing can tell.
func (st *sessionState) readSinceLocked(in uint64) bool {
	return st.counter.IsNil() || st.counter.InBytes() != in
}

// bumpLocked wakes everyone waiting for the session to make progress, and
// the readers of every channel's stream that received something since they
// were last woken (all of them when the session is no longer usable).
func (st *sessionState) bumpLocked() {
	if st.sleeper.active() {
		st.sleeper.wake()
	}
	if st.genTaken {
		close(st.gen)
		st.gen = make(chan struct{})
		st.genTaken = false
	}
	st.seenIn = st.inCountLocked()
	all := st.usableLocked() != nil
	for c := range st.channels {
		for stream, gen := range c.readGen {
			if gen == nil {
				continue
			}
			if a := c.activityLocked(stream); a != c.seenActivity[stream] || all {
				if !all && !c.enoughLocked(stream) {
					continue // looked at again at the next bump
				}
				c.seenActivity[stream] = a
				c.wakeStreamLocked(stream)
			}
		}
	}
}

// waitLocked is called with the lock held when the caller needs the session
// to make progress (input, window, output sent). It releases the lock and
// waits for the next round of the I/O goroutines (or input read by another
// call), ctx, or Close. It returns with the lock released.
func (st *sessionState) waitLocked(ctx context.Context) error {
	return st.waitOnLocked(ctx, nil, 0, 0)
}

// waitOnLocked is waitLocked for a reader of channel c's stream (when c is
// not nil), which waits only until c receives something for that stream
// (see chanState.readGen): at least want bytes of it (0: any), or an event.
func (st *sessionState) waitOnLocked(ctx context.Context, c *chanState, stream, want int) error {
	if err := ctx.Err(); err != nil {
		st.unlock()
		return err
	}
	if st.inputReadLocked() {
		// The call that asked to be called again read input itself, which
		// may be what the caller waits for: look before waiting.
		st.unlock()
		return nil
	}
	gen := st.gen
	if c == nil {
		st.genTaken = true
	} else {
		c.addWaiterLocked(stream, want)
		gen = c.readGen[stream]
	}
	st.waiters.Add(1)
	defer st.waiters.Add(-1)
	st.unlockToWait()
	select {
	case <-gen:
		if c != nil && stream != endStream {
			c.readWakes[stream].Add(1)
		}
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

// waitInputLocked is waitLocked for a writer that ran out of the server's
// window. It waits for input (the window adjustment) in poll(2) on its
// own thread, as C libssh's blocking writes do, for up to
// defaultSleepMax, and reports whether that time ran out; the caller then
// waits with waitLocked until it makes progress. A goroutine parked in
// waitLocked leaves its P idle, and during a push every P then often is:
// the runtime's sysmon thread sleeps, and the next cgo call sends it back
// to 20 µs ticks. A goroutine in a system call keeps its P. What ends
// waitLocked's wait ends this one (bumpLocked and Close write to an
// eventfd), and input on the socket does too, whoever reads it. ctx is
// looked at before and after, not during: a Conn's deadline is no context
// of package context, and context.AfterFunc then starts a goroutine per
// call, which cost more than the sleep saved. Only one writer of a
// session sleeps at a time, and none when GOMAXPROCS is 1 (the sleeping
// thread would hold the only P). See docs/design.md, "Writers short of
// window".
func (st *sessionState) waitInputLocked(ctx context.Context) (timedOut bool, err error) {
	fd := st.sockFD
	if fd < 0 || st.p.IsNil() || lib.GetFd(st.p) != fd || st.inputLeftLocked() ||
		ctx.Err() != nil || st.inputReadLocked() || runtime.GOMAXPROCS(0) == 1 {
		return false, st.waitLocked(ctx)
	}
	efd, ok := st.sleeper.start()
	if !ok {
		return false, st.waitLocked(ctx) // another writer sleeps, or no eventfd
	}
	select {
	case <-st.done: // Close may have looked for a sleeper before start
		st.sleeper.end()
		st.unlock()
		return false, ErrClosed
	default:
	}
	st.sleeps.Add(1)
	// Counted as a waiter: a call that reads input while the lock is free
	// (the read-ahead may leave the socket empty, so the poll would not
	// see it) then bumps, which writes the eventfd.
	st.waiters.Add(1)
	defer st.waiters.Add(-1)
	limit := st.sleepMax
	if limit == 0 {
		limit = defaultSleepMax
	}
	st.unlockToWait()
	// Without the lock, libssh may close the socket meanwhile and its
	// number be reused: that only ends or lengthens this bounded poll.
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(efd), Events: unix.POLLIN}}
	_, err = unix.Poll(fds, int(limit/time.Millisecond))
	st.sleeper.end()
	select {
	case <-st.done:
		return false, ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	// Whatever ended the wait, the caller looks again: a round of the
	// pump may have come after the poll timed out, and only a look under
	// the lock can tell. Anything but input or the eventfd (a timeout,
	// EINTR, an error on the socket) counts as the time running out, so
	// that no such answer can make the writer loop.
	woke := err == nil && (fds[0].Revents|fds[1].Revents)&unix.POLLIN != 0
	return !woke, nil
}

// defaultSleepMax bounds a writer's wait in the kernel (waitInputLocked),
// and so how late it sees its context end. On loopback, sshd's window
// adjustments come within a millisecond (a median of 0.5 ms in a push, 0.8
// ms at the 90th percentile); a peer slower than this is waited for with
// waitLocked.
const defaultSleepMax = 2 * time.Millisecond

// kernelWake is the eventfd of a writer waiting in the kernel
// (waitInputLocked), which wake signals. Its own mutex orders wake's write
// before end's close: Close's wake, which does not hold the session lock,
// may come after the wait ended.
type kernelWake struct {
	mu sync.Mutex   // held to make, signal or close the eventfd
	fd atomic.Int32 // the eventfd while a writer waits, else 0
}

// active reports whether a writer waits. It is set and cleared under the
// session lock's hold of start and by end: read without k.mu, a stale
// answer costs a wake-up or leaves a turn that end's caller then takes.
func (k *kernelWake) active() bool { return k.fd.Load() > 0 }

// start makes the eventfd for a writer about to wait, unless another
// writer waits (or no eventfd can be made).
func (k *kernelWake) start() (fd int, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.active() {
		return 0, false
	}
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return 0, false
	}
	if fd == 0 { // 0 says "none": not to be taken
		unix.Close(fd)
		return 0, false
	}
	k.fd.Store(int32(fd))
	return fd, true
}

// wake ends the wait of the writer waiting in the kernel, if any.
func (k *kernelWake) wake() {
	k.mu.Lock()
	if fd := k.fd.Load(); fd > 0 {
		var one = [8]byte{1}
		unix.Write(int(fd), one[:])
	}
	k.mu.Unlock()
}

// end closes the eventfd after the wait.
func (k *kernelWake) end() {
	k.mu.Lock()
	if fd := k.fd.Swap(0); fd > 0 {
		unix.Close(int(fd))
	}
	k.mu.Unlock()
}

// unlockToWait releases the lock before a wait, and asks the kernel to
// acknowledge at once what comes next when libssh sent something since
// (ackDueLocked): the reply this waits for is not held back by a delayed
// ACK.
func (st *sessionState) unlockToWait() {
	ack := st.ackDueLocked()
	st.unlock()
	if pl := st.currentPoller(); pl != nil && ack {
		pl.quickAck()
	}
}

// errWaiting marks an error that ended drive's wait (the context's, or
// Close's) rather than one its step returned.
type errWaiting struct{ err error }

func (e errWaiting) Error() string { return e.err.Error() }
func (e errWaiting) Unwrap() error { return e.err }

// drive runs step with the session locked until it is done or fails,
// waiting for the session to make progress between calls (invariant 5).
// step checks whether what it works on is still usable. When the wait or
// the lock ends with ctx or Close after step said "again" (a libssh call is
// pending that libssh cannot abandon), the error drive returns is wrapped
// in errWaiting, for the caller's abandon.
func (st *sessionState) drive(ctx context.Context, step func() (done bool, err error)) error {
	return st.driveOn(ctx, nil, 0, nil, step)
}

// driveOn is drive for a reader of channel c's stream, whose waits end only
// when c receives something for that stream (waitOnLocked): at least *want
// bytes of it when want is not nil (step sets it).
func (st *sessionState) driveOn(ctx context.Context, c *chanState, stream int, want *int, step func() (done bool, err error)) error {
	return st.driveWith(ctx, step, func() error {
		w := 0
		if want != nil {
			w = *want
		}
		return st.waitOnLocked(ctx, c, stream, w)
	})
}

// driveWith is drive with the wait between steps, which releases the
// lock.
func (st *sessionState) driveWith(ctx context.Context, step func() (done bool, err error), wait func() error) error {
	if err := st.lockCtx(ctx); err != nil {
		return err
	}
	for {
		done, err := step()
		if done || err != nil {
			st.unlock()
			return err
		}
		if err = wait(); err == nil {
			err = st.lockCtx(ctx)
		}
		if err != nil {
			if st.pumpWanted.Load() {
				// The pump may have left its turn to this caller
				// (lockForPump), which now returns without the lock.
				kickSlot(st.pumpKick)
			}
			return errWaiting{err}
		}
	}
}

// abandoned tells whether drive's error ended a wait for a pending call,
// and returns the error underneath.
func abandoned(err error) (error, bool) {
	if w, ok := err.(errWaiting); ok {
		return w.err, true
	}
	return err, false
}

// acquireSlot takes slot, a one-slot semaphore beside the lock (the
// session's connect-or-auth slot, a channel's request or write slot),
// unless ctx ends or the session closes first (closedErr then); release
// gives it back.
func (st *sessionState) acquireSlot(ctx context.Context, slot chan struct{}, closedErr error) (release func(), err error) {
	select {
	case slot <- struct{}{}:
		return func() { <-slot }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-st.done:
		return nil, closedErr
	}
}

// abandon handles a wait for a pending libssh call that ended with err. When
// the context ended, libssh cannot cancel the call, so the session cannot be
// used any more; abandon records that and says so.
func (st *sessionState) abandon(op string, err error) error {
	if errors.Is(err, ErrClosed) {
		return err
	}
	err = &Error{Op: op, Message: "cancelled while pending; the session cannot be used any more", Err: err}
	st.lock()
	defer st.unlock()
	if st.broken == nil {
		st.setBrokenLocked(err)
	}
	return err
}

// --- state (invariant 6) ---

// setBrokenLocked records why the session cannot be used any more, and
// wakes every waiter to return it. Callers need not bump: once the session
// is broken no step waits (each checks usability first), so only the first
// call has waiters to wake.
func (st *sessionState) setBrokenLocked(err error) {
	first := st.broken == nil
	if first {
		st.broken = err
	}
	st.alive.Store(false)
	st.end(st.broken)
	if first {
		st.bumpLocked()
	}
}

// end records that the session has ended and why; the first reason stays.
func (st *sessionState) end(err error) {
	st.endMu.Lock()
	defer st.endMu.Unlock()
	if st.endErr == nil {
		st.endErr = err
		close(st.ended)
	}
}

// endReason returns why the session ended, or nil while it has not.
func (st *sessionState) endReason() error {
	st.endMu.Lock()
	defer st.endMu.Unlock()
	return st.endErr
}

// setConnectedLocked records that the key exchange is done.
func (st *sessionState) setConnectedLocked() {
	if st.capturing {
		st.endCaptureLocked() // the line was missed, if it did not come
	}
	st.connected = true
	st.alive.Store(st.broken == nil)
}

// checkStatusLocked reads libssh's view of the connection after a round or
// a failed call: a connection libssh closed, or one that failed, breaks the
// session, waking every waiter with the reason. It reports whether the
// session is still alive.
func (st *sessionState) checkStatusLocked() bool {
	if st.broken != nil {
		return false
	}
	if st.p.IsNil() || !st.connected && st.ev.IsNil() {
		return true
	}
	status := lib.GetStatus(st.p)
	if status&(lib.SSH_CLOSED|lib.SSH_CLOSED_ERROR) == 0 && (!st.connected || lib.IsConnected(st.p) == 1) {
		return true
	}
	if err := st.interruptedErr(); err != nil {
		st.setBrokenLocked(err)
		return false
	}
	fallback := "the server closed the connection"
	if status&lib.SSH_CLOSED_ERROR != 0 {
		fallback = "the connection failed"
	}
	e := st.errorLocked("connection", fallback)
	if e.Message != fallback {
		e.Message = fallback + ": " + e.Message
	}
	st.setBrokenLocked(e) // and wakes every waiter
	return false
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

// --- the I/O goroutines (invariant 2) ---

// startIOLocked creates the session's event and starts the pump and the
// flusher. It must follow the first ssh_connect (or key exchange) call,
// which creates the poll context the event takes over.
func (st *sessionState) startIOLocked() error {
	ev := lib.EventNew()
	if ev.IsNil() {
		return errors.New("libssh: ssh_event_new failed (out of memory?)")
	}
	if lib.EventAddSession(ev, st.p) != lib.SSH_OK {
		lib.EventFree(ev)
		return st.errorLocked("add session to event", "ssh_event_add_session failed")
	}
	st.ev = ev
	pl := st.currentPoller()
	pumpDone, flushDone, helpDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	st.ioDone = []chan struct{}{pumpDone, flushDone, helpDone}
	st.ioStop = make(chan struct{})
	go st.pump(pl, pumpDone)
	go st.flusher(pl, st.ioStop, flushDone)
	go st.pumpHelper(pl, st.ioStop, helpDone)
	return nil
}

// pump waits for input and lets libssh process it, then wakes the waiters.
// Go's poller is edge-triggered, so each round drains the socket completely
// before waiting again.
func (st *sessionState) pump(pl poller, done chan struct{}) {
	defer close(done)
	take := st.lockForPump // the holder takes a turn the pump leaves
	if !pl.edgeTriggered() {
		take = st.lockForTurn // input stays readable: leaving the turn would spin
	}
	pl.waitRead(func(uintptr) bool {
		return !st.pumpTurns(pl, take) // stop once the session has ended
	})
}

// pumpTurns takes the pump's turns, each under the lock take got, until the
// socket is drained, the session has ended or take left the turn to the
// lock's holder, and acknowledges what it read before the caller waits for
// more (quickAck). It reports whether the session is still alive.
func (st *sessionState) pumpTurns(pl poller, take func() bool) (alive bool) {
	ack := false
	defer func() {
		if ack {
			pl.quickAck()
		}
	}()
	for {
		if !take() {
			return true
		}
		alive, drained, a := st.pumpTurnLocked()
		ack = ack || a
		if !alive || drained {
			st.unlock()
			return alive
		}
		// Input is left, and this loop takes the next turn: no kick for
		// the helper, and a turn the pump left (pumpWanted) is the same.
		st.unlockNoTurn()
		runtime.Gosched()
	}
}

// lockForTurn is lock, as a take for pumpTurns.
func (st *sessionState) lockForTurn() bool {
	st.lock()
	return true
}

// lockForPump takes the lock for a turn of the pump, unless another
// goroutine holds it: then it leaves the turn to that holder (pumpWanted),
// which takes it when it unlocks, and the pump goes back to waiting for
// input. Waiting for the lock instead cost a goroutine parked and woken
// twice (the pump, then the holder's next lock) for every batch of input
// that arrives while a writer holds the lock, as it does most of the time
// during an upload. No turn is lost: the pump sets pumpWanted, then reads
// held, and every holder clears held before it releases the lock and
// reads pumpWanted after (all sequentially consistent atomics), so if the
// pump saw a holder, that holder's unlock sees the flag. With the lock
// changing hands (held clear, the channel still full), it tries again.
//
// It also leaves the turn to a writer sleeping on the socket
// (waitInputLocked), which wakes for the same input: the pump doing the
// turn then made the sleeper wait for the lock, and kept a second P busy.
// The sleeper clears its eventfd (sleeper.active) before it reads
// pumpWanted, so by the same ordering its unlock takes the turn, or, if it
// returns without the lock (its context ended, or Close), driveWith kicks
// the pump's helper.
func (st *sessionState) lockForPump() bool {
	if st.sleeper.active() {
		st.pumpWanted.Store(true)
		if st.sleeper.active() {
			return false
		}
	}
	if st.tryLock() {
		return true
	}
	st.pumpWanted.Store(true)
	for {
		if st.tryLock() {
			return true
		}
		if st.held.Load() {
			return false
		}
		runtime.Gosched()
	}
}

// pumpTurnLocked is one turn of the pump: up to pumpRounds rounds of input,
// the deferred closes, a flush of what they queued, and the waiters woken.
// It reports whether the session is still alive, whether the socket was
// drained (the edge-triggered poller will not report input that is left),
// and whether a quickAck is due before waiting for more.
func (st *sessionState) pumpTurnLocked() (alive, drained, ack bool) {
	st.pumpWanted.Store(false)
	if st.ev.IsNil() {
		return false, true, false
	}
	rc, alive := st.readInputLocked(pumpRounds)
	in := st.inCountLocked()
	st.runDeferredLocked()
	if alive {
		// Send what callbacks and deferred closes queued, as far as the
		// socket takes it; the flusher sends the rest.
		st.flushLocked()
	}
	st.bumpLocked()
	// The flush, and libssh's sends, may have read input after the rounds
	// found none: the turn has drained the socket only if the read-ahead
	// buffer is empty too.
	drained = rc == 0
	if drained && st.readSinceLocked(in) {
		drained = !st.inputLeftLocked()
	}
	return alive, drained, st.ackDueLocked()
}

// pumpForThePump takes the turns the pump left (lockForPump): it goes on
// while the pump leaves another or input is left, up to unlockTurns turns,
// and gives what is left then to the pump's helper, so that an unlock
// never does more than a bounded share of the pump's work for it, however
// fast input arrives.
func (st *sessionState) pumpForThePump() {
	ack := false
	more := false // the last turn left input
	for turns := 0; more || st.pumpWanted.Load(); turns++ {
		if turns == unlockTurns {
			kickSlot(st.pumpKick)
			break
		}
		if !st.tryLock() {
			if more {
				kickSlot(st.pumpKick) // the holder was not asked to
			}
			break // the holder looks at pumpWanted when it unlocks
		}
		alive, drained, a := st.pumpTurnLocked()
		ack = ack || a
		st.unlockNoTurn()
		more = alive && !drained
	}
	if pl := st.currentPoller(); ack && pl != nil {
		pl.quickAck()
	}
}

// kickSlot fills a one-slot wake-up channel unless it is full already.
func kickSlot(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// onKicks runs work each time kick is filled, until stop is closed or
// work reports false; it closes done when it returns. It is the loop of
// the flusher and of the pump's helper.
func onKicks(kick, stop, done chan struct{}, work func() bool) {
	defer close(done)
	for {
		select {
		case <-kick:
		case <-stop:
			return
		}
		if !work() {
			return
		}
	}
}

// pumpHelper takes the pump's turns, waiting for the lock, when an unlock
// left input (pumpForThePump): the pump waits for new input only, which
// the poller reports once.
func (st *sessionState) pumpHelper(pl poller, stop, done chan struct{}) {
	onKicks(st.pumpKick, stop, done, func() bool {
		st.pumpTurns(pl, st.lockForTurn)
		return true
	})
}

// flusher waits for the socket to take the output libssh holds whenever
// unlock kicks it, and lets libssh send it.
func (st *sessionState) flusher(pl poller, stop, done chan struct{}) {
	onKicks(st.kick, stop, done, func() bool {
		err := pl.waitWrite(func(uintptr) bool {
			st.lock()
			defer st.unlock()
			if st.ev.IsNil() {
				return true
			}
			rc := lib.Flush(st.ev, st.p, 0)
			st.unsent = rc == 1
			alive := st.checkStatusLocked()
			st.bumpLocked() // writers wait for output to drain
			return rc != 1 || !alive
		})
		return err == nil
	})
}

// flushLocked lets libssh send what it holds, as far as the socket takes it
// now; it never waits (the flusher sends the rest). It reports whether
// libssh holds nothing more (or can send nothing more: the session is not
// running). It costs no system call when libssh holds nothing. Callers call
// it after their last libssh call under the lock: unlock trusts its answer
// (st.unsent) and kicks the flusher only when output is left.
func (st *sessionState) flushLocked() (drained bool) {
	if st.ev.IsNil() || lib.GetFd(st.p) < 0 {
		return true
	}
	rc := lib.Flush(st.ev, st.p, 0)
	if rc != 0 || st.inputReadLocked() {
		st.checkStatusLocked() // the round may have read the connection's end
	}
	st.unsent = rc == 1
	return rc != 1
}

// readInputLocked runs up to rounds rounds of libssh's event loop (one
// read of at most 4 KiB each, and the packets it completes), as much as the
// socket has ready. It returns lib.Pump's answer (0 when the socket is
// drained) and whether the session is still alive.
func (st *sessionState) readInputLocked(rounds int) (rc int, alive bool) {
	rc = lib.Pump(st.ev, rounds)
	st.noteInputLocked()
	if rc == lib.SSH_ERROR && st.broken == nil {
		if err := st.interruptedErr(); err != nil {
			st.setBrokenLocked(err)
		} else {
			st.setBrokenLocked(st.errorLocked("connection", "connection lost"))
		}
	}
	return rc, st.checkStatusLocked()
}

// assistLocked is a reader's turn of the pump: a reader that found nothing
// buffered reads the input that is ready itself before it waits, which
// saves handing each packet from the pump's goroutine to the reader's (a
// wake-up and the lock handed over). It reports whether the reader should
// look again: it read input, or the session ended.
func (st *sessionState) assistLocked() bool {
	if st.ev.IsNil() || st.broken != nil {
		return false
	}
	in := st.inCountLocked()
	if _, alive := st.readInputLocked(assistRounds); !alive {
		st.bumpLocked() // every waiter learns it at once, as from the pump
		return true
	}
	return st.readSinceLocked(in)
}

// --- teardown (invariants 8 and 9) ---

// closeGrace is how long Close and Disconnect wait for the lock before they
// interrupt its holder. Holders never wait for the network (invariant 2), so
// only a call stuck on a third party (GSSAPI's KDC) takes longer; waiting a
// little first keeps the goodbye to the server from being cut off by a pump
// round that happens to hold the lock.
const closeGrace = 20 * time.Millisecond

// lockInterrupting takes the lock for Close and Disconnect: an agent call in
// progress is cut at once, and a holder that keeps the lock past closeGrace
// is interrupted.
func (st *sessionState) lockInterrupting() {
	if a := st.agent.Load(); a != nil {
		a.cut()
	}
	if st.tryLock() {
		return
	}
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case st.sem <- struct{}{}:
		st.afterLock()
		return
	case <-t.C:
	}
	if pl := st.currentPoller(); pl != nil {
		pl.shutdown() // a libssh call blocked on the socket returns
	}
	st.lock()
}

// teardownLocked stops the event loop and ends the connection, politely
// when it is still alive. It returns what stopIO needs, to be called after
// unlocking.
func (st *sessionState) teardownLocked(reason error) ioStopper {
	st.forgetReadaheadLocked() // before anything closes the socket
	st.stopKeepaliveLocked()
	st.endListenersLocked()
	st.killChannelsLocked(reason)
	if h := teardownHook.Load(); h != nil {
		(*h)(st)
	}
	goodbye := st.owned && st.connected && st.broken == nil && lib.IsConnected(st.p) == 1
	if goodbye {
		st.drainLocked(closeGrace)
	}
	if !st.ev.IsNil() {
		lib.EventRemoveSession(st.ev, st.p)
		lib.EventFree(st.ev)
		st.ev = lib.Event{}
	}
	pl := st.currentPoller()
	if goodbye {
		lib.Disconnect(st.p) // nonblocking: sends what the socket takes now
		// ssh_disconnect forgets the socket (some libssh versions close it,
		// others do not). Close the descriptor only if it still is ours:
		// the same socket as Go's, not a number reused since.
		if st.sockFD >= 0 && pl != nil && pl.sameSocket(st.sockFD) {
			lingerAfterGoodbye(st.sockFD, closeGrace)
			syscallClose(st.sockFD)
		}
		st.sockFD = -1
	} else if st.owned && pl != nil {
		// Not connected yet, or the connection broke: libssh's copy of
		// the socket would keep it open until ssh_free. End it now.
		pl.shutdown()
	}
	st.connected = false
	st.alive.Store(false)
	st.setPollerLocked(nil)
	stopper := ioStopper{pl: pl, done: st.ioDone, stop: st.ioStop, agent: st.agent.Swap(nil)}
	st.ioDone, st.ioStop = nil, nil
	return stopper
}

// teardownHook, when set (by tests), runs in teardownLocked once the
// channels are dead, where the goodbye's flush may process input.
var teardownHook atomic.Pointer[func(st *sessionState)]

// lingerAfterGoodbye half-closes the socket after ssh_disconnect's goodbye
// and reads, discarding it, what the server still sends until it closes
// its end, for at most d. A socket closed with input unread, or that input
// arrives at after it is closed, is reset, and a reset makes the server
// drop what it has not read yet: during an upload, the data in flight and
// the goodbye behind it (the server still sends window adjustments while
// it reads them).
func lingerAfterGoodbye(fd int, d time.Duration) {
	if unix.Shutdown(fd, unix.SHUT_WR) != nil {
		return
	}
	deadline := time.Now().Add(d)
	var buf [16 << 10]byte
	for {
		n, err := unix.Read(fd, buf[:])
		switch {
		case n > 0 || err == unix.EINTR:
			continue
		case err != unix.EAGAIN:
			return // the server closed its end (n == 0), or the socket failed
		}
		if !pollUntil(fd, unix.POLLIN, deadline) {
			return
		}
	}
}

// pollUntil waits until fd reports events or deadline passes, and reports
// whether it may have (an interrupted poll says yes: the caller looks).
func pollUntil(fd int, events int16, deadline time.Time) bool {
	left := time.Until(deadline)
	if left <= 0 {
		return false
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
	n, err := unix.Poll(fds, int(left.Milliseconds())+1)
	return err == unix.EINTR || err == nil && n > 0
}

// drainLocked lets libssh send the output it holds, waiting up to d for the
// socket to take it: ssh_disconnect queues its goodbye behind that output
// and closes the socket right after, so without this a Close during an
// upload never says goodbye. It is the one wait for the socket under the
// lock, bounded, and only on the way out.
func (st *sessionState) drainLocked(d time.Duration) {
	deadline := time.Now().Add(d)
	for !st.ev.IsNil() {
		fd := lib.GetFd(st.p)
		// prime: ssh_disconnect's goodbye is sent only if libssh has seen
		// the socket writable since its last send.
		if fd < 0 || lib.Flush(st.ev, st.p, 1) != 1 {
			return // all sent, or nothing more can be
		}
		if !pollUntil(fd, unix.POLLOUT, deadline) {
			return
		}
	}
}

// useSocketLocked records fd as the socket libssh reads, and gives libssh's
// reads of it a buffer when the session is ours (docs/design.md, "Reading
// the socket"): libssh 0.10 reads 4 KiB per recv, after a poll each time.
// A session its caller keeps (WrapSession with owned false) gets none: it
// goes on after Close, and the buffer's unread input would be lost with it.
func (st *sessionState) useSocketLocked(fd int) {
	st.forgetReadaheadLocked() // a buffer of an earlier socket
	st.sockFD = fd
	if st.owned {
		st.readahead = lib.ReadaheadRegister(fd)
	}
}

// forgetReadaheadLocked drops the socket's buffer, and the input it holds:
// the session is ending.
func (st *sessionState) forgetReadaheadLocked() {
	if st.readahead != 0 {
		lib.ReadaheadForget(st.sockFD, st.readahead)
		st.readahead = 0
	}
}

// ioStopper ends what teardownLocked took off the session.
type ioStopper struct {
	pl    poller
	done  []chan struct{}
	stop  chan struct{}
	agent *agentRelay
}

// run closes the agent relay, closes the poller, which ends the pump,
// stops the flusher and the pump's helper, and waits for all three.
func (s ioStopper) run() {
	if s.agent != nil {
		s.agent.close()
	}
	if s.pl == nil {
		return
	}
	s.pl.close()
	if s.stop != nil {
		close(s.stop)
	}
	for _, d := range s.done {
		<-d
	}
	s.pl.release()
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

// close closes the session; it reports whether it was open. Called from a
// callback of the session, it defers the close to the end of the libssh
// call (invariant 8) and reports true. Its callers refuse calls from other
// sessions' callbacks (close waits for this session's I/O goroutines, which
// may wait for the lock that callback's goroutine holds).
func (st *sessionState) close() bool {
	if st.inCallback() {
		st.closeDeferred = true // this goroutine holds the lock
		return true
	}
	if st.closing.CompareAndSwap(false, true) {
		close(st.done) // ends every wait and lockCtx at once
		st.sleeper.wake()
		st.end(ErrClosed)
	}
	st.lockInterrupting()
	if st.closed {
		st.unlock()
		return false
	}
	st.closed = true
	stopper := st.teardownLocked(errSessionClosed)
	if !st.p.IsNil() {
		// Forget the pointer before freeing it: once freed, ssh_new in
		// another goroutine may return the same address.
		wrapped.Delete(st.p)
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
	st.agentFwd.reg.Free()
	st.fwd.handler.Free()
	st.bumpLocked()
	if st.logger != nil {
		st.logger.Close()
	}
	conn := st.cfg.conn
	st.cfg.conn = nil
	dependents := st.takeDependentsLocked()
	st.unlock()
	stopper.run()
	st.agentFwd.relays.Wait() // their channels are dead: each ends at once
	if conn != nil {
		conn.Close()
	}
	closeDependents(dependents)
	return true
}
