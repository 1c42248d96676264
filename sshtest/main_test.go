package sshtest_test

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/golibssh/libssh/callbacks"
)

// TestMain audits what the tests leave behind: every callback registration
// removed, no goroutine or descriptor left over. Server.Close and
// Session.Close stop everything they started before they return, so the
// counts must be back where they were at once, without waiting.
func TestMain(m *testing.M) {
	// Let the runtime make its network poller's descriptors first.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	goroutines := runtime.NumGoroutine()
	fds := fdTargets()
	code := m.Run()
	if code == 0 {
		runtime.GC()
		if err := leaks(goroutines, fds); err != nil {
			fmt.Fprintln(os.Stderr, "leak audit:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func leaks(goroutines int, fds map[string]string) error {
	switch {
	case callbacks.Live() != 0:
		return fmt.Errorf("%d callback registrations not removed", callbacks.Live())
	case runtime.NumGoroutine() > goroutines:
		buf := make([]byte, 1<<20)
		return fmt.Errorf("%d goroutines at the end, %d at the start:\n%s",
			runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
	}
	var extra []string
	for fd, target := range fdTargets() {
		if fds[fd] != target {
			extra = append(extra, fd+" -> "+target)
		}
	}
	if len(extra) > 0 {
		return fmt.Errorf("descriptors left open: %v", extra)
	}
	return nil
}

// fdTargets maps each open descriptor to what it refers to.
func fdTargets() map[string]string {
	ents, _ := os.ReadDir("/proc/self/fd")
	out := map[string]string{}
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			out[e.Name()] = target
		}
	}
	return out
}
