//go:build cgo && !lockassert

package lib

// #include <libssh/libssh.h>
import "C"

import "unsafe"

// LockAssertEnabled reports whether this build checks the session lock
// (the lockassert build tag; see lockassert.go).
const LockAssertEnabled = false

// assertSession and assertChannel check that the caller holds the lock of
// the session in builds with the lockassert tag; here they are empty and
// compiled away.
func assertSession(unsafe.Pointer) {}

func assertChannel(C.ssh_channel) {}
