package libssh_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/lib"
	"github.com/golibssh/libssh/sshtest"
)

// pipeHost is the name sessions over sshd -i give the server.
const pipeHost = "sshd.test"

// knownHostsOf writes a known_hosts file that knows srv's host keys, every
// type, under name: pipeHost for sessions over sshd -i, "[127.0.0.1]:PORT"
// for the listening sshd.
func knownHostsOf(t testing.TB, srv *sshdtest.Server, name string) string {
	t.Helper()
	var lines []string
	for typ := range srv.HostKeys {
		lines = append(lines, srv.KnownHostsLine(name, typ))
	}
	return writeKnownHosts(t, lines...)
}

// newPipeSession connects to srv in inetd mode and verifies its host key
// against a known_hosts file that knows it (unless opts sets another).
func newPipeSession(t *testing.T, srv *sshdtest.Server, opts ...libssh.Option) *libssh.Session {
	t.Helper()
	kh := libssh.WithKnownHosts(knownHostsOf(t, srv, pipeHost))
	s := connectPipeSession(t, srv, append([]libssh.Option{kh}, opts...)...)
	require.NoError(t, s.VerifyHost())
	return s
}

// connectPipeSession connects to srv in inetd mode, and no more: the host
// key is not verified, and the known_hosts file does not exist (unless
// opts sets another).
func connectPipeSession(t *testing.T, srv *sshdtest.Server, opts ...libssh.Option) *libssh.Session {
	t.Helper()
	opts = append([]libssh.Option{
		libssh.WithConn(srv.Pipe(t)),
		libssh.WithUser(srv.User),
		libssh.WithKnownHosts(filepath.Join(t.TempDir(), "known_hosts")),
	}, opts...)
	s, err := libssh.NewSession(testCtx(t, 30*time.Second), pipeHost, opts...)
	require.NoError(t, err)
	closeAtEnd(t, s)
	return s
}

// newListenSession dials srv's listening sshd and verifies its host key
// against a known_hosts file that knows it (unless opts sets another).
func newListenSession(t *testing.T, srv *sshdtest.Server, opts ...libssh.Option) *libssh.Session {
	t.Helper()
	host, port := splitHostPort(t, srv.Listen(t))
	kh := libssh.WithKnownHosts(knownHostsOf(t, srv, addrKey(host, port)))
	s := connectListenSession(t, srv, append([]libssh.Option{kh}, opts...)...)
	require.NoError(t, s.VerifyHost())
	return s
}

// connectListenSession dials srv's listening sshd, and no more (see
// connectPipeSession).
func connectListenSession(t *testing.T, srv *sshdtest.Server, opts ...libssh.Option) *libssh.Session {
	t.Helper()
	host, port := splitHostPort(t, srv.Listen(t))
	opts = append([]libssh.Option{
		libssh.WithPort(port),
		libssh.WithUser(srv.User),
		libssh.WithKnownHosts(filepath.Join(t.TempDir(), "known_hosts")),
	}, opts...)
	s, err := libssh.NewSession(testCtx(t, 30*time.Second), host, opts...)
	require.NoError(t, err)
	closeAtEnd(t, s)
	return s
}

func authenticate(t *testing.T, s *libssh.Session) {
	t.Helper()
	status, err := s.UserauthPublicKeyFile(testCtx(t, 30*time.Second), sshdtest.Keys("id_ed25519"), "")
	require.NoError(t, err)
	require.Equal(t, libssh.AuthSuccess, status)
}

