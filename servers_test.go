package libssh_test

// The client API against both servers: OpenSSH's sshd and the in-process
// sshtest server. Each test here runs the same assertions on each.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

const sshtestPassword = "sshtest password"

// newSSHTest starts an sshtest server, closed when the test ends.
func newSSHTest(t testing.TB, opts sshtest.Options) *sshtest.Server {
	t.Helper()
	if opts.Logger == nil {
		// The server's own messages (a refused forwarded channel, a
		// failed accept) go to the test's log, shown when it fails.
		opts.Logger = slog.New(slog.NewTextHandler(tbWriter{t}, nil))
	}
	srv, err := sshtest.NewServer(opts)
	require.NoError(t, err)
	closeAtEnd(t, srv)
	return srv
}

// tbWriter writes to a test's log; it drops what comes after the test.
type tbWriter struct{ t testing.TB }

func (w tbWriter) Write(b []byte) (int, error) {
	defer func() { recover() }() // a log line after the test ended
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// connectSSHTest connects to srv and verifies its host key with the
// known_hosts file srv gives, without authenticating.
func connectSSHTest(t testing.TB, srv *sshtest.Server, opts ...libssh.Option) *libssh.Session {
	t.Helper()
	opts = append([]libssh.Option{
		libssh.WithPort(srv.Port()),
		libssh.WithUser("tester"),
		libssh.WithKnownHosts(srv.KnownHostsFile()),
	}, opts...)
	s, err := libssh.NewSession(testCtx(t, 30*time.Second), srv.Host(), opts...)
	require.NoError(t, err)
	closeAtEnd(t, s)
	require.NoError(t, s.VerifyHost())
	return s
}

// trustSSHTest is a host key policy that accepts srv's host key and no
// other, for sessions a test makes itself.
func trustSSHTest(srv *sshtest.Server) libssh.Option { return pinnedKey(srv.HostKey()) }

// pinnedKey is a host key policy that accepts want and no other key.
func pinnedKey(want *libssh.PublicKey) libssh.Option {
	return libssh.WithHostKeyCallback(func(host string, key *libssh.PublicKey) error {
		if !key.Equal(want) {
			return fmt.Errorf("%s offered %s, not the expected %s", host, key.Fingerprint(), want.Fingerprint())
		}
		return nil
	})
}

// sshtestSession is a session authenticated with a password to a new
// sshtest server with opts (whose Password it sets).
func sshtestSession(t testing.TB, opts sshtest.Options) *libssh.Session {
	t.Helper()
	opts.Password = sshtestPassword
	s := connectSSHTest(t, newSSHTest(t, opts))
	status, err := s.UserauthPassword(testCtx(t, 30*time.Second), sshtestPassword)
	require.NoError(t, err)
	require.Equal(t, libssh.AuthSuccess, status)
	return s
}

// onBothServers runs f against an authenticated session to sshd (as an
// unprivileged user, with forwarding and AcceptEnv GOLIBSSH_*) and to
// sshtest (with forwarding), as parallel subtests.
func onBothServers(t *testing.T, f func(t *testing.T, s *libssh.Session)) {
	t.Run("sshd", func(t *testing.T) {
		t.Parallel()
		f(t, cmdSession(t, "AllowTcpForwarding yes", "AcceptEnv GOLIBSSH_*"))
	})
	t.Run("sshtest", func(t *testing.T) {
		t.Parallel()
		s := sshtestSession(t, sshtest.Options{Forwarding: true})
		t.Cleanup(func() { assert.Zero(t, libssh.SessionChannels(s), "channels left on the session") })
		f(t, s)
	})
}

func TestBothSessionBasics(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		assert.True(t, s.IsConnected())
		key, err := s.ServerPublicKey()
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(key.Fingerprint(), "SHA256:"), key.Fingerprint())
		status, err := s.IsKnownServer()
		require.NoError(t, err)
		assert.Equal(t, libssh.KnownHostsOK, status)
		require.NoError(t, s.Disconnect())
		assert.False(t, s.IsConnected())
	})
}

func TestExecKeepsStdoutAndStderrApart(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		ch := execChannel(t, s, "printf 'to stdout'; printf 'to stderr' >&2; printf ' again'; exit 42")
		o := readBoth(t, ch)
		require.NoError(t, o.outErr)
		require.NoError(t, o.errErr)
		assert.Equal(t, "to stdout again", string(o.stdout))
		assert.Equal(t, "to stderr", string(o.stderr))
		waitExit(t, ch, 42)
		assert.True(t, ch.EOF())
		n, err := ch.Read(make([]byte, 10))
		assert.Equal(t, 0, n)
		assert.Equal(t, io.EOF, err, "EOF again after EOF")
		require.NoError(t, ch.Close())
	})
}

