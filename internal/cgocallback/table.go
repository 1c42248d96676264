// Package cgocallback connects libssh's C callbacks to Go closures: the
// functions of a callbacks.ChannelCallbacks, a server session's message
// handler, and libssh's log lines, for package libssh.
//
// C never holds a Go pointer: a callback's userdata is an integer id, cast to
// void* in C, that names an entry in a Go table. The table tolerates ids it
// does not know (a callback that arrives after its entry was removed is
// dropped), every exported Go function recovers panics so that none unwinds
// through libssh, and Live reports how many entries exist so that tests can
// prove nothing leaks.
package cgocallback

import (
	"sync"
	"sync/atomic"
)

// table maps the integer ids given to C as userdata to Go values.
type table struct {
	mu      sync.RWMutex
	next    uintptr
	entries map[uintptr]any
}

var handles = table{entries: map[uintptr]any{}}

// register stores v and returns its id (never 0).
func (t *table) register(v any) uintptr {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next++
	t.entries[t.next] = v
	return t.next
}

// lookup returns the value for id; ok is false for unknown or removed ids.
func (t *table) lookup(id uintptr) (v any, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	v, ok = t.entries[id]
	return v, ok
}

func (t *table) remove(id uintptr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, id)
}

func (t *table) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.entries)
}

// Live returns the number of callback registrations that exist: entries in
// the handle table. It is 0 when everything that was registered was removed.
func Live() int { return handles.len() }

// panics counts panics recovered in callbacks, for tests and diagnostics.
var panics atomic.Int64

// Panics returns how many panics raised by Go callbacks were recovered so far.
func Panics() int64 { return panics.Load() }
