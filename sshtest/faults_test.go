package sshtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

// boundedCtx is a context for one wait of a test: it ends after d, or
// with the test.
func boundedCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// within runs f and fails the test if it has not returned after d. It
// returns how long f took (d when it did not return).
func within(t *testing.T, d time.Duration, what string, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return time.Since(start)
	case <-time.After(d):
		t.Errorf("%s has not returned after %v", what, d)
		return d
	}
}

// faultSession connects to a new server with opts (AuthNone set) and
// returns the session, not authenticated. extra options come last.
func faultSession(t *testing.T, opts sshtest.Options, extra ...libssh.Option) (*libssh.Session, *sshtest.Server) {
	t.Helper()
	opts.AuthNone = true
	srv := newServer(t, opts)
	s, err := libssh.NewSession(boundedCtx(t, 10*time.Second), srv.Host(), append([]libssh.Option{
		libssh.WithPort(srv.Port()), libssh.WithUser("u"), libssh.WithKnownHosts(os.DevNull),
	}, extra...)...)
	require.NoError(t, err)
	t.Cleanup(func() { within(t, 5*time.Second, "Session.Close", func() { s.Close() }) })
	return s, srv
}

func login(t *testing.T, s *libssh.Session) {
	t.Helper()
	status, err := s.UserauthNone(boundedCtx(t, 10*time.Second))
	require.NoError(t, err)
	require.Equal(t, libssh.AuthSuccess, status)
}

// TestEnvAfterExec sends an env request after the exec: the command keeps
// the environment it started with. Under -race this failed while the
// server appended to the environment the running command read.
func TestEnvAfterExec(t *testing.T) {
	got := make(chan []string, 1)
	s, _ := faultSession(t, sshtest.Options{Exec: func(ctx context.Context, e *sshtest.Exec) int {
		got <- e.Env
		<-ctx.Done()
		return 0
	}})
	login(t, s)
	ch, err := s.NewChannel()
	require.NoError(t, err)
	defer ch.Close()
	ctx := boundedCtx(t, 10*time.Second)
	require.NoError(t, ch.OpenSession(ctx))
	require.NoError(t, ch.RequestEnv(ctx, "BEFORE", "1"))
	require.NoError(t, ch.RequestExec(ctx, "env"))
	require.NoError(t, ch.RequestEnv(ctx, "AFTER", "2"), "accepted, as sshd does, though it changes nothing")
	select {
	case env := <-got:
		assert.Equal(t, []string{"BEFORE=1"}, env)
	case <-ctx.Done():
		t.Fatal("the handler did not run")
	}
}
