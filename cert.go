package libssh

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/golibssh/libssh/lib"
)

// certInfo is what the package reads from an OpenSSH user certificate
// (PROTOCOL.certkeys) to explain a refusal; libssh 0.10 exposes none of it.
type certInfo struct {
	keyType     string // "ssh-ed25519-cert-v01@openssh.com"
	key         []byte // the certified key's public fields, as in its public key blob
	keyID       string
	principals  []string
	validAfter  uint64 // seconds since 1970
	validBefore uint64 // seconds since 1970; ^0 is for ever
}

// certKeyFields is how many length-prefixed fields (strings or mpints) the
// certified public key has, per certificate type.
var certKeyFields = map[string]int{
	"ssh-rsa-cert-v01@openssh.com":                2, // e, n
	"ssh-dss-cert-v01@openssh.com":                4, // p, q, g, y
	"ecdsa-sha2-nistp256-cert-v01@openssh.com":    2, // curve, point
	"ecdsa-sha2-nistp384-cert-v01@openssh.com":    2,
	"ecdsa-sha2-nistp521-cert-v01@openssh.com":    2,
	"ssh-ed25519-cert-v01@openssh.com":            1, // public key
	"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com": 3, // curve, point, application
	"sk-ssh-ed25519-cert-v01@openssh.com":         2, // public key, application
}

// userCert is the certificate type of a user certificate (2 is a host's).
const userCert = 1

// parseCertificate reads the text of an OpenSSH certificate file ("TYPE
// BASE64 [COMMENT]"), returning the certificate's fields and its base64.
func parseCertificate(text []byte) (*certInfo, string, error) {
	fields := strings.Fields(string(text))
	if len(fields) < 2 {
		return nil, "", errors.New(`not an OpenSSH certificate: want "TYPE BASE64 [COMMENT]", as ssh-keygen -s writes`)
	}
	typ, b64 := fields[0], fields[1]
	n, ok := certKeyFields[typ]
	if !ok {
		return nil, "", fmt.Errorf("%q is not a certificate type (a certificate's ends in -cert-v01@openssh.com)", typ)
	}
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, "", fmt.Errorf("certificate: %w", err)
	}
	r := certReader{b: blob}
	c := &certInfo{keyType: string(r.str())}
	if c.keyType != typ && r.err == nil {
		return nil, "", fmt.Errorf("certificate: the file says %s but the certificate is %s", typ, c.keyType)
	}
	r.str() // nonce
	start := len(blob) - len(r.b)
	for range n {
		r.str()
	}
	c.key = blob[start : len(blob)-len(r.b)]
	r.u64() // serial
	certType := r.u32()
	c.keyID = string(r.str())
	principals := certReader{b: r.str()}
	for len(principals.b) > 0 && principals.err == nil {
		c.principals = append(c.principals, string(principals.str()))
	}
	c.validAfter, c.validBefore = r.u64(), r.u64()
	if r.err != nil {
		return nil, "", fmt.Errorf("certificate: %w", r.err)
	}
	if principals.err != nil {
		return nil, "", fmt.Errorf("certificate: principals: %w", principals.err)
	}
	if certType != userCert {
		return nil, "", errors.New("certificate: a host certificate, not a user certificate")
	}
	return c, b64, nil
}

// certReader reads SSH wire types; the first error sticks.
type certReader struct {
	b   []byte
	err error
}

func (r *certReader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		if r.err == nil {
			r.err = errors.New("truncated")
		}
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *certReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *certReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *certReader) str() []byte {
	n := r.u32()
	if n > uint32(len(r.b)) {
		r.take(len(r.b) + 1)
		return nil
	}
	return r.take(int(n))
}

