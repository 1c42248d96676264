package libssh

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// AuthOptions is what [Session.Authenticate] may use to log in. Leave a
// field empty to not offer that input.
type AuthOptions struct {
	// Password answers the "password" method.
	Password string
	// PrivateKey, PrivateKeyFiles (decrypted with Passphrase when
	// encrypted), Agent (the SSH agent of [WithAgentSocket] or
	// $SSH_AUTH_SOCK) and DefaultKeys (the agent, then the identity files
	// of the ssh directory, see [Session.UserauthPublicKeyAuto]) answer
	// the "publickey" method, tried in that order.
	//
	// Certificates: a PrivateKey made with [PrivateKey.WithCertificate]
	// presents its certificate. A key of PrivateKeyFiles or DefaultKeys
	// is offered first with each certificate that certifies it (as
	// OpenSSH does): the file beside it named with "-cert.pub" appended
	// ("id_ed25519-cert.pub"), and those of CertificateFiles and, with
	// [WithProcessConfig], of ssh_config's CertificateFile lines (which
	// libssh 0.10 ignores; DefaultKeys also covers the keys of
	// ssh_config's IdentityFile lines); then without one. CertificateFiles
	// also applies to PrivateKey when it carries no certificate. A
	// certificate whose key is only in the agent is not used (libssh 0.10
	// cannot sign with an agent's key for a certificate held outside it).
	// When the server refuses a certificate, the result's Notes say what
	// about it was the likely cause (expired, not yet valid, another
	// principal, an untrusted CA).
	PrivateKey       *PrivateKey
	PrivateKeyFiles  []string
	CertificateFiles []string
	Passphrase       string
	Agent            bool
	DefaultKeys      bool
	// KbdintAnswers answers the first keyboard-interactive round that asks
	// questions; Kbdint, when set, answers every round instead. Kbdint
	// sees the rounds without questions too (a notice, such as a
	// password-expiry warning, in Name and Instruction), so that it can
	// show them; what it returns for such a round is ignored, an error
	// excepted.
	KbdintAnswers []string
	Kbdint        func(KbdintRound) ([]string, error)
	// GSSAPI tries Kerberos ("gssapi-with-mic") with the credentials of the
	// environment.
	GSSAPI bool
}

// AuthResult is where [Session.Authenticate] got to.
type AuthResult struct {
	// Status is AuthSuccess once the session is authenticated; otherwise
	// AuthDenied.
	Status AuthStatus
	// HostStatus is what the host key check said: KnownHostsOK when the
	// session's policy accepted the server's key; otherwise the state
	// known_hosts gave (default policy), or KnownHostsError (a refusal of
	// the WithHostKeyCallback callback, a failed check). Authenticate goes
	// no further than the host check unless it is KnownHostsOK.
	HostStatus KnownHosts
	// Needed holds the methods the server still accepts for which
	// AuthOptions gave no input: call again with that input.
	Needed AuthMethod
	// Denied holds the methods that were tried and refused.
	Denied AuthMethod
	// Notes explain refusals that the client can account for, such as a
	// certificate that had expired or names other principals.
	Notes []string
}

// Done reports whether the session is authenticated.
func (r AuthResult) Done() bool { return r.Status == AuthSuccess }

// NotAuthenticatedError is the error of [Session.Authenticate] and [Dial]
// when the login did not finish with the inputs given: every method the
// server accepts was either refused or had no input. Result says which;
// the message is [AuthResult.String]. Find it with errors.As; it also
// matches [ErrNotAuthenticated].
type NotAuthenticatedError struct {
	Result AuthResult
}

func (e *NotAuthenticatedError) Error() string {
	if e == nil {
		return "libssh: not authenticated (nil *NotAuthenticatedError)"
	}
	return "libssh: " + e.Result.String()
}

// Is makes errors.Is(err, ErrNotAuthenticated) true.
func (e *NotAuthenticatedError) Is(target error) bool { return target == ErrNotAuthenticated }

// inputFor names the AuthOptions fields that answer each method.
var inputFor = map[AuthMethod]string{
	AuthMethodGSSAPIMIC:   "GSSAPI",
	AuthMethodPublicKey:   "PrivateKey, PrivateKeyFiles, Agent or DefaultKeys",
	AuthMethodInteractive: "KbdintAnswers or Kbdint",
	AuthMethodPassword:    "Password",
}

