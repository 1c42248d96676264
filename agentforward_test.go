package libssh_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

// agentSession is an authenticated session to a new sshd -i (an
// unprivileged user, AllowAgentForwarding at its default, yes) whose local
// agent is the one at socket.
func agentSession(t *testing.T, socket string) *libssh.Session {
	t.Helper()
	s := newPipeSession(t, sshdtest.New(t, sshdtest.Options{Unprivileged: true}), libssh.WithAgentSocket(socket))
	authenticate(t, s)
	return s
}

// agentFingerprints returns the key fingerprints ssh-add -l lists.
func agentFingerprints(t *testing.T, list string) []string {
	t.Helper()
	var fps []string
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(line)
		require.GreaterOrEqual(t, len(f), 2, "ssh-add -l printed %q", list)
		fps = append(fps, f[1])
	}
	return fps
}

func TestForwardAgentListsLocalKeys(t *testing.T) {
	t.Parallel()
	socket := sshdtest.StartAgent(t, sshdtest.Keys("id_ed25519"), sshdtest.Keys("id_ecdsa"))
	local := exec.Command("ssh-add", "-l")
	local.Env = append(os.Environ(), "SSH_AUTH_SOCK="+socket)
	out, err := local.Output()
	require.NoError(t, err)
	want := agentFingerprints(t, string(out))
	require.Len(t, want, 2)

	s := agentSession(t, socket)
	// Two agent connections, one after the other: a channel each.
	cmd := s.CommandLineContext(testCtx(t, 60*time.Second), "ssh-add -l && echo --- && ssh-add -l")
	cmd.ForwardAgent = true
	out, err = cmd.Output()
	require.NoError(t, err, "stderr: %s", cmd.Process.Stderr())
	first, second, ok := strings.Cut(string(out), "---\n")
	require.True(t, ok, "output: %q", out)
	assert.ElementsMatch(t, want, agentFingerprints(t, first))
	assert.ElementsMatch(t, want, agentFingerprints(t, second))

	// sshd's agent socket is the connection's: a later command of the
	// session has it too, and the session serves it.
	out, err = s.CommandLineContext(testCtx(t, 60*time.Second), "ssh-add -l").Output()
	require.NoError(t, err)
	assert.ElementsMatch(t, want, agentFingerprints(t, string(out)))

	// Off by default: a session where no command asked has no agent.
	s = agentSession(t, socket)
	out, err = s.CommandLineContext(testCtx(t, 60*time.Second), "echo ${SSH_AUTH_SOCK:-none}").Output()
	require.NoError(t, err)
	assert.Equal(t, "none\n", string(out))
}

// The low-level request now gets its channels answered too.
func TestRequestAuthAgentServesChannels(t *testing.T) {
	t.Parallel()
	s := agentSession(t, sshdtest.StartAgent(t, sshdtest.Keys("id_ed25519")))
	ch := openChannel(t, s)
	ctx := testCtx(t, 60*time.Second)
	require.NoError(t, ch.RequestAuthAgent(ctx))
	require.NoError(t, ch.RequestExec(ctx, "ssh-add -l >/dev/null"))
	require.NoError(t, ch.CloseWrite())
	_, err := readAll(t, ch, 60*time.Second)
	require.NoError(t, err)
	require.NoError(t, ch.Wait(ctx))
	status, err := ch.ExitStatus()
	require.NoError(t, err)
	assert.Equal(t, 0, status, "ssh-add -l found the forwarded agent and a key in it")
}

