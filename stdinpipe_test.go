package libssh_test

// Cmd.StdinPipe behaves as os/exec's: written and closed before Start, it
// delivers what was written and then EOF once the command runs; a failed
// Start fails its writers instead of leaving them waiting.

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

// writeResult is what a goroutine writing to a pipe got.
type writeResult struct {
	n             int
	err, closeErr error
}

// writeThenClose writes data to w, then closes it, in a goroutine; the
// result arrives on the channel.
func writeThenClose(w io.WriteCloser, data []byte) <-chan writeResult {
	done := make(chan writeResult, 1)
	go func() {
		var r writeResult
		r.n, r.err = w.Write(data)
		r.closeErr = w.Close()
		done <- r
	}()
	return done
}

// awaitWrite returns the writer's result, failing the test if it is not
// there before ctx ends.
func awaitWrite(t *testing.T, ctx context.Context, done <-chan writeResult) writeResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		t.Fatal("the writer of the stdin pipe is still blocked")
		return writeResult{}
	}
}

// TestCmdStdinPipeLikeOSExec is os/exec's ExampleCmd_StdinPipe against
// sshd: the goroutine writes and closes while CombinedOutput starts cat.
func TestCmdStdinPipeLikeOSExec(t *testing.T) {
	t.Parallel()
	s := cmdSession(t)
	ctx := testCtx(t, 20*time.Second)
	cmd := s.CommandContext(ctx, "cat")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	const text = "values written to stdin are passed to cmd's standard input"
	done := make(chan writeResult, 1)
	go func() {
		var r writeResult
		defer func() { done <- r }()
		defer func() { r.closeErr = stdin.Close() }()
		r.n, r.err = io.WriteString(stdin, text)
	}()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err)
	assert.Equal(t, text, string(out))
	r := awaitWrite(t, ctx, done)
	assert.NoError(t, r.err)
	assert.Equal(t, len(text), r.n)
	assert.NoError(t, r.closeErr)
}

// TestCmdStdinPipeWrittenBeforeStart: one goroutine writes, closes, then
// runs the command, which works with os/exec's pipe as long as the data
// fits in the pipe.
func TestCmdStdinPipeWrittenBeforeStart(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{})
	ctx := testCtx(t, 20*time.Second)
	cmd := s.CommandContext(ctx, "cat")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	n, err := io.WriteString(stdin, "one ")
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	_, err = io.WriteString(stdin, "two")
	require.NoError(t, err)
	require.NoError(t, stdin.Close())
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, "one two", string(out))
}

// TestCmdStdinPipeBeyondBuffer: a write larger than what the pipe keeps
// before Start waits for Start, and all of it arrives, then EOF.
func TestCmdStdinPipeBeyondBuffer(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{})
	ctx := testCtx(t, 30*time.Second)
	cmd := s.CommandContext(ctx, "wc", "-c")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	data := randomData(1 << 20)
	done := writeThenClose(stdin, data)
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(len(data)), strings.TrimSpace(string(out)))
	r := awaitWrite(t, ctx, done)
	assert.NoError(t, r.err)
	assert.Equal(t, len(data), r.n)
	assert.NoError(t, r.closeErr)
}

// TestCmdStdinPipeClosedBeforeStart: Close before Start gives the command
// EOF once it runs; a write after Close fails with os.ErrClosed.
func TestCmdStdinPipeClosedBeforeStart(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{})
	ctx := testCtx(t, 20*time.Second)
	cmd := s.CommandContext(ctx, "cat")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, stdin.Close())
	_, err = stdin.Write([]byte("late"))
	assert.ErrorIs(t, err, os.ErrClosed)
	assert.NoError(t, stdin.Close(), "a second Close")
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Empty(t, out)
	_, err = stdin.Write([]byte("after Wait"))
	assert.ErrorIs(t, err, os.ErrClosed)
}

// TestCmdStdinPipeStartFails: a writer waiting for Start gets Start's
// error when Start fails, and so do later writes.
func TestCmdStdinPipeStartFails(t *testing.T) {
	t.Parallel()
	closed := sshtestSession(t, sshtest.Options{})
	require.NoError(t, closed.Close())
	var nilCtx context.Context
	cases := map[string]struct {
		cmd  *libssh.Cmd
		want error // nil: any error
	}{
		"closed session": {cmd: closed.CommandContext(context.Background(), "cat"), want: libssh.ErrClosed},
		"nil context":    {cmd: closed.CommandContext(nilCtx, "cat")},
		"zero Cmd":       {cmd: &libssh.Cmd{}},
		"bad Env":        {cmd: func() *libssh.Cmd { c := closed.Command("cat"); c.Env = []string{"no equals sign"}; return c }()},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t, 20*time.Second)
			stdin, err := tc.cmd.StdinPipe()
			require.NoError(t, err)
			// More than the pipe keeps before Start: the write waits.
			done := writeThenClose(stdin, make([]byte, 1<<20))
			startErr := tc.cmd.Start()
			require.Error(t, startErr)
			if tc.want != nil {
				assert.ErrorIs(t, startErr, tc.want)
			}
			r := awaitWrite(t, ctx, done)
			require.Error(t, r.err)
			assert.ErrorIs(t, r.err, startErr, "the writer's error wraps Start's")
			assert.Less(t, r.n, 1<<20)
			assert.NoError(t, r.closeErr)
		})
	}
	t.Run("later write", func(t *testing.T) {
		t.Parallel()
		cmd := closed.Command("cat")
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		startErr := cmd.Run()
		require.ErrorIs(t, startErr, libssh.ErrClosed)
		_, err = stdin.Write([]byte("x"))
		assert.ErrorIs(t, err, libssh.ErrClosed)
	})
}

// TestCmdStdinPipeMendedStart: after a Start that failed on the Cmd's
// fields and failed the pipe, the mended Cmd runs with EOF at once.
func TestCmdStdinPipeMendedStart(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{})
	ctx := testCtx(t, 20*time.Second)
	cmd := s.CommandContext(ctx, "cat")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	cmd.Env = []string{"=x"}
	require.ErrorContains(t, cmd.Start(), "not NAME=value")
	_, err = stdin.Write([]byte("lost"))
	require.ErrorContains(t, err, "not NAME=value")
	cmd.Env = nil
	out, err := cmd.Output()
	require.NoError(t, err, "cat got EOF")
	assert.Empty(t, out)
}
