package sshdtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golibssh/libssh/internal/daemontest"
)

// ErrNoSSHAgent is wrapped by the error [RunAgent] returns when ssh-agent
// or ssh-add is not installed. [StartAgent] skips the test in that case.
var ErrNoSSHAgent = errors.New("sshdtest: ssh-agent or ssh-add is not installed")

// agentTimeout bounds how long RunAgent waits for ssh-agent to listen, and
// how long one ssh-add may take.
const agentTimeout = 30 * time.Second

// maxSocketPath is the longest path a Unix socket can be bound to on Linux
// (sun_path holds 108 bytes, including the terminating NUL).
const maxSocketPath = 107

// askpassScript answers ssh-add's first passphrase prompt with
// $SSHDTEST_PASSPHRASE and every later one with a failure, which makes
// ssh-add give up instead of asking again forever when the passphrase is
// wrong. The marker file $SSHDTEST_ASKPASS_USED is unique per ssh-add run.
const askpassScript = `#!/bin/sh
[ -e "$SSHDTEST_ASKPASS_USED" ] && exit 1
: > "$SSHDTEST_ASKPASS_USED" || exit 1
printf '%s\n' "$SSHDTEST_PASSPHRASE"
`

// Agent is a running OpenSSH ssh-agent, started by [RunAgent] (or
// [StartAgent] in a test) and stopped by [Agent.Close].
type Agent struct {
	// Socket is the path of the agent's Unix socket, the value for
	// SSH_AUTH_SOCK.
	Socket string
	// Dir is the private directory holding the socket, the agent's log
	// and the copies of added keys. Close removes it.
	Dir string
	// LogPath is the file the agent's standard error goes to.
	LogPath string

	cmd    *exec.Cmd
	stdout *os.File // read end of the agent's stdout, kept open until Close

	addMu sync.Mutex // serializes Add, which numbers its files
	added int        // number of Add calls so far

	closeOnce sync.Once
	closeErr  error
}

