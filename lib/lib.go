// Package lib holds the low-level declarations of the libssh C API that the
// rest of this module uses: opaque handle types, thin wrappers generated from
// the installed libssh headers (zfuncs.go, zconst.go), and a few hand-written
// C helpers (shim.c).
//
// Nothing here is safe on its own: these are the C functions with Go types.
// Lifetimes, locking and error handling live in package libssh, which is the
// only intended user. Functions are named after their C counterparts without
// the ssh_ prefix (ssh_channel_write becomes ChannelWrite); constants keep
// their C names.
//
// lib carries no compatibility promise: its names and types change with
// libssh and with package libssh's needs, in any version.
//
// lib needs cgo and libssh 0.10 or newer, found through pkg-config.
package lib

/*
#cgo pkg-config: libssh
#include <libssh/libssh.h>

#if !defined(LIBSSH_VERSION_INT) || LIBSSH_VERSION_INT < SSH_VERSION_INT(0, 10, 0)
#error "github.com/golibssh/libssh needs libssh 0.10 or newer: install libssh-dev >= 0.10 (Debian 12 ships 0.10.6)"
#endif
*/
import "C"

import "unsafe"

//go:generate go run ./internal/mklib -lib .

// Session is an ssh_session. The zero value is the NULL session.
type Session struct{ p C.ssh_session }

// Channel is an ssh_channel. The zero value is the NULL channel.
type Channel struct{ p C.ssh_channel }

// Event is an ssh_event. The zero value is the NULL event.
type Event struct{ p C.ssh_event }

// Key is an ssh_key. The zero value is the NULL key.
type Key struct{ p C.ssh_key }

// Counter is an ssh_counter, a struct of traffic counts that libssh updates
// once it is set with SetCounters. The zero value is NULL.
type Counter struct{ p C.ssh_counter }

// IsNil reports whether c is NULL.
func (c Counter) IsNil() bool { return c.p == nil }

// InBytes returns how many bytes libssh has read from the socket: the
// counter's in_bytes. c must not be NULL. It reads the C struct without a
// call into C.
func (c Counter) InBytes() uint64 { return uint64(c.p.in_bytes) }

// OutBytes returns how many bytes libssh has written to the socket: the
// counter's out_bytes. c must not be NULL. It reads the C struct without a
// call into C.
func (c Counter) OutBytes() uint64 { return uint64(c.p.out_bytes) }

// IsNil reports whether s is NULL.
func (s Session) IsNil() bool { return s.p == nil }

// IsNil reports whether c is NULL.
func (c Channel) IsNil() bool { return c.p == nil }

// IsNil reports whether e is NULL.
func (e Event) IsNil() bool { return e.p == nil }

// IsNil reports whether k is NULL.
func (k Key) IsNil() bool { return k.p == nil }

// Raw returns the C pointer for package cgocallback, which installs C callback
// structs on it. No other package may use it.
func (c Channel) Raw() unsafe.Pointer { return unsafe.Pointer(c.p) }

// RawSession returns the C pointer of s for package cgocallback.
func (s Session) Raw() unsafe.Pointer { return unsafe.Pointer(s.p) }

// SessionFromRaw turns a pointer obtained from Raw (or handed to a callback by
// libssh) back into a Session.
func SessionFromRaw(p unsafe.Pointer) Session { return Session{p: C.ssh_session(p)} }

// ChannelFromRaw turns a pointer obtained from Raw (or handed to a callback by
// libssh) back into a Channel.
func ChannelFromRaw(p unsafe.Pointer) Channel { return Channel{p: C.ssh_channel(p)} }