func TestConnectAndAuthenticateBothPaths(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	for name, connect := range map[string]func(*testing.T, *sshdtest.Server, ...libssh.Option) *libssh.Session{
		"inetd": newPipeSession,
		"dial":  newListenSession,
	} {
		t.Run(name, func(t *testing.T) {
			s := connect(t, srv)
			assert.True(t, s.IsConnected())
			assert.True(t, s.IsOpen())
			assert.Equal(t, srv.User, s.User())
			assert.GreaterOrEqual(t, s.FD(), 0)
			methods, err := s.UserauthList(testCtx(t, 30*time.Second))
			require.NoError(t, err)
			assert.Equal(t, []libssh.AuthMethod{libssh.AuthMethodPublicKey}, methods)
			authenticate(t, s)
			require.NoError(t, s.Err(), "a live session has not ended")
			require.NoError(t, s.Close())
			recv(t, s.Done(), 5*time.Second)
			assert.ErrorIs(t, s.Err(), libssh.ErrClosed)
			assert.False(t, s.IsConnected())
			assert.False(t, s.IsOpen())
			assert.Equal(t, -1, s.FD())
		})
	}
}

func TestSessionProperties(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	addr := srv.Listen(t)
	host, port := splitHostPort(t, addr)
	kh := knownHostsOf(t, srv, addrKey(host, port))
	s, err := libssh.NewSession(testCtx(t, 30*time.Second), host, libssh.WithPort(port), libssh.WithUser(srv.User),
		libssh.WithKnownHosts(kh), libssh.WithAutoConnect(false))
	require.NoError(t, err)
	defer s.Close()
	assert.False(t, s.IsConnected())
	assert.Equal(t, -1, s.FD())
	assert.Equal(t, host, s.Host())
	assert.Equal(t, port, s.Port())
	assert.Equal(t, srv.User, s.User())
	assert.Equal(t, kh, s.KnownHostsPath())
	_, err = s.IsKnownServer()
	assert.ErrorIs(t, err, libssh.ErrNotConnected)
	assert.ErrorIs(t, s.Wait(testCtx(t, 30*time.Second)), libssh.ErrNotConnected)

	require.NoError(t, s.Connect(testCtx(t, 30*time.Second)))
	require.NoError(t, s.Connect(testCtx(t, 30*time.Second)), "a second Connect does nothing")
	assert.True(t, s.IsConnected())
	assert.Contains(t, s.String(), "connected")
	require.NoError(t, s.VerifyHost())
	authenticate(t, s)
	assert.Empty(t, s.LastError(), "a successful authentication clears libssh's error")
}

func TestLocalUserIsTheDefault(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	s, err := libssh.NewSession(testCtx(t, 30*time.Second), pipeHost, libssh.WithConn(srv.Pipe(t)),
		libssh.WithKnownHosts(filepath.Join(t.TempDir(), "kh")))
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, srv.User, s.User())
}

func TestClosedPortIsAClearError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	host, port := splitHostPort(t, ln.Addr().String())
	require.NoError(t, ln.Close())

	_, err = libssh.NewSession(testCtx(t, 30*time.Second), host, libssh.WithPort(port))
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Contains(t, err.Error(), "libssh: connect to "+net.JoinHostPort(host, strconv.Itoa(port)))
	assert.Contains(t, err.Error(), "connection refused")
}

func TestUnresolvableHostIsAClearError(t *testing.T) {
	t.Parallel()
	_, err := libssh.NewSession(testCtx(t, 30*time.Second), "no-such-host.invalid")
	require.Error(t, err)
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr)
	assert.Equal(t, "no-such-host.invalid", dnsErr.Name)
	assert.Contains(t, err.Error(), "libssh: connect to no-such-host.invalid:22")
}

// silentServer accepts TCP connections and never says anything. accepted
// receives each connection as it is accepted.
func silentServer(t *testing.T) (addr string, accepted <-chan net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ch := make(chan net.Conn, 16)
	done := make(chan struct{})
	var all []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			all = append(all, c)
			ch <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range all {
			c.Close()
		}
	})
	return ln.Addr().String(), ch
}

func TestCancelWhileServerNeverSpeaks(t *testing.T) {
	t.Parallel()
	addr, accepted := silentServer(t)
	host, port := splitHostPort(t, addr)

	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	result := make(chan error, 1)
	go func() {
		s, err := libssh.NewSession(ctx, host, libssh.WithPort(port))
		if s != nil {
			s.Close()
		}
		result <- err
	}()
	conn := recv(t, accepted, 30*time.Second)
	defer conn.Close()
	awaitClientBanner(t, conn) // libssh is now waiting for the server's banner
	cancel()
	err := recv(t, result, 30*time.Second)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
}

