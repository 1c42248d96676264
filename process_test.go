package libssh_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

// cmdSession is an authenticated session for the command tests. The user
// is unprivileged (sshd then delivers signals) and its shell is /bin/sh.
func cmdSession(t *testing.T, config ...string) *libssh.Session {
	t.Helper()
	s := authedSession(t, sshdtest.Options{Unprivileged: true, ConfigFirst: config})
	t.Cleanup(func() {
		// Every command's channel is closed by Wait, or by Start when
		// it fails.
		assert.Zero(t, libssh.SessionChannels(s), "channels left on the session")
	})
	return s
}

func TestCommandArgumentsArriveIntact(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	args := map[string]string{
		"plain":         "hello",
		"empty":         "",
		"spaces":        "  two  words  ",
		"single quotes": "it's 'quoted'",
		"double quotes": `say "hi"`,
		"dollar":        "$HOME ${PATH} $(id) `id`",
		"backslashes":   `a\b\\c\n`,
		"newlines":      "line 1\nline 2\n",
		"glob":          "* ? [a-z] ~",
		"operators":     "a;b|c&d>e<f(g)h{i}",
		"dash":          "-n",
		"percent":       "%s %d %%",
		"assignment":    "A=b",
		"non-UTF-8":     "\xff\xfe\x80 latin1 \xe9",
		"control":       "\x01\x1b[31m\t\r",
		"hash":          "#not a comment",
		"unicode":       "日本語 ✓",
		"all bytes 1-31": string(func() []byte {
			b := make([]byte, 31)
			for i := range b {
				b[i] = byte(i + 1)
			}
			return b
		}()),
	}
	for name, arg := range args {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := s.Command("printf", "%s", arg)
			assert.Equal(t, []string{"printf", "%s", arg}, cmd.Args)
			assert.Equal(t, "printf", cmd.Path)
			out, err := cmd.Output()
			require.NoError(t, err, "command line %q", cmd.String())
			assert.Equal(t, arg, string(out), "command line %q", cmd.String())
		})
	}
}

func TestCommandNULIsRefused(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	err := s.Command("printf", "%s", "a\x00b").Run()
	assert.ErrorContains(t, err, "NUL")
}

func TestCommandExitCodes(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	for _, code := range []int{0, 1, 42, 255} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			line := fmt.Sprintf("exit %d", code)

			cmd := s.CommandLine(line)
			err := cmd.Run()
			assert.Equal(t, code, cmd.Process.ExitCode())
			assert.True(t, cmd.Process.Exited())
			assert.Equal(t, code == 0, cmd.Process.Success())
			assert.Equal(t, "exit status "+strconv.Itoa(code), cmd.Process.String())
			assert.Empty(t, cmd.Process.Signal())
			if code == 0 {
				assert.NoError(t, err)
			} else {
				var exit *libssh.ExitError
				require.ErrorAs(t, err, &exit)
				assert.Equal(t, code, exit.ExitCode())
				assert.Empty(t, exit.Signal())
				assert.EqualError(t, err, "libssh: remote command failed: exit status "+strconv.Itoa(code))
			}

			ok, err := s.CommandLine(line).Success()
			assert.NoError(t, err, "a non-zero exit is not an error for Success")
			assert.Equal(t, code == 0, ok)

			ignored := s.CommandLine(line)
			ignored.IgnoreStatus = true
			assert.NoError(t, ignored.Run())
			assert.Equal(t, code, ignored.Process.ExitCode())
		})
	}
}

func TestCommandKilledBySignal(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	cmd := s.CommandLine("kill -TERM $$")
	err := cmd.Run()
	var exit *libssh.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, "TERM", exit.Signal())
	assert.Equal(t, -1, exit.ExitCode())
	assert.False(t, exit.Exited())
	assert.False(t, exit.CoreDumped())
	assert.Equal(t, "signal: TERM", exit.String())
	var sig *libssh.ExitSignalError
	require.ErrorAs(t, err, &sig, "an ExitError of a signal unwraps to the ExitSignalError")
	assert.Equal(t, "TERM", sig.Signal)

	ok, err := s.CommandLine("kill -TERM $$").Success()
	assert.NoError(t, err)
	assert.False(t, ok)
}

