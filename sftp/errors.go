package sftp

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/golibssh/libssh"
	pkgsftp "github.com/pkg/sftp"
)

// StatusError is a status the server answered a request with (SSH_FXP_STATUS):
// pkg/sftp's error, with the standard error it stands for. errors.Is
// matches fs.ErrNotExist for SSH_FX_NO_SUCH_FILE, fs.ErrPermission for
// SSH_FX_PERMISSION_DENIED, fs.ErrExist when the path exists where the call
// needed it not to (SFTP version 3 says only SSH_FX_FAILURE then: the client
// checks), errors.ErrUnsupported for SSH_FX_OP_UNSUPPORTED; errors.As finds
// the *pkgsftp.StatusError with the code (and the server's message, except
// for the answers Upload and Download read on channels of their own:
// pkg/sftp's type cannot be given one from outside, and Error then says
// it).
type StatusError struct {
	Status *pkgsftp.StatusError // the server's answer
	Is     error                // the standard error it matches, or nil
	msg    string               // the server's message, when this package read the answer (Status then has only the code)
}

func (e *StatusError) Error() string {
	if e == nil || e.Status == nil {
		return "sftp: status error"
	}
	if e.msg != "" {
		return fmt.Sprintf("sftp: %q (%s)", e.msg, fxName(e.Status.Code))
	}
	return e.Status.Error()
}

// statusErr is the StatusError of an answer this package read itself
// (Download's and Upload's own paths).
func statusErr(code uint32, msg string) *StatusError {
	se := &pkgsftp.StatusError{Code: code}
	return &StatusError{Status: se, Is: statusIs(se, msg), msg: msg}
}

// fxNames are the status codes' names, as pkg/sftp prints them.
var fxNames = [...]string{"SSH_FX_OK", "SSH_FX_EOF", "SSH_FX_NO_SUCH_FILE", "SSH_FX_PERMISSION_DENIED",
	"SSH_FX_FAILURE", "SSH_FX_BAD_MESSAGE", "SSH_FX_NO_CONNECTION", "SSH_FX_CONNECTION_LOST",
	"SSH_FX_OP_UNSUPPORTED"}

// fxName is the name of a status code.
func fxName(code uint32) string {
	if int(code) < len(fxNames) {
		return fxNames[code]
	}
	return fmt.Sprintf("status %d", code)
}

// statusIs is the standard error the status se with the message msg
// matches, or nil.
func statusIs(se *pkgsftp.StatusError, msg string) error {
	switch se.FxCode() {
	case pkgsftp.ErrSSHFxNoSuchFile:
		return fs.ErrNotExist
	case pkgsftp.ErrSSHFxPermissionDenied:
		return fs.ErrPermission
	case pkgsftp.ErrSSHFxOpUnsupported:
		return errors.ErrUnsupported
	case pkgsftp.ErrSSHFxConnectionLost, pkgsftp.ErrSSHFxNoConnection:
		return ErrClosed
	case pkgsftp.ErrSSHFxFailure:
		if strings.Contains(strings.ToLower(msg), "file exists") {
			return fs.ErrExist
		}
	}
	return nil
}

// Unwrap returns the status and the standard error.
func (e *StatusError) Unwrap() []error {
	if e == nil {
		return nil
	}
	var errs []error
	if e.Status != nil {
		errs = append(errs, e.Status)
	}
	if e.Is != nil {
		errs = append(errs, e.Is)
	}
	return errs
}

// ErrClosed is what the calls of a client return (wrapped) once it or its
// session was closed, or the server ended the subsystem. It is
// libssh.ErrClosed.
var ErrClosed = libssh.ErrClosed

// errConnLost wraps pkg/sftp's "connection lost" so that it matches
// ErrClosed.
type errConnLost struct{ err error }

func (e errConnLost) Error() string   { return "sftp: connection lost: " + e.err.Error() }
func (e errConnLost) Unwrap() []error { return []error{e.err, ErrClosed} }

// mapErr turns what pkg/sftp returns into an error that the standard
// sentinels match. io.EOF stays io.EOF.
func mapErr(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if errors.As(err, new(*StatusError)) {
		return err // mapped already
	}
	var se *pkgsftp.StatusError
	if errors.As(err, &se) {
		return &StatusError{Status: se, Is: statusIs(se, se.Error())}
	}
	if errors.Is(err, pkgsftp.ErrSSHFxConnectionLost) || errors.Is(err, io.ErrClosedPipe) {
		if !errors.Is(err, ErrClosed) {
			return errConnLost{err}
		}
	}
	return err
}

// pathErr is mapErr's error in an *fs.PathError, as package os reports.
func pathErr(op, path string, err error) error {
	err = mapErr(err)
	if err == nil || err == io.EOF {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}

// existErr makes err match fs.ErrExist: the call failed because path
// exists.
func existErr(err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) || errors.Is(err, fs.ErrExist) {
		return err
	}
	var se *StatusError
	if errors.As(pe.Err, &se) && se.Is == nil {
		se.Is = fs.ErrExist
		return err
	}
	pe.Err = errors.Join(pe.Err, fs.ErrExist)
	return err
}
