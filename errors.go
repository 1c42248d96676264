package libssh

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/golibssh/libssh/internal/cgocallback"
	"github.com/golibssh/libssh/lib"
)

// notMade is the error of a method called on a nil pointer, or on a zero
// value that the package did not make: what names the type, made tells how
// to get a usable one.
func notMade(what, madeBy string) error {
	return errors.New("libssh: nil or zero " + what + " (not made by " + madeBy + ")")
}

// sessionArgErr is the error of a nil or zero *Session given to (or
// called by) a function of this package that needs a made one (the one
// its methods return); nil for a made Session.
func sessionArgErr(s *Session) error {
	_, err := s.state()
	return err
}

// errNilContext is the error of a nil context given to fn.
func errNilContext(fn string) error {
	return fmt.Errorf("%w given to %s", errNoContext, fn)
}

// Sentinel errors, for use with errors.Is.
var (
	// ErrClosed: the session (or channel) was closed.
	ErrClosed = errors.New("libssh: use of closed session")
	// ErrNotConnected: the call needs a connected session.
	ErrNotConnected = errors.New("libssh: session not connected")
	// ErrNotAuthenticated: the call needs an authenticated session.
	ErrNotAuthenticated = errors.New("libssh: session not authenticated")
	// ErrRequestDenied: the server refused a request (an [*Error] whose
	// Code is ErrorCodeRequestDenied matches it).
	ErrRequestDenied = errors.New("libssh: request denied by the server")
	// ErrUnsupported: the feature needs a newer libssh than the one in use.
	ErrUnsupported = cgocallback.ErrUnsupported
	// ErrPassphrase: a private key is encrypted and the passphrase was
	// missing or wrong.
	ErrPassphrase = errors.New("libssh: wrong or missing passphrase")
	// ErrInCallback: a method was called from inside a callback (a
	// channel callback or a server's message handler), which runs with its
	// session locked; the package documentation ("Callbacks") lists what
	// may be called there.
	ErrInCallback = errors.New("libssh: called from inside a callback, which runs with its session locked: only Close and the cached state queries may be called there")
	// ErrNotExited: the remote command has not reported how it ended yet.
	ErrNotExited = errors.New("libssh: the remote command has not exited yet")
	// ErrHostKeyNotVerified: an authentication call (a Userauth method)
	// was refused, and nothing sent, because no host key policy has
	// accepted the server's key yet (see "Host keys" in the package
	// documentation).
	ErrHostKeyNotVerified = errors.New("libssh: the server's host key has not been accepted, so no authentication request is sent: " +
		"call VerifyHost first, or give NewSession WithHostKeyCallback or InsecureIgnoreHostKey")
	// ErrNoExitStatus: the channel ended without an exit status or signal
	// from the server.
	ErrNoExitStatus = errors.New("libssh: the channel ended without an exit status")
)

// ErrorCode is libssh's classification of an error (ssh_get_error_code).
type ErrorCode int

// The libssh error codes.
const (
	ErrorCodeNone          ErrorCode = lib.SSH_NO_ERROR
	ErrorCodeRequestDenied ErrorCode = lib.SSH_REQUEST_DENIED
	ErrorCodeFatal         ErrorCode = lib.SSH_FATAL
	ErrorCodeInterrupted   ErrorCode = lib.SSH_EINTR
)

// String returns the code's name.
func (c ErrorCode) String() string {
	switch c {
	case ErrorCodeNone:
		return "no error"
	case ErrorCodeRequestDenied:
		return "request denied"
	case ErrorCodeFatal:
		return "fatal"
	case ErrorCodeInterrupted:
		return "interrupted"
	}
	return "ErrorCode(" + itoa(int(c)) + ")"
}

// Error is a failed libssh call. Its Message is libssh's own text
// (ssh_get_error), copied while the session was locked.
type Error struct {
	Op      string    // what failed, such as "connect" or "userauth publickey"
	Code    ErrorCode // libssh's classification
	Message string    // libssh's message
	Err     error     // the Go error behind it, if any
}

