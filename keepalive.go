package libssh

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/golibssh/libssh/lib"
)

// ErrPeerUnresponsive: the server sent nothing for as long as
// [WithKeepalive] allows, keepalives included; the session has ended.
var ErrPeerUnresponsive = errors.New("libssh: the server stopped answering")

// keepaliveLockWait bounds how long a keepalive round waits for the
// session lock. Nothing holds it for long (engine.go, invariant 3), but a
// round must never queue behind a call: one that finds the lock busy for
// this long skips its turn.
const keepaliveLockWait = 50 * time.Millisecond

// keepalive is the state of WithKeepalive on a session. A timer
// (time.AfterFunc) runs one round per interval on a goroutine of its own
// that ends with the round; between rounds nothing runs. Guarded by the
// lock, except stopped.
type keepalive struct {
	interval time.Duration
	max      int
	timer    *time.Timer
	stopped  atomic.Bool // teardown stopped the timer: rounds neither run nor re-arm
	seen     uint64      // libssh's input byte count at the last round
	input    time.Time   // when the pump last found input
	missed   int         // rounds in a row without input
}

// startKeepaliveLocked arms the keepalive timer when the session is
// authenticated (before that a server may answer a global request with
// SSH_MSG_UNIMPLEMENTED, which libssh does not match to the request, so
// every later keepalive would wait behind it). It does nothing when
// keepalives are off, without libssh's input counter (out of memory), or
// when they run already.
func (st *sessionState) startKeepaliveLocked() {
	if st.cfg.keepalive <= 0 || st.ka != nil || st.counter.IsNil() {
		return
	}
	ka := &keepalive{interval: st.cfg.keepalive, max: st.cfg.keepaliveMax, seen: st.counter.InBytes(), input: time.Now()}
	// Armed only once ka.timer is set: a round that finds the lock busy
	// reads it without the lock.
	ka.timer = time.AfterFunc(math.MaxInt64, func() { st.keepaliveRound(ka) })
	ka.timer.Reset(ka.interval)
	st.ka = ka
}

// stopKeepaliveLocked stops the timer for good (teardown). A round that
// fired already sees stopped and does nothing.
func (st *sessionState) stopKeepaliveLocked() {
	if ka := st.ka; ka != nil {
		ka.stopped.Store(true)
		ka.timer.Stop()
	}
}

// noteInputLocked records, for the keepalive, that the pump found input.
func (st *sessionState) noteInputLocked() {
	if st.ka != nil {
		st.ka.input = time.Now()
	}
}

// keepaliveRound is the timer's function. It is not a libssh callback: it
// takes the lock like any caller, but waits for it no longer than
// keepaliveLockWait.
func (st *sessionState) keepaliveRound(ka *keepalive) {
	if ka.stopped.Load() {
		return
	}
	if !st.lockWithin(keepaliveLockWait) {
		if !ka.stopped.Load() && !st.closing.Load() {
			ka.timer.Reset(ka.interval) // busy: skip this round
			if ka.stopped.Load() {
				ka.timer.Stop() // teardown stopped it meanwhile: rounds do not re-arm
			}
		}
		return
	}
	next, again := st.keepaliveRoundLocked(ka)
	if again {
		ka.timer.Reset(next)
	}
	st.unlock()
}

// keepaliveRoundLocked runs one round: input since the last one resets the
// count, silence sends a keepalive or, past the count, ends the session
// with ErrPeerUnresponsive. It returns when the next round is due, and
// whether there is one.
func (st *sessionState) keepaliveRoundLocked(ka *keepalive) (next time.Duration, again bool) {
	if ka.stopped.Load() || st.usableLocked() != nil {
		return 0, false
	}
	if in := st.counter.InBytes(); in != ka.seen {
		ka.seen, ka.missed = in, 0
		// The next round is an interval after the last input the pump
		// saw, as with OpenSSH; input another call read is not dated,
		// and counts as now.
		next = time.Until(ka.input.Add(ka.interval))
		if next <= 0 {
			next = ka.interval
		}
		return next, true
	}
	ka.missed++
	if ka.missed > ka.max {
		st.breakUnresponsiveLocked(ka)
		return 0, false
	}
	// ssh_send_keepalive sends keepalive@openssh.com with want-reply
	// through ssh_global_request, which holds one request at a time: when
	// the server's answer to an earlier one has arrived, the call only
	// collects it and sends nothing, so a second call sends. When the
	// earlier one is still unanswered, both calls only look for the
	// answer, and that request stays the one outstanding.
	//
	// A forward request (listen.go) that awaits its answer holds that
	// slot: a keepalive call would take the answer and drop it. Its answer
	// proves life as well, so the round sends nothing and only counts. An
	// answer a round leaves outstanding is for the next forward request
	// to collect (dirty).
	if st.fwd.busy {
		return ka.interval, true
	}
	lib.SendKeepalive(st.p)
	lib.SendKeepalive(st.p)
	st.fwd.dirty = true
	st.flushLocked()
	return ka.interval, st.checkStatusLocked()
}

// breakUnresponsiveLocked ends the session with ErrPeerUnresponsive: every
// waiter wakes with it, and the connection is shut down.
func (st *sessionState) breakUnresponsiveLocked(ka *keepalive) {
	var err error
	if ka.max == 0 {
		err = fmt.Errorf("%w: nothing received for %v", ErrPeerUnresponsive, ka.interval)
	} else {
		err = fmt.Errorf("%w: %d keepalives sent %v apart got no answer", ErrPeerUnresponsive, ka.max, ka.interval)
	}
	st.setBrokenLocked(err) // and wakes every waiter
	if pl := st.currentPoller(); st.owned && pl != nil {
		pl.shutdown() // the pump sees the end and stops
	}
}
