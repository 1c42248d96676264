package libssh

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/golibssh/libssh/lib"
)

// liveKeys counts ssh_key objects held by PrivateKeys.
var liveKeys atomic.Int64

// PrivateKey is a private key loaded into libssh, for
// [Session.UserauthPublicKey], or a server's host key for [AcceptSession].
// Close it when done; it is safe for concurrent
// use and may be used by several sessions. A nil or zero PrivateKey holds
// no key: its methods return an error.
type PrivateKey struct {
	st      *keyState
	cleanup runtime.Cleanup
}

type keyState struct {
	mu sync.RWMutex
	k  lib.Key // NULL once closed; never carries a certificate

	// A key made by WithCertificate: the certificate (a public key,
	// attached to each copy dup makes) and what it says.
	certKey lib.Key
	cert    *certInfo
}

// ParsePrivateKeyFile loads a private key file in any format libssh reads
// (OpenSSH, PEM) of any type it supports (ed25519, ecdsa, rsa). passphrase
// decrypts an encrypted key; "" means none. A wrong or missing passphrase
// gives an error matching [ErrPassphrase].
//
// Uses ssh_pki_import_privkey_file.
//
//lockcheck:ok the key it makes is not shared yet
func ParsePrivateKeyFile(path, passphrase string) (*PrivateKey, error) {
	if err := checkString("key path", path); err != nil {
		return nil, err
	}
	if err := checkString("passphrase", passphrase); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("libssh: load private key: %w", err)
	}
	f.Close()
	key, encrypted := lib.ImportPrivkeyFile(path, passphrase)
	return newPrivateKey(key, encrypted != 0, passphrase != "", fmt.Sprintf("%q", path))
}

// ParsePrivateKey is [ParsePrivateKeyFile] for a key held in memory (the
// contents of a key file).
//
// Uses ssh_pki_import_privkey_base64.
//
//lockcheck:ok the key it makes is not shared yet
func ParsePrivateKey(pem []byte, passphrase string) (*PrivateKey, error) {
	if err := checkString("key", string(pem)); err != nil {
		return nil, err
	}
	if err := checkString("passphrase", passphrase); err != nil {
		return nil, err
	}
	key, encrypted := lib.ImportPrivkeyBase64(string(pem), passphrase)
	return newPrivateKey(key, encrypted != 0, passphrase != "", "from memory")
}

// keyTypes are the key types GenerateKey makes, with libssh's type and
// the size parameter of ssh_pki_generate.
var keyTypes = map[string]struct{ typ, bits int }{
	"ssh-ed25519":         {lib.SSH_KEYTYPE_ED25519, 0},
	"ecdsa-sha2-nistp256": {lib.SSH_KEYTYPE_ECDSA_P256, 256},
	"ecdsa-sha2-nistp384": {lib.SSH_KEYTYPE_ECDSA_P384, 384},
	"ecdsa-sha2-nistp521": {lib.SSH_KEYTYPE_ECDSA_P521, 521},
	"ssh-rsa":             {lib.SSH_KEYTYPE_RSA, 3072},
}

// GenerateKey makes a new private key in memory, of an SSH key type:
// "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
// "ecdsa-sha2-nistp521" or "ssh-rsa" (3072 bits). It serves as a host key
// for [AcceptSession] (package sshtest makes its own this way) or as a
// client key.
//
// Uses ssh_pki_generate.
//
//lockcheck:ok the key it makes is not shared yet
func GenerateKey(keyType string) (*PrivateKey, error) {
	t, ok := keyTypes[keyType]
	if !ok {
		return nil, fmt.Errorf("libssh: generate key: unknown key type %q", keyType)
	}
	rc, key := lib.PkiGenerate(t.typ, t.bits)
	if rc != lib.SSH_OK {
		if !key.IsNil() {
			lib.KeyFree(key)
		}
		return nil, fmt.Errorf("libssh: generate %s key failed", keyType)
	}
	return newPrivateKey(key, false, false, "")
}

// newPrivateKey makes a PrivateKey of the key libssh loaded from what, or
// says why libssh gave none (a nil key).
func newPrivateKey(key lib.Key, encrypted, gavePassphrase bool, what string) (*PrivateKey, error) {
	if key.IsNil() {
		switch {
		case encrypted && gavePassphrase:
			return nil, passphraseError("libssh: load private key " + what + ": wrong passphrase")
		case encrypted:
			return nil, passphraseError("libssh: load private key " + what + ": the key is encrypted and no passphrase was given")
		}
		return nil, errors.New("libssh: load private key " + what + ": not a private key libssh can read")
	}
	return adoptPrivateKey(key), nil
}

// adoptPrivateKey makes a PrivateKey of key, not nil, which it frees.
func adoptPrivateKey(key lib.Key) *PrivateKey {
	liveKeys.Add(1)
	st := &keyState{k: key}
	k := &PrivateKey{st: st}
	stack := creationStack()
	k.cleanup = runtime.AddCleanup(k, func(st *keyState) {
		if st.close() {
			reportLeak("PrivateKey", stack)
		}
	}, st)
	return k
}

// errNoKey is the error of a nil or zero PrivateKey.
var errNoKey = notMade("PrivateKey", "ParsePrivateKey, ParsePrivateKeyFile or GenerateKey")

// made reports whether a Parse function made k.
func (k *PrivateKey) made() bool { return k != nil && k.st != nil }

// PublicKey returns the public half of the key.
func (k *PrivateKey) PublicKey() (*PublicKey, error) {
	if !k.made() {
		return nil, errNoKey
	}
	k.st.mu.RLock()
	defer k.st.mu.RUnlock()
	if k.st.k.IsNil() {
		return nil, ErrClosed
	}
	return publicKeyOf(k.st.k)
}

// dup returns a copy of the C key, with its certificate if it has one,
// for one use; the caller frees it.
func (k *PrivateKey) dup() (lib.Key, error) { return k.dupKey(true) }

// dupKey is dup; withCert false leaves the certificate out.
func (k *PrivateKey) dupKey(withCert bool) (lib.Key, error) {
	if !k.made() {
		return lib.Key{}, errNoKey
	}
	k.st.mu.RLock()
	defer k.st.mu.RUnlock()
	if k.st.k.IsNil() {
		return lib.Key{}, ErrClosed
	}
	d := lib.KeyDup(k.st.k)
	if d.IsNil() {
		return lib.Key{}, errors.New("libssh: copy private key: out of memory")
	}
	if withCert && !k.st.certKey.IsNil() && lib.PkiCopyCertToPrivkey(k.st.certKey, d) != lib.SSH_OK {
		lib.KeyFree(d)
		return lib.Key{}, errors.New("libssh: cannot attach the certificate to the key")
	}
	return d, nil
}

// Close frees the key. It is idempotent. It returns an error for a nil or
// zero PrivateKey.
func (k *PrivateKey) Close() error {
	if !k.made() {
		return errNoKey
	}
	k.cleanup.Stop()
	k.st.close()
	return nil
}

func (st *keyState) close() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.k.IsNil() {
		return false
	}
	lib.KeyFree(st.k)
	st.k = lib.Key{}
	liveKeys.Add(-1)
	if !st.certKey.IsNil() {
		lib.KeyFree(st.certKey)
		st.certKey = lib.Key{}
		liveKeys.Add(-1)
	}
	return true
}
