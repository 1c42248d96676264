package sftp_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/golibssh/libssh/internal/leakcheck"
	"github.com/golibssh/libssh/internal/sshdtest"
)

// TestMain audits what the tests leave behind: no goroutine or descriptor
// left over, every callback registration removed.
func TestMain(m *testing.M) {
	sshdtest.ExitIfMissing("sftp", "openssh-server")
	base := leakcheck.Take()
	code := m.Run()
	if code == 0 {
		if err := base.Check(); err != nil {
			fmt.Fprintln(os.Stderr, "leak audit:", err)
			code = 1
		}
	}
	os.Exit(code)
}
