package libssh_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/sshtest"
)

// knownListener returns the address of srv's listening sshd and the option
// of a known_hosts file that knows it there.
func knownListener(t *testing.T, srv *sshdtest.Server) (string, libssh.Option) {
	t.Helper()
	addr := srv.Listen(t)
	host, port := splitHostPort(t, addr)
	return addr, libssh.WithKnownHosts(knownHostsOf(t, srv, addrKey(host, port)))
}

// runTrue checks that s is logged in: it runs a command.
func runTrue(t *testing.T, s *libssh.Session) {
	t.Helper()
	out, err := s.CommandContext(testCtx(t, 30*time.Second), "echo", "ready").Output()
	require.NoError(t, err)
	assert.Equal(t, "ready\n", string(out))
}

func TestDialPassword(t *testing.T) {
	t.Parallel()
	srv := newSSHTest(t, sshtest.Options{Password: sshtestPassword})
	s, err := libssh.Dial(testCtx(t, 30*time.Second), srv.Addr(), libssh.WithUser("tester"),
		libssh.WithKnownHosts(srv.KnownHostsFile()), libssh.WithAuth(libssh.AuthOptions{Password: sshtestPassword}))
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, srv.Port(), s.Port())
	runTrue(t, s)

	_, err = libssh.Dial(testCtx(t, 30*time.Second), srv.Addr(), libssh.WithUser("tester"),
		libssh.WithKnownHosts(srv.KnownHostsFile()), libssh.WithAuth(libssh.AuthOptions{Password: "wrong"}))
	var na *libssh.NotAuthenticatedError
	require.ErrorAs(t, err, &na)
	assert.Equal(t, libssh.AuthMethodPassword, na.Result.Denied)
	assert.ErrorIs(t, err, libssh.ErrNotAuthenticated)
}

func TestDialKey(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	addr, kh := knownListener(t, srv)
	s, err := libssh.Dial(testCtx(t, 30*time.Second), addr, libssh.WithUser(srv.User), kh,
		libssh.WithAuth(libssh.AuthOptions{PrivateKeyFiles: []string{sshdtest.Keys("id_ed25519")}}))
	require.NoError(t, err)
	defer s.Close()
	runTrue(t, s)
}

// Without WithAuth, Dial offers the agent, then the default identity files.
func TestDialDefaultAuth(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	addr, kh := knownListener(t, srv)

	t.Run("agent", func(t *testing.T) {
		socket := sshdtest.StartAgent(t, sshdtest.Keys("id_ecdsa"))
		s, err := libssh.Dial(testCtx(t, 30*time.Second), addr, libssh.WithUser(srv.User), kh,
			libssh.WithSSHDir(t.TempDir()), libssh.WithAgentSocket(socket))
		require.NoError(t, err)
		defer s.Close()
		runTrue(t, s)
	})
	t.Run("identity files", func(t *testing.T) {
		opts := append(identitiesOnly(t, "id_ed25519"), libssh.WithUser(srv.User), kh)
		s, err := libssh.Dial(testCtx(t, 30*time.Second), addr, opts...)
		require.NoError(t, err)
		defer s.Close()
		runTrue(t, s)
	})
	t.Run("nothing that works", func(t *testing.T) {
		opts := append(identitiesOnly(t, "other_ed25519"), libssh.WithUser(srv.User), kh)
		s, err := libssh.Dial(testCtx(t, 30*time.Second), addr, opts...)
		assert.Nil(t, s)
		var na *libssh.NotAuthenticatedError
		require.ErrorAs(t, err, &na)
		assert.Equal(t, libssh.AuthMethodPublicKey, na.Result.Denied)
	})
}