// randomData returns n reproducible pseudo-random bytes.
func randomData(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	r.Read(b)
	return b
}

func TestCommandStdinThroughSha256sum(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	data := randomData(50 << 20)
	sum := sha256.Sum256(data)
	cmd := s.Command("sha256sum")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(sum[:])+"  -\n", string(out))
}

func TestCommandStdinFromPlainReader(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	// A reader without WriteTo, in odd-sized reads.
	cmd := s.Command("wc", "-c")
	cmd.Stdin = io.LimitReader(struct{ io.Reader }{bytes.NewReader(randomData(3<<20 + 7))}, 3<<20+7)
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(3<<20+7), strings.TrimSpace(string(out)))
}

func TestCommandPipes(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	cmd := s.CommandLine("cat; echo done >&2")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	const early = "written before Start\n"
	_, err = io.WriteString(stdin, early)
	require.NoError(t, err, "a write before Start is kept until the command runs")
	require.NoError(t, cmd.Start())
	buf := make([]byte, 64)
	n, err := io.ReadAtLeast(stdout, buf, len(early))
	require.NoError(t, err)
	assert.Equal(t, early, string(buf[:n]))

	// Each line comes back before the next is sent.
	for i := range 10 {
		line := fmt.Sprintf("line %d\n", i)
		_, err := io.WriteString(stdin, line)
		require.NoError(t, err)
		n, err := io.ReadAtLeast(stdout, buf, len(line))
		require.NoError(t, err)
		assert.Equal(t, line, string(buf[:n]))
	}
	require.NoError(t, stdin.Close())
	rest, err := readAll(t, stdout, 60*time.Second)
	require.NoError(t, err)
	assert.Empty(t, rest)
	errOut, err := readAll(t, stderr, 60*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "done\n", string(errOut))
	require.NoError(t, cmd.Wait())
	assert.NoError(t, stdin.Close(), "closing the stdin pipe again, after Wait")
	_, err = stdout.Read(buf)
	assert.Error(t, err, "Wait closed the pipe")
}

func TestCommandClosedPipeIsDrained(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	cmd := s.CommandLine("head -c 10000000 /dev/zero; echo end >&2")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	buf := make([]byte, 10)
	_, err = io.ReadFull(stdout, buf)
	require.NoError(t, err)
	require.NoError(t, stdout.Close())
	_, err = stdout.Read(buf)
	assert.Error(t, err)
	// The rest of stdout is discarded, so the command finishes.
	require.NoError(t, cmd.Wait())
	assert.Equal(t, "end\n", stderr.String())
}

func TestCommandsConcurrentlyOnOneSession(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		spawn(&wg, func() {
			want := fmt.Sprintf("command %d says %s", i, strings.Repeat("x", i*1000))
			cmd := s.Command("cat")
			cmd.Stdin = strings.NewReader(want)
			out, err := cmd.Output()
			switch {
			case err != nil:
				errs <- fmt.Errorf("command %d: %w", i, err)
			case string(out) != want:
				errs <- fmt.Errorf("command %d: got %d bytes, want %d", i, len(out), len(want))
			}
		})
	}
	waitGroup(t, &wg, 30*time.Second)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCommandUnreadStderrFlood(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	const size = 100 << 20
	cmd := s.CommandLine(fmt.Sprintf("head -c %d /dev/zero >&2; echo finished", size))
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, "finished\n", string(out))
	// The start and the end of stderr are kept.
	kept := cmd.Process.Stderr()
	marker := fmt.Sprintf("\n... omitting %d bytes ...\n", size-64<<10)
	assert.Equal(t, 64<<10+len(marker), len(kept))
	assert.Equal(t, marker, string(kept[32<<10:32<<10+len(marker)]))
	assert.Nil(t, cmd.Process.Stdout(), "stdout had a writer")
}

