package sshdtest

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golibssh/libssh/internal/daemontest"
)

// listenTimeout bounds how long [Server.Addr] waits, over all attempts,
// for sshd to start listening.
const listenTimeout = 60 * time.Second

// listenAttempts is how many ports [Server.Addr] tries before giving up.
const listenAttempts = 5

// pickPort chooses the port for a listening sshd; tests replace it to
// exercise the retry path.
var pickPort = daemontest.FreePort

// Addr starts "sshd -D" listening on 127.0.0.1, unless it is running
// already, and returns its address, "127.0.0.1:PORT". It is [Server.Listen]
// without a testing.TB. The listening sshd runs until [Server.Close] (or
// until the test whose Listen call started it ends).
//
// Readiness is event-driven: the pid file is a FIFO and sshd writes it only
// once its listening socket is bound, so the FIFO becomes readable exactly
// when sshd accepts connections. Addr waits for that, or for sshd to exit
// (through a pidfd, so Linux 5.3 or later is needed), without starting any
// goroutine. The port is chosen by binding 127.0.0.1:0 and is passed, like
// the pid file, with -o on sshd's command line, so one sshd_config serves
// both Conn and Addr. If sshd exits before listening because it could not
// bind the port (another process took it in the meantime), another port is
// tried, up to 5 times; any other early exit is an error at once. Addr
// gives up after 60 seconds in total; its error then includes the sshd log.
func (s *Server) Addr() (string, error) {
	addr, _, err := s.listen()
	return addr, err
}

// Listen is [Server.Addr] for tests: it fails t on error. The sshd is
// started once per Server: later calls return the same address until the
// cleanup registered on the t of the starting call has stopped it (after
// which a call starts a new one). When that cleanup returns, the port
// refuses connections: it freezes sshd (SIGSTOP), kills (SIGKILL) the
// children sshd has just forked, which may still hold the listening socket,
// then kills sshd.
//
// sshd processes serving established connections are not stopped by this;
// close client connections before the test ends. A client that connects
// and closes at once should first read the server's banner: until the
// sshd serving a connection has sent it, that sshd may still open its log
// file by path, and so recreate it while the test's directory is removed.
func (s *Server) Listen(t testing.TB) (addr string) {
	t.Helper()
	addr, d, err := s.listen()
	if err != nil {
		t.Fatalf("%v", err)
	}
	if d != nil {
		t.Cleanup(func() {
			s.mu.Lock()
			if s.lis == d {
				s.lis = nil
			}
			s.mu.Unlock()
			if err := d.stop(false); err != nil {
				t.Errorf("sshdtest: %v", err)
			}
			if err := s.sweepPAMDirs(false); err != nil {
				t.Errorf("%v", err)
			}
		})
	}
	return addr
}

// listen implements Addr. It returns the listener too if this call started
// it.
func (s *Server) listen() (addr string, started *listener, err error) {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	s.mu.Lock()
	closed, d := s.closed, s.lis
	s.mu.Unlock()
	if closed {
		return "", nil, errClosed
	}
	if err := s.sweepPAMDirs(false); err != nil {
		return "", nil, err
	}
	if d != nil {
		return d.addr, nil, nil
	}

	deadline := time.Now().Add(listenTimeout)
	var failures []string
	for attempt := 1; attempt <= listenAttempts; attempt++ {
		d, retry, err := s.startListening(deadline)
		if err == nil {
			// Close waits for listenMu before it looks at s.lis, so
			// it will stop d even if it has started meanwhile.
			s.mu.Lock()
			s.lis = d
			s.mu.Unlock()
			return d.addr, d, nil
		}
		failures = append(failures, fmt.Sprintf("attempt %d: %v", attempt, err))
		if !retry {
			break
		}
	}
	return "", nil, fmt.Errorf("sshdtest: starting sshd -D failed:\n%s\nsshd log %s:\n%s",
		strings.Join(failures, "\n"), s.LogPath, s.Log())
}

// listener is a running "sshd -D" process.
type listener struct {
	addr string
	cmd  *exec.Cmd

	stopOnce sync.Once
}

// startListening makes one attempt at starting a listening sshd on a fresh
// port, before deadline (see [daemontest.Daemon.Start]). On failure it
// leaves no process behind and reports whether trying another port might
// help. The caller must hold s.listenMu.
func (s *Server) startListening(deadline time.Time) (d *listener, retry bool, err error) {
	port, err := pickPort()
	if err != nil {
		return nil, false, err
	}
	logStart := s.logSize()
	logFile, err := s.openLog()
	if err != nil {
		return nil, false, err
	}
	defer logFile.Close()

	fifo := filepath.Join(s.Dir, "sshd.pid")
	d = &listener{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	// -o options take precedence over the configuration file, whose
	// "PidFile none" serves Conn.
	d.cmd = exec.Command(SSHDPath, "-D", "-f", s.ConfigPath, "-E", s.LogPath,
		"-o", "PidFile="+fifo,
		"-o", "ListenAddress="+d.addr,
	)
	d.cmd.Stderr = logFile // only for messages printed before -E applies
	d.cmd.Env = s.env
	err = daemontest.Daemon{
		Name:    "sshd -D on " + d.addr,
		Cmd:     d.cmd,
		PidFile: fifo,
		Stop:    func() error { return d.stop(true) },
	}.Start(deadline)
	if errors.Is(err, daemontest.ErrExited) {
		log := s.logSince(logStart)
		retry = strings.Contains(log, "Address already in use") ||
			strings.Contains(log, "Cannot bind any address")
		return nil, retry, err
	}
	if err != nil {
		return nil, false, err
	}
	return d, false, nil
}

// stop stops the listening sshd and reaps it. Only the first call does
// this and can report an error; later calls wait for it.
//
// Killing just the listening sshd would not close its listening socket for
// sure: a child that sshd has just forked for a new connection holds the
// socket until it gets round to closing it, and connections to the port
// would still succeed meanwhile. So stop freezes sshd, kills those of its
// children that may still hold the socket (see freezeAndKillChildren), and
// then kills sshd itself (SIGKILL), which lets it neither accept nor fork
// again. When stop returns, the port refuses connections. The children
// serving established connections are killed too if all is set, and left
// alone otherwise.
func (d *listener) stop(all bool) (err error) {
	d.stopOnce.Do(func() {
		pid := d.cmd.Process.Pid
		if ferr := freezeAndKillChildren(d.cmd.Process, all); ferr != nil {
			// sshd itself can still be stopped; do that, then report.
			err = fmt.Errorf("stopping the new children of sshd -D (pid %d): %w", pid, ferr)
		}
		if kerr := daemontest.KillAndWait(d.cmd); kerr != nil {
			// Reaping would hang; the process is left alone.
			err = errors.Join(err, fmt.Errorf("killing sshd -D (pid %d): %w", pid, kerr))
		}
	})
	return err
}
