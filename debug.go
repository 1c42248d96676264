package libssh

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
)

// debugLeaks is set by GOLIBSSH_DEBUG=leaks: objects then remember where they
// were made, and one collected without Close is reported on stderr.
var debugLeaks = strings.Contains(os.Getenv("GOLIBSSH_DEBUG"), "leaks")

// leakHook, when set (by tests), receives leak reports instead of stderr.
var leakHook func(kind, stack string)

func creationStack() string {
	if !debugLeaks && leakHook == nil {
		return ""
	}
	buf := make([]byte, 4096)
	return string(buf[:runtime.Stack(buf, false)])
}

// reportLeak is called by a cleanup that found an object still open.
func reportLeak(kind, stack string) {
	if h := leakHook; h != nil {
		h(kind, stack)
		return
	}
	if debugLeaks {
		fmt.Fprintf(os.Stderr, "libssh: a %s was garbage-collected without Close; it was made at:\n%s\n", kind, stack)
	}
}

func syscallClose(fd int) { syscall.Close(fd) }
