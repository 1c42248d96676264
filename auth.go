package libssh

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/golibssh/libssh/lib"
)

// userauth runs one libssh authentication call to completion: libssh in
// nonblocking mode answers "again" until the server replied, and must then be
// called again with the same arguments. usesAgent says that the call may talk
// to the SSH agent, which it then reaches through the session's relay, cut
// when ctx ends.
func (s *Session) userauth(ctx context.Context, op string, usesAgent bool, call func(p lib.Session) int) (AuthStatus, error) {
	st, err := s.enter(ctx)
	if err != nil {
		return AuthError, err
	}
	defer runtime.KeepAlive(s)
	release, err := st.acquireSlot(ctx, st.callSem, ErrClosed)
	if err != nil {
		return AuthError, err
	}
	defer release()
	var (
		status    AuthStatus
		first     = true
		before    string // libssh's message before the call
		stopAgent func() bool
	)
	defer func() {
		if stopAgent != nil {
			stopAgent()
		}
	}()
	err = st.drive(ctx, func() (bool, error) {
		if err := st.usableLocked(); err != nil {
			return false, err
		}
		if first {
			if st.authenticated {
				// RFC 4252 lets a server ignore requests after success
				// (OpenSSH does): libssh would wait for ever.
				return false, errAuthenticatedAlready
			}
			// Fail closed: no request at all, not even "none", goes to a
			// server whose key no policy accepted (see "Host keys").
			if st.hostKey == nil {
				return false, ErrHostKeyNotVerified
			}
			// The user name goes into every request; one set through
			// WithLib or on a wrapped session was never checked.
			if err := checkString("user name", st.properties().user); err != nil {
				return false, err
			}
			first = false
			// Some failures (GSSAPI's) leave libssh's previous message
			// in place: remember it, so a stale message is not reported
			// as this call's.
			before = lib.GetError(st.p)
			if usesAgent {
				var err error
				if stopAgent, err = st.useAgentLocked(ctx); err != nil {
					return false, err
				}
			}
		}
		if !st.serviceAccepted {
			// libssh picks a key's signature algorithm before it asks
			// for the service, from the server's EXT_INFO. A server may
			// send that after its NEWKEYS, so it can still be on its
			// way when Connect returns; the service accept comes after
			// it. Without this, an RSA key is offered as SHA-1
			// "ssh-rsa", which libssh then refuses on its own.
			switch lib.ServiceRequest(st.p, "ssh-userauth") {
			case lib.SSH_OK:
				st.serviceAccepted = true
			case lib.SSH_AGAIN:
				return false, nil
			default:
				return false, st.authErrorLocked(op, before)
			}
		}
		status = AuthStatus(call(st.p))
		switch status {
		case authAgain:
			return false, nil
		case AuthSuccess:
			st.authenticated = true
			st.startKeepaliveLocked()
		case AuthError:
			return false, st.authErrorLocked(op, before)
		}
		return true, nil
	})
	if usesAgent && ctx.Err() != nil && (err != nil || status != AuthSuccess) {
		// The relay was cut under libssh's agent call: whatever libssh
		// made of that, the call was abandoned.
		err = errWaiting{ctx.Err()}
	}
	if werr, waiting := abandoned(err); waiting {
		return AuthError, st.abandon(op, werr)
	}
	if err == nil && status != AuthSuccess {
		// Close or Disconnect may have cut the agent relay under the
		// call, which libssh then reports as a plain refusal.
		err = st.interruptedErr()
	}
	if err != nil {
		return AuthError, err
	}
	return status, nil
}

// authErrorLocked explains a failed authentication call.
func (st *sessionState) authErrorLocked(op, before string) error {
	if err := st.interruptedErr(); err != nil {
		return err // Close or Disconnect shut the socket down under us
	}
	if !st.checkStatusLocked() {
		return st.broken
	}
	stale := lib.GetError(st.p) == before
	err := st.errorLocked(op, "authentication failed")
	if stale {
		err.Message = st.authFallbackLocked(op)
	}
	return err
}

// errAuthenticatedAlready: an authentication call on a session that is
// logged in.
var errAuthenticatedAlready = errors.New("libssh: the session is authenticated already")

// UserauthNone tries to log in without credentials. Servers normally answer
// AuthDenied with the list of methods that can continue (see
// [Session.UserauthList]).
//
// Before a host key policy has accepted the server's key, it and every
// other Userauth call return [ErrHostKeyNotVerified] and send nothing (see
// "Host keys" in the package documentation): "none" carries no secret, but
// an impostor could accept it and then receive the session's commands. On
// a session that is logged in already, they return an error and send
// nothing too (servers may ignore such requests, and libssh would wait for
// the answer for ever).
//
// Uses ssh_userauth_none.
func (s *Session) UserauthNone(ctx context.Context) (AuthStatus, error) {
	return s.userauth(ctx, "userauth none", false, lib.UserauthNone)
}

