package libssh_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/chanio"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/lib"
)

// authedSession is an authenticated session to a fresh sshd -i.
func authedSession(t *testing.T, opts sshdtest.Options) *libssh.Session {
	t.Helper()
	s := newPipeSession(t, sshdtest.New(t, opts))
	authenticate(t, s)
	return s
}

// openChannel opens a session channel, closed when the test ends.
func openChannel(t *testing.T, s *libssh.Session) *libssh.Channel {
	t.Helper()
	ch, err := s.NewChannel()
	require.NoError(t, err)
	t.Cleanup(func() { ch.Close() })
	require.NoError(t, ch.OpenSession(testCtx(t, 30*time.Second)))
	return ch
}

// execChannel runs command on a new channel.
func execChannel(t *testing.T, s *libssh.Session, command string) *libssh.Channel {
	t.Helper()
	ch := openChannel(t, s)
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), command))
	return ch
}

// output is what a command wrote, read from both streams at once.
type output struct {
	stdout, stderr []byte
	outErr, errErr error
}

// readBoth reads the channel's stdout and stderr concurrently to EOF.
func readBoth(t *testing.T, ch *libssh.Channel) output {
	var o output
	var wg sync.WaitGroup
	spawn(&wg, func() { o.stderr, o.errErr = io.ReadAll(ch.Stderr()) })
	o.stdout, o.outErr = readAll(t, ch, 60*time.Second)
	waitGroup(t, &wg, 60*time.Second)
	return o
}

func TestExitCodesAndSignal(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	for _, code := range []int{0, 1, 255} {
		ch := execChannel(t, s, fmt.Sprintf("exit %d", code))
		waitExit(t, ch, code)
		require.NoError(t, ch.Close())
	}

	ch := execChannel(t, s, "kill -TERM $$")
	require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
	status, err := ch.ExitStatus()
	assert.Equal(t, -1, status)
	var sig *libssh.ExitSignalError
	require.ErrorAs(t, err, &sig)
	assert.Equal(t, "TERM", sig.Signal)
	assert.False(t, sig.CoreDumped)
	assert.Equal(t, "libssh: remote command killed by signal TERM", err.Error())
}

func TestExitStatusBeforeTheEnd(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := execChannel(t, s, "read line; exit 7")
	_, err := ch.ExitStatus()
	assert.ErrorIs(t, err, libssh.ErrNotExited, "the command waits for input")
	_, err = ch.WriteString("go\n")
	require.NoError(t, err)
	waitExit(t, ch, 7)

	closed := execChannel(t, s, "read line")
	require.NoError(t, closed.Close())
	_, err = closed.ExitStatus()
	assert.ErrorIs(t, err, libssh.ErrNoExitStatus, "closed before the command ended")
}

// waitExit waits for ch to finish and checks its exit status.
func waitExit(t *testing.T, ch *libssh.Channel, want int) {
	t.Helper()
	require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
	status, err := ch.ExitStatus()
	require.NoError(t, err)
	assert.Equal(t, want, status)
}

// runOutput runs command on a new channel of s and returns its stdout.
func runOutput(t *testing.T, s *libssh.Session, command string) string {
	t.Helper()
	out, err := readAll(t, execChannel(t, s, command), 30*time.Second)
	require.NoError(t, err)
	return string(out)
}

// sha256Hex is the hex SHA-256 of the data r yields.
func sha256Hex(t *testing.T, r io.Reader) (string, int64) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil)), n
}

func TestDownloadOneGiB(t *testing.T) {
	t.Parallel()
	const size = 1 << 30
	downloadChecked(t, authedSession(t, sshdtest.Options{}), size)
}

// downloadChecked has the server send size random bytes and their checksum
// on stderr, and checks what arrives.
func downloadChecked(t *testing.T, s *libssh.Session, size int64) {
	ch := execChannel(t, s, fmt.Sprintf("head -c %d /dev/urandom | tee >(sha256sum >&2)", size))
	var remote []byte
	var wg sync.WaitGroup
	spawn(&wg, func() { remote, _ = io.ReadAll(ch.Stderr()) })
	sum, n := sha256Hex(t, ch)
	waitGroup(t, &wg, 30*time.Second)
	assert.EqualValues(t, size, n)
	assert.Equal(t, sum+"  -\n", string(remote))
	waitExit(t, ch, 0)
}

