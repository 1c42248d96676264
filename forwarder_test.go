package libssh_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

// fwdSession is an authenticated session whose server forwards TCP.
func fwdSession(t *testing.T, config ...string) *libssh.Session {
	t.Helper()
	return authedSession(t, sshdtest.Options{Unprivileged: true, ConfigFirst: append(config, "AllowTcpForwarding yes")})
}

// echo copies what it reads back until EOF. (Hiding the connection's
// methods keeps io.Copy from splicing, whose pooled pipes the leak audit
// would count.)
func echo(c net.Conn) { io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{c}) }

func TestDialContextHTTP(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	tr := &http.Transport{DialContext: s.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	for i := range 5 {
		resp, err := client.Get(srv.URL + "/" + strconv.Itoa(i))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, "hello /"+strconv.Itoa(i), string(body))
	}
}

func TestDialContextConn(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	// The far end reads to EOF, then answers with what it got.
	port := serveTCP(t, func(c net.Conn) {
		b, _ := io.ReadAll(c)
		fmt.Fprintf(c, "got %d bytes", len(b))
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conn, err := s.DialContext(testCtx(t, 30*time.Second), "tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	assert.Equal(t, addr, conn.RemoteAddr().String())
	assert.Equal(t, "tcp", conn.RemoteAddr().Network())
	assert.Equal(t, "127.0.0.1:0", conn.LocalAddr().String(), "the originator the server was told about")

	_, err = conn.Write(bytes.Repeat([]byte("x"), 100000))
	require.NoError(t, err)
	require.NoError(t, conn.(interface{ CloseWrite() error }).CloseWrite(), "half-close")
	answer, err := readAll(t, conn, 60*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "got 100000 bytes", string(answer), "EOF reached the far end, and its answer came back")
	require.NoError(t, conn.Close())
	err = conn.Close()
	assert.ErrorIs(t, err, net.ErrClosed, "a second Close fails, as a *net.TCPConn's does")
	assert.ErrorIs(t, err, libssh.ErrClosed)
	for _, err := range []error{
		func() error { _, err := conn.Read(make([]byte, 1)); return err }(),
		func() error { _, err := conn.Write([]byte("x")); return err }(),
		conn.(interface{ CloseWrite() error }).CloseWrite(),
	} {
		assert.ErrorIs(t, err, net.ErrClosed, "net/http and servers test for net.ErrClosed")
		assert.ErrorIs(t, err, libssh.ErrClosed)
		var opErr *net.OpError
		assert.ErrorAs(t, err, &opErr)
	}
}

func TestDialContextRefusals(t *testing.T) {
	t.Parallel()
	t.Run("closed port", func(t *testing.T) {
		t.Parallel()
		s := fwdSession(t)
		addr := refusingAddr(t)
		_, err := s.DialContext(testCtx(t, 30*time.Second), "tcp", addr)
		require.Error(t, err)
		assert.ErrorContains(t, err, addr)
		var refused *libssh.OpenChannelError
		if assert.ErrorAs(t, err, &refused) {
			assert.Equal(t, libssh.OpenConnectFailed, refused.Reason)
			assert.NotEmpty(t, refused.Message, "OpenSSH says why it could not connect")
		}
		assert.ErrorContains(t, err, "could not connect")
		assert.Zero(t, libssh.SessionChannels(s))
		// The session goes on.
		port := serveTCP(t, echo)
		conn, err := s.DialContext(testCtx(t, 30*time.Second), "tcp", "127.0.0.1:"+strconv.Itoa(port))
		require.NoError(t, err)
		conn.Close()
	})
	t.Run("forwarding off", func(t *testing.T) {
		t.Parallel()
		s := authedSession(t, sshdtest.Options{ConfigFirst: []string{"AllowTcpForwarding no"}})
		port := serveTCP(t, echo)
		_, err := s.DialContext(testCtx(t, 30*time.Second), "tcp", "127.0.0.1:"+strconv.Itoa(port))
		require.ErrorIs(t, err, libssh.ErrRequestDenied)
		assert.ErrorContains(t, err, "open forward channel to 127.0.0.1:"+strconv.Itoa(port))
	})
	t.Run("bad input", func(t *testing.T) {
		t.Parallel()
		s := fwdSession(t)
		for _, tc := range []struct{ network, addr, want string }{
			{"udp", "127.0.0.1:1", "unsupported network"},
			{"tcp", "no-port", "missing port"},
			{"tcp", "127.0.0.1:http", "invalid port"},
			{"tcp", "127.0.0.1:70000", "invalid port"},
		} {
			_, err := s.DialContext(testCtx(t, 30*time.Second), tc.network, tc.addr)
			assert.ErrorContains(t, err, tc.want, "%s %s", tc.network, tc.addr)
		}
		ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
		cancel()
		_, err := s.DialContext(ctx, "tcp", "127.0.0.1:1")
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func TestDialContextDeadlines(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	// A far end that neither reads nor writes until the test ends.
	quit := make(chan struct{})
	port := serveTCP(t, func(c net.Conn) { <-quit })
	t.Cleanup(func() { close(quit) })
	conn, err := s.DialContext(testCtx(t, 30*time.Second), "tcp", "127.0.0.1:"+strconv.Itoa(port))
	require.NoError(t, err)
	defer conn.Close()

	// A read waiting on a silent far end.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = conn.Read(make([]byte, 10))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var netErr net.Error
	require.ErrorAs(t, err, &netErr)
	assert.True(t, netErr.Timeout())
	_, err = conn.Read(make([]byte, 10))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "a passed deadline stays passed")

	// A deadline moved into the past wakes a waiting read.
	require.NoError(t, conn.SetReadDeadline(time.Time{}))
	result := make(chan error, 1)
	go func() {
		_, err := conn.Read(make([]byte, 10))
		result <- err
	}()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(-time.Second)))
	assert.ErrorIs(t, recv(t, result, 30*time.Second), os.ErrDeadlineExceeded)

	// Writes fill the window, then wait for it until the deadline.
	require.NoError(t, conn.SetWriteDeadline(time.Now().Add(50*time.Millisecond)))
	chunk := make([]byte, 1<<20)
	var written int
	for err = nil; err == nil; {
		var n int
		n, err = conn.Write(chunk)
		written += n
		require.True(t, err == nil || errors.Is(err, os.ErrDeadlineExceeded), "write: %v", err)
	}
	assert.Positive(t, written, "the window took some")

	// The deadline errors left the connection as it was.
	require.NoError(t, conn.SetDeadline(time.Time{}))
	assert.Equal(t, 1, libssh.SessionChannels(s))
}

// jumpHost: a second session runs over a connection forwarded by the first.
func TestDialContextJumpHost(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	inner := sshdtest.New(t, sshdtest.Options{Unprivileged: true})
	conn, err := s.DialContext(testCtx(t, 30*time.Second), "tcp", inner.Listen(t))
	require.NoError(t, err)
	s2 := newPipeSession(t, inner, libssh.WithConn(conn))
	authenticate(t, s2)
	out, err := s2.CommandLine("echo through the jump host").Output()
	require.NoError(t, err)
	assert.Equal(t, "through the jump host\n", string(out))
}

// streamOf writes n reproducible bytes to w and returns their SHA-256.
func streamOf(w io.Writer, n int64, seed byte) ([32]byte, error) {
	h := sha256.New()
	src := io.LimitReader(rand.NewChaCha8([32]byte{seed}), n)
	_, err := io.Copy(io.MultiWriter(w, h), src)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, err
}

func TestForwarderGigabyte(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	const size = 1 << 30
	sent := make(chan [32]byte, 1)
	port := serveTCP(t, func(c net.Conn) {
		sum, _ := streamOf(c, size, 7)
		sent <- sum
	})
	f, err := libssh.NewForwarder(testCtx(t, 120*time.Second), s, 0, "127.0.0.1", port)
	require.NoError(t, err)
	defer f.Close()
	addr := f.LocalAddr().(*net.TCPAddr)
	assert.Equal(t, "127.0.0.1", addr.IP.String(), "listens on loopback only")

	client, err := net.Dial("tcp", f.LocalAddr().String())
	require.NoError(t, err)
	defer client.Close()
	h := sha256.New()
	n, err := io.Copy(h, client)
	require.NoError(t, err)
	assert.Equal(t, int64(size), n)
	var got [32]byte
	copy(got[:], h.Sum(nil))
	assert.Equal(t, recv(t, sent, 30*time.Second), got)
}

func TestForwarderFiftyEchoClients(t *testing.T) {
	t.Parallel()
	s := fwdSession(t, "MaxSessions 100")
	port := serveTCP(t, echo)
	f, err := libssh.NewForwarder(testCtx(t, 120*time.Second), s, 0, "127.0.0.1", port)
	require.NoError(t, err)
	defer f.Close()

	const size = 10 << 20
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		spawn(&wg, func() {
			if err := echoThrough(f.LocalAddr().String(), size, byte(i)); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		})
	}
	waitGroup(t, &wg, 120*time.Second)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.NoError(t, f.Close())
	assert.Zero(t, f.Clients(), "finished clients are forgotten")
}

// echoThrough sends size bytes to an echo server at addr while reading them
// back, and compares.
func echoThrough(addr string, size int64, seed byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	sent := make(chan [32]byte, 1)
	go func() {
		sum, _ := streamOf(c, size, seed)
		c.(*net.TCPConn).CloseWrite()
		sent <- sum
	}()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%d bytes back, want %d", n, size)
	}
	var got [32]byte
	copy(got[:], h.Sum(nil))
	if got != <-sent {
		return errors.New("the bytes back differ")
	}
	return nil
}

func TestForwarderFailedOpenClosesThatClientOnly(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	logged := make(chan error, 10)
	f, err := libssh.NewForwarder(testCtx(t, 120*time.Second), s, 0, "127.0.0.1", port, libssh.WithErrorLog(func(err error) { logged <- err }))
	require.NoError(t, err)
	defer f.Close()

	client, err := net.Dial("tcp", f.LocalAddr().String())
	require.NoError(t, err)
	n, err := client.Read(make([]byte, 1))
	assert.Zero(t, n)
	assert.Error(t, err, "the client is closed")
	client.Close()
	assert.ErrorContains(t, recv(t, logged, 30*time.Second), "open forward channel")

	// Now something listens there: the next client goes through.
	ln, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			echo(c)
			c.Close()
		}
	}()
	require.NoError(t, echoThrough(f.LocalAddr().String(), 1000, 1))
}

