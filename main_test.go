package libssh_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/leakcheck"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/internal/testbound"
)

// TestMain audits what the suite leaves behind: every C session, channel
// and key freed, every callback registration removed, no goroutine or
// descriptor left over.
func TestMain(m *testing.M) {
	if os.Getenv(sinkEnv) != "" {
		runSink()
	}
	sshdtest.ExitIfMissing("libssh")
	testbound.Report = func() string { return "engines:\n" + libssh.EngineDump() }
	base := leakcheck.Take()
	code := m.Run()
	if code == 0 {
		if err := audit(base); err != nil {
			fmt.Fprintln(os.Stderr, "leak audit:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func audit(base leakcheck.Baseline) error {
	runtime.GC()
	switch {
	case libssh.LiveSessions() != 0:
		return fmt.Errorf("%d C sessions not freed", libssh.LiveSessions())
	case libssh.LiveKeys() != 0:
		return fmt.Errorf("%d C keys not freed", libssh.LiveKeys())
	case libssh.LiveChannels() != 0:
		return fmt.Errorf("%d C channels not freed", libssh.LiveChannels())
	}
	return base.Check()
}