// TestDownloadReadsAhead: libssh's 4 KiB reads of the socket are served
// from a larger read (docs/design.md, "Reading the socket"), and the bytes
// arrive intact.
func TestDownloadReadsAhead(t *testing.T) {
	const size = 16 << 20
	s := authedSession(t, sshdtest.Options{})
	fills0, served0, _ := lib.ReadaheadStats()
	downloadChecked(t, s, size)
	fills, served, _ := lib.ReadaheadStats()
	fills, served = fills-fills0, served-served0
	t.Logf("%d reads of the socket served %d of libssh's", fills, served)
	assert.Greater(t, served, uint64(size/4096/2), "most of libssh's reads are served from the buffer")
	assert.Greater(t, served, 2*fills, "a read of the socket serves several of libssh's")
}

func TestStdinStreamedToCat(t *testing.T) {
	t.Parallel()
	const size = 64 << 20
	s := authedSession(t, sshdtest.Options{})
	ch := execChannel(t, s, "cat")
	data := make([]byte, size)
	rand.Read(data)
	want := sha256.Sum256(data)
	writeErr := make(chan error, 1)
	go func() {
		// Odd-sized writes, so that chunks and packets do not line up.
		var err error
		for rest := data; len(rest) > 0 && err == nil; {
			n := min(len(rest), 100_003)
			_, err = ch.Write(rest[:n])
			rest = rest[n:]
		}
		if err == nil {
			err = ch.CloseWrite()
		}
		writeErr <- err
	}()
	sum, n := sha256Hex(t, ch)
	require.NoError(t, recv(t, writeErr, 30*time.Second))
	assert.EqualValues(t, size, n)
	assert.Equal(t, hex.EncodeToString(want[:]), sum)
	require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
	assert.False(t, ch.IsWritable(), "EOF was sent")
	_, err := ch.Write([]byte("more"))
	assert.Error(t, err, "write after CloseWrite")
}

// readUntil reads r until what it read contains want.
// It fails the test if that takes longer than 30 s.
func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	type result struct {
		got string
		err error
	}
	done := make(chan result, 1)
	go func() {
		var got bytes.Buffer
		buf := make([]byte, 4096)
		for !strings.Contains(got.String(), want) {
			n, err := r.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				done <- result{got.String(), err}
				return
			}
		}
		done <- result{got.String(), nil}
	}()
	res := recv(t, done, 30*time.Second)
	require.NoError(t, res.err, "reading until %q; got %q", want, res.got)
	return res.got
}

func TestInteractiveShellOnAPty(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := openChannel(t, s)
	require.NoError(t, ch.RequestPty(testCtx(t, 30*time.Second), "vt100", 80, 24))
	require.NoError(t, ch.RequestShell(testCtx(t, 30*time.Second)))

	_, err := ch.WriteString("echo TERM=$TERM; echo $((6*7))x\n")
	require.NoError(t, err)
	out := readUntil(t, ch, "42x")
	assert.Contains(t, out, "TERM=vt100")

	_, err = ch.WriteString("stty size; echo done-$((1+1))\n")
	require.NoError(t, err)
	assert.Contains(t, readUntil(t, ch, "done-2"), "24 80")

	// window-change has no reply, and now and then (1 run in a few hundred,
	// under load) stty kept seeing 24 80, ten times over, although sshd
	// had logged the request: send it again with each ask, a bounded
	// number of times, until the new size shows. Wrong sizes, or no
	// request at all, still fail every round.
	resized := false
	for i := 3; i < 13 && !resized; i++ {
		require.NoError(t, ch.ChangePtySize(testCtx(t, 30*time.Second), 100, 40))
		_, err = ch.WriteString(fmt.Sprintf("stty size; echo done-$((%d+1))\n", i-1))
		require.NoError(t, err)
		resized = strings.Contains(readUntil(t, ch, fmt.Sprintf("done-%d", i)), "40 100")
	}
	assert.True(t, resized, "stty never reported the new size 40 100")

	_, err = ch.WriteString("exit 5\n")
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, ch)
	require.NoError(t, err)
	waitExit(t, ch, 5)
}

