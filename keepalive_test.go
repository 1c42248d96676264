package libssh_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/faultnet"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/sshtest"
)

// waitForever is an sshtest command that runs until its channel closes,
// without output.
func waitForever(ctx context.Context, _ *sshtest.Exec) int {
	<-ctx.Done()
	return 0
}

// silentSSHTest is an authenticated session with opts to an sshtest server
// that stops answering, keeping the TCP connection open, when the session
// opens its second channel, and a channel running a command that prints
// nothing. silence opens that second channel.
func silentSSHTest(t *testing.T, opts ...libssh.Option) (s *libssh.Session, ch *libssh.Channel, silence func()) {
	srv := newSSHTest(t, sshtest.Options{
		Password: sshtestPassword,
		Exec:     waitForever,
		Faults:   sshtest.Faults{Blackhole: sshtest.Point{Channel: 2}},
	})
	s = connectSSHTest(t, srv, opts...)
	require.NoError(t, authOK(s.UserauthPassword(testCtx(t, 30*time.Second), sshtestPassword)))
	ch = openChannel(t, s)
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "wait"))
	silence = func() {
		ch2, err := s.NewChannel()
		require.NoError(t, err)
		t.Cleanup(func() { ch2.Close() })
		go ch2.OpenSession(testCtx(t, 30*time.Second)) // never answered
	}
	return s, ch, silence
}

// TestKeepaliveEndsSessionToSilentServer: with WithKeepalive(1s, 3), a
// server that stops answering while the TCP connection stays open ends
// the session with ErrPeerUnresponsive after about 4 s (the issue asks for
// 4 s ± 1 s; the window asserted is looser, for a busy machine), and a
// Read blocked on one of its channels returns that error.
func TestKeepaliveEndsSessionToSilentServer(t *testing.T) {
	t.Parallel()
	t.Run("sshtest", func(t *testing.T) {
		t.Parallel()
		s, ch, silence := silentSSHTest(t, libssh.WithKeepalive(time.Second, 3))
		assertUnresponsive(t, s, ch, silence, "3 keepalives")
	})
	t.Run("sshd", func(t *testing.T) {
		t.Parallel()
		srv := sshdtest.New(t, sshdtest.Options{})
		relay, err := faultnet.NewRelay(srv.Listen(t), 0)
		require.NoError(t, err)
		t.Cleanup(func() { relay.Close() })
		host, port := splitHostPort(t, relay.Addr())
		s, err := libssh.NewSession(testCtx(t, 30*time.Second), host, libssh.WithPort(port), libssh.WithUser(srv.User),
			trustSSHD(srv), libssh.WithKeepalive(time.Second, 3))
		require.NoError(t, err)
		closeAtEnd(t, s)
		authenticate(t, s)
		ch := openChannel(t, s)
		require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "cat"))
		assertUnresponsive(t, s, ch, relay.Blackhole, "3 keepalives")
	})
	t.Run("sshtest, no keepalive before the end", func(t *testing.T) {
		t.Parallel()
		s, ch, silence := silentSSHTest(t, libssh.WithKeepalive(300*time.Millisecond, 0))
		silence()
		recv(t, s.Done(), 10*time.Second) // the session ends after the server went silent
		require.ErrorIs(t, s.Err(), libssh.ErrPeerUnresponsive)
		assert.Contains(t, s.Err().Error(), "nothing received for 300ms")
		_, err := ch.Read(make([]byte, 1))
		assert.ErrorIs(t, err, libssh.ErrPeerUnresponsive)
	})
}

// assertUnresponsive starts the server's silence with a Read blocked on
// ch, and checks how and when the session ends.
func assertUnresponsive(t *testing.T, s *libssh.Session, ch *libssh.Channel, silence func(), says string) {
	t.Helper()
	require.True(t, libssh.KeepaliveArmed(s))
	read := make(chan error, 1)
	go func() {
		_, err := ch.Read(make([]byte, 1))
		read <- err
	}()
	start := time.Now()
	silence()
	recv(t, s.Done(), 10*time.Second) // the session ends after the server went silent
	took := time.Since(start)
	t.Logf("the session ended %v after the server went silent: %v", took.Round(time.Millisecond), s.Err())
	require.ErrorIs(t, s.Err(), libssh.ErrPeerUnresponsive)
	errLower(t, "Err", s.Err())
	assert.Contains(t, s.Err().Error(), says)
	assert.False(t, s.IsConnected())
	assert.ErrorIs(t, recv(t, read, 2*time.Second), libssh.ErrPeerUnresponsive, "the blocked Read")
	_, err := ch.Write([]byte("x"))
	assert.ErrorIs(t, err, libssh.ErrPeerUnresponsive, "a Write after the end")
	_, err = s.NewChannel()
	assert.ErrorIs(t, err, libssh.ErrPeerUnresponsive, "NewChannel after the end")
	// The one timing assertion: 4 s ± 1 s, loosely.
	assert.GreaterOrEqual(t, took, 2500*time.Millisecond, "ended before 3 keepalives could go unanswered")
	assert.LessOrEqual(t, took, 6*time.Second, "ended late")
}

// TestKeepaliveKeepsHealthyIdleSession: sshd answers the keepalives, and an
// idle session stays connected over many more intervals than the count
// allows unanswered.
func TestKeepaliveKeepsHealthyIdleSession(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{ConfigFirst: []string{"LogLevel DEBUG"}})
	s := newPipeSession(t, srv, libssh.WithKeepalive(100*time.Millisecond, 1))
	authenticate(t, s)
	const want = 6 // each answered; 2 unanswered would have ended the session
	keepalives := func() int { return strings.Count(srv.Log(), "rtype keepalive@openssh.com want_reply 1") }
	require.Eventually(t, func() bool { return keepalives() >= want || !s.IsConnected() }, 20*time.Second, 20*time.Millisecond)
	require.NoError(t, s.Err())
	assert.True(t, s.IsConnected())
	assert.GreaterOrEqual(t, keepalives(), want)
	out, err := s.Command("echo", "alive").Output()
	require.NoError(t, err)
	assert.Equal(t, "alive\n", string(out))
}

// TestKeepaliveOffRunsNoTimer: without WithKeepalive (or with an interval
// of 0) a session arms no timer; with it, the timer starts at
// authentication and stops at Close.
func TestKeepaliveOffRunsNoTimer(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	for name, opts := range map[string][]libssh.Option{
		"default":    nil,
		"interval 0": {libssh.WithKeepalive(0, 3)},
	} {
		s := newPipeSession(t, srv, opts...)
		authenticate(t, s)
		assert.False(t, libssh.KeepaliveArmed(s), name)
	}
	s := newPipeSession(t, srv, libssh.WithKeepalive(time.Hour, 3))
	assert.False(t, libssh.KeepaliveArmed(s), "armed before authentication")
	authenticate(t, s)
	assert.True(t, libssh.KeepaliveArmed(s), "armed once authenticated")
	require.NoError(t, s.Close())
	assert.False(t, libssh.KeepaliveArmed(s), "stopped by Close")
}

func TestKeepaliveBadOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]libssh.Option{
		"negative interval": libssh.WithKeepalive(-time.Second, 3),
		"negative count":    libssh.WithKeepalive(time.Second, -1),
	} {
		_, err := libssh.NewSession(context.Background(), "unused.test", o, libssh.WithAutoConnect(false))
		errLower(t, name, err)
	}
}
