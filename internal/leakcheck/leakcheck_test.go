package leakcheck_test

import (
	"os"
	"strings"
	"testing"

	"github.com/golibssh/libssh/internal/leakcheck"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/sshtest"
)

func TestMain(m *testing.M) {
	sshdtest.ExitIfMissing("leakcheck", "openssh-server", "openssh-client")
	os.Exit(m.Run())
}

// TestModuleGoroutinesOnly checks that the audit counts the goroutines of
// the module's packages (sshtest's here) but not the harness's (those of a
// running sshd), and finds nothing once both are closed.
func TestModuleGoroutinesOnly(t *testing.T) {
	base := leakcheck.Take()
	sshd, err := sshdtest.Start(sshdtest.Options{})
	if err == nil {
		_, err = sshd.Addr()
	}
	if err != nil {
		t.Fatal(err)
	}
	defer sshd.Close()
	if err := base.Check(); err == nil || strings.Contains(err.Error(), "goroutines") {
		t.Errorf("with sshd running: %v; want only its descriptors reported", err)
	}
	srv, err := sshtest.NewServer(sshtest.Options{AuthNone: true})
	if err != nil {
		t.Fatal(err)
	}
	err = base.Check()
	srv.Close()
	if err == nil || !strings.Contains(err.Error(), "goroutines of the module") || !strings.Contains(err.Error(), "libssh/sshtest.") {
		t.Errorf("with an sshtest server running: %v; want its goroutines reported", err)
	}
	if err := sshd.Close(); err != nil {
		t.Fatal(err)
	}
	if err := base.Check(); err != nil {
		t.Errorf("after closing both: %v", err)
	}
}
