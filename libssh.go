// Package libssh is an SSH client for Go built on the C library libssh
// (https://www.libssh.org). It follows the API of the Julia package LibSSH.jl
// with Go's conventions: a [Session] is one connection to a server, verified
// against known_hosts and authenticated with any method libssh offers, and
// every call that waits for the network takes a [context.Context] and returns
// when it is cancelled.
//
// # Safety
//
// Misuse returns an error and never crashes the process: nil receivers and
// zero values of every type are closed objects whose methods return errors
// matching [ErrClosed], and nil contexts and arguments are errors. All
// methods are safe for concurrent use: calls on one session (and its
// channels) are serialised by one lock per session, which is never held
// while waiting for the network. A call that takes a context gives up
// waiting — for the network, for that lock, for the agent — when the
// context ends, whatever the server or the network does. [Session.Close]
// never waits behind a call in progress: it ends it. Close is idempotent;
// anything used after Close returns an error wrapping [ErrClosed].
//
// Two waits cannot be interrupted, because libssh does them inside one C
// call on sockets or files Go cannot reach: talking to a Kerberos KDC in
// [Session.UserauthGSSAPI], and reading or writing known_hosts files. Their
// methods say so.
//
// # How a session runs
//
// Go dials the server (or takes the caller's [net.Conn] with [WithConn]) and
// hands libssh a duplicate of the socket, kept nonblocking. libssh runs in
// nonblocking mode; two goroutines per session wait for the socket in Go's
// network poller, one for input, which libssh then processes, and one for
// room to send what libssh could not send yet. They wake the goroutines
// that wait for a reply, a window or data. An idle session costs two parked
// goroutines, not an OS thread. docs/design.md in the repository explains
// the engine.
//
// # Algorithms
//
// libssh's defaults are OpenSSH's modern choices (curve25519-sha256,
// chacha20-poly1305@openssh.com and AES-GCM, encrypt-then-MAC SHA-2 MACs,
// ssh-ed25519, no compression). [WithCiphers], [WithKeyExchanges],
// [WithHostKeyAlgorithms], [WithMACs] and [WithCompression] replace a list,
// most preferred first; a name the libssh in use does not support is an
// [*AlgorithmError] from [NewSession] that lists what it does support.
// [Session.Algorithms] tells what the key exchange chose, for each
// direction.
//
// # Keepalive
//
// A server whose SSH side is gone while its TCP stack still answers (a
// frozen host, a middlebox that drops the connection silently) is never
// noticed by an idle session on its own. [WithKeepalive](interval,
// maxMissed) does what OpenSSH's ServerAliveInterval and
// ServerAliveCountMax do: after each interval without input from the
// server, the session sends a keepalive@openssh.com request that wants a
// reply; when maxMissed of them went unanswered, the session ends with
// [ErrPeerUnresponsive], which every call waiting on it returns at once.
// A timer does this, without a goroutine between rounds; sessions without
// keepalives have none.
//
// # Receive windows
//
// A channel's receive window is what the server may send ahead of the
// reader: it bounds a download's speed (window/RTT) and what the channel
// holds in memory. With libssh 0.10, each channel's window starts at
// libssh's 1.28 MB and doubles while it is what limits the download, the
// way TCP grows its buffers; [WithMaxWindow] (default [DefaultMaxWindow],
// 16 MiB) caps what a channel holds, however slowly it is read.
//
// # Callbacks
//
// Channel callbacks ([Channel.SetCallbacks], package callbacks) and the
// message handler of [AcceptSession] run with the session locked, on the
// goroutine that is inside libssh; they should copy what they need and
// return. In them:
//
//   - the session's cached facts work: Host, User, Port, KnownHostsPath,
//     String, IsOpen, IsConnected; and so do the channel state queries of the
//     same session: IsOpen, IsAssigned, EOF, IsWritable, ExitStatus, String;
//   - [Channel.Close] and [Session.Close] are deferred: they take effect when
//     the libssh call that ran the callback returns;
//   - every other method of the session, its channels and its commands returns
//     [ErrInCallback], and so does every method of another session that would
//     need its lock (calls across sessions from callbacks could deadlock);
//   - a callback must not wait for another goroutine that uses the session.
//
// A callback that panics makes its channel unusable (its calls return the
// [*callbacks.PanicError]); the panic never unwinds through libssh.
//
// The host key callback of [WithHostKeyCallback] is a plain Go call on a
// goroutine of its own, with no lock held, which Connect waits for, no
// longer than its context; it runs in the middle of Connect, so the methods
// of every session return [ErrInCallback] there too, the cached facts
// excepted.
//
// # Host keys
//
// The package fails closed: no authentication request, not even "none", is
// sent before a host key policy has accepted the server's key for the
// connection. Until then every Userauth method returns
// [ErrHostKeyNotVerified] and sends nothing, so no password,
// keyboard-interactive answer, key or agent signature, or Kerberos
// credential (delegated or not) reaches a server that may be an impostor;
// and a server that would let anyone in with "none" cannot receive the
// session's commands and data either. OpenSSH checks the key inside the key
// exchange, before any of this too. A session has one policy, given to
// [NewSession]:
//
//   - the default: the known_hosts files ([WithKnownHosts],
//     [WithGlobalKnownHosts], ~/.ssh/known_hosts and
//     /etc/ssh/ssh_known_hosts), with their @revoked lines (see
//     below). Connecting does not check them: call [Session.VerifyHost],
//     which accepts the key when they know it ([Session.Authenticate] and
//     [Session.AuthenticateCLI] call it first), and
//     [Session.UpdateKnownHosts] to trust a new key after asking the user.
//     [Session.IsKnownServer] only reports what the files say;
//   - [WithHostKeyCallback]: a function of the program's own (a pinned key,
//     a database, trust on first use) decides during Connect, which fails
//     when it refuses;
//   - [InsecureIgnoreHostKey]: any key is accepted, for tests and
//     benchmarks against throwaway servers; the option is spelt out in the
//     code that uses it.
//
// A session adopted with [WrapSession] has the default policy and starts
// with no key accepted, connected or not. Nothing here trusts an unknown
// key on its own, and the user's ssh_config is not read unless
// [WithProcessConfig] asks for it, and cannot switch host key checking off
// even then. The guard is this package's: libssh calls made through
// [Session.WithLib] bypass it.
//
// known_hosts' "@revoked" lines are honoured: a key such a line lists for the
// host is refused with [KnownHostsRevoked], even when another line lists it
// as known. libssh skips these lines, so the package reads them itself, with
// OpenSSH's rules (host patterns with "*", "?" and "!", hashed hosts,
// "[host]:port" for ports other than 22), and refuses the host when a
// known_hosts file exists but cannot be read. "@cert-authority" lines are
// not used: libssh as a client never negotiates a host certificate (it
// leaves the certificate algorithms out of its offer, whatever it is
// asked), so a server is always checked by its plain key.
//
// # Dial and ssh_config
//
// [Dial] does it all in one call: "host:port" in, a connected session whose
// host key was checked and whose login finished out (with [WithAuth]'s
// inputs, or the agent and the default identity files). With
// [WithProcessConfig], ssh_config's ProxyJump is done in Go, one session
// per hop, each with its own host key check; a ProxyCommand runs only with
// [WithProxyCommand]; ServerAliveInterval and ServerAliveCountMax set the
// keepalive. The session never connects directly when ssh_config names a
// proxy.
//
// # Authentication
//
// Each method has its call: [Session.UserauthPublicKeyFile] (or
// [Session.UserauthPublicKey] with a [PrivateKey]), [Session.UserauthAgent],
// [Session.UserauthPublicKeyAuto], [Session.UserauthPassword],
// [Session.UserauthKbdint] with its prompts and answers, and
// [Session.UserauthGSSAPI] for Kerberos. [Session.UserauthList] says what the
// server accepts. [Session.Authenticate] does it all in one call with what
// it is given: it verifies the host first, walks the server's methods, and
// when it cannot finish returns a [*NotAuthenticatedError] that says which
// input is missing. [Session.AuthenticateCLI]
// asks a person at a terminal, the way the ssh command does.
//
// # Channels
//
// An authenticated session carries any number of channels at once.
// [Session.NewChannel] makes one; [Channel.OpenSession] opens it for a
// command ([Channel.RequestExec]), a shell on a pseudo-terminal
// ([Channel.RequestPty], [Channel.RequestShell]) or a subsystem, and
// [Channel.OpenForward] opens a connection the server makes for you. A
// *Channel is an [io.ReadWriteCloser]: Read reads the remote standard output
// until the server's EOF, [Channel.Stderr] the standard error, Write waits
// for the server's window instead of failing, and [Channel.CloseWrite] sends
// EOF. [Channel.Wait] waits for the remote end to finish, and
// [Channel.ExitStatus] tells the exit status, the signal that killed the
// command ([*ExitSignalError]), or that the server sent neither
// ([ErrNoExitStatus]).
//
// [Channel.SetCallbacks] installs Go functions for libssh's channel
// callbacks (package callbacks); see "Callbacks" above for what they may
// call. Closing or disconnecting the session ends its channels first: their
// methods then return errors matching [ErrClosed].
//
// # Commands
//
// [Session.Command] and [Session.CommandLine] make a [Cmd], which runs one
// command on its own channel the way [os/exec.Cmd] runs a local one: Run,
// Output, CombinedOutput, Start and Wait, pipes, Env, and the Context forms,
// whose cancellation kills the remote command. A command that did not exit
// with status 0 fails with an [*ExitError] (exit status, or the signal that
// killed it), or an [*ExitMissingError] when the server said nothing. Names
// differ from golang.org/x/crypto/ssh: there, Client is the connection and
// Session one command; here the connection is a Session (after libssh's
// ssh_session) and a command is a Cmd.
//
// [Session.Shell] makes a Cmd that starts the login shell instead.
// [Cmd.Pty] gives a command or shell a terminal ([Process.Resize] resizes
// it), and [Cmd.ForwardAgent] lends it the local SSH agent (a trust
// decision: the server can use the agent while connected).
//
// OpenSSH delivers signals, and so cancellation, only to logins with
// privilege separation, which it skips for root: a root login's cancelled
// command keeps running on the server unless it has a terminal.
//
// # Forwarding
//
// [Session.DialContext] opens a connection that the server makes for you
// (ssh -L's direct-tcpip) and returns it as a [net.Conn] with deadlines and
// CloseWrite: give it to [net/http.Transport], or to [WithConn] to reach a
// second server through the first. [NewForwarder] listens on a local port
// (127.0.0.1 unless told otherwise) and forwards each connection to it
// through the session, each on its own channel. [Session.Listen] is the
// other way round (ssh -R): the server listens on one of its ports and
// hands each connection to the client, through a [net.Listener].
//
// # Server side
//
// The package is a client library, but a channel has a server end too:
// [AcceptSession] runs libssh's server side on an accepted connection as a
// Session, with host keys that are [PrivateKey] values (from
// [ParsePrivateKeyFile], or made in memory by [GenerateKey]); its message
// handler reads each [ServerMessage] (authentication, channel opens) and
// answers it with the message's Reply methods or
// [ServerMessage.AcceptChannel]; the server-side channel callbacks of
// package callbacks answer a channel's requests; and
// [Channel.RequestSendExitStatus], [Channel.RequestSendExitSignal] and
// [Channel.WriteStderr] end a command. Package sshtest builds a test
// server from these alone.
//
// # Coming from LibSSH.jl
//
// The names follow LibSSH.jl where Go has no convention of its own. A few
// exist only for ported programs, are kept in one file (libsshjl.go), and
// each names its Go equivalent: [Session.Wait] (waits for the next input,
// not for the end: [Session.Done] and [Session.Err] tell when and why a
// session ended), [Session.LastError] (the returned error holds the
// message), [Session.WithChannel] and [WithForwarder] (make, then defer
// Close), [Channel.IsAssigned] ([Channel.IsOpen]) and [PublicKey.Hexa]
// ([PublicKey.Fingerprint]). Deliberate differences: errors are returned,
// never thrown; every wait takes a [context.Context]; the Userauth methods
// send nothing until the host key is accepted (see "Host keys"), while
// LibSSH.jl's userauth functions leave the check to the caller; a command
// is a [Cmd] modelled on [os/exec.Cmd] rather than a Process object; and
// Close is needed where Julia relies on finalizers (there are finalizers
// here too, but only as a safety net).
//
// # Low-level access
//
// Package lib declares the part of libssh's C API this module uses,
// generated from the installed headers. It carries no compatibility
// promise: its names and types follow libssh and this module's needs and
// change in any version. The functions of this package that name its types
// are all in lowlevel.go, for libssh calls this package does not wrap:
// [WrapSession] and [WrapChannel] adopt a session or channel made with
// package lib, [Session.WithLib] and [Channel.WithLib] run lib calls with
// the session locked, [PublicKeyOf] reads a lib key, and
// [ServerMessage.Lib] and [ServerMessage.LibSession] give a server
// handler's message and session.
//
// # Building
//
// The package needs cgo and libssh 0.10 or newer, found with pkg-config
// (Debian: apt-get install libssh-dev pkg-config). Building with
// CGO_ENABLED=0 fails with a message that says so.
package libssh

