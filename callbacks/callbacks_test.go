package callbacks_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/internal/cgocallback"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/lib"
)

// These tests drive libssh directly (blocking mode, through package lib)
// against a real sshd, so that the callbacks and package cgocallback, which
// calls them, are tested on their own, without package libssh's channel
// layer.

// blockingSession connects and authenticates a blocking libssh session.
func blockingSession(t *testing.T) lib.Session {
	t.Helper()
	srv := sshdtest.New(t, sshdtest.Options{})
	host, portText, err := net.SplitHostPort(srv.Listen(t))
	require.NoError(t, err)
	port, _ := strconv.Atoi(portText)
	p := lib.New()
	require.False(t, p.IsNil())
	t.Cleanup(func() { lib.Disconnect(p); lib.Free(p) })
	require.Equal(t, lib.SSH_OK, lib.OptionsSetString(p, lib.SSH_OPTIONS_HOST, host))
	require.Equal(t, lib.SSH_OK, lib.OptionsSetUint(p, lib.SSH_OPTIONS_PORT, uint(port)))
	require.Equal(t, lib.SSH_OK, lib.OptionsSetString(p, lib.SSH_OPTIONS_USER, srv.User))
	require.Equal(t, lib.SSH_OK, lib.OptionsSetBool(p, lib.SSH_OPTIONS_PROCESS_CONFIG, 0))
	require.Equal(t, lib.SSH_OK, lib.Connect(p), lib.GetError(p))
	key, _ := lib.ImportPrivkeyFile(sshdtest.Keys("id_ed25519"), "")
	require.False(t, key.IsNil())
	defer lib.KeyFree(key)
	require.Equal(t, lib.SSH_AUTH_SUCCESS, lib.UserauthPublickey(p, key), lib.GetError(p))
	return p
}

// events records what the callbacks saw.
type events struct {
	mu             sync.Mutex
	stdout, stderr strings.Builder
	eof, closed    bool
	status         int
	signal         string
	core           bool
}

// newEvents records a run; status stays -1 unless an exit status arrives.
func newEvents() *events { return &events{status: -1} }

func (e *events) callbacks() *callbacks.ChannelCallbacks {
	return &callbacks.ChannelCallbacks{
		OnData: func(data []byte, isStderr bool) int {
			e.mu.Lock()
			defer e.mu.Unlock()
			if isStderr {
				e.stderr.Write(data)
			} else {
				e.stdout.Write(data)
			}
			return len(data)
		},
		OnEOF:        func() { e.mu.Lock(); e.eof = true; e.mu.Unlock() },
		OnClose:      func() { e.mu.Lock(); e.closed = true; e.mu.Unlock() },
		OnExitStatus: func(status int) { e.mu.Lock(); e.status = status; e.mu.Unlock() },
		OnExitSignal: func(signal string, core bool, _, _ string) {
			e.mu.Lock()
			e.signal, e.core = signal, core
			e.mu.Unlock()
		},
	}
}

func (e *events) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// runUntilClosed runs cmd on a new channel of p with cb installed (guarded
// by guard, unless nil), and processes the session's packets until the
// server closes the channel.
func runUntilClosed(t *testing.T, p lib.Session, cmd string, cb *callbacks.ChannelCallbacks, guard func(func()), closed func() bool) *cgocallback.Registration {
	t.Helper()
	ch := lib.ChannelNew(p)
	require.False(t, ch.IsNil())
	require.Equal(t, lib.SSH_OK, lib.ChannelOpenSession(ch), lib.GetError(p))
	reg, err := cgocallback.InstallGuarded(ch, cb, guard)
	require.NoError(t, err)
	t.Cleanup(func() { reg.Remove(); lib.ChannelFree(ch) })
	require.Equal(t, lib.SSH_OK, lib.ChannelRequestExec(ch, cmd), lib.GetError(p))

	ev := lib.EventNew()
	require.Equal(t, lib.SSH_OK, lib.EventAddSession(ev, p))
	defer func() { lib.EventRemoveSession(ev, p); lib.EventFree(ev) }()
	// Each dopoll returns as soon as packets were processed; the bound
	// only stops a broken test from hanging.
	for range 100 {
		if closed() {
			break
		}
		require.NotEqual(t, lib.SSH_ERROR, lib.EventDopoll(ev, 1000), lib.GetError(p))
	}
	require.True(t, closed(), "the server never closed the channel")
	return reg
}

func TestClientCallbacksFire(t *testing.T) {
	t.Parallel()
	p := blockingSession(t)
	e := newEvents()
	runUntilClosed(t, p, "printf out; printf err >&2; exit 3", e.callbacks(), nil, e.isClosed)
	e.mu.Lock()
	defer e.mu.Unlock()
	assert.Equal(t, "out", e.stdout.String())
	assert.Equal(t, "err", e.stderr.String(), "stderr is kept apart")
	assert.True(t, e.eof)
	assert.Equal(t, 3, e.status)
	assert.Empty(t, e.signal)
}

func TestExitSignalCallback(t *testing.T) {
	t.Parallel()
	p := blockingSession(t)
	e := newEvents()
	runUntilClosed(t, p, "kill -TERM $$", e.callbacks(), nil, e.isClosed)
	e.mu.Lock()
	defer e.mu.Unlock()
	assert.Equal(t, "TERM", e.signal)
	assert.False(t, e.core)
	assert.Equal(t, -1, e.status, "a killed command sends no exit status")
}

