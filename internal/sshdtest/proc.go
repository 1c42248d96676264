package sshdtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/golibssh/libssh/internal/daemontest"
)

// stopTimeout bounds how long stopping a listening sshd waits for the
// children it kills to exit.
const stopTimeout = 10 * time.Second

// freezeAndKillChildren stops (SIGSTOP) the listening sshd p, waits until it
// has stopped, and then kills (SIGKILL) and waits for those of its children
// that have not detached from its session yet, or for all of them (with
// their process groups) if all is set. sshd forks a child per connection,
// which closes the listening socket and only then calls setsid(2); a child
// still in sshd's session may therefore hold the listening socket, while a
// detached child serves an established connection. While sshd is stopped
// it can neither fork nor reap, so the set of its children is fixed and
// their pids, which are also the IDs of the process groups of the detached
// ones, cannot be reused. p is left stopped.
func freezeAndKillChildren(p *os.Process, all bool) error {
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return nil
		}
		return fmt.Errorf("sending SIGSTOP: %w", err)
	}
	if err := waitStopped(p.Pid); err != nil {
		return err
	}
	st, err := readStat(p.Pid)
	if err != nil {
		return err
	}
	children, err := childrenOf(p.Pid)
	if err != nil {
		return err
	}
	var pidfds []int
	defer func() {
		for _, fd := range pidfds {
			syscall.Close(fd)
		}
	}()
	for _, c := range children {
		cst, err := readStat(c)
		if errors.Is(err, os.ErrNotExist) {
			continue // not ours: exited and reaped before sshd stopped
		}
		if err != nil {
			return err
		}
		if cst.ppid != p.Pid || cst.state == 'Z' {
			continue // exited, or not a child of sshd
		}
		detached := cst.sid != st.sid
		if detached && !all {
			continue
		}
		fd, err := daemontest.PidfdOpen(c)
		if err != nil {
			return fmt.Errorf("pidfd_open %d: %w", c, err)
		}
		pidfds = append(pidfds, fd)
		target := c
		if detached && cst.sid == c {
			// A session leader, so also the leader of its process
			// group, which holds the privilege separation child.
			target = -c
		}
		if err := syscall.Kill(target, syscall.SIGKILL); err != nil {
			return fmt.Errorf("killing child %d: %w", c, err)
		}
	}
	deadline := time.Now().Add(stopTimeout)
	for _, fd := range pidfds {
		ready, err := daemontest.WaitReadable(time.Until(deadline), fd)
		if err != nil {
			return err
		}
		if !ready[0] {
			return fmt.Errorf("killed children did not exit within %v", stopTimeout)
		}
	}
	return nil
}

// procStat holds the fields of /proc/PID/stat that the package uses.
type procStat struct {
	state byte
	ppid  int
	sid   int
}

// readStat reads /proc/PID/stat. The error wraps os.ErrNotExist if the
// process does not exist.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// "pid (comm) state ppid pgrp session ..."; comm may contain
	// anything, including spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat: %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 4 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat: %q", pid, b)
	}
	st := procStat{state: f[0][0]}
	var err1, err2 error
	st.ppid, err1 = strconv.Atoi(f[1])
	st.sid, err2 = strconv.Atoi(f[3])
	if err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat: %q", pid, b)
	}
	return st, nil
}

// childrenOf lists the children of the single-threaded process pid, from
// /proc/PID/task/PID/children or, on kernels without it, by scanning /proc.
func childrenOf(pid int) ([]int, error) {
	p := strconv.Itoa(pid)
	if b, err := os.ReadFile("/proc/" + p + "/task/" + p + "/children"); err == nil {
		var pids []int
		for _, f := range strings.Fields(string(b)) {
			c, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("malformed /proc/%d/task/%d/children: %q", pid, pid, b)
			}
			pids = append(pids, c)
		}
		return pids, nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// readStat is checked again by the caller; errors here only
		// mean that the process has gone.
		if st, err := readStat(c); err == nil && st.ppid == pid {
			pids = append(pids, c)
		}
	}
	return pids, nil
}

// waitStopped waits until the child process pid has stopped or exited,
// without reaping it or consuming the notification (waitid with WNOWAIT).
func waitStopped(pid int) error {
	const pPID = 1     // idtype_t P_PID
	var info [128]byte // siginfo_t
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info)),
			syscall.WSTOPPED|syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch e {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		default:
			return fmt.Errorf("waitid %d: %w", pid, e)
		}
	}
}
