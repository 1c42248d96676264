package libssh_test

import (
	"encoding/base64"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

// userCA is a certificate authority made with ssh-keygen, and an sshd that
// trusts it for user certificates (TrustedUserCAKeys) and has no
// authorized_keys entry for the keys it signs.
type userCA struct {
	dir string
	key string // the CA's private key file
	srv *sshdtest.Server
}

func newUserCA(t *testing.T) *userCA {
	t.Helper()
	dir := t.TempDir()
	ca := &userCA{dir: dir, key: filepath.Join(dir, "ca")}
	keygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "test CA", "-f", ca.key)
	ca.srv = sshdtest.New(t, sshdtest.Options{Config: []string{"TrustedUserCAKeys " + ca.key + ".pub"}})
	return ca
}

func keygen(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ssh-keygen", args...).CombinedOutput()
	require.NoError(t, err, "ssh-keygen %s: %s", strings.Join(args, " "), out)
}

// newKey makes a fresh ed25519 key file (no passphrase) named name in dir.
func (ca *userCA) newKey(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(ca.dir, name)
	keygen(t, "-q", "-t", "ed25519", "-N", "", "-f", path)
	return path
}

// sign certifies the key file key for principals, valid for validity
// (ssh-keygen -V), and returns the certificate file, key+"-cert.pub".
func (ca *userCA) sign(t *testing.T, key, principals, validity string) string {
	t.Helper()
	keygen(t, "-q", "-s", ca.key, "-I", "cert of "+filepath.Base(key), "-n", principals, "-V", validity, key+".pub")
	return key + "-cert.pub"
}

func TestCertificateLogin(t *testing.T) {
	t.Parallel()
	ca := newUserCA(t)
	keyFile := ca.newKey(t, "user")
	certFile := ca.sign(t, keyFile, ca.srv.User, "-5m:+1h")
	key, err := libssh.ParsePrivateKeyFile(keyFile, "")
	require.NoError(t, err)
	defer key.Close()

	// The key alone is not in authorized_keys.
	s := newPipeSession(t, ca.srv)
	status, err := s.UserauthPublicKey(testCtx(t, 30*time.Second), key)
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthDenied, status)

	cert, err := key.WithCertificateFile(certFile)
	require.NoError(t, err)
	defer cert.Close()
	pub, err := cert.PublicKey()
	require.NoError(t, err)
	plain, err := key.PublicKey()
	require.NoError(t, err)
	assert.Equal(t, plain.Base64(), pub.Base64(), "the certified key's public key is the key's")

	status, err = s.UserauthPublicKey(testCtx(t, 30*time.Second), cert)
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthSuccess, status)
	runTrue(t, s)
	require.NoError(t, ca.srv.WaitLog(testCtx(t, 10*time.Second), "ED25519-CERT"))

	t.Run("Authenticate", func(t *testing.T) {
		s := newPipeSession(t, ca.srv)
		res, err := s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{PrivateKey: cert})
		require.NoError(t, err)
		assert.True(t, res.Done())
	})
	t.Run("CertificateFiles", func(t *testing.T) {
		// A certificate not named after its key, and one of another key
		// first, which is passed over.
		other := ca.sign(t, ca.newKey(t, "other"), ca.srv.User, "-5m:+1h")
		moved := filepath.Join(ca.dir, "moved.pub")
		require.NoError(t, os.Rename(certFile, moved))
		t.Cleanup(func() { os.Rename(moved, certFile) })
		s := newPipeSession(t, ca.srv)
		res, err := s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{PrivateKey: key, CertificateFiles: []string{other, moved}})
		require.NoError(t, err)
		assert.True(t, res.Done())
	})
	t.Run("Closed", func(t *testing.T) {
		c, err := key.WithCertificateFile(certFile)
		require.NoError(t, err)
		require.NoError(t, c.Close())
		s := newPipeSession(t, ca.srv)
		_, err = s.UserauthPublicKey(testCtx(t, 30*time.Second), c)
		assert.ErrorIs(t, err, libssh.ErrClosed)
	})
}

