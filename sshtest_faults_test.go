package libssh_test

// What the client does when the server misbehaves: sshtest's faults.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

func TestFaultExitStatusBeforeEOF(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{Faults: sshtest.Faults{ExitStatusBeforeEOF: true}})

	// Through a channel: the status is there before the output ends.
	ch := execChannel(t, s, "printf data; exit 5")
	out, err := readAll(t, ch, 60*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "data", string(out))
	require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
	status, err := ch.ExitStatus()
	require.NoError(t, err)
	assert.Equal(t, 5, status)
	require.NoError(t, ch.Close())

	// Through Cmd: the same result as in the usual order.
	cmd := s.CommandLine("echo out; echo err >&2; exit 7")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var exitErr *libssh.ExitError
	require.ErrorAs(t, cmd.Run(), &exitErr)
	assert.Equal(t, 7, exitErr.ExitCode())
	assert.Equal(t, "out\n", stdout.String())
	assert.Equal(t, "err\n", stderr.String())
	ok, err := s.CommandLine("true").Success()
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestFaultExitSignal(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{Faults: sshtest.Faults{ExitSignal: "SEGV"}})
	cmd := s.CommandLine("echo partial")
	out, err := cmd.Output()
	assert.Equal(t, "partial\n", string(out))
	var exitErr *libssh.ExitError
	require.ErrorAs(t, err, &exitErr)
	assert.Equal(t, "SEGV", exitErr.Signal())
	assert.Equal(t, -1, exitErr.ExitCode())
	var sigErr *libssh.ExitSignalError
	require.ErrorAs(t, err, &sigErr)
	assert.Equal(t, "SEGV", sigErr.Signal)
	assert.False(t, cmd.Process.Exited())

	// A channel reports it from ExitStatus.
	ch := execChannel(t, s, "true")
	_, err = readAll(t, ch, 60*time.Second)
	require.NoError(t, err)
	require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
	_, err = ch.ExitStatus()
	require.ErrorAs(t, err, &sigErr)
	assert.Equal(t, "SEGV", sigErr.Signal)
	require.NoError(t, ch.Close())
}

func TestFaultCloseWithoutStatus(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{Faults: sshtest.Faults{CloseWithoutStatus: true}})
	cmd := s.CommandLine("echo all of it")
	out, err := cmd.Output()
	assert.Equal(t, "all of it\n", string(out), "the output still arrives")
	var missing *libssh.ExitMissingError
	require.ErrorAs(t, err, &missing)
	require.ErrorIs(t, err, libssh.ErrNoExitStatus)
	assert.Equal(t, -1, cmd.Process.ExitCode())

	// Success says false, without an error: it is the command's doing.
	ok, err := s.CommandLine("true").Success()
	require.NoError(t, err)
	assert.False(t, ok)
	// IgnoreStatus ignores it.
	cmd = s.CommandLine("true")
	cmd.IgnoreStatus = true
	require.NoError(t, cmd.Run())

	ch := execChannel(t, s, "true")
	require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
	_, err = ch.ExitStatus()
	require.ErrorIs(t, err, libssh.ErrNoExitStatus)
	require.NoError(t, ch.Close())
}

func TestFaultDropAfter(t *testing.T) {
	t.Parallel()
	const limit = 100000
	s := sshtestSession(t, sshtest.Options{Faults: sshtest.Faults{DropAfter: limit}})
	out, err := s.CommandLine("head -c 10000000 /dev/zero").Output()
	require.Error(t, err, "a dropped connection is an error")
	var exitErr *libssh.ExitError
	assert.False(t, errors.As(err, &exitErr), "not an exit status: %v", err)
	assert.LessOrEqual(t, len(out), limit)
	assert.False(t, s.IsConnected())
	// Later calls fail at once, and Close works.
	_, err = s.CommandLine("true").Output()
	require.Error(t, err)
	require.NoError(t, s.Close())
}

func TestFaultZeroWindow(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{Forwarding: true, Faults: sshtest.Faults{ZeroWindow: true}})
	port := serveTCP(t, func(c net.Conn) { io.Copy(io.Discard, struct{ io.Reader }{c}) })
	conn, err := s.DialContext(testCtx(t, 30*time.Second), "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	defer conn.Close()
	// The deadline only detects the stall; how long it takes is not asserted.
	require.NoError(t, conn.SetWriteDeadline(time.Now().Add(2*time.Second)))
	n, err := conn.Write(make([]byte, 8<<20))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Less(t, n, 2<<20, "the window closed")
	assert.Positive(t, n)

	// A command whose input the server never takes still ends with its
	// context, the write into it included.
	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	cmd := s.CommandContext(ctx, "cat")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	written := make(chan error, 1)
	go func() {
		_, err := stdin.Write(make([]byte, 8<<20))
		written <- err
	}()
	cancel()
	require.ErrorIs(t, cmd.Wait(), context.Canceled)
	require.Error(t, recv(t, written, 30*time.Second), "the write ends with the command, not after 8 MiB")
}

// TestForwardTargetGone: when the target of a direct-tcpip channel closes
// without reading, the server ends the channel (as sshd does), so the
// client's writes fail instead of filling the window for ever.
func TestForwardTargetGone(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{Forwarding: true})
	port := serveTCP(t, func(c net.Conn) { c.Close() })
	conn, err := s.DialContext(testCtx(t, 30*time.Second), "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	defer conn.Close()
	// The deadline only turns a hang into a failure.
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ { // 64 MiB at most: past any window
		_, werr = conn.Write(make([]byte, 64<<10))
	}
	require.Error(t, werr)
	require.NotErrorIs(t, werr, os.ErrDeadlineExceeded, "the server ended the channel")
	_, err = conn.Read(make([]byte, 1))
	require.Error(t, err)
	require.NotErrorIs(t, err, os.ErrDeadlineExceeded)
}
