package libssh_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/internal/cgocallback"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/lib"
)

// manySessions lets sshd run many channels on one connection.
var manySessions = sshdtest.Options{ConfigFirst: []string{"MaxSessions 200"}}

func TestHundredChannelsAtOnce(t *testing.T) {
	t.Parallel()
	s := authedSession(t, manySessions)
	const n = 100
	chans := make([]*libssh.Channel, n)
	for i := range chans {
		// Each command waits for its input, so all 100 run at once.
		chans[i] = execChannel(t, s, fmt.Sprintf("read x; echo channel-%d-$x", i))
	}
	var wg sync.WaitGroup
	outs := make([]string, n)
	errs := make([]error, n)
	for i, ch := range chans {
		spawn(&wg, func() {
			if _, err := fmt.Fprintf(ch, "%d\n", i*i); err != nil {
				errs[i] = err
				return
			}
			out, err := io.ReadAll(ch)
			outs[i], errs[i] = string(out), err
			if err == nil {
				errs[i] = ch.Wait(testCtx(t, 30*time.Second))
			}
		})
	}
	waitGroup(t, &wg, 30*time.Second)
	for i := range chans {
		require.NoError(t, errs[i], "channel %d", i)
		assert.Equal(t, fmt.Sprintf("channel-%d-%d\n", i, i*i), outs[i])
		status, err := chans[i].ExitStatus()
		require.NoError(t, err)
		assert.Equal(t, 0, status)
	}
}

// Not parallel: it compares package-wide counts.
func TestTenThousandChannelsInSequence(t *testing.T) {
	s := authedSession(t, sshdtest.Options{})
	// One channel first, so that everything a session starts lazily exists.
	ch := openChannel(t, s)
	require.NoError(t, ch.Close())
	live, channels, goroutines := cgocallback.Live(), libssh.LiveChannels(), runtime.NumGoroutine()
	for i := range 10_000 {
		ch, err := s.NewChannel()
		require.NoError(t, err)
		require.NoError(t, ch.OpenSession(testCtx(t, 30*time.Second)), "channel %d", i)
		require.NoError(t, ch.Close())
	}
	assert.Equal(t, live, cgocallback.Live(), "callback registrations")
	assert.Equal(t, channels, libssh.LiveChannels(), "C channels")
	assert.LessOrEqual(t, runtime.NumGoroutine(), goroutines, "goroutines")
	// The session still works.
	assert.Equal(t, "still\n", runOutput(t, s, "echo still"))
}

func TestSessionClosedUnderBusyChannels(t *testing.T) {
	t.Parallel()
	s := authedSession(t, manySessions)
	var ready, done sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		ch := execChannel(t, s, "cat")
		ready.Add(1)
		spawn(&done, func() {
			var err error
			switch i % 4 {
			case 0: // reads that wait for data
				_, err = ch.WriteString("x")
				if err == nil {
					_, err = io.ReadFull(ch, make([]byte, 1))
				}
				ready.Done()
				if err == nil {
					_, err = io.Copy(io.Discard, ch)
				}
			case 1: // writes that fill the window, since nobody reads
				ready.Done()
				chunk := make([]byte, 1<<20)
				for err == nil {
					_, err = ch.Write(chunk)
				}
			case 2: // a wait for the end
				ready.Done()
				err = ch.Wait(context.Background())
			case 3: // stderr reads
				ready.Done()
				_, err = io.Copy(io.Discard, ch.Stderr())
			}
			errs <- err
		})
	}
	waitGroup(t, &ready, 30*time.Second)
	require.NoError(t, s.Close())
	waitGroup(t, &done, 30*time.Second)
	close(errs)
	for err := range errs {
		assert.ErrorIs(t, err, libssh.ErrClosed)
	}
}