func TestNewChannelNeedsAuthentication(t *testing.T) {
	t.Parallel()
	s := newPipeSession(t, sshdtest.New(t, sshdtest.Options{}))
	_, err := s.NewChannel()
	assert.ErrorIs(t, err, libssh.ErrNotAuthenticated)
}

func TestRequestsNeedAnOpenChannel(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch, err := s.NewChannel()
	require.NoError(t, err)
	defer ch.Close()
	assert.True(t, ch.IsAssigned())
	assert.False(t, ch.IsOpen())
	err = ch.RequestExec(testCtx(t, 30*time.Second), "true")
	assert.ErrorContains(t, err, "not open")
	_, err = ch.Read(make([]byte, 1))
	assert.ErrorContains(t, err, "not open")
	require.NoError(t, ch.OpenSession(testCtx(t, 30*time.Second)))
	assert.True(t, ch.IsOpen())
	assert.True(t, ch.IsWritable())
	assert.ErrorContains(t, ch.OpenSession(testCtx(t, 30*time.Second)), "open already")
	assert.ErrorContains(t, ch.RequestExec(testCtx(t, 30*time.Second), "a\x00b"), "NUL")
	assert.ErrorContains(t, ch.RequestPty(testCtx(t, 30*time.Second), "", 0, 24), "out of range")
}

func TestEnvironmentRequests(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{Config: []string{"AcceptEnv GOLIBSSH_*"}})
	ch := openChannel(t, s)
	require.NoError(t, ch.RequestEnv(testCtx(t, 30*time.Second), "GOLIBSSH_GREETING", "hello there"))
	err := ch.RequestEnv(testCtx(t, 30*time.Second), "NOT_ACCEPTED", "x")
	require.ErrorIs(t, err, libssh.ErrRequestDenied)
	var e *libssh.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, libssh.ErrorCodeRequestDenied, e.Code)
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), `printf %s "$GOLIBSSH_GREETING/$NOT_ACCEPTED"`))
	out, err := readAll(t, ch, 60*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "hello there/", string(out))
}

func TestSubsystem(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{Config: []string{"Subsystem golibssh-echo /bin/cat"}})
	ch := openChannel(t, s)
	require.NoError(t, ch.RequestSubsystem(testCtx(t, 30*time.Second), "golibssh-echo"))
	_, err := ch.WriteString("ping")
	require.NoError(t, err)
	require.NoError(t, ch.CloseWrite())
	out, err := readAll(t, ch, 60*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(out))

	unknown := openChannel(t, s)
	assert.ErrorIs(t, unknown.RequestSubsystem(testCtx(t, 30*time.Second), "no-such-subsystem"), libssh.ErrRequestDenied)
}

// TestSendSignal checks that sshd receives the signal request. sshd only
// delivers signals to sessions with privilege separation, which it skips
// for root logins (the test user in CI), so delivery itself is tested
// against the sshtest server.
// TestSendSignal delivers a signal. sshd needs privilege separation for it,
// which it uses only for users other than root: hence Unprivileged.
func TestSendSignal(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{Unprivileged: true})
	ch := execChannel(t, s, "echo $$; exec sleep 600")
	pid, err := strconv.Atoi(strings.TrimSpace(readUntil(t, ch, "\n")))
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	assert.ErrorContains(t, ch.SendSignal(testCtx(t, 30*time.Second), "TE\x00RM"), "NUL")
	require.NoError(t, ch.SendSignal(testCtx(t, 30*time.Second), "TERM"))
	require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
	status, err := ch.ExitStatus()
	var sig *libssh.ExitSignalError
	require.ErrorAs(t, err, &sig)
	assert.Equal(t, -1, status)
	assert.Equal(t, "TERM", sig.Signal)
}

func TestCancelledBeforeSendingChangesNothing(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := openChannel(t, s)
	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	cancel()
	require.ErrorIs(t, ch.RequestExec(ctx, "true"), context.Canceled)
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "echo fine"), "nothing was sent: the channel is as it was")
	out, err := readAll(t, ch, 60*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "fine\n", string(out))
}

