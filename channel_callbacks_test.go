package libssh_test

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/internal/sshdtest"
)

// events records callbacks in the order they fire. Callbacks run with the
// session locked in another goroutine, so it has its own lock.
type events struct {
	mu     sync.Mutex
	list   []string
	stdout strings.Builder
	stderr strings.Builder
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, s)
}

func (e *events) snapshot() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

func TestClientSideCallbacks(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	var ev events
	var maxWindow uint32 // the largest window OnWriteWontblock reported
	ch := openChannel(t, s)
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnData: func(data []byte, isStderr bool) int {
			ev.mu.Lock()
			defer ev.mu.Unlock()
			if isStderr {
				ev.stderr.Write(data)
			} else {
				ev.stdout.Write(data)
			}
			return len(data)
		},
		OnEOF:        func() { ev.add("eof") },
		OnClose:      func() { ev.add("close") },
		OnExitStatus: func(status int) { ev.add("exit-status " + strconv.Itoa(status)) },
		OnWriteWontblock: func(bytes uint32) {
			ev.mu.Lock()
			defer ev.mu.Unlock()
			maxWindow = max(maxWindow, bytes)
		},
	}))
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "head -c 5 >/dev/null; printf out; printf err >&2; exit 42"))
	_, err := ch.WriteString("input")
	require.NoError(t, err)
	require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
	ev.mu.Lock()
	// sshd opens session channels with a window of 0 and grows it for
	// the command.
	assert.Positive(t, maxWindow, "the remote window, once libssh sent the input")
	assert.Equal(t, "out", ev.stdout.String())
	assert.Equal(t, "err", ev.stderr.String())
	ev.mu.Unlock()
	got := ev.snapshot()
	assert.Contains(t, got, "eof")
	assert.Contains(t, got, "exit-status 42")
	// The channel's own bookkeeping still sees the status.
	status, err := ch.ExitStatus()
	require.NoError(t, err)
	assert.Equal(t, 42, status)
	// OnData consumed everything: nothing is left for Read.
	out, err := readAll(t, ch, 60*time.Second)
	require.NoError(t, err)
	assert.Empty(t, out)
}

func TestExitSignalCallback(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := openChannel(t, s)
	got := make(chan string, 1)
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnExitSignal: func(signal string, core bool, errmsg, lang string) {
			got <- signal + "/" + map[bool]string{true: "core", false: "no core"}[core]
		},
	}))
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "kill -KILL $$"))
	require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
	assert.Equal(t, "KILL/no core", recv(t, got, 30*time.Second))
}

func TestCloseCallbackAndRemoteClose(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := openChannel(t, s)
	closed := make(chan struct{})
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnClose: func() { close(closed) },
	}))
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "true"))
	recv(t, closed, 30*time.Second)
	require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
	assert.False(t, ch.IsOpen(), "closed by the server")
	assert.True(t, ch.IsAssigned(), "but not by us")
	assert.Equal(t, "libssh.Channel(closed by the server)", ch.String())
	_, err := ch.Write([]byte("x"))
	assert.ErrorContains(t, err, "the server closed the channel")
}

func TestSetCallbacksReplaces(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := openChannel(t, s)
	first := make(chan int, 1)
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnExitStatus: func(status int) { first <- status },
	}))
	second := make(chan int, 1)
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnExitStatus: func(status int) { second <- status },
	}))
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "exit 9"))
	require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
	assert.Equal(t, 9, recv(t, second, 30*time.Second))
	assert.Empty(t, first, "the replaced callbacks never fire")
	require.NoError(t, ch.SetCallbacks(nil), "nil removes them")
}

func TestLibssh011CallbacksReportUnsupported(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := openChannel(t, s)
	status := make(chan int, 1)
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{OnExitStatus: func(s int) { status <- s }}))
	err := ch.SetCallbacks(&callbacks.ChannelCallbacks{OnRequestResponse: func() {}})
	assert.ErrorIs(t, err, libssh.ErrUnsupported)
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "exit 6"))
	assert.Equal(t, 6, recv(t, status, 30*time.Second), "the callbacks set before stay")
}