// A remote ssh to a second server logs in with the forwarded agent, which
// is the only place its key is.
func TestForwardAgentLogsInToAnotherServer(t *testing.T) {
	t.Parallel()
	s := agentSession(t, sshdtest.StartAgent(t, sshdtest.Keys("id_ed25519")))
	second := sshdtest.New(t, sshdtest.Options{})
	host, port := splitHostPort(t, second.Listen(t))
	knownHost := second.KnownHostsLine(addrKey(host, port), "ed25519")
	line := fmt.Sprintf(`kh=$(mktemp) && printf '%%s\n' %s >"$kh" || exit 99
ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$kh" -p %d %s@%s echo logged in as '$(id -un)'
st=$?; rm -f "$kh"; exit $st`, libssh.ShellQuote(knownHost), port, second.User, host)

	cmd := s.CommandLineContext(testCtx(t, 60*time.Second), line)
	cmd.ForwardAgent = true
	out, err := cmd.Output()
	require.NoError(t, err, "stderr: %s", cmd.Process.Stderr())
	assert.Equal(t, "logged in as "+second.User+"\n", string(out))

	// Without forwarding (a session where no command asked for it), the
	// same command has no key to log in with.
	s = agentSession(t, sshdtest.StartAgent(t, sshdtest.Keys("id_ed25519")))
	cmd = s.CommandLineContext(testCtx(t, 60*time.Second), line)
	_, err = cmd.Output()
	var exit *libssh.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 255, exit.ExitCode(), "ssh's status when it could not log in")
}

func TestForwardAgentWithoutAgent(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no-agent")
	s := agentSession(t, missing)
	cmd := s.CommandLineContext(testCtx(t, 60*time.Second), "true")
	cmd.ForwardAgent = true
	err := cmd.Start()
	require.ErrorIs(t, err, libssh.ErrNoAgent)
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "WithAgentSocket")
	assert.Zero(t, libssh.SessionChannels(s), "nothing was opened")

	ch := openChannel(t, s)
	require.ErrorIs(t, ch.RequestAuthAgent(testCtx(t, 30*time.Second)), libssh.ErrNoAgent)

	// Mended, the same Cmd starts.
	cmd.ForwardAgent = false
	require.NoError(t, cmd.Run())
}

// An agent that goes away after Start: the remote program's connection is
// closed at once, and it fails instead of hanging.
func TestForwardAgentGoneAfterStart(t *testing.T) {
	t.Parallel()
	socket := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", socket)
	require.NoError(t, err)
	s := agentSession(t, socket)
	cmd := s.CommandLineContext(testCtx(t, 60*time.Second), "read x; ssh-add -l; echo status=$?")
	cmd.ForwardAgent = true
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	var out strings.Builder
	cmd.Stdout = &out
	require.NoError(t, cmd.Start())
	require.NoError(t, ln.Close()) // removes the socket
	_, err = stdin.Write([]byte("\n"))
	require.NoError(t, err)
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	assert.Regexp(t, `status=[1-9]`, out.String())
}

// Close while a relay waits for an agent that never answers: Close returns,
// and so does the command's Wait.
func TestForwardAgentCloseDuringRelay(t *testing.T) {
	t.Parallel()
	accepted := make(chan struct{}, 1)
	s := agentSession(t, sshdtest.StartStuckAgent(t, accepted))
	cmd := s.CommandLineContext(testCtx(t, 60*time.Second), "ssh-add -l")
	cmd.ForwardAgent = true
	require.NoError(t, cmd.Start())
	recv(t, accepted, 30*time.Second) // the relay is connected, the remote ssh-add waits

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	require.NoError(t, recv(t, closed, 10*time.Second))
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	err := recv(t, waited, 10*time.Second)
	require.Error(t, err)
	assert.True(t, errors.Is(err, libssh.ErrClosed), "Wait: %v", err)
}

// A server that does not forward agents accepts the request silently (it
// has no reply); the command finds no agent.
func TestForwardAgentRefusedByServer(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{Unprivileged: true, ConfigFirst: []string{"AllowAgentForwarding no"}})
	s := newPipeSession(t, srv, libssh.WithAgentSocket(sshdtest.StartAgent(t, sshdtest.Keys("id_ed25519"))))
	authenticate(t, s)
	cmd := s.CommandLineContext(testCtx(t, 60*time.Second), "echo ${SSH_AUTH_SOCK:-none}")
	cmd.ForwardAgent = true
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, "none\n", string(out))
}
