package sshdtest

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golibssh/libssh/internal/daemontest"
)

// testPassword is the password the PAM tests give the current user. The
// space checks that pam_matrix takes the rest of the line after the colon.
const testPassword = "open sesame"

// currentUser returns the name of the user running the test, which is the
// only user a Server can be sure to log in.
func currentUser(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// askpassEnv writes an SSH_ASKPASS program that answers every prompt with
// password and returns the environment that makes ssh use it although it
// has no terminal.
func askpassEnv(t *testing.T, password string) []string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "askpass")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$SSHDTEST_TEST_PASSWORD\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return []string{
		"SSH_ASKPASS=" + script,
		"SSH_ASKPASS_REQUIRE=force",
		"DISPLAY=:0",
		"SSHDTEST_TEST_PASSWORD=" + password,
	}
}

// runSSHPassword runs ssh like runSSH, but without BatchMode, which would
// disable password prompts, and with a single password prompt, so that a
// wrong password fails the login at once. The password comes from
// askpassEnv.
func runSSHPassword(t *testing.T, env []string, args ...string) sshResult {
	t.Helper()
	base := []string{
		"-F", "/dev/null",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes",
		"-o", "ConnectTimeout=30",
		"-o", "NumberOfPasswordPrompts=1",
	}
	return runSSHArgs(t, env, append(base, args...)...)
}

// listenOpts starts s listening and returns the ssh options and host for
// connecting to it.
func listenOpts(t *testing.T, s *Server) (opts []string, host string) {
	t.Helper()
	_, port, err := net.SplitHostPort(s.Listen(t))
	if err != nil {
		t.Fatal(err)
	}
	return []string{
		"-p", port,
		"-o", "UserKnownHostsFile=" + filepath.Join(t.TempDir(), "kh"),
		"-o", "StrictHostKeyChecking=accept-new",
	}, "127.0.0.1"
}

// TestPasswords logs in with the OpenSSH client using password and
// keyboard-interactive authentication, over Listen and over Pipe, with
// the right and a wrong password.
func TestPasswords(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see Options.Passwords).
	requireSSH(t)
	s := New(t, Options{Passwords: map[string]string{currentUser(t): testPassword}})
	service, err := os.ReadFile(filepath.Join(s.Dir, "pam.d", "sshd"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(service), "pam_matrix.so passdb="+filepath.Join(s.Dir, "passdb")) {
		t.Errorf("PAM service file:\n%s\nwant pam_matrix with the server's passdb", service)
	}

	for _, method := range []string{"password", "keyboard-interactive"} {
		for _, transport := range []string{"listen", "pipe"} {
			t.Run(method+"/"+transport, func(t *testing.T) {
				login := func(password string) (sshResult, time.Duration) {
					t.Helper()
					env := askpassEnv(t, password)
					var opts []string
					host := "piped"
					var stop func()
					if transport == "listen" {
						opts, host = listenOpts(t, s)
					} else {
						var penv []string
						penv, opts, stop = pipeProxy(t, s)
						env = append(env, penv...)
					}
					args := append(opts, "-o", "PreferredAuthentications="+method, s.User+"@"+host, "echo logged-in")
					start := time.Now()
					res := runSSHPassword(t, env, args...)
					elapsed := time.Since(start)
					if stop != nil {
						stop()
					}
					return res, elapsed
				}

				res, okTime := login(testPassword)
				if res.code != 0 || res.stdout != "logged-in\n" {
					t.Errorf("right password: exit %d, stdout %q, want 0 and %q\nstderr:\n%s",
						res.code, res.stdout, "logged-in\n", res.stderr)
				}
				res, failTime := login("wrong password")
				if res.code != 255 || !strings.Contains(res.stderr, "Permission denied") {
					t.Errorf("wrong password: exit %d, want 255 and permission denied\nstderr:\n%s", res.code, res.stderr)
				}
				t.Logf("ssh run with the right password took %v, with a wrong one %v", okTime, failTime)
			})
		}
	}
}

