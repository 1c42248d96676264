package sshtest_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

// openSSHRun is how one run of OpenSSH's ssh client went.
type openSSHRun struct {
	stdout, stderr string
	code           int      // ssh's exit status
	prompts        []string // what ssh asked the askpass program, one per call
}

// runOpenSSH runs OpenSSH's ssh client against 127.0.0.1:port with
// password authentication only: the password comes from an askpass
// program, which records every call. knownHosts is the whole known_hosts
// file ssh trusts (and StrictHostKeyChecking is on).
func runOpenSSH(t *testing.T, port int, knownHosts, password, command string) openSSHRun {
	t.Helper()
	dir := t.TempDir()
	marker := filepath.Join(dir, "askpass.calls")
	askpass := filepath.Join(dir, "askpass")
	script := "#!/bin/sh\n" +
		"printf '%s\\n' \"$1\" >> " + libssh.ShellQuote(marker) + "\n" +
		"printf '%s\\n' " + libssh.ShellQuote(password) + "\n"
	require.NoError(t, os.WriteFile(askpass, []byte(script), 0o700))
	knownHostsFile := filepath.Join(dir, "known_hosts")
	require.NoError(t, os.WriteFile(knownHostsFile, []byte(knownHosts+"\n"), 0o600))

	cmd := exec.CommandContext(testCtx(t, 30*time.Second), "ssh",
		"-F", "/dev/null",
		"-o", "BatchMode=no",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile="+knownHostsFile,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "PreferredAuthentications=password",
		"-o", "PubkeyAuthentication=no",
		"-o", "NumberOfPasswordPrompts=1",
		"-p", strconv.Itoa(port),
		"user@127.0.0.1", command)
	cmd.Stdin = nil // /dev/null: no terminal, so the password comes from SSH_ASKPASS
	cmd.Env = append(os.Environ(),
		"SSH_ASKPASS="+askpass,
		"SSH_ASKPASS_REQUIRE=force",
		"DISPLAY=:0",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := openSSHRun{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		run.code = exitErr.ExitCode()
	} else {
		require.NoError(t, err, "running ssh")
	}
	calls, err := os.ReadFile(marker)
	if !errors.Is(err, os.ErrNotExist) {
		require.NoError(t, err)
		run.prompts = strings.Split(strings.TrimSuffix(string(calls), "\n"), "\n")
	}
	t.Logf("ssh exited %d; stderr:\n%s", run.code, run.stderr)
	return run
}

// testLogger sends a server's messages to the test's output. Close stops
// everything before it returns, so nothing logs after the test.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

func newServer(t *testing.T, opts sshtest.Options) *sshtest.Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	srv, err := sshtest.NewServer(opts)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return srv
}

// trust is the host key policy of sessions to srv: its key, no other.
func trust(srv *sshtest.Server) libssh.Option {
	return libssh.WithHostKeyCallback(func(host string, key *libssh.PublicKey) error {
		if !key.Equal(srv.HostKey()) {
			return fmt.Errorf("%s offered %s, not the server's key", host, key.Fingerprint())
		}
		return nil
	})
}

func TestOpenSSHClientPassword(t *testing.T) {
	t.Parallel()
	const password = "correct horse 'battery' staple"
	srv := newServer(t, sshtest.Options{Password: password})

	run := runOpenSSH(t, srv.Port(), srv.KnownHostsLine(), password, "echo hello; echo oops >&2; exit 7")

	require.Equal(t, "hello\n", run.stdout)
	require.Contains(t, run.stderr, "oops")
	require.Equal(t, 7, run.code)
	// ssh asked the askpass program for the password, once: the login was
	// by password.
	require.Len(t, run.prompts, 1)
	require.Contains(t, run.prompts[0], "password")
	require.Equal(t, 1, srv.Accepted())
}

func TestOpenSSHClientWrongPassword(t *testing.T) {
	t.Parallel()
	srv := newServer(t, sshtest.Options{Password: "right"})

	run := runOpenSSH(t, srv.Port(), srv.KnownHostsLine(), "wrong", "echo hello")

	require.Equal(t, 255, run.code)
	require.Contains(t, run.stderr, "Permission denied")
	require.Empty(t, run.stdout)
	require.Len(t, run.prompts, 1, "ssh asked for the password")
}

func TestOpenSSHClientHostKeyMismatch(t *testing.T) {
	t.Parallel()
	const password = "pw"
	srv := newServer(t, sshtest.Options{Password: password})
	other := newServer(t, sshtest.Options{Password: password})
	require.False(t, srv.HostKey().Equal(other.HostKey()), "each server has its own host key")

	// known_hosts says srv's address has other's key.
	line := "[" + srv.Host() + "]:" + strconv.Itoa(srv.Port()) + " " + other.HostKey().String()
	run := runOpenSSH(t, srv.Port(), line, password, "echo hello")

	require.Equal(t, 255, run.code)
	require.Regexp(t, "HOST IDENTIFICATION HAS CHANGED|Host key verification failed", run.stderr)
	require.Empty(t, run.stdout)
	require.Empty(t, run.prompts, "ssh gave up before authenticating")
	require.Equal(t, 1, srv.Accepted())
}

