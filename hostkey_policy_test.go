package libssh_test

// Fail closed: no authentication request leaves before a host key policy
// accepted the server's key, whatever the credential; and what each policy
// accepts. "Nothing was sent" is read from the server's side: sshd's log
// (its "userauth-request ... method M" line, LogLevel DEBUG1) and sshtest's
// AuthRequests count.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/internal/testbound"
	"github.com/golibssh/libssh/sshtest"
)

// userauthRequest is how sshd logs an authentication request of method m.
func userauthRequest(m string) string { return "service ssh-connection method " + m }

// credential is one Userauth call that sends something to the server.
type credential struct {
	name   string
	method string // the method as sshd logs it
	opts   func(t *testing.T) []libssh.Option
	call   func(ctx context.Context, s *libssh.Session) error
}

func status(_ libssh.AuthStatus, err error) error { return err }

// credentials are every Userauth call, each with what it needs: an agent,
// an ssh directory, a Kerberos ticket (gssapiEnv must have been called).
func credentials() []credential {
	none := func(*testing.T) []libssh.Option { return nil }
	key := sshdtest.Keys("id_ed25519")
	gssapi := func(delegate bool) func(*testing.T) []libssh.Option {
		return func(*testing.T) []libssh.Option {
			return []libssh.Option{libssh.WithGSSAPIServerIdentity("sshd.test"), libssh.WithGSSAPIDelegateCredentials(delegate)}
		}
	}
	return []credential{
		{"none", "none", none, func(ctx context.Context, s *libssh.Session) error { return status(s.UserauthNone(ctx)) }},
		{"list", "none", none, func(ctx context.Context, s *libssh.Session) error { _, err := s.UserauthList(ctx); return err }},
		{"password", "password", none, func(ctx context.Context, s *libssh.Session) error {
			return status(s.UserauthPassword(ctx, "a password"))
		}},
		{"kbdint", "keyboard-interactive", none, func(ctx context.Context, s *libssh.Session) error {
			return status(s.UserauthKbdint(ctx))
		}},
		{"public key file", "publickey", none, func(ctx context.Context, s *libssh.Session) error {
			return status(s.UserauthPublicKeyFile(ctx, key, ""))
		}},
		{"private key", "publickey", none, func(ctx context.Context, s *libssh.Session) error {
			k, err := libssh.ParsePrivateKeyFile(key, "")
			if err != nil {
				return err
			}
			defer k.Close()
			return status(s.UserauthPublicKey(ctx, k))
		}},
		{"agent", "publickey", func(t *testing.T) []libssh.Option {
			return []libssh.Option{libssh.WithAgentSocket(sshdtest.StartAgent(t, key))}
		}, func(ctx context.Context, s *libssh.Session) error { return status(s.UserauthAgent(ctx)) }},
		{"auto", "publickey", func(t *testing.T) []libssh.Option { return identitiesOnly(t, "id_ed25519") },
			func(ctx context.Context, s *libssh.Session) error { return status(s.UserauthPublicKeyAuto(ctx, "")) }},
		{"gssapi", "gssapi-with-mic", gssapi(false), func(ctx context.Context, s *libssh.Session) error {
			return status(s.UserauthGSSAPI(ctx))
		}},
		{"gssapi delegating", "gssapi-with-mic", gssapi(true), func(ctx context.Context, s *libssh.Session) error {
			return status(s.UserauthGSSAPI(ctx))
		}},
	}
}

// gssapiEnv starts a KDC, gives the current user a ticket in this test's
// environment, and returns the sshd options that accept it for
// host/sshd.test. The test cannot be parallel (t.Setenv).
func gssapiEnv(t *testing.T) *sshdtest.GSSAPIOptions {
	kdc := sshdtest.NewKDC(t)
	u := currentUser(t)
	require.NoError(t, kdc.AddPrincipal(u, "kerberos-password"))
	require.NoError(t, kdc.AddServicePrincipal("host/sshd.test"))
	keytab := filepath.Join(t.TempDir(), "sshd.keytab")
	require.NoError(t, kdc.Keytab(keytab, "host/sshd.test"))
	for _, kv := range kdc.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ccache := filepath.Join(t.TempDir(), "ccache")
	require.NoError(t, kdc.Kinit(u, "kerberos-password", ccache))
	t.Setenv("KRB5CCNAME", "FILE:"+ccache)
	return &sshdtest.GSSAPIOptions{Keytab: keytab, Env: kdc.Env()}
}

