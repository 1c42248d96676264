package libssh_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

// socksForwarder is a SOCKS forwarder through a new session to sshd
// (config: its sshd_config lines) that ends with the test.
func socksForwarder(t *testing.T, s *libssh.Session, opts ...libssh.ForwarderOption) *libssh.Forwarder {
	t.Helper()
	f, err := libssh.NewSOCKSForwarder(testCtx(t, 120*time.Second), s, 0, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// curlSOCKS fetches url with curl through the SOCKS5 proxy, the name
// resolved by the proxy; proxyAuth is "user:password" or "".
func curlSOCKS(t *testing.T, proxy net.Addr, proxyAuth, url string) (string, error) {
	t.Helper()
	args := []string{"--silent", "--show-error", "--max-time", "60", "--noproxy", "", "--socks5-hostname", proxy.String(), url}
	if proxyAuth != "" {
		args = append(args, "--proxy-user", proxyAuth)
	}
	cmd := exec.CommandContext(testCtx(t, 90*time.Second), "curl", args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"} // no proxy variables of the machine
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return string(out), err
}

// webServer serves "hello PATH" on 127.0.0.1 until the test ends.
func webServer(t *testing.T) *httptest.Server {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}))
	t.Cleanup(web.Close)
	return web
}

func TestSOCKSForwarderCurl(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	f := socksForwarder(t, s)
	assert.Equal(t, "127.0.0.1", f.LocalAddr().(*net.TCPAddr).IP.String(), "loopback by default")
	web := webServer(t)
	port := web.Listener.Addr().(*net.TCPAddr).Port
	for _, host := range []string{"localhost", "127.0.0.1"} {
		out, err := curlSOCKS(t, f.LocalAddr(), "", "http://"+host+":"+strconv.Itoa(port)+"/"+host)
		require.NoError(t, err, host)
		assert.Equal(t, "hello /"+host, out)
	}

	t.Run("password", func(t *testing.T) {
		f := socksForwarder(t, s, libssh.WithSOCKSAuth("alice", "s3cret"))
		out, err := curlSOCKS(t, f.LocalAddr(), "alice:s3cret", web.URL+"/authed")
		require.NoError(t, err)
		assert.Equal(t, "hello /authed", out)
		_, err = curlSOCKS(t, f.LocalAddr(), "alice:wrong", web.URL+"/")
		assert.Error(t, err, "a wrong password is turned away")
		_, err = curlSOCKS(t, f.LocalAddr(), "", web.URL+"/")
		assert.Error(t, err, "no password is turned away")
	})
}

// socksClient is a raw SOCKS5 client, to check each byte of the replies.
type socksClient struct {
	t *testing.T
	c net.Conn
}

// dialSOCKS connects to the proxy and offers methods; every read and
// write on the connection ends within 60 s.
func dialSOCKS(t *testing.T, f *libssh.Forwarder, methods ...byte) *socksClient {
	t.Helper()
	c, err := net.Dial("tcp", f.LocalAddr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(60*time.Second)))
	_, err = c.Write(append([]byte{5, byte(len(methods))}, methods...))
	require.NoError(t, err)
	return &socksClient{t, c}
}

func (sc *socksClient) read(n int) []byte {
	sc.t.Helper()
	b := make([]byte, n)
	_, err := io.ReadFull(sc.c, b)
	require.NoError(sc.t, err)
	return b
}

// request sends a request and returns the reply code.
func (sc *socksClient) request(cmd, atyp byte, addr []byte, port int) byte {
	sc.t.Helper()
	req := []byte{5, cmd, 0, atyp}
	if atyp == 3 {
		req = append(req, byte(len(addr)))
	}
	req = binary.BigEndian.AppendUint16(append(req, addr...), uint16(port))
	_, err := sc.c.Write(req)
	require.NoError(sc.t, err)
	reply := sc.read(10)
	assert.Equal(sc.t, []byte{5}, reply[:1])
	return reply[1]
}

