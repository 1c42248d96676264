package cgocallback

/*
#include <stdint.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/lib"
)

// ErrUnsupported: the callback needs a newer libssh than the one in use.
// Package libssh exports it as its ErrUnsupported.
var ErrUnsupported = errors.New("libssh: not supported by this libssh version")

// funcs is what a registration calls.
type funcs = callbacks.ChannelCallbacks

// mask says which fields of cb are set, as the shim's GOLIBSSH_CB_* bits.
func mask(cb *funcs) C.uint {
	var m C.uint
	for bit, set := range []bool{
		cb.OnData != nil, cb.OnEOF != nil, cb.OnClose != nil, cb.OnSignal != nil,
		cb.OnExitStatus != nil, cb.OnExitSignal != nil, cb.OnPtyRequest != nil,
		cb.OnShellRequest != nil, cb.OnAuthAgentReq != nil, cb.OnX11Req != nil,
		cb.OnPtyWindowChange != nil, cb.OnExecRequest != nil, cb.OnEnvRequest != nil,
		cb.OnSubsystemRequest != nil, cb.OnWriteWontblock != nil,
	} {
		if set {
			m |= 1 << bit
		}
	}
	return m
}

// entry is what the handle table holds for one registration.
type entry struct {
	cb    funcs
	guard func(run func()) // wraps every call of cb's functions, or nil

	mu       sync.Mutex
	panicked any // the first panic recovered, until Panic takes it
}

// Registration is a [callbacks.ChannelCallbacks] installed on a channel: a C
// callback struct in C memory whose userdata is the id of a handle-table
// entry.
type Registration struct {
	id uintptr
	s  unsafe.Pointer // the C struct; nil once removed
	ch lib.Channel
}

// Install installs cb on ch (ssh_set_channel_callbacks: ahead of any other
// callbacks of the channel). The caller must hold the session's lock, and
// must Remove the registration, again under the lock, before the channel is
// freed.
func Install(ch lib.Channel, cb *callbacks.ChannelCallbacks) (*Registration, error) {
	return InstallGuarded(ch, cb, nil)
}

// InstallGuarded is Install with guard wrapped around every call of cb's
// functions; guard must call run exactly once. Package libssh uses it to
// know when a goroutine is inside a user's callback. A panic in run passes
// through guard before it is recovered.
func InstallGuarded(ch lib.Channel, cb *callbacks.ChannelCallbacks, guard func(run func())) (*Registration, error) {
	return install(ch, cb, guard, 0)
}

// InstallCounting is Install, with a data callback that takes no data and
// counts the data messages the channel receives ([Registration.DataEvents]).
// cb.OnData must be nil.
func InstallCounting(ch lib.Channel, cb *callbacks.ChannelCallbacks) (*Registration, error) {
	if cb != nil && cb.OnData != nil {
		return nil, errors.New("callbacks: a counting registration cannot have OnData")
	}
	return install(ch, cb, nil, C.GOLIBSSH_CB_COUNT_DATA)
}

func install(ch lib.Channel, cb *callbacks.ChannelCallbacks, guard func(run func()), extra C.uint) (*Registration, error) {
	if ch.IsNil() {
		return nil, errors.New("callbacks: install on a NULL channel")
	}
	if cb == nil {
		cb = &funcs{}
	}
	if cb.OnOpenResponse != nil || cb.OnRequestResponse != nil {
		return nil, fmt.Errorf("%w: OnOpenResponse and OnRequestResponse are libssh 0.11 callbacks, and this package installs libssh 0.10's (libssh in use: %s)", ErrUnsupported, lib.Version(0))
	}
	e := &entry{cb: *cb, guard: guard}
	id := handles.register(e)
	s := C.golibssh_channel_callbacks_new(C.uintptr_t(id), mask(cb)|extra)
	if s == nil {
		handles.remove(id)
		return nil, errors.New("callbacks: out of memory")
	}
	if C.golibssh_channel_callbacks_set(ch.Raw(), s) != lib.SSH_OK {
		C.golibssh_channel_callbacks_remove(nil, s)
		handles.remove(id)
		return nil, errors.New("callbacks: ssh_set_channel_callbacks failed")
	}
	return &Registration{id: id, s: s, ch: ch}, nil
}

// Remove takes the callbacks off the channel, frees the C struct and removes
// the table entry. It is idempotent. The caller must hold the session's lock.
// Callbacks libssh might still deliver for this id are dropped.
func (r *Registration) Remove() {
	if r != nil {
		r.release(r.ch.Raw())
	}
}

// DataEvents is how many data messages (either stream) the channel received
// since a counting registration ([InstallCounting]) was installed: 0 for
// other registrations and after Remove. The caller must hold the session's
// lock. It reads C memory and makes no cgo call.
func (r *Registration) DataEvents() uint64 {
	if r == nil || r.s == nil {
		return 0
	}
	return uint64((*C.struct_golibssh_channel_callbacks)(r.s).data_events)
}

// StderrEvents is how many of [Registration.DataEvents] were on the stderr
// stream. The caller must hold the session's lock.
func (r *Registration) StderrEvents() uint64 {
	if r == nil || r.s == nil {
		return 0
	}
	return uint64((*C.struct_golibssh_channel_callbacks)(r.s).stderr_events)
}

// Held is what libssh held of a stream (0: stdout, 1: stderr) after the
// last data message on it, for a counting registration: libssh passes the
// data callback everything it holds of the stream. Reads since that
// message make it an overstatement. The caller must hold the session's
// lock.
func (r *Registration) Held(stream int) int {
	if r == nil || r.s == nil || stream < 0 || stream > 1 {
		return 0
	}
	return int((*C.struct_golibssh_channel_callbacks)(r.s).held[stream])
}

// Forget frees the C struct and the table entry without touching the
// channel, for a channel libssh has already freed (with its session). The
// caller must hold the session's lock, or know libssh cannot call back.
func (r *Registration) Forget() { r.release(nil) }

// release takes the callbacks off channel (unless nil) and frees the C struct
// and the table entry, once.
func (r *Registration) release(channel unsafe.Pointer) {
	if r == nil || r.s == nil {
		return
	}
	C.golibssh_channel_callbacks_remove(channel, r.s)
	handles.remove(r.id)
	r.s = nil
}

// Panic returns the first panic a callback of this registration raised since
// the last call, or nil.
func (r *Registration) Panic() any {
	if r == nil {
		return nil
	}
	v, ok := handles.lookup(r.id)
	if !ok {
		return nil
	}
	e := v.(*entry)
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.panicked
	e.panicked = nil
	return p
}

// call runs f with the registration's callbacks, recovering a panic into the
// entry; it reports false for an unknown id or a panic.
func call(id uintptr, f func(cb *funcs)) (ok bool) {
	v, found := handles.lookup(id)
	if !found {
		return false
	}
	e := v.(*entry)
	defer func() {
		if r := recover(); r != nil {
			panics.Add(1)
			e.mu.Lock()
			if e.panicked == nil {
				e.panicked = r
			}
			e.mu.Unlock()
			ok = false
		}
	}()
	if e.guard != nil {
		e.guard(func() { f(&e.cb) })
	} else {
		f(&e.cb)
	}
	return true
}

// reply turns a Go decision into libssh's answer: 0 accepts, -1 refuses.
func reply(ok, accept bool) C.int {
	if ok && accept {
		return 0
	}
	return -1
}

//export goChannelData
func goChannelData(id C.uintptr_t, data unsafe.Pointer, n C.uint32_t, isStderr C.int) C.int {
	consumed := 0
	call(uintptr(id), func(cb *funcs) {
		consumed = cb.OnData(unsafe.Slice((*byte)(data), int(n)), isStderr != 0)
	})
	// Unknown ids and panics consume nothing: the data stays with libssh.
	return C.int(min(max(consumed, 0), int(n)))
}

//export goChannelEOF
func goChannelEOF(id C.uintptr_t) { call(uintptr(id), func(cb *funcs) { cb.OnEOF() }) }

//export goChannelClose
func goChannelClose(id C.uintptr_t) { call(uintptr(id), func(cb *funcs) { cb.OnClose() }) }

//export goChannelSignal
func goChannelSignal(id C.uintptr_t, signal *C.char) {
	s := C.GoString(signal)
	call(uintptr(id), func(cb *funcs) { cb.OnSignal(s) })
}

//export goChannelExitStatus
func goChannelExitStatus(id C.uintptr_t, status C.int) {
	call(uintptr(id), func(cb *funcs) { cb.OnExitStatus(int(status)) })
}

//export goChannelExitSignal
func goChannelExitSignal(id C.uintptr_t, signal *C.char, core C.int, errmsg, lang *C.char) {
	s, m, l := C.GoString(signal), C.GoString(errmsg), C.GoString(lang)
	call(uintptr(id), func(cb *funcs) { cb.OnExitSignal(s, core != 0, m, l) })
}

//export goChannelPtyRequest
func goChannelPtyRequest(id C.uintptr_t, term *C.char, w, h, pw, ph C.int) C.int {
	t, accept := C.GoString(term), false
	ok := call(uintptr(id), func(cb *funcs) { accept = cb.OnPtyRequest(t, int(w), int(h), int(pw), int(ph)) })
	return reply(ok, accept)
}

//export goChannelShellRequest
func goChannelShellRequest(id C.uintptr_t) C.int {
	accept := false
	ok := call(uintptr(id), func(cb *funcs) { accept = cb.OnShellRequest() })
	return reply(ok, accept)
}

//export goChannelAuthAgentReq
func goChannelAuthAgentReq(id C.uintptr_t) {
	call(uintptr(id), func(cb *funcs) { cb.OnAuthAgentReq() })
}

//export goChannelX11Req
func goChannelX11Req(id C.uintptr_t, single C.int, protocol, cookie *C.char, screen C.uint32_t) {
	p, c := C.GoString(protocol), C.GoString(cookie)
	call(uintptr(id), func(cb *funcs) { cb.OnX11Req(single != 0, p, c, uint32(screen)) })
}

//export goChannelPtyWindowChange
func goChannelPtyWindowChange(id C.uintptr_t, w, h, pw, ph C.int) C.int {
	accept := false
	ok := call(uintptr(id), func(cb *funcs) { accept = cb.OnPtyWindowChange(int(w), int(h), int(pw), int(ph)) })
	return reply(ok, accept)
}

//export goChannelExecRequest
func goChannelExecRequest(id C.uintptr_t, command *C.char) C.int {
	c, accept := C.GoString(command), false
	ok := call(uintptr(id), func(cb *funcs) { accept = cb.OnExecRequest(c) })
	return reply(ok, accept)
}

//export goChannelEnvRequest
func goChannelEnvRequest(id C.uintptr_t, name, value *C.char) C.int {
	n, v, accept := C.GoString(name), C.GoString(value), false
	ok := call(uintptr(id), func(cb *funcs) { accept = cb.OnEnvRequest(n, v) })
	return reply(ok, accept)
}

//export goChannelSubsystemRequest
func goChannelSubsystemRequest(id C.uintptr_t, subsystem *C.char) C.int {
	s, accept := C.GoString(subsystem), false
	ok := call(uintptr(id), func(cb *funcs) { accept = cb.OnSubsystemRequest(s) })
	return reply(ok, accept)
}

//export goChannelWriteWontblock
func goChannelWriteWontblock(id C.uintptr_t, bytes C.uint32_t) C.int {
	call(uintptr(id), func(cb *funcs) { cb.OnWriteWontblock(uint32(bytes)) })
	return 0
}
