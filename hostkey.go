package libssh

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"

	"github.com/golibssh/libssh/callbacks"
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

// IsKnownServer checks the server's key against the known_hosts files:
// the user's, then the global one. It reads the @revoked lines too: a
// revoked key is [KnownHostsRevoked] even when also listed. KnownHostsOK is the only answer that means the server is who it
// claims to be. KnownHostsNotFound means the user's file does not exist;
// KnownHostsError comes with an error. It needs a connected session.
//
// IsKnownServer only reports: it does not accept the key for the Userauth
// calls, whatever the session's host key policy; [Session.VerifyHost]
// does.
//
// The known_hosts files are read with the session locked, libssh's part
// inside one C call: on a slow file system it takes as long as the file
// system does, and nothing can interrupt it.
//
// Uses ssh_session_is_known_server.
func (s *Session) IsKnownServer() (KnownHosts, error) {
	st, err := s.state()
	if err != nil {
		return KnownHostsError, err
	}
	if err := refuseInCallback(); err != nil {
		return KnownHostsError, err
	}
	defer runtime.KeepAlive(s)
	state, _, err := st.knownHostsCheck(false)
	var hv *HostVerificationError
	if errors.As(err, &hv) {
		return hv.Status, nil
	}
	return state, err
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

// knownHostsCheck is the default host key policy: the @revoked lines first
// (knownhosts_markers.go, in Go: libssh skips them), then libssh's check of
// the plain lines. A revoked key gives the
// markers' *HostVerificationError. With accept, it records the verdict:
// the key is accepted when the state is KnownHostsOK, and an acceptance
// is withdrawn otherwise.
func (st *sessionState) knownHostsCheck(accept bool) (KnownHosts, *PublicKey, error) {
	st.lock()
	key, err := st.serverKeyLocked()
	if err != nil {
		st.unlock()
		return KnownHostsError, nil, err
	}
	props := st.properties()
	files := st.knownHostsFilesLocked()
	st.unlock()

	var markErr error
	blob, err := base64.StdEncoding.DecodeString(key.Base64())
	if err != nil {
		markErr = fmt.Errorf("libssh: cannot decode the server's key: %w", err)
	} else {
		markErr = checkKnownHostsRevoked(files, props.host, props.port, blob)
	}

	st.lock()
	defer st.unlock()
	state := KnownHostsOK
	switch {
	case markErr != nil:
		state = KnownHostsError
		var hv *HostVerificationError
		if errors.As(markErr, &hv) {
			state = hv.Status
		}
		err = markErr
	default:
		state, err = st.knownLocked()
	}
	if err == nil && state == KnownHostsOK {
		// The key libssh checked is the one the markers saw, unless a
		// key re-exchange replaced it meanwhile.
		if now, kerr := st.serverKeyLocked(); kerr != nil || !now.Equal(key) {
			state, err = KnownHostsError, errors.Join(kerr, errors.New("libssh: the server's key changed during the host key check"))
		}
	}
	if accept {
		st.hostKey = nil
		if err == nil && state == KnownHostsOK {
			st.hostKey = key
		}
	}
	return state, key, err
}

// knownHostsFilesLocked returns the user's and the global known_hosts
// files as libssh resolved them.
func (st *sessionState) knownHostsFilesLocked() []string {
	var files []string
	for _, opt := range []int{lib.SSH_OPTIONS_KNOWNHOSTS, lib.SSH_OPTIONS_GLOBAL_KNOWNHOSTS} {
		if f := lib.OptionsGet(st.p, opt); f != "" {
			files = append(files, f)
		}
	}
	return files
}

// VerifyHost applies the session's host key policy to the server's key,
// and when the policy accepts it, records that for the connection, which
// lets the Userauth methods send credentials (see "Host keys" in the
// package documentation). It needs a connected session.
//
// With the default policy, it returns nil when the known_hosts files know
// the key (see [Session.IsKnownServer]: @revoked lines included), and otherwise a [*HostVerificationError] that says why not
// (unknown host, missing file, changed key, key of another type, revoked
// key) and carries the offered key's fingerprint. It fails closed: it never
// accepts an unknown key, and a failure withdraws an acceptance it gave
// before. With [WithHostKeyCallback], it returns nil for the key the
// callback accepted when connecting, and runs the callback for any other
// (or waits for the run in progress), until the callback answers or the
// session ends ([Session.VerifyHostContext] bounds that wait).
// With [InsecureIgnoreHostKey], it returns nil.
//
// The known_hosts files are read with the session locked, libssh's part
// inside one C call: on a slow file system it takes as long as the file
// system does, and nothing can interrupt it.
//
// Uses ssh_session_is_known_server.
func (s *Session) VerifyHost() error {
	return s.verifyHost(context.Background())
}

// VerifyHostContext is [Session.VerifyHost] with a context that bounds the
// wait for a [WithHostKeyCallback] callback: when ctx ends first, it
// returns an error wrapping ctx's, and the key stays unaccepted (a later
// answer of the callback still counts for the calls that wait then).
func (s *Session) VerifyHostContext(ctx context.Context) error {
	if ctx == nil {
		return errNilContext("VerifyHostContext")
	}
	return s.verifyHost(ctx)
}

// verifyHost is VerifyHost; ctx bounds the wait for a host key callback.
func (s *Session) verifyHost(ctx context.Context) error {
	st, err := s.state()
	if err != nil {
		return err
	}
	if err := refuseInCallback(); err != nil {
		return err
	}
	defer runtime.KeepAlive(s)
	switch {
	case st.cfg.insecureHostKey:
		st.lock()
		defer st.unlock()
		return st.acceptAnyLocked()
	case st.cfg.hostKeyCallback != nil:
		return st.checkByCallback(ctx)
	}
	state, key, err := st.knownHostsCheck(true)
	if err != nil || state == KnownHostsOK {
		return err
	}
	props := st.properties()
	return &HostVerificationError{Status: state, Host: props.host, Port: props.port, Fingerprint: key.Fingerprint()}
}

// acceptAnyLocked is InsecureIgnoreHostKey's policy: the server's key,
// whichever it is, is accepted.
func (st *sessionState) acceptAnyLocked() error {
	key, err := st.serverKeyLocked()
	if err != nil {
		return err
	}
	st.hostKey = key
	return nil
}

// hostKeyCallbackMarker stands for a host key callback in callbackThreads
// while one runs: it is no session's state, so a method of any session
// called from the callback is refused with ErrInCallback (the cached facts
// excepted), as from a callback of another session. The callback holds no
// lock, but the Connect that waits for it holds the session's
// connect-or-auth slot, and a VerifyHost there would wait for the callback
// itself.
var hostKeyCallbackMarker = &sessionState{}

// hostKeyRun is one run of the host key callback, for one key of the
// session's server. Every caller that needs the callback's verdict on that
// key while it runs waits for this run, each with its own context, rather
// than calling the callback again.
type hostKeyRun struct {
	addr string     // "host:port", as the callback gets it
	key  *PublicKey // the server's key the callback judges
	// waiting counts the callers waiting for the verdict, under the lock:
	// when none is left, the callback's answer is ignored.
	waiting int
	done    chan struct{} // closed when err holds the verdict
	err     error         // nil: the key was accepted for the connection
}

// checkByCallback is WithHostKeyCallback's policy: the callback decides,
// once per key and connection. The callback runs on a goroutine of its own,
// with no lock held, so that ctx and Close end the wait for it; a caller
// that gives up leaves the key unaccepted, and the callback's answer then
// counts only for those still waiting.
func (st *sessionState) checkByCallback(ctx context.Context) error {
	if err := st.lockCtx(ctx); err != nil {
		return err
	}
	key, err := st.serverKeyLocked()
	if err != nil || key.Equal(st.hostKey) {
		st.unlock()
		return err
	}
	run := st.hostKeyRun
	if run == nil || !run.key.Equal(key) {
		// An acceptance given before was for another key: it goes (fail
		// closed) until the callback accepts this one.
		st.hostKey = nil
		props := st.properties()
		run = &hostKeyRun{
			addr: net.JoinHostPort(props.host, strconv.Itoa(props.port)),
			key:  key,
			done: make(chan struct{}),
		}
		st.hostKeyRun = run
		st.hostKeyRuns.Add(1)
		go st.runHostKeyCallback(run)
	}
	run.waiting++
	st.unlock()

	select {
	case <-run.done:
		return run.err
	case <-ctx.Done():
		err = fmt.Errorf("libssh: gave up waiting for the host key callback on the key of %s (%s): %w", run.addr, key.Fingerprint(), ctx.Err())
	case <-st.ended: // Close, Disconnect, a connection lost
		err = st.endReason()
	}
	st.lock()
	defer st.unlock()
	select {
	case <-run.done: // the verdict came meanwhile: it stands
		return run.err
	default:
		run.waiting--
		return err
	}
}

// runHostKeyCallback runs run's callback and records its verdict: the key
// is accepted when the callback accepted it, somebody still waits for the
// answer, and the server still shows that key.
func (st *sessionState) runHostKeyCallback(run *hostKeyRun) {
	defer st.hostKeyRuns.Done()
	// Recorded in a defer: a callback that ends its goroutine
	// (runtime.Goexit, t.FailNow in a test) refuses the key.
	cbErr := errors.New("the callback did not return")
	defer func() { st.recordHostKeyVerdict(run, cbErr) }()
	cbErr = callHostKeyCallback(st.cfg.hostKeyCallback, run.addr, run.key)
}

// recordHostKeyVerdict records a run's verdict and wakes its waiters.
func (st *sessionState) recordHostKeyVerdict(run *hostKeyRun, cbErr error) {
	st.lock()
	defer st.unlock()
	current := st.hostKeyRun == run
	if current {
		st.hostKeyRun = nil
	}
	switch {
	case cbErr != nil:
		run.err = fmt.Errorf("libssh: the host key callback refused the key of %s (%s): %w", run.addr, run.key.Fingerprint(), cbErr)
	case run.waiting == 0:
		// Everybody gave up: the answer came too late to count.
		run.err = errors.New("libssh: the host key callback answered after every caller gave up")
	default:
		now, err := st.serverKeyLocked() // Close may have come, or a key re-exchange
		switch {
		case err != nil:
			run.err = err
		case !current || !now.Equal(run.key):
			run.err = errors.New("libssh: the server's key changed while the host key callback ran")
		default:
			st.hostKey = run.key
		}
	}
	close(run.done)
}

// callHostKeyCallback calls the callback on this goroutine, marked as in a
// callback (see hostKeyCallbackMarker). A panic refuses the key: the error
// is a *callbacks.PanicError.
func callHostKeyCallback(cb func(host string, key *PublicKey) error, addr string, key *PublicKey) (err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	exit := hostKeyCallbackMarker.enterCallback()
	defer func() {
		exit()
		if r := recover(); r != nil {
			err = &callbacks.PanicError{Value: r}
		}
	}()
	// A copy, so that the callback cannot change the key recorded.
	k := *key
	return cb(addr, &k)
}

// refuseHostLocked ends the connection to a server whose key the host key
// policy refused while connecting: the session is broken with err, which
// Err returns, and cannot connect again.
func (st *sessionState) refuseHostLocked(err error) ioStopper {
	stopper := st.teardownLocked(err)
	st.setBrokenLocked(err) // and wakes every waiter
	return stopper
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
