package libssh_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/sshtest"
)

// listen asks s's server to listen on addr; the listener is closed when
// the test ends.
func listen(t *testing.T, s *libssh.Session, addr string) *libssh.RemoteListener {
	t.Helper()
	ln, err := s.Listen(testCtx(t, 30*time.Second), "tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	rl, ok := ln.(*libssh.RemoteListener)
	require.True(t, ok, "Listen returned a %T", ln)
	return rl
}

// listenPort returns the port of a listener's Addr.
func listenPort(t *testing.T, ln net.Listener) int {
	t.Helper()
	a, ok := ln.Addr().(*net.TCPAddr)
	require.True(t, ok, "Addr is a %T", ln.Addr())
	return a.Port
}

// roundTrip dials port on 127.0.0.1, writes msg, closes its writing half
// and returns what came back.
func roundTrip(t *testing.T, port int, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 10*time.Second)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, msg)
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	b, err := readAll(t, c, 30*time.Second)
	require.NoError(t, err)
	return string(b)
}

// TestListenEcho: a port the server chose forwards connections back to
// the client, both ways, with EOF passed on; the accepted connection is
// DialContext's type, with its addresses, deadlines and CloseWrite.
func TestListenEcho(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		ln := listen(t, s, "127.0.0.1:0")
		port := listenPort(t, ln)
		require.NotZero(t, port, "the server's chosen port")
		assert.Equal(t, "127.0.0.1:"+strconv.Itoa(port), ln.Addr().String())
		conns := make(chan net.Conn, 1)
		serveListener(t, ln, func(c net.Conn) {
			conns <- c
			echo(c)
			c.(interface{ CloseWrite() error }).CloseWrite()
		})
		want := strings.Repeat("through the tunnel and back ", 10000)
		assert.Equal(t, want, roundTrip(t, port, want))
		c := recv(t, conns, 10*time.Second)
		assert.Equal(t, ln.Addr().String(), c.LocalAddr().String())
		origin, ok := c.RemoteAddr().(*net.TCPAddr)
		require.True(t, ok, "RemoteAddr is a %T", c.RemoteAddr())
		assert.True(t, origin.IP.IsLoopback(), "originator %v", origin)
		assert.NotZero(t, origin.Port)

		// Deadlines: a second connection whose reader gives up.
		got := make(chan error, 1)
		ln2 := listen(t, s, "127.0.0.1:0")
		serveListener(t, ln2, func(c net.Conn) {
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			_, err := c.Read(make([]byte, 1))
			got <- err
		})
		d, err := net.DialTimeout("tcp", ln2.Addr().String(), 10*time.Second)
		require.NoError(t, err)
		defer d.Close()
		err = recv(t, got, 30*time.Second)
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
	})
}

// TestListenTwoListeners: two listeners on one session, one on a port the
// client names; each connection reaches the listener of its port.
func TestListenTwoListeners(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		// A port free a moment ago; another test may take it meanwhile,
		// and then the server refuses: try another.
		var a *libssh.RemoteListener
		var fixed int
		for try := 0; a == nil; try++ {
			free, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			fixed = free.Addr().(*net.TCPAddr).Port
			free.Close()
			ln, err := s.Listen(testCtx(t, 30*time.Second), "tcp", "127.0.0.1:"+strconv.Itoa(fixed))
			if try < 5 && errors.Is(err, libssh.ErrRequestDenied) {
				continue
			}
			require.NoError(t, err)
			a = ln.(*libssh.RemoteListener)
			t.Cleanup(func() { a.Close() })
		}
		require.Equal(t, fixed, listenPort(t, a))
		b := listen(t, s, "127.0.0.1:0")
		require.NotEqual(t, fixed, listenPort(t, b))
		for name, ln := range map[string]net.Listener{"a": a, "b": b} {
			serveListener(t, ln, func(c net.Conn) {
				io.Copy(io.Discard, c)
				io.WriteString(c, name)
			})
		}
		for range 3 {
			assert.Equal(t, "a", roundTrip(t, fixed, "x"))
			assert.Equal(t, "b", roundTrip(t, listenPort(t, b), "y"))
		}
	})
}

