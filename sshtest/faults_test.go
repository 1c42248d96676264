package sshtest_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/faultnet"
	"github.com/golibssh/libssh/lib"
	"github.com/golibssh/libssh/sshtest"
)

// within runs f and returns how long it took; if f has not returned after
// d, the test fails and stops there, so that nothing reads what f is still
// writing.
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
		t.Fatalf("%s has not returned after %v", what, d)
		panic("unreachable")
	}
}

// faultSession connects to a new server with opts (AuthNone set) and
// returns the session, not authenticated. extra options come last.
func faultSession(t *testing.T, opts sshtest.Options, extra ...libssh.Option) (*libssh.Session, *sshtest.Server) {
	t.Helper()
	opts.AuthNone = true
	srv := newServer(t, opts)
	s, err := libssh.NewSession(testCtx(t, 10*time.Second), srv.Host(), append([]libssh.Option{
		libssh.WithPort(srv.Port()), libssh.WithUser("u"), trust(srv),
	}, extra...)...)
	require.NoError(t, err)
	t.Cleanup(func() { within(t, 5*time.Second, "Session.Close", func() { s.Close() }) })
	return s, srv
}

func login(t *testing.T, s *libssh.Session) {
	t.Helper()
	status, err := s.UserauthNone(testCtx(t, 10*time.Second))
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
	ctx := testCtx(t, 10*time.Second)
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

func TestFaultCloseInsteadOfReply(t *testing.T) {
	requests := map[string]func(ctx context.Context, ch *libssh.Channel) error{
		"exec":    func(ctx context.Context, ch *libssh.Channel) error { return ch.RequestExec(ctx, "true") },
		"env":     func(ctx context.Context, ch *libssh.Channel) error { return ch.RequestEnv(ctx, "A", "b") },
		"pty-req": func(ctx context.Context, ch *libssh.Channel) error { return ch.RequestPty(ctx, "xterm", 80, 24) },
	}
	for name, request := range requests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, _ := faultSession(t, sshtest.Options{Faults: sshtest.Faults{CloseInsteadOfReply: []string{name}}})
			login(t, s)
			ch, err := s.NewChannel()
			require.NoError(t, err)
			defer ch.Close()
			require.NoError(t, ch.OpenSession(testCtx(t, 10*time.Second)))

			// The server closes the channel while the request waits
			// for its reply: Wait, started first, sees the close.
			waitErr := make(chan error, 1)
			go func() { waitErr <- ch.Wait(testCtx(t, 5*time.Second)) }()

			// The request fails: at once once the client notices the
			// close, at the deadline before that (libssh 0.10 waits
			// for a reply that never comes).
			var reqErr error
			took := within(t, 5*time.Second, name, func() { reqErr = request(testCtx(t, time.Second), ch) })
			t.Logf("%s: %v after %v", name, reqErr, took)
			require.Error(t, reqErr)
			assert.NotErrorIs(t, reqErr, libssh.ErrRequestDenied, "a refusal is a reply")

			select {
			case err := <-waitErr:
				require.NoError(t, err, "the server closed the channel")
			case <-testCtx(t, 5*time.Second).Done():
				t.Fatal("Channel.Wait has not returned")
			}
			assert.False(t, ch.IsOpen())
			assert.True(t, s.IsConnected(), "only the channel is closed")
		})
	}
}

