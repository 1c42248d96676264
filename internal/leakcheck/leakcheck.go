// Package leakcheck is the tests' audit of what a package's tests leave
// behind: callback registrations, goroutines and open descriptors. Close
// methods stop everything they started before they return, so the audit
// compares at once, without waiting.
package leakcheck

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/golibssh/libssh/internal/cgocallback"
)

// Baseline is what existed before the tests ran.
type Baseline struct {
	goroutines int
	fds        map[string]string
}

// Take records the baseline. Call it in TestMain before m.Run.
func Take() Baseline {
	// Let the runtime make its network poller's descriptors first.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	return Baseline{goroutines: runtime.NumGoroutine(), fds: fdTargets()}
}

// Check collects garbage, then reports the first leak it finds: a callback
// registration not removed, a goroutine or a descriptor more than in b.
func (b Baseline) Check() error {
	runtime.GC()
	switch {
	case cgocallback.Live() != 0:
		return fmt.Errorf("%d callback registrations not removed", cgocallback.Live())
	case runtime.NumGoroutine() > b.goroutines:
		buf := make([]byte, 1<<20)
		return fmt.Errorf("%d goroutines at the end, %d at the start:\n%s",
			runtime.NumGoroutine(), b.goroutines, buf[:runtime.Stack(buf, true)])
	}
	var extra []string
	for fd, target := range fdTargets() {
		if b.fds[fd] != target {
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
