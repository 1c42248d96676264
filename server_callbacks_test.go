package libssh_test

// Server-side channel callbacks (installed by sshtest's Options.Channel),
// each reached by this package's client sending the matching request.

import (
	"errors"
	"strconv"
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

func TestServerChannelCallbacks(t *testing.T) {
	t.Parallel()
	var ev events // see channel_callbacks_test.go
	signalled := make(chan struct{})
	accept := func(what string) bool { ev.add(what); return what != "subsystem nope" }
	srv := newSSHTest(t, sshtest.Options{Password: sshtestPassword, Channel: func(*libssh.Channel) *callbacks.ChannelCallbacks {
		return &callbacks.ChannelCallbacks{
			OnPtyRequest: func(term string, w, h, pw, ph int) bool {
				return accept("pty " + term + " " + strconv.Itoa(w) + "x" + strconv.Itoa(h))
			},
			OnPtyWindowChange: func(w, h, pw, ph int) bool { return accept("window " + strconv.Itoa(w) + "x" + strconv.Itoa(h)) },
			OnShellRequest:    func() bool { return accept("shell") },
			OnEnvRequest:      func(name, value string) bool { return accept("env " + name + "=" + value) },
			OnSubsystemRequest: func(name string) bool {
				return accept("subsystem " + name)
			},
			OnAuthAgentReq: func() { ev.add("agent") },
			OnX11Req: func(single bool, proto, cookie string, screen uint32) {
				ev.add("x11 " + proto + " " + cookie + " " + strconv.Itoa(int(screen)) + " " + map[bool]string{true: "single", false: "many"}[single])
			},
			OnSignal: func(sig string) {
				ev.add("signal " + sig)
				close(signalled)
			},
			OnExecRequest: func(cmd string) bool { return accept("exec " + cmd) },
		}
	}})
	// RequestAuthAgent needs a local agent to forward.
	s := connectSSHTest(t, srv, libssh.WithAgentSocket(sshdtest.StartAgent(t)))
	ctx := testCtx(t, 30*time.Second)
	status, err := s.UserauthPassword(ctx, sshtestPassword)
	require.NoError(t, err)
	require.Equal(t, libssh.AuthSuccess, status)
	ch := openChannel(t, s)
	require.NoError(t, ch.RequestEnv(ctx, "LANG", "C.UTF-8"))
	require.NoError(t, ch.RequestPty(ctx, "xterm-256color", 120, 40))
	require.NoError(t, ch.ChangePtySize(ctx, 100, 30))
	require.NoError(t, ch.RequestAuthAgent(ctx))
	require.NoError(t, ch.RequestX11(ctx, true, "MIT-MAGIC-COOKIE-1", "0123abcd", 2))
	err = ch.RequestSubsystem(ctx, "nope")
	require.ErrorIs(t, err, libssh.ErrRequestDenied, "a callback that says no denies")
	require.NoError(t, ch.RequestSubsystem(ctx, "sftp"))
	require.NoError(t, ch.RequestShell(ctx))
	require.NoError(t, ch.RequestExec(ctx, "uptime"))
	require.NoError(t, ch.SendSignal(ctx, "USR1")) // no reply: wait for the callback
	recv(t, signalled, 30*time.Second)
	assert.Equal(t, []string{
		"env LANG=C.UTF-8",
		"pty xterm-256color 120x40",
		"window 100x30",
		"agent",
		"x11 MIT-MAGIC-COOKIE-1 0123abcd 2 single",
		"subsystem nope",
		"subsystem sftp",
		"shell",
		"exec uptime",
		"signal USR1",
	}, ev.snapshot())
	require.NoError(t, ch.Close())
}

func TestServerRefusesWhatNoCallbackTakes(t *testing.T) {
	t.Parallel()
	s := sshtestSession(t, sshtest.Options{}) // no Options.Channel
	ctx := testCtx(t, 30*time.Second)
	ch := openChannel(t, s)
	require.ErrorIs(t, ch.RequestPty(ctx, "xterm", 80, 24), libssh.ErrRequestDenied)
	require.ErrorIs(t, ch.RequestShell(ctx), libssh.ErrRequestDenied)
	require.ErrorIs(t, ch.RequestSubsystem(ctx, "sftp"), libssh.ErrRequestDenied)
	require.NoError(t, ch.Close())
}

// TestServerSendsExitStatusAndSignal: a test's exec callback hands the
// channel to a goroutine, which answers with output, EOF and an exit status
// or signal through the server-side Channel methods.
func TestServerSendsExitStatusAndSignal(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	s := sshtestSession(t, sshtest.Options{Channel: func(ch *libssh.Channel) *callbacks.ChannelCallbacks {
		return &callbacks.ChannelCallbacks{OnExecRequest: func(cmd string) bool {
			spawn(&wg, func() { // not in the callback: it must not use the channel
				defer ch.Close()
				ch.WriteString("out:" + cmd)
				ch.WriteStderr([]byte("err:" + cmd))
				ch.CloseWrite()
				if cmd == "signal" {
					ch.RequestSendExitSignal("ABRT", true, "aborted", "en")
				} else {
					ch.RequestSendExitStatus(len(cmd))
				}
			})
			return true
		}}
	}})

	var stdout, stderr syncBuffer
	cmd := s.CommandLine("four")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var exitErr *libssh.ExitError
	require.ErrorAs(t, cmd.Run(), &exitErr)
	assert.Equal(t, 4, exitErr.ExitCode())
	assert.Equal(t, "out:four", stdout.String())
	assert.Equal(t, "err:four", stderr.String())

	err := s.CommandLine("signal").Run()
	var sigErr *libssh.ExitSignalError
	require.ErrorAs(t, err, &sigErr)
	assert.Equal(t, libssh.ExitSignalError{Signal: "ABRT", CoreDumped: true, Message: "aborted", Lang: "en"}, *sigErr)

	// The same through a channel and its own callbacks.
	ch := openChannel(t, s)
	got := make(chan int, 1)
	require.NoError(t, ch.SetCallbacks(&callbacks.ChannelCallbacks{OnExitStatus: func(status int) { got <- status }}))
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "sixsix"))
	out, err := readAll(t, ch, 60*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "out:sixsix", string(out))
	assert.Equal(t, 6, recv(t, got, 30*time.Second))
	require.NoError(t, ch.Close())
}