func TestForwarderCloseMidTransfer(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	// An endless stream, which the clients read one byte of.
	port := serveTCP(t, func(c net.Conn) { io.Copy(c, rand.NewChaCha8([32]byte{})) })
	f, err := libssh.NewForwarder(testCtx(t, 120*time.Second), s, 0, "127.0.0.1", port)
	require.NoError(t, err)
	var clients []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", f.LocalAddr().String())
		require.NoError(t, err)
		defer c.Close()
		_, err = io.ReadFull(c, make([]byte, 1))
		require.NoError(t, err)
		clients = append(clients, c)
	}
	assert.Equal(t, 5, f.Clients())
	require.NoError(t, f.Close())
	recv(t, f.Done(), 30*time.Second)
	assert.Zero(t, f.Clients())
	assert.Zero(t, libssh.SessionChannels(s), "every client's channel is closed")
	for _, c := range clients {
		_, err := readAll(t, c, 30*time.Second)
		assert.NoError(t, err, "the client reads to its end")
	}
	assertListenerClosed(t, f.LocalAddr().String())
	err = f.Close()
	assert.ErrorIs(t, err, net.ErrClosed, "a second Close fails, as a net.Listener's does")
	assert.ErrorIs(t, err, libssh.ErrClosed)
}

func TestForwarderEndsWithItsSession(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	port := serveTCP(t, echo)
	f, err := libssh.NewForwarder(testCtx(t, 120*time.Second), s, 0, "127.0.0.1", port)
	require.NoError(t, err)
	require.NoError(t, echoThrough(f.LocalAddr().String(), 1000, 2))
	require.NoError(t, s.Close())
	recv(t, f.Done(), 30*time.Second)
	assertListenerClosed(t, f.LocalAddr().String())
	_, err = libssh.NewForwarder(testCtx(t, 120*time.Second), s, 0, "127.0.0.1", port)
	assert.ErrorIs(t, err, libssh.ErrClosed)
}