// holdConn is a connection to sshd whose incoming data can be held back
// (to make the server's next packets arrive together, in a known order),
// and which tells when data arrived while held and when the client wrote.
type holdConn struct {
	net.Conn
	mu      sync.Mutex
	held    chan struct{} // non-nil while held; closed to release
	arrived chan struct{} // a value when a read got data while held
	wrote   chan struct{} // a value for each write while held
}

func (c *holdConn) hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = make(chan struct{})
	c.arrived = make(chan struct{}, 1)
	c.wrote = make(chan struct{}, 100)
}

func (c *holdConn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held != nil {
		close(c.held)
		c.held = nil
	}
}

// nextWrite returns a channel that receives when the client next writes.
func (c *holdConn) nextWrite() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wrote = make(chan struct{}, 100)
	return c.wrote
}

func (c *holdConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	held, arrived := c.held, c.arrived
	c.mu.Unlock()
	if held != nil {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-held
	}
	return n, err
}

func (c *holdConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	wrote := c.wrote
	c.mu.Unlock()
	n, err := c.Conn.Write(b)
	if wrote != nil {
		select {
		case wrote <- struct{}{}:
		default:
		}
	}
	return n, err
}

func TestCancelWhileRequestPendingPoisonsTheChannel(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	conn := &holdConn{Conn: srv.Pipe(t)}
	s := newPipeSession(t, srv, libssh.WithConn(conn))
	authenticate(t, s)
	ch := openChannel(t, s)

	conn.hold() // the server's answer will not arrive
	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	result := make(chan error, 1)
	go func() { result <- ch.RequestExec(ctx, "echo never") }()
	recv(t, conn.wrote, 30*time.Second) // the request is on its way
	cancel()
	err := recv(t, result, 30*time.Second)
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "exec request: cancelled while pending")
	conn.release()

	// libssh cannot abandon a pending request: the channel stays unusable.
	err = ch.RequestExec(testCtx(t, 30*time.Second), "true")
	assert.ErrorContains(t, err, "cancelled while pending")
	_, err = ch.Read(make([]byte, 1))
	assert.ErrorContains(t, err, "cancelled while pending")
	assert.NoError(t, ch.Close())
	// The session goes on.
	assert.Equal(t, "fine\n", runOutput(t, s, "echo fine"))
}

func TestWithChannelAlwaysCloses(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	var kept *libssh.Channel
	boom := errors.New("boom")
	err := s.WithChannel(func(ch *libssh.Channel) error {
		kept = ch
		require.NoError(t, ch.OpenSession(testCtx(t, 30*time.Second)))
		return boom
	})
	assert.ErrorIs(t, err, boom)
	assert.False(t, kept.IsAssigned())
	assert.ErrorIs(t, kept.OpenSession(testCtx(t, 30*time.Second)), libssh.ErrClosed)
}

// echoServer accepts connections on 127.0.0.1 and echoes them in upper case.
func echoServer(t *testing.T) (host string, port int) {
	return "127.0.0.1", serveTCP(t, func(conn net.Conn) {
		data, _ := io.ReadAll(conn)
		conn.Write(bytes.ToUpper(data))
	})
}

func TestOpenForward(t *testing.T) {
	t.Parallel()
	host, port := echoServer(t)
	s := authedSession(t, sshdtest.Options{})
	ch, err := s.NewChannel()
	require.NoError(t, err)
	defer ch.Close()
	require.NoError(t, ch.OpenForward(testCtx(t, 30*time.Second), host, port))
	_, err = ch.WriteString("through the tunnel")
	require.NoError(t, err)
	require.NoError(t, ch.CloseWrite())
	out, err := readAll(t, ch, 60*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "THROUGH THE TUNNEL", string(out))

	refused, err := s.NewChannel()
	require.NoError(t, err)
	defer refused.Close()
	assert.ErrorContains(t, refused.OpenForward(testCtx(t, 30*time.Second), host, 70000), "out of range")
}