func TestPanicInCallbackIsRecovered(t *testing.T) {
	t.Parallel()
	p := blockingSession(t)
	e := newEvents()
	cb := e.callbacks()
	cb.OnEOF = func() { panic("boom") }
	before := cgocallback.Panics()
	reg := runUntilClosed(t, p, "echo hi", cb, nil, e.isClosed)
	assert.Equal(t, "boom", reg.Panic(), "the panic is reported, not unwound through libssh")
	assert.Nil(t, reg.Panic(), "Panic takes it")
	assert.Greater(t, cgocallback.Panics(), before)
	e.mu.Lock()
	defer e.mu.Unlock()
	assert.Equal(t, "hi\n", e.stdout.String(), "the other callbacks went on working")
}

// Not parallel: it counts registrations.
func TestRegistrationLifetime(t *testing.T) {
	p := blockingSession(t)
	ch := lib.ChannelNew(p)
	require.False(t, ch.IsNil())
	defer lib.ChannelFree(ch)
	live := cgocallback.Live()

	_, err := cgocallback.Install(lib.Channel{}, nil)
	assert.Error(t, err)
	var none *cgocallback.Registration // what a failed Install leaves: its methods are safe
	none.Remove()
	none.Forget()
	assert.Nil(t, none.Panic())

	reg, err := cgocallback.Install(ch, &callbacks.ChannelCallbacks{OnEOF: func() {}})
	require.NoError(t, err)
	assert.Equal(t, live+1, cgocallback.Live())
	reg.Remove()
	reg.Remove() // idempotent
	assert.Equal(t, live, cgocallback.Live())
	assert.Nil(t, reg.Panic())

	// Forget frees without touching the channel.
	reg2, err := cgocallback.Install(ch, nil)
	require.NoError(t, err)
	reg2.Forget()
	reg2.Forget()
	assert.Equal(t, live, cgocallback.Live())
}

func TestGuardWrapsEveryCall(t *testing.T) {
	t.Parallel()
	p := blockingSession(t)
	var inside, guarded int
	var closed bool
	var passedThrough any
	cb := &callbacks.ChannelCallbacks{
		OnEOF: func() { inside++ },
		OnClose: func() {
			closed = true
			panic(errors.New("closing"))
		},
	}
	// The callbacks run on this goroutine, inside EventDopoll.
	reg := runUntilClosed(t, p, "true", cb, func(run func()) {
		guarded++
		defer func() {
			if r := recover(); r != nil {
				passedThrough = r
				panic(r) // on to cgocallback's recover
			}
		}()
		run()
	}, func() bool { return closed })
	assert.Equal(t, 1, inside)
	assert.Equal(t, 2, guarded, "OnEOF and OnClose, each through the guard")
	assert.EqualError(t, passedThrough.(error), "closing", "the guard saw the panic")
	var pe *callbacks.PanicError
	err := error(&callbacks.PanicError{Value: reg.Panic()})
	require.ErrorAs(t, err, &pe)
	assert.EqualError(t, errors.Unwrap(err), "closing", "PanicError unwraps an error value")
	assert.Nil(t, errors.Unwrap(&callbacks.PanicError{Value: "text"}))
}

// Not parallel: it counts registrations.
func TestLibssh011CallbacksAreUnsupported(t *testing.T) {
	p := blockingSession(t)
	ch := lib.ChannelNew(p)
	require.False(t, ch.IsNil())
	defer lib.ChannelFree(ch)
	live := cgocallback.Live()
	_, err := cgocallback.Install(ch, &callbacks.ChannelCallbacks{OnOpenResponse: func(bool) {}})
	assert.ErrorIs(t, err, cgocallback.ErrUnsupported)
	_, err = cgocallback.Install(ch, &callbacks.ChannelCallbacks{OnRequestResponse: func() {}})
	assert.ErrorIs(t, err, cgocallback.ErrUnsupported)
	assert.ErrorContains(t, err, "libssh in use: 0.10")
	assert.Equal(t, live, cgocallback.Live(), "nothing registered")
}

// TestCountingRegistration: a counting registration counts the data
// messages and takes no data, which stays for ssh_channel_read; it refuses
// an OnData of its own.
func TestCountingRegistration(t *testing.T) {
	t.Parallel()
	p := blockingSession(t)
	unused := lib.ChannelNew(p)
	defer lib.ChannelFree(unused)
	_, err := cgocallback.InstallCounting(unused, &callbacks.ChannelCallbacks{OnData: func([]byte, bool) int { return 0 }})
	require.Error(t, err)

	ch := lib.ChannelNew(p)
	require.False(t, ch.IsNil())
	require.Equal(t, lib.SSH_OK, lib.ChannelOpenSession(ch), lib.GetError(p))
	closed := false
	reg, err := cgocallback.InstallCounting(ch, &callbacks.ChannelCallbacks{OnClose: func() { closed = true }})
	require.NoError(t, err)
	defer func() { reg.Remove(); lib.ChannelFree(ch) }()
	assert.Zero(t, reg.DataEvents())
	require.Equal(t, lib.SSH_OK, lib.ChannelRequestExec(ch, "printf out; printf err >&2"), lib.GetError(p))
	ev := lib.EventNew()
	require.Equal(t, lib.SSH_OK, lib.EventAddSession(ev, p))
	defer func() { lib.EventRemoveSession(ev, p); lib.EventFree(ev) }()
	for range 100 {
		if closed {
			break
		}
		require.NotEqual(t, lib.SSH_ERROR, lib.EventDopoll(ev, 1000), lib.GetError(p))
	}
	require.True(t, closed, "the server never closed the channel")
	assert.Equal(t, uint64(2), reg.DataEvents(), "one data message per stream")
	buf := make([]byte, 16)
	n := lib.ChannelRead(ch, buf, 0)
	assert.Equal(t, "out", string(buf[:max(n, 0)]), "the data stayed buffered")
	n = lib.ChannelRead(ch, buf, 1)
	assert.Equal(t, "err", string(buf[:max(n, 0)]))
	reg.Remove()
	assert.Zero(t, reg.DataEvents())
}
