//go:build lockassert

package libssh

import (
	"context"
	"testing"

	"github.com/golibssh/libssh/lib"
)

// TestLockAssertCatchesUnlockedCall: in lockassert builds, a libssh call on a
// session this package drives, made without its lock, panics.
func TestLockAssertCatchesUnlockedCall(t *testing.T) {
	s, err := NewSession(context.Background(), "localhost", WithAutoConnect(false))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("an unlocked libssh call did not panic")
			}
		}()
		lib.GetFd(s.st.p)
	}()
	// The same call with the lock held passes.
	s.st.lock()
	lib.GetFd(s.st.p)
	s.st.unlock()
}
