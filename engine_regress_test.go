package libssh_test

// One test for each deadlock and crash of issue 13's "Why" list that no
// other test covers. Each test but TestRegressCloseFromCallbackIsSent
// failed (hung, crashed or asserted) on the engine the second one replaced.
// Every wait is bounded (testCtx, recv), so a deadlock fails in seconds
// under the test's name.

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/internal/faultnet"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/lib"
	"github.com/golibssh/libssh/sshtest"
)

// regressBound bounds every wait of these tests.
const regressBound = 30 * time.Second

// The tests log in to sshd as an unprivileged user (a command then starts
// in about 25 ms, against about 700 ms as root), except where the command
// must open a fifo in the test's private temporary directory.

// regressBlockedIn waits, at most d, until some goroutine whose stack
// contains fn is blocked (neither running nor runnable), and reports
// whether one was. It is how a test knows that a call made by another
// goroutine has got as far as waiting for a lock.
func regressBlockedIn(fn string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, g := range strings.Split(string(allStacks()), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			if strings.Contains(g, fn) && !strings.Contains(header, "[running]") && !strings.Contains(header, "[runnable]") {
				return true
			}
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// Item 1: Channel.Write from a callback while another goroutine is in Write
// on that channel. The first engine took the channel's write mutex before
// it checked for a callback: the callback (holding the session lock) waited
// for the writer, which waited for the session lock.
func TestRegressWriteFromCallbackDuringWrite(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{Unprivileged: true})
	ch := openChannel(t, s)
	var writing atomic.Bool
	inner := make(chan error, 1000)
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		// The server grows its window while the big Write waits for it.
		OnWriteWontblock: func(uint32) {
			if !writing.Load() {
				return
			}
			_, err := ch.Write([]byte("x"))
			select {
			case inner <- err:
			default:
			}
		},
	}))
	require.NoError(t, ch.RequestExec(testCtx(t, regressBound), "wc -c"))

	// libssh calls OnWriteWontblock when a poll finds the socket
	// writable with nothing to send, which is its business: during a
	// Write, when a window adjustment arrives while the Write waits. The
	// big Write runs again (at most 10 times) until the callback ran
	// during one.
	data := make([]byte, 4<<20) // twice sshd's window
	type result struct {
		n   int
		err error
	}
	calls, total := 0, 0
	for round := 0; round < 10 && calls == 0; round++ {
		done := make(chan result, 1)
		writing.Store(true)
		go func() {
			n, err := ch.Write(data)
			writing.Store(false)
			done <- result{n, err}
		}()
		r := recv(t, done, regressBound)
		require.NoError(t, r.err, "the outer Write completes")
		require.Equal(t, len(data), r.n)
		total += r.n
	drain:
		for {
			select {
			case err := <-inner:
				calls++
				assert.ErrorIs(t, err, libssh.ErrInCallback)
			default:
				break drain
			}
		}
	}
	assert.Positive(t, calls, "the callback wrote while the outer Write ran")

	// Nothing the callback wrote reached the command.
	require.NoError(t, ch.CloseWrite())
	out := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(ch)
		out <- strings.TrimSpace(string(b))
	}()
	assert.Equal(t, strconv.Itoa(total), recv(t, out, regressBound))
}

// Item 2: SendSignal, RequestEnv and Process.Kill from a callback while
// another request is pending on that channel. The first engine took the
// channel's request slot before it checked for a callback: the callback
// waited for the slot, whose holder waited for the lock the callback held.
func TestRegressRequestsFromCallbackWhileOneIsPending(t *testing.T) {
	t.Parallel()

	t.Run("a request waiting for its reply", func(t *testing.T) {
		t.Parallel()
		srv := sshdtest.New(t, sshdtest.Options{Unprivileged: true})
		conn := &holdConn{Conn: srv.Pipe(t)}
		s := newPipeSession(t, srv, libssh.WithConn(conn))
		t.Cleanup(conn.release) // before the session closes, should the test fail while held
		authenticate(t, s)
		ch := openChannel(t, s)
		type calls struct{ signal, env error }
		inside := make(chan calls, 1)
		var once sync.Once
		inCtx := testCtx(t, 5*time.Second) // should the refusal come back, the callback gives up
		require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
			OnData: func(data []byte, isStderr bool) int {
				once.Do(func() {
					var c calls
					c.signal = ch.SendSignal(inCtx, "TERM")
					c.env = ch.RequestEnv(inCtx, "GOLIBSSH_INSIDE", "1")
					inside <- c
				})
				return len(data)
			},
		}))
		require.NoError(t, ch.RequestExec(testCtx(t, regressBound), "cat"))

		// The echo of x reaches the client's side and is held there, so
		// that it is processed before the reply to the request below.
		conn.hold()
		_, err := ch.Write([]byte("x"))
		require.NoError(t, err)
		recv(t, conn.arrived, regressBound)
		sent := conn.nextWrite()
		pending := make(chan error, 1)
		go func() { pending <- ch.RequestEnv(testCtx(t, regressBound), "GOLIBSSH_PENDING", "1") }()
		recv(t, sent, regressBound) // the request is on its way: its slot is taken
		conn.release()

		c := recv(t, inside, regressBound)
		assert.ErrorIs(t, c.signal, libssh.ErrInCallback)
		assert.ErrorIs(t, c.env, libssh.ErrInCallback)
		if err := recv(t, pending, regressBound); err != nil {
			assert.ErrorIs(t, err, libssh.ErrRequestDenied, "sshd refuses env it does not accept, and says so")
		}
		assert.Equal(t, "fine\n", runOutput(t, s, "echo fine"))
	})

	t.Run("Kill while another Kill waits for the lock", func(t *testing.T) {
		t.Parallel()
		s := cmdSession(t)
		cmd := s.CommandLine("exec " + uniqueSleep(t))
		require.NoError(t, cmd.Start())
		p := cmd.Process
		ch := openChannel(t, s)
		type calls struct {
			blocked    bool
			kill, term error
		}
		inside := make(chan calls, 1)
		outer := make(chan error, 1)
		var once sync.Once
		require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
			OnData: func(data []byte, isStderr bool) int {
				once.Do(func() {
					var c calls
					// Another goroutine's Kill takes the request slot of the
					// command's channel and waits for the lock this
					// callback holds.
					go func() { outer <- p.Kill() }()
					c.blocked = regressBlockedIn("(*Process).Kill", 10*time.Second)
					c.kill = p.Kill()
					c.term = p.SendSignal("TERM")
					inside <- c
				})
				return len(data)
			},
		}))
		require.NoError(t, ch.RequestExec(testCtx(t, regressBound), "echo x"))
		c := recv(t, inside, regressBound)
		assert.True(t, c.blocked, "the other Kill waited for the lock")
		assert.ErrorIs(t, c.kill, libssh.ErrInCallback)
		assert.ErrorIs(t, c.term, libssh.ErrInCallback)
		require.NoError(t, recv(t, outer, regressBound), "the other Kill goes on once the callback returned")
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		var exitErr *libssh.ExitError
		require.ErrorAs(t, recv(t, waited, regressBound), &exitErr)
		assert.Equal(t, "KILL", exitErr.Signal())
	})
}

