package sshdtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golibssh/libssh/internal/daemontest"
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

// runSSH runs the OpenSSH client in batch mode with the given options,
// user@host and remote command, and returns its output and exit code.
func runSSH(t *testing.T, env []string, args ...string) sshResult {
	t.Helper()
	base := []string{
		"-F", "/dev/null",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes",
		"-o", "ConnectTimeout=30",
	}
	return runSSHArgs(t, env, append(base, args...)...)
}

// runSSHArgs runs the OpenSSH client with exactly the given arguments and
// the environment of the test plus env. Its standard input is /dev/null.
func runSSHArgs(t *testing.T, env []string, args ...string) sshResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sshPath, args...)
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

// pipeProxy lets one ssh client run reach a fresh sshd -i of s started
// with Pipe: the client's ProxyCommand (this test binary, see TestMain)
// connects to a Unix socket that the test relays to the connection. It
// returns the environment and options for ssh (host "piped", host key
// checked strictly) and a function that closes everything and waits for
// the relay; it is also registered as a cleanup and may be called again.
func pipeProxy(t *testing.T, s *Server) (env, sshOpts []string, stop func()) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: a Unix socket path has to stay short.
	dir, err := os.MkdirTemp("", "sshdtest-proxy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "proxy.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() }) // in case Pipe fails; stop closes it too
	pipe := s.Pipe(t)

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
	// Unblock and collect every goroutine started above.
	stop = sync.OnceFunc(func() {
		l.Close()
		if err := <-accepted; err == nil {
			proxyConn.Close()
		}
		pipe.Close()
		wg.Wait()
	})
	t.Cleanup(stop)

	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(s.KnownHostsLine("piped", "ed25519")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sshOpts = []string{
		"-o", "ProxyCommand=" + self,
		"-o", "HostKeyAlias=piped",
		"-o", "UserKnownHostsFile=" + kh,
		"-o", "StrictHostKeyChecking=yes",
	}
	return []string{proxyEnv + "=" + sock}, sshOpts, stop
}

// TestPipeSSHClient runs a complete session over Pipe (see pipeProxy).
func TestPipeSSHClient(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	s := New(t, Options{})
	key := privateKey(t, "id_ed25519")
	env, opts, stop := pipeProxy(t, s)
	res := runSSH(t, env, append(append([]string{"-i", key}, opts...),
		s.User+"@piped", "echo via-pipe; exit 7")...)
	stop()
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
	readBanner(t, c) // see TestListenCleanupStopsSSHD
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
		// Wait for the banner before closing: until the sshd serving the
		// connection has started, it may still open sshd.log by path,
		// which would recreate the file while the test's directory is
		// being removed.
		readBanner(t, c)
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

// TestInvalidConfigFails checks that New reports sshd's rejection of a
// configuration together with the configuration.
func TestInvalidConfigFails(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Skip("sshdtest: " + SSHDPath + " not found")
	}
	r := &daemontest.RecordingTB{TB: t}
	r.Run(func(t testing.TB) { New(t, Options{Config: []string{"NoSuchKeyword yes"}}) })
	if msg := r.Message(); r.Skipped() || !strings.Contains(msg, "sshd rejected the configuration") || !strings.Contains(msg, "NoSuchKeyword") {
		t.Errorf("New with an invalid config: skipped %v, message %q; want a failure mentioning the rejection and the config", r.Skipped(), msg)
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
	picker := &daemontest.BusyPort{Port: busy, Times: 2}
	pickPort = picker.Pick
	defer func() { pickPort = daemontest.FreePort }()

	s := New(t, Options{})
	addr := s.Listen(t)
	if picker.Calls() != 3 {
		t.Errorf("Listen picked %d ports, want 3", picker.Calls())
	}
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	readBanner(t, c) // see TestListenCleanupStopsSSHD
	c.Close()
	if n := strings.Count(s.Log(), "Address already in use"); n != 2 {
		t.Errorf("log mentions %d bind failures, want 2:\n%s", n, s.Log())
	}
}

// TestListenGivesUp checks that Listen fails the test after five busy ports.
// It is not parallel because it replaces pickPort.
func TestListenGivesUp(t *testing.T) {
	busy := occupyPort(t)
	picker := &daemontest.BusyPort{Port: busy, Times: math.MaxInt}
	pickPort = picker.Pick
	defer func() { pickPort = daemontest.FreePort }()

	s := New(t, Options{})
	r := &daemontest.RecordingTB{TB: t}
	r.Run(func(t testing.TB) { s.Listen(t) })
	if picker.Calls() != 5 {
		t.Errorf("Listen picked %d ports, want 5", picker.Calls())
	}
	if msg := r.Message(); r.Skipped() || !strings.Contains(msg, "attempt 5:") || !strings.Contains(msg, "Address already in use") {
		t.Errorf("skipped %v, message %q; want a failure reporting 5 attempts and the sshd log", r.Skipped(), msg)
	}
	if n := r.NumCleanups(); n != 0 {
		t.Errorf("failed Listen registered %d cleanups, want none", n)
	}
}

// startServer calls Start, skipping the test when OpenSSH is missing, and
// registers a Close as a safety net (Close is idempotent).
func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if errors.Is(err, ErrNoSSHD) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close in cleanup: %v", err)
		}
	})
	return s
}