// TestListenCloseDuringAccept: Close ends a blocked Accept with
// net.ErrClosed, and the server stops listening; a second Close says it
// was closed; the session goes on.
func TestListenCloseDuringAccept(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		ln := listen(t, s, "127.0.0.1:0")
		port := listenPort(t, ln)
		accepted := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if c != nil {
				c.Close()
			}
			accepted <- err
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := ln.AcceptContext(ctx) // also shows the first Accept is waiting
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NoError(t, ln.Close())
		// The server no longer listens: its port can be bound at once. (A
		// dial could reach a listener that a parallel test got that port
		// for since.)
		free, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		require.NoError(t, err, "the server still listens after Close")
		free.Close()
		err = recv(t, accepted, 10*time.Second)
		assert.ErrorIs(t, err, net.ErrClosed)
		assert.ErrorIs(t, ln.Close(), net.ErrClosed, "second Close")
		_, err = ln.Accept()
		assert.ErrorIs(t, err, net.ErrClosed, "Accept after Close")
		// The session is still usable: listen again.
		ln2 := listen(t, s, "127.0.0.1:0")
		serveListener(t, ln2, func(c net.Conn) { echo(c) })
		assert.Equal(t, "again", roundTrip(t, listenPort(t, ln2), "again"))
	})
}

// TestListenSessionCloseEndsAccept: closing the session ends its
// listeners' Accepts with net.ErrClosed.
func TestListenSessionCloseEndsAccept(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		a := listen(t, s, "127.0.0.1:0")
		b := listen(t, s, "127.0.0.1:0")
		errs := make(chan error, 2)
		for _, ln := range []net.Listener{a, b} {
			go func() {
				_, err := ln.Accept()
				errs <- err
			}()
		}
		require.NoError(t, s.Close())
		for range 2 {
			assert.ErrorIs(t, recv(t, errs, 10*time.Second), net.ErrClosed)
		}
		_, err := s.Listen(testCtx(t, 10*time.Second), "tcp", "127.0.0.1:0")
		assert.ErrorIs(t, err, libssh.ErrClosed, "Listen after Close")
		assert.NoError(t, a.Close(), "Close of a listener whose session closed")
	})
}

// TestListenRefused: a server that does not forward, and a privileged
// port, are refused with ErrRequestDenied; the session stays usable.
func TestListenRefused(t *testing.T) {
	t.Parallel()
	t.Run("sshd AllowTcpForwarding no", func(t *testing.T) {
		t.Parallel()
		s := authedSession(t, sshdtest.Options{Unprivileged: true, ConfigFirst: []string{"AllowTcpForwarding no"}})
		ln, err := s.Listen(testCtx(t, 30*time.Second), "tcp", "127.0.0.1:0")
		require.ErrorIs(t, err, libssh.ErrRequestDenied)
		assert.Nil(t, ln)
		assert.Contains(t, err.Error(), "refused")
		assert.Contains(t, err.Error(), "it refused 8 random ports of 49152-65535")
		errLower(t, "refusal", err)
		out, err := s.Command("echo", "still here").Output()
		require.NoError(t, err)
		assert.Equal(t, "still here\n", string(out))
	})
	t.Run("sshd privileged port", func(t *testing.T) {
		t.Parallel()
		s := fwdSession(t)
		_, err := s.Listen(testCtx(t, 30*time.Second), "tcp", "127.0.0.1:80")
		require.ErrorIs(t, err, libssh.ErrRequestDenied)
		ln := listen(t, s, "127.0.0.1:0")
		serveListener(t, ln, func(c net.Conn) { echo(c) })
		assert.Equal(t, "after", roundTrip(t, listenPort(t, ln), "after"))
	})
	t.Run("sshtest without Forwarding", func(t *testing.T) {
		t.Parallel()
		s := sshtestSession(t, sshtest.Options{})
		_, err := s.Listen(testCtx(t, 30*time.Second), "tcp", "127.0.0.1:0")
		require.ErrorIs(t, err, libssh.ErrRequestDenied)
	})
	t.Run("not authenticated", func(t *testing.T) {
		t.Parallel()
		s := connectSSHTest(t, newSSHTest(t, sshtest.Options{Password: sshtestPassword, Forwarding: true}))
		_, err := s.Listen(testCtx(t, 30*time.Second), "tcp", "127.0.0.1:0")
		require.ErrorIs(t, err, libssh.ErrNotAuthenticated)
		status, err := s.UserauthPassword(testCtx(t, 30*time.Second), sshtestPassword)
		require.NoError(t, err)
		require.Equal(t, libssh.AuthSuccess, status)
		ln := listen(t, s, "127.0.0.1:0")
		serveListener(t, ln, func(c net.Conn) { echo(c) })
		assert.Equal(t, "then", roundTrip(t, listenPort(t, ln), "then"))
	})
	t.Run("bad arguments", func(t *testing.T) {
		t.Parallel()
		s := sshtestSession(t, sshtest.Options{Forwarding: true})
		ctx := testCtx(t, 10*time.Second)
		for _, c := range []struct{ network, addr string }{
			{"udp", "127.0.0.1:0"}, {"tcp", "127.0.0.1"}, {"tcp", "127.0.0.1:65536"}, {"tcp", "a\x00b:1"},
		} {
			ln, err := s.Listen(ctx, c.network, c.addr)
			assert.Error(t, err, "%q %q", c.network, c.addr)
			assert.Nil(t, ln)
		}
		var nilCtx context.Context
		_, err := s.Listen(nilCtx, "tcp", "127.0.0.1:0")
		assert.Error(t, err)
	})
}

