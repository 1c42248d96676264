package sshdtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// sshPath is the OpenSSH client used to exercise the servers.
const sshPath = "/usr/bin/ssh"

// proxyEnv names the environment variable that turns the test binary into
// an ssh ProxyCommand relaying stdin/stdout to the Unix socket it names.
const proxyEnv = "SSHDTEST_PROXY_SOCKET"

// TestMain lets the test binary double as an ssh ProxyCommand (see
// TestPipeSSHClient) when proxyEnv is set.
func TestMain(m *testing.M) {
	if sock := os.Getenv(proxyEnv); sock != "" {
		os.Exit(runProxy(sock))
	}
	os.Exit(m.Run())
}

// runProxy relays stdin to the Unix socket sock and the socket to stdout.
func runProxy(sock string) int {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sshdtest proxy: %v\n", err)
		return 1
	}
	defer conn.Close()
	go func() {
		_, _ = io.Copy(conn, os.Stdin)
		_ = conn.(*net.UnixConn).CloseWrite()
	}()
	if _, err := io.Copy(os.Stdout, conn); err != nil {
		fmt.Fprintf(os.Stderr, "sshdtest proxy: %v\n", err)
		return 1
	}
	return 0
}

// requireSSH skips the test when the OpenSSH client is not installed.
func requireSSH(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(sshPath); err != nil {
		t.Skip("sshdtest: " + sshPath + " not found; install openssh-client")
	}
}

