package lib_test

import (
	"testing"

	"github.com/golibssh/libssh/lib"
)

// BenchmarkCall: one trivial libssh call (ssh_is_connected on a session
// that never connected), what every call through package lib costs on top
// of the work it does: cgo's transition and the generated wrapper.
func BenchmarkCall(b *testing.B) {
	s := lib.New()
	if s.IsNil() {
		b.Fatal("ssh_new failed")
	}
	defer lib.Free(s)
	for b.Loop() {
		if lib.IsConnected(s) != 0 {
			b.Fatal("a new session is connected")
		}
	}
}