// TestPasswordsPartialAuth checks a server that requires a public key and
// then a password.
func TestPasswordsPartialAuth(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see Options.Passwords).
	requireSSH(t)
	s := New(t, Options{
		Passwords:   map[string]string{currentUser(t): testPassword},
		ConfigFirst: []string{"AuthenticationMethods publickey,password"},
	})
	key := privateKey(t, "id_ed25519")
	opts, host := listenOpts(t, s)
	login := func(password, methods string) sshResult {
		t.Helper()
		args := append([]string{"-v", "-i", key}, opts...)
		args = append(args, "-o", "PreferredAuthentications="+methods, s.User+"@"+host, "echo both")
		return runSSHPassword(t, askpassEnv(t, password), args...)
	}

	if res := login(testPassword, "publickey,password"); res.code != 0 || res.stdout != "both\n" {
		t.Errorf("key and right password: exit %d, stdout %q\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if res := login("wrong", "publickey,password"); res.code != 255 {
		t.Errorf("key and wrong password: exit %d, want 255\nstderr:\n%s", res.code, res.stderr)
	}
	res := login(testPassword, "publickey")
	if res.code != 255 || !strings.Contains(res.stderr, "partial success") {
		t.Errorf("key only: exit %d, want 255 after partial success\nstderr:\n%s", res.code, res.stderr)
	}
	if res := login(testPassword, "password"); res.code != 255 {
		t.Errorf("password only: exit %d, want 255\nstderr:\n%s", res.code, res.stderr)
	}
}

// ourPAMDirs returns the pam_wrapper directories whose service file names
// the password database passdb, mapped to the pid they belong to.
func ourPAMDirs(t *testing.T, passdb string) map[string]string {
	t.Helper()
	dirs, err := filepath.Glob(pamRuntimeGlob)
	if err != nil {
		t.Fatal(err)
	}
	ours := make(map[string]string)
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "sshd"))
		if err != nil || !bytes.Contains(b, []byte("passdb="+passdb+"\n")) {
			continue
		}
		pid, _ := os.ReadFile(filepath.Join(d, "pid"))
		ours[d] = strings.TrimSpace(string(pid))
	}
	return ours
}

// pidsOf returns the pids of dirs (from ourPAMDirs).
func pidsOf(dirs map[string]string) []string {
	var pids []string
	for _, pid := range dirs {
		pids = append(pids, pid)
	}
	return pids
}

// TestPAMDirsSwept checks that the pam_wrapper directory of an sshd that
// has exited, which pam_wrapper itself leaves behind, is removed by the
// next sweep, and that none of a Server's is left after Close.
func TestPAMDirsSwept(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see Options.Passwords).
	requireSSH(t)
	s := startServer(t, Options{Passwords: map[string]string{currentUser(t): testPassword}})
	passdb := s.passdb

	c, p, err := s.conn()
	if err != nil {
		t.Fatal(err)
	}
	readBanner(t, c) // sshd is running, so pam_wrapper has set up
	pid := strconv.Itoa(p.cmd.Process.Pid)
	if pids := pidsOf(ourPAMDirs(t, passdb)); !slices.Contains(pids, pid) {
		t.Fatalf("no pam_wrapper directory for the running sshd -i %s (found pids %q)", pid, pids)
	}
	c.Close()
	waitExited(t, p)
	if pids := pidsOf(ourPAMDirs(t, passdb)); !slices.Contains(pids, pid) {
		t.Errorf("pam_wrapper removed the directory of the exited sshd -i %s itself; nothing to sweep", pid)
	}
	if err := s.sweepPAMDirs(false); err != nil {
		t.Fatal(err)
	}
	if pids := pidsOf(ourPAMDirs(t, passdb)); slices.Contains(pids, pid) {
		t.Errorf("the sweep left the directory of the exited sshd -i %s", pid)
	}

	// A listening sshd and the sshd processes of its connections.
	addr, err := s.Addr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	key := privateKey(t, "id_ed25519")
	for range 2 {
		res := runSSH(t, nil, "-i", key, "-p", port,
			"-o", "UserKnownHostsFile="+filepath.Join(t.TempDir(), "kh"),
			"-o", "StrictHostKeyChecking=accept-new",
			s.User+"@127.0.0.1", "true")
		if res.code != 0 {
			t.Fatalf("ssh: exit %d\n%s", res.code, res.stderr)
		}
	}
	if len(ourPAMDirs(t, passdb)) == 0 {
		t.Error("no pam_wrapper directory for the listening sshd")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if dirs := ourPAMDirs(t, passdb); len(dirs) != 0 {
		t.Errorf("pam_wrapper directories left after Close: %v", dirs)
	}
}