func TestFaultBlackhole(t *testing.T) {
	t.Run("at auth", func(t *testing.T) {
		t.Parallel()
		s, _ := faultSession(t, sshtest.Options{Faults: sshtest.Faults{Blackhole: sshtest.Point{Auth: 1}}})
		var err error
		within(t, 5*time.Second, "UserauthNone", func() { _, err = s.UserauthNone(testCtx(t, 300*time.Millisecond)) })
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("at channel open", func(t *testing.T) {
		t.Parallel()
		s, _ := faultSession(t, sshtest.Options{Faults: sshtest.Faults{Blackhole: sshtest.Point{Channel: 2}}})
		login(t, s)
		ch1, err := s.NewChannel()
		require.NoError(t, err)
		defer ch1.Close()
		require.NoError(t, ch1.OpenSession(testCtx(t, 10*time.Second)), "the first open is answered")
		ch2, err := s.NewChannel()
		require.NoError(t, err)
		defer ch2.Close()
		within(t, 5*time.Second, "OpenSession", func() { err = ch2.OpenSession(testCtx(t, 300*time.Millisecond)) })
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.True(t, s.IsConnected(), "the connection stays open")
	})
}

func TestFaultReset(t *testing.T) {
	s, _ := faultSession(t, sshtest.Options{Faults: sshtest.Faults{Reset: sshtest.Point{Request: 1}}})
	login(t, s)
	ch, err := s.NewChannel()
	require.NoError(t, err)
	defer ch.Close()
	require.NoError(t, ch.OpenSession(testCtx(t, 10*time.Second)))
	ctx := testCtx(t, 10*time.Second)
	took := within(t, 5*time.Second, "RequestExec", func() { err = ch.RequestExec(ctx, "true") })
	t.Logf("RequestExec: %v after %v", err, took)
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "the reset ended the request, not the deadline")
	assert.False(t, s.IsConnected())
}

// TestFaultStopReading: once the server stops reading, the client's
// writes stall, and the server's output still arrives.
func TestFaultStopReading(t *testing.T) {
	dial, sock := faultnet.Dialer(4096)
	defer sock.Close()
	s, _ := faultSession(t, sshtest.Options{
		Faults: sshtest.Faults{StopReading: sshtest.Point{Request: 1}},
		Exec: func(ctx context.Context, e *sshtest.Exec) int {
			io.WriteString(e.Stdout, "running\n")
			<-ctx.Done()
			return 0
		},
	}, libssh.WithDialer(dial))
	login(t, s)
	ch, err := s.NewChannel()
	require.NoError(t, err)
	ctx := testCtx(t, 10*time.Second)
	require.NoError(t, ch.OpenSession(ctx))
	require.NoError(t, ch.RequestExec(ctx, "anything"), "the request at the Point is answered")
	line := make([]byte, len("running\n"))
	read := make(chan error, 1)
	go func() { _, err := io.ReadFull(ch, line); read <- err }()
	require.NoError(t, recv(t, read, 10*time.Second), "the server's output still arrives")
	assert.Equal(t, "running\n", string(line))

	// The writer blocks for good (Channel.Write has no deadline); Close
	// ends it.
	writeErr := make(chan error, 1)
	go func() {
		_, err := ch.Write(make([]byte, 8<<20))
		writeErr <- err
	}()
	waitStalled(t, ch, sock)
	t.Logf("unsent bytes in the client's socket: %d", sock.Unsent())
	within(t, 5*time.Second, "Session.Close", func() { s.Close() })
	select {
	case err := <-writeErr:
		require.Error(t, err)
	case <-testCtx(t, 5*time.Second).Done():
		t.Fatal("Write still blocked after Session.Close")
	}
}

func TestFaultOptionErrors(t *testing.T) {
	for name, tt := range map[string]struct {
		faults sshtest.Faults
		want   string
	}{
		"negative":      {sshtest.Faults{Blackhole: sshtest.Point{Auth: -1}}, "Blackhole has a negative count"},
		"two fields":    {sshtest.Faults{Reset: sshtest.Point{Auth: 1, Channel: 1}}, "Reset sets more than one"},
		"unknown reply": {sshtest.Faults{CloseInsteadOfReply: []string{"exec", "shutdown"}}, `unknown channel request "shutdown"`},
	} {
		t.Run(name, func(t *testing.T) {
			srv, err := sshtest.NewServer(sshtest.Options{AuthNone: true, Faults: tt.faults})
			if srv != nil {
				srv.Close()
			}
			require.ErrorContains(t, err, tt.want)
			require.Nil(t, srv)
		})
	}
}

// waitStalled waits until a writer on ch is held up by the server reading
// nothing: the client's send buffer is full, or the channel's window ran
// out with everything sent held by the server's kernel. Which comes first
// depends on whether the server had grown the window (to about 1.3 MB)
// before it stopped reading: the window it opens with, 32000 bytes, fits
// in the receive window its kernel advertised at the handshake.
func waitStalled(t *testing.T, ch *libssh.Channel, sock *faultnet.Socket) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		full, err := sock.Full()
		require.NoError(t, err)
		var window uint32
		require.NoError(t, ch.WithLib(func(p lib.Channel) error {
			window = lib.ChannelWindowSize(p)
			return nil
		}))
		if full || window == 0 && sock.Unsent() == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the writer did not stall: %d bytes unsent, a window of %d bytes", sock.Unsent(), window)
		case <-tick.C:
		}
	}
}