// A key file's certificate beside it ("-cert.pub") is used as OpenSSH
// does, by PrivateKeyFiles and by Dial's default keys.
func TestCertificateBesideKeyFile(t *testing.T) {
	t.Parallel()
	ca := newUserCA(t)
	keyFile := ca.newKey(t, "id_ed25519")
	ca.sign(t, keyFile, ca.srv.User, "-5m:+1h")

	s := newPipeSession(t, ca.srv)
	res, err := s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{PrivateKeyFiles: []string{keyFile}})
	require.NoError(t, err)
	assert.True(t, res.Done())

	addr, kh := knownListener(t, ca.srv)
	d, err := libssh.Dial(testCtx(t, 30*time.Second), addr, libssh.WithUser(ca.srv.User), kh,
		libssh.WithSSHDir(ca.dir), libssh.WithAgentSocket(filepath.Join(ca.dir, "no-agent")))
	require.NoError(t, err)
	defer d.Close()
	runTrue(t, d)
}

// A certificate beside a key file that cannot be used (here: not a
// certificate at all) is passed over with a note, as ssh does, instead of
// ending the login with an error.
func TestUnusableCertificateBesideKeyFile(t *testing.T) {
	t.Parallel()
	ca := newUserCA(t)
	keyFile := ca.newKey(t, "id_ed25519")
	require.NoError(t, os.WriteFile(keyFile+"-cert.pub", []byte("not a certificate\n"), 0o600))

	s := newPipeSession(t, ca.srv)
	res, err := s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{PrivateKeyFiles: []string{keyFile}})
	var nae *libssh.NotAuthenticatedError
	require.ErrorAs(t, err, &nae, "the key alone is not authorized: denied, not failed")
	assert.False(t, res.Done())
	assert.Contains(t, strings.Join(res.Notes, "\n"), keyFile+"-cert.pub was not used")
}

// ssh_config's CertificateFile, which libssh 0.10 ignores, is honoured,
// with the key of an IdentityFile line.
func TestCertificateFileFromSSHConfig(t *testing.T) {
	t.Parallel()
	ca := newUserCA(t)
	keyFile := ca.newKey(t, "work")
	certFile := ca.sign(t, keyFile, ca.srv.User, "-5m:+1h")
	moved := filepath.Join(ca.dir, "work.cert")
	require.NoError(t, os.Rename(certFile, moved))
	sshDir := t.TempDir()
	config := "Host *\n  IdentityFile " + keyFile + "\n  CertificateFile " + moved + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(sshDir, "config"), []byte(config), 0o600))

	addr, kh := knownListener(t, ca.srv)
	opts := []libssh.Option{libssh.WithUser(ca.srv.User), kh, libssh.WithSSHDir(sshDir), libssh.WithAgentSocket(filepath.Join(sshDir, "no-agent"))}
	_, err := libssh.Dial(testCtx(t, 30*time.Second), addr, opts...)
	require.ErrorIs(t, err, libssh.ErrNotAuthenticated, "without WithProcessConfig the certificate is not used")

	s, err := libssh.Dial(testCtx(t, 30*time.Second), addr, append(opts, libssh.WithProcessConfig(true))...)
	require.NoError(t, err)
	defer s.Close()
	runTrue(t, s)
}

// A certificate the server refuses gives an error that says why.
func TestCertificateRefused(t *testing.T) {
	t.Parallel()
	ca := newUserCA(t)
	for _, tc := range []struct {
		name, principals, validity, want string
	}{
		{"expired", ca.srv.User, "20200101:20200102", `expired at 2020-01-02`},
		{"not yet valid", ca.srv.User, "+1d:+2d", `is not valid before`},
		{"other principal", "somebody-else", "-5m:+1h", `is for the principals ["somebody-else"], not the user "` + ca.srv.User + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keyFile := ca.newKey(t, strings.ReplaceAll(tc.name, " ", "-"))
			ca.sign(t, keyFile, tc.principals, tc.validity)
			s := newPipeSession(t, ca.srv)
			res, err := s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{PrivateKeyFiles: []string{keyFile}})
			var na *libssh.NotAuthenticatedError
			require.ErrorAs(t, err, &na)
			assert.Equal(t, libssh.AuthMethodPublicKey, res.Denied)
			require.Len(t, res.Notes, 1)
			assert.Contains(t, res.Notes[0], tc.want)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	t.Run("untrusted CA", func(t *testing.T) {
		other := newUserCA(t) // signs, but ca.srv does not trust it
		keyFile := other.newKey(t, "user")
		other.sign(t, keyFile, ca.srv.User, "-5m:+1h")
		s := newPipeSession(t, ca.srv)
		_, err := s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{PrivateKeyFiles: []string{keyFile}})
		require.ErrorIs(t, err, libssh.ErrNotAuthenticated)
		assert.Contains(t, err.Error(), "TrustedUserCAKeys")
	})
}

func TestWithCertificateErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := &userCA{dir: dir, key: filepath.Join(dir, "ca")}
	keygen(t, "-q", "-t", "ed25519", "-N", "", "-f", ca.key)
	keyFile := ca.newKey(t, "user")
	otherFile := ca.newKey(t, "other")
	certFile := ca.sign(t, otherFile, "u", "-5m:+1h")
	key, err := libssh.ParsePrivateKeyFile(keyFile, "")
	require.NoError(t, err)
	defer key.Close()

	_, err = key.WithCertificateFile(certFile)
	assert.ErrorContains(t, err, "for another key than")

	keygen(t, "-q", "-s", ca.key, "-h", "-I", "host", "-n", "h", keyFile+".pub")
	_, err = key.WithCertificateFile(keyFile + "-cert.pub")
	assert.ErrorContains(t, err, "a host certificate, not a user certificate")

	_, err = key.WithCertificateFile(keyFile + ".pub")
	assert.ErrorContains(t, err, "is not a certificate type")
	_, err = key.WithCertificate([]byte("ssh-ed25519-cert-v01@openssh.com AAAA"))
	assert.ErrorContains(t, err, "truncated")
	_, err = key.WithCertificateFile(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	// A certificate of the key whose principals field holds a string
	// longer than the field: every other field reads well.
	good, err := os.ReadFile(ca.sign(t, keyFile, "alice,bob", "-5m:+1h"))
	require.NoError(t, err)
	ok, err := key.WithCertificate(good)
	require.NoError(t, err, "the control")
	require.NoError(t, ok.Close())
	_, err = key.WithCertificate(badPrincipals(t, good))
	assert.ErrorContains(t, err, "libssh: certificate: principals: truncated")

	var zero libssh.PrivateKey
	_, err = zero.WithCertificateFile(certFile)
	assert.Error(t, err)
	var nilKey *libssh.PrivateKey
	_, err = nilKey.WithCertificate([]byte("x y"))
	assert.Error(t, err)

	s := newPipeSession(t, sshdtest.New(t, sshdtest.Options{}))
	_, err = s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{PrivateKey: key, CertificateFiles: []string{filepath.Join(dir, "missing")}})
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// badPrincipals returns the ed25519 certificate file text cert with the
// length of its first principal made larger than the principals field.
func badPrincipals(t *testing.T, cert []byte) []byte {
	t.Helper()
	fields := strings.Fields(string(cert))
	require.GreaterOrEqual(t, len(fields), 2)
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	require.NoError(t, err)
	off := 0
	skipString := func() {
		require.LessOrEqual(t, off+4, len(blob))
		off += 4 + int(binary.BigEndian.Uint32(blob[off:]))
	}
	skipString() // type
	skipString() // nonce
	skipString() // the ed25519 public key
	off += 8 + 4 // serial, certificate type
	skipString() // key id
	// The principals field: its length, then the first principal's.
	require.LessOrEqual(t, off+8, len(blob))
	require.NotZero(t, binary.BigEndian.Uint32(blob[off:]), "the certificate has principals")
	binary.BigEndian.PutUint32(blob[off+4:], 1000)
	fields[1] = base64.StdEncoding.EncodeToString(blob)
	return []byte(strings.Join(fields, " "))
}