// TestPAMCloseKillsStrayConnections checks that Close finds the sshd that
// still serves a connection of a listening sshd stopped by Listen's
// cleanup, through its pam_wrapper directory, kills it and removes the
// directory.
func TestPAMCloseKillsStrayConnections(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see Options.Passwords).
	s := startServer(t, Options{Passwords: map[string]string{currentUser(t): testPassword}})
	passdb := s.passdb
	var (
		conn net.Conn
		r    *bufio.Reader
	)
	t.Run("listen", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", s.Listen(t), 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn = c
		r = readBanner(t, c) // sent by the sshd serving the connection
	})
	if conn == nil {
		t.Fatal("subtest did not connect")
	}
	defer conn.Close()
	if dirs := ourPAMDirs(t, passdb); len(dirs) != 1 {
		t.Errorf("pam_wrapper directories after Listen's cleanup: %v, want the one of the connection's sshd", dirs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, conn, r)
	if dirs := ourPAMDirs(t, passdb); len(dirs) != 0 {
		t.Errorf("pam_wrapper directories left after Close: %v", dirs)
	}
}

// TestPasswordsInvalid checks that Start rejects passwords pam_matrix's
// database cannot hold.
func TestPasswordsInvalid(t *testing.T) {
	t.Parallel()
	for _, pw := range []map[string]string{
		{"": "x"},
		{"a:b": "x"},
		{"a": ""},
		{"a": "x:y"},
		{"a": "x\ny"},
	} {
		s, err := Start(Options{Passwords: pw})
		if err == nil {
			s.Close()
			t.Errorf("Start accepted Passwords %q", pw)
			continue
		}
		if !strings.HasPrefix(err.Error(), "sshdtest: invalid ") {
			t.Errorf("Start with Passwords %q: %v", pw, err)
		}
	}
}

// TestNoPAMWrapper checks that Start reports a missing pam_wrapper with
// ErrNoPAMWrapper and that New skips the test then. It is not parallel
// because it replaces pamLibDirs.
func TestNoPAMWrapper(t *testing.T) {
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Skip("sshdtest: " + SSHDPath + " not found")
	}
	pamLibDirs = func() []string { return []string{t.TempDir()} }
	defer func() { pamLibDirs = defaultPAMLibDirs }()
	opts := Options{Passwords: map[string]string{"u": "p"}}

	daemontest.CheckNotInstalled(t, func() (*Server, error) { return Start(opts) },
		func(t testing.TB) { New(t, opts) }, ErrNoPAMWrapper, "install libpam-wrapper")
	// Without Passwords pam_wrapper is not needed.
	New(t, Options{})
}

// TestGSSAPIOptions checks the GSSAPI configuration and the keytab check;
// internal/kdctest tests logging in with a Kerberos ticket.
func TestGSSAPIOptions(t *testing.T) {
	t.Parallel()
	keytab := filepath.Join(t.TempDir(), "sshd.keytab")
	for _, g := range []*GSSAPIOptions{{}, {Keytab: keytab}} {
		if s, err := Start(Options{GSSAPI: g}); err == nil || !strings.HasPrefix(err.Error(), "sshdtest: GSSAPI") {
			t.Errorf("Start with keytab %q: %v, want an error about the keytab", g.Keytab, err)
			if err == nil {
				s.Close()
			}
		}
	}
	if err := os.WriteFile(keytab, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := New(t, Options{GSSAPI: &GSSAPIOptions{Keytab: keytab, Env: []string{"KRB5_CONFIG=/dev/null"}}})
	config, err := os.ReadFile(s.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"GSSAPIAuthentication yes\n", "GSSAPIStrictAcceptorCheck no\n"} {
		if !strings.Contains(string(config), line) {
			t.Errorf("sshd_config lacks %q:\n%s", line, config)
		}
	}
	// In order, after whatever else sshd gets (LD_PRELOAD is moved last).
	want := []string{"KRB5_KTNAME=FILE:" + keytab, "KRB5_CONFIG=/dev/null"}
	var got []string
	for _, e := range s.env {
		if strings.HasPrefix(e, "KRB5_") {
			got = append(got, e)
		}
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("sshd's Kerberos environment is %q, want %q", got, want)
	}
}