// Item 3: two sessions whose callbacks call into each other's channels at
// the same time. On the first engine each callback waited for the other
// session's lock, held by the other callback.
func TestRegressCallbacksAcrossSessions(t *testing.T) {
	t.Parallel()
	s1 := authedSession(t, sshdtest.Options{Unprivileged: true})
	s2 := authedSession(t, sshdtest.Options{Unprivileged: true})
	a, b := openChannel(t, s1), openChannel(t, s2)
	type seen struct {
		met                             bool
		open, assigned, eof, writable   bool
		sessionOpen                     bool
		write, close, newChannel, flush error
	}
	inA, inB := make(chan struct{}), make(chan struct{})
	gotA, gotB := make(chan seen, 1), make(chan seen, 1)
	// into makes callbacks that, once both sessions' callbacks run, call
	// into the other session's channel.
	into := func(me, other chan struct{}, otherS *libssh.Session, otherCh *libssh.Channel, got chan seen) *callbacks.ChannelCallbacks {
		var once sync.Once
		return &callbacks.ChannelCallbacks{OnData: func(data []byte, isStderr bool) int {
			once.Do(func() {
				var v seen
				close(me)
				select {
				case <-other:
					v.met = true
				case <-time.After(10 * time.Second):
				}
				v.open, v.assigned, v.eof, v.writable = otherCh.IsOpen(), otherCh.IsAssigned(), otherCh.EOF(), otherCh.IsWritable()
				v.sessionOpen = otherS.IsOpen()
				_, v.write = otherCh.Write([]byte("x"))
				v.close = otherCh.Close()
				_, v.newChannel = otherS.NewChannel()
				v.flush = otherCh.CloseWrite()
				got <- v
			})
			return len(data)
		}}
	}
	require.NoError(t, a.SetCallbacks(into(inA, inB, s2, b, gotA)))
	require.NoError(t, b.SetCallbacks(into(inB, inA, s1, a, gotB)))
	// Each request from a goroutine of its own: a's callback may run inside
	// a.RequestExec (libssh reads the output with the reply), where it
	// waits for b's, which must not wait for a.RequestExec to return.
	execErrs := make(chan error, 2)
	sleepA, sleepB := uniqueSleep(t), uniqueSleep(t)
	go func() { execErrs <- a.RequestExec(testCtx(t, regressBound), "echo a; exec "+sleepA) }()
	go func() { execErrs <- b.RequestExec(testCtx(t, regressBound), "echo b; exec "+sleepB) }()
	require.NoError(t, recv(t, execErrs, regressBound))
	require.NoError(t, recv(t, execErrs, regressBound))

	for name, got := range map[string]chan seen{"a": gotA, "b": gotB} {
		v := recv(t, got, regressBound)
		assert.True(t, v.met, "%s: both callbacks ran at once", name)
		assert.False(t, v.open || v.assigned || v.writable, "%s: the other session's channel reads as not open", name)
		assert.True(t, v.sessionOpen, "%s: a session's cached facts work anywhere", name)
		for what, err := range map[string]error{"Write": v.write, "Close": v.close, "NewChannel": v.newChannel, "CloseWrite": v.flush} {
			assert.ErrorIs(t, err, libssh.ErrInCallback, "%s: %s", name, what)
		}
	}
	// Nothing was closed or written, and both sessions go on.
	assert.True(t, a.IsOpen())
	assert.True(t, b.IsOpen())
	assert.Equal(t, "one\n", runOutput(t, s1, "echo one"))
	assert.Equal(t, "two\n", runOutput(t, s2, "echo two"))
}