// RunAgent starts "ssh-agent -D" (in the foreground, so this process owns
// it) on a socket in a fresh private directory under os.TempDir() and adds
// the private keys at the given paths with [Agent.Add]. It is [StartAgent]
// without a testing.TB; the caller must call [Agent.Close].
//
// Readiness is event-driven: ssh-agent binds its socket before it prints
// "SSH_AUTH_SOCK=..." to its standard output, and RunAgent returns once it
// has read that (within 30 seconds), so the socket accepts connections.
//
// If ssh-agent or ssh-add is not installed, the error wraps
// [ErrNoSSHAgent].
func RunAgent(keys ...string) (_ *Agent, err error) {
	agentPath, err := exec.LookPath("ssh-agent")
	if err != nil {
		return nil, fmt.Errorf("%w: ssh-agent not found in PATH; install openssh-client", ErrNoSSHAgent)
	}
	if _, err := exec.LookPath("ssh-add"); err != nil {
		return nil, fmt.Errorf("%w: ssh-add not found in PATH; install openssh-client", ErrNoSSHAgent)
	}
	dir, err := os.MkdirTemp("", "sshdtest-agent-")
	if err != nil {
		return nil, fmt.Errorf("sshdtest: creating agent directory: %w", err)
	}
	a := &Agent{
		Dir:     dir,
		Socket:  filepath.Join(dir, "agent.sock"),
		LogPath: filepath.Join(dir, "agent.log"),
	}
	defer func() {
		if err != nil {
			_ = a.Close() // the start error matters more
		}
	}()
	if len(a.Socket) > maxSocketPath {
		return nil, fmt.Errorf("sshdtest: agent socket path %s is longer than %d bytes; use a shorter TMPDIR", a.Socket, maxSocketPath)
	}
	if err := os.WriteFile(filepath.Join(dir, "askpass"), []byte(askpassScript), 0o700); err != nil {
		return nil, fmt.Errorf("sshdtest: writing askpass script: %w", err)
	}
	logFile, err := os.OpenFile(a.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sshdtest: creating agent log: %w", err)
	}
	defer logFile.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sshdtest: creating agent stdout pipe: %w", err)
	}
	a.stdout = r

	// -s: Bourne shell syntax whatever $SHELL is, for parsing below.
	a.cmd = exec.Command(agentPath, "-D", "-s", "-a", a.Socket)
	a.cmd.Stdout = w
	a.cmd.Stderr = logFile
	err = a.cmd.Start()
	w.Close() // the agent holds its own copy; EOF then means it exited
	if err != nil {
		a.cmd = nil
		return nil, fmt.Errorf("sshdtest: starting ssh-agent: %w", err)
	}
	if err := a.waitListening(); err != nil {
		return nil, err
	}
	for _, key := range keys {
		if err := a.Add(key); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// waitListening reads the agent's standard output up to the line
// announcing its socket, which it prints once the socket is listening.
func (a *Agent) waitListening() error {
	if err := a.stdout.SetReadDeadline(time.Now().Add(agentTimeout)); err != nil {
		return fmt.Errorf("sshdtest: agent stdout: %w", err)
	}
	br := bufio.NewReader(a.stdout)
	var out strings.Builder
	for {
		line, err := br.ReadString('\n')
		out.WriteString(line)
		// "SSH_AUTH_SOCK=/path; export SSH_AUTH_SOCK;"
		if sock, ok := strings.CutPrefix(line, "SSH_AUTH_SOCK="); ok {
			sock, _, _ = strings.Cut(sock, ";")
			if sock != a.Socket {
				return fmt.Errorf("sshdtest: ssh-agent announced socket %q, want %q", sock, a.Socket)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("sshdtest: ssh-agent did not announce its socket: %w\nstdout:\n%s\nlog:\n%s",
				err, out.String(), a.Log())
		}
	}
}

// Add adds the private key file at path to the agent with ssh-add. The key
// is copied to a private file first, since ssh-add refuses keys that others
// can read (git does not keep the 0600 mode of testdata/keys). An encrypted
// key is decrypted with [PassphraseForTestKeys], which ssh-add gets through
// SSH_ASKPASS; any other passphrase fails.
func (a *Agent) Add(path string) error {
	a.addMu.Lock()
	defer a.addMu.Unlock()
	a.added++
	n := strconv.Itoa(a.added)
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("sshdtest: reading key for the agent: %w", err)
	}
	keyCopy := filepath.Join(a.Dir, "key"+n)
	if err := os.WriteFile(keyCopy, b, 0o600); err != nil {
		return fmt.Errorf("sshdtest: copying key for the agent: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), agentTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh-add", "-q", keyCopy)
	cmd.Env = append(os.Environ(),
		"SSH_AUTH_SOCK="+a.Socket,
		"SSH_ASKPASS="+filepath.Join(a.Dir, "askpass"),
		"SSH_ASKPASS_REQUIRE=force",
		"SSHDTEST_ASKPASS_USED="+filepath.Join(a.Dir, "askpass-used"+n),
		"SSHDTEST_PASSPHRASE="+PassphraseForTestKeys,
	)
	// Stdin stays /dev/null: ssh-add must not read from the terminal.
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sshdtest: ssh-add %s: %w\n%s", path, err, out)
	}
	return nil
}

// Log returns what the agent has written to its standard error, or a
// description of the problem if it cannot be read.
func (a *Agent) Log() string {
	b, err := os.ReadFile(a.LogPath)
	if err != nil {
		return fmt.Sprintf("(sshdtest: cannot read agent log: %v)", err)
	}
	return string(b)
}

// Close kills the agent (SIGKILL, by its pid), waits for it to exit and
// removes Dir. It is idempotent: later calls return the first call's
// result.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() {
		var errs []error
		if a.cmd != nil {
			if err := daemontest.KillAndWait(a.cmd); err != nil {
				errs = append(errs, fmt.Errorf("sshdtest: killing ssh-agent (pid %d): %w", a.cmd.Process.Pid, err))
			}
		}
		if a.stdout != nil {
			a.stdout.Close()
		}
		if err := os.RemoveAll(a.Dir); err != nil {
			errs = append(errs, fmt.Errorf("sshdtest: removing agent directory: %w", err))
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}

// StartAgent starts an ssh-agent for t with the private keys at the given
// paths (for example [Keys]("id_ed25519")) and returns its socket, the value
// for SSH_AUTH_SOCK. It is [RunAgent] for tests: it skips the test when
// ssh-agent or ssh-add is not installed ([ErrNoSSHAgent]) and fails it on
// any other error. A cleanup registered on t kills the agent by its pid,
// waits for it and removes its directory; if the test has failed by then,
// the agent's log is written to the test log.
func StartAgent(t testing.TB, keys ...string) (socket string) {
	t.Helper()
	a, err := RunAgent(keys...)
	daemontest.SkipOrFatal(t, err, ErrNoSSHAgent)
	daemontest.CloseAtCleanup(t, "sshdtest: ssh-agent log "+a.LogPath, a.Log, a.Close)
	return a.Socket
}

// StartStuckAgent starts an agent that never answers, for t: a Unix socket
// that accepts every connection and then neither reads nor writes, as an
// agent that hangs (or waits for a confirmation nobody gives) does. It
// returns the socket's path, for SSH_AUTH_SOCK or libssh.WithAgentSocket.
// accepted, when not nil, receives one value per connection accepted (it
// must have room, or the value is dropped). A cleanup registered on t
// closes the listener and every connection, which ends the client's wait
// with EOF, and removes the socket's directory.
func StartStuckAgent(t testing.TB, accepted chan<- struct{}) (socket string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "stuck-agent-")
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
	socket = filepath.Join(dir, "agent.sock")
	if len(socket) > maxSocketPath {
		os.RemoveAll(dir)
		t.Fatalf("sshdtest: agent socket path too long: %s", socket)
	}
	ln, err := net.Listen("unix", socket)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("sshdtest: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if accepted != nil {
				select {
				case accepted <- struct{}{}:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		os.RemoveAll(dir)
	})
	return socket
}
