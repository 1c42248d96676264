package libssh_test

// Misuse of the exported types of process.go, forwarder.go, errors.go,
// listen.go (RemoteListener), key.go, hostkey.go (PublicKey), server.go
// (ServerMessage) and sshtest.Server: zero values, nil receivers and nil arguments give an
// error or a zero result, never a panic.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

// noPanic runs f and fails the test, naming what, if f panics; the other
// probes still run.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
		}
	}()
	f()
}

// errLower asserts that err is a libssh (or sshtest) error whose message
// starts lower-case, or with the name of what was called.
func errLower(t *testing.T, what string, err error) {
	t.Helper()
	if !assert.Error(t, err, what) {
		return
	}
	msg := err.Error()
	prefix, rest, _ := strings.Cut(msg, ": ")
	assert.Contains(t, []string{"libssh", "sshtest"}, prefix, "%s: %q", what, msg)
	if rest == "" {
		t.Errorf("%s: %q says nothing after its prefix", what, msg)
		return
	}
	first, _, _ := strings.Cut(rest, " ")
	first = strings.TrimSuffix(first, ":")
	if identifiers[first] {
		return
	}
	assert.Equal(t, strings.ToLower(rest[:1]), rest[:1], "%s: %q starts with a capital", what, msg)
}

// identifiers are the names an error message may start with.
var identifiers = map[string]bool{
	"Wait": true, "Close": true, "CommandContext": true, "CommandLineContext": true,
	"AuthenticateCLI": true, "Authenticate": true, "DialContext": true,
	"NewForwarder": true, "WithForwarder": true, "Stdout": true,
	"AcceptSession": true, "AcceptChannel": true, "SetAuthMethods": true,
	"ReplyAuthSuccess": true, "ReplyPublicKeyOK": true, "ReplyKbdint": true,
	"MAC": true, "ReplyForwardSuccess": true, "AcceptContext": true,
}

func TestMisuseNilAndZeroCmd(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]*libssh.Cmd{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			noPanic(t, "Run", func() { errLower(t, "Run", c.Run()) })
			noPanic(t, "Start", func() { errLower(t, "Start", c.Start()) })
			noPanic(t, "Wait", func() { errLower(t, "Wait", c.Wait()) })
			noPanic(t, "Output", func() { _, err := c.Output(); errLower(t, "Output", err) })
			noPanic(t, "CombinedOutput", func() { _, err := c.CombinedOutput(); errLower(t, "CombinedOutput", err) })
			noPanic(t, "Success", func() {
				ok, err := c.Success()
				assert.False(t, ok)
				errLower(t, "Success", err)
			})
			noPanic(t, "String", func() { assert.Empty(t, c.String()) })
		})
	}
	noPanic(t, "nil Cmd pipes", func() {
		var c *libssh.Cmd
		_, err := c.StdinPipe()
		errLower(t, "StdinPipe", err)
		_, err = c.StdoutPipe()
		errLower(t, "StdoutPipe", err)
		_, err = c.StderrPipe()
		errLower(t, "StderrPipe", err)
	})
	noPanic(t, "Cmd of a nil Session", func() {
		var s *libssh.Session
		recv(t, s.Done(), time.Second)
		assert.ErrorIs(t, s.Err(), libssh.ErrClosed)
		recv(t, (&libssh.Session{}).Done(), time.Second)
		assert.ErrorIs(t, (&libssh.Session{}).Err(), libssh.ErrClosed)
		errLower(t, "Command", s.Command("true").Run())
		errLower(t, "CommandLine", s.CommandLine("true").Run())
		errLower(t, "CommandContext", s.CommandContext(context.Background(), "true").Run())
		errLower(t, "CommandLineContext", s.CommandLineContext(context.Background(), "true").Run())
		errLower(t, "Shell", s.Shell().Run())
		errLower(t, "ShellContext", s.ShellContext(context.Background()).Run())
	})
}

func TestMisuseNilAndZeroProcess(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]*libssh.Process{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			noPanic(t, "state", func() {
				assert.False(t, p.Exited())
				assert.Equal(t, -1, p.ExitCode())
				assert.False(t, p.Success())
				assert.Empty(t, p.Signal())
				assert.False(t, p.CoreDumped())
				assert.Nil(t, p.Stdout())
				assert.Nil(t, p.Stderr())
				assert.Equal(t, "not started", p.String())
			})
			noPanic(t, "SendSignal", func() { errLower(t, "SendSignal", p.SendSignal("TERM")) })
			noPanic(t, "Kill", func() { errLower(t, "Kill", p.Kill()) })
			noPanic(t, "Resize", func() { errLower(t, "Resize", p.Resize(80, 24)) })
		})
	}
}