// awaitClientBanner reads what the client sent until its SSH banner ends:
// from then on libssh's ssh_connect is pending.
func awaitClientBanner(t *testing.T, conn net.Conn) {
	t.Helper()
	var got []byte
	buf := make([]byte, 256)
	for !bytes.Contains(got, []byte("\r\n")) {
		n, err := conn.Read(buf)
		require.NoError(t, err)
		got = append(got, buf[:n]...)
	}
	require.True(t, bytes.HasPrefix(got, []byte("SSH-2.0-libssh")), "client banner %q", got)
}

// pendingConnect starts Connect(ctx) on a new session to a server that
// never speaks, and returns once libssh's ssh_connect is pending (its banner
// has arrived). The Connect's result arrives on the channel; server is the
// server's end of the connection.
func pendingConnect(t *testing.T, ctx context.Context) (s *libssh.Session, result <-chan error, server net.Conn) {
	t.Helper()
	addr, accepted := silentServer(t)
	host, port := splitHostPort(t, addr)
	s, err := libssh.NewSession(testCtx(t, 30*time.Second), host, libssh.WithPort(port), libssh.WithAutoConnect(false))
	require.NoError(t, err)
	closeAtEnd(t, s)
	done := make(chan error, 1)
	go func() { done <- s.Connect(ctx) }()
	server = recv(t, accepted, 30*time.Second)
	awaitClientBanner(t, server)
	return s, done, server
}

func TestConnectTimeoutWhileServerNeverSpeaks(t *testing.T) {
	t.Parallel()
	addr, _ := silentServer(t)
	host, port := splitHostPort(t, addr)
	_, err := libssh.NewSession(testCtx(t, 30*time.Second), host, libssh.WithPort(port), libssh.WithConnectTimeout(200_000_000))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	for name, opt := range map[string]libssh.Option{
		"port 0":         libssh.WithPort(0),
		"port 65536":     libssh.WithPort(65536),
		"empty user":     libssh.WithUser(""),
		"NUL in user":    libssh.WithUser("a\x00b"),
		"nil conn":       libssh.WithConn(nil),
		"verbosity 9":    libssh.WithLogVerbosity(9),
		"timeout 0":      libssh.WithConnectTimeout(0),
		"NUL in path":    libssh.WithKnownHosts("/tmp/a\x00b"),
		"nil dialer":     libssh.WithDialer(nil),
		"metachar user":  libssh.WithUser("a;b"), // refused by libssh itself (Debian's CVE backport)
		"NUL in gssapi":  libssh.WithGSSAPIServerIdentity("x\x00"),
		"NUL in ssh dir": libssh.WithSSHDir("\x00"),
	} {
		_, err := libssh.NewSession(ctx, "127.0.0.1", opt, libssh.WithAutoConnect(false))
		assert.Error(t, err, name)
	}
	_, err := libssh.NewSession(ctx, "", libssh.WithAutoConnect(false))
	assert.ErrorContains(t, err, "empty host name")
}

func TestBadOptionClosesTheGivenConn(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"conn first", "conn last"} {
		a, b := net.Pipe()
		opts := []libssh.Option{libssh.WithConn(a), libssh.WithPort(-1)}
		if order == "conn last" {
			opts[0], opts[1] = opts[1], opts[0]
		}
		_, err := libssh.NewSession(testCtx(t, 30*time.Second), "h", opts...)
		require.Error(t, err, order)
		_, err = a.Write([]byte("x"))
		assert.ErrorIs(t, err, io.ErrClosedPipe, "%s: the session owned the conn and closed it", order)
		b.Close()
	}
}

// opaqueConn hides the socket behind a net.Conn, like a TLS connection or a
// channel of another SSH session would.
type opaqueConn struct{ net.Conn }

