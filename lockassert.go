//go:build lockassert

package libssh

import (
	"bytes"
	"runtime"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/golibssh/libssh/lib"
)

// With the lockassert build tag (make race uses it), every libssh call
// checks at run time that the calling goroutine holds the lock of the
// session the call works on (invariant 1 of engine.go), and panics if not.
// Sessions this package does not know (one a caller drives through package
// lib alone) are not checked.

//lockcheck:ok lib.SessionFromRaw only converts a pointer
func init() {
	lib.LockAssert = func(p unsafe.Pointer) {
		v, ok := wrapped.Load(lib.SessionFromRaw(p))
		if !ok {
			return
		}
		st, ok := v.(*sessionState)
		if !ok {
			return // WrapSession is making it
		}
		if st.lockHolder.Load() != goid() {
			panic("libssh: lockassert: libssh called without holding the session lock")
		}
	}
}

// holder records who holds the lock.
type holder struct{ id atomic.Int64 }

func (h *holder) Load() int64 { return h.id.Load() }

func (st *sessionState) heldBy()   { st.lockHolder.id.Store(goid()) }
func (st *sessionState) released() { st.lockHolder.id.Store(0) }

// goid returns the calling goroutine's id, from its stack header
// ("goroutine 42 [running]:"). Slow, and only for this check.
func goid() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseInt(string(b), 10, 64)
	return id
}

// checkUnsentLocked panics when a lock hold cleared unsent (flushLocked
// found libssh's output sent) and libssh holds output all the same: a
// libssh call after flushLocked queued it, and unlock would leave it unsent
// until some later hold.
//
// Flush sends nothing and answers 0 when libssh holds nothing; an answer
// of 1, or bytes sent, means output was left.
func (st *sessionState) checkUnsentLocked() {
	if st.unsent || st.ev.IsNil() || st.counter.IsNil() || lib.GetFd(st.p) < 0 {
		return
	}
	out := st.counter.OutBytes()
	if lib.Flush(st.ev, st.p, 0) == 1 || st.counter.OutBytes() != out {
		panic("libssh: lockassert: output queued after flushLocked")
	}
}