func TestCloseInsideItsOwnCallback(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := openChannel(t, s)
	inside := make(chan error, 1)
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnData: func(data []byte, isStderr bool) int {
			err := ch.Close()
			// Still inside: the close waits until the callback returns,
			// and the channel already reads as closed.
			_, werr := ch.Write([]byte("x"))
			inside <- err
			inside <- werr
			ch.Close() // idempotent, inside too
			return len(data)
		},
	}))
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "echo data; "+"exec "+uniqueSleep(t)))
	require.NoError(t, recv(t, inside, 30*time.Second))
	assert.ErrorIs(t, recv(t, inside, 30*time.Second), libssh.ErrInCallback, "libssh cannot be re-entered from a callback")
	err := ch.Wait(testCtx(t, 30*time.Second))
	assert.ErrorIs(t, err, libssh.ErrClosed)
	assert.False(t, ch.IsAssigned())
	// The session goes on.
	assert.Equal(t, "after\n", runOutput(t, s, "echo after"))
}

func TestPanickingCallbackIsReported(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := openChannel(t, s)
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnData: func(data []byte, isStderr bool) int { panic("callback bug") },
	}))
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "echo data"))
	err := ch.Wait(testCtx(t, 30*time.Second))
	var pe *callbacks.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "callback bug", pe.Value)
	_, err = ch.Read(make([]byte, 10))
	assert.ErrorAs(t, err, &pe, "every later call reports it")
	assert.NoError(t, ch.Close())
	// Other channels are not affected.
	assert.Equal(t, "fine\n", runOutput(t, s, "echo fine"))
}

func TestSessionMethodInsideACallback(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := openChannel(t, s)
	type seen struct {
		host       string
		open       bool
		newChannel error
		wait       error
		close      error
	}
	got := make(chan seen, 1)
	inCtx := testCtx(t, 5*time.Second) // should the refusal come back, the callback gives up
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnEOF: func() {
			var v seen
			v.host, v.open = s.Host(), s.IsOpen() // cached facts work
			_, v.newChannel = s.NewChannel()      // would need the lock this goroutine holds
			v.wait = s.Wait(inCtx)
			v.close = s.Close() // deferred until the callback returns
			got <- v
		},
	}))
	ctx := testCtx(t, 30*time.Second)
	// "true" may end, and its EOF arrive with the request's reply: the
	// callback's Close can then take effect before RequestExec returns.
	if err := ch.RequestExec(ctx, "true"); err != nil {
		require.ErrorIs(t, err, libssh.ErrClosed, "the session was closed after the callback")
	}
	if err := ch.Wait(ctx); err != nil {
		assert.ErrorIs(t, err, libssh.ErrClosed, "the session was closed after the callback")
	}
	// The session closes once the callback's libssh call returned.
	for err := s.Wait(ctx); !errors.Is(err, libssh.ErrClosed); err = s.Wait(ctx) {
		require.NoError(t, err, "waiting for the deferred close")
	}
	var v seen
	select {
	case v = <-got:
	case <-ctx.Done():
		t.Fatal("the callback did not run")
	}
	assert.Equal(t, s.Host(), v.host)
	assert.NotEmpty(t, v.host)
	assert.True(t, v.open, "open while the callback ran")
	assert.ErrorIs(t, v.newChannel, libssh.ErrInCallback)
	assert.ErrorIs(t, v.wait, libssh.ErrInCallback)
	assert.NoError(t, v.close)
	assert.False(t, s.IsOpen())
	assert.False(t, s.IsConnected())
}

// TestExitStatusBeforeEOF: sshd sends the exit status when the command
// exits, and EOF when its output closes. A background process that keeps
// the output open makes the status arrive first, with data after it.
func TestExitStatusBeforeEOF(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := openChannel(t, s)
	exited := make(chan int, 1)
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnExitStatus: func(status int) { exited <- status },
	}))
	dir := t.TempDir()
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second),
		"mkfifo "+dir+"/go; (cat "+dir+"/go; echo late) & echo started; exit 4"))
	readUntil(t, ch, "started\n")
	assert.Equal(t, 4, recv(t, exited, 30*time.Second))
	status, err := ch.ExitStatus()
	require.NoError(t, err)
	assert.Equal(t, 4, status, "known before EOF")
	assert.False(t, ch.EOF(), "the background process still holds the output")

	assert.Empty(t, runOutput(t, s, "echo more >"+dir+"/go"))
	out, err := readAll(t, ch, 60*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "more\nlate\n", string(out), "data after the exit status")
	waitExit(t, ch, 4)
}
