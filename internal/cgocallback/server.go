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

// MessageHandler handles one message a client sent to a server-side
// session that no channel callback took: an authentication request, a
// channel open, a request on a channel without a matching callback, a
// service or global request. It returns true when it answered the message,
// false to have libssh answer it by default (a refusal; a service request
// is accepted). m is valid only during the call.
//
// It runs inside whatever libssh call is processing the session's packets,
// with the session locked, like a channel callback.
type MessageHandler func(m lib.Message) (answered bool)

// ServerRegistration is a MessageHandler installed on a session.
type ServerRegistration struct {
	id uintptr
	s  unsafe.Pointer // the C server callback struct; nil once freed
}

type serverEntry struct {
	handle MessageHandler
	guard  func(run func())
}

// InstallServer installs handle as session p's message handler, with guard
// (which may be nil) wrapped around every call as in InstallGuarded. It
// also installs an empty server callback struct: libssh 0.10 offers a
// channel's requests to the channel's callbacks only when the session has
// one. The caller must hold the session's lock, and must Free the
// registration after the session is freed.
func InstallServer(p lib.Session, handle MessageHandler, guard func(run func())) (*ServerRegistration, error) {
	return installHandler(p, handle, guard, true)
}

// InstallClient installs handle as client session p's message handler,
// with guard as in InstallServer: it gets the messages libssh would
// otherwise queue for ssh_message_get, such as the server's
// "forwarded-tcpip" channel opens. Global requests and the channel opens
// that libssh's client callbacks take never reach it. The caller must hold
// the session's lock, and must Free the registration after the session is
// freed.
func InstallClient(p lib.Session, handle MessageHandler, guard func(run func())) (*ServerRegistration, error) {
	return installHandler(p, handle, guard, false)
}

// installHandler is InstallServer (server: with the empty server callback
// struct) and InstallClient.
func installHandler(p lib.Session, handle MessageHandler, guard func(run func()), server bool) (*ServerRegistration, error) {
	if p.IsNil() {
		return nil, errors.New("callbacks: install on a NULL session")
	}
	if handle == nil {
		return nil, errors.New("callbacks: nil message handler")
	}
	id := handles.register(&serverEntry{handle: handle, guard: guard})
	r := &ServerRegistration{id: id}
	if !server {
		C.golibssh_message_callback_set(p.Raw(), C.uintptr_t(id))
		return r, nil
	}
	if r.s = C.golibssh_server_callbacks_set(p.Raw(), C.uintptr_t(id)); r.s == nil {
		handles.remove(id)
		return nil, errors.New("callbacks: ssh_set_server_callbacks failed (out of memory?)")
	}
	return r, nil
}

// Free frees the C struct (of InstallServer) and the table entry. Call it
// only after the session was freed (libssh keeps pointing at both until
// then). It is idempotent.
func (r *ServerRegistration) Free() {
	if r == nil || r.id == 0 {
		return
	}
	if r.s != nil {
		C.free(r.s)
	}
	handles.remove(r.id)
	r.id, r.s = 0, nil
}

//export goServerMessage
func goServerMessage(id C.uintptr_t, msg unsafe.Pointer) (rc C.int) {
	v, ok := handles.lookup(uintptr(id))
	if !ok {
		return 1
	}
	e := v.(*serverEntry)
	rc = 1
	defer func() {
		if r := recover(); r != nil {
			panics.Add(1)
			rc = 1 // refuse what the handler could not answer
		}
	}()
	run := func() {
		if e.handle(lib.MessageFromRaw(msg)) {
			rc = 0
		}
	}
	if e.guard != nil {
		e.guard(run)
	} else {
		run()
	}
	return rc
}