func TestOpenForwardDenied(t *testing.T) {
	t.Parallel()
	host, port := echoServer(t)
	s := authedSession(t, sshdtest.Options{ConfigFirst: []string{"AllowTcpForwarding no"}})
	ch, err := s.NewChannel()
	require.NoError(t, err)
	defer ch.Close()
	err = ch.OpenForward(testCtx(t, 30*time.Second), host, port)
	require.ErrorIs(t, err, libssh.ErrRequestDenied)
	assert.ErrorContains(t, err, "open forward channel to 127.0.0.1")
	assert.ErrorContains(t, err, "AllowTcpForwarding")
	var refused *libssh.OpenChannelError
	if assert.ErrorAs(t, err, &refused) {
		assert.Equal(t, libssh.OpenAdministrativelyProhibited, refused.Reason)
	}
	assert.False(t, ch.IsOpen())
}

// TestRequestSendExitStatus sends the server-side request to sshd, which
// logs and ignores it; the sshtest server tests its meaning.
func TestRequestSendExitStatus(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	s := newPipeSession(t, srv)
	authenticate(t, s)
	ch := execChannel(t, s, "cat")
	require.NoError(t, ch.RequestSendExitStatus(3))
	assert.ErrorContains(t, ch.RequestSendExitStatus(-1), "out of range")
	_, err := ch.WriteString("echo")
	require.NoError(t, err)
	readUntil(t, ch, "echo") // sshd handled everything sent before
	assert.Contains(t, srv.Log(), "request exit-status reply 0")
}

func TestWriteWaitsForWindow(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	ch := openChannel(t, s)
	// sshd opens a session channel with an empty window, and opens the
	// window when the command starts.
	require.NoError(t, ch.WithLib(func(p lib.Channel) error {
		assert.Zero(t, lib.ChannelWindowSize(p), "the server's window")
		return nil
	}))
	written := make(chan error, 1)
	go func() {
		_, err := ch.WriteString("written before the command started\n")
		written <- err
	}()
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "head -n 1"))
	require.NoError(t, recv(t, written, 30*time.Second))
	out, err := readAll(t, ch, 60*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "written before the command started\n", string(out))
}

// TestWriteSleepsForWindow: a Write that runs out of the server's window
// waits for it in the kernel (the writer's sleep, see waitInputLocked), and
// that wait ends when the window opens, or at once when the session
// closes (which shuts the socket down), or when the channel closes while
// the server is silent (nothing on the socket: only the bump's write to
// the sleeper's eventfd ends it), however long the sleep may last. (With
// GOMAXPROCS 1 no writer sleeps, and the same ends are checked on the
// ordinary wait.)
func TestWriteSleepsForWindow(t *testing.T) {
	t.Parallel()
	for _, end := range []string{"window opens", "session closes", "channel closes, server silent"} {
		t.Run(end, func(t *testing.T) {
			t.Parallel()
			srv := sshdtest.New(t, sshdtest.Options{}) // root: the command opens a fifo here
			r := newHangRig(t, hangServer{name: "sshd", addr: srv.Listen(t), user: srv.User, trust: trustSSHD(srv),
				login: func(ctx context.Context, s *libssh.Session) error {
					return authOK(s.UserauthPublicKeyFile(ctx, sshdtest.Keys("id_ed25519"), ""))
				}}, true)
			s := r.s
			libssh.SetWriterSleepMax(s, time.Hour)
			fifo := filepath.Join(t.TempDir(), "fifo")
			require.NoError(t, syscall.Mkfifo(fifo, 0o600))
			// The command reads nothing until the fifo says so: sshd's
			// window (2 MiB) and the pipe fill, and the Write runs short.
			ch := execChannel(t, s, "read x <"+fifo+"; exec cat >/dev/null")
			written := make(chan error, 1)
			go func() {
				_, err := ch.Write(make([]byte, 16<<20))
				written <- err
			}()
			if runtime.GOMAXPROCS(0) == 1 {
				// No writer sleeps then (the thread would hold the only
				// P): the Write waits as other calls do.
				require.True(t, regressBlockedIn("(*chanState).write", 30*time.Second))
			} else {
				until(t, 30*time.Second, func() bool { return libssh.WriterSleeps(s) > 0 })
			}
			select {
			case err := <-written:
				t.Fatalf("the Write ended before the window opened: %v", err)
			default:
			}
			switch end {
			case "session closes":
				require.NoError(t, s.Close())
				assert.ErrorIs(t, recv(t, written, 10*time.Second), libssh.ErrClosed)
				return
			case "channel closes, server silent":
				r.relay.Blackhole()
				closed := make(chan error, 1)
				go func() { closed <- ch.Close() }()
				assert.Error(t, recv(t, written, 10*time.Second), "the Write after Close")
				assert.NoError(t, recv(t, closed, 10*time.Second))
				return
			}
			f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString("go\n")
			require.NoError(t, err)
			require.NoError(t, f.Close())
			require.NoError(t, recv(t, written, 30*time.Second))
			require.NoError(t, ch.CloseWrite())
			_, err = readAll(t, ch, 30*time.Second)
			require.NoError(t, err)
		})
	}
}