func TestChannelAfterItsSessionClosed(t *testing.T) {
	t.Parallel()
	for _, end := range []string{"Close", "Disconnect"} {
		t.Run(end, func(t *testing.T) {
			s := authedSession(t, sshdtest.Options{})
			ch := execChannel(t, s, "cat")
			unopened, err := s.NewChannel()
			require.NoError(t, err)
			if end == "Close" {
				require.NoError(t, s.Close())
			} else {
				require.NoError(t, s.Disconnect())
			}
			for _, c := range []*libssh.Channel{ch, unopened} {
				ctx := testCtx(t, 30*time.Second)
				_, err := c.Read(make([]byte, 1))
				assert.ErrorIs(t, err, libssh.ErrClosed)
				assert.ErrorContains(t, err, "session was")
				_, err = c.Stderr().Read(make([]byte, 1))
				assert.ErrorIs(t, err, libssh.ErrClosed)
				_, err = c.Write([]byte("x"))
				assert.ErrorIs(t, err, libssh.ErrClosed)
				_, err = c.WriteString("x")
				assert.ErrorIs(t, err, libssh.ErrClosed)
				assert.ErrorIs(t, c.OpenSession(ctx), libssh.ErrClosed)
				assert.ErrorIs(t, c.OpenForward(ctx, "localhost", 1), libssh.ErrClosed)
				assert.ErrorIs(t, c.RequestExec(ctx, "true"), libssh.ErrClosed)
				assert.ErrorIs(t, c.RequestEnv(ctx, "A", "b"), libssh.ErrClosed)
				assert.ErrorIs(t, c.RequestPty(ctx, "", 80, 24), libssh.ErrClosed)
				assert.ErrorIs(t, c.ChangePtySize(ctx, 80, 24), libssh.ErrClosed)
				assert.ErrorIs(t, c.RequestShell(ctx), libssh.ErrClosed)
				assert.ErrorIs(t, c.RequestSubsystem(ctx, "sftp"), libssh.ErrClosed)
				assert.ErrorIs(t, c.SendSignal(ctx, "TERM"), libssh.ErrClosed)
				assert.ErrorIs(t, c.SetCallbacks(&callbacks.ChannelCallbacks{}), libssh.ErrClosed)
				assert.ErrorIs(t, c.Wait(ctx), libssh.ErrClosed)
				assert.ErrorIs(t, c.PollLoop(ctx), libssh.ErrClosed)
				assert.ErrorIs(t, c.CloseWrite(), libssh.ErrClosed)
				assert.ErrorIs(t, c.WithLib(func(lib.Channel) error { return nil }), libssh.ErrClosed)
				assert.ErrorIs(t, c.SetMaxWindow(8<<20), libssh.ErrClosed)
				_, err = c.ExitStatus()
				assert.ErrorIs(t, err, libssh.ErrNoExitStatus)
				assert.False(t, c.IsAssigned())
				assert.False(t, c.IsOpen())
				assert.False(t, c.IsWritable())
				assert.True(t, c.EOF())
				assert.Equal(t, "libssh.Channel(closed)", c.String())
				assert.NoError(t, c.Close())
				assert.NoError(t, c.Close(), "Close is idempotent")
			}
			_, err = s.NewChannel()
			assert.Error(t, err)
		})
	}
}

func TestCloseChannelFrom50Goroutines(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := execChannel(t, s, "cat")
	var wg sync.WaitGroup
	for range 50 {
		spawn(&wg, func() { assert.NoError(t, ch.Close()) })
	}
	waitGroup(t, &wg, 30*time.Second)
	assert.False(t, ch.IsAssigned())
	_, err := ch.Read(make([]byte, 1))
	assert.ErrorIs(t, err, libssh.ErrClosed)
	assert.Equal(t, "libssh: use of closed channel", err.Error())
}