func TestConnWithoutSocketIsRelayed(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	s, err := libssh.NewSession(testCtx(t, 30*time.Second), pipeHost, libssh.WithConn(opaqueConn{srv.Pipe(t)}),
		libssh.WithUser(srv.User), trustSSHD(srv))
	require.NoError(t, err)
	defer s.Close()
	authenticate(t, s)
	require.NoError(t, s.Close())
}

func TestDialer(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	var dialled string
	s, err := libssh.NewSession(testCtx(t, 30*time.Second), "far.away.example", libssh.WithUser(srv.User),
		libssh.WithKnownHosts(knownHostsOf(t, srv, "far.away.example")),
		libssh.WithDialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialled = network + " " + addr
			return srv.Pipe(t), nil
		}))
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, "tcp far.away.example:22", dialled)
	require.NoError(t, s.VerifyHost(), "known_hosts knows the server by the session's host name")
	authenticate(t, s)
}

// TestDescriptorAboveLimitIsRefused: libssh keeps SSH_OPTIONS_FD in 16 bits,
// so a descriptor above 65535 must be refused, not silently truncated. The
// machine's descriptor limit (20000 here, and not raisable without
// CAP_SYS_RESOURCE) allows no such descriptor, so the test lowers the limit
// to exercise the same check.
func TestDescriptorAboveLimitIsRefused(t *testing.T) {
	// Not parallel: it changes a package-wide limit.
	libssh.SetMaxLibsshFD(2)
	t.Cleanup(func() { libssh.SetMaxLibsshFD(65535) })
	srv := sshdtest.New(t, sshdtest.Options{})
	conn := srv.Pipe(t)
	_, err := libssh.NewSession(testCtx(t, 30*time.Second), pipeHost, libssh.WithConn(conn))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is above 2, which libssh cannot use")
	_, err = conn.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed, "the conn was closed")
}

func TestDisconnect(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	s := newPipeSession(t, srv)
	authenticate(t, s)
	require.NoError(t, s.Disconnect())
	recv(t, s.Done(), 5*time.Second)
	assert.ErrorIs(t, s.Err(), libssh.ErrClosed)
	assert.ErrorContains(t, s.Err(), "disconnected")
	assert.False(t, s.IsConnected())
	assert.True(t, s.IsOpen(), "a disconnected session stays open until Close")
	require.NoError(t, s.Disconnect(), "disconnecting twice does nothing")
	err := s.Connect(testCtx(t, 30*time.Second))
	assert.ErrorIs(t, err, libssh.ErrNotConnected)
	assert.ErrorContains(t, err, "disconnected")
	_, err = s.UserauthNone(testCtx(t, 30*time.Second))
	assert.ErrorIs(t, err, libssh.ErrNotConnected)
	require.NoError(t, s.Close())
	assert.ErrorIs(t, s.Disconnect(), libssh.ErrClosed)
}

func TestWait(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	s := newPipeSession(t, srv)

	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	cancel()
	assert.ErrorIs(t, s.Wait(ctx), context.Canceled)

	// A waiter is woken by Close.
	waiting := make(chan error)
	go func() { waiting <- s.Wait(testCtx(t, 30*time.Second)) }()
	require.NoError(t, s.Close())
	assert.ErrorIs(t, recv(t, waiting, 30*time.Second), libssh.ErrClosed, "Close wakes every waiter with ErrClosed")
	assert.ErrorIs(t, s.Wait(testCtx(t, 30*time.Second)), libssh.ErrClosed)
}

