package sshdtest

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/golibssh/libssh/internal/daemontest"
)

// inetdProc is an "sshd -i" process, the leader of its own process group.
type inetdProc struct {
	cmd *exec.Cmd

	mu      sync.Mutex // guards the fields below and serializes stop
	stopped bool       // the process has been reaped
	pidfd   int        // pidfd of the process, or -1 (unsupported or closed)
}

// stop kills the process group of sshd (SIGKILL) and reaps sshd, unless
// that has been done already. Killing the group, not just sshd, matters:
// sshd forks a privilege separation child that shares the connection and
// would outlive its parent until it reads EOF or LoginGraceTime expires.
// As the group leader is not reaped before the signal is sent, its process
// group ID cannot have been reused.
func (p *inetdProc) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil
	}
	p.stopped = true
	pid := p.cmd.Process.Pid
	var err error
	if kerr := syscall.Kill(-pid, syscall.SIGKILL); kerr != nil && kerr != syscall.ESRCH {
		err = fmt.Errorf("killing the process group of sshd -i (pid %d): %w", pid, kerr)
		// Make sure at least sshd itself dies, or Wait would hang.
		if kerr := p.cmd.Process.Kill(); kerr != nil && !errors.Is(kerr, os.ErrProcessDone) {
			err = errors.Join(err, fmt.Errorf("killing sshd -i (pid %d): %w", pid, kerr))
		}
	}
	_ = p.cmd.Wait() // the exit status of a killed sshd is uninteresting
	if p.pidfd >= 0 {
		syscall.Close(p.pidfd)
		p.pidfd = -1
	}
	return err
}

// exited reports whether sshd has exited but not been reaped yet.
func (p *inetdProc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.pidfd < 0 {
		return false
	}
	ready, err := daemontest.WaitReadable(0, p.pidfd)
	return err == nil && ready[0]
}

// stopProc stops p and forgets it.
func (s *Server) stopProc(p *inetdProc) error {
	err := p.stop()
	s.mu.Lock()
	delete(s.procs, p)
	s.mu.Unlock()
	return err
}

// reapExited reaps the sshd -i processes that have exited on their own
// (their client closed the connection), so that a long-lived Server does not
// accumulate zombies.
func (s *Server) reapExited() error {
	s.mu.Lock()
	procs := slices.Collect(maps.Keys(s.procs))
	s.mu.Unlock()
	var errs []error
	for _, p := range procs {
		if p.exited() {
			if err := s.stopProc(p); err != nil {
				errs = append(errs, fmt.Errorf("sshdtest: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// Conn starts a new "sshd -i" (inetd mode) process serving one connection
// over a Unix socket pair and returns the client end, a *net.UnixConn. It
// is [Server.Pipe] without a testing.TB. The caller owns the connection and
// must close it.
//
// The sshd process exits when the connection is closed or the session
// ends; it is reaped by a later Conn call or by [Server.Close], which kills
// it (SIGKILL) if it is still running. sshd logs to [Server.LogPath];
// nothing but the SSH protocol is written to the connection.
func (s *Server) Conn() (net.Conn, error) {
	conn, _, err := s.conn()
	return conn, err
}

// conn implements Conn and also returns the sshd process.
func (s *Server) conn() (net.Conn, *inetdProc, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, errClosed
	}
	s.starting.Add(1)
	s.mu.Unlock()
	started := false
	defer func() {
		if !started {
			s.starting.Done()
		}
	}()

	if err := s.reapExited(); err != nil {
		return nil, nil, err
	}
	if err := s.sweepPAMDirs(false); err != nil {
		return nil, nil, err
	}

	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("sshdtest: socketpair: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "sshdtest-client")
	child := os.NewFile(uintptr(fds[1]), "sshdtest-sshd")
	defer parent.Close() // net.FileConn dups the descriptor

	logFile, err := s.openLog()
	if err != nil {
		child.Close()
		return nil, nil, fmt.Errorf("sshdtest: %w", err)
	}
	p := &inetdProc{pidfd: -1}
	// Never pass -e: in inetd mode sshd would then keep stderr and its
	// debug output could reach the client. The log goes to LogPath.
	p.cmd = exec.Command(SSHDPath, "-i", "-f", s.ConfigPath, "-E", s.LogPath)
	p.cmd.Stdin = child
	p.cmd.Stdout = child
	p.cmd.Stderr = logFile // only for messages printed before -E applies
	p.cmd.Env = s.env
	// A process group of its own lets stop kill sshd's children too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, PidFD: &p.pidfd}
	err = p.cmd.Start()
	child.Close()
	logFile.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("sshdtest: starting sshd -i: %w", err)
	}

	// Close, if it has started meanwhile, waits for this before it looks
	// at procs, and then stops p.
	s.mu.Lock()
	s.procs[p] = struct{}{}
	s.mu.Unlock()
	started = true
	s.starting.Done()

	conn, err := net.FileConn(parent)
	if err != nil {
		if serr := s.stopProc(p); serr != nil {
			err = fmt.Errorf("%w; %v", err, serr)
		}
		return nil, nil, fmt.Errorf("sshdtest: wrapping socket: %w", err)
	}
	return conn, p, nil
}

// Pipe is [Server.Conn] for tests: it fails t on error, and a cleanup
// registered on t stops the sshd process as Close would (SIGKILL to its
// process group) and reaps it when the test ends, so that long test runs do
// not accumulate sshd processes. The caller owns the connection and must
// close it.
func (s *Server) Pipe(t testing.TB) net.Conn {
	t.Helper()
	conn, p, err := s.conn()
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := s.stopProc(p); err != nil {
			t.Errorf("sshdtest: %v", err)
		}
		if err := s.sweepPAMDirs(false); err != nil {
			t.Errorf("%v", err)
		}
	})
	return conn
}
