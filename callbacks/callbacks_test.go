package callbacks

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/lib"
)

// These tests drive libssh directly (blocking mode, through package lib)
// against a real sshd, so that the callbacks are tested on their own,
// without package libssh's channel layer.

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

func (e *events) callbacks() *ChannelCallbacks {
	return &ChannelCallbacks{
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

// runUntilClosed runs cmd on a new channel of p with cb installed, and
// processes the session's packets until the server closes the channel.
func runUntilClosed(t *testing.T, p lib.Session, cmd string, cb *ChannelCallbacks, closed func() bool) *Registration {
	t.Helper()
	ch := lib.ChannelNew(p)
	require.False(t, ch.IsNil())
	require.Equal(t, lib.SSH_OK, lib.ChannelOpenSession(ch), lib.GetError(p))
	reg, err := Install(ch, cb)
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
	runUntilClosed(t, p, "printf out; printf err >&2; exit 3", e.callbacks(), e.isClosed)
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
	runUntilClosed(t, p, "kill -TERM $$", e.callbacks(), e.isClosed)
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
	before := Panics()
	reg := runUntilClosed(t, p, "echo hi", cb, e.isClosed)
	assert.Equal(t, "boom", reg.Panic(), "the panic is reported, not unwound through libssh")
	assert.Nil(t, reg.Panic(), "Panic takes it")
	assert.Greater(t, Panics(), before)
	e.mu.Lock()
	defer e.mu.Unlock()
	assert.Equal(t, "hi\n", e.stdout.String(), "the other callbacks went on working")
}

func TestRegistrationLifetime(t *testing.T) {
	t.Parallel()
	p := blockingSession(t)
	ch := lib.ChannelNew(p)
	require.False(t, ch.IsNil())
	defer lib.ChannelFree(ch)

	_, err := Install(lib.Channel{}, nil)
	assert.Error(t, err)
	var none *Registration // what a failed Install leaves: its methods are safe
	none.Remove()
	none.Forget()
	assert.Nil(t, none.Panic())

	reg, err := Install(ch, &ChannelCallbacks{OnEOF: func() {}})
	require.NoError(t, err)
	id := reg.id
	_, known := handles.lookup(id)
	assert.True(t, known)
	reg.Remove()
	reg.Remove() // idempotent
	_, known = handles.lookup(id)
	assert.False(t, known)
	// A callback that arrives for a removed id is dropped.
	called := false
	assert.False(t, call(id, func(*ChannelCallbacks) { called = true }))
	assert.False(t, called)
	assert.Nil(t, reg.Panic())

	// Forget frees without touching the channel.
	reg2, err := Install(ch, nil)
	require.NoError(t, err)
	reg2.Forget()
	reg2.Forget()
	_, known = handles.lookup(reg2.id)
	assert.False(t, known)
}

func TestNilFieldsLeaveLibsshDefaults(t *testing.T) {
	t.Parallel()
	assert.Zero(t, (&ChannelCallbacks{}).mask())
	assert.EqualValues(t, 1<<0|1<<4, (&ChannelCallbacks{OnData: func([]byte, bool) int { return 0 }, OnExitStatus: func(int) {}}).mask())
	all := ChannelCallbacks{
		OnData: func([]byte, bool) int { return 0 }, OnEOF: func() {}, OnClose: func() {}, OnSignal: func(string) {},
		OnExitStatus: func(int) {}, OnExitSignal: func(string, bool, string, string) {},
		OnPtyRequest:   func(string, int, int, int, int) bool { return true },
		OnShellRequest: func() bool { return true }, OnAuthAgentReq: func() {},
		OnX11Req:          func(bool, string, string, uint32) {},
		OnPtyWindowChange: func(int, int, int, int) bool { return true },
		OnExecRequest:     func(string) bool { return true }, OnEnvRequest: func(string, string) bool { return true },
		OnSubsystemRequest: func(string) bool { return true }, OnWriteWontblock: func(uint32) {},
	}
	assert.EqualValues(t, 1<<15-1, all.mask(), "15 callbacks, one bit each")
}

func TestGuardWrapsEveryCall(t *testing.T) {
	t.Parallel()
	p := blockingSession(t)
	ch := lib.ChannelNew(p)
	require.False(t, ch.IsNil())
	defer lib.ChannelFree(ch)
	var inside, guarded int
	var passedThrough any
	reg, err := InstallGuarded(ch, &ChannelCallbacks{
		OnEOF:   func() { inside++ },
		OnClose: func() { panic(errors.New("closing")) },
	}, func(run func()) {
		guarded++
		defer func() {
			if r := recover(); r != nil {
				passedThrough = r
				panic(r) // on to the table's recover
			}
		}()
		run()
	})
	require.NoError(t, err)
	defer reg.Remove()
	assert.True(t, call(reg.id, func(cb *ChannelCallbacks) { cb.OnEOF() }))
	assert.Equal(t, 1, inside)
	assert.False(t, call(reg.id, func(cb *ChannelCallbacks) { cb.OnClose() }), "a panic reports false")
	assert.Equal(t, 2, guarded)
	assert.EqualError(t, passedThrough.(error), "closing", "the guard saw the panic")
	var pe *PanicError
	err = &PanicError{Value: reg.Panic()}
	require.ErrorAs(t, err, &pe)
	assert.EqualError(t, errors.Unwrap(err), "closing", "PanicError unwraps an error value")
	assert.Nil(t, errors.Unwrap(&PanicError{Value: "text"}))
}

// Not parallel: it counts registrations.
func TestLibssh011CallbacksAreUnsupported(t *testing.T) {
	p := blockingSession(t)
	ch := lib.ChannelNew(p)
	require.False(t, ch.IsNil())
	defer lib.ChannelFree(ch)
	live := Live()
	_, err := Install(ch, &ChannelCallbacks{OnOpenResponse: func(bool) {}})
	assert.ErrorIs(t, err, ErrUnsupported)
	_, err = Install(ch, &ChannelCallbacks{OnRequestResponse: func() {}})
	assert.ErrorIs(t, err, ErrUnsupported)
	assert.ErrorContains(t, err, "libssh in use: 0.10")
	assert.Equal(t, live, Live(), "nothing registered")
}