func TestMisuseNilAndZeroErrors(t *testing.T) {
	t.Parallel()
	noPanic(t, "zero ExitError", func() {
		e := &libssh.ExitError{}
		errLower(t, "Error", e)
		assert.Nil(t, e.Unwrap())
		var sig *libssh.ExitSignalError
		assert.False(t, errors.As(e, &sig), "a zero ExitError holds no signal")
		var exit *libssh.ExitError
		require.True(t, errors.As(fmt.Errorf("wrapped: %w", e), &exit))
		assert.Equal(t, -1, exit.ExitCode())
		assert.Empty(t, exit.Signal())
		assert.Nil(t, exit.Stderr())
	})
	noPanic(t, "nil ExitError", func() {
		// Its own methods; the promoted Process methods need the
		// ExitError itself, as with os/exec.ExitError.
		var e *libssh.ExitError
		assert.NotEmpty(t, e.Error())
		assert.Nil(t, e.Unwrap())
	})
	noPanic(t, "ExitSignalError", func() {
		var nilSig *libssh.ExitSignalError
		assert.NotEmpty(t, nilSig.Error())
		errLower(t, "zero ExitSignalError", &libssh.ExitSignalError{})
	})
	noPanic(t, "ExitMissingError", func() {
		var nilMissing *libssh.ExitMissingError
		assert.NotEmpty(t, nilMissing.Error())
		assert.True(t, nilMissing.Is(libssh.ErrNoExitStatus))
		zero := &libssh.ExitMissingError{}
		errLower(t, "zero ExitMissingError", zero)
		assert.ErrorIs(t, zero, libssh.ErrNoExitStatus)
		assert.Equal(t, -1, zero.ExitCode())
		assert.Equal(t, "not started", zero.String())
	})
	noPanic(t, "Error", func() {
		var e *libssh.Error
		assert.NotEmpty(t, e.Error())
		assert.Nil(t, e.Unwrap())
		assert.False(t, e.Is(libssh.ErrRequestDenied))
		errLower(t, "zero Error", &libssh.Error{})
	})
	noPanic(t, "AlgorithmError", func() {
		var e *libssh.AlgorithmError
		assert.NotEmpty(t, e.Error())
		errLower(t, "zero AlgorithmError", &libssh.AlgorithmError{})
	})
	noPanic(t, "HostVerificationError", func() {
		var e *libssh.HostVerificationError
		assert.NotEmpty(t, e.Error())
		errLower(t, "zero HostVerificationError", &libssh.HostVerificationError{})
	})
}

func TestMisuseNilAndZeroForwarder(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]*libssh.Forwarder{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			noPanic(t, "LocalAddr", func() { assert.Nil(t, f.LocalAddr()) })
			noPanic(t, "Clients", func() { assert.Zero(t, f.Clients()) })
			noPanic(t, "Done", func() {
				select {
				case <-f.Done():
				case <-testCtx(t, 5*time.Second).Done():
					t.Error("Done of a forwarder that never served is not closed")
				}
			})
			noPanic(t, "Close", func() { errLower(t, "Close", f.Close()) })
		})
	}
}

func TestMisuseNilAndZeroRemoteListener(t *testing.T) {
	t.Parallel()
	for name, l := range map[string]*libssh.RemoteListener{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			noPanic(t, "Addr", func() { assert.Nil(t, l.Addr()) })
			noPanic(t, "Accept", func() {
				c, err := l.Accept()
				assert.Nil(t, c)
				errLower(t, "Accept", err)
			})
			noPanic(t, "AcceptContext", func() {
				c, err := l.AcceptContext(context.Background())
				assert.Nil(t, c)
				errLower(t, "AcceptContext", err)
			})
			noPanic(t, "Close", func() { errLower(t, "Close", l.Close()) })
		})
	}
}

