package libssh

import (
	"context"

	"github.com/golibssh/libssh/lib"
)

// userauth runs one libssh authentication call to completion: libssh in
// nonblocking mode answers "again" until the server replied, and must then be
// called again with the same arguments.
func (st *sessionState) userauth(ctx context.Context, op string, call func(p lib.Session) int) (AuthStatus, error) {
	release, err := st.acquire(ctx)
	if err != nil {
		return AuthError, err
	}
	defer release()
	st.lock()
	for {
		if err := st.usableLocked(); err != nil {
			st.unlock()
			return AuthError, err
		}
		status := AuthStatus(call(st.p))
		switch status {
		case AuthAgain:
			if err := st.waitLocked(ctx); err != nil {
				return AuthError, st.abandon(op, err)
			}
			st.lock()
			continue
		case AuthSuccess:
			st.authenticated = true
		case AuthError:
			if err := st.interruptedErr(); err != nil {
				st.unlock()
				return AuthError, err // Close or Disconnect shut the socket down under us
			}
			err := st.errorLocked(op, "authentication failed")
			st.unlock()
			return AuthError, err
		}
		st.unlock()
		return status, nil
	}
}

// UserauthNone tries to log in without credentials. Servers normally answer
// AuthDenied with the list of methods that can continue (see
// [Session.UserauthList]).
//
// Uses ssh_userauth_none.
func (s *Session) UserauthNone(ctx context.Context) (AuthStatus, error) {
	return s.st.userauth(ctx, "userauth none", lib.UserauthNone)
}

// UserauthList returns the authentication methods the server accepts for
// the user now. It sends a "none" request first, as the list comes with the
// server's answer to an attempt; when that attempt succeeds (the server needs
// no authentication) the list is empty.
//
// Uses ssh_userauth_none and ssh_userauth_list.
func (s *Session) UserauthList(ctx context.Context) ([]AuthMethod, error) {
	status, err := s.UserauthNone(ctx)
	if err != nil || status == AuthSuccess {
		return nil, err
	}
	st := s.st
	st.lock()
	defer st.unlock()
	if err := st.usableLocked(); err != nil {
		return nil, err
	}
	return methodList(AuthMethod(lib.UserauthList(st.p))), nil
}

// UserauthPublicKey authenticates with a private key. AuthDenied means the
// server does not accept that key for the user.
//
// Uses ssh_userauth_publickey.
func (s *Session) UserauthPublicKey(ctx context.Context, key *PrivateKey) (AuthStatus, error) {
	if key == nil {
		return AuthError, &Error{Op: "userauth publickey", Message: "no key given"}
	}
	// Authenticate with a copy, so that closing key meanwhile is harmless.
	k, err := key.dup()
	if err != nil {
		return AuthError, err
	}
	defer lib.KeyFree(k)
	return s.st.userauth(ctx, "userauth publickey", func(p lib.Session) int {
		return lib.UserauthPublickey(p, k)
	})
}

// UserauthPublicKeyFile loads the private key at path (decrypting it with
// passphrase when it is encrypted; "" for none) and authenticates with it.
// A wrong passphrase gives an error matching [ErrPassphrase].
//
// Uses ssh_pki_import_privkey_file and ssh_userauth_publickey.
func (s *Session) UserauthPublicKeyFile(ctx context.Context, path, passphrase string) (AuthStatus, error) {
	key, err := ParsePrivateKeyFile(path, passphrase)
	if err != nil {
		return AuthError, err
	}
	defer key.Close()
	return s.UserauthPublicKey(ctx, key)
}
