package sshdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startTimeout bounds the wait for a daemon to say that it is ready.
const startTimeout = 60 * time.Second

// stopTimeout bounds the wait, after the kill, for a daemon's processes to
// be gone.
const stopTimeout = 10 * time.Second

var errClosed = errors.New("sshdtest: closed")

// daemons runs the processes of one Server, KDC or agent. Each runs in a
// process group of its own and is killed with SIGKILL when the test binary
// dies (Pdeathsig). All of them write their log to one pipe, whose
// contents [daemons.Log] returns and which every process of theirs holds:
// its end of file says that all of them are gone.
type daemons struct {
	mu      sync.Mutex
	closed  bool
	procs   map[*proc]struct{}
	escaped bool // a process may have left its group (setsid)

	w    *os.File // the pipe's write end, given to every process
	raw  syscall.RawConn
	pipe string // the pipe as /proc/PID/fd shows it, "pipe:[inode]"
	eof  chan struct{}

	logMu sync.Mutex
	log   []byte
	more  chan struct{} // closed and replaced when log grows
}

// proc is a process started by [daemons.start].
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex // held to signal the group and to reap its leader
	reaped bool
	done   chan struct{} // closed once reaped
	err    error         // cmd.Wait's
}

// init makes the log pipe and starts the goroutine that reads it.
func (d *daemons) init() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("sshdtest: %w", err)
	}
	raw, err := r.SyscallConn()
	fi, ferr := r.Stat()
	if err = errors.Join(err, ferr); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("sshdtest: %w", err)
	}
	d.w, d.raw, d.eof, d.more = w, raw, make(chan struct{}), make(chan struct{})
	d.pipe = fmt.Sprintf("pipe:[%d]", fi.Sys().(*syscall.Stat_t).Ino)
	d.procs = map[*proc]struct{}{}
	go func() {
		_ = raw.Read(func(fd uintptr) bool { return d.drain(int(fd)) })
		r.Close()
		close(d.eof)
	}()
	return nil
}

// drain appends what the pipe holds to the log. It reports whether reading
// is over: end of file, or an error other than EAGAIN.
func (d *daemons) drain(fd int) bool {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	var buf [8192]byte
	for {
		n, err := syscall.Read(fd, buf[:])
		switch {
		case n > 0:
			d.log = append(d.log, buf[:n]...)
			close(d.more)
			d.more = make(chan struct{})
		case err == syscall.EINTR:
		default:
			return err != syscall.EAGAIN
		}
	}
}

// Log returns what the processes have logged so far, everything they wrote
// before the call included.
func (d *daemons) Log() string {
	if d.raw != nil {
		_ = d.raw.Control(func(fd uintptr) { d.drain(int(fd)) }) // fails once closed: nothing more to read
	}
	d.logMu.Lock()
	defer d.logMu.Unlock()
	return string(d.log)
}

// WaitLog waits until the log holds substr, and returns nil then. It
// returns an error when ctx ends first, or when every process is gone and
// the log does not hold it.
func (d *daemons) WaitLog(ctx context.Context, substr string) error {
	for {
		d.Log() // what the processes wrote before the call
		d.logMu.Lock()
		found, more := bytes.Contains(d.log, []byte(substr)), d.more
		d.logMu.Unlock()
		if found {
			return nil
		}
		select {
		case <-more:
		case <-d.eof:
			if strings.Contains(d.Log(), substr) {
				return nil
			}
			return fmt.Errorf("sshdtest: the log ended without %q", substr)
		case <-ctx.Done():
			return fmt.Errorf("sshdtest: no %q in the log: %w", substr, ctx.Err())
		}
	}
}

// forker runs the functions sent to it on one OS thread that never exits:
// Pdeathsig fires when the thread that forked the child exits, and Go ends
// a thread when a goroutine locked to it (as the library's callbacks are)
// returns without unlocking.
var forker = sync.OnceValue(func() chan<- func() {
	c := make(chan func())
	go func() {
		runtime.LockOSThread()
		for f := range c {
			f()
		}
	}()
	return c
})

