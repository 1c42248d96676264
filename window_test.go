package libssh_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/sshtest"
)

// seqOutput is what `seq 1 n` prints.
func seqOutput(n int) []byte {
	var b []byte
	for i := 1; i <= n; i++ {
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, '\n')
	}
	return b
}

// closeAfter bounds the blocking reads of a test on s: after d it fails
// the test and closes s, which ends them.
func closeAfter(t *testing.T, s *libssh.Session, d time.Duration) {
	timer := time.AfterFunc(d, func() {
		t.Errorf("still reading after %v: closing the session", d)
		s.Close()
	})
	t.Cleanup(func() { timer.Stop() })
}

// readMixed reads r to EOF with buffers of random sizes, from 1 byte to
// 256 KiB, so that reads take part of what libssh holds, all of it, or
// more.
func readMixed(t *testing.T, r io.Reader, seed uint64) []byte {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, seed))
	deadline := time.Now().Add(60 * time.Second)
	var got []byte
	for time.Now().Before(deadline) {
		size := 1 + rnd.IntN(256<<10)
		if rnd.IntN(4) == 0 {
			size = 1 + rnd.IntN(64)
		}
		buf := make([]byte, size)
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			return got
		}
		require.NoError(t, err)
	}
	t.Fatalf("no EOF within 60 s (%d bytes read)", len(got))
	return nil
}

// TestDownloadByteExact: a download of 20 MB, read with buffers of every
// size, arrives byte for byte, on a channel and through a Cmd pipe.
func TestDownloadByteExact(t *testing.T) {
	t.Parallel()
	const lines = 2_800_000 // 20.6 MB
	want := seqOutput(lines)
	s := cmdSession(t)
	closeAfter(t, s, 60*time.Second)

	ch := execChannel(t, s, "seq 1 "+strconv.Itoa(lines))
	got := readMixed(t, ch, 1)
	require.Equal(t, len(want), len(got))
	require.True(t, bytes.Equal(want, got), "the download differs")
	require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
	require.NoError(t, ch.Close())

	cmd := s.CommandLineContext(testCtx(t, 60*time.Second), "seq 1 "+strconv.Itoa(lines))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	got = readMixed(t, out, 2)
	require.NoError(t, cmd.Wait())
	require.True(t, bytes.Equal(want, got), "the download through StdoutPipe differs")
}