func TestMisuseNilAndZeroKeys(t *testing.T) {
	t.Parallel()
	for name, k := range map[string]*libssh.PrivateKey{"nil": nil, "zero": {}} {
		t.Run("PrivateKey "+name, func(t *testing.T) {
			noPanic(t, "PublicKey", func() {
				pk, err := k.PublicKey()
				assert.Nil(t, pk)
				errLower(t, "PublicKey", err)
			})
			noPanic(t, "Close", func() { errLower(t, "Close", k.Close()) })
		})
	}
	for name, k := range map[string]*libssh.PublicKey{"nil": nil, "zero": {}} {
		t.Run("PublicKey "+name, func(t *testing.T) {
			noPanic(t, "getters", func() {
				assert.Empty(t, k.Type())
				assert.Empty(t, k.Fingerprint())
				assert.Empty(t, k.Hexa())
				assert.Empty(t, k.Base64())
				assert.Empty(t, k.String())
				assert.False(t, k.Equal(k), "a key that is no key equals nothing")
				assert.False(t, k.Equal(&libssh.PublicKey{}))
			})
		})
	}
}

func TestMisuseNilAndZeroServerMessage(t *testing.T) {
	t.Parallel()
	for name, m := range map[string]*libssh.ServerMessage{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			noPanic(t, "methods", func() { assertNoMessage(t, m) })
		})
	}
}

// assertNoMessage checks that m holds no message (nil, zero, or used after
// its handler call): zero values and errors.
func assertNoMessage(t *testing.T, m *libssh.ServerMessage) {
	t.Helper()
	assert.True(t, m.Lib().IsNil())
	assert.True(t, m.LibSession().IsNil())
	assert.Empty(t, m.Type())
	assert.Zero(t, m.AuthMethod())
	assert.Empty(t, m.User())
	assert.Empty(t, m.Password())
	k, probe, verified := m.PublicKey()
	assert.True(t, k == nil && !probe && !verified)
	answers, response := m.KbdintAnswers()
	assert.True(t, answers == nil && !response)
	assert.Empty(t, m.ChannelType())
	host, port := m.Destination()
	assert.True(t, host == "" && port == 0)
	host, port = m.Originator()
	assert.True(t, host == "" && port == 0)
	assert.Empty(t, m.RequestType())
	kind, addr, port := m.ForwardRequest()
	assert.True(t, kind == "" && addr == "" && port == 0)
	errLower(t, "ReplyForwardSuccess", m.ReplyForwardSuccess(0))
	errLower(t, "SetAuthMethods", m.SetAuthMethods(libssh.AuthMethodPassword))
	errLower(t, "ReplyAuthSuccess", m.ReplyAuthSuccess())
	errLower(t, "ReplyPublicKeyOK", m.ReplyPublicKeyOK())
	errLower(t, "ReplyKbdint", m.ReplyKbdint(libssh.KbdintRound{}))
	ch, err := m.AcceptChannel(nil)
	assert.Nil(t, ch)
	errLower(t, "AcceptChannel", err)
}

func TestMisuseNilSSHTestServer(t *testing.T) {
	t.Parallel()
	var srv *sshtest.Server
	noPanic(t, "getters", func() {
		assert.Empty(t, srv.Addr())
		assert.Empty(t, srv.Host())
		assert.Zero(t, srv.Port())
		assert.Nil(t, srv.HostKey())
		assert.Empty(t, srv.KnownHostsLine())
		assert.Empty(t, srv.KnownHostsFile())
		assert.Zero(t, srv.Accepted())
	})
	noPanic(t, "Close", func() { errLower(t, "Close", srv.Close()) })
}