// TestConnectionLost cuts the connection under a connected session: the
// session notices, and calls fail instead of hanging.
func TestConnectionLost(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	upstream := srv.Pipe(t)
	defer upstream.Close()
	local, remote := net.Pipe()
	var relay sync.WaitGroup
	relay.Add(2)
	go func() { defer relay.Done(); copyAndClose(remote, upstream) }()
	go func() { defer relay.Done(); copyAndClose(upstream, remote) }()
	defer waitGroup(t, &relay, 30*time.Second)

	s, err := libssh.NewSession(testCtx(t, 30*time.Second), pipeHost, libssh.WithConn(local), libssh.WithUser(srv.User),
		libssh.WithKnownHosts(filepath.Join(t.TempDir(), "kh")))
	require.NoError(t, err)
	defer s.Close()
	require.True(t, s.IsConnected())

	select {
	case <-s.Done():
		t.Fatal("Done closed on a live session")
	default:
	}
	require.NoError(t, s.Err())
	remote.Close() // the network goes away
	recv(t, s.Done(), 30*time.Second)
	lost := s.Err()
	require.Error(t, lost, "Err says why the session ended")
	assert.NotErrorIs(t, lost, libssh.ErrClosed, "the connection was lost, not closed by the caller")
	assert.False(t, s.IsConnected())
	_, err = s.UserauthNone(testCtx(t, 30*time.Second))
	require.Error(t, err)
	assert.NotEmpty(t, s.LastError())
	require.NoError(t, s.Close())
	assert.Equal(t, lost, s.Err(), "the first reason stays")
}