// wrongKnownHosts are the known_hosts files, as lines for a server, that
// must not let anything through, and the state VerifyHost reports for each.
func wrongKnownHosts(t *testing.T) []struct {
	name  string
	lines func(srv *sshdtest.Server) []string
	state libssh.KnownHosts
} {
	other := pubKeyBlob(t, sshdtest.Keys("other_ed25519.pub"))
	return []struct {
		name  string
		lines func(srv *sshdtest.Server) []string
		state libssh.KnownHosts
	}{
		{"unknown", func(*sshdtest.Server) []string { return []string{"some.other.host ssh-ed25519 " + other} }, libssh.KnownHostsUnknown},
		{"changed", func(*sshdtest.Server) []string { return []string{pipeHost + " ssh-ed25519 " + other} }, libssh.KnownHostsChanged},
		{"revoked", func(srv *sshdtest.Server) []string {
			// Known, and revoked for every host: revoked wins.
			line := srv.KnownHostsLine(pipeHost, "ed25519")
			_, key, _ := strings.Cut(line, " ")
			return []string{line, "@revoked * " + key}
		}, libssh.KnownHostsRevoked},
	}
}

// TestNothingSentBeforeTheHostKeyIsAccepted: for each credential, against
// sshd whose key known_hosts does not know or knows as another, the call is
// refused with ErrHostKeyNotVerified and sshd receives no request. The
// session then learns the right key, and a "none" request (or, for the
// "none" calls, a password one) makes sure sshd has logged whatever came
// before it: nothing of the refused method. The refused call is made again
// last, to show that the log does show it once it is sent.
//
// Not parallel: the GSSAPI credentials need a Kerberos ticket in the
// environment.
func TestNothingSentBeforeTheHostKeyIsAccepted(t *testing.T) {
	gss := gssapiEnv(t)
	for _, c := range credentials() {
		t.Run(c.name, func(t *testing.T) {
			for _, wrong := range wrongKnownHosts(t) {
				t.Run(wrong.name, func(t *testing.T) {
					srv := sshdtest.New(t, sshdtest.Options{GSSAPI: gss})
					kh := writeKnownHosts(t, wrong.lines(srv)...)
					s := connectPipeSession(t, srv, append(c.opts(t), libssh.WithKnownHosts(kh), libssh.WithGlobalKnownHosts(os.DevNull))...)
					ctx := testCtx(t, 30*time.Second)

					var hv *libssh.HostVerificationError
					require.ErrorAs(t, s.VerifyHost(), &hv)
					assert.Equal(t, wrong.state, hv.Status)
					err := c.call(ctx, s)
					require.ErrorIs(t, err, libssh.ErrHostKeyNotVerified)
					assert.Contains(t, err.Error(), "call VerifyHost first, or give NewSession WithHostKeyCallback or InsecureIgnoreHostKey")

					// The barrier: the right key, then a request sshd logs.
					require.NoError(t, os.WriteFile(kh, []byte(srv.KnownHostsLine(pipeHost, "ed25519")+"\n"), 0o600))
					require.NoError(t, s.VerifyHost())
					barrier := "none"
					if c.method == "none" {
						barrier = "password"
						require.NoError(t, status(s.UserauthPassword(ctx, "a password")))
					} else {
						require.NoError(t, status(s.UserauthNone(ctx)))
					}
					require.NoError(t, srv.WaitLog(ctx, userauthRequest(barrier)))
					log := srv.Log()
					assert.Equal(t, 1, strings.Count(log, "userauth-request for user"), "only the barrier's request reached sshd:\n%s", log)
					assert.NotContains(t, log, userauthRequest(c.method))

					// The control: sent now, and logged.
					require.NoError(t, c.call(ctx, s))
					require.NoError(t, srv.WaitLog(ctx, userauthRequest(c.method)))
				})
			}
		})
	}
}