// TestListenWithKeepalive: keepalives every few milliseconds share
// libssh's one global-request slot with the forward requests; every
// Listen and Close still gets its own answer (sshd refuses keepalives, so
// a Listen handed a keepalive's answer would fail).
func TestListenWithKeepalive(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{Unprivileged: true,
		ConfigFirst: []string{"AllowTcpForwarding yes", "LogLevel DEBUG"}})
	s := newPipeSession(t, srv, libssh.WithKeepalive(5*time.Millisecond, 1000))
	authenticate(t, s)
	keepalives := func() int { return strings.Count(srv.Log(), "rtype keepalive@openssh.com want_reply 1") }
	cancels := func() int { return strings.Count(srv.Log(), "cancel-tcpip-forward addr 127.0.0.1 port") }
	for i := range 10 {
		// An idle moment first: the keepalive then sends (and may leave
		// its request unanswered when Listen comes).
		seen := keepalives()
		require.Eventually(t, func() bool { return keepalives() > seen }, 20*time.Second, time.Millisecond)
		ln := listen(t, s, "127.0.0.1:0")
		var wg sync.WaitGroup
		spawn(&wg, func() {
			c, err := ln.Accept()
			if assert.NoError(t, err) {
				echo(c)
				c.Close()
			}
		})
		msg := "round " + strconv.Itoa(i)
		assert.Equal(t, msg, roundTrip(t, listenPort(t, ln), msg))
		waitGroup(t, &wg, 30*time.Second)
		seen = keepalives()
		require.Eventually(t, func() bool { return keepalives() > seen }, 20*time.Second, time.Millisecond)
		require.NoError(t, ln.Close())
	}
	require.NoError(t, s.Err())
	// Each Close cancelled once, and nothing else did.
	require.Eventually(t, func() bool { return cancels() >= 10 }, 20*time.Second, 10*time.Millisecond)
	assert.Equal(t, 10, cancels())
}

// TestListenAcceptContextNil: AcceptContext refuses a nil context.
func TestListenAcceptContextNil(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{Forwarding: true})
	ln := listen(t, s, "127.0.0.1:0")
	var nilCtx context.Context
	_, err := ln.AcceptContext(nilCtx)
	assert.Error(t, err)
	assert.False(t, errors.Is(err, net.ErrClosed))
}