func TestCommandOutputs(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	line := "echo out; echo err >&2; echo out2"

	out, err := s.CommandLine(line).Output()
	require.NoError(t, err)
	assert.Equal(t, "out\nout2\n", string(out), "Output has stdout only")

	both, err := s.CommandLine("echo out; echo err >&2").CombinedOutput()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"out", "err"}, strings.Fields(string(both)))

	cmd := s.CommandLine(line)
	require.NoError(t, cmd.Run())
	assert.Equal(t, "out\nout2\n", string(cmd.Process.Stdout()), "collected without a writer")
	assert.Equal(t, "err\n", string(cmd.Process.Stderr()))

	out, err = s.CommandLine("echo partial; echo why >&2; exit 3").Output()
	assert.Equal(t, "partial\n", string(out))
	var exit *libssh.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, "why\n", string(exit.Stderr()))

	set := s.CommandLine("true")
	set.Stdout = io.Discard
	_, err = set.Output()
	assert.EqualError(t, err, "libssh: Stdout already set")
	set.Stderr = io.Discard
	_, err = set.CombinedOutput()
	assert.Error(t, err)
}

func TestCommandEnv(t *testing.T) {
	t.Parallel()
	t.Run("accepted", func(t *testing.T) {
		t.Parallel()
		s := cmdSession(t, "AcceptEnv GOLIBSSH_*")
		cmd := s.CommandLine(`printf '%s|%s' "$GOLIBSSH_A" "$GOLIBSSH_B"`)
		cmd.Env = []string{"GOLIBSSH_A=x=y=z", "GOLIBSSH_B=first", "GOLIBSSH_B=two words"}
		out, err := cmd.Output()
		require.NoError(t, err)
		assert.Equal(t, "x=y=z|two words", string(out))
	})
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		s := cmdSession(t)
		cmd := s.CommandLine("true")
		cmd.Env = []string{"GOLIBSSH_REFUSED=1"}
		err := cmd.Run()
		require.ErrorIs(t, err, libssh.ErrRequestDenied)
		assert.ErrorContains(t, err, "GOLIBSSH_REFUSED")
		assert.ErrorContains(t, err, "AcceptEnv")
		assert.Nil(t, cmd.Process)
		assert.Zero(t, libssh.SessionChannels(s))
	})
	t.Run("malformed", func(t *testing.T) {
		t.Parallel()
		s := cmdSession(t)
		for _, entry := range []string{"NOVALUE", "=value", "A=b\x00c"} {
			cmd := s.CommandLine("true")
			cmd.Env = []string{entry}
			err := cmd.Run()
			assert.ErrorContains(t, err, "Cmd.Env entry", "entry %q", entry)
			// Nothing was sent: mended, the command runs.
			cmd.Env = nil
			assert.NoError(t, cmd.Run(), "after mending entry %q", entry)
		}
	})
}

// startSleep starts a sleep of a unique length (see uniqueSleep) and
// returns once it runs.
func startSleep(t *testing.T, s *libssh.Session, ctx context.Context) (*libssh.Cmd, string) {
	t.Helper()
	sleep := uniqueSleep(t)
	cmd := s.CommandLineContext(ctx, "echo started; exec "+sleep)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line := make([]byte, len("started\n"))
	_, err = io.ReadFull(stdout, line)
	require.NoError(t, err)
	require.Equal(t, "started\n", string(line))
	return cmd, sleep
}

// remoteRunning reports whether a process with exactly this command line
// runs on the server, asking pgrep through a second command.
func remoteRunning(t *testing.T, s *libssh.Session, commandLine string) bool {
	t.Helper()
	ok, err := s.Command("pgrep", "-fx", commandLine).Success()
	require.NoError(t, err)
	return ok
}

func TestCommandContextCancel(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	cmd, sleep := startSleep(t, s, ctx)
	require.True(t, remoteRunning(t, s, sleep))
	assert.Equal(t, "running", cmd.Process.String())
	assert.Equal(t, -1, cmd.Process.ExitCode())

	cancel()
	require.ErrorIs(t, cmd.Wait(), context.Canceled)
	assert.False(t, remoteRunning(t, s, sleep), "the remote sleep was killed")
	assert.ErrorIs(t, cmd.Process.Kill(), libssh.ErrProcessDone)
}