// TestNothingSentToSSHTestBeforeTheHostKeyIsAccepted: the same against
// sshtest, whose AuthRequests counts what arrives. It covers the
// keyboard-interactive answers too: a round started while the key was
// accepted, a VerifyHost that then fails (known_hosts changed meanwhile)
// withdraws the acceptance, and the answers are not sent.
func TestNothingSentToSSHTestBeforeTheHostKeyIsAccepted(t *testing.T) {
	t.Parallel()
	round := []sshtest.Round{{Prompts: []sshtest.Prompt{{Text: "Code: ", Answer: "42"}}}}
	pub := publicKeyOfFile(t, "id_ed25519")
	srv := newSSHTest(t, sshtest.Options{Password: "pw", KeyboardInteractive: round, AuthorizedKeys: []*libssh.PublicKey{pub}})
	other := newSSHTest(t, sshtest.Options{AuthNone: true})
	right := srv.KnownHostsLine()
	changed := strings.Replace(other.KnownHostsLine(), strconv.Itoa(other.Port()), strconv.Itoa(srv.Port()), 1)
	calls := map[string]func(ctx context.Context, s *libssh.Session) error{
		"password": func(ctx context.Context, s *libssh.Session) error { return status(s.UserauthPassword(ctx, "pw")) },
		"kbdint":   func(ctx context.Context, s *libssh.Session) error { return status(s.UserauthKbdint(ctx)) },
		"public key file": func(ctx context.Context, s *libssh.Session) error {
			return status(s.UserauthPublicKeyFile(ctx, sshdtest.Keys("id_ed25519"), ""))
		},
	}
	for name, call := range calls {
		for state, line := range map[libssh.KnownHosts]string{libssh.KnownHostsUnknown: "", libssh.KnownHostsChanged: changed} {
			t.Run(name+"/"+state.String(), func(t *testing.T) {
				kh := writeKnownHosts(t, line)
				ctx := testCtx(t, 30*time.Second)
				s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()), libssh.WithKnownHosts(kh))
				require.NoError(t, err)
				defer s.Close()
				before := srv.AuthRequests()
				var hv *libssh.HostVerificationError
				require.ErrorAs(t, s.VerifyHost(), &hv)
				assert.Equal(t, state, hv.Status)
				require.ErrorIs(t, call(ctx, s), libssh.ErrHostKeyNotVerified)

				require.NoError(t, os.WriteFile(kh, []byte(right+"\n"), 0o600))
				require.NoError(t, s.VerifyHost())
				require.NoError(t, status(s.UserauthNone(ctx)))
				assert.Equal(t, before+1, srv.AuthRequests(), "only the barrier's request arrived")
				require.NoError(t, call(ctx, s))
				assert.Equal(t, before+2, srv.AuthRequests(), "the control arrived")
			})
		}
	}

	t.Run("kbdint answers", func(t *testing.T) {
		kh := writeKnownHosts(t, right)
		s := connectSSHTest(t, srv, libssh.WithKnownHosts(kh))
		ctx := testCtx(t, 30*time.Second)
		st, err := s.UserauthKbdint(ctx)
		require.NoError(t, err)
		require.Equal(t, libssh.AuthInfo, st)
		require.NoError(t, s.UserauthKbdintSetAnswers([]string{"42"}))
		before := srv.AuthRequests()

		require.NoError(t, os.WriteFile(kh, []byte(changed+"\n"), 0o600))
		var hv *libssh.HostVerificationError
		require.ErrorAs(t, s.VerifyHost(), &hv)
		require.Equal(t, libssh.KnownHostsChanged, hv.Status)
		_, err = s.UserauthKbdint(ctx)
		require.ErrorIs(t, err, libssh.ErrHostKeyNotVerified, "a failed VerifyHost withdraws the acceptance")

		require.NoError(t, os.WriteFile(kh, []byte(right+"\n"), 0o600))
		require.NoError(t, s.VerifyHost())
		st, err = s.UserauthKbdint(ctx) // the answers, now
		require.NoError(t, err)
		assert.Equal(t, libssh.AuthSuccess, st)
		assert.Equal(t, before+1, srv.AuthRequests(), "the answers went once, after the key was accepted again")
	})
}