func (e *Error) Error() string {
	if e == nil {
		return "libssh: error (nil *Error)"
	}
	op := e.Op
	if op == "" {
		op = "error"
	}
	msg := "libssh: " + op
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the Go error behind e, if any.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Is makes errors.Is(err, ErrRequestDenied) true for denied requests.
func (e *Error) Is(target error) bool {
	return e != nil && target == ErrRequestDenied && e.Code == ErrorCodeRequestDenied
}

// OpenChannelError says that the server refused to open a channel, with
// the reason code and message it sent (RFC 4254, section 5.1). It matches
// [ErrRequestDenied].
type OpenChannelError struct {
	Op      string          // what was opened, such as "open session channel"
	Reason  RejectionReason // the server's reason code
	Message string          // the server's explanation, as sent
}

// RejectionReason is the reason code of a refused channel open.
type RejectionReason uint32

// The reason codes of RFC 4254.
const (
	OpenAdministrativelyProhibited RejectionReason = 1
	OpenConnectFailed              RejectionReason = 2
	OpenUnknownChannelType         RejectionReason = 3
	OpenResourceShortage           RejectionReason = 4
)

// String returns the reason's name, such as "connect failed".
func (r RejectionReason) String() string {
	switch r {
	case OpenAdministrativelyProhibited:
		return "administratively prohibited"
	case OpenConnectFailed:
		return "connect failed"
	case OpenUnknownChannelType:
		return "unknown channel type"
	case OpenResourceShortage:
		return "resource shortage"
	}
	return "reason " + itoa(int(r))
}

func (e *OpenChannelError) Error() string {
	if e == nil {
		return "libssh: the server refused to open a channel"
	}
	op := e.Op
	if op == "" {
		op = "open channel"
	}
	msg := "libssh: " + op + ": the server refused: " + e.Reason.String()
	if e.Message != "" {
		msg += ": " + strconv.Quote(e.Message)
	}
	if hint := e.hint(); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

// hint says what most likely made the server refuse.
func (e *OpenChannelError) hint() string {
	session := strings.HasPrefix(e.Op, "open session")
	switch {
	case session && (e.Reason == OpenConnectFailed || e.Reason == OpenAdministrativelyProhibited || e.Reason == OpenResourceShortage):
		return "the server's limit of channels per connection, OpenSSH's MaxSessions, may be reached"
	case !session && e.Reason == OpenAdministrativelyProhibited:
		return "the server may not allow TCP forwarding, OpenSSH's AllowTcpForwarding"
	case !session && e.Reason == OpenConnectFailed:
		return "the server could not connect to the target"
	}
	return ""
}

// Is makes errors.Is(err, ErrRequestDenied) true.
func (e *OpenChannelError) Is(target error) bool { return target == ErrRequestDenied }

// openRefusal matches libssh's message for a refused channel open
// ("Channel opening failure: channel 3 error (2) open failed").
var openRefusal = regexp.MustCompile(`^Channel opening failure: channel \d+ error \((\d+)\) (.*)$`)

// openChannelError turns libssh's error for a refused channel open into an
// *OpenChannelError; other errors pass unchanged.
func openChannelError(err error) error {
	var e *Error
	if !errors.As(err, &e) || e.Code != ErrorCodeRequestDenied {
		return err
	}
	m := openRefusal.FindStringSubmatch(e.Message)
	if m == nil {
		return err
	}
	code, convErr := strconv.ParseUint(m[1], 10, 32)
	if convErr != nil {
		return err
	}
	return &OpenChannelError{Op: e.Op, Reason: RejectionReason(code), Message: m[2]}
}

// HostVerificationError says that the server's host key is not the one on
// file. Status tells why: unknown host, missing known_hosts file, changed
// key, only keys of another type on file, or a key revoked by an "@revoked"
// line.
type HostVerificationError struct {
	Status      KnownHosts
	Host        string
	Port        int
	Fingerprint string // of the key the server offered, "SHA256:…"
}

func (e *HostVerificationError) Error() string {
	if e == nil {
		return "libssh: host key verification failed (nil *HostVerificationError)"
	}
	var why string
	switch e.Status {
	case KnownHostsUnknown:
		why = "the host is not in known_hosts"
	case KnownHostsNotFound:
		why = "the known_hosts file does not exist"
	case KnownHostsChanged:
		why = "the host key has changed: someone may be intercepting the connection"
	case KnownHostsOther:
		why = "known_hosts has a key of another type for this host: someone may be intercepting the connection"
	case KnownHostsRevoked:
		why = "the host key is revoked in known_hosts"
	default:
		why = "known_hosts check: " + e.Status.String()
	}
	return fmt.Sprintf("libssh: host key verification failed for %s (%s): %s", hostPort(e.Host, e.Port), e.Fingerprint, why)
}

// hostPort formats host and port the way known_hosts keys them.
func hostPort(host string, port int) string {
	if port == 0 || port == 22 {
		return host
	}
	return fmt.Sprintf("[%s]:%d", host, port)
}

// passphraseError is an ErrPassphrase with a precise message.
type passphraseError string

func (e passphraseError) Error() string        { return string(e) }
func (e passphraseError) Is(target error) bool { return target == ErrPassphrase }

// ExitSignalError says that the remote command was killed by a signal.
type ExitSignalError struct {
	Signal     string // without "SIG", such as "TERM"
	CoreDumped bool
	Message    string // the server's explanation, often empty
	Lang       string // the language tag of Message
}

func (e *ExitSignalError) Error() string {
	if e == nil || e.Signal == "" {
		return "libssh: remote command killed by a signal"
	}
	msg := "libssh: remote command killed by signal " + e.Signal
	if e.CoreDumped {
		msg += " (core dumped)"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Errors of remote commands ([Cmd]).
var (
	// ErrProcessDone: a signal was sent to a command whose Wait has
	// returned.
	ErrProcessDone = errors.New("libssh: the remote command has finished")
	// ErrWaitDelay: Wait gave up waiting for the copying of Cmd.Stdin
	// after Cmd.WaitDelay, or for the command's end after the context was
	// done and WaitDelay passed.
	ErrWaitDelay = errors.New("libssh: Cmd.WaitDelay expired before the I/O of the remote command finished")
)

// ExitError says that a remote command did not succeed: it exited with a
// status other than 0, or was killed by a signal. The embedded [Process]
// tells how it ended ([Process.ExitCode], [Process.Signal]) and holds its
// collected standard error, if [Cmd.Stderr] was nil. A zero ExitError (no
// Process) reads as a command that was not started. As with
// [os/exec.ExitError], the Process methods need a non-nil *ExitError.
type ExitError struct {
	*Process
}

func (e *ExitError) Error() string {
	if e == nil {
		return "libssh: remote command failed"
	}
	return "libssh: remote command failed: " + e.Process.String()
}

// Unwrap returns the [*ExitSignalError] of a command killed by a signal,
// so that errors.As finds it; nil otherwise.
func (e *ExitError) Unwrap() error {
	if e == nil || e.Process == nil || e.signal == nil {
		return nil
	}
	return e.signal
}

// ExitMissingError says that the server closed a remote command's channel
// without reporting an exit status or signal. It matches
// [ErrNoExitStatus].
type ExitMissingError struct {
	*Process
}

func (e *ExitMissingError) Error() string {
	return "libssh: remote command ended without an exit status: the server closed the channel without reporting one"
}

// Is makes errors.Is(err, ErrNoExitStatus) true.
func (e *ExitMissingError) Is(target error) bool { return target == ErrNoExitStatus }