// regressInCallback runs f inside the first OnData callback of a new
// channel of s, and returns once f has returned.
func regressInCallback(t *testing.T, s *libssh.Session, f func()) {
	t.Helper()
	ch := openChannel(t, s)
	ran := make(chan struct{})
	var once sync.Once
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnData: func(data []byte, isStderr bool) int {
			once.Do(func() {
				f()
				close(ran)
			})
			return len(data)
		},
	}))
	require.NoError(t, ch.RequestExec(testCtx(t, regressBound), "echo x"))
	recv(t, ran, regressBound)
}

// Item 4: Cmd.Wait and Forwarder.Close inside a callback of the same
// session. On the first engine both waited for work that needs the lock
// the callback held.
func TestRegressWaitAndForwarderCloseInCallback(t *testing.T) {
	t.Parallel()

	t.Run("Cmd.Wait", func(t *testing.T) {
		t.Parallel()
		s := cmdSession(t)
		// Running until told to end: its output is still being read.
		cmd := s.CommandLine("read x; exit 3")
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		regressInCallback(t, s, func() { err = cmd.Wait() })
		assert.ErrorIs(t, err, libssh.ErrInCallback)

		// The refused Wait did not count: Wait works outside.
		_, err = stdin.Write([]byte("end\n"))
		require.NoError(t, err)
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		var exitErr *libssh.ExitError
		require.ErrorAs(t, recv(t, waited, regressBound), &exitErr)
		assert.Equal(t, 3, exitErr.ExitCode())
	})

	t.Run("Forwarder.Close", func(t *testing.T) {
		t.Parallel()
		s := fwdSession(t)
		port := serveTCP(t, echo)
		f, err := libssh.NewForwarder(testCtx(t, 2*regressBound), s, 0, "127.0.0.1", port)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })

		// A client of the forwarder with a live channel, which Close must
		// close.
		client, err := net.Dial("tcp", f.LocalAddr().String())
		require.NoError(t, err)
		defer client.Close()
		require.NoError(t, client.SetDeadline(time.Now().Add(regressBound)))
		_, err = client.Write([]byte("ping\n"))
		require.NoError(t, err)
		_, err = io.ReadFull(client, make([]byte, 5))
		require.NoError(t, err)

		var second error
		regressInCallback(t, s, func() { err, second = f.Close(), f.Close() })
		assert.NoError(t, err)
		// A second Close in the callback does not wait for the first,
		// which waits for the lock the callback holds.
		assert.ErrorIs(t, second, net.ErrClosed)
		recv(t, f.Done(), regressBound) // the forwarder closed once the callback returned
		_, err = client.Read(make([]byte, 1))
		assert.Error(t, err, "the client's connection was closed")
		assert.Equal(t, "fine\n", runOutput(t, s, "echo fine"))
	})
}

// regressWaitAlone makes an authenticated session to srv and starts a
// goroutine that is its only holder, waiting in Session.Wait for d;
// it returns a weak pointer to the session and the error that ended Wait.
//
//go:noinline
func regressWaitAlone(t *testing.T, srv *sshdtest.Server, d time.Duration) (weak.Pointer[libssh.Session], <-chan error) {
	s, err := libssh.NewSession(testCtx(t, regressBound), pipeHost,
		libssh.WithConn(srv.Pipe(t)),
		libssh.WithUser(srv.User),
		trustSSHD(srv))
	require.NoError(t, err)
	w := weak.Make(s)
	t.Cleanup(func() {
		if s := w.Value(); s != nil {
			s.Close()
		}
	})
	authenticate(t, s)
	// Let the session go quiet (the host key announcement sshd sends
	// after authentication is read), so that only ctx ends the Wait below.
	for {
		err := s.Wait(testCtx(t, 200*time.Millisecond))
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		require.NoError(t, err)
	}
	res := make(chan error, 1)
	ctx := testCtx(t, d)
	// One call, and nothing after it that uses s: the call alone must
	// keep the session alive.
	go func() { res <- s.Wait(ctx) }()
	return w, res
}

// regressReadAlone starts a goroutine that is the only holder of a channel
// of s running command, waiting in one Read.
//
//go:noinline
func regressReadAlone(t *testing.T, s *libssh.Session, command string) (weak.Pointer[libssh.Channel], <-chan string) {
	ch, err := s.NewChannel()
	require.NoError(t, err)
	w := weak.Make(ch)
	t.Cleanup(func() {
		if ch := w.Value(); ch != nil {
			ch.Close()
		}
	})
	require.NoError(t, ch.OpenSession(testCtx(t, regressBound)))
	require.NoError(t, ch.RequestExec(testCtx(t, regressBound), command))
	res := make(chan string, 1)
	go func() {
		// One call, and nothing after it that uses ch.
		buf := make([]byte, 100)
		n, err := ch.Read(buf)
		if err != nil {
			res <- "error: " + err.Error()
			return
		}
		res <- string(buf[:n])
	}()
	return w, res
}

