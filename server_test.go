package libssh_test

// AcceptSession and ServerMessage without sshtest: host keys, and what a
// message handler reads and answers.

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
)

// generateKey returns a new ed25519 key that the test closes when it ends.
func generateKey(t *testing.T) *libssh.PrivateKey {
	t.Helper()
	k, err := libssh.GenerateKey("ssh-ed25519")
	require.NoError(t, err)
	t.Cleanup(func() { k.Close() })
	return k
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"} {
		k, err := libssh.GenerateKey(typ)
		require.NoError(t, err, typ)
		pub, err := k.PublicKey()
		require.NoError(t, err)
		assert.Equal(t, typ, pub.Type())
		require.NoError(t, k.Close())
	}
	pa, err := generateKey(t).PublicKey()
	require.NoError(t, err)
	pb, err := generateKey(t).PublicKey()
	require.NoError(t, err)
	assert.False(t, pa.Equal(pb), "two generated keys are different keys")

	for _, typ := range []string{"", "ed25519", "ssh-dss", "ssh-ed25519-cert-v01@openssh.com"} {
		k, err := libssh.GenerateKey(typ)
		assert.Nil(t, k)
		errLower(t, "GenerateKey "+typ, err)
	}
}

func TestAcceptSessionRefusesBadHostKeys(t *testing.T) {
	t.Parallel()
	ed, ed2, closed := generateKey(t), generateKey(t), generateKey(t)
	require.NoError(t, closed.Close())
	handle := func(*libssh.ServerMessage) bool { return false }
	for name, keys := range map[string][]*libssh.PrivateKey{
		"none":        nil,
		"nil key":     {nil},
		"closed key":  {closed},
		"same type":   {ed, ed2},
		"zero key":    {ed, {}},
		"nil and one": {ed, nil},
	} {
		server, client := net.Pipe()
		s, err := libssh.AcceptSession(testCtx(t, 30*time.Second), server, keys, handle)
		assert.Nil(t, s, name)
		errLower(t, "AcceptSession "+name, err)
		if name == "closed key" {
			assert.ErrorIs(t, err, libssh.ErrClosed)
		}
		// The connection is closed.
		client.SetReadDeadline(time.Now().Add(30 * time.Second)) // fails when AcceptSession closed the pipe already
		_, err = client.Read(make([]byte, 1))
		assert.ErrorIs(t, err, io.EOF, name)
		client.Close()
	}
	server, client := net.Pipe()
	defer client.Close()
	_, err := libssh.AcceptSession(testCtx(t, 30*time.Second), server, []*libssh.PrivateKey{ed}, nil)
	errLower(t, "AcceptSession without a handler", err)
}

// serverSeen is what the test server's handler saw.
type serverSeen struct {
	user, password  string
	authMethods     []libssh.AuthMethod
	channelType     string
	kept            *libssh.ServerMessage // a message used after its handler call
	replyWrongType  error                 // ReplyPublicKeyOK on a password request
	destinationHost string
}

// acceptOne serves one connection of ln with a handler that takes the
// password "pw" for the user "alice", and returns what it saw once the
// client is gone.
func acceptOne(t *testing.T, ln net.Listener, key *libssh.PrivateKey) <-chan serverSeen {
	t.Helper()
	done := make(chan serverSeen, 1)
	go func() {
		var seen serverSeen
		defer func() { done <- seen }()
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		var chans []*libssh.Channel
		s, err := libssh.AcceptSession(testCtx(t, 30*time.Second), conn, []*libssh.PrivateKey{key}, func(m *libssh.ServerMessage) bool {
			switch m.Type() {
			case "auth":
				seen.authMethods = append(seen.authMethods, m.AuthMethod())
				seen.user = m.User()
				seen.kept = m
				m.SetAuthMethods(libssh.AuthMethodPassword | libssh.AuthMethodInteractive)
				if m.AuthMethod() != libssh.AuthMethodPassword {
					return false
				}
				seen.replyWrongType = m.ReplyPublicKeyOK()
				seen.password = m.Password()
				if m.User() == "alice" && m.Password() == "pw" {
					return m.ReplyAuthSuccess() == nil
				}
			case "channel-open":
				seen.channelType = m.ChannelType()
				seen.destinationHost, _ = m.Destination()
				ch, err := m.AcceptChannel(nil)
				if err != nil {
					return false
				}
				chans = append(chans, ch)
				return true
			}
			return false
		})
		if err != nil {
			return
		}
		defer s.Close()
		for s.Wait(testCtx(t, 30*time.Second)) == nil {
		}
		for _, ch := range chans {
			ch.Close()
		}
	}()
	return done
}

// hostKeyAndListener returns a new host key, its public half, and a
// listener on a free loopback port that is closed when the test ends.
func hostKeyAndListener(t *testing.T) (*libssh.PrivateKey, *libssh.PublicKey, net.Listener) {
	t.Helper()
	key := generateKey(t)
	hostKey, err := key.PublicKey()
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return key, hostKey, ln
}

func TestAcceptSessionMessages(t *testing.T) {
	t.Parallel()
	key, hostKey, ln := hostKeyAndListener(t)
	done := acceptOne(t, ln, key)

	host, port := splitHostPort(t, ln.Addr().String())
	ctx := testCtx(t, 30*time.Second)
	s, err := libssh.NewSession(ctx, host, libssh.WithPort(port), libssh.WithUser("alice"), pinnedKey(hostKey))
	require.NoError(t, err)
	defer s.Close()
	got, err := s.ServerPublicKey()
	require.NoError(t, err)
	assert.True(t, hostKey.Equal(got), "the server serves with the key it was given")

	methods, err := s.UserauthList(ctx)
	require.NoError(t, err)
	assert.Equal(t, []libssh.AuthMethod{libssh.AuthMethodPassword, libssh.AuthMethodInteractive}, methods,
		"a refusal lists the methods of SetAuthMethods")
	status, err := s.UserauthPassword(ctx, "wrong")
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthDenied, status)
	status, err = s.UserauthPassword(ctx, "pw")
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthSuccess, status)

	ch, err := s.NewChannel()
	require.NoError(t, err)
	require.NoError(t, ch.OpenSession(ctx))
	require.NoError(t, ch.Close())
	require.NoError(t, s.Close())

	seen := recv(t, done, 30*time.Second)
	assert.Equal(t, "alice", seen.user)
	assert.Equal(t, "pw", seen.password)
	assert.Equal(t, []libssh.AuthMethod{libssh.AuthMethodNone, libssh.AuthMethodPassword, libssh.AuthMethodPassword}, seen.authMethods)
	assert.Equal(t, "session", seen.channelType)
	assert.Empty(t, seen.destinationHost, "a session channel has no destination")
	errLower(t, "ReplyPublicKeyOK of a password request", seen.replyWrongType)

	// After its handler call a message is gone: zero values and errors
	// that say so.
	m := seen.kept
	require.NotNil(t, m)
	assertNoMessage(t, m)
	err = m.ReplyAuthSuccess()
	assert.ErrorContains(t, err, "outside the message handler call")
}