// problem says why a server is likely to refuse the certificate for user
// at now, or "" when nothing on the client's side explains it.
func (c *certInfo) problem(user string, now time.Time) string {
	t := uint64(max(now.Unix(), 0))
	when := func(s uint64) string { return time.Unix(int64(min(s, 1<<62)), 0).UTC().Format(time.RFC3339) }
	switch {
	case t >= c.validBefore:
		return fmt.Sprintf("certificate %q expired at %s", c.keyID, when(c.validBefore))
	case t < c.validAfter:
		return fmt.Sprintf("certificate %q is not valid before %s", c.keyID, when(c.validAfter))
	case len(c.principals) > 0 && !slices.Contains(c.principals, user):
		return fmt.Sprintf("certificate %q is for the principals %q, not the user %q (unless the server maps principals with AuthorizedPrincipalsFile)",
			c.keyID, c.principals, user)
	}
	return fmt.Sprintf("certificate %q was refused: the server may not trust its CA (OpenSSH: TrustedUserCAKeys)", c.keyID)
}

// WithCertificate returns a new PrivateKey: k carrying the OpenSSH user
// certificate cert (the contents of a certificate file, such as the
// id_ed25519-cert.pub that ssh-keygen -s writes). Logging in with it
// ([Session.UserauthPublicKey], [AuthOptions.PrivateKey]) presents the
// certificate instead of the bare key, for servers that trust the
// certificate's CA (OpenSSH: TrustedUserCAKeys). k itself is unchanged and
// both are to be closed. It is an error when the certificate is not a user
// certificate of k's public key. Expiry and principals are left to the
// server to check; when it refuses, [Session.Authenticate]'s result says
// what about the certificate was the likely cause.
//
// Uses ssh_pki_import_cert_base64 and ssh_pki_copy_cert_to_privkey.
//
//lockcheck:ok the keys it makes are not shared yet
func (k *PrivateKey) WithCertificate(cert []byte) (*PrivateKey, error) {
	info, b64, err := parseCertificate(cert)
	if err != nil {
		return nil, fmt.Errorf("libssh: %w", err)
	}
	pub, err := k.PublicKey()
	if err != nil {
		return nil, err
	}
	if !info.certifies(pub) {
		return nil, fmt.Errorf("libssh: certificate %q: %w than %s", info.keyID, errCertOtherKey, pub.Fingerprint())
	}
	rc, ck := lib.PkiImportCertBase64(b64, lib.KeyTypeFromName(info.keyType))
	if rc != lib.SSH_OK || ck.IsNil() {
		if !ck.IsNil() {
			lib.KeyFree(ck)
		}
		return nil, fmt.Errorf("libssh: libssh cannot read the %s certificate %q", info.keyType, info.keyID)
	}
	d, err := k.dupKey(false)
	if err != nil {
		lib.KeyFree(ck)
		return nil, err
	}
	nk := adoptPrivateKey(d)
	liveKeys.Add(1) // ck, which nk frees with d
	nk.st.cert, nk.st.certKey = info, ck
	// Attach it once now, so that a certificate libssh cannot use fails
	// here rather than at login.
	trial, err := nk.dup()
	if err != nil {
		nk.Close()
		return nil, err
	}
	lib.KeyFree(trial)
	return nk, nil
}

// WithCertificateFile is [PrivateKey.WithCertificate] with the certificate
// read from the file at path.
func (k *PrivateKey) WithCertificateFile(path string) (*PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("libssh: load certificate: %w", err)
	}
	nk, err := k.WithCertificate(b)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return nk, nil
}

// certifies reports whether the certificate is for pub.
func (c *certInfo) certifies(pub *PublicKey) bool {
	blob, err := base64.StdEncoding.DecodeString(pub.Base64())
	if err != nil {
		return false
	}
	typ := blobType(blob)
	return typ != "" && c.keyType == typ+"-cert-v01@openssh.com" && bytes.Equal(blob[4+len(typ):], c.key)
}

// certificate returns the certificate k carries, or nil.
func (k *PrivateKey) certificate() *certInfo {
	if !k.made() {
		return nil
	}
	k.st.mu.RLock()
	defer k.st.mu.RUnlock()
	return k.st.cert
}

// errCertOtherKey: a certificate of another key than the one given.
var errCertOtherKey = errors.New("for another key")