import (
	"strings"

	"github.com/golibssh/libssh/lib"
)

// Version returns the version of the libssh library in use, for example
// "0.10.6/openssl/zlib".
//
//lockcheck:ok no C object
func Version() string { return lib.Version(0) }

// AuthMethod is a set of authentication methods, as bit flags with libssh's
// SSH_AUTH_METHOD_* values.
type AuthMethod uint32

// The authentication methods.
const (
	AuthMethodUnknown     AuthMethod = lib.SSH_AUTH_METHOD_UNKNOWN
	AuthMethodNone        AuthMethod = lib.SSH_AUTH_METHOD_NONE
	AuthMethodPassword    AuthMethod = lib.SSH_AUTH_METHOD_PASSWORD
	AuthMethodPublicKey   AuthMethod = lib.SSH_AUTH_METHOD_PUBLICKEY
	AuthMethodHostBased   AuthMethod = lib.SSH_AUTH_METHOD_HOSTBASED
	AuthMethodInteractive AuthMethod = lib.SSH_AUTH_METHOD_INTERACTIVE
	AuthMethodGSSAPIMIC   AuthMethod = lib.SSH_AUTH_METHOD_GSSAPI_MIC
)

var authMethodNames = []struct {
	m    AuthMethod
	name string
}{
	{AuthMethodNone, "none"},
	{AuthMethodPassword, "password"},
	{AuthMethodPublicKey, "publickey"},
	{AuthMethodHostBased, "hostbased"},
	{AuthMethodInteractive, "keyboard-interactive"},
	{AuthMethodGSSAPIMIC, "gssapi-with-mic"},
}