// Item 5: a value referenced only by a goroutine blocked in one of its
// methods is not collected (and closed by its cleanup) under it. On the
// first engine the session's finalizer closed it after half a second.
func TestRegressNotCollectedWhileInUse(t *testing.T) {
	// Not parallel: collecting garbage without pause slows every other
	// test down.

	t.Run("Session.Wait", func(t *testing.T) {
		srv := sshdtest.New(t, sshdtest.Options{Unprivileged: true})
		w, res := regressWaitAlone(t, srv, 2*time.Second)
		bound := testCtx(t, regressBound)
		var err error
		for waiting := true; waiting; {
			select {
			case err = <-res:
				waiting = false
			case <-bound.Done():
				t.Fatal("Wait did not end with its context")
			default:
				runtime.GC()
			}
		}
		if s := w.Value(); s != nil {
			s.Close()
		}
		assert.ErrorIs(t, err, context.DeadlineExceeded, "Wait ended with its context, not with a collected session")
		assert.NotErrorIs(t, err, libssh.ErrClosed)
	})

	t.Run("Channel.Read", func(t *testing.T) {
		s := authedSession(t, sshdtest.Options{})
		fifo := filepath.Join(t.TempDir(), "fifo")
		require.NoError(t, syscall.Mkfifo(fifo, 0o600))
		_, res := regressReadAlone(t, s, "cat "+fifo)
		// The reader waits for data; collect garbage meanwhile.
		for end := time.Now().Add(time.Second); time.Now().Before(end); {
			select {
			case got := <-res:
				t.Fatalf("Read ended early: %q", got)
			default:
				runtime.GC()
			}
		}
		assert.Empty(t, runOutput(t, s, "echo late >"+fifo))
		assert.Equal(t, "late\n", recv(t, res, regressBound), "the channel was still there")
	})
}

// Item 6: a dialer that returns neither a connection nor an error. On the
// first engine a goroutine of the library dereferenced the nil connection
// and killed the process.
func TestRegressDialerReturnsNothing(t *testing.T) {
	t.Parallel()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) { return nil, nil }
	_, err := libssh.NewSession(testCtx(t, regressBound), "127.0.0.1", libssh.WithPort(2222), libssh.WithDialer(dial))
	require.Error(t, err)
	assert.ErrorContains(t, err, "dialer returned neither a connection nor an error")

	s, err := libssh.NewSession(testCtx(t, regressBound), "127.0.0.1", libssh.WithDialer(dial), libssh.WithAutoConnect(false))
	require.NoError(t, err)
	defer s.Close()
	assert.ErrorContains(t, s.Connect(testCtx(t, regressBound)), "dialer returned neither a connection nor an error")
	assert.False(t, s.IsConnected())
}

// Item 7: wrapping a libssh session that has a wrapper already. On the
// first engine both wrappers owned it and the second Close freed it again
// (SIGABRT). Run with MALLOC_PERTURB_ set to make a double free certain to
// show.
func TestRegressWrapSessionTwice(t *testing.T) {
	t.Parallel()

	t.Run("made by NewSession", func(t *testing.T) {
		t.Parallel()
		s, err := libssh.NewSession(testCtx(t, regressBound), "127.0.0.1", libssh.WithAutoConnect(false))
		require.NoError(t, err)
		defer s.Close()
		var p lib.Session
		require.NoError(t, s.WithLib(func(q lib.Session) error { p = q; return nil }))
		for _, owned := range []bool{true, false} {
			s2, err := libssh.WrapSession(p, owned)
			if err == nil {
				s2.Close()
			}
			assert.Error(t, err, "owned %v: refused", owned)
		}
		assert.True(t, s.IsOpen())
		require.NoError(t, s.Close())
	})

	t.Run("wrapped already", func(t *testing.T) {
		t.Parallel()
		p := lib.New()
		require.False(t, p.IsNil())
		s, err := libssh.WrapSession(p, true)
		require.NoError(t, err)
		defer s.Close()
		for _, owned := range []bool{true, false} {
			s2, err := libssh.WrapSession(p, owned)
			if err == nil {
				s2.Close()
			}
			assert.Error(t, err, "owned %v: refused", owned)
		}
		require.NoError(t, s.Close(), "the one owner frees it once")
	})
}