// certAuth is what [Session.Authenticate] knows of certificates.
type certAuth struct {
	files      []string // AuthOptions.CertificateFiles, then ssh_config's CertificateFile lines
	identities []string // for DefaultKeys: ssh_config's IdentityFile lines, then the default identity files
	notes      []string // why the server refused certificates
}

// defaultIdentities are the identity files of the ssh directory that
// libssh 0.10 tries.
var defaultIdentities = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

func (s *Session) newCertAuth(opts AuthOptions) (*certAuth, error) {
	for _, f := range opts.CertificateFiles {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("libssh: AuthOptions.CertificateFiles: %w", err)
		}
	}
	var cfg config
	s.inspect(func(st *sessionState) { cfg = st.cfg })
	ca := &certAuth{files: slices.Concat(opts.CertificateFiles, cfg.configCerts)}
	if opts.DefaultKeys {
		ca.identities = slices.Clone(cfg.configIdentities)
		if dir, err := sshDirPath(cfg.sshDir); err == nil {
			for _, n := range defaultIdentities {
				ca.identities = append(ca.identities, filepath.Join(dir, n))
			}
		}
		ca.identities = slices.Compact(ca.identities)
	}
	return ca, nil
}

// hasCerts reports whether a certificate may go with the key file f.
func (ca *certAuth) hasCerts(f string) bool {
	if _, err := os.Stat(f); err != nil {
		return false
	}
	if _, err := os.Stat(f + "-cert.pub"); err == nil {
		return true
	}
	return len(ca.files) > 0
}

// userauthKeyFile is userauthKey with the key of the file f. When bare is
// false, a key that cannot be loaded is passed over (libssh's own round
// of the default keys says what it makes of it).
func (s *Session) userauthKeyFile(ctx context.Context, f, passphrase string, ca *certAuth, bare bool) (AuthStatus, error) {
	key, err := ParsePrivateKeyFile(f, passphrase)
	if err != nil {
		if bare {
			return AuthError, err
		}
		return AuthDenied, nil
	}
	defer key.Close()
	return s.userauthKey(ctx, key, f, ca, bare)
}

// userauthKey logs in with key: with the certificate it carries, if it
// does; else with each certificate of it (keyFile+"-cert.pub", then
// ca.files), then (when bare) without one.
func (s *Session) userauthKey(ctx context.Context, key *PrivateKey, keyFile string, ca *certAuth, bare bool) (AuthStatus, error) {
	if key.certificate() != nil {
		return s.userauthCert(ctx, key, ca)
	}
	certs := ca.files
	if keyFile != "" {
		certs = append([]string{keyFile + "-cert.pub"}, certs...)
	}
	seen := map[string]bool{}
	for i, c := range certs {
		if seen[c] {
			continue
		}
		seen[c] = true
		// The key file's neighbour is only a guess, as for ssh: one it
		// cannot use is passed over with a note. A file the caller
		// named is an error.
		guessed := keyFile != "" && i == 0
		ck, err := key.WithCertificateFile(c)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errCertOtherKey) {
			continue
		}
		if err != nil && guessed {
			ca.notes = append(ca.notes, fmt.Sprintf("%s was not used: %v", c, err))
			continue
		}
		if err != nil {
			return AuthError, err // it names the file
		}
		status, err := s.userauthCert(ctx, ck, ca)
		ck.Close()
		if err != nil || status != AuthDenied {
			return status, err
		}
	}
	if !bare {
		return AuthDenied, nil
	}
	return s.UserauthPublicKey(ctx, key)
}

// userauthCert logs in with key, which carries a certificate, noting what
// may have made the server refuse it.
func (s *Session) userauthCert(ctx context.Context, key *PrivateKey, ca *certAuth) (AuthStatus, error) {
	status, err := s.UserauthPublicKey(ctx, key)
	if err == nil && status == AuthDenied {
		ca.notes = append(ca.notes, key.certificate().problem(s.User(), time.Now()))
	}
	return status, err
}