// String says where authentication stands and, when it cannot go on, what
// input would let it.
func (r AuthResult) String() string {
	switch {
	case r.HostStatus != KnownHostsOK:
		return "host key not verified: " + r.HostStatus.String()
	case r.Done():
		return "authenticated"
	}
	var parts []string
	for _, m := range methodList(r.Needed) {
		if in, ok := inputFor[m]; ok {
			parts = append(parts, fmt.Sprintf("%s (AuthOptions.%s)", m, in))
		} else {
			parts = append(parts, m.String()+" (not supported by Authenticate)")
		}
	}
	msg := "not authenticated"
	if r.Denied != 0 {
		msg += "; denied: " + strings.ReplaceAll(r.Denied.String(), "|", ", ")
	}
	if len(parts) > 0 {
		msg += "; the server also accepts " + strings.Join(parts, ", ")
	} else {
		msg += "; no method is left to try"
	}
	for _, n := range r.Notes {
		msg += "; " + n
	}
	return msg
}

// authAttempt is one way of answering one method.
type authAttempt struct {
	method AuthMethod
	run    func(ctx context.Context) (AuthStatus, error)
}

// attempts lists what opts can try, in OpenSSH's order of preference:
// GSSAPI, public keys, keyboard-interactive, password.
func (s *Session) attempts(opts AuthOptions, ca *certAuth) []authAttempt {
	var out []authAttempt
	add := func(m AuthMethod, run func(ctx context.Context) (AuthStatus, error)) {
		out = append(out, authAttempt{m, run})
	}
	if opts.GSSAPI {
		add(AuthMethodGSSAPIMIC, s.UserauthGSSAPI)
	}
	if opts.PrivateKey != nil {
		add(AuthMethodPublicKey, func(ctx context.Context) (AuthStatus, error) {
			return s.userauthKey(ctx, opts.PrivateKey, "", ca, true)
		})
	}
	for _, f := range opts.PrivateKeyFiles {
		add(AuthMethodPublicKey, func(ctx context.Context) (AuthStatus, error) {
			return s.userauthKeyFile(ctx, f, opts.Passphrase, ca, true)
		})
	}
	if opts.Agent {
		add(AuthMethodPublicKey, s.UserauthAgent)
	}
	if opts.DefaultKeys {
		// The default keys with certificates first; then libssh's
		// own round, which offers them bare.
		for _, f := range ca.identities {
			if ca.hasCerts(f) {
				add(AuthMethodPublicKey, func(ctx context.Context) (AuthStatus, error) {
					return s.userauthKeyFile(ctx, f, opts.Passphrase, ca, false)
				})
			}
		}
		add(AuthMethodPublicKey, func(ctx context.Context) (AuthStatus, error) {
			return s.UserauthPublicKeyAuto(ctx, opts.Passphrase)
		})
	}
	if opts.Kbdint != nil || len(opts.KbdintAnswers) > 0 {
		add(AuthMethodInteractive, func(ctx context.Context) (AuthStatus, error) {
			return s.kbdint(ctx, opts)
		})
	}
	if opts.Password != "" {
		add(AuthMethodPassword, func(ctx context.Context) (AuthStatus, error) {
			return s.UserauthPassword(ctx, opts.Password)
		})
	}
	return out
}

// kbdint runs keyboard-interactive authentication to its end.
func (s *Session) kbdint(ctx context.Context, opts AuthOptions) (AuthStatus, error) {
	status, err := s.UserauthKbdint(ctx)
	fixedUsed := false
	for err == nil && status == AuthInfo {
		var round *KbdintRound
		if round, err = s.UserauthKbdintRound(); err != nil {
			break
		}
		var answers []string
		switch {
		case opts.Kbdint != nil:
			if answers, err = opts.Kbdint(*round); err != nil {
				return AuthError, fmt.Errorf("libssh: keyboard-interactive: %w", err)
			}
			if len(round.Prompts) == 0 {
				answers = nil // a notice: nothing to answer
			}
		case len(round.Prompts) == 0:
			// A notice; OpenSSH's PAM ends with such a round too.
		case !fixedUsed:
			answers, fixedUsed = opts.KbdintAnswers, true
		default:
			return AuthError, &Error{Op: "keyboard-interactive", Message: fmt.Sprintf(
				"the server asked another round of %d questions; AuthOptions.KbdintAnswers answers only one (use AuthOptions.Kbdint)", len(round.Prompts))}
		}
		if err = s.UserauthKbdintSetAnswers(answers); err == nil {
			status, err = s.UserauthKbdint(ctx)
		}
	}
	if err != nil {
		return AuthError, err
	}
	return status, nil
}