func TestDialRefusesAnUnknownOrChangedHostKey(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	addr := srv.Listen(t)
	_, port := splitHostPort(t, addr)
	auth := libssh.WithAuth(libssh.AuthOptions{PrivateKeyFiles: []string{sshdtest.Keys("id_ed25519")}})
	for name, c := range map[string]struct {
		lines []string
		want  libssh.KnownHosts
	}{
		"unknown": {[]string{"# empty"}, libssh.KnownHostsUnknown},
		"changed": {[]string{addrKey("127.0.0.1", port) + " ssh-ed25519 " + pubKeyBlob(t, sshdtest.Keys("other_ed25519.pub"))}, libssh.KnownHostsChanged},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := libssh.Dial(testCtx(t, 30*time.Second), addr, libssh.WithUser(srv.User),
				libssh.WithKnownHosts(writeKnownHosts(t, c.lines...)), auth)
			assert.Nil(t, s)
			var hv *libssh.HostVerificationError
			require.ErrorAs(t, err, &hv)
			assert.Equal(t, c.want, hv.Status)
			var na *libssh.NotAuthenticatedError
			assert.False(t, errors.As(err, &na))
		})
	}
}

func TestDialAddress(t *testing.T) {
	t.Parallel()
	srv := newSSHTest(t, sshtest.Options{Password: sshtestPassword})
	opts := []libssh.Option{libssh.WithUser("tester"), libssh.WithKnownHosts(srv.KnownHostsFile()),
		libssh.WithAuth(libssh.AuthOptions{Password: sshtestPassword})}
	port := strconv.Itoa(srv.Port())

	// The port from WithPort, or from the address (the same in both is fine).
	for _, c := range []struct {
		addr string
		opts []libssh.Option
	}{
		{"127.0.0.1", []libssh.Option{libssh.WithPort(srv.Port())}},
		{"[127.0.0.1]", []libssh.Option{libssh.WithPort(srv.Port())}},
		{"127.0.0.1:" + port, []libssh.Option{libssh.WithPort(srv.Port())}},
	} {
		s, err := libssh.Dial(testCtx(t, 30*time.Second), c.addr, append(c.opts, opts...)...)
		require.NoError(t, err, c.addr)
		assert.Equal(t, "127.0.0.1", s.Host(), c.addr)
		assert.Equal(t, srv.Port(), s.Port(), c.addr)
		s.Close()
	}

	for addr, want := range map[string]string{
		"":                  "empty",
		":22":               "no host",
		"host:0":            "not a number in 1-65535",
		"host:ssh":          "not a number in 1-65535",
		"host:65536":        "not a number in 1-65535",
		"[::1":              "IPv6 address in brackets",
		"a:b:c:22":          "IPv6 address in brackets",
		"127.0.0.1:" + port: "two different ports",
	} {
		_, err := libssh.Dial(testCtx(t, 30*time.Second), addr, libssh.WithPort(1))
		require.Error(t, err, addr)
		assert.Contains(t, err.Error(), want, addr)
	}

	// A connection given with WithConn is closed when Dial fails early.
	a, b := net.Pipe()
	defer b.Close()
	_, err := libssh.Dial(testCtx(t, 30*time.Second), "host:0", libssh.WithConn(a))
	require.Error(t, err)
	_, err = a.Write([]byte("x"))
	assert.ErrorIs(t, err, io.ErrClosedPipe, "Dial closed the WithConn connection")

	var nilCtx context.Context
	_, err = libssh.Dial(nilCtx, srv.Addr())
	require.Error(t, err)
	_, err = libssh.Dial(testCtx(t, 30*time.Second), srv.Addr(), nil)
	require.ErrorContains(t, err, "nil Option")
}

// recordingDialer dials with net.Dialer and records every address.
type recordingDialer struct {
	mu    sync.Mutex
	addrs []string
}