func copyAndClose(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

func TestLogger(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newPipeSession(t, srv, libssh.WithLogger(logger), libssh.WithLogVerbosity(libssh.LogProtocol))
	authenticate(t, s)
	out := buf.String()
	assert.Contains(t, out, "libssh=ssh_connect", "libssh's log lines reach the slog logger")
	assert.Contains(t, out, "host="+pipeHost)
	assert.Contains(t, out, "level=INFO msg=\"ssh_client_connection_callback: SSH server banner: SSH-2.0-OpenSSH_")
	require.NoError(t, s.Close())

	// Other sessions log nothing: libssh's log state is per thread, and
	// this package resets it after every call.
	buf.Reset()
	quiet := newPipeSession(t, srv)
	authenticate(t, quiet)
	assert.Empty(t, buf.String())
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestProcessConfig(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	host, port := splitHostPort(t, srv.Listen(t))
	dir := t.TempDir()
	config := "Host myalias\n  HostName " + host + "\n  Port " + strconv.Itoa(port) + "\n  User " + srv.User +
		"\n  StrictHostKeyChecking no\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o600))
	kh := filepath.Join(dir, "known_hosts")
	require.NoError(t, os.WriteFile(kh, nil, 0o600))

	// Off by default: "myalias" is then just a name nobody resolves.
	_, err := libssh.NewSession(testCtx(t, 30*time.Second), "myalias", libssh.WithSSHDir(dir), libssh.WithKnownHosts(kh))
	require.Error(t, err)

	s, err := libssh.NewSession(testCtx(t, 30*time.Second), "myalias", libssh.WithProcessConfig(true),
		libssh.WithSSHDir(dir), libssh.WithKnownHosts(kh))
	require.NoError(t, err, "HostName, Port and User come from the config")
	defer s.Close()
	assert.Equal(t, host, s.Host())
	assert.Equal(t, port, s.Port())
	state, err := s.IsKnownServer()
	require.NoError(t, err)
	assert.Equal(t, libssh.KnownHostsUnknown, state, "StrictHostKeyChecking no in ssh_config must not make an unknown host trusted")
	_, err = s.UserauthPublicKeyFile(testCtx(t, 30*time.Second), sshdtest.Keys("id_ed25519"), "")
	require.ErrorIs(t, err, libssh.ErrHostKeyNotVerified, "nor let credentials go to it")
	require.NoError(t, os.WriteFile(kh, []byte(srv.KnownHostsLine(addrKey(host, port), "ed25519")+"\n"), 0o600))
	require.NoError(t, s.VerifyHost())
	authenticate(t, s)
}

// TestSSHConfigDirTildeUser: WithSSHDir("~root") is root's home directory,
// as OpenSSH reads ~user (libssh alone would append "root" to the current
// user's home); known_hosts' default is in it once connected. An unknown
// user fails NewSession with a message that says so.
func TestSSHConfigDirTildeUser(t *testing.T) {
	t.Parallel()
	root, err := user.Lookup("root")
	require.NoError(t, err)
	srv := newSSHTest(t, sshtest.Options{AuthNone: true})
	for _, dir := range []string{"~root", "~root/"} {
		s, err := libssh.NewSession(testCtx(t, 30*time.Second), srv.Host(), libssh.WithPort(srv.Port()),
			libssh.WithSSHDir(dir), libssh.InsecureIgnoreHostKey())
		require.NoError(t, err, dir)
		closeAtEnd(t, s)
		assert.Equal(t, filepath.Join(root.HomeDir, "known_hosts"), filepath.Clean(s.KnownHostsPath()), dir)
	}

	_, err = libssh.NewSession(testCtx(t, 30*time.Second), srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithSSHDir("~no-such-user-here/.ssh"), libssh.InsecureIgnoreHostKey())
	var uerr user.UnknownUserError
	require.ErrorAs(t, err, &uerr)
	assert.ErrorContains(t, err, "libssh: set ssh directory: cannot expand ~no-such-user-here: ")
}

func TestWrapSession(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	host, port := splitHostPort(t, srv.Listen(t))
	newPtr := func() lib.Session {
		p := lib.New()
		require.False(t, p.IsNil())
		require.Equal(t, lib.SSH_OK, lib.OptionsSetString(p, lib.SSH_OPTIONS_HOST, host))
		require.Equal(t, lib.SSH_OK, lib.OptionsSetUint(p, lib.SSH_OPTIONS_PORT, uint(port)))
		require.Equal(t, lib.SSH_OK, lib.OptionsSetString(p, lib.SSH_OPTIONS_USER, srv.User))
		require.Equal(t, lib.SSH_OK, lib.OptionsSetBool(p, lib.SSH_OPTIONS_PROCESS_CONFIG, 0))
		return p
	}

	t.Run("not connected, owned", func(t *testing.T) {
		p := newPtr()
		// A caller's pointer with host key checking switched off must
		// still not make an unknown host look known.
		require.Equal(t, lib.SSH_OK, lib.OptionsSetInt(p, lib.SSH_OPTIONS_STRICTHOSTKEYCHECK, 0))
		require.Equal(t, lib.SSH_OK, lib.OptionsSetString(p, lib.SSH_OPTIONS_KNOWNHOSTS, writeKnownHosts(t, "# empty")))
		s, err := libssh.WrapSession(p, true)
		require.NoError(t, err)
		defer s.Close()
		require.NoError(t, s.Connect(testCtx(t, 30*time.Second)), "Connect dials the host and port set on the session")
		state, err := s.IsKnownServer()
		require.NoError(t, err)
		assert.Equal(t, libssh.KnownHostsUnknown, state, "host key checking fails closed")
		_, err = s.UserauthPublicKeyFile(testCtx(t, 30*time.Second), sshdtest.Keys("id_ed25519"), "")
		require.ErrorIs(t, err, libssh.ErrHostKeyNotVerified)
		require.NoError(t, s.WithLib(func(p lib.Session) error {
			lib.OptionsSetString(p, lib.SSH_OPTIONS_KNOWNHOSTS, knownHostsOf(t, srv, addrKey(host, port)))
			return nil
		}))
		require.NoError(t, s.VerifyHost())
		authenticate(t, s)
	})

	t.Run("connected by libssh, not owned", func(t *testing.T) {
		p := newPtr()
		require.Equal(t, lib.SSH_OK, lib.OptionsSetString(p, lib.SSH_OPTIONS_KNOWNHOSTS, knownHostsOf(t, srv, addrKey(host, port))))
		require.Equal(t, lib.SSH_OK, lib.Connect(p), lib.GetError(p)) // blocking: libssh dials itself
		s, err := libssh.WrapSession(p, false)
		require.NoError(t, err)
		assert.True(t, s.IsConnected())
		_, err = s.UserauthPublicKeyFile(testCtx(t, 30*time.Second), sshdtest.Keys("id_ed25519"), "")
		require.ErrorIs(t, err, libssh.ErrHostKeyNotVerified, "an adopted session's host key is not accepted yet")
		require.NoError(t, s.VerifyHost())
		authenticate(t, s)
		// Listen would put its message handler on the caller's session.
		ln, err := s.Listen(testCtx(t, 30*time.Second), "tcp", "127.0.0.1:0")
		require.Error(t, err)
		assert.Nil(t, ln)
		require.NoError(t, s.Close())
		// The wrapper did not free p: it is still usable, and ours to free.
		assert.Equal(t, 1, lib.IsConnected(p))
		lib.Disconnect(p)
		lib.Free(p)
	})

	t.Run("NULL", func(t *testing.T) {
		_, err := libssh.WrapSession(lib.Session{}, true)
		assert.Error(t, err)
	})
}

func TestVersion(t *testing.T) {
	assert.Regexp(t, `^0\.1\d\.\d+`, libssh.Version())
}

// TestDisconnectDuringConnect: a Disconnect while Connect waits for the
// server ends the Connect with an error, not a crash.
func TestDisconnectDuringConnect(t *testing.T) {
	t.Parallel()
	s, result, server := pendingConnect(t, testCtx(t, 30*time.Second))
	require.NoError(t, s.Disconnect())
	// The connection ends now, not when the session is closed later. (The
	// deadline only keeps a failure from hanging the test.)
	require.NoError(t, server.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err := server.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
	err = recv(t, result, 30*time.Second)
	assert.ErrorIs(t, err, libssh.ErrNotConnected)
	assert.False(t, s.IsConnected())
	require.NoError(t, s.Close())
}

// TestCloseOrDisconnectWhileDialling: a Connect whose dial returns after
// Close or Disconnect gives up, closing the connection it was handed and the
// descriptor it made for libssh (TestMain's audit counts descriptors).
func TestCloseOrDisconnectWhileDialling(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	for _, end := range []string{"Close", "Disconnect"} {
		t.Run(end, func(t *testing.T) {
			dialling, release := make(chan struct{}), make(chan struct{})
			conn := srv.Pipe(t)
			s, err := libssh.NewSession(testCtx(t, 30*time.Second), pipeHost, libssh.WithAutoConnect(false),
				libssh.WithDialer(func(context.Context, string, string) (net.Conn, error) {
					close(dialling)
					<-release
					return conn, nil
				}))
			require.NoError(t, err)
			defer s.Close()
			result := make(chan error, 1)
			go func() { result <- s.Connect(testCtx(t, 30*time.Second)) }()
			recv(t, dialling, 30*time.Second)
			if end == "Close" {
				require.NoError(t, s.Close())
			} else {
				require.NoError(t, s.Disconnect())
			}
			close(release)
			err = recv(t, result, 30*time.Second)
			if end == "Close" {
				assert.ErrorIs(t, err, libssh.ErrClosed)
			} else {
				assert.ErrorIs(t, err, libssh.ErrNotConnected)
			}
			_, err = conn.Write([]byte("x"))
			assert.Error(t, err, "the dialled connection was closed")
		})
	}
}

// addrKey is how known_hosts names a server on a port other than 22.
func addrKey(host string, port int) string { return "[" + host + "]:" + strconv.Itoa(port) }

// trustSSHD is a host key policy that accepts srv's host keys and no other,
// for sessions a test makes itself.
func trustSSHD(srv *sshdtest.Server) libssh.Option {
	return libssh.WithHostKeyCallback(func(host string, key *libssh.PublicKey) error {
		for typ := range srv.HostKeys {
			if strings.Fields(srv.HostPublicKey(typ))[1] == key.Base64() {
				return nil
			}
		}
		return fmt.Errorf("%s offered %s, not a host key of the test's sshd", host, key.Fingerprint())
	})
}