// privateKey copies testdata/keys/<name> to a private temporary file, since
// ssh refuses keys readable by others and git does not keep file modes.
func privateKey(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(Keys(name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sshResult is the outcome of one ssh client run.
type sshResult struct {
	stdout, stderr string
	code           int
}

// runSSH runs the OpenSSH client with the given options, user@host and
// remote command, and returns its output and exit code.
func runSSH(t *testing.T, env []string, args ...string) sshResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	base := []string{
		"-F", "/dev/null",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "ConnectTimeout=30",
	}
	cmd := exec.CommandContext(ctx, sshPath, append(base, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	res := sshResult{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.Exited():
		res.code = exitErr.ExitCode()
	default:
		t.Fatalf("running ssh: %v\nstderr:\n%s", err, res.stderr)
	}
	return res
}

// TestTestdataDir checks that TestdataDir and Keys find every test key.
func TestTestdataDir(t *testing.T) {
	dir := TestdataDir()
	if !filepath.IsAbs(dir) {
		t.Errorf("TestdataDir() = %q, want an absolute path", dir)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "go.mod")); err != nil {
		t.Errorf("no go.mod next to %s: %v", dir, err)
	}
	for _, name := range []string{
		"id_ed25519", "id_ecdsa", "id_rsa", "id_ed25519_enc", "id_rsa_pem_enc", "other_ed25519",
	} {
		for _, f := range []string{name, name + ".pub"} {
			if _, err := os.Stat(Keys(f)); err != nil {
				t.Errorf("test key missing: %v", err)
			}
		}
	}
}

// TestPipeBanner checks that Pipe speaks SSH: the first line read is
// OpenSSH's identification string, with no log output mixed in.
func TestPipeBanner(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	// Two independent sshd -i processes from one Server.
	for i := range 2 {
		conn := s.Pipe(t)
		if _, ok := conn.(*net.UnixConn); !ok {
			t.Errorf("Pipe returned %T, want *net.UnixConn", conn)
		}
		if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			t.Fatalf("pipe %d: reading identification line: %v (read %q)", i, err, line)
		}
		if !strings.HasPrefix(line, "SSH-2.0-OpenSSH_") {
			t.Errorf("pipe %d: identification line = %q, want prefix SSH-2.0-OpenSSH_", i, line)
		}
		if err := conn.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestPipeSSHClient runs a complete session over Pipe: the ssh client's
// ProxyCommand (this test binary, see TestMain) connects to a Unix socket
// that the test relays to the connection returned by Pipe.
func TestPipeSSHClient(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	s := New(t, Options{})
	key := privateKey(t, "id_ed25519")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "proxy.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pipe := s.Pipe(t)
	defer pipe.Close()

	var wg sync.WaitGroup
	var proxyConn net.Conn
	accepted := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := l.Accept()
		if err != nil {
			accepted <- err
			return
		}
		proxyConn = c
		accepted <- nil
		var relay sync.WaitGroup
		relay.Add(2)
		go func() {
			defer relay.Done()
			_, _ = io.Copy(pipe, c)
			_ = pipe.(*net.UnixConn).CloseWrite()
		}()
		go func() {
			defer relay.Done()
			_, _ = io.Copy(c, pipe)
			_ = c.(*net.UnixConn).CloseWrite()
		}()
		relay.Wait()
	}()

	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(s.KnownHostsLine("piped", "ed25519")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runSSH(t, []string{proxyEnv + "=" + sock},
		"-i", key,
		"-o", "ProxyCommand="+self,
		"-o", "HostKeyAlias=piped",
		"-o", "UserKnownHostsFile="+kh,
		"-o", "StrictHostKeyChecking=yes",
		s.User+"@piped", "echo via-pipe; exit 7")

	// Unblock and collect every goroutine started above.
	l.Close()
	if err := <-accepted; err == nil {
		proxyConn.Close()
	}
	pipe.Close()
	wg.Wait()

	if res.code != 7 || res.stdout != "via-pipe\n" {
		t.Fatalf("ssh over Pipe: exit %d, stdout %q, want 7 and %q\nstderr:\n%s",
			res.code, res.stdout, "via-pipe\n", res.stderr)
	}
}

// TestListen logs in with the OpenSSH client, runs a command, and checks
// that a second Listen returns the same address and KnownHostsLine's format.
func TestListen(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	s := New(t, Options{})
	addr := s.Listen(t)
	if again := s.Listen(t); again != addr {
		t.Errorf("second Listen = %q, want %q", again, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("Listen returned %q, want 127.0.0.1:PORT (err %v)", addr, err)
	}
	key := privateKey(t, "id_ed25519")
	kh := filepath.Join(t.TempDir(), "kh")
	res := runSSH(t, nil,
		"-i", key, "-p", port,
		"-o", "UserKnownHostsFile="+kh,
		"-o", "StrictHostKeyChecking=accept-new",
		s.User+"@127.0.0.1", "echo hello; exit 3")
	if res.code != 3 || res.stdout != "hello\n" {
		t.Fatalf("ssh: exit %d, stdout %q, want 3 and %q\nstderr:\n%s", res.code, res.stdout, "hello\n", res.stderr)
	}

	// ssh recorded the host key exactly as KnownHostsLine formats it.
	b, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	want := s.KnownHostsLine("[127.0.0.1]:"+port, "ed25519")
	if got := strings.TrimSpace(string(b)); got != want {
		t.Errorf("known_hosts written by ssh:\n%s\nwant:\n%s", got, want)
	}
}

// TestListenConcurrentCalls checks that concurrent Listen calls share one sshd.
func TestListenConcurrentCalls(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	addrs := make([]string, 4)
	var wg sync.WaitGroup
	for i := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addrs[i] = s.Listen(t)
		}()
	}
	wg.Wait()
	for _, a := range addrs[1:] {
		if a != addrs[0] {
			t.Fatalf("concurrent Listen calls returned different addresses: %q", addrs)
		}
	}
	c, err := net.DialTimeout("tcp", addrs[0], 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestListenCleanupStopsSSHD checks that the cleanup of the test that called
// Listen stops sshd: afterwards the port no longer accepts connections.
func TestListenCleanupStopsSSHD(t *testing.T) {
	t.Parallel()
	var addr string
	t.Run("server", func(t *testing.T) {
		s := New(t, Options{})
		addr = s.Listen(t)
		c, err := net.DialTimeout("tcp", addr, 30*time.Second)
		if err != nil {
			t.Fatalf("dialing running sshd: %v", err)
		}
		c.Close()
	})
	if addr == "" {
		t.Fatal("subtest did not start sshd")
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after cleanup", addr)
	}
}

// TestHostKeyTypes verifies every host key type against a known_hosts file
// built from KnownHostsLine, with strict host key checking.
func TestHostKeyTypes(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	s := New(t, Options{HostKeyTypes: []string{"ed25519", "ecdsa", "rsa", "ed25519"}})
	if len(s.HostKeys) != 3 {
		t.Errorf("HostKeys = %v, want 3 entries", s.HostKeys)
	}
	addr := s.Listen(t)
	_, port, _ := net.SplitHostPort(addr)
	key := privateKey(t, "id_ecdsa")
	for _, tc := range []struct{ typ, prefix, algs string }{
		{"ed25519", "ssh-ed25519 ", "ssh-ed25519"},
		{"ecdsa", "ecdsa-sha2-nistp256 ", "ecdsa-sha2-nistp256"},
		{"rsa", "ssh-rsa ", "rsa-sha2-512,rsa-sha2-256"},
	} {
		pub := s.HostPublicKey(tc.typ)
		if !strings.HasPrefix(pub, tc.prefix) || pub != strings.TrimSpace(pub) {
			t.Errorf("HostPublicKey(%q) = %q, want prefix %q and no surrounding space", tc.typ, pub, tc.prefix)
		}
		if _, err := os.Stat(s.HostKeys[tc.typ] + ".pub"); err != nil {
			t.Error(err)
		}
		kh := filepath.Join(t.TempDir(), "kh_"+tc.typ)
		line := s.KnownHostsLine("[127.0.0.1]:"+port, tc.typ)
		if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		res := runSSH(t, nil,
			"-i", key, "-p", port,
			"-o", "UserKnownHostsFile="+kh,
			"-o", "StrictHostKeyChecking=yes",
			"-o", "HostKeyAlgorithms="+tc.algs,
			s.User+"@127.0.0.1", "echo ok")
		if res.code != 0 || res.stdout != "ok\n" {
			t.Errorf("%s host key: ssh exit %d, stdout %q\nstderr:\n%s", tc.typ, res.code, res.stdout, res.stderr)
		}
	}
}

// TestAuthorizedKeysAndConfigFirst checks the default and custom
// authorized keys and that ConfigFirst overrides a default.
func TestAuthorizedKeysAndConfigFirst(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	login := func(t *testing.T, s *Server, keyName string) sshResult {
		t.Helper()
		_, port, _ := net.SplitHostPort(s.Listen(t))
		return runSSH(t, nil,
			"-i", privateKey(t, keyName), "-p", port,
			"-o", "UserKnownHostsFile="+filepath.Join(t.TempDir(), "kh"),
			"-o", "StrictHostKeyChecking=accept-new",
			s.User+"@127.0.0.1", "true")
	}
	t.Run("default keys", func(t *testing.T) {
		t.Parallel()
		s := New(t, Options{})
		if res := login(t, s, "id_rsa"); res.code != 0 {
			t.Errorf("id_rsa: exit %d\n%s", res.code, res.stderr)
		}
		if res := login(t, s, "other_ed25519"); res.code != 255 || !strings.Contains(res.stderr, "Permission denied") {
			t.Errorf("other_ed25519: exit %d, want 255 and permission denied\n%s", res.code, res.stderr)
		}
	})
	t.Run("custom keys", func(t *testing.T) {
		t.Parallel()
		s := New(t, Options{AuthorizedKeys: []string{Keys("other_ed25519.pub")}})
		if res := login(t, s, "other_ed25519"); res.code != 0 {
			t.Errorf("other_ed25519: exit %d\n%s", res.code, res.stderr)
		}
		if res := login(t, s, "id_ed25519"); res.code != 255 {
			t.Errorf("id_ed25519: exit %d, want 255\n%s", res.code, res.stderr)
		}
	})
	t.Run("ConfigFirst overrides", func(t *testing.T) {
		t.Parallel()
		s := New(t, Options{ConfigFirst: []string{"PubkeyAuthentication no"}})
		if res := login(t, s, "id_ed25519"); res.code != 255 {
			t.Errorf("id_ed25519 with PubkeyAuthentication no: exit %d, want 255\n%s", res.code, res.stderr)
		}
	})
}

// fatalRecorder is a testing.TB that records Fatalf instead of failing the
// real test, for checking New's error reporting. It must be used from its
// own goroutine because Fatalf ends the calling goroutine.
type fatalRecorder struct {
	testing.TB
	mu       sync.Mutex
	fatal    string
	cleanups []func()
}

// Helper does nothing.
func (r *fatalRecorder) Helper() {}

// Fatalf records the message and ends the calling goroutine.
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// Failed reports whether Fatalf was called.
func (r *fatalRecorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal != ""
}

// Logf discards the message.
func (r *fatalRecorder) Logf(string, ...any) {}

// Cleanup records f; the test runs the recorded functions itself.
func (r *fatalRecorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// TestInvalidConfigFails checks that New reports sshd's rejection of a
// configuration together with the configuration.
func TestInvalidConfigFails(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Skip("sshdtest: " + SSHDPath + " not found")
	}
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		New(r, Options{Config: []string{"NoSuchKeyword yes"}})
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	if !strings.Contains(r.fatal, "sshd rejected the configuration") || !strings.Contains(r.fatal, "NoSuchKeyword") {
		t.Errorf("New with an invalid config: fatal message %q, want it to mention the rejection and the config", r.fatal)
	}
}

// occupyPort listens on a free 127.0.0.1 port for the rest of the test and
// returns the port, so that an sshd started on it fails to bind.
func occupyPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// TestListenRetriesBusyPort makes the first two attempts pick a port that is
// already in use. It is not parallel because it replaces pickPort.
func TestListenRetriesBusyPort(t *testing.T) {
	busy := occupyPort(t)
	calls := 0
	pickPort = func() (int, error) {
		calls++
		if calls <= 2 {
			return busy, nil
		}
		return freePort()
	}
	defer func() { pickPort = freePort }()

	s := New(t, Options{})
	addr := s.Listen(t)
	if calls != 3 {
		t.Errorf("Listen picked %d ports, want 3", calls)
	}
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if n := strings.Count(s.Log(), "Address already in use"); n != 2 {
		t.Errorf("log mentions %d bind failures, want 2:\n%s", n, s.Log())
	}
}

// TestListenGivesUp checks that Listen fails the test after five busy ports.
// It is not parallel because it replaces pickPort.
func TestListenGivesUp(t *testing.T) {
	busy := occupyPort(t)
	calls := 0
	pickPort = func() (int, error) {
		calls++
		return busy, nil
	}
	defer func() { pickPort = freePort }()

	s := New(t, Options{})
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Listen(r)
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	if calls != 5 {
		t.Errorf("Listen picked %d ports, want 5", calls)
	}
	if !strings.Contains(r.fatal, "attempt 5:") || !strings.Contains(r.fatal, "Address already in use") {
		t.Errorf("fatal message %q, want it to report 5 attempts and the sshd log", r.fatal)
	}
	if len(r.cleanups) != 0 {
		t.Errorf("failed Listen registered %d cleanups, want none", len(r.cleanups))
	}
}