// Item 8: strings longer than one SSH packet carries. On the first engine
// libssh sent them, and sshd reset the whole connection: every channel
// died with "Connection reset by peer".
func TestRegressOverlongStrings(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 1<<20)
	srv := sshdtest.New(t, sshdtest.Options{Unprivileged: true, Config: []string{"AcceptEnv GOLIBSSH_*"}})
	s := newPipeSession(t, srv)
	authenticate(t, s)
	// Another channel of the session, busy throughout.
	other := execChannel(t, s, "cat")
	ctx := testCtx(t, regressBound)

	ch := openChannel(t, s)
	err := ch.RequestExec(ctx, long)
	require.Error(t, err)
	assert.ErrorContains(t, err, "command")
	err = ch.RequestEnv(ctx, "GOLIBSSH_LONG", long)
	require.Error(t, err)
	assert.ErrorContains(t, err, "environment variable")
	// Nothing was sent: the channel is as it was.
	require.NoError(t, ch.RequestEnv(ctx, "GOLIBSSH_SHORT", "short"))
	require.NoError(t, ch.RequestExec(ctx, "echo $GOLIBSSH_SHORT"))
	out, err := readAll(t, ch, regressBound)
	require.NoError(t, err)
	assert.Equal(t, "short\n", string(out))

	assert.ErrorContains(t, s.CommandLine(long).Run(), "command line")
	assert.ErrorContains(t, s.Command("echo", long).Run(), "command line")
	cmd := s.CommandLine("true")
	cmd.Env = []string{"GOLIBSSH_LONG=" + long}
	assert.ErrorContains(t, cmd.Run(), "environment variable")

	// A user name, given to a new session, is refused before it dials.
	conn := srv.Pipe(t)
	_, err = libssh.NewSession(ctx, pipeHost, libssh.WithConn(conn), libssh.WithUser(long))
	require.Error(t, err)
	assert.ErrorContains(t, err, "user name")

	// A password, on a session that is not logged in yet.
	s2 := newPipeSession(t, srv)
	status, err := s2.UserauthPassword(ctx, long)
	require.Error(t, err)
	assert.Equal(t, libssh.AuthError, status)
	assert.ErrorContains(t, err, "password")
	authenticate(t, s2)
	assert.Equal(t, "s2\n", runOutput(t, s2, "echo s2"))

	// The session and its other channel kept working.
	assert.True(t, s.IsConnected())
	_, err = other.Write([]byte("still here\n"))
	require.NoError(t, err)
	assert.Equal(t, "still here\n", readUntil(t, other, "still here\n"))
	assert.Equal(t, "fine\n", runOutput(t, s, "echo fine"))
}

// Item 9: NewChannel on a session that is not connected returns an error
// matching ErrNotAuthenticated, as its doc says (the first engine returned
// ErrNotConnected).
func TestRegressNewChannelUnconnected(t *testing.T) {
	t.Parallel()
	s, err := libssh.NewSession(testCtx(t, regressBound), "127.0.0.1", libssh.WithAutoConnect(false))
	require.NoError(t, err)
	defer s.Close()
	_, err = s.NewChannel()
	assert.ErrorIs(t, err, libssh.ErrNotAuthenticated)
}

// Item 10: a read into a buffer of 4 GiB or more. The first engine passed
// libssh the length as 32 bits, so a 4 GiB buffer read 0 bytes. The buffers
// are mapped without memory behind them (MAP_NORESERVE): only the pages
// libssh writes are ever committed.
func TestRegressReadIntoHugeBuffer(t *testing.T) {
	t.Parallel()
	var bufs [][]byte
	for _, size := range []int{1 << 32, 1<<33 + 1<<32} {
		buf, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_NORESERVE)
		require.NoError(t, err)
		// Unmapped after the session closed (cleanups run last in,
		// first out), which ends a Read still in progress.
		t.Cleanup(func() { syscall.Munmap(buf) })
		bufs = append(bufs, buf)
	}
	s := authedSession(t, sshdtest.Options{Unprivileged: true})
	for _, buf := range bufs {
		size := len(buf)
		ch := execChannel(t, s, "echo hello")
		got := make(chan int, 1)
		go func() {
			n, err := ch.Read(buf)
			if err != nil {
				n = -1
			}
			got <- n
		}()
		n := recv(t, got, regressBound)
		require.Positive(t, n, "a buffer of %d bytes", size)
		assert.True(t, strings.HasPrefix("hello\n", string(buf[:n])), "read %q", buf[:n])
	}
}

// Item 11: a channel closed from a callback is closed (and the close sent)
// without waiting for more input. (The engine the second one replaced
// passes this test too: its pump already closed such channels and sent
// what the socket took at once. What it lacked, a wait for the socket when
// it took less, this test does not provoke.)
func TestRegressCloseFromCallbackIsSent(t *testing.T) {
	t.Parallel()
	s := authedSession(t, sshdtest.Options{})
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	// The watcher ends when the command below ends, which is when sshd
	// has seen the channel close (its cat then reads end of input).
	watcher := execChannel(t, s, "cat "+fifo)
	watched := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, watcher)
		watched <- err
	}()

	ch := openChannel(t, s)
	closed := make(chan error, 1)
	var once sync.Once
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnData: func(data []byte, isStderr bool) int {
			once.Do(func() { closed <- ch.Close() })
			return len(data)
		},
	}))
	// "first" may arrive with the request's reply, and the callback's
	// Close then takes effect before RequestExec returns.
	if err := ch.RequestExec(testCtx(t, regressBound), "echo first; exec cat >"+fifo); err != nil {
		require.ErrorIs(t, err, libssh.ErrClosed, "only the callback's Close ends the request")
	}
	require.NoError(t, recv(t, closed, regressBound))
	require.NoError(t, recv(t, watched, regressBound), "sshd saw the close: the command ended")
	assert.False(t, ch.IsAssigned())
}

// connectionEnds counts how sshd logged the ends of connections: with the
// client's goodbye, and all of them.
func connectionEnds(srv *sshdtest.Server) (goodbyes, all int) {
	for _, l := range strings.Split(srv.Log(), "\n") {
		switch {
		case strings.Contains(l, "Received disconnect from"):
			goodbyes++
			all++
		case strings.Contains(l, "Connection closed by"), strings.Contains(l, "Connection reset by"),
			strings.Contains(l, "Broken pipe"), strings.Contains(l, "Timeout, client not responding"):
			all++
		}
	}
	return goodbyes, all
}

