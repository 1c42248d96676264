package libssh_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

func TestUserauthPublicKeyFileKeyTypes(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	for _, c := range []struct{ file, passphrase string }{
		{"id_ed25519", ""},
		{"id_ecdsa", ""},
		{"id_rsa", ""},
		{"id_ed25519_enc", sshdtest.PassphraseForTestKeys},
		{"id_rsa_pem_enc", sshdtest.PassphraseForTestKeys},
		{"id_ed25519", "a passphrase an unencrypted key does not need"},
	} {
		t.Run(c.file, func(t *testing.T) {
			s := newPipeSession(t, srv)
			status, err := s.UserauthPublicKeyFile(testCtx(t, 30*time.Second), sshdtest.Keys(c.file), c.passphrase)
			require.NoError(t, err)
			assert.Equal(t, libssh.AuthSuccess, status)
		})
	}
}

func TestUserauthPublicKeyDenied(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	s := newPipeSession(t, srv)
	status, err := s.UserauthPublicKeyFile(testCtx(t, 30*time.Second), sshdtest.Keys("other_ed25519"), "")
	require.NoError(t, err, "a denied key is an answer, not an error")
	assert.Equal(t, libssh.AuthDenied, status)
	// The session goes on: another key works.
	authenticate(t, s)
}

func TestUserauthNone(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{ConfigFirst: []string{"PasswordAuthentication yes"}})
	s := newPipeSession(t, srv)
	status, err := s.UserauthNone(testCtx(t, 30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthDenied, status)
	methods, err := s.UserauthList(testCtx(t, 30*time.Second))
	require.NoError(t, err)
	assert.ElementsMatch(t, []libssh.AuthMethod{libssh.AuthMethodPublicKey, libssh.AuthMethodPassword}, methods)
}

func TestPassphraseErrors(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"id_ed25519_enc", "id_rsa_pem_enc"} {
		_, err := libssh.ParsePrivateKeyFile(sshdtest.Keys(file), "wrong")
		require.ErrorIs(t, err, libssh.ErrPassphrase, file)
		assert.Contains(t, err.Error(), "wrong passphrase", file)

		_, err = libssh.ParsePrivateKeyFile(sshdtest.Keys(file), "")
		require.ErrorIs(t, err, libssh.ErrPassphrase, file)
		assert.Contains(t, err.Error(), "no passphrase was given", file)
	}

	srv := sshdtest.New(t, sshdtest.Options{})
	s := newPipeSession(t, srv)
	status, err := s.UserauthPublicKeyFile(testCtx(t, 30*time.Second), sshdtest.Keys("id_ed25519_enc"), "wrong")
	assert.Equal(t, libssh.AuthError, status)
	require.ErrorIs(t, err, libssh.ErrPassphrase)
	authenticate(t, s) // nothing was sent; the session is fine
}

func TestBadKeyFiles(t *testing.T) {
	t.Parallel()
	_, err := libssh.ParsePrivateKeyFile(filepath.Join(t.TempDir(), "missing"), "")
	assert.ErrorIs(t, err, fs.ErrNotExist)

	garbage := filepath.Join(t.TempDir(), "garbage")
	require.NoError(t, os.WriteFile(garbage, []byte("this is not a key\n"), 0o600))
	_, err = libssh.ParsePrivateKeyFile(garbage, "")
	require.Error(t, err)
	assert.False(t, errors.Is(err, libssh.ErrPassphrase))
	assert.Contains(t, err.Error(), "not a private key")

	_, err = libssh.ParsePrivateKeyFile(sshdtest.Keys("id_ed25519"), "nul\x00")
	assert.ErrorContains(t, err, "NUL")
}

func TestPrivateKeyInMemory(t *testing.T) {
	t.Parallel()
	pem, err := os.ReadFile(sshdtest.Keys("id_ed25519_enc"))
	require.NoError(t, err)
	key, err := libssh.ParsePrivateKey(pem, sshdtest.PassphraseForTestKeys)
	require.NoError(t, err)
	defer key.Close()

	pub, err := key.PublicKey()
	require.NoError(t, err)
	assert.Equal(t, keygenFingerprint(t, sshdtest.Keys("id_ed25519_enc.pub")), pub.Fingerprint())

	srv := sshdtest.New(t, sshdtest.Options{})
	// One key, several sessions.
	for range 2 {
		s := newPipeSession(t, srv)
		status, err := s.UserauthPublicKey(testCtx(t, 30*time.Second), key)
		require.NoError(t, err)
		assert.Equal(t, libssh.AuthSuccess, status)
	}

	_, err = libssh.ParsePrivateKey(pem, "wrong")
	assert.ErrorIs(t, err, libssh.ErrPassphrase)
}

func TestClosedPrivateKey(t *testing.T) {
	t.Parallel()
	key, err := libssh.ParsePrivateKeyFile(sshdtest.Keys("id_ecdsa"), "")
	require.NoError(t, err)
	require.NoError(t, key.Close())
	require.NoError(t, key.Close(), "Close is idempotent")
	_, err = key.PublicKey()
	assert.ErrorIs(t, err, libssh.ErrClosed)

	srv := sshdtest.New(t, sshdtest.Options{})
	s := newPipeSession(t, srv)
	_, err = s.UserauthPublicKey(testCtx(t, 30*time.Second), key)
	assert.ErrorIs(t, err, libssh.ErrClosed)
	_, err = s.UserauthPublicKey(testCtx(t, 30*time.Second), nil)
	assert.Error(t, err)
}
