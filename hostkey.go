package libssh

import (
	"errors"
	"os"

	"github.com/golibssh/libssh/lib"
)

// PublicKey is a public key: its type and the forms it is shown in. It is a
// plain Go value, independent of the session it came from. A nil or zero
// PublicKey is no key: its methods return "", and it equals no key.
type PublicKey struct {
	typ, fingerprint, hexa, base64 string
}

// isKey reports whether k holds a key (PublicKeyOf and the methods that
// return keys make only such).
func (k *PublicKey) isKey() bool { return k != nil && k.base64 != "" }

// Type returns the key's SSH type name, such as "ssh-ed25519".
func (k *PublicKey) Type() string {
	if k == nil {
		return ""
	}
	return k.typ
}

// Fingerprint returns the SHA256 fingerprint as OpenSSH prints it
// ("SHA256:" and unpadded base64), the same as `ssh-keygen -lf` shows.
func (k *PublicKey) Fingerprint() string {
	if k == nil {
		return ""
	}
	return k.fingerprint
}

// Base64 returns the key blob in base64, as in authorized_keys and
// known_hosts lines.
func (k *PublicKey) Base64() string {
	if k == nil {
		return ""
	}
	return k.base64
}

// String returns the key as in authorized_keys: "<type> <base64>" ("" for
// a nil or zero PublicKey).
func (k *PublicKey) String() string {
	if !k.isKey() {
		return ""
	}
	return k.typ + " " + k.base64
}

// Equal reports whether k and other are the same key. A nil or zero
// PublicKey equals nothing, not even itself.
func (k *PublicKey) Equal(other *PublicKey) bool {
	return k.isKey() && other.isKey() && k.typ == other.typ && k.base64 == other.base64
}

// publicKeyOf copies what a libssh key shows into a PublicKey.
//
//lockcheck:ok reads a key its caller owns, under the lock that guards it (the session's or the PrivateKey's)
func publicKeyOf(key lib.Key) (*PublicKey, error) {
	pk := &PublicKey{
		typ:         lib.KeyTypeToChar(lib.KeyType(key)),
		fingerprint: lib.KeyFingerprintSha256(key),
		hexa:        lib.KeyHexaSha256(key),
		base64:      lib.KeyBase64(key),
	}
	if pk.fingerprint == "" || pk.base64 == "" {
		return nil, errors.New("libssh: cannot compute the key's fingerprint")
	}
	return pk, nil
}

// ServerPublicKey returns the key the server proved it holds during the key
// exchange. It needs a connected session.
//
// Uses ssh_get_server_publickey.
func (s *Session) ServerPublicKey() (*PublicKey, error) {
	st, err := s.begin()
	if err != nil {
		return nil, err
	}
	defer st.unlock()
	return st.serverKeyLocked()
}

func (st *sessionState) serverKeyLocked() (*PublicKey, error) {
	if err := st.usableLocked(); err != nil {
		return nil, err
	}
	key := lib.GetServerPublickey(st.p)
	if key.IsNil() {
		return nil, st.errorLocked("get server public key", "no server key")
	}
	defer lib.KeyFree(key)
	return publicKeyOf(key)
}

// IsKnownServer checks the server's key against the user's known_hosts file,
// then the global one. KnownHostsOK is the only answer that means the server
// is who it claims to be. KnownHostsNotFound means the user's file does not
// exist; KnownHostsError comes with an error. It needs a connected session.
//
// libssh reads (or writes) the known_hosts files inside one C call, with
// the session locked: on a slow file system it takes as long as the file
// system does, and nothing can interrupt it.
//
// Uses ssh_session_is_known_server.
func (s *Session) IsKnownServer() (KnownHosts, error) {
	st, err := s.begin()
	if err != nil {
		return KnownHostsError, err
	}
	defer st.unlock()
	return st.knownLocked()
}

func (st *sessionState) knownLocked() (KnownHosts, error) {
	if err := st.usableLocked(); err != nil {
		return KnownHostsError, err
	}
	// Fail closed however the session was made (WrapSession) or configured
	// (ssh_config): with strict checking off, libssh reports an unknown
	// host as known.
	if lib.OptionsSetInt(st.p, lib.SSH_OPTIONS_STRICTHOSTKEYCHECK, 1) != lib.SSH_OK {
		return KnownHostsError, st.errorLocked("check known_hosts", "cannot turn strict host key checking on")
	}
	state := KnownHosts(lib.SessionIsKnownServer(st.p))
	switch state {
	case KnownHostsError:
		return state, st.errorLocked("check known_hosts", "cannot read known_hosts")
	case KnownHostsUnknown:
		// libssh 0.10 says Unknown for a missing file too.
		path := lib.OptionsGet(st.p, lib.SSH_OPTIONS_KNOWNHOSTS)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			state = KnownHostsNotFound
		}
	}
	return state, nil
}

// VerifyHost returns nil when the server's key is in known_hosts, and
// otherwise a [*HostVerificationError] that says why not (unknown host,
// missing file, changed key, key of another type) and carries the offered
// key's fingerprint. It fails closed: it never accepts an unknown key.
//
// libssh reads (or writes) the known_hosts files inside one C call, with
// the session locked: on a slow file system it takes as long as the file
// system does, and nothing can interrupt it.
//
// Uses ssh_session_is_known_server.
func (s *Session) VerifyHost() error {
	st, err := s.begin()
	if err != nil {
		return err
	}
	defer st.unlock()
	state, err := st.knownLocked()
	if err != nil || state == KnownHostsOK {
		return err
	}
	props := st.properties()
	herr := &HostVerificationError{Status: state, Host: props.host, Port: props.port}
	if key, err := st.serverKeyLocked(); err == nil {
		herr.Fingerprint = key.Fingerprint()
	}
	return herr
}

// UpdateKnownHosts trusts the server's current key: it appends a line for it
// to the user's known_hosts file, creating the file (and its directory) when
// missing. Only call it after the user (or your policy) accepted the key.
//
// libssh reads (or writes) the known_hosts files inside one C call, with
// the session locked: on a slow file system it takes as long as the file
// system does, and nothing can interrupt it.
//
// Uses ssh_session_update_known_hosts.
func (s *Session) UpdateKnownHosts() error {
	st, err := s.begin()
	if err != nil {
		return err
	}
	defer st.unlock()
	if err := st.usableLocked(); err != nil {
		return err
	}
	if lib.SessionUpdateKnownHosts(st.p) != lib.SSH_OK {
		return st.errorLocked("update known_hosts", "cannot write known_hosts")
	}
	return nil
}