// connect negotiates no authentication and sends a CONNECT.
func connectSOCKS(t *testing.T, f *libssh.Forwarder, atyp byte, addr []byte, port int) (*socksClient, byte) {
	t.Helper()
	sc := dialSOCKS(t, f, 0)
	require.Equal(t, []byte{5, 0}, sc.read(2))
	return sc, sc.request(1, atyp, addr, port)
}

// The address types, with an echo through each.
func TestSOCKSForwarderAddressTypes(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	f := socksForwarder(t, s)
	port := serveTCP(t, echo)
	ln6, err := net.Listen("tcp", "[::1]:0")
	if err == nil {
		var wg sync.WaitGroup
		t.Cleanup(func() {
			ln6.Close()
			waitGroup(t, &wg, 30*time.Second)
		})
		spawn(&wg, func() {
			for {
				c, err := ln6.Accept()
				if err != nil {
					return
				}
				spawn(&wg, func() { defer c.Close(); echo(c) })
			}
		})
	}
	cases := []struct {
		name string
		atyp byte
		addr []byte
		port int
	}{
		{"IPv4", 1, net.IPv4(127, 0, 0, 1).To4(), port},
		{"domain", 3, []byte("localhost"), port},
	}
	if ln6 != nil {
		cases = append(cases, struct {
			name string
			atyp byte
			addr []byte
			port int
		}{"IPv6", 4, net.IPv6loopback, ln6.Addr().(*net.TCPAddr).Port})
	}
	for _, tc := range cases {
		sc, code := connectSOCKS(t, f, tc.atyp, tc.addr, tc.port)
		require.Equal(t, byte(0), code, tc.name)
		_, err := sc.c.Write([]byte("ping " + tc.name))
		require.NoError(t, err)
		assert.Equal(t, "ping "+tc.name, string(sc.read(len("ping "+tc.name))))
		require.NoError(t, sc.c.(*net.TCPConn).CloseWrite())
		rest, err := readAll(t, sc.c, 60*time.Second)
		assert.NoError(t, err, "the relay ends with EOF after CloseWrite (%s)", tc.name)
		assert.Empty(t, rest)
	}
	if ln6 == nil {
		t.Log("no IPv6 loopback here: the IPv6 address type was not tried")
	}
}

