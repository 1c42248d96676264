// Package leakcheck is the tests' audit of what a package's tests leave
// behind: callback registrations, socket read-ahead buffers, goroutines of
// this module and open descriptors. Close methods stop everything they
// started before they return, so the audit compares at once, without
// waiting.
package leakcheck

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"

	"github.com/golibssh/libssh/internal/cgocallback"
	"github.com/golibssh/libssh/internal/testbound"
	"github.com/golibssh/libssh/lib"
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
	return Baseline{goroutines: len(moduleGoroutines()), fds: fdTargets()}
}

// moduleGoroutines returns the stacks of the goroutines running code of
// this module, or started by it, outside internal/: the library's and its
// tests'. The test harness's own (such as those reaping its daemons, or a
// daemon that an example's TestMain keeps running) do not count.
func moduleGoroutines() []string {
	const module = "github.com/golibssh/libssh"
	var out []string
	for _, g := range strings.Split(string(testbound.AllStacks()), "\n\n") {
		for _, line := range strings.Split(g, "\n") {
			fn := strings.TrimPrefix(line, "created by ")
			if strings.HasPrefix(fn, module) && !strings.HasPrefix(fn, module+"/internal/") {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// Check collects garbage, then reports the first leak it finds: a callback
// registration not removed, a goroutine of the module or a descriptor
// more than in b.
func (b Baseline) Check() error {
	runtime.GC()
	if cgocallback.Live() != 0 {
		return fmt.Errorf("%d callback registrations not removed", cgocallback.Live())
	}
	if _, _, live := lib.ReadaheadStats(); live != 0 {
		return fmt.Errorf("%d socket read-ahead buffers not dropped", live)
	}
	if g := moduleGoroutines(); len(g) > b.goroutines {
		return fmt.Errorf("%d goroutines of the module at the end, %d at the start:\n%s",
			len(g), b.goroutines, strings.Join(g, "\n\n"))
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