func TestChannelDroppedWithoutCloseIsFreed(t *testing.T) {
	s := authedSession(t, sshdtest.Options{})
	leaked := make(chan string, 1)
	libssh.SetLeakHook(func(kind, stack string) { leaked <- kind })
	t.Cleanup(func() { libssh.SetLeakHook(nil) })
	func() {
		ch, err := s.NewChannel()
		require.NoError(t, err)
		require.NoError(t, ch.OpenSession(testCtx(t, 30*time.Second)))
	}()
	deadline := time.Now().Add(30 * time.Second)
	for len(leaked) == 0 {
		require.True(t, time.Now().Before(deadline), "no leak report in 30 s")
		runtime.GC()
		runtime.Gosched()
	}
	assert.Equal(t, "Channel", recv(t, leaked, 30*time.Second))
}

func TestWrapChannel(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	var p lib.Channel
	require.NoError(t, s.WithLib(func(sp lib.Session) error {
		p = lib.ChannelNew(sp)
		return nil
	}))
	require.False(t, p.IsNil())
	ch, err := libssh.WrapChannel(p, s, true)
	require.NoError(t, err)
	defer ch.Close()
	_, err = libssh.WrapChannel(p, s, false)
	assert.ErrorContains(t, err, "wrapped already")
	other := authedSession(t, sshdtest.Options{})
	_, err = libssh.WrapChannel(p, other, true)
	assert.ErrorContains(t, err, "another session")
	_, err = libssh.WrapChannel(lib.Channel{}, s, true)
	assert.Error(t, err)

	require.NoError(t, ch.OpenSession(testCtx(t, 30*time.Second)))
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "echo wrapped"))
	out, err := readAll(t, ch, 60*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "wrapped\n", string(out))

	// A wrapper that does not own the channel leaves it to the caller.
	var q lib.Channel
	require.NoError(t, s.WithLib(func(sp lib.Session) error {
		q = lib.ChannelNew(sp)
		return nil
	}))
	borrowed, err := libssh.WrapChannel(q, s, false)
	require.NoError(t, err)
	require.NoError(t, borrowed.OpenSession(testCtx(t, 30*time.Second)))
	require.NoError(t, borrowed.Close())
	require.NoError(t, s.WithLib(func(lib.Session) error {
		assert.Equal(t, 1, lib.ChannelIsOpen(q), "the channel outlives its wrapper")
		lib.ChannelFree(q)
		return nil
	}))
}

func TestPollLoop(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := openChannel(t, s)
	var mu sync.Mutex
	var got strings.Builder
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnData: func(data []byte, isStderr bool) int {
			mu.Lock()
			defer mu.Unlock()
			got.Write(data)
			return len(data)
		},
	}))
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "echo one; echo two >&2"))
	require.NoError(t, ch.PollLoop(testCtx(t, 30*time.Second)))
	assert.True(t, ch.EOF(), "PollLoop returns once the server's EOF arrived")
	mu.Lock()
	defer mu.Unlock()
	assert.ElementsMatch(t, []string{"one", "two"}, strings.Fields(got.String()))
}

func TestBlockedChannelDoesNotHoldUpOthers(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	// The command reads nothing, so writes fill the window and wait; and
	// it writes nothing, so reads wait too.
	stuck := execChannel(t, s, "exec "+uniqueSleep(t))
	var wg sync.WaitGroup
	var writeErr, readErr error
	spawn(&wg, func() {
		chunk := make([]byte, 1<<20)
		for writeErr == nil {
			_, writeErr = stuck.Write(chunk)
		}
	})
	spawn(&wg, func() { _, readErr = stuck.Read(make([]byte, 10)) })

	for i := range 3 {
		assert.Equal(t, fmt.Sprintf("%d\n", i), runOutput(t, s, fmt.Sprintf("echo %d", i)))
	}
	require.NoError(t, stuck.Close())
	waitGroup(t, &wg, 30*time.Second)
	assert.ErrorIs(t, writeErr, libssh.ErrClosed)
	assert.ErrorIs(t, readErr, libssh.ErrClosed)
}