// TestHostKeyCallback: the callback gets "host:port" and the key the server
// proved it holds; nil logs in without VerifyHost, which then does not ask
// the callback again; an error fails NewSession after closing the
// connection, and sshd receives no authentication request.
func TestHostKeyCallback(t *testing.T) {
	t.Parallel()
	t.Run("accepts", func(t *testing.T) {
		t.Parallel()
		srv := sshdtest.New(t, sshdtest.Options{})
		host, port := splitHostPort(t, srv.Listen(t))
		var calls atomic.Int32
		var got *libssh.PublicKey
		s := connectListenSession(t, srv, libssh.WithHostKeyCallback(func(addr string, key *libssh.PublicKey) error {
			calls.Add(1)
			assert.Equal(t, host+":"+strconv.Itoa(port), addr)
			got = key
			return nil
		}))
		require.EqualValues(t, 1, calls.Load())
		want, err := s.ServerPublicKey()
		require.NoError(t, err)
		assert.True(t, want.Equal(got), "the callback got the server's key")
		authenticate(t, s) // no VerifyHost
		require.NoError(t, s.VerifyHost())
		assert.EqualValues(t, 1, calls.Load(), "VerifyHost does not ask again for the accepted key")
		state, err := s.IsKnownServer()
		require.NoError(t, err)
		assert.Equal(t, libssh.KnownHostsNotFound, state, "IsKnownServer still reports known_hosts")
	})

	t.Run("pipe host", func(t *testing.T) {
		t.Parallel()
		srv := sshdtest.New(t, sshdtest.Options{})
		var addr string
		s := connectPipeSession(t, srv, libssh.WithHostKeyCallback(func(a string, _ *libssh.PublicKey) error {
			addr = a
			return nil
		}))
		assert.Equal(t, "sshd.test:22", addr)
		authenticate(t, s)
	})

	t.Run("refuses", func(t *testing.T) {
		t.Parallel()
		srv := sshdtest.New(t, sshdtest.Options{})
		refusal := errors.New("not the key I expected")
		_, err := libssh.NewSession(testCtx(t, 30*time.Second), pipeHost, libssh.WithConn(srv.Pipe(t)), libssh.WithUser(srv.User),
			libssh.WithHostKeyCallback(func(string, *libssh.PublicKey) error { return refusal }))
		require.ErrorIs(t, err, refusal)
		assert.ErrorContains(t, err, "libssh: the host key callback refused the key of sshd.test:22 (SHA256:")
		// Closing said goodbye; sshd logs it after whatever came before.
		require.NoError(t, srv.WaitLog(testCtx(t, 30*time.Second), "Received disconnect"))
		assert.NotContains(t, srv.Log(), "userauth-request")
	})

	t.Run("panics", func(t *testing.T) {
		t.Parallel()
		srv := sshdtest.New(t, sshdtest.Options{})
		_, err := libssh.NewSession(testCtx(t, 30*time.Second), pipeHost, libssh.WithConn(srv.Pipe(t)), libssh.WithUser(srv.User),
			libssh.WithHostKeyCallback(func(string, *libssh.PublicKey) error { panic("no idea") }))
		var pe *callbacks.PanicError
		require.ErrorAs(t, err, &pe, "a panic refuses the key")
		assert.Equal(t, "no idea", pe.Value)
		require.NoError(t, srv.WaitLog(testCtx(t, 30*time.Second), "Received disconnect"))
		assert.NotContains(t, srv.Log(), "userauth-request")
	})

	t.Run("refuses at Connect", func(t *testing.T) {
		t.Parallel()
		srv := sshdtest.New(t, sshdtest.Options{})
		refusal := errors.New("no")
		s, err := libssh.NewSession(testCtx(t, 30*time.Second), pipeHost, libssh.WithConn(srv.Pipe(t)), libssh.WithUser(srv.User),
			libssh.WithAutoConnect(false), libssh.WithHostKeyCallback(func(string, *libssh.PublicKey) error { return refusal }))
		require.NoError(t, err)
		defer s.Close()
		err = s.Connect(testCtx(t, 30*time.Second))
		require.ErrorIs(t, err, refusal)
		assert.False(t, s.IsConnected(), "the connection is closed")
		recv(t, s.Done(), 5*time.Second)
		assert.ErrorIs(t, s.Err(), refusal, "Err says why the session ended")
		_, err = s.UserauthPublicKeyFile(testCtx(t, 30*time.Second), sshdtest.Keys("id_ed25519"), "")
		require.ErrorIs(t, err, refusal)
		require.Error(t, s.Connect(testCtx(t, 30*time.Second)), "it cannot connect again")
	})

	t.Run("uses the session", func(t *testing.T) {
		t.Parallel()
		srv := sshdtest.New(t, sshdtest.Options{})
		var s *libssh.Session
		var inside []error
		var host string
		s = connectPipeSession(t, srv, libssh.WithAutoConnect(false), libssh.WithHostKeyCallback(func(string, *libssh.PublicKey) error {
			host = s.Host()
			_, err := s.ServerPublicKey()
			inside = append(inside, err, s.VerifyHost(), s.Close())
			_, err = s.UserauthNone(testCtx(t, 30*time.Second))
			inside = append(inside, err)
			return nil
		}))
		require.NoError(t, s.Connect(testCtx(t, 30*time.Second)))
		assert.Equal(t, pipeHost, host, "the cached facts work")
		for i, err := range inside {
			assert.ErrorIs(t, err, libssh.ErrInCallback, "call %d", i)
		}
		authenticate(t, s)
	})
}