// Each failure gets its SOCKS reply code, and the proxy goes on serving.
func TestSOCKSForwarderReplyCodes(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	var logged []string
	logs := make(chan string, 100)
	f := socksForwarder(t, s, libssh.WithErrorLog(func(err error) { logs <- err.Error() }))
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	t.Run("connection refused", func(t *testing.T) {
		_, code := connectSOCKS(t, f, 1, net.IPv4(127, 0, 0, 1).To4(), closedPort)
		assert.Equal(t, byte(5), code)
		logged = append(logged, recv(t, logs, 30*time.Second))
	})
	t.Run("host unreachable", func(t *testing.T) {
		// RFC 6761: .invalid never resolves.
		_, code := connectSOCKS(t, f, 3, []byte("no-such-host.invalid"), 80)
		assert.Equal(t, byte(4), code)
		logged = append(logged, recv(t, logs, 30*time.Second))
	})
	t.Run("command not supported", func(t *testing.T) {
		sc := dialSOCKS(t, f, 0)
		require.Equal(t, []byte{5, 0}, sc.read(2))
		assert.Equal(t, byte(7), sc.request(2, 1, net.IPv4(127, 0, 0, 1).To4(), 80), "BIND")
		logged = append(logged, recv(t, logs, 30*time.Second))
	})
	t.Run("address type not supported", func(t *testing.T) {
		sc := dialSOCKS(t, f, 0)
		require.Equal(t, []byte{5, 0}, sc.read(2))
		_, err := sc.c.Write([]byte{5, 1, 0, 9})
		require.NoError(t, err)
		assert.Equal(t, []byte{5, 8}, sc.read(10)[:2])
		logged = append(logged, recv(t, logs, 30*time.Second))
	})
	t.Run("no acceptable method", func(t *testing.T) {
		sc := dialSOCKS(t, f, 2) // username/password only
		assert.Equal(t, []byte{5, 0xff}, sc.read(2))
		logged = append(logged, recv(t, logs, 30*time.Second))
	})
	t.Run("not SOCKS5", func(t *testing.T) {
		c, err := net.Dial("tcp", f.LocalAddr().String())
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(60*time.Second)))
		_, err = c.Write([]byte{4, 1, 0, 80, 127, 0, 0, 1, 0})
		require.NoError(t, err)
		n, err := c.Read(make([]byte, 10))
		assert.Zero(t, n)
		// EOF, or a reset as what it sent was not all read.
		assert.Error(t, err, "a SOCKS4 client is closed without an answer")
		assert.NotErrorIs(t, err, os.ErrDeadlineExceeded)
		logged = append(logged, recv(t, logs, 30*time.Second))
	})
	t.Run("forwarding refused", func(t *testing.T) {
		s := authedSession(t, sshdtest.Options{ConfigFirst: []string{"AllowTcpForwarding no"}})
		f := socksForwarder(t, s)
		_, code := connectSOCKS(t, f, 1, net.IPv4(127, 0, 0, 1).To4(), serveTCP(t, echo))
		assert.Equal(t, byte(2), code, "connection not allowed by ruleset")
	})
	for i, want := range []string{"connect failed", "connect failed", "command 2 is not supported",
		"address type 9 is not supported", "does not offer to go without authentication", "not a SOCKS5 client"} {
		if assert.Greater(t, len(logged), i) {
			assert.Contains(t, logged[i], want)
		}
	}
	// The proxy still serves.
	sc, code := connectSOCKS(t, f, 1, net.IPv4(127, 0, 0, 1).To4(), serveTCP(t, echo))
	require.Equal(t, byte(0), code)
	_, err = sc.c.Write([]byte("still here"))
	require.NoError(t, err)
	assert.Equal(t, "still here", string(sc.read(10)))
}

func TestSOCKSForwarderPassword(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	f := socksForwarder(t, s, libssh.WithSOCKSAuth("alice", "s3cret"))
	port := serveTCP(t, echo)
	login := func(user, pass string) *socksClient {
		sc := dialSOCKS(t, f, 0, 2)
		require.Equal(t, []byte{5, 2}, sc.read(2), "the proxy picks username/password")
		msg := append([]byte{1, byte(len(user))}, user...)
		msg = append(append(msg, byte(len(pass))), pass...)
		_, err := sc.c.Write(msg)
		require.NoError(t, err)
		return sc
	}
	for _, bad := range [][2]string{{"alice", "wrong"}, {"bob", "s3cret"}, {"alice", "s3cret!"}} {
		sc := login(bad[0], bad[1])
		assert.Equal(t, []byte{1, 1}, sc.read(2), "%q turned away", bad)
		_, err := sc.c.Read(make([]byte, 1))
		assert.ErrorIs(t, err, io.EOF, "and disconnected")
	}
	sc := login("alice", "s3cret")
	require.Equal(t, []byte{1, 0}, sc.read(2))
	require.Equal(t, byte(0), sc.request(1, 1, net.IPv4(127, 0, 0, 1).To4(), port))
	_, err := sc.c.Write([]byte("authed"))
	require.NoError(t, err)
	assert.Equal(t, "authed", string(sc.read(6)))

	noAuth := dialSOCKS(t, f, 0)
	assert.Equal(t, []byte{5, 0xff}, noAuth.read(2), "a client without credentials is turned away")
}