func (d *recordingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func (d *recordingDialer) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// sshDirWithConfig returns an ssh directory whose config is text.
func sshDirWithConfig(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config"), []byte(text), 0o600))
	return dir
}

// A two-hop ProxyJump from ssh_config: the process dials only the first
// hop; the first forwards to the second, the second to the target, as the
// three sshd logs show; the hops close after the session.
func TestProxyJumpTwoHops(t *testing.T) {
	t.Parallel()
	hop1 := sshdtest.New(t, sshdtest.Options{})
	hop2 := sshdtest.New(t, sshdtest.Options{})
	target := sshdtest.New(t, sshdtest.Options{})
	var ports [3]int
	var known []string
	for i, srv := range []*sshdtest.Server{hop1, hop2, target} {
		_, ports[i] = splitHostPort(t, srv.Listen(t))
		known = append(known, srv.KnownHostsLine(addrKey("127.0.0.1", ports[i]), "ed25519"))
	}
	user := hop1.User
	// The hops are aliases that their own Host blocks resolve; the second
	// one's user and port come from the ProxyJump entry itself.
	dir := sshDirWithConfig(t, "Host target\n  HostName 127.0.0.1\n  Port "+strconv.Itoa(ports[2])+
		"\n  ProxyJump hop1,"+user+"@hop2:"+strconv.Itoa(ports[1])+
		"\nHost hop1\n  HostName 127.0.0.1\n  Port "+strconv.Itoa(ports[0])+"\n  User "+user+
		"\nHost hop2\n  HostName 127.0.0.1\n  User nosuchuser\n  Port 1\n")
	d := &recordingDialer{}
	s, err := libssh.Dial(testCtx(t, 60*time.Second), "target", libssh.WithUser(user), libssh.WithProcessConfig(true),
		libssh.WithSSHDir(dir), libssh.WithKnownHosts(writeKnownHosts(t, known...)), libssh.WithDialer(d.dial),
		libssh.WithAgentSocket(filepath.Join(dir, "no-agent")),
		libssh.WithAuth(libssh.AuthOptions{PrivateKeyFiles: []string{sshdtest.Keys("id_ed25519")}}))
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:" + strconv.Itoa(ports[0])}, d.dialed(), "only the first hop is dialed directly")
	assert.Equal(t, ports[2], s.Port())
	runTrue(t, s)

	forwardTo := func(port int) string { return "target 127.0.0.1 port " + strconv.Itoa(port) }
	assert.Contains(t, hop1.Log(), forwardTo(ports[1]), "the first hop forwards to the second")
	assert.NotContains(t, hop1.Log(), forwardTo(ports[2]))
	assert.Contains(t, hop2.Log(), forwardTo(ports[2]), "the second hop forwards to the target")
	assert.Equal(t, 1, strings.Count(target.Log(), "Connection from 127.0.0.1"), "the target has one client")
	assert.Contains(t, target.Log(), "Accepted publickey for "+user)

	require.NoError(t, s.Close())
	// Closing the session closed the hops: their sshds log the end. The
	// second hop's goodbye may be cut off by the first hop's closing; sshd
	// then logs "Connection closed by user ...", or "reset".
	for _, srv := range []*sshdtest.Server{hop1, hop2} {
		waitConnectionEnds(t, srv, 1)
	}
}

// A hop whose key is not known fails the session before anything reaches
// the target, with the hop's host verification error.
func TestProxyJumpHopHostKey(t *testing.T) {
	t.Parallel()
	hop := sshdtest.New(t, sshdtest.Options{})
	target := sshdtest.New(t, sshdtest.Options{})
	_, hopPort := splitHostPort(t, hop.Listen(t))
	_, targetPort := splitHostPort(t, target.Listen(t))
	dir := sshDirWithConfig(t, "Host target\n  HostName 127.0.0.1\n  Port "+strconv.Itoa(targetPort)+
		"\n  ProxyJump 127.0.0.1:"+strconv.Itoa(hopPort)+"\n")
	kh := writeKnownHosts(t, target.KnownHostsLine(addrKey("127.0.0.1", targetPort), "ed25519"))
	_, err := libssh.Dial(testCtx(t, 30*time.Second), "target", libssh.WithUser(hop.User), libssh.WithProcessConfig(true),
		libssh.WithSSHDir(dir), libssh.WithKnownHosts(kh),
		libssh.WithAuth(libssh.AuthOptions{PrivateKeyFiles: []string{sshdtest.Keys("id_ed25519")}}))
	var hv *libssh.HostVerificationError
	require.ErrorAs(t, err, &hv)
	assert.Equal(t, hopPort, hv.Port)
	assert.Contains(t, err.Error(), "ProxyJump host 127.0.0.1:"+strconv.Itoa(hopPort))
	assert.NotContains(t, target.Log(), "Connection from")
}

// A Connect that fails after the hops logged in closes them at once, not
// only when the session is closed: the session cannot connect again.
func TestProxyJumpHopsClosedWhenConnectFails(t *testing.T) {
	t.Parallel()
	hop := sshdtest.New(t, sshdtest.Options{})
	target := sshdtest.New(t, sshdtest.Options{})
	_, hopPort := splitHostPort(t, hop.Listen(t))
	_, targetPort := splitHostPort(t, target.Listen(t))
	dir := sshDirWithConfig(t, "Host target\n  HostName 127.0.0.1\n  Port "+strconv.Itoa(targetPort)+
		"\n  ProxyJump 127.0.0.1:"+strconv.Itoa(hopPort)+"\n")
	refused := errors.New("not this one")
	onlyTheHop := libssh.WithHostKeyCallback(func(host string, key *libssh.PublicKey) error {
		if strings.Fields(hop.HostPublicKey("ed25519"))[1] == key.Base64() {
			return nil
		}
		return refused
	})
	s, err := libssh.NewSession(testCtx(t, 30*time.Second), "target", libssh.WithUser(hop.User), libssh.WithProcessConfig(true),
		libssh.WithSSHDir(dir), libssh.WithAutoConnect(false), onlyTheHop,
		libssh.WithAuth(libssh.AuthOptions{PrivateKeyFiles: []string{sshdtest.Keys("id_ed25519")}}))
	require.NoError(t, err)
	defer s.Close()
	require.ErrorIs(t, s.Connect(testCtx(t, 30*time.Second)), refused)
	assert.Contains(t, hop.Log(), "Accepted publickey for "+hop.User, "the hop logged in")
	require.NoError(t, hop.WaitLog(testCtx(t, 10*time.Second), "Disconnected from user "+hop.User), "the hop was closed with the failed Connect")
	assert.True(t, s.IsOpen(), "the session itself stays open until Close")
}

// A jump host gets the login's keys but not its password, which is the
// server's: a hop that offers only passwords is not sent WithAuth's.
func TestProxyJumpHopGetsNoPassword(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see sshdtest.Options.Passwords).
	hop := pamServer(t, sshdtest.Options{ConfigFirst: []string{"PubkeyAuthentication no", "KbdInteractiveAuthentication no"}})
	target := sshdtest.New(t, sshdtest.Options{})
	host, hopPort := splitHostPort(t, hop.Listen(t))
	_, targetPort := splitHostPort(t, target.Listen(t))
	dir := sshDirWithConfig(t, "Host target\n  HostName 127.0.0.1\n  Port "+strconv.Itoa(targetPort)+
		"\n  ProxyJump 127.0.0.1:"+strconv.Itoa(hopPort)+"\n")
	kh := writeKnownHosts(t, hop.KnownHostsLine(addrKey(host, hopPort), "ed25519"), target.KnownHostsLine(addrKey(host, targetPort), "ed25519"))
	_, err := libssh.Dial(testCtx(t, 30*time.Second), "target", libssh.WithUser(hop.User), libssh.WithProcessConfig(true),
		libssh.WithSSHDir(dir), libssh.WithKnownHosts(kh), libssh.WithAgentSocket(filepath.Join(dir, "no-agent")),
		libssh.WithAuth(libssh.AuthOptions{Password: testPassword}))
	var notAuth *libssh.NotAuthenticatedError
	require.ErrorAs(t, err, &notAuth, "the hop accepts only a password, which it is not given")
	assert.Contains(t, err.Error(), "ProxyJump host 127.0.0.1:"+strconv.Itoa(hopPort))
	assert.Contains(t, hop.Log(), userauthRequest("none"), "the hop was asked")
	assert.NotContains(t, hop.Log(), userauthRequest("password"), "the password went nowhere near the hop")
	assert.NotContains(t, target.Log(), "Connection from")
}