func TestCloseStopsEverything(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	const password = "pw"
	srv, err := sshtest.NewServer(sshtest.Options{Password: password, Logger: testLogger(t)})
	require.NoError(t, err)
	defer srv.Close()

	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithUser("u"), trust(srv))
	require.NoError(t, err)
	defer s.Close()
	status, err := s.UserauthPassword(ctx, password)
	require.NoError(t, err)
	require.Equal(t, libssh.AuthSuccess, status)

	// A remote command that runs until killed and tells when it runs:
	// tail prints the file, then follows it forever. The file's name is
	// unique, so pgrep finds this command only.
	ready := filepath.Join(t.TempDir(), fmt.Sprintf("ready.%06d", rand.IntN(1e6)))
	require.NoError(t, os.WriteFile(ready, []byte("ready\n"), 0o600))
	cmd := s.Command("tail", "-n", "+1", "-f", ready)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	// tail runs now. Debian's dash does not exec the last command of
	// sh -c: tail is the shell's child, so only killing the shell's
	// process group ends it.
	pgrep := func() error {
		return exec.CommandContext(ctx, "pgrep", "-fx", regexp.QuoteMeta("tail -n +1 -f "+ready)).Run()
	}
	require.NoError(t, pgrep(), "pgrep finds the remote command")

	require.NoError(t, srv.Close())

	// Close killed the command's process group and waited for the
	// shell, and for its output to end: tail holds it open until it has
	// exited.
	var exitErr *exec.ExitError
	require.ErrorAs(t, pgrep(), &exitErr, "the remote command is gone")
	require.Equal(t, 1, exitErr.ExitCode(), "pgrep found no process")

	// The client sees the connection end: the command's output ends and
	// Wait returns an error instead of hanging.
	waited := make(chan error, 1)
	go func() {
		io.Copy(io.Discard, out)
		waited <- cmd.Wait()
	}()
	waitErr := recv(t, waited, 30*time.Second)
	require.Error(t, waitErr)
	t.Logf("Wait after Close: %v", waitErr)

	require.NoError(t, srv.Close(), "a second Close")
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", srv.Addr())
	if err == nil {
		nc.Close()
	}
	require.Error(t, err, "the server no longer listens")
	require.Equal(t, 1, srv.Accepted())

	require.NoError(t, s.Close())
}

func TestNewServerOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		opts sshtest.Options
		want string
	}{
		{
			name: "nil authorized key",
			opts: sshtest.Options{AuthorizedKeys: []*libssh.PublicKey{nil}},
			want: "authorized key 1 is nil",
		},
		{
			name: "negative DropAfter",
			opts: sshtest.Options{Password: "pw", Faults: sshtest.Faults{DropAfter: -1}},
			want: "DropAfter is negative",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := sshtest.NewServer(tt.opts)
			if srv != nil {
				srv.Close()
			}
			require.ErrorContains(t, err, tt.want)
			require.Nil(t, srv)
		})
	}
}

// TestManySessions logs in and runs a command many times, some of them at
// once: every command must run to its end with its output and status.
func TestManySessions(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	const password = "pw"
	srv := newServer(t, sshtest.Options{Password: password})

	const workers, perWorker = 4, 25
	errs := make(chan error, workers*perWorker)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				errs <- func() error {
					s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
						libssh.WithUser("u"), trust(srv))
					if err != nil {
						return err
					}
					defer s.Close()
					if status, err := s.UserauthPassword(ctx, password); err != nil || status != libssh.AuthSuccess {
						return fmt.Errorf("password: %v, %v", status, err)
					}
					want := fmt.Sprintf("%d.%d", w, i)
					out, err := s.Command("echo", want).Output()
					if err != nil {
						return fmt.Errorf("echo %s: %w", want, err)
					}
					if string(out) != want+"\n" {
						return fmt.Errorf("echo %s: output %q", want, out)
					}
					return nil
				}()
			}
		}()
	}
	waitGroup(t, &wg, 120*time.Second)
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			t.Error(err)
		}
	}
	require.Zero(t, failed, "sessions that failed")
	require.Equal(t, workers*perWorker, srv.Accepted())
}

// KnownHostsFile makes VerifyHost accept the server, and Close removes it.
func TestKnownHostsFile(t *testing.T) {
	srv, err := sshtest.NewServer(sshtest.Options{AuthNone: true})
	require.NoError(t, err)
	path := srv.KnownHostsFile()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, srv.KnownHostsLine()+"\n", string(b))

	ctx := testCtx(t, 30*time.Second)
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()), libssh.WithKnownHosts(path))
	require.NoError(t, err)
	require.NoError(t, s.VerifyHost())
	require.NoError(t, s.Close())

	// Another server's file does not know this one.
	other, err := sshtest.NewServer(sshtest.Options{AuthNone: true})
	require.NoError(t, err)
	defer other.Close()
	s, err = libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()), libssh.WithKnownHosts(other.KnownHostsFile()))
	require.NoError(t, err)
	var hv *libssh.HostVerificationError
	require.ErrorAs(t, s.VerifyHost(), &hv)
	require.NoError(t, s.Close())

	require.NoError(t, srv.Close())
	_, err = os.Stat(filepath.Dir(path))
	require.ErrorIs(t, err, os.ErrNotExist, "Close removes the file and its directory")
	require.NoError(t, srv.Close(), "Close is idempotent")
}
