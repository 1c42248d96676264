package callbacks_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/golibssh/libssh/internal/cgocallback"
	"github.com/golibssh/libssh/internal/sshdtest"
)

// TestMain fails the run when a test left a registration in the table.
func TestMain(m *testing.M) {
	sshdtest.ExitIfMissing("callbacks", "openssh-server", "openssh-client")
	code := m.Run()
	if code == 0 && cgocallback.Live() != 0 {
		fmt.Fprintf(os.Stderr, "callbacks: %d registrations left in the handle table\n", cgocallback.Live())
		code = 1
	}
	os.Exit(code)
}