func TestProxyJumpRefusals(t *testing.T) {
	t.Parallel()
	d := &recordingDialer{}
	for name, c := range map[string]struct{ config, want string }{
		"loop":       {"Host *\n  ProxyJump target\n", "jump through itself"},
		"nested":     {"Host target\n  ProxyJump a\nHost a\n  ProxyJump b\nHost b\n  ProxyJump a\n", "nest deeper than 8"},
		"proxy cmd":  {"Host target\n  ProxyCommand nc %h %p\n", `the ProxyCommand "nc %h %p", which runs only with WithProxyCommand(true)`},
		"bad token":  {"Host target\n  ProxyCommand nc %h %z\n", "unknown token %z"},
		"bad config": {"Host target\n  ProxyJump [::1\n", "read ssh_config"},
		"bad port":   {"Host target\n  ProxyJump b:99999\n", `cannot parse the ProxyJump of target (libssh made it the command "ssh -p 99999 -W '[%h]:%p' b")`},
	} {
		t.Run(name, func(t *testing.T) {
			opts := []libssh.Option{libssh.WithProcessConfig(true), libssh.WithSSHDir(sshDirWithConfig(t, c.config)),
				libssh.WithDialer(d.dial), libssh.WithKnownHosts(writeKnownHosts(t, "# empty"))}
			if name == "bad token" {
				opts = append(opts, libssh.WithProxyCommand(true))
			}
			_, err := libssh.NewSession(testCtx(t, 30*time.Second), "target", opts...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	assert.Empty(t, d.dialed(), "nothing connects directly instead")
}

// With WithProxyCommand(true), the command runs (here bash relays to the
// sshd through /dev/tcp) and is killed with its process group on Close.
func TestProxyCommandOptIn(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash") // a Debian essential package: not expected
	}
	srv := sshdtest.New(t, sshdtest.Options{})
	addr, kh := knownListener(t, srv)
	_, port := splitHostPort(t, addr)
	marker := "proxy-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	dir := sshDirWithConfig(t, "Host target\n  HostName 127.0.0.1\n  Port "+strconv.Itoa(port)+
		"\n  ProxyCommand "+bash+" -c 'exec 3<>/dev/tcp/%h/%p; cat <&3 & cat >&3' "+marker+" %r %n %%\n")
	opts := []libssh.Option{libssh.WithUser(srv.User), libssh.WithProcessConfig(true), libssh.WithSSHDir(dir), kh,
		libssh.WithAuth(libssh.AuthOptions{PrivateKeyFiles: []string{sshdtest.Keys("id_ed25519")}})}

	_, err = libssh.Dial(testCtx(t, 30*time.Second), "target", opts...)
	require.ErrorContains(t, err, "WithProxyCommand(true)", "refused without the option")

	s, err := libssh.Dial(testCtx(t, 30*time.Second), "target", append(opts, libssh.WithProxyCommand(true))...)
	require.NoError(t, err)
	runTrue(t, s)
	pgrep := func() string {
		out, _ := exec.Command("pgrep", "-f", marker+" "+srv.User+" target %").Output()
		return strings.TrimSpace(string(out))
	}
	assert.NotEmpty(t, pgrep(), "the command runs, with %r %n %% expanded")
	require.NoError(t, s.Close())
	assert.Empty(t, pgrep(), "Close killed the command")

	// A command that fails says so in the error.
	dir = sshDirWithConfig(t, "Host target\n  ProxyCommand echo no route to %h >&2; exit 1\n")
	_, err = libssh.Dial(testCtx(t, 30*time.Second), "target", libssh.WithProcessConfig(true), libssh.WithSSHDir(dir),
		libssh.WithProxyCommand(true), kh)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no route to target")
}