// TestInsecureIgnoreHostKey logs in to a server nobody knows.
func TestInsecureIgnoreHostKey(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	s := connectPipeSession(t, srv, libssh.InsecureIgnoreHostKey())
	authenticate(t, s)
	require.NoError(t, s.VerifyHost())
	state, err := s.IsKnownServer()
	require.NoError(t, err)
	assert.Equal(t, libssh.KnownHostsNotFound, state, "IsKnownServer still reports known_hosts")
}

// TestOneHostKeyPolicy: a session has one policy.
func TestOneHostKeyPolicy(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	cb := libssh.WithHostKeyCallback(func(string, *libssh.PublicKey) error { return nil })
	for name, c := range map[string]struct {
		opts []libssh.Option
		msg  string
	}{
		"both":           {[]libssh.Option{cb, libssh.InsecureIgnoreHostKey()}, "WithHostKeyCallback and InsecureIgnoreHostKey both given"},
		"both, reversed": {[]libssh.Option{libssh.InsecureIgnoreHostKey(), cb}, "InsecureIgnoreHostKey and WithHostKeyCallback both given"},
		"twice":          {[]libssh.Option{cb, cb}, "WithHostKeyCallback given twice"},
		"nil callback":   {[]libssh.Option{libssh.WithHostKeyCallback(nil)}, "WithHostKeyCallback(nil)"},
	} {
		_, err := libssh.NewSession(ctx, "127.0.0.1", append(c.opts, libssh.WithAutoConnect(false))...)
		assert.ErrorContains(t, err, c.msg, name)
	}
}