func TestSOCKSForwarderCloseDuringUse(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	f, err := libssh.NewSOCKSForwarder(testCtx(t, 120*time.Second), s, 0)
	require.NoError(t, err)
	port := serveTCP(t, echo)
	var relays []*socksClient
	for i := range 3 {
		sc, code := connectSOCKS(t, f, 1, net.IPv4(127, 0, 0, 1).To4(), port)
		require.Equal(t, byte(0), code)
		msg := "relay " + strconv.Itoa(i)
		_, err := sc.c.Write([]byte(msg))
		require.NoError(t, err)
		require.Equal(t, msg, string(sc.read(len(msg))))
		relays = append(relays, sc)
	}
	silent := dialSOCKS(t, f, 0) // mid-handshake
	require.Equal(t, []byte{5, 0}, silent.read(2))
	assert.Equal(t, 4, f.Clients())

	require.NoError(t, f.Close())
	recv(t, f.Done(), 30*time.Second)
	assert.Zero(t, f.Clients())
	assert.Zero(t, libssh.SessionChannels(s), "every relay's channel is closed")
	for _, sc := range append(relays, silent) {
		_, err := io.Copy(io.Discard, sc.c)
		assert.NoError(t, err, "each client reads to its end")
	}
	_, err = net.Dial("tcp", f.LocalAddr().String())
	assert.Error(t, err, "the listener is closed")
	assert.ErrorIs(t, f.Close(), net.ErrClosed)
	runTrue(t, s) // the session goes on
}

func TestSOCKSForwarderOptions(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	var nilCtx context.Context
	_, err := libssh.NewSOCKSForwarder(nilCtx, s, 0)
	assert.ErrorContains(t, err, "nil")
	_, err = libssh.NewForwarder(testCtx(t, 30*time.Second), s, 0, "127.0.0.1", 80, libssh.WithSOCKSAuth("a", "b"))
	assert.ErrorContains(t, err, "WithSOCKSAuth applies to NewSOCKSForwarder only")
	for _, c := range [][2]string{{"", "p"}, {"u", ""}, {strings.Repeat("u", 256), "p"}} {
		_, err = libssh.NewSOCKSForwarder(testCtx(t, 30*time.Second), s, 0, libssh.WithSOCKSAuth(c[0], c[1]))
		assert.ErrorContains(t, err, "1 to 255 bytes")
	}
	_, err = libssh.NewSOCKSForwarder(context.Background(), nil, 0)
	assert.Error(t, err)
	s.Close()
	_, err = libssh.NewSOCKSForwarder(context.Background(), s, 0)
	assert.ErrorIs(t, err, libssh.ErrClosed)
}

// TestSOCKSForwarderSilentClient: a client that connects and says nothing
// is cut off after the handshake timeout, and the error log says why.
func TestSOCKSForwarderSilentClient(t *testing.T) {
	old := libssh.SetSOCKSHandshakeTimeout(200 * time.Millisecond)
	defer libssh.SetSOCKSHandshakeTimeout(old)
	s := fwdSession(t)
	logs := make(chan error, 10)
	f := socksForwarder(t, s, libssh.WithErrorLog(func(err error) { logs <- err }))
	c, err := net.DialTimeout("tcp", f.LocalAddr().String(), 10*time.Second)
	require.NoError(t, err)
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := c.Read(make([]byte, 1))
	assert.Zero(t, n)
	var ne net.Error
	if errors.As(err, &ne) {
		require.False(t, ne.Timeout(), "the forwarder did not close the silent client's connection")
	}
	assert.Error(t, err)
	assert.ErrorIs(t, recv(t, logs, 20*time.Second), os.ErrDeadlineExceeded)

	// With the usual timeout, a client is served as before.
	libssh.SetSOCKSHandshakeTimeout(old)
	web := webServer(t)
	out, err := curlSOCKS(t, f.LocalAddr(), "", web.URL+"/after")
	require.NoError(t, err)
	assert.Equal(t, "hello /after", out)
}