// waitConnectionEnds waits until sshd has logged n connection ends. sshd
// tells nothing else; its log is polled.
func waitConnectionEnds(t *testing.T, srv *sshdtest.Server, n int) {
	t.Helper()
	bound := testCtx(t, regressBound)
	for _, all := connectionEnds(srv); all < n; _, all = connectionEnds(srv) {
		select {
		case <-bound.Done():
			t.Fatalf("sshd did not log the end of connection %d", n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestRegressCloseDuringUploadSaysGoodbye: ssh_disconnect queues its
// goodbye behind the output libssh still holds and closes the socket right
// away; Close lets that output drain first (briefly), so the goodbye goes
// out even while a Write keeps libssh's buffer full. A connection without
// a socket of its own, which the session relays through a socket pair,
// is half-closed after the goodbye, not closed (a close with input unread
// resets the connection, and sshd may see the reset before the goodbye).
func TestRegressCloseDuringUploadSaysGoodbye(t *testing.T) {
	t.Parallel()
	t.Run("socket", func(t *testing.T) {
		t.Parallel()
		closeDuringUpload(t, func(c net.Conn) net.Conn { return c })
	})
	t.Run("relayed", func(t *testing.T) {
		t.Parallel()
		var halfClosed atomic.Int32
		closeDuringUpload(t, func(c net.Conn) net.Conn { return socketless{c, &halfClosed} })
		assert.EqualValues(t, uploadCloses, halfClosed.Load(), "each relay half-closed its connection")
	})
}

// socketless hides its connection's socket (the session relays it) but
// not its CloseWrite, whose calls it counts.
type socketless struct {
	net.Conn
	halfClosed *atomic.Int32
}

func (c socketless) CloseWrite() error {
	c.halfClosed.Add(1)
	return c.Conn.(interface{ CloseWrite() error }).CloseWrite()
}

// uploadCloses is how many sessions closeDuringUpload closes.
const uploadCloses = 10

func closeDuringUpload(t *testing.T, wrap func(net.Conn) net.Conn) {
	srv := sshdtest.New(t, sshdtest.Options{Unprivileged: true})
	const sessions = uploadCloses
	for i := range sessions {
		s, err := libssh.NewSession(testCtx(t, regressBound), pipeHost, libssh.WithConn(wrap(srv.Pipe(t))),
			libssh.WithUser(srv.User), libssh.WithKnownHosts(knownHostsOf(t, srv, pipeHost)))
		require.NoError(t, err)
		closeAtEnd(t, s)
		require.NoError(t, s.VerifyHost())
		authenticate(t, s)
		ch := execChannel(t, s, "cat >/dev/null")
		written := make(chan struct{}, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 64<<10)
			for {
				if _, err := ch.Write(buf); err != nil {
					return
				}
				select {
				case written <- struct{}{}:
				default:
				}
			}
		}()
		recv(t, written, regressBound)
		require.NoError(t, s.Close())
		recv(t, done, regressBound)
		waitConnectionEnds(t, srv, i+1)
	}
	goodbyes, all := connectionEnds(srv)
	assert.Equal(t, sessions, all)
	t.Logf("%d of %d Close calls during an upload said goodbye", goodbyes, sessions)
	assert.GreaterOrEqual(t, goodbyes, sessions/2, "Close says goodbye during an upload")
}

// TestRegressChannelCloseWhileSocketFull: libssh 0.10's ssh_channel_close
// (which ssh_channel_free calls) sends EOF, and returned without sending
// CLOSE when that EOF could not be flushed at once: with the socket full, a
// closed channel stayed open on the server for ever (and, with the
// read-ahead buffer, now and then without a full socket: a channel of a
// Forwarder that closed mid-transfer). The server frees the channel once
// the connection flows again.
func TestRegressChannelCloseWhileSocketFull(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{Unprivileged: true})
	relay, err := faultnet.NewRelay(srv.Listen(t), sockBuf)
	require.NoError(t, err)
	t.Cleanup(func() { relay.Close() })
	dial, sock := faultnet.Dialer(sockBuf)
	t.Cleanup(func() { sock.Close() })
	host, port := splitHostPort(t, relay.Addr())
	s, err := libssh.NewSession(testCtx(t, regressBound), host, libssh.WithPort(port), libssh.WithUser(srv.User),
		trustSSHD(srv), libssh.WithDialer(dial))
	require.NoError(t, err)
	closeAtEnd(t, s)
	authenticate(t, s)
	ch := execChannel(t, s, "cat >/dev/null")
	relay.PauseReading()
	wrote := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := ch.Write(buf); err != nil {
				wrote <- err
				return
			}
		}
	}()
	require.NoError(t, sock.WaitFull(testCtx(t, regressBound)))
	require.NoError(t, ch.Close())
	assert.Error(t, recv(t, wrote, regressBound), "a Write of a closed channel fails")
	relay.ResumeReading()
	require.NoError(t, srv.WaitLog(testCtx(t, regressBound), "free: server-session"),
		"sshd frees the closed channel: the client sent CLOSE")
}