func TestCommandContextCancelWaitDelay(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	cmd, sleep := startSleep(t, s, ctx)
	cmd.WaitDelay = time.Hour // the server reports the kill long before
	cancel()
	require.ErrorIs(t, cmd.Wait(), context.Canceled)
	assert.Equal(t, "KILL", cmd.Process.Signal(), "with WaitDelay, Wait waits for the server's report")
	assert.False(t, remoteRunning(t, s, sleep))
}

func TestCommandContextCustomCancel(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	cmd, _ := startSleep(t, s, ctx)
	cmd.Cancel = func() error { return cmd.Process.SendSignal("INT") }
	cmd.WaitDelay = time.Hour
	cancel()
	require.ErrorIs(t, cmd.Wait(), context.Canceled)
	assert.Equal(t, "INT", cmd.Process.Signal())

	boom := errors.New("boom")
	ctx, cancel = context.WithCancel(testCtx(t, 30*time.Second))
	cmd, _ = startSleep(t, s, ctx)
	cmd.Cancel = func() error { return boom }
	cancel()
	err := cmd.Wait()
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, boom)
}

// TestCommandContextCancelRootLogin: OpenSSH ignores signals for root
// logins, yet Wait returns at once and the channel is closed.
func TestCommandContextCancelRootLogin(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	cmd, _ := startSleep(t, s, ctx)
	cancel()
	require.ErrorIs(t, cmd.Wait(), context.Canceled)
	assert.Zero(t, libssh.SessionChannels(s))
}

func TestCommandContextDoneBeforeStart(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	cancel()
	cmd := s.CommandContext(ctx, "true")
	require.ErrorIs(t, cmd.Run(), context.Canceled)
	assert.Nil(t, cmd.Process)
}

func TestCommandCancelWhileExecPending(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{Unprivileged: true})
	conn := &holdConn{Conn: srv.Pipe(t)}
	s := newPipeSession(t, srv, libssh.WithConn(conn))
	authenticate(t, s)
	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	cmd := s.CommandContext(ctx, "true")
	conn.hold() // the server's answers will not arrive
	result := make(chan error, 1)
	go func() { result <- cmd.Start() }()
	recv(t, conn.wrote, 30*time.Second) // the open is on its way
	cancel()
	require.ErrorIs(t, recv(t, result, 30*time.Second), context.Canceled)
	conn.release()
	assert.Zero(t, libssh.SessionChannels(s), "the poisoned channel was closed")
	out, err := s.CommandLine("echo fine").Output()
	require.NoError(t, err)
	assert.Equal(t, "fine\n", string(out))
}