// String returns the SSH protocol names of the methods in m, joined by "|";
// "unknown" for none.
func (m AuthMethod) String() string {
	var names []string
	for _, n := range authMethodNames {
		if m&n.m != 0 {
			names = append(names, n.name)
			m &^= n.m
		}
	}
	if m != 0 {
		names = append(names, "0x"+strings.ToLower(strconvHex(uint32(m))))
	}
	if len(names) == 0 {
		return "unknown"
	}
	return strings.Join(names, "|")
}

// methodList splits a bit mask into its methods, in protocol order.
func methodList(mask AuthMethod) []AuthMethod {
	var out []AuthMethod
	for _, n := range authMethodNames {
		if mask&n.m != 0 {
			out = append(out, n.m)
		}
	}
	return out
}

// AuthStatus is the result of an authentication attempt, with libssh's
// ssh_auth_e values.
type AuthStatus int

// The authentication results.
const (
	AuthSuccess AuthStatus = lib.SSH_AUTH_SUCCESS
	AuthDenied  AuthStatus = lib.SSH_AUTH_DENIED
	AuthPartial AuthStatus = lib.SSH_AUTH_PARTIAL
	AuthInfo    AuthStatus = lib.SSH_AUTH_INFO
	AuthError   AuthStatus = lib.SSH_AUTH_ERROR
)