// readBanner reads the first line from conn and checks that it is
// OpenSSH's identification string.
func readBanner(t *testing.T, conn net.Conn) *bufio.Reader {
	t.Helper()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading identification line: %v (read %q)", err, line)
	}
	if !strings.HasPrefix(line, "SSH-2.0-OpenSSH_") {
		t.Fatalf("identification line = %q, want prefix SSH-2.0-OpenSSH_", line)
	}
	return r
}

// expectEOF checks that the server side of conn has gone away: reading the
// rest of r ends with EOF rather than a timeout.
func expectEOF(t *testing.T, conn net.Conn, r *bufio.Reader) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Errorf("reading until the server closes the connection: %v", err)
	}
}

// waitExited waits (without reaping it) until the sshd -i p has exited
// after its client closed the connection.
func waitExited(t *testing.T, p *inetdProc) {
	t.Helper()
	p.mu.Lock()
	ready, err := daemontest.WaitReadable(30*time.Second, p.pidfd)
	p.mu.Unlock()
	if err != nil || !ready[0] {
		t.Fatalf("sshd -i did not exit after its client closed the connection (err %v)", err)
	}
}

// checkClosed checks what every closed Server must satisfy: its directory
// is gone, Close can be called again, and Conn and Addr fail.
func checkClosed(t *testing.T, s *Server) {
	t.Helper()
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("server directory after Close: Stat error %v, want not exist", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if c, err := s.Conn(); err == nil || !strings.HasPrefix(err.Error(), "sshdtest: ") {
		t.Errorf("Conn after Close: %v, want an error starting with \"sshdtest: \"", err)
		if c != nil {
			c.Close()
		}
	}
	if addr, err := s.Addr(); err == nil || !strings.HasPrefix(err.Error(), "sshdtest: ") {
		t.Errorf("Addr after Close = %q, %v, want an error starting with \"sshdtest: \"", addr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis != nil || len(s.procs) != 0 {
		t.Errorf("after Close: listener %v and %d sshd -i processes still recorded", s.lis, len(s.procs))
	}
}

// TestStartConn checks Start + Conn without a testing.TB: each Conn speaks
// SSH, and Close kills the sshd -i of a connection that is still open (the
// client then reads EOF), removes the directory and can be repeated.
func TestStartConn(t *testing.T) {
	t.Parallel()
	s := startServer(t, Options{})
	if !strings.HasPrefix(s.Dir, filepath.Clean(os.TempDir())+string(filepath.Separator)) || !daemontest.PlainPath(s.Dir) {
		t.Errorf("Start made directory %q, want a plain name under %s", s.Dir, os.TempDir())
	}
	done, err := s.Conn()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := done.(*net.UnixConn); !ok {
		t.Errorf("Conn returned %T, want *net.UnixConn", done)
	}
	readBanner(t, done)
	if err := done.Close(); err != nil {
		t.Error(err)
	}

	open, err := s.Conn()
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	r := readBanner(t, open)
	// Get sshd to fork its privilege separation child, which shares the
	// socket: Close must get rid of it too for EOF to arrive.
	if _, err := io.WriteString(open, "SSH-2.0-sshdtest\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Peek(1); err != nil {
		t.Fatalf("waiting for sshd's KEXINIT: %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	expectEOF(t, open, r)
	checkClosed(t, s)
}

// TestStartAddr checks Start + Addr: the listening sshd accepts a TCP
// connection and sends its banner, Addr starts it only once, and Close
// stops it so that the port refuses connections, together with the sshd
// serving a connection that is still open.
func TestStartAddr(t *testing.T) {
	t.Parallel()
	s := startServer(t, Options{})
	addr, err := s.Addr()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.Addr(); err != nil || again != addr {
		t.Errorf("second Addr = %q, %v, want %q", again, err, addr)
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("Addr returned %q, want 127.0.0.1:PORT (err %v)", addr, err)
	}
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	readBanner(t, c)
	c.Close()

	open, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	r := readBanner(t, open)

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Close", addr)
	}
	expectEOF(t, open, r)
	checkClosed(t, s)
}

// TestCloseLeavesNoGoroutines checks that Close joins every goroutine the
// Server started. It is not parallel so that no other test adds goroutines
// meanwhile; with -count, goroutines of the previous round's parallel tests
// may still be exiting, so only an increase counts.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s := startServer(t, Options{})
	// One connection closed by the client, one left open for Close.
	for _, leaveOpen := range []bool{false, true} {
		c, err := s.Conn()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		readBanner(t, c)
		if !leaveOpen {
			c.Close()
		}
	}
	addr, err := s.Addr()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	readBanner(t, c)
	c.Close()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before Start, %d after Close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// TestCloseConcurrent races Close against itself, Conn and Addr. Every call
// must either succeed, with Close then stopping what it started, or fail
// with an error; nothing may be left running.
func TestCloseConcurrent(t *testing.T) {
	t.Parallel()
	s := startServer(t, Options{})
	// Have a listener and a connection before Close for sure.
	if _, err := s.Addr(); err != nil {
		t.Fatal(err)
	}
	first, err := s.Conn()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	const n = 4
	var wg sync.WaitGroup
	conns := make([]net.Conn, n)
	closeErrs := make([]error, n)
	for i := range n {
		wg.Add(3)
		go func() {
			defer wg.Done()
			conns[i], _ = s.Conn() // fails if Close came first
		}()
		go func() {
			defer wg.Done()
			_, _ = s.Addr() // fails if Close came first
		}()
		go func() {
			defer wg.Done()
			closeErrs[i] = s.Close()
		}()
	}
	wg.Wait()
	for i, err := range closeErrs {
		if err != nil {
			t.Errorf("Close %d: %v", i, err)
		}
	}
	for _, c := range append(conns, first) {
		if c == nil {
			continue
		}
		defer c.Close()
		// Any sshd -i started before Close got to it has been killed.
		expectEOF(t, c, bufio.NewReader(c))
	}
	checkClosed(t, s)
}

// TestPipeCleanupStopsSSHD checks that the sshd -i started by Pipe is
// stopped when the test that called Pipe ends, even though the Server
// lives on and the client never closed the connection.
func TestPipeCleanupStopsSSHD(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	var (
		conn net.Conn
		r    *bufio.Reader
	)
	t.Run("pipe", func(t *testing.T) {
		conn = s.Pipe(t)
		r = readBanner(t, conn)
	})
	if conn == nil {
		t.Fatal("subtest did not start sshd")
	}
	defer conn.Close()
	s.mu.Lock()
	n := len(s.procs)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("%d sshd -i processes still running after the subtest", n)
	}
	expectEOF(t, conn, r)
}

// TestNewAwkwardTempDir checks that New falls back to a directory of its
// own when t.TempDir's path is unsafe in sshd_config, and that the
// directory is removed when the test ends.
func TestNewAwkwardTempDir(t *testing.T) {
	t.Parallel()
	var dir string
	t.Run("100%_#1", func(t *testing.T) {
		if td := t.TempDir(); daemontest.PlainPath(td) {
			t.Skipf("t.TempDir() = %q is plain; nothing to test", td)
		}
		s := New(t, Options{})
		dir = s.Dir
		if !daemontest.PlainPath(dir) {
			t.Errorf("New used directory %q, which is unsafe in sshd_config", dir)
		}
		c := s.Pipe(t)
		defer c.Close()
		readBanner(t, c)
	})
	if dir == "" {
		return // skipped
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("server directory %s after the test: Stat error %v, want not exist", dir, err)
	}
}

// TestStartFailureRemovesDir checks that a failing Start removes the
// directory it made, and that an unsafe os.TempDir() is an error. It is not
// parallel because it sets TMPDIR.
func TestStartFailureRemovesDir(t *testing.T) {
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Skip("sshdtest: " + SSHDPath + " not found")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	s, err := Start(Options{Config: []string{"NoSuchKeyword yes"}})
	if errors.Is(err, ErrNoSSHD) {
		t.Skip(err.Error())
	}
	if err == nil {
		s.Close()
		t.Fatal("Start accepted an invalid configuration")
	}
	if !strings.HasPrefix(err.Error(), "sshdtest: sshd rejected the configuration") || !strings.Contains(err.Error(), "NoSuchKeyword") {
		t.Errorf("Start with an invalid config: %v", err)
	}
	if ents, err := os.ReadDir(tmp); err != nil || len(ents) != 0 {
		t.Errorf("TMPDIR after a failed Start: %v, %v, want it empty", ents, err)
	}

	awkward := filepath.Join(tmp, "a b#c")
	if err := os.Mkdir(awkward, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", awkward)
	if s, err := Start(Options{}); err == nil || !strings.Contains(err.Error(), "unsafe in sshd_config") {
		t.Errorf("Start with TMPDIR %q: %v, want an error about unsafe characters", awkward, err)
		if err == nil {
			s.Close()
		}
	}
	if ents, err := os.ReadDir(awkward); err != nil || len(ents) != 0 {
		t.Errorf("TMPDIR after a failed Start: %v, %v, want it empty", ents, err)
	}
}

// TestNoSSHKeygen checks that Start reports a missing ssh-keygen with
// ErrNoSSHD and that New skips the test then. It is not parallel because it
// clears PATH.
func TestNoSSHKeygen(t *testing.T) {
	t.Setenv("PATH", "")
	// New must skip the test. A real skip would hide in CI's "nothing
	// skipped" check, so CheckNotInstalled records it instead.
	err := daemontest.CheckNotInstalled(t, func() (*Server, error) { return Start(Options{}) },
		func(t testing.TB) { New(t, Options{}) }, ErrNoSSHD, "install openssh-client")
	if !strings.HasPrefix(err.Error(), "sshdtest: ") {
		t.Errorf("Start without ssh-keygen: %v, want an error starting with \"sshdtest: \"", err)
	}
}

// TestConnReapsExited checks that an sshd -i that exited because its client
// closed the connection is reaped by the next Conn, so that a long-lived
// Server does not accumulate zombies.
func TestConnReapsExited(t *testing.T) {
	t.Parallel()
	s := startServer(t, Options{})
	c, p, err := s.conn()
	if err != nil {
		t.Fatal(err)
	}
	readBanner(t, c)
	c.Close()
	waitExited(t, p)

	c2, err := s.Conn()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	s.mu.Lock()
	_, stillThere := s.procs[p]
	n := len(s.procs)
	s.mu.Unlock()
	p.mu.Lock()
	reaped := p.stopped
	p.mu.Unlock()
	if stillThere || !reaped || n != 1 {
		t.Errorf("after the next Conn: exited sshd recorded %v, reaped %v, %d processes recorded (want false, true, 1)", stillThere, reaped, n)
	}
}

// TestCloseRefusesRightAfterAConnection checks that the port refuses
// connections once Close has returned even when a connection arrived just
// before: the child sshd forks for it briefly holds the listening socket.
// Stopping sshd with SIGTERM let about a quarter of the rounds connect
// after Close, so run several.
func TestCloseRefusesRightAfterAConnection(t *testing.T) {
	t.Parallel()
	for round := range 20 {
		s := startServer(t, Options{})
		addr, err := s.Addr()
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.DialTimeout("tcp", addr, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
			c.Close()
			t.Fatalf("round %d: %s still accepts connections after Close", round, addr)
		}
	}
}

// TestUnprivileged logs in with Options.Unprivileged: as root, the user is
// nobody, whose commands run with its uid, /bin/sh and a home of its own,
// which Close removes; otherwise the user running the test.
func TestUnprivileged(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	s, err := Start(Options{Unprivileged: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr, err := s.Addr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	res := runSSH(t, nil,
		"-i", privateKey(t, "id_ed25519"), "-p", port,
		"-o", "UserKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=no",
		s.User+"@127.0.0.1", `id -u; echo "$SHELL"; echo "$HOME"; test -r "$HOME/authorized_keys" && echo keys`)
	fields := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if res.code != 0 || len(fields) != 4 {
		t.Fatalf("ssh: exit %d, stdout %q\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if os.Geteuid() != 0 {
		if want := strconv.Itoa(os.Geteuid()); fields[0] != want {
			t.Errorf("uid %s, want the test's own %s", fields[0], want)
		}
		return
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	if s.User != "nobody" || fields[0] != u.Uid || fields[1] != "/bin/sh" || fields[3] != "keys" {
		t.Errorf("user %s: uid %s, shell %s, %q; want nobody, %s, /bin/sh, keys", s.User, fields[0], fields[1], fields[3], u.Uid)
	}
	home := fields[2]
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(home); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("home %s after Close: %v, want it removed", home, err)
	}
}
