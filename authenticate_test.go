package libssh_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

func TestAuthenticateVerifiesTheHostFirst(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	s := connectPipeSession(t, srv) // no known_hosts file
	res, err := s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{PrivateKeyFiles: []string{sshdtest.Keys("id_ed25519")}})
	var hv *libssh.HostVerificationError
	require.ErrorAs(t, err, &hv)
	var ae *libssh.NotAuthenticatedError
	assert.False(t, errors.As(err, &ae), "a host key failure keeps its own error type")
	assert.Equal(t, libssh.KnownHostsNotFound, res.HostStatus)
	assert.False(t, res.Done())
	assert.Contains(t, res.String(), "host key not verified")
	status, err := s.UserauthNone(testCtx(t, 30*time.Second))
	require.ErrorIs(t, err, libssh.ErrHostKeyNotVerified, "nothing is sent to an unverified server")
	assert.Equal(t, libssh.AuthError, status)
}

func TestAuthenticatePublicKey(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})

	s := newPipeSession(t, srv)
	res, err := s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{})
	var ae *libssh.NotAuthenticatedError
	require.ErrorAs(t, err, &ae, "a login that did not finish is an error")
	assert.Equal(t, res, ae.Result)
	assert.Equal(t, "libssh: "+res.String(), err.Error())
	assert.False(t, res.Done())
	assert.Equal(t, libssh.AuthMethodPublicKey, res.Needed)
	assert.Contains(t, res.String(), "publickey (AuthOptions.PrivateKey, PrivateKeyFiles, Agent or DefaultKeys)")

	// A denied key moves on to the next.
	res, err = s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{PrivateKeyFiles: []string{
		sshdtest.Keys("other_ed25519"), sshdtest.Keys("id_ed25519_enc"),
	}, Passphrase: sshdtest.PassphraseForTestKeys})
	require.NoError(t, err)
	assert.True(t, res.Done(), res.String())
	res, err = s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{})
	require.NoError(t, err)
	assert.True(t, res.Done(), "authenticated already")
}

func TestAuthenticateAllDenied(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	s := newPipeSession(t, srv)
	res, err := s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{PrivateKeyFiles: []string{sshdtest.Keys("other_ed25519")}})
	var ae *libssh.NotAuthenticatedError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, res, ae.Result)
	assert.Equal(t, libssh.AuthDenied, res.Status)
	assert.Equal(t, libssh.AuthMethodPublicKey, res.Denied)
	assert.Zero(t, res.Needed)
	assert.Contains(t, res.String(), "denied: publickey; no method is left to try")
}

func TestUserauthPublicKeyAuto(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	s := newPipeSession(t, srv, identitiesOnly(t, "id_ecdsa")...)
	status, err := s.UserauthPublicKeyAuto(testCtx(t, 30*time.Second), "")
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthSuccess, status)

	empty := newPipeSession(t, srv, identitiesOnly(t)...)
	status, err = empty.UserauthPublicKeyAuto(testCtx(t, 30*time.Second), "")
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthDenied, status)
}
