//go:build cgo && lockassert

package lib

// #include <libssh/libssh.h>
import "C"

import "unsafe"

// LockAssert, when set, is called before every libssh call with the
// ssh_session the call works on (a channel's session for channel calls).
// Package libssh sets it in builds with the lockassert tag, to check that
// the calling goroutine holds that session's lock; it panics if not.
var LockAssert func(session unsafe.Pointer)

// LockAssertEnabled reports whether this build checks the session lock.
const LockAssertEnabled = true

func assertSession(p unsafe.Pointer) {
	if f := LockAssert; f != nil && p != nil {
		f(p)
	}
}

func assertChannel(ch C.ssh_channel) {
	if f := LockAssert; f != nil && ch != nil {
		f(unsafe.Pointer(C.ssh_channel_get_session(ch)))
	}
}