// authAgain is libssh's "call again" (SSH_AUTH_AGAIN), which the drive loop
// turns into another try: no method returns it.
const authAgain AuthStatus = lib.SSH_AUTH_AGAIN

// String returns the status's name, such as "success".
func (s AuthStatus) String() string {
	switch s {
	case AuthSuccess:
		return "success"
	case AuthDenied:
		return "denied"
	case AuthPartial:
		return "partial"
	case AuthInfo:
		return "info"
	case authAgain:
		return "again"
	case AuthError:
		return "error"
	}
	return "AuthStatus(" + itoa(int(s)) + ")"
}

// KnownHosts is what known_hosts says about a server's key, with libssh's
// ssh_known_hosts_e values.
type KnownHosts int

// The known_hosts states.
const (
	// KnownHostsOK: the server's key is on file for this host.
	KnownHostsOK KnownHosts = lib.SSH_KNOWN_HOSTS_OK
	// KnownHostsChanged: a key of the same type is on file and it differs.
	// Someone may be intercepting the connection.
	KnownHostsChanged KnownHosts = lib.SSH_KNOWN_HOSTS_CHANGED
	// KnownHostsOther: only keys of other types are on file for this host.
	KnownHostsOther KnownHosts = lib.SSH_KNOWN_HOSTS_OTHER
	// KnownHostsUnknown: the known_hosts file exists and has no key for the host.
	KnownHostsUnknown KnownHosts = lib.SSH_KNOWN_HOSTS_UNKNOWN
	// KnownHostsNotFound: the user's known_hosts file does not exist.
	KnownHostsNotFound KnownHosts = lib.SSH_KNOWN_HOSTS_NOT_FOUND
	// KnownHostsError: the check itself failed.
	KnownHostsError KnownHosts = lib.SSH_KNOWN_HOSTS_ERROR
	// KnownHostsRevoked: an "@revoked" line of known_hosts whose host
	// pattern matches the host lists the server's key, which must never be
	// accepted, even when another line lists it as known. libssh skips
	// these lines; this package reads them itself, so this value is not
	// one of libssh's.
	KnownHostsRevoked KnownHosts = 100
)

// String returns the state's name, such as "unknown".
func (k KnownHosts) String() string {
	switch k {
	case KnownHostsOK:
		return "ok"
	case KnownHostsChanged:
		return "changed"
	case KnownHostsOther:
		return "other"
	case KnownHostsUnknown:
		return "unknown"
	case KnownHostsNotFound:
		return "not found"
	case KnownHostsError:
		return "error"
	case KnownHostsRevoked:
		return "revoked"
	}
	return "KnownHosts(" + itoa(int(k)) + ")"
}