func TestServerSideChannelMisuse(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 2)
	s := sshtestSession(t, sshtest.Options{Channel: func(ch *libssh.Channel) *callbacks.ChannelCallbacks {
		return &callbacks.ChannelCallbacks{OnExecRequest: func(string) bool {
			// Inside a callback the channel refuses to be used, and says so.
			_, err := ch.Write([]byte("x"))
			errs <- err
			errs <- ch.RequestSendExitStatus(0)
			ch.Close() // allowed: takes effect when the callback returns
			return true
		}}
	}})
	ch := openChannel(t, s)
	require.NoError(t, ch.RequestExec(testCtx(t, 30*time.Second), "anything"))
	require.ErrorIs(t, recv(t, errs, 30*time.Second), libssh.ErrInCallback)
	require.ErrorIs(t, recv(t, errs, 30*time.Second), libssh.ErrInCallback)
	// The server closed the channel without a status.
	require.NoError(t, ch.Wait(testCtx(t, 30*time.Second)))
	_, err := ch.ExitStatus()
	require.True(t, errors.Is(err, libssh.ErrNoExitStatus), "%v", err)
	require.NoError(t, ch.Close())

	// Out of range or malformed values are refused before anything is sent.
	require.Error(t, ch.RequestSendExitStatus(-1))
	require.Error(t, ch.RequestSendExitSignal("", false, "", ""))
	require.Error(t, ch.RequestSendExitSignal("TE\x00RM", false, "", ""))
}