// blockingHostKeyCallback is a host key callback that counts its calls,
// says on entered that one began, and accepts the key once accept is
// called. The test's end accepts and waits (bounded) for the goroutines
// that run the callback of s.
type blockingHostKeyCallback struct {
	calls   atomic.Int32
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	s       *libssh.Session // set by the test once it has the session
}

func newBlockingHostKeyCallback(t *testing.T) *blockingHostKeyCallback {
	b := &blockingHostKeyCallback{entered: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() {
		b.accept()
		if b.s != nil {
			testbound.Do(t, 10*time.Second, func() { libssh.WaitHostKeyCallbacks(b.s) })
		}
	})
	return b
}

func (b *blockingHostKeyCallback) callback(string, *libssh.PublicKey) error {
	b.calls.Add(1)
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return nil
}

// accept lets the callback's calls return nil.
func (b *blockingHostKeyCallback) accept() { b.once.Do(func() { close(b.release) }) }

// armedTimeout is a context that ends with context.DeadlineExceeded d
// after arm(d): a timeout that starts when the test says. It has its
// parent's values, and no deadline to read.
type armedTimeout struct {
	context.Context
	done chan struct{}
	err  atomic.Pointer[error]
}

func newArmedTimeout(parent context.Context) *armedTimeout {
	return &armedTimeout{Context: parent, done: make(chan struct{})}
}

func (c *armedTimeout) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *armedTimeout) Done() <-chan struct{}       { return c.done }

func (c *armedTimeout) Err() error {
	if err := c.err.Load(); err != nil {
		return *err
	}
	return nil
}

func (c *armedTimeout) arm(d time.Duration) {
	time.AfterFunc(d, func() {
		err := context.DeadlineExceeded
		c.err.Store(&err)
		close(c.done)
	})
}

// TestHostKeyCallbackEndsWithContext: a callback that blocks does not hold
// Connect past its context. Connect returns the context's error, the key
// is not accepted, the connection is closed, and sshd received no
// authentication request (its log shows the goodbye, and nothing before
// it).
func TestHostKeyCallbackEndsWithContext(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	cb := newBlockingHostKeyCallback(t)
	s := connectPipeSession(t, srv, libssh.WithAutoConnect(false), libssh.WithHostKeyCallback(cb.callback))
	cb.s = s

	// The timeout starts once the callback runs: the key exchange before
	// it may take longer than the timeout on a loaded machine.
	ctx := newArmedTimeout(testCtx(t, 30*time.Second))
	errc := make(chan error, 1)
	go func() { errc <- s.Connect(ctx) }()
	recv(t, cb.entered, 10*time.Second)
	ctx.arm(200 * time.Millisecond)
	err := recv(t, errc, 10*time.Second)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "libssh: gave up waiting for the host key callback on the key of sshd.test:22 (SHA256:")
	assert.False(t, s.IsConnected(), "the connection is closed")
	_, err = s.UserauthNone(testCtx(t, 30*time.Second))
	require.Error(t, err)

	require.NoError(t, srv.WaitLog(testCtx(t, 30*time.Second), "Received disconnect"))
	assert.NotContains(t, srv.Log(), "userauth-request")

	// The late answer changes nothing.
	cb.accept()
	testbound.Do(t, 10*time.Second, func() { libssh.WaitHostKeyCallbacks(s) })
	assert.ErrorIs(t, s.VerifyHost(), context.DeadlineExceeded, "the session stays refused")
	assert.EqualValues(t, 1, cb.calls.Load())
}

// connectingToSSHTest makes a session to srv whose host key callback
// blocks, and returns once Connect, started in a goroutine, is waiting for
// it; connected gets Connect's error.
func connectingToSSHTest(t *testing.T, srv *sshtest.Server) (s *libssh.Session, cb *blockingHostKeyCallback, connected chan error) {
	cb = newBlockingHostKeyCallback(t)
	s, err := libssh.NewSession(testCtx(t, 30*time.Second), srv.Host(), libssh.WithPort(srv.Port()), libssh.WithUser("tester"),
		libssh.WithAutoConnect(false), libssh.WithHostKeyCallback(cb.callback))
	require.NoError(t, err)
	closeAtEnd(t, s)
	cb.s = s
	connected = make(chan error, 1)
	go func() { connected <- s.Connect(testCtx(t, 30*time.Second)) }()
	recv(t, cb.entered, 10*time.Second)
	return s, cb, connected
}