// TestSlowReaderStaysUnderTheCap: a reader far slower than the server
// (64-byte reads) makes the channel hold at most the cap. libssh 0.10 on
// its own grows the window by 1.28 MB at each such read, and held
// hundreds of MB here. The data must also arrive intact.
func TestSlowReaderStaysUnderTheCap(t *testing.T) {
	t.Parallel()
	const capBytes = 8 << 20
	const lines = 4_000_000 // 30.9 MB
	want := seqOutput(lines)
	srv := sshdtest.New(t, sshdtest.Options{})
	s := newPipeSession(t, srv, libssh.WithMaxWindow(capBytes))
	closeAfter(t, s, 60*time.Second)
	authenticate(t, s)
	ch := execChannel(t, s, "seq 1 "+strconv.Itoa(lines))
	deadline := time.Now().Add(60 * time.Second)
	got := make([]byte, 0, len(want))
	buf := make([]byte, 64)
	maxHeld := 0
	for reads := 0; ; reads++ {
		require.True(t, time.Now().Before(deadline), "no EOF within 60 s (%d bytes read)", len(got))
		if reads%64 == 0 {
			held, _ := libssh.ChannelWindow(ch)
			maxHeld = max(maxHeld, held)
			require.LessOrEqual(t, held, capBytes, "after %d bytes read", len(got))
		}
		if len(got) > 24<<20 {
			buf = make([]byte, 256<<10) // the rest at speed
		}
		n, err := ch.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.True(t, bytes.Equal(want, got), "the download differs")
	t.Logf("the channel held at most %d bytes", maxHeld)
}

// TestLargeReadsStayUnderTheCap: a Read with a buffer larger than the cap
// (io.ReadAll's and bytes.Buffer's grow so) grants the server no more
// than the window's target, so a reader that then slows down makes the
// channel hold at most the cap. Each such Read used to grant the server
// its buffer's size. (sshtest, which keeps sending at speed whatever the
// window; sshd slowed down to a crawl with such a window.)
func TestLargeReadsStayUnderTheCap(t *testing.T) {
	t.Parallel()
	const capBytes = 8 << 20
	srv := newSSHTest(t, sshtest.Options{Password: sshtestPassword, Exec: func(ctx context.Context, e *sshtest.Exec) int {
		b := make([]byte, 1<<20)
		for ctx.Err() == nil {
			if _, err := e.Stdout.Write(b); err != nil {
				return 1
			}
		}
		return 0
	}})
	s := connectSSHTest(t, srv, libssh.WithMaxWindow(capBytes))
	closeAfter(t, s, 60*time.Second)
	status, err := s.UserauthPassword(testCtx(t, 30*time.Second), sshtestPassword)
	require.NoError(t, err)
	require.Equal(t, libssh.AuthSuccess, status)
	ch := execChannel(t, s, "zeros")
	deadline := time.Now().Add(60 * time.Second)
	large, small := make([]byte, 64<<20), make([]byte, 64)
	maxHeld := 0
	for range 3 {
		_, err := ch.Read(large)
		require.NoError(t, err)
		for reads := range 100000 {
			require.True(t, time.Now().Before(deadline), "reads took over 60 s")
			if reads%64 == 0 {
				held, _ := libssh.ChannelWindow(ch)
				maxHeld = max(maxHeld, held)
				require.LessOrEqual(t, held, capBytes)
			}
			_, err := ch.Read(small)
			require.NoError(t, err)
		}
	}
	t.Logf("the channel held at most %d bytes", maxHeld)
}

// TestWindowGrowsOnALongPath: over a link with a 200 ms round trip the
// window is what limits a download (unless sshd sends less than 13 MB/s),
// and it grows (within its cap).
func TestWindowGrowsOnALongPath(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	addr := delayRelay(t, srv.Listen(t), 100*time.Millisecond)
	host, port := splitHostPort(t, addr)
	s := connectListenSession(t, srv, libssh.WithPort(port),
		libssh.WithKnownHosts(knownHostsOf(t, srv, addrKey(host, port))))
	require.NoError(t, s.VerifyHost())
	closeAfter(t, s, 60*time.Second)
	authenticate(t, s)
	ch := execChannel(t, s, "head -c 1000000000 /dev/zero")
	_, start := libssh.ChannelWindow(ch)
	deadline := time.Now().Add(60 * time.Second)
	buf := make([]byte, 64<<10)
	read, target := 0, start
	for target <= start {
		require.True(t, time.Now().Before(deadline), "the window stayed at %d bytes (%d bytes read)", target, read)
		n, err := ch.Read(buf)
		require.NoError(t, err)
		read += n
		_, target = libssh.ChannelWindow(ch)
	}
	assert.LessOrEqual(t, target, libssh.DefaultMaxWindow)
	t.Logf("the window grew from %d to %d bytes after %d bytes", start, target, read)
}

func TestMaxWindowBadValues(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	bad := []int{-1, 0, 1, 1280000, 8<<20 - 1, 1<<30 + 1}
	for _, n := range bad {
		_, err := libssh.NewSession(ctx, "127.0.0.1", libssh.WithMaxWindow(n), libssh.WithAutoConnect(false))
		assert.ErrorContains(t, err, "window cap", n)
	}
	s, err := libssh.NewSession(ctx, "127.0.0.1", libssh.WithMaxWindow(8<<20), libssh.WithAutoConnect(false))
	require.NoError(t, err)
	s.Close()

	s = authedSession(t, sshdtest.Options{})
	ch := openChannel(t, s)
	for _, n := range bad {
		assert.ErrorContains(t, ch.SetMaxWindow(n), "window cap", n)
	}
	assert.NoError(t, ch.SetMaxWindow(8<<20))
	assert.NoError(t, ch.SetMaxWindow(1<<30))
	require.NoError(t, ch.Close())
	assert.ErrorIs(t, ch.SetMaxWindow(8<<20), libssh.ErrClosed)
	var nilCh *libssh.Channel
	assert.ErrorIs(t, nilCh.SetMaxWindow(8<<20), libssh.ErrClosed)
	assert.ErrorIs(t, (&libssh.Channel{}).SetMaxWindow(8<<20), libssh.ErrClosed)
}

// delayRelay listens on 127.0.0.1 and relays each connection to target,
// delaying what it forwards by oneWay in each direction (a link with a
// round trip of 2*oneWay and no bandwidth limit). It returns its address;
// a connection's relay ends when either side closes.
func delayRelay(t *testing.T, target string, oneWay time.Duration) string {
	t.Helper()
	port := serveTCP(t, func(c net.Conn) {
		d, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer d.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			delayCopy(d, c, oneWay)
		}()
		delayCopy(c, d, oneWay)
		<-done
	})
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// delayCopy copies src to dst, each chunk oneWay after it was read, and
// closes both when either side ends.
func delayCopy(dst, src net.Conn, oneWay time.Duration) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	q := make(chan chunk, 4096) // up to 256 MiB in flight
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			time.Sleep(time.Until(c.due))
			if _, err := dst.Write(c.b); err != nil {
				src.Close()
				for range q {
				}
				return
			}
		}
		dst.Close()
	}()
	for {
		b := make([]byte, 64<<10)
		n, err := src.Read(b)
		if n > 0 {
			q <- chunk{b[:n], time.Now().Add(oneWay)}
		}
		if err != nil {
			break
		}
	}
	close(q)
	<-done
}
