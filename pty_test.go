package libssh_test

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

func TestCmdPtyIsATerminal(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	cmd := s.CommandContext(testCtx(t, 60*time.Second), "tty")
	cmd.Pty = &libssh.Pty{}
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Regexp(t, `^/dev/pts/[0-9]+\r\n$`, string(out), "a terminal translates \\n to \\r\\n")

	// Without Pty, no terminal.
	cmd = s.CommandContext(testCtx(t, 60*time.Second), "tty")
	out, err = cmd.Output()
	var exit *libssh.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, "not a tty\n", string(out))
}

func TestCmdPtyDefaults(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	for _, tc := range []struct {
		pty  libssh.Pty
		want string
	}{
		{libssh.Pty{}, "xterm 24 80"},
		{libssh.Pty{Term: "vt100", Cols: 132, Rows: 50}, "vt100 50 132"},
	} {
		cmd := s.CommandLineContext(testCtx(t, 60*time.Second), `echo "$TERM $(stty size)"`)
		cmd.Pty = &tc.pty
		out, err := cmd.Output()
		require.NoError(t, err)
		assert.Equal(t, tc.want+"\r\n", string(out))
	}
}

// stty size reflects the size asked for, then a Resize.
func TestCmdPtyResize(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	cmd := s.CommandLineContext(testCtx(t, 60*time.Second), `stty size; read x; stty size`)
	cmd.Pty = &libssh.Pty{Cols: 100, Rows: 30}
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	sizes := make(chan string, 2)
	go func() {
		defer close(sizes)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); regexp.MustCompile(`^[0-9]+ [0-9]+$`).MatchString(line) {
				sizes <- line
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	assert.Equal(t, "30 100", recv(t, sizes, 30*time.Second))
	require.NoError(t, cmd.Process.Resize(120, 40))
	// The server applies the size before it passes on what follows.
	_, err = stdin.Write([]byte("\n"))
	require.NoError(t, err)
	assert.Equal(t, "40 120", recv(t, sizes, 30*time.Second))
	recv(t, sizes, 30*time.Second) // closed at EOF
	require.NoError(t, cmd.Wait())

	require.ErrorIs(t, cmd.Process.Resize(80, 24), libssh.ErrProcessDone)
}

func TestCmdPtyExitStatus(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	cmd := s.CommandLineContext(testCtx(t, 60*time.Second), "exit 7")
	cmd.Pty = &libssh.Pty{}
	var exit *libssh.ExitError
	require.ErrorAs(t, cmd.Run(), &exit)
	assert.Equal(t, 7, exit.ExitCode())

	// An interactive shell on a terminal, typed to.
	sh := s.ShellContext(testCtx(t, 60*time.Second))
	sh.Pty = &libssh.Pty{}
	sh.Stdin = strings.NewReader("echo $((6*7)); exit 5\n")
	out, err := sh.CombinedOutput()
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 5, exit.ExitCode())
	assert.Contains(t, string(out), "42\r\n")
	assert.Empty(t, sh.String())
	assert.Empty(t, sh.Path)
}

// Without a terminal, a shell reads its commands from Stdin, as with
// ssh host < script.
func TestShellReadsStdin(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	sh := s.ShellContext(testCtx(t, 60*time.Second))
	sh.Stdin = strings.NewReader("echo $((6*7))\ntty || true\n")
	out, err := sh.Output()
	require.NoError(t, err)
	assert.Equal(t, "42\nnot a tty\n", string(out))
}

func TestCmdPtyMisuse(t *testing.T) {
	t.Parallel()
	s := cmdSession(t) // its cleanup checks that no channel was left open
	for _, pty := range []libssh.Pty{{Cols: -1}, {Rows: 1 << 20}, {Term: "x\x00y"}} {
		cmd := s.Command("true")
		cmd.Pty = &pty
		require.Error(t, cmd.Start(), "%+v", pty)
		cmd.Pty = nil
		require.NoError(t, cmd.Run(), "mended, the Cmd starts")
	}

	cmd := s.CommandContext(testCtx(t, 60*time.Second), "true")
	require.NoError(t, cmd.Start())
	require.ErrorContains(t, cmd.Process.Resize(80, 24), "without a terminal")
	require.NoError(t, cmd.Wait())

	var p *libssh.Process
	require.Error(t, p.Resize(80, 24))
	require.Error(t, (&libssh.Process{}).Resize(80, 24))

	var nilCtx context.Context
	require.ErrorContains(t, s.ShellContext(nilCtx).Run(), "nil context")
}

// sshtest refuses terminals unless told otherwise: Start says so.
func TestCmdPtyRefused(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{})
	cmd := s.Command("true")
	cmd.Pty = &libssh.Pty{}
	err := cmd.Start()
	require.ErrorIs(t, err, libssh.ErrRequestDenied)
	assert.Contains(t, err.Error(), "terminal")
	assert.Zero(t, libssh.SessionChannels(s))
}
