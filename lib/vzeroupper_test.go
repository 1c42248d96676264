package lib_test

import (
	"runtime"
	"testing"

	"github.com/golibssh/libssh/internal/vecstate"
	"github.com/golibssh/libssh/lib"
)

// TestCallClearsVectorState: a libssh call through package lib returns
// with the upper vector state clean, whatever state it was entered with.
func TestCallClearsVectorState(t *testing.T) {
	if !vecstate.Supported() {
		t.Skip("no AVX, or XGETBV cannot tell which vector state is in use")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := lib.New()
	if s.IsNil() {
		t.Fatal("ssh_new failed")
	}
	defer lib.Free(s)
	vecstate.Dirty()
	if !vecstate.UpperDirty() {
		t.Fatal("the upper vector state did not stay dirty across a return from C; the test cannot work")
	}
	lib.IsConnected(s)
	if vecstate.UpperDirty() {
		t.Error("ssh_is_connected through package lib returned with the upper vector state dirty")
	}
}