// Authenticate logs in with whatever opts supplies. It verifies the server's
// host key first, as [Session.VerifyHost] does (a [WithHostKeyCallback]
// callback is waited for no longer than ctx): unless the session's policy
// accepts it, it returns VerifyHost's error (with the default policy a
// [*HostVerificationError]; the result's HostStatus says which state) and
// sends nothing. It then asks the server which methods it accepts and
// tries opts' inputs for them (GSSAPI, public keys, keyboard-interactive,
// password, in that order); a denied method moves on to the next, and a
// partial success goes on with what the server asks for next.
//
// The error is nil only when the session is authenticated. When the login
// cannot finish with what opts gives, the error is a
// [*NotAuthenticatedError] whose Result (also the first return value) says
// why: Needed lists the methods the server accepts that opts gave no input
// for, Denied those that were refused; calling again with more input goes
// on from there. Other errors are failures: the host check (a
// [*HostVerificationError], sent before any credential), the connection,
// libssh, bad input (a nil ctx among it).
func (s *Session) Authenticate(ctx context.Context, opts AuthOptions) (AuthResult, error) {
	if err := sessionArgErr(s); err != nil {
		return AuthResult{Status: AuthDenied, HostStatus: KnownHostsError}, err
	}
	if ctx == nil {
		return AuthResult{Status: AuthDenied, HostStatus: KnownHostsError}, errNilContext("Authenticate")
	}
	res := AuthResult{Status: AuthDenied, HostStatus: KnownHostsOK}
	if err := s.verifyHost(ctx); err != nil {
		res.HostStatus = KnownHostsError
		var hv *HostVerificationError
		if errors.As(err, &hv) {
			res.HostStatus = hv.Status
		}
		return res, err
	}
	if s.isAuthenticated() {
		res.Status = AuthSuccess
		return res, nil
	}
	methods, err := s.UserauthList(ctx)
	if err != nil {
		return res, err
	}
	if s.isAuthenticated() { // the server accepted "none"
		res.Status = AuthSuccess
		return res, nil
	}
	ca, err := s.newCertAuth(opts)
	if err != nil {
		return res, err
	}
	offered := maskOf(methods)
	attempts := s.attempts(opts, ca)
	done := make([]bool, len(attempts))
	for {
		next := -1
		for i, a := range attempts {
			if !done[i] && offered&a.method != 0 {
				next = i
				break
			}
		}
		if next < 0 {
			var given AuthMethod
			for _, a := range attempts {
				given |= a.method
			}
			res.Needed = offered &^ given &^ AuthMethodNone
			return res, &NotAuthenticatedError{Result: res}
		}
		done[next] = true
		status, err := attempts[next].run(ctx)
		res.Notes = ca.notes
		if err != nil {
			return res, err
		}
		switch status {
		case AuthSuccess:
			res.Status, res.Needed, res.Denied, res.Notes = AuthSuccess, 0, 0, nil
			return res, nil
		case AuthPartial:
			// One factor accepted; the server says what it wants next.
			if offered, err = s.offered(); err != nil {
				return res, err
			}
			res.Denied = 0
		default:
			if !moreOfMethod(attempts, done, attempts[next].method) {
				res.Denied |= attempts[next].method
			}
		}
	}
}

// moreOfMethod reports whether attempts not done yet answer method m.
func moreOfMethod(attempts []authAttempt, done []bool, m AuthMethod) bool {
	for i, a := range attempts {
		if !done[i] && a.method == m {
			return true
		}
	}
	return false
}

func maskOf(methods []AuthMethod) AuthMethod {
	var m AuthMethod
	for _, x := range methods {
		m |= x
	}
	return m
}

func (s *Session) isAuthenticated() bool {
	authenticated := false
	s.inspect(func(st *sessionState) { authenticated = st.authenticated })
	return authenticated
}