// TestListenAbandoned: a Listen whose context ends before the server
// answered leaves its answer for the next request to collect; the session
// stays usable and later Listens get their own answers.
func TestListenAbandoned(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		abandoned := 0
		for i := range 30 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%6)*100*time.Microsecond)
			ln, err := s.Listen(ctx, "tcp", "127.0.0.1:0")
			cancel()
			if err == nil {
				require.NoError(t, ln.Close())
				continue
			}
			require.ErrorIs(t, err, context.DeadlineExceeded)
			if e := (*libssh.Error)(nil); errors.As(err, &e) {
				// Sent, not answered yet (else the bare context error:
				// nothing was sent).
				errLower(t, "abandoned Listen", err)
				abandoned++
			}
		}
		t.Logf("%d of 30 abandoned", abandoned)
		ln := listen(t, s, "127.0.0.1:0")
		serveListener(t, ln, func(c net.Conn) { echo(c) })
		assert.Equal(t, "after", roundTrip(t, listenPort(t, ln), "after"))
		require.NoError(t, s.Err())
	})
}

// TestListenInCallback: Accept inside a callback returns ErrInCallback
// instead of waiting for a connection that would need the callback's lock;
// Close there works.
func TestListenInCallback(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{Forwarding: true})
	ln := listen(t, s, "127.0.0.1:0")
	ch, err := s.NewChannel()
	require.NoError(t, err)
	t.Cleanup(func() { ch.Close() })
	require.NoError(t, ch.OpenSession(testCtx(t, 30*time.Second)))
	inside := make(chan error, 2)
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnData: func(data []byte, isStderr bool) int {
			_, err := ln.Accept()
			inside <- err
			inside <- ln.Close()
			return len(data)
		},
	}))
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "echo data"))
	assert.ErrorIs(t, recv(t, inside, 30*time.Second), libssh.ErrInCallback)
	assert.NoError(t, recv(t, inside, 30*time.Second))
	_, err = ln.Accept()
	assert.ErrorIs(t, err, net.ErrClosed)
	// The forward is cancelled by another goroutine; the session goes on.
	ln2 := listen(t, s, "127.0.0.1:0")
	serveListener(t, ln2, func(c net.Conn) { echo(c) })
	assert.Equal(t, "after", roundTrip(t, listenPort(t, ln2), "after"))
}

// TestListenPortZeroDuringTransfer: asking for server-chosen ports while a
// channel of the same session receives data loses none of it. libssh reads
// the chosen port from whatever packet it handled last; when that was the
// first part of a data packet, the read took four bytes of it and the
// packet was dropped as garbage (an SFTP answer lost for good, in the
// randomized misuse test).
func TestListenPortZeroDuringTransfer(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, s *libssh.Session) {
		const size = 24 << 20
		src, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer src.Close()
		want := sha256.New()
		data := make([]byte, size)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		want.Write(data)
		go func() {
			c, err := src.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			c.Write(data)
		}()
		ctx := testCtx(t, 60*time.Second)
		conn, err := s.DialContext(ctx, "tcp", src.Addr().String())
		require.NoError(t, err)
		defer conn.Close()

		stop := make(chan struct{})
		listens := make(chan error, 1)
		var ports []int
		go func() {
			for {
				select {
				case <-stop:
					listens <- nil
					return
				default:
				}
				ln, err := s.Listen(ctx, "tcp", "127.0.0.1:0")
				if err != nil {
					listens <- err
					return
				}
				// Not listenPort: require may not stop the test from
				// this goroutine.
				a, _ := ln.Addr().(*net.TCPAddr)
				if a == nil {
					listens <- fmt.Errorf("Addr is a %T", ln.Addr())
					return
				}
				ports = append(ports, a.Port)
				if err := ln.Close(); err != nil {
					listens <- err
					return
				}
			}
		}()
		conn.SetReadDeadline(time.Now().Add(50 * time.Second))
		got := sha256.New()
		n, err := io.CopyN(got, conn, size)
		close(stop)
		require.NoError(t, recv(t, listens, 30*time.Second), "a Listen during the transfer")
		require.NoError(t, err, "after %d bytes", n)
		assert.Equal(t, want.Sum(nil), got.Sum(nil), "the data arrived altered")
		assert.NotEmpty(t, ports, "no Listen completed during the transfer")
		t.Logf("%d listeners during the transfer", len(ports))
		for _, p := range ports {
			assert.Positive(t, p)
		}
		assert.True(t, s.IsConnected(), "the session broke: %v", s.Err())
	})
}
