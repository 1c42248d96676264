package cgocallback

/*
#include <stdint.h>
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"unsafe"

	"github.com/golibssh/libssh/lib"
)

// AgentOpenHandler answers a server's auth-agent@openssh.com channel open
// on a client session: it returns a new channel (ssh_channel_new) to
// accept the open, or a NULL channel to refuse it. libssh sends the
// confirmation after it returns. It runs inside whatever libssh call is
// processing the session's packets, with the session locked, so it must
// not block.
type AgentOpenHandler func() lib.Channel

// SessionRegistration is a client session's callback struct.
type SessionRegistration struct {
	id uintptr
	s  unsafe.Pointer // the C struct; nil once freed
}

// InstallSession sets a callback struct on the client session p whose one
// callback is agentOpen (ssh_set_callbacks: it replaces any struct set
// before). The caller must hold the session's lock, and must Free the
// registration after the session is freed.
func InstallSession(p lib.Session, agentOpen AgentOpenHandler) (*SessionRegistration, error) {
	if p.IsNil() {
		return nil, errors.New("callbacks: install on a NULL session")
	}
	if agentOpen == nil {
		return nil, errors.New("callbacks: nil agent open handler")
	}
	id := handles.register(agentOpen)
	s := C.golibssh_session_callbacks_set(p.Raw(), C.uintptr_t(id))
	if s == nil {
		handles.remove(id)
		return nil, errors.New("callbacks: ssh_set_callbacks failed (out of memory?)")
	}
	return &SessionRegistration{id: id, s: s}, nil
}

// Free frees the C struct and the table entry. Call it only after the
// session was freed (libssh keeps pointing at the struct until then). It is
// idempotent, and does nothing on a nil registration.
func (r *SessionRegistration) Free() {
	if r == nil || r.s == nil {
		return
	}
	C.free(r.s)
	handles.remove(r.id)
	r.s = nil
}

//export goSessionAuthAgentOpen
func goSessionAuthAgentOpen(id C.uintptr_t) (ch unsafe.Pointer) {
	v, ok := handles.lookup(uintptr(id))
	if !ok {
		return nil // refused
	}
	defer func() {
		if r := recover(); r != nil {
			panics.Add(1)
			ch = nil
		}
	}()
	return v.(AgentOpenHandler)().Raw()
}
