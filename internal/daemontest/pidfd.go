package daemontest

import (
	"runtime"
	"syscall"
)

// sysPidfdOpen is the number of the pidfd_open system call, which the
// syscall package does not define on most architectures.
var sysPidfdOpen = map[string]uintptr{
	"mips": 4434, "mipsle": 4434, "mips64": 5434, "mips64le": 5434,
}[runtime.GOARCH]

// sysPidfdSendSignal is the number of the pidfd_send_signal system call.
var sysPidfdSendSignal = map[string]uintptr{
	"mips": 4424, "mipsle": 4424, "mips64": 5424, "mips64le": 5424,
}[runtime.GOARCH]

// PidfdOpen returns a pidfd (close-on-exec) for the process pid; the
// caller closes it. Holding a pidfd pins the process: signals sent through
// it ([PidfdSendSignal]) cannot reach another process that reuses pid, and
// it becomes readable ([WaitReadable]) when the process exits. The error
// is the bare errno, for example syscall.ESRCH if there is no such
// process.
func PidfdOpen(pid int) (int, error) {
	nr := sysPidfdOpen
	if nr == 0 {
		nr = 434 // the same on every other Linux architecture
	}
	fd, _, e := syscall.Syscall(nr, uintptr(pid), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// PidfdSendSignal sends sig to the process of the pidfd fd. The error is
// the bare errno, for example syscall.ESRCH if the process has exited.
func PidfdSendSignal(fd int, sig syscall.Signal) error {
	nr := sysPidfdSendSignal
	if nr == 0 {
		nr = 424 // the same on every other Linux architecture
	}
	_, _, e := syscall.Syscall6(nr, uintptr(fd), uintptr(sig), 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
