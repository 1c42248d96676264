package cgocallback

/*
#cgo pkg-config: libssh
#include <stdint.h>
#include "shim.h"
*/
import "C"

import "fmt"

// LogFunc receives one libssh log line: its libssh priority (SSH_LOG_WARN to
// SSH_LOG_TRACE), the C function that logged it, and the message.
type LogFunc func(priority int, function, message string)

// Logger is a registered LogFunc. Its zero value logs nothing.
type Logger struct{ id uintptr }

// NewLogger registers f and returns the handle to pass to SetThreadLogging.
// Remove it with Close when the session that uses it is closed.
func NewLogger(f LogFunc) *Logger { return &Logger{id: handles.register(f)} }

// Close removes the logger from the table. Log lines that still arrive for
// it are dropped. Close is idempotent.
func (l *Logger) Close() {
	if l != nil && l.id != 0 {
		handles.remove(l.id)
		l.id = 0
	}
}

// SetThreadLogging sets libssh's logging state for the calling OS thread:
// libssh keeps its log level, callback and userdata in thread-local storage.
// With l nil or level 0 it turns logging off for the thread. The caller must
// keep the goroutine locked to its thread for as long as the setting should
// apply, and turn it off again before unlocking.
func SetThreadLogging(level int, l *Logger) {
	if l == nil || l.id == 0 || level <= 0 {
		C.golibssh_log_thread(0, 0)
		return
	}
	C.golibssh_log_thread(C.int(level), C.uintptr_t(l.id))
}

//export goLibsshLog
func goLibsshLog(priority C.int, function, message *C.char, id C.uintptr_t) {
	defer func() {
		if r := recover(); r != nil {
			panics.Add(1)
			// A logger that panics must not take libssh down with it; the
			// line is lost, the count says so.
			_ = fmt.Sprint(r)
		}
	}()
	v, ok := handles.lookup(uintptr(id))
	if !ok {
		return
	}
	if f, ok := v.(LogFunc); ok {
		f(int(priority), C.GoString(function), C.GoString(message))
	}
}