// TestRegressLongUserViaWithLib: a user name set through WithLib is checked
// by the next authentication call too, before anything is sent.
func TestRegressLongUserViaWithLib(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	s := newPipeSession(t, srv)
	long := strings.Repeat("u", 1<<20)
	require.NoError(t, s.WithLib(func(p lib.Session) error {
		lib.OptionsSetString(p, lib.SSH_OPTIONS_USER, long)
		return nil
	}))
	_, err := s.UserauthPublicKeyFile(testCtx(t, regressBound), sshdtest.Keys("id_ed25519"), "")
	require.ErrorContains(t, err, "user name")
	assert.True(t, s.IsConnected(), "refused before sending")
}

// Item 12: Close says goodbye (SSH_MSG_DISCONNECT) even when the session
// lock is busy. The first engine tried the lock once and, when anything
// held it, shut the socket down without a goodbye. Goroutines polling the
// channel's state keep the lock busy here. (A session streaming output
// keeps it as busy, but then sshd, still writing when the connection
// closes, often logs a broken pipe before it reads the goodbye, so that
// cannot show whether the goodbye was sent.)
func TestRegressCloseSaysGoodbye(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{Unprivileged: true})
	const sessions = 20
	for i := range sessions {
		s := newPipeSession(t, srv)
		authenticate(t, s)
		ch := execChannel(t, s, "exec "+uniqueSleep(t))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		busy := make(chan struct{}, 4)
		for range 4 {
			spawn(&wg, func() {
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
						ch.IsOpen()
					}
					if n == 100 {
						busy <- struct{}{}
					}
				}
			})
		}
		for range 4 {
			recv(t, busy, regressBound)
		}
		require.NoError(t, s.Close())
		close(stop)
		waitGroup(t, &wg, regressBound)
		waitConnectionEnds(t, srv, i+1) // sshd logs how each connection ended
	}
	goodbyes, all := connectionEnds(srv)
	assert.Equal(t, sessions, all)
	// Close waits closeGrace (20 ms) for the lock before it cuts the
	// holder off without a goodbye, and on a loaded machine a holder can
	// be off the CPU that long: allow for a few. The first engine said
	// goodbye about once in 20.
	t.Logf("%d of %d Close calls said goodbye", goodbyes, sessions)
	assert.GreaterOrEqual(t, goodbyes, sessions*3/4, "Close says goodbye though the lock is busy")
}

// TestEngineDump: the misuse test's stall report says where a session's
// bytes are, each channel's bytes sent and read included.
func TestEngineDump(t *testing.T) {
	s := authedSession(t, sshdtest.Options{Unprivileged: true})
	ch := execChannel(t, s, "cat")
	_, err := ch.Write([]byte("hello\n"))
	require.NoError(t, err)
	buf := make([]byte, 6)
	_, err = io.ReadFull(ch, buf)
	require.NoError(t, err)
	dump := libssh.SessionDump(s)
	assert.Contains(t, dump, "connected=true")
	assert.Regexp(t, `socketIn=\d+ \(woken at \d+\) socketOut=\d+ kernelIn=\d+ kernelOut=\d+`, dump)
	assert.Contains(t, dump, "sent=6 read=6")
	assert.Contains(t, libssh.EngineDump(), dump[:strings.Index(dump, ":")], "EngineDump has every session")
}

// TestRegressInputLeftInReadahead: input that a lock holder's libssh call
// took from the kernel into the read-ahead buffer and left there (a read,
// a flush or an assist can stop before the buffer is empty) is processed,
// although the poller, which reports new input in the kernel only, never
// says it is there. TestListenEcho hung on that about once in 300 runs:
// the echo's reader waited for ever with 15-60 KB in the buffer, and no
// more input came to wake the pump.
func TestRegressInputLeftInReadahead(t *testing.T) {
	t.Parallel()
	const burst = 30000 // one packet: a read of 4 KiB completes nothing
	release := make(chan struct{})
	s := sshtestSession(t, sshtest.Options{Exec: func(ctx context.Context, e *sshtest.Exec) int {
		select {
		case <-release:
		case <-ctx.Done():
			return 1
		}
		if _, err := e.Stdout.Write(make([]byte, burst)); err != nil {
			return 1
		}
		<-ctx.Done() // nothing more (no EOF, no status), which would wake the pump
		return 0
	}})
	ch := execChannel(t, s, "burst")
	got := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(ch, make([]byte, burst))
		got <- err
	}()
	stranded, err := libssh.StrandInput(s, func() { close(release) }, burst, regressBound)
	require.NoError(t, err)
	assert.True(t, stranded, "the pump was woken again: the test did not strand the input")
	assert.NoError(t, recv(t, got, 10*time.Second), "reading the burst")
}

// lateChannels keeps what TestRegressNoChannelAcceptedInTeardown found
// accepted too late reachable: their cleanup would touch freed memory.
var lateChannels []*libssh.Channel