// TestHostKeyCallbackRunsOnce: while the callback runs for Connect, an
// Authenticate whose context ends returns the context's error having sent
// nothing, and VerifyHost from several goroutines waits for the callback's
// run instead of calling it again: it runs once, and its verdict is
// everybody's. Close ends the wait of every caller.
func TestHostKeyCallbackRunsOnce(t *testing.T) {
	t.Parallel()
	t.Run("shared", func(t *testing.T) {
		t.Parallel()
		srv := newSSHTest(t, sshtest.Options{Password: "pw"})
		s, cb, connected := connectingToSSHTest(t, srv)

		ctx, cancel := context.WithTimeout(testCtx(t, 30*time.Second), 200*time.Millisecond)
		defer cancel()
		res, err := s.Authenticate(ctx, libssh.AuthOptions{Password: "pw"})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, libssh.KnownHostsError, res.HostStatus)
		assert.Equal(t, 0, srv.AuthRequests(), "nothing sent")

		ctx, cancel = context.WithTimeout(testCtx(t, 30*time.Second), 100*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, s.VerifyHostContext(ctx), context.DeadlineExceeded)
		var nilCtx context.Context
		assert.Error(t, s.VerifyHostContext(nilCtx))

		const n = 4
		verified := make(chan error, n)
		for range n {
			go func() { verified <- s.VerifyHost() }()
		}
		require.Eventually(t, func() bool { return libssh.HostKeyWaiters(s) == n+1 }, 10*time.Second, time.Millisecond,
			"Connect and the VerifyHost calls wait for the callback")
		cb.accept()
		require.NoError(t, recv(t, connected, 10*time.Second))
		for range n {
			assert.NoError(t, recv(t, verified, 10*time.Second))
		}
		assert.EqualValues(t, 1, cb.calls.Load(), "the callback ran once")
		require.NoError(t, s.VerifyHost())
		assert.EqualValues(t, 1, cb.calls.Load(), "the accepted key is not asked about again")
		st, err := s.UserauthPassword(testCtx(t, 30*time.Second), "pw")
		require.NoError(t, err)
		assert.Equal(t, libssh.AuthSuccess, st)
		assert.Equal(t, 1, srv.AuthRequests(), "the password was the first request")
	})

	// Connect and VerifyHost, both waiting for the callback, end with the
	// session.
	endWhileWaiting := func(t *testing.T, end func(*libssh.Session) error) (connectErr, verifyErr error) {
		srv := newSSHTest(t, sshtest.Options{})
		s, cb, connected := connectingToSSHTest(t, srv)
		verified := make(chan error, 1)
		go func() { verified <- s.VerifyHost() }()
		require.Eventually(t, func() bool { return libssh.HostKeyWaiters(s) == 2 }, 10*time.Second, time.Millisecond)
		require.NoError(t, end(s))
		connectErr, verifyErr = recv(t, connected, 10*time.Second), recv(t, verified, 10*time.Second)
		assert.EqualValues(t, 1, cb.calls.Load())
		return connectErr, verifyErr
	}
	t.Run("Disconnect", func(t *testing.T) {
		t.Parallel()
		connectErr, verifyErr := endWhileWaiting(t, (*libssh.Session).Disconnect)
		assert.Error(t, connectErr, "Connect after Disconnect")
		assert.ErrorContains(t, verifyErr, "disconnected", "VerifyHost after Disconnect")
	})
	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		connectErr, verifyErr := endWhileWaiting(t, (*libssh.Session).Close)
		assert.ErrorIs(t, connectErr, libssh.ErrClosed)
		assert.ErrorIs(t, verifyErr, libssh.ErrClosed)
	})
}