// start starts cmd, its standard error (and output, unless set) the log
// pipe, in a process group of its own, killed when the test binary dies. A
// goroutine reaps it when it exits.
func (d *daemons) start(cmd *exec.Cmd) (*proc, error) {
	if cmd.Stdout == nil {
		cmd.Stdout = d.w
	}
	cmd.Stderr = d.w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	errc := make(chan error)
	forker() <- func() { errc <- cmd.Start() }
	if err := <-errc; err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	d.procs[p] = struct{}{}
	go func() {
		// Wait for the exit without reaping, then reap holding p.mu:
		// stop signals the group only while its leader's pid is ours.
		var info unix.Siginfo
		for unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
		}
		p.mu.Lock()
		p.err, p.reaped = cmd.Wait(), true
		p.mu.Unlock()
		close(p.done)
		d.mu.Lock()
		delete(d.procs, p)
		d.mu.Unlock()
	}()
	return p, nil
}

// stop kills p's process group (SIGKILL) and waits until p is reaped, at
// most stopTimeout (a process stuck in the kernel is left behind).
func (p *proc) stop() {
	p.mu.Lock()
	if !p.reaped && syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) != nil {
		_ = p.cmd.Process.Kill() // not a group leader after all
	}
	p.mu.Unlock()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
	}
}

// waitLog waits until the log after offset from holds ready, which p
// writes once it serves, or fails when p exits or startTimeout passes.
func (d *daemons) waitLog(p *proc, from int, ready string) error {
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	for {
		d.logMu.Lock()
		found, more := bytes.Contains(d.log[from:], []byte(ready)), d.more
		d.logMu.Unlock()
		if found {
			return nil
		}
		select {
		case <-more:
		case <-p.done:
			return fmt.Errorf("exited before it was ready (%v)", p.err)
		case <-timer.C:
			return fmt.Errorf("not ready within %v", startTimeout)
		}
	}
}

// listen starts the daemon that command makes for a port of 127.0.0.1 and
// waits until its log says ready. A daemon that exits because its port was
// taken meanwhile ("Address already in use") gets another port, up to 5.
func (d *daemons) listen(ready string, command func(port int) (*exec.Cmd, error)) (port int, err error) {
	for attempt := 1; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		cmd, err := command(port)
		if err != nil {
			return 0, err
		}
		from := len(d.Log())
		p, err := d.start(cmd)
		if err != nil {
			return 0, err
		}
		if err = d.waitLog(p, from, ready); err == nil {
			return port, nil
		}
		p.stop()
		if attempt == 5 || !strings.Contains(d.Log()[from:], "Address already in use") {
			return 0, fmt.Errorf("%s on port %d: %w\nlog:\n%s", cmd.Args[0], port, err, d.Log())
		}
	}
}

// close stops every process: it kills the process groups it started, then,
// if escaped, the processes that left them (an sshd serving a connection
// of a listening sshd calls setsid), found by the log pipe they hold, and
// waits until no process holds the pipe.
func (d *daemons) close() error {
	d.mu.Lock()
	if d.closed || d.w == nil {
		d.closed = true
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	procs, escaped := slices.Collect(maps.Keys(d.procs)), d.escaped
	d.mu.Unlock()
	for _, p := range procs {
		p.stop()
	}
	d.w.Close()
	for range 3 { // a process may fork while it is being found
		if escaped {
			d.killHolders()
		}
		select {
		case <-d.eof:
			return nil
		case <-time.After(stopTimeout / 3):
		}
	}
	return fmt.Errorf("sshdtest: processes still running %v after being killed", stopTimeout)
}

// killHolders kills every other process that has the log pipe open. A
// pidfd pins each one while it is checked again and killed. It spares this
// process's own children: the daemons were killed already, and any other
// child holds the pipe only between its fork and its exec (another test's
// ssh-keygen or daemon starting), which must not be killed.
func (d *daemons) killHolders() {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || parentPid(pid) == os.Getpid() || !d.holds(pid) {
			continue
		}
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			if d.holds(pid) {
				_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			}
			unix.Close(fd)
		}
	}
}

// parentPid returns the parent of process pid, or 0 if it cannot tell.
func parentPid(pid int) int {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	f := strings.Fields(string(rest))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// holds reports whether the process pid has the log pipe open.
func (d *daemons) holds(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if target, _ := os.Readlink(dir + e.Name()); target == d.pipe {
			return true
		}
	}
	return false
}

// closeAtCleanup registers a cleanup on t that calls close and then, if
// the test failed, writes log() to the test log.
func closeAtCleanup(t testing.TB, name string, log func() string, close func() error) {
	t.Cleanup(func() {
		if err := close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("sshdtest: %s log:\n%s", name, log())
		}
	})
}

// run runs program with args, the environment env and stdin, for at most
// startTimeout, and returns its output; the error includes it.
func run(env []string, stdin, program string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", filepath.Base(program), err, out)
	}
	return string(out), nil
}