// TestRegressNoChannelAcceptedInTeardown: a server session's Close kills
// its channels, then its goodbye's flush, when output is pending, processes
// input. A channel open found there reached the message handler, which
// accepted it: the Channel was made after the others were marked dead, so
// libssh freed it with the session behind its back, and the handler's
// goroutine closing it later crashed in ssh_remove_channel_callbacks
// (TestMisuseRandom, through sshtest's forwarding; or it leaked a C channel
// and two callback registrations). Now teardown refuses such opens and
// calls no handler. Not parallel: it counts C channels.
func TestRegressNoChannelAcceptedInTeardown(t *testing.T) {
	key, hostKey, ln := hostKeyAndListener(t)
	liveChannels := libssh.LiveChannels()

	var handled atomic.Int64 // channel opens the handler saw
	accepted := make(chan *libssh.Channel, 4)
	server := make(chan *libssh.Session, 1)
	go func() {
		defer close(server)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		s, err := libssh.AcceptSession(testCtx(t, regressBound), conn, []*libssh.PrivateKey{key}, func(m *libssh.ServerMessage) bool {
			switch m.Type() {
			case "auth":
				return m.AuthMethod() == libssh.AuthMethodNone && m.ReplyAuthSuccess() == nil
			case "channel-open":
				handled.Add(1)
				ch, err := m.AcceptChannel(nil)
				if err != nil {
					return false
				}
				accepted <- ch
				return true
			}
			return false
		})
		if err == nil {
			server <- s
		}
	}()

	host, port := splitHostPort(t, ln.Addr().String())
	ctx := testCtx(t, regressBound)
	c, err := libssh.NewSession(ctx, host, libssh.WithPort(port), libssh.WithUser("u"), pinnedKey(hostKey))
	require.NoError(t, err)
	defer c.Close()
	status, err := c.UserauthNone(ctx)
	require.NoError(t, err)
	require.Equal(t, libssh.AuthSuccess, status)
	s := recv(t, server, regressBound)
	require.NotNil(t, s)

	// One channel before the teardown, which the handler accepts.
	ch, err := c.NewChannel()
	require.NoError(t, err)
	require.NoError(t, ch.OpenForward(ctx, "127.0.0.1", 9))
	first := recv(t, accepted, regressBound)

	// The second one's open reaches the server during its teardown.
	ch2, err := c.NewChannel()
	require.NoError(t, err)
	opened := make(chan error, 1)
	teardown := libssh.InputInTeardown(t, s, func() {
		go func() { opened <- ch2.OpenForward(ctx, "127.0.0.1", 9) }()
	}, regressBound)
	require.NoError(t, s.Close())
	require.NoError(t, recv(t, teardown, regressBound))
	assert.Error(t, recv(t, opened, regressBound), "the open during the server's teardown")
	assert.Equal(t, int64(1), handled.Load(), "the handler was called during teardown")
	select {
	case late := <-accepted:
		// Kept, never closed: libssh freed its channel with the session.
		lateChannels = append(lateChannels, late)
		t.Fatalf("a channel was accepted after the session's channels were killed: %v", late)
	default:
	}
	assert.NoError(t, first.Close(), "the channel accepted before died with its session")
	require.NoError(t, ch.Close())
	require.NoError(t, ch2.Close())
	require.NoError(t, c.Close())
	assert.Equal(t, liveChannels, libssh.LiveChannels(), "C channels not freed")
}

// TestRegressNoAgentChannelInDisconnect is the client's side of
// TestRegressNoChannelAcceptedInTeardown: Disconnect's teardown, too,
// processes input once the channels are dead, and an agent channel that
// sshd opened then was adopted (the agent's handler checks what Close
// sets, not Disconnect), which ssh_disconnect then freed behind its
// relay's back. Now teardown refuses it. Not parallel: it counts C
// channels.
func TestRegressNoAgentChannelInDisconnect(t *testing.T) {
	// The remote command waits on a FIFO, then asks the forwarded agent:
	// sshd opens an agent channel once the teardown closes the FIFO.
	dir, err := os.MkdirTemp("", "agentfifo")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777)) // sshd runs the command as another user
	fifo := filepath.Join(dir, "go")
	require.NoError(t, syscall.Mkfifo(fifo, 0o666))
	require.NoError(t, os.Chmod(fifo, 0o666))
	liveChannels := libssh.LiveChannels()

	s := agentSession(t, sshdtest.StartAgent(t, sshdtest.Keys("id_ed25519")))
	cmd := s.CommandLineContext(testCtx(t, regressBound), "cat "+fifo+" >/dev/null; ssh-add -l")
	cmd.ForwardAgent = true
	require.NoError(t, cmd.Start())
	// Opening the FIFO for writing returns once the command opened it.
	opened := make(chan *os.File, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			f = nil
		}
		opened <- f
	}()
	t.Cleanup(func() {
		// If the command never opened it, an open of the reading end lets
		// the goroutine's open return; either way its file is closed.
		if r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			r.Close()
		}
		select {
		case f := <-opened:
			if f != nil {
				f.Close()
			}
		case <-time.After(regressBound):
		}
	})
	w := recv(t, opened, regressBound)
	require.NotNil(t, w)
	opened <- w // for the cleanup (a second Close does nothing)

	teardown := libssh.InputInTeardown(t, s, func() { w.Close() }, regressBound)
	require.NoError(t, s.Disconnect())
	require.NoError(t, recv(t, teardown, regressBound))
	assert.Equal(t, liveChannels, libssh.LiveChannels(), "an agent channel was adopted during the teardown")
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	assert.Error(t, recv(t, waited, regressBound), "the command's Wait after Disconnect")
	require.NoError(t, s.Close())
}