func TestCommandSessionClosedWhileRunning(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	cmd, _ := startSleep(t, s, testCtx(t, 30*time.Second))
	require.NoError(t, s.Close())
	assert.ErrorIs(t, cmd.Wait(), libssh.ErrClosed)
	assert.Equal(t, "no exit status", cmd.Process.String())
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestCommandWriterFails(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	boom := errors.New("disk full")
	cmd := s.CommandLine("head -c 5000000 /dev/zero; echo fine >&2")
	cmd.Stdout = failingWriter{boom}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	assert.ErrorIs(t, cmd.Run(), boom)
	assert.True(t, cmd.Process.Success(), "the rest was discarded, so the command finished")
	assert.Equal(t, "fine\n", stderr.String())
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestCommandStdinFails(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	boom := errors.New("broken input")
	cmd := s.Command("cat")
	cmd.Stdin = failingReader{boom}
	err := cmd.Run()
	assert.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, "reading Cmd.Stdin")
}

func TestCommandWaitDelayBoundsStdin(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	r, w := io.Pipe()
	defer w.Close() // ends the copy's Read
	cmd := s.CommandLine("true")
	cmd.Stdin = r // never written: the copy stays in Read
	cmd.WaitDelay = time.Millisecond
	assert.ErrorIs(t, cmd.Run(), libssh.ErrWaitDelay)
	assert.True(t, cmd.Process.Success())
}

func TestCommandMisuse(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	var zero libssh.Cmd
	assert.ErrorContains(t, zero.Run(), "not made by Session.Command")

	cmd := s.CommandLine("true")
	assert.ErrorContains(t, cmd.Wait(), "not started")
	require.NoError(t, cmd.Run())
	assert.ErrorContains(t, cmd.Start(), "started already")
	assert.ErrorContains(t, cmd.Wait(), "Wait was called already")
	_, err := cmd.StdinPipe()
	assert.ErrorContains(t, err, "after the command started")
	_, err = cmd.StdoutPipe()
	assert.ErrorContains(t, err, "after the command started")

	both := s.Command("cat")
	_, err = both.StdinPipe()
	require.NoError(t, err)
	both.Stdin = strings.NewReader("x")
	assert.ErrorContains(t, both.Run(), "Cmd.Stdin set as well as StdinPipe")
	both = s.Command("cat")
	_, err = both.StderrPipe()
	require.NoError(t, err)
	both.Stderr = io.Discard
	assert.ErrorContains(t, both.Run(), "Cmd.Stderr set as well as StderrPipe")

	cancelled := s.CommandLine("true")
	cancelled.Cancel = func() error { return nil }
	assert.ErrorContains(t, cancelled.Run(), "without a context")

	var nilCtx context.Context
	assert.ErrorContains(t, s.CommandContext(nilCtx, "true").Run(), "nil context")

	notAuthed := newPipeSession(t, sshdtest.New(t, sshdtest.Options{}))
	assert.ErrorIs(t, notAuthed.CommandLine("true").Run(), libssh.ErrNotAuthenticated)
	closed := newPipeSession(t, sshdtest.New(t, sshdtest.Options{}))
	closed.Close()
	assert.ErrorIs(t, closed.CommandLine("true").Run(), libssh.ErrClosed)
}

// TestCommandRootLogin runs commands as root too (the other tests log in
// an unprivileged user).
func TestCommandRootLogin(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	out, err := s.Command("printf", "%s|", "a b", "it's").Output()
	require.NoError(t, err)
	assert.Equal(t, "a b|it's|", string(out))
	var exit *libssh.ExitError
	require.ErrorAs(t, s.CommandLine("exit 7").Run(), &exit)
	assert.Equal(t, 7, exit.ExitCode())
}

// TestCommandWaitDelayBoundsHeldOutput: a background child that inherited
// stdout keeps the channel open after the command exited; WaitDelay bounds
// the wait for it.
func TestCommandWaitDelayBoundsHeldOutput(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	sleep := uniqueSleep(t)
	cmd := s.CommandLine(sleep + " & echo started")
	// Long enough for the output copy to take "started" (which came
	// before the exit status) before WaitDelay closes the channel, which
	// drops what is left unread; 1 ms was not, under -asan.
	cmd.WaitDelay = 200 * time.Millisecond
	out, err := cmd.Output()
	assert.ErrorIs(t, err, libssh.ErrWaitDelay)
	assert.Equal(t, "started\n", string(out))
	assert.True(t, cmd.Process.Success(), "the command itself exited 0")
	assert.True(t, remoteRunning(t, s, sleep), "the background child still holds the output")
}

// TestCommandBeyondMaxSessions: a server that allows no more channels fails
// Start, which leaves nothing open; the running command is unaffected.
func TestCommandBeyondMaxSessions(t *testing.T) {
	t.Parallel()
	s := cmdSession(t, "MaxSessions 1")
	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	running, _ := startSleep(t, s, ctx)
	cmd := s.CommandLine("true")
	err := cmd.Run()
	require.ErrorIs(t, err, libssh.ErrRequestDenied)
	assert.ErrorContains(t, err, "open session channel: the server refused")
	assert.ErrorContains(t, err, "MaxSessions")
	var refused *libssh.OpenChannelError
	if assert.ErrorAs(t, err, &refused) {
		assert.Equal(t, libssh.OpenConnectFailed, refused.Reason, "OpenSSH's reason for a session beyond MaxSessions")
		assert.Equal(t, "open failed", refused.Message)
	}
	assert.Nil(t, cmd.Process)
	assert.Equal(t, 1, libssh.SessionChannels(s), "only the running command's channel")
	cancel()
	assert.ErrorIs(t, running.Wait(), context.Canceled)
}