// TestMisuseNilArguments: nil contexts, sessions, readers and writers give
// errors that say which argument was nil.
func TestMisuseNilArguments(t *testing.T) {
	t.Parallel()
	var nilCtx context.Context
	ctx := testCtx(t, 30*time.Second)
	s := connectSSHTest(t, newSSHTest(t, sshtest.Options{Password: sshtestPassword, Forwarding: true}))

	noPanic(t, "AuthenticateCLI with nil reader and writer", func() {
		errLower(t, "AuthenticateCLI", s.AuthenticateCLI(ctx, nil, nil))
	})
	noPanic(t, "AuthenticateCLI with a nil writer", func() {
		errLower(t, "AuthenticateCLI", s.AuthenticateCLI(ctx, strings.NewReader("yes\n"), nil))
	})
	noPanic(t, "AuthenticateCLI with a nil context", func() {
		errLower(t, "AuthenticateCLI", s.AuthenticateCLI(nilCtx, strings.NewReader(""), io.Discard))
	})
	noPanic(t, "AuthenticateCLI of a nil session", func() {
		var nilS *libssh.Session
		errLower(t, "AuthenticateCLI", nilS.AuthenticateCLI(ctx, strings.NewReader(""), io.Discard))
	})
	noPanic(t, "Authenticate with a nil context", func() {
		_, err := s.Authenticate(nilCtx, libssh.AuthOptions{Password: sshtestPassword})
		errLower(t, "Authenticate", err)
	})
	noPanic(t, "Authenticate of a nil or zero session", func() {
		var nilS *libssh.Session
		_, err := nilS.Authenticate(ctx, libssh.AuthOptions{Password: "x"})
		errLower(t, "nil Authenticate", err)
		_, err = (&libssh.Session{}).Authenticate(ctx, libssh.AuthOptions{Password: "x"})
		errLower(t, "zero Authenticate", err)
	})
	status, err := s.UserauthPassword(ctx, sshtestPassword)
	require.NoError(t, err)
	require.Equal(t, libssh.AuthSuccess, status)

	noPanic(t, "CommandContext with a nil context", func() {
		cmd := s.CommandContext(nilCtx, "true")
		err := cmd.Run()
		errLower(t, "CommandContext Run", err)
		assert.ErrorContains(t, err, "nil context")
		assert.Nil(t, cmd.Process, "nothing started")
	})
	noPanic(t, "CommandLineContext with a nil context", func() {
		errLower(t, "CommandLineContext Start", s.CommandLineContext(nilCtx, "true").Start())
	})
	noPanic(t, "DialContext with a nil context", func() {
		conn, err := s.DialContext(nilCtx, "tcp", "127.0.0.1:1")
		assert.Nil(t, conn)
		errLower(t, "DialContext", err)
	})
	noPanic(t, "DialContext of a nil session", func() {
		var nilS *libssh.Session
		conn, err := nilS.DialContext(ctx, "tcp", "127.0.0.1:1")
		assert.Nil(t, conn)
		errLower(t, "DialContext", err)
	})
	noop := func(*libssh.Forwarder) error { return nil }
	forwarders := map[string]func() (*libssh.Forwarder, error){
		"nil context": func() (*libssh.Forwarder, error) { return libssh.NewForwarder(nilCtx, s, 0, "127.0.0.1", 1) },
		"nil session": func() (*libssh.Forwarder, error) { return libssh.NewForwarder(ctx, nil, 0, "127.0.0.1", 1) },
		"zero session": func() (*libssh.Forwarder, error) {
			return libssh.NewForwarder(ctx, &libssh.Session{}, 0, "127.0.0.1", 1)
		},
	}
	for what, newF := range forwarders {
		noPanic(t, "NewForwarder with a "+what, func() {
			f, err := newF()
			assert.Nil(t, f)
			errLower(t, "NewForwarder with a "+what, err)
		})
	}
	noPanic(t, "WithForwarder with nil arguments", func() {
		errLower(t, "nil context", libssh.WithForwarder(nilCtx, s, 0, "127.0.0.1", 1, noop))
		errLower(t, "nil session", libssh.WithForwarder(ctx, nil, 0, "127.0.0.1", 1, noop))
		errLower(t, "nil function", libssh.WithForwarder(ctx, s, 0, "127.0.0.1", 1, nil))
	})
}

// TestMisuseDialFailureIsUntypedNil: a failed DialContext returns a nil
// net.Conn, so that the usual "if conn != nil { conn.Close() }" holds.
func TestMisuseDialFailureIsUntypedNil(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{}) // no forwarding: the open is refused
	ctx := testCtx(t, 30*time.Second)
	var conn net.Conn
	var err error
	conn, err = s.DialContext(ctx, "tcp", "127.0.0.1:1")
	require.Error(t, err)
	noPanic(t, "closing the conn of a failed dial", func() {
		if conn != nil {
			conn.Close()
		}
	})
	assert.True(t, conn == nil, "DialContext returned a %T holding nil", conn)

	conn, err = s.DialContext(ctx, "udp", "127.0.0.1:1")
	require.Error(t, err)
	assert.True(t, conn == nil)
}
