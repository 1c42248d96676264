package libssh_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

func writeKnownHosts(t testing.TB, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return path
}

// pubKeyBlob returns the base64 field of a .pub file.
func pubKeyBlob(t *testing.T, pubFile string) string {
	t.Helper()
	b, err := os.ReadFile(pubFile)
	require.NoError(t, err)
	return strings.Fields(string(b))[1]
}

func TestKnownHostsStates(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{HostKeyTypes: []string{"ed25519"}})
	otherEd25519 := pubKeyBlob(t, sshdtest.Keys("other_ed25519.pub"))
	anEcdsaKey := pubKeyBlob(t, sshdtest.Keys("id_ecdsa.pub"))
	cases := []struct {
		name  string
		kh    func(t *testing.T) string
		state libssh.KnownHosts
	}{
		{"ok", func(t *testing.T) string { return writeKnownHosts(t, srv.KnownHostsLine(pipeHost, "ed25519")) }, libssh.KnownHostsOK},
		{"unknown", func(t *testing.T) string {
			return writeKnownHosts(t, srv.KnownHostsLine("some.other.host", "ed25519"))
		}, libssh.KnownHostsUnknown},
		{"not found", func(t *testing.T) string { return filepath.Join(t.TempDir(), "missing", "known_hosts") }, libssh.KnownHostsNotFound},
		{"changed", func(t *testing.T) string {
			return writeKnownHosts(t, pipeHost+" ssh-ed25519 "+otherEd25519)
		}, libssh.KnownHostsChanged},
		// The server has only an ed25519 key; known_hosts only an ecdsa one.
		{"other", func(t *testing.T) string {
			return writeKnownHosts(t, pipeHost+" ecdsa-sha2-nistp256 "+anEcdsaKey)
		}, libssh.KnownHostsOther},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := connectPipeSession(t, srv, libssh.WithKnownHosts(c.kh(t)), libssh.WithGlobalKnownHosts("/nonexistent"))
			state, err := s.IsKnownServer()
			require.NoError(t, err)
			assert.Equal(t, c.state, state)

			err = s.VerifyHost()
			if c.state == libssh.KnownHostsOK {
				require.NoError(t, err)
				return
			}
			var herr *libssh.HostVerificationError
			require.ErrorAs(t, err, &herr)
			assert.Equal(t, c.state, herr.Status)
			assert.Equal(t, pipeHost, herr.Host)
			key, kerr := s.ServerPublicKey()
			require.NoError(t, kerr)
			assert.Equal(t, key.Fingerprint(), herr.Fingerprint)
			assert.Contains(t, err.Error(), "host key verification failed for sshd.test")
		})
	}
}

// keygenFingerprint returns what `ssh-keygen -lf` prints as the fingerprint.
func keygenFingerprint(t *testing.T, pubFile string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", pubFile).Output()
	require.NoError(t, err)
	return strings.Fields(string(out))[1]
}

func TestServerPublicKeyMatchesOpenSSH(t *testing.T) {
	t.Parallel()
	for keyType, sshName := range map[string]string{
		"ed25519": "ssh-ed25519",
		"ecdsa":   "ecdsa-sha2-nistp256",
		"rsa":     "ssh-rsa",
	} {
		t.Run(keyType, func(t *testing.T) {
			t.Parallel()
			srv := sshdtest.New(t, sshdtest.Options{HostKeyTypes: []string{keyType}})
			s := newPipeSession(t, srv)
			key, err := s.ServerPublicKey()
			require.NoError(t, err)
			pub := srv.HostKeys[keyType] + ".pub"

			assert.Equal(t, sshName, key.Type())
			assert.Equal(t, keygenFingerprint(t, pub), key.Fingerprint())
			assert.Equal(t, pubKeyBlob(t, pub), key.Base64())
			assert.Equal(t, sshName+" "+key.Base64(), key.String())

			blob, err := base64.StdEncoding.DecodeString(key.Base64())
			require.NoError(t, err)
			sum := sha256.Sum256(blob)
			hex := make([]string, len(sum))
			for i, b := range sum {
				hex[i] = fmt.Sprintf("%02x", b)
			}
			assert.Equal(t, strings.Join(hex, ":"), key.Hexa())

			again, err := s.ServerPublicKey()
			require.NoError(t, err)
			assert.True(t, key.Equal(again))
		})
	}
}

func TestUpdateKnownHostsIsReadByOpenSSH(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	kh := filepath.Join(t.TempDir(), "new-dir", "known_hosts")
	s := connectListenSession(t, srv, libssh.WithKnownHosts(kh))
	state, err := s.IsKnownServer()
	require.NoError(t, err)
	require.Equal(t, libssh.KnownHostsNotFound, state)

	require.NoError(t, s.UpdateKnownHosts())
	state, err = s.IsKnownServer()
	require.NoError(t, err)
	assert.Equal(t, libssh.KnownHostsOK, state)
	require.NoError(t, s.VerifyHost())

	// OpenSSH's own tool finds the entry under the [host]:port key.
	hostKey := fmt.Sprintf("[%s]:%d", s.Host(), s.Port())
	out, err := exec.Command("ssh-keygen", "-F", hostKey, "-f", kh).CombinedOutput()
	require.NoError(t, err, "ssh-keygen -F %s: %s", hostKey, out)
	key, err := s.ServerPublicKey()
	require.NoError(t, err)
	assert.Contains(t, string(out), key.Base64())

	// And a new session verifies against the written file.
	s2 := newListenSession(t, srv, libssh.WithKnownHosts(kh))
	require.NoError(t, s2.VerifyHost())
}

func TestEnumStrings(t *testing.T) {
	assert.Equal(t, "password|publickey", (libssh.AuthMethodPassword | libssh.AuthMethodPublicKey).String())
	assert.Equal(t, "unknown", libssh.AuthMethodUnknown.String())
	assert.Equal(t, "gssapi-with-mic", libssh.AuthMethodGSSAPIMIC.String())
	assert.Equal(t, "partial", libssh.AuthPartial.String())
	assert.Equal(t, "not found", libssh.KnownHostsNotFound.String())
	assert.Equal(t, "request denied", libssh.ErrorCodeRequestDenied.String())
	// The values are libssh's.
	assert.EqualValues(t, 0x10, libssh.AuthMethodInteractive)
	assert.EqualValues(t, -1, libssh.AuthError)
	assert.EqualValues(t, 3, libssh.KnownHostsOther)
}