func TestBothChannelStdinAndEOF(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		ch := execChannel(t, s, "wc -c")
		data := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: several windows
		_, err := ch.Write(data)
		require.NoError(t, err)
		require.NoError(t, ch.CloseWrite())
		out, err := readAll(t, ch, 60*time.Second)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(len(data)), strings.TrimSpace(string(out)))
		waitExit(t, ch, 0)
		require.NoError(t, ch.Close())
	})
}

func TestBothDownload(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		ch := execChannel(t, s, "head -c 33554432 /dev/zero")
		sum, n := sha256Hex(t, ch)
		assert.EqualValues(t, 32<<20, n)
		assert.Equal(t, fmt.Sprintf("%x", sha256.Sum256(make([]byte, 32<<20))), sum)
		waitExit(t, ch, 0)
		require.NoError(t, ch.Close())
	})
}

func TestBothCommands(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		out, err := s.Command("printf", "%s|", "a b", "it's", "$HOME", "*").Output()
		require.NoError(t, err)
		assert.Equal(t, "a b|it's|$HOME|*|", string(out))

		err = s.CommandLine("echo oops >&2; exit 3").Run()
		var exitErr *libssh.ExitError
		require.ErrorAs(t, err, &exitErr)
		assert.Equal(t, 3, exitErr.ExitCode())
		assert.Equal(t, "oops\n", string(exitErr.Stderr()))

		ok, err := s.CommandLine("false").Success()
		require.NoError(t, err)
		assert.False(t, ok)

		cmd := s.CommandLine("kill -TERM $$")
		err = cmd.Run()
		require.ErrorAs(t, err, &exitErr)
		assert.Equal(t, "TERM", exitErr.Signal())
		assert.Equal(t, -1, cmd.Process.ExitCode())

		cmd = s.CommandLine(`printf %s "$GOLIBSSH_A"`)
		cmd.Env = []string{"GOLIBSSH_A=x=y"}
		out, err = cmd.Output()
		require.NoError(t, err)
		assert.Equal(t, "x=y", string(out))

		data := randomData(8 << 20)
		cmd = s.Command("sha256sum")
		cmd.Stdin = bytes.NewReader(data)
		out, err = cmd.Output()
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("%x  -\n", sha256.Sum256(data)), string(out))
	})
}

func TestBothCommandContextCancel(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
		cmd, sleep := startSleep(t, s, ctx)
		cancel()
		require.ErrorIs(t, cmd.Wait(), context.Canceled)
		assert.False(t, remoteRunning(t, s, sleep), "%s still runs", sleep)
	})
}

func TestBothForwarding(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello %s", r.URL.Path)
		}))
		t.Cleanup(web.Close)
		host, port := splitHostPort(t, web.Listener.Addr().String())

		f, err := libssh.NewForwarder(testCtx(t, 120*time.Second), s, 0, host, port)
		require.NoError(t, err)
		defer f.Close()
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get("http://" + f.LocalAddr().String() + "/forwarded")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, "hello /forwarded", string(body))
		require.NoError(t, f.Close())

		eport := serveTCP(t, echo)
		conn, err := s.DialContext(testCtx(t, 30*time.Second), "tcp", fmt.Sprintf("127.0.0.1:%d", eport))
		require.NoError(t, err)
		defer conn.Close()
		data := randomData(3 << 20)
		go func() {
			conn.Write(data)
			conn.(interface{ CloseWrite() error }).CloseWrite()
		}()
		back, err := readAll(t, conn, 60*time.Second)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, back), "echo differs")
	})
}

// TestBothForwardingCloseDeliversWhatWasSent: a forwarded connection closed
// right after a write still delivers the write to the target, as sshd
// does (sshtest used to close the target at the channel's close).
func TestBothForwardingCloseDeliversWhatWasSent(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		got := make(chan int64, 1)
		port := serveTCP(t, func(c net.Conn) {
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			n, _ := io.Copy(io.Discard, c)
			got <- n
		})
		conn, err := s.DialContext(testCtx(t, 30*time.Second), "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		require.NoError(t, err)
		require.NoError(t, conn.SetDeadline(time.Now().Add(60*time.Second)))
		data := randomData(2 << 20)
		_, err = conn.Write(data)
		require.NoError(t, err)
		require.NoError(t, conn.Close())
		assert.EqualValues(t, len(data), recv(t, got, 60*time.Second), "bytes the target received")
	})
}

func TestBothForwardingRefused(t *testing.T) {
	t.Parallel()
	closed := refusingAddr(t)
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		_, err := s.DialContext(testCtx(t, 30*time.Second), "tcp", closed)
		require.ErrorIs(t, err, libssh.ErrRequestDenied)
		// The session is still fine.
		out, err := s.CommandLine("echo still").Output()
		require.NoError(t, err)
		assert.Equal(t, "still\n", string(out))
	})
}