// TestWaitWakesAfterAReadTookTheClose: a Read that finds no data lets libssh
// read and process input itself, here the server's EOF, exit status and
// close. The pump never hears of input read before it looked, so the Read's
// unlock must wake the goroutine in Wait.
func TestWaitWakesAfterAReadTookTheClose(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{Unprivileged: true})
	for range 300 {
		ch := execChannel(t, s, "echo x")
		read := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(ch)
			read <- err
		}()
		require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
		require.NoError(t, recv(t, read, 30*time.Second))
		require.NoError(t, ch.Close())
	}
}

// readResult is what one Read returned.
type readResult struct {
	b   []byte
	err error
}

// readOnce makes one Read of up to 16 bytes from r in a goroutine.
func readOnce(r io.Reader) <-chan readResult {
	got := make(chan readResult, 1)
	go func() {
		buf := make([]byte, 16)
		n, err := r.Read(buf)
		got <- readResult{buf[:max(n, 0)], err}
	}()
	return got
}

// TestStderrReaderWokenOnlyByStderr: stdout's data does not wake a reader
// of the same channel's stderr (as Cmd keeps one for every command), and
// that reader still wakes for its own data.
func TestStderrReaderWokenOnlyByStderr(t *testing.T) {
	s := authedSession(t, sshdtest.Options{})
	closeAfter(t, s, 60*time.Second) // bounds the Write below
	const size = 32 << 20
	ch := execChannel(t, s, fmt.Sprintf("head -c %d /dev/zero; read x; echo err >&2", size))
	got := readOnce(ch.Stderr())
	read := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(ch, make([]byte, size))
		read <- err
	}()
	require.NoError(t, recv(t, read, 60*time.Second))
	// The download took hundreds of pump rounds; each used to wake the
	// stderr reader.
	assert.Positive(t, libssh.ChannelReadWakes(ch, 0))
	assert.Less(t, libssh.ChannelReadWakes(ch, 1), uint64(5), "the stderr reader was woken by stdout's data")

	_, err := ch.Write([]byte("x\n"))
	require.NoError(t, err)
	res := recv(t, got, 30*time.Second)
	require.NoError(t, res.err)
	assert.Equal(t, "err\n", string(res.b))
	assert.Positive(t, libssh.ChannelReadWakes(ch, 1))
}

// TestWaitWokenOnlyByTheEnd: a Wait (as Cmd.Wait makes for every command)
// is not woken by the channel's data, only by its EOF, exit status or
// close.
func TestWaitWokenOnlyByTheEnd(t *testing.T) {
	s := authedSession(t, sshdtest.Options{})
	closeAfter(t, s, 60*time.Second) // bounds the Write below
	const size = 32 << 20
	ch := execChannel(t, s, fmt.Sprintf("head -c %d /dev/zero; read x", size))
	waited := make(chan error, 1)
	go func() { waited <- ch.Wait(testCtx(t, 60*time.Second)) }()
	read := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(ch, make([]byte, size))
		read <- err
	}()
	require.NoError(t, recv(t, read, 60*time.Second))
	// The download took hundreds of pump rounds; each used to wake Wait.
	assert.Less(t, libssh.ChannelReadWakes(ch, 2), uint64(5), "Wait was woken by the channel's data")

	_, err := ch.Write([]byte("x\n"))
	require.NoError(t, err)
	require.NoError(t, recv(t, waited, 30*time.Second))
	status, err := ch.ExitStatus()
	require.NoError(t, err)
	assert.Equal(t, 0, status)
}

