package libssh_test

// Lifetime and misuse tests: what must return an error instead of crashing.

import (
	"context"
	"os"
	"runtime"
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

func TestEveryMethodAfterCloseReturnsErrClosed(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	s := newPipeSession(t, srv)
	authenticate(t, s)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")

	ctx := testCtx(t, 30*time.Second)
	key, err := libssh.ParsePrivateKeyFile(sshdtest.Keys("id_ed25519"), "")
	require.NoError(t, err)
	defer key.Close()
	errs := map[string]error{
		"Connect":          s.Connect(ctx),
		"Disconnect":       s.Disconnect(),
		"Wait":             s.Wait(ctx),
		"VerifyHost":       s.VerifyHost(),
		"UpdateKnownHosts": s.UpdateKnownHosts(),
	}
	_, errs["IsKnownServer"] = s.IsKnownServer()
	_, errs["ServerPublicKey"] = s.ServerPublicKey()
	_, errs["UserauthNone"] = s.UserauthNone(ctx)
	_, errs["UserauthList"] = s.UserauthList(ctx)
	_, errs["UserauthPublicKey"] = s.UserauthPublicKey(ctx, key)
	_, errs["UserauthPublicKeyFile"] = s.UserauthPublicKeyFile(ctx, sshdtest.Keys("id_ed25519"), "")
	for name, err := range errs {
		assert.ErrorIs(t, err, libssh.ErrClosed, name)
	}
	assert.False(t, s.IsOpen())
	assert.False(t, s.IsConnected())
	assert.Equal(t, "", s.LastError())
	assert.Equal(t, -1, s.FD())
	assert.Equal(t, pipeHost, s.Host(), "properties stay readable after Close")
	assert.Equal(t, srv.User, s.User())
	assert.Contains(t, s.String(), "closed")
}

func TestCloseFrom50Goroutines(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	s := newPipeSession(t, srv)
	authenticate(t, s)

	// Others are using the session while it closes.
	var users sync.WaitGroup
	for range 10 {
		users.Add(1)
		go func() {
			defer users.Done()
			for s.IsOpen() {
				_, _ = s.ServerPublicKey()
				_ = s.IsConnected()
				if err := s.Wait(testCtx(t, 30*time.Second)); err != nil {
					return
				}
			}
		}()
	}
	start := make(chan struct{})
	var closers sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		closers.Add(1)
		go func() {
			defer closers.Done()
			<-start
			errs <- s.Close()
		}()
	}
	close(start)
	waitGroup(t, &closers, 30*time.Second)
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	waitGroup(t, &users, 30*time.Second)
	assert.False(t, s.IsOpen())
	_, err := s.UserauthNone(testCtx(t, 30*time.Second))
	assert.ErrorIs(t, err, libssh.ErrClosed)
}

// TestCloseDuringPendingCalls closes a session while other goroutines are in
// the middle of connecting and authenticating against a silent server.
func TestCloseDuringPendingCalls(t *testing.T) {
	t.Parallel()
	s, connectErr, _ := pendingConnect(t, context.Background())
	authErr := make(chan error, 1)
	go func() {
		_, err := s.UserauthNone(context.Background()) // queued behind Connect
		authErr <- err
	}()
	require.NoError(t, s.Close())
	assert.ErrorIs(t, recv(t, connectErr, 30*time.Second), libssh.ErrClosed)
	assert.ErrorIs(t, recv(t, authErr, 30*time.Second), libssh.ErrClosed)
}

// TestCancelledConnectPoisonsTheSession: a pending libssh call cannot be
// abandoned half-way, so cancelling one leaves the session unusable, with an
// error that says so, and Close still works.
func TestCancelledConnectPoisonsTheSession(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	s, result, _ := pendingConnect(t, ctx)
	cancel()
	err := recv(t, result, 30*time.Second)
	assert.ErrorIs(t, err, context.Canceled)
	err = s.Connect(testCtx(t, 30*time.Second))
	assert.ErrorContains(t, err, "cannot be used any more")
	_, err = s.UserauthNone(testCtx(t, 30*time.Second))
	assert.ErrorContains(t, err, "cannot be used any more")
	require.NoError(t, s.Close())
}

func TestSessionDroppedWithoutCloseIsFreed(t *testing.T) {
	srv := sshdtest.New(t, sshdtest.Options{})
	leaked := make(chan string, 1)
	libssh.SetLeakHook(func(kind, stack string) { leaked <- kind + "\n" + stack })
	t.Cleanup(func() { libssh.SetLeakHook(nil) })
	func() {
		s, err := libssh.NewSession(testCtx(t, 30*time.Second), pipeHost, libssh.WithConn(srv.Pipe(t)), libssh.WithUser(srv.User), trustSSHD(srv))
		require.NoError(t, err)
		authenticate(t, s)
	}()
	before := libssh.LiveSessions()
	var report string
	deadline := time.Now().Add(30 * time.Second)
	for report == "" {
		require.True(t, time.Now().Before(deadline), "no leak report in 30 s")
		runtime.GC()
		select {
		case report = <-leaked:
		default:
			runtime.Gosched()
		}
	}
	assert.True(t, strings.HasPrefix(report, "Session\n"))
	assert.Contains(t, report, "TestSessionDroppedWithoutCloseIsFreed", "the report shows where the session was made")
	assert.Less(t, libssh.LiveSessions(), before, "the cleanup freed the C session")
}

func threadCount(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// Test200SessionsOnBoundedThreads: an idle session costs a parked goroutine,
// not an OS thread, so the thread count does not grow with the sessions.
func Test200SessionsOnBoundedThreads(t *testing.T) {
	// Not parallel: it counts the whole process's threads.
	srv := sshdtest.New(t, sshdtest.Options{})
	host, port := splitHostPort(t, srv.Listen(t))
	open := func(n int) []*libssh.Session {
		sessions := make([]*libssh.Session, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16) // be kind to sshd on two cores
		for i := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				s, err := libssh.NewSession(testCtx(t, 30*time.Second), host, libssh.WithPort(port), libssh.WithUser(srv.User), trustSSHD(srv))
				if err == nil {
					closeAtEnd(t, s)
					_, err = s.UserauthPublicKeyFile(testCtx(t, 30*time.Second), sshdtest.Keys("id_ed25519"), "")
				}
				sessions[i], errs[i] = s, err
			}()
		}
		waitGroup(t, &wg, 30*time.Second)
		for _, err := range errs {
			require.NoError(t, err)
		}
		return sessions
	}
	// All sessions wait for their server at once; the waits park in the
	// network poller.
	waitAll := func(sessions []*libssh.Session) {
		ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
		var wg sync.WaitGroup
		for _, s := range sessions {
			wg.Add(1)
			go func() { defer wg.Done(); s.Wait(ctx) }()
		}
		cancel()
		waitGroup(t, &wg, 30*time.Second)
	}

	few := open(20)
	waitAll(few)
	threadsFew := threadCount(t)
	many := append(few, open(180)...)
	waitAll(many)
	for _, s := range many {
		require.True(t, s.IsConnected())
	}
	threadsMany := threadCount(t)
	t.Logf("OS threads: %d with 20 sessions, %d with %d sessions (GOMAXPROCS %d)", threadsFew, threadsMany, len(many), runtime.GOMAXPROCS(0))
	assert.Less(t, threadsMany, 64, "threads must not grow with the number of sessions")
	for _, s := range many {
		require.NoError(t, s.Close())
	}
}