// UserauthList returns the authentication methods the server accepts for
// the user now. It sends a "none" request first, as the list comes with the
// server's answer to an attempt; when that attempt succeeds (the server needs
// no authentication), or the session is logged in already, the list is
// empty.
//
// Uses ssh_userauth_none and ssh_userauth_list.
func (s *Session) UserauthList(ctx context.Context) ([]AuthMethod, error) {
	if s.usable() == nil && s.isAuthenticated() {
		return nil, nil
	}
	status, err := s.UserauthNone(ctx)
	if err != nil || status == AuthSuccess {
		return nil, err
	}
	offered, err := s.offered()
	return methodList(offered), err
}

// offered returns the methods of the server's last authentication answer,
// without sending anything.
//
// Uses ssh_userauth_list.
func (s *Session) offered() (AuthMethod, error) {
	st, err := s.begin()
	if err != nil {
		return 0, err
	}
	defer st.unlock()
	if err := st.usableLocked(); err != nil {
		return 0, err
	}
	return AuthMethod(lib.UserauthList(st.p)), nil
}

// UserauthPublicKey authenticates with a private key. AuthDenied means the
// server does not accept that key for the user.
//
// Uses ssh_userauth_publickey.
//
//lockcheck:ok frees only its own copy of the key; the libssh calls on the session run in userauth, under the lock
func (s *Session) UserauthPublicKey(ctx context.Context, key *PrivateKey) (AuthStatus, error) {
	if _, err := s.enter(ctx); err != nil {
		return AuthError, err
	}
	if key == nil {
		return AuthError, &Error{Op: "userauth publickey", Message: "no key given"}
	}
	// Authenticate with a copy, so that closing key meanwhile is harmless.
	k, err := key.dup()
	if err != nil {
		return AuthError, err
	}
	defer lib.KeyFree(k)
	return s.userauth(ctx, "userauth publickey", false, func(p lib.Session) int {
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

// authFallbackLocked explains a failed authentication call for which libssh
// recorded no message of its own.
func (st *sessionState) authFallbackLocked(op string) string {
	if op == opGSSAPI {
		target := st.properties().host // ssh_options_get cannot read the identity back
		if st.cfg.gssapiServer != nil {
			target = *st.cfg.gssapiServer
		}
		return "GSSAPI failed: no Kerberos credentials for the user, or the KDC does not know the server's principal host/" +
			target + " (set WithGSSAPIServerIdentity when the host is an address)"
	}
	return "authentication failed"
}

const opGSSAPI = "userauth gssapi-with-mic"

// UserauthPassword authenticates with a password. The C copy of the password
// is zeroed after use (the Go string cannot be).
//
// Uses ssh_userauth_password.
func (s *Session) UserauthPassword(ctx context.Context, password string) (AuthStatus, error) {
	if err := checkString("password", password); err != nil {
		return AuthError, err
	}
	return s.userauth(ctx, "userauth password", false, func(p lib.Session) int {
		return lib.UserauthPassword(p, password)
	})
}

// UserauthPublicKeyAuto authenticates with the keys of the user's SSH agent
// (see [WithAgentSocket]) and then with the default identity files of the ssh
// directory (see [WithSSHDir]): id_ed25519, id_ecdsa, id_rsa. passphrase
// decrypts encrypted identity files; "" for none.
//
// libssh reaches the agent through a relay this package controls, so an
// agent that does not answer cannot hold the call past ctx: when ctx ends
// the relay is cut, the call returns ctx's error, and the session cannot be
// used any more (libssh cannot take an authentication attempt back).
//
// Uses ssh_userauth_publickey_auto.
func (s *Session) UserauthPublicKeyAuto(ctx context.Context, passphrase string) (AuthStatus, error) {
	if err := checkString("passphrase", passphrase); err != nil {
		return AuthError, err
	}
	return s.userauth(ctx, "userauth publickey (auto)", true, func(p lib.Session) int {
		return lib.UserauthPublickeyAuto(p, passphrase)
	})
}

// UserauthAgent authenticates with the keys of an SSH agent: the socket given
// with [WithAgentSocket], or $SSH_AUTH_SOCK. It tries each key in turn (a
// server's MaxAuthTries may end the connection when the agent holds many).
// AuthDenied when no agent is reachable or no key is accepted.
// An agent that does not answer holds the call only until ctx ends (see
// [Session.UserauthPublicKeyAuto]).
//
// Uses ssh_userauth_agent.
func (s *Session) UserauthAgent(ctx context.Context) (AuthStatus, error) {
	return s.userauth(ctx, "userauth agent", true, lib.UserauthAgent)
}

// UserauthGSSAPI authenticates with Kerberos (gssapi-with-mic), using the
// credential cache of the environment (KRB5CCNAME) and the options
// [WithGSSAPIServerIdentity], [WithGSSAPIClientIdentity] and
// [WithGSSAPIDelegateCredentials]. AuthDenied without a valid ticket.
//
// Talking to the KDC happens inside libssh's call, on sockets of the
// Kerberos library that Go cannot reach: a context cannot end that part,
// and Close waits for it. The Kerberos library's own timeouts bound it
// (krb5.conf: kdc_timeout, max_retries); the wait for the server's answer
// that follows ends with ctx as usual.
//
// Uses ssh_userauth_gssapi.
func (s *Session) UserauthGSSAPI(ctx context.Context) (AuthStatus, error) {
	return s.userauth(ctx, opGSSAPI, false, lib.UserauthGssapi)
}

// KbdintPrompt is one question of a keyboard-interactive round.
type KbdintPrompt struct {
	Msg     string // the question, such as "Password: "
	Display bool   // whether the answer may be shown (echoed) as it is typed
}

// KbdintRound is one round of keyboard-interactive questions.
type KbdintRound struct {
	Name        string // may be empty
	Instruction string // may be empty
	Prompts     []KbdintPrompt
}

// UserauthKbdint starts keyboard-interactive authentication, or sends the
// answers set with [Session.UserauthKbdintSetAnswers]. Both need the host
// key accepted ([ErrHostKeyNotVerified]): the answers are secrets, and the
// questions of an impostor are a phishing form. AuthInfo means the
// server asked questions: read them with [Session.UserauthKbdintGetPrompts],
// answer, and call UserauthKbdint again. A round may have no questions at all
// (OpenSSH's PAM sends one after the password): answer it with no answers.
//
// Uses ssh_userauth_kbdint.
func (s *Session) UserauthKbdint(ctx context.Context) (AuthStatus, error) {
	return s.userauth(ctx, "userauth keyboard-interactive", false, lib.UserauthKbdint)
}

// UserauthKbdintGetPrompts returns the questions of the current
// keyboard-interactive round (after [Session.UserauthKbdint] returned
// AuthInfo). [Session.UserauthKbdintRound] returns the round's name and
// instruction too.
func (s *Session) UserauthKbdintGetPrompts() ([]KbdintPrompt, error) {
	r, err := s.UserauthKbdintRound()
	if err != nil {
		return nil, err
	}
	return r.Prompts, nil
}

// UserauthKbdintRound returns the current keyboard-interactive round: its
// name, instruction and questions.
//
// Uses ssh_userauth_kbdint_getname, _getinstruction, _getnprompts and
// _getprompt.
func (s *Session) UserauthKbdintRound() (*KbdintRound, error) {
	st, err := s.begin()
	if err != nil {
		return nil, err
	}
	defer st.unlock()
	if err := st.usableLocked(); err != nil {
		return nil, err
	}
	n := lib.UserauthKbdintGetnprompts(st.p)
	if n < 0 {
		return nil, &Error{Op: "keyboard-interactive prompts", Message: "no keyboard-interactive round in progress"}
	}
	r := &KbdintRound{
		Name:        lib.UserauthKbdintGetname(st.p),
		Instruction: lib.UserauthKbdintGetinstruction(st.p),
		Prompts:     make([]KbdintPrompt, n),
	}
	for i := range r.Prompts {
		msg, echo := lib.KbdintPrompt(st.p, uint(i))
		r.Prompts[i] = KbdintPrompt{Msg: msg, Display: echo != 0}
	}
	return r, nil
}

// UserauthKbdintSetAnswers sets the answers to the current round's questions,
// one per question, in order; the next [Session.UserauthKbdint] sends them.
// The C copies of the answers are zeroed when libssh replaces them.
//
// Uses ssh_userauth_kbdint_setanswer.
func (s *Session) UserauthKbdintSetAnswers(answers []string) error {
	for _, a := range answers {
		if err := checkString("answer", a); err != nil {
			return err
		}
	}
	st, err := s.begin()
	if err != nil {
		return err
	}
	defer st.unlock()
	if err := st.usableLocked(); err != nil {
		return err
	}
	n := lib.UserauthKbdintGetnprompts(st.p)
	if n < 0 {
		return &Error{Op: "keyboard-interactive answers", Message: "no keyboard-interactive round in progress"}
	}
	if len(answers) != n {
		return &Error{Op: "keyboard-interactive answers", Message: fmt.Sprintf("%d answers for %d questions", len(answers), n)}
	}
	for i, a := range answers {
		if lib.UserauthKbdintSetanswer(st.p, uint(i), a) < 0 {
			return st.errorLocked("keyboard-interactive answers", "cannot set answer")
		}
	}
	return nil
}