// TestReaderWokenOnlyByItsChannel: input for one channel does not wake the
// readers of another (each channel's readers wait for their own channel),
// and a reader still wakes for its own input.
func TestReaderWokenOnlyByItsChannel(t *testing.T) {
	s := authedSession(t, sshdtest.Options{})
	idle := execChannel(t, s, "cat")
	got := readOnce(idle)

	const size = 32 << 20
	busy := execChannel(t, s, fmt.Sprintf("head -c %d /dev/zero", size))
	out, err := readAll(t, busy, 60*time.Second)
	require.NoError(t, err)
	require.Len(t, out, size)
	// The download took hundreds of pump rounds; each used to wake the
	// idle reader.
	assert.Less(t, libssh.ChannelReadWakes(idle, 0), uint64(5), "the idle channel's reader was woken by the other channel's input")

	_, err = idle.Write([]byte("x\n"))
	require.NoError(t, err)
	res := recv(t, got, 30*time.Second)
	require.NoError(t, res.err)
	assert.Equal(t, "x\n", string(res.b))
	assert.Positive(t, libssh.ChannelReadWakes(idle, 0))
}

// TestReadAtLeastWokenOnceForAll: a reader that needs a whole message
// (package sftp's, through chanio.ReadAtLeast) is not woken for each piece
// of it that arrives, only once libssh holds all of it, and gets it all.
func TestReadAtLeastWokenOnceForAll(t *testing.T) {
	s := authedSession(t, sshdtest.Options{})
	closeAfter(t, s, 60*time.Second)
	ch := execChannel(t, s, "cat")
	const piece, pieces = 1000, 10
	type result struct {
		n   int
		err error
	}
	buf := make([]byte, 64<<10)
	got := make(chan result, 1)
	go func() {
		n, err := chanio.ReadAtLeast(ch, buf, piece*pieces)
		got <- result{n, err}
	}()
	until(t, 30*time.Second, func() bool { return libssh.ChannelReaderWaits(ch, 0) })
	want := bytes.Repeat([]byte("0123456789"), piece*pieces/10)
	for i := range pieces {
		events := libssh.ChannelDataEvents(ch, 0)
		_, err := ch.Write(want[i*piece : (i+1)*piece])
		require.NoError(t, err)
		if i < pieces-1 {
			// cat echoes each piece as a message of its own.
			until(t, 30*time.Second, func() bool { return libssh.ChannelDataEvents(ch, 0) > events })
			assert.Zero(t, libssh.ChannelReadWakes(ch, 0), "the reader was woken with %d of %d bytes", (i+1)*piece, piece*pieces)
		}
	}
	res := recv(t, got, 30*time.Second)
	require.NoError(t, res.err)
	assert.Equal(t, want, buf[:res.n])
	assert.LessOrEqual(t, libssh.ChannelReadWakes(ch, 0), uint64(1))
}

// TestReadAtLeastEnds: a reader waiting for more than arrives gets what
// came with io.ErrUnexpectedEOF at the server's EOF (io.EOF when nothing
// came), and an error matching ErrClosed when the channel is closed.
func TestReadAtLeastEnds(t *testing.T) {
	s := authedSession(t, sshdtest.Options{})
	closeAfter(t, s, 60*time.Second)

	ch := execChannel(t, s, "printf abc")
	buf := make([]byte, 100)
	n, err := chanio.ReadAtLeast(ch, buf, 10)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, "abc", string(buf[:n]))
	n, err = chanio.ReadAtLeast(ch, buf, 10)
	assert.ErrorIs(t, err, io.EOF)
	assert.Zero(t, n)

	ch = execChannel(t, s, "cat")
	got := make(chan error, 1)
	go func() {
		_, err := chanio.ReadAtLeast(ch, buf, 10)
		got <- err
	}()
	until(t, 30*time.Second, func() bool { return libssh.ChannelReaderWaits(ch, 0) })
	_, err = ch.Write([]byte("abc"))
	require.NoError(t, err)
	until(t, 30*time.Second, func() bool { return libssh.ChannelDataEvents(ch, 0) > 0 })
	require.NoError(t, ch.Close())
	assert.ErrorIs(t, recv(t, got, 30*time.Second), libssh.ErrClosed)
}