func TestWithForwarderAlwaysCloses(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	port := serveTCP(t, echo)
	boom := errors.New("boom")
	var kept *libssh.Forwarder
	err := libssh.WithForwarder(testCtx(t, 120*time.Second), s, 0, "127.0.0.1", port, func(f *libssh.Forwarder) error {
		kept = f
		return errors.Join(echoThrough(f.LocalAddr().String(), 1000, 3), boom)
	})
	assert.ErrorIs(t, err, boom)
	recv(t, kept.Done(), 30*time.Second)

	_, err = libssh.NewForwarder(testCtx(t, 120*time.Second), s, 70000, "127.0.0.1", port)
	assert.ErrorContains(t, err, "out of range")
	_, err = libssh.NewForwarder(testCtx(t, 120*time.Second), s, 0, "127.0.0.1", -1)
	assert.ErrorContains(t, err, "out of range")
}

// TestForwarderBackpressure: a client that stops reading stops the far end
// too, once the channel's window and the sockets' buffers are full; the
// session does not buffer the rest.
func TestForwarderBackpressure(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	const bound = 64 << 20
	written := make(chan int64, 1)
	port := serveTCP(t, func(c net.Conn) {
		// Write until a write makes no progress for a while: then the
		// pipe is full. (The wait only detects the stall; it decides
		// nothing about correctness.) Give up at the bound.
		chunk := make([]byte, 64<<10)
		var n int64
		for n < bound {
			c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			k, err := c.Write(chunk)
			n += int64(k)
			if err != nil {
				break
			}
		}
		written <- n
	})
	f, err := libssh.NewForwarder(testCtx(t, 120*time.Second), s, 0, "127.0.0.1", port)
	require.NoError(t, err)
	defer f.Close()
	client, err := net.Dial("tcp", f.LocalAddr().String())
	require.NoError(t, err)
	defer client.Close()
	_, err = io.ReadFull(client, make([]byte, 1)) // connected; now read nothing more
	require.NoError(t, err)
	n := recv(t, written, 30*time.Second)
	assert.Less(t, n, int64(bound), "the far end stalled: the data in flight is bounded")
	t.Logf("in flight when the far end stalled: %d KiB", n>>10)
}

func TestForwarderEndsWithItsContext(t *testing.T) {
	t.Parallel()
	s := fwdSession(t)
	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	f, err := libssh.NewForwarder(ctx, s, 0, "127.0.0.1", serveTCP(t, echo))
	require.NoError(t, err)
	require.NoError(t, echoThrough(f.LocalAddr().String(), 1000, 4))
	cancel()
	recv(t, f.Done(), 30*time.Second)
	assertListenerClosed(t, f.LocalAddr().String())
	assert.NoError(t, f.Close(), "a Close after the context's returns nil")
}

// assertListenerClosed checks that nothing listens on addr any more. A dial
// can still succeed now and then without the listener: another test may
// listen on the freed port for a moment, or the kernel may connect the
// socket to itself (CI saw one), so it retries for a while.
func assertListenerClosed(t *testing.T, addr string) {
	t.Helper()
	assert.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}, 10*time.Second, 10*time.Millisecond, "the listener at %s is closed", addr)
}
