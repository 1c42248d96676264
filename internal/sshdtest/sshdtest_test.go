package sshdtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary run one of the helpers below instead of
// the tests: a process for a test to watch from outside.
const helperEnv = "SSHDTEST_HELPER"

func TestMain(m *testing.M) {
	ExitIfMissing("sshdtest")
	switch os.Getenv(helperEnv) {
	case "orphan":
		// Print the pids of a listening sshd and an sshd -i, and the
		// address; then wait to be killed. The directory is the test's.
		s, err := start(Options{}, os.Getenv("SSHDTEST_DIR"))
		if err == nil {
			_, err = s.Addr()
		}
		if err == nil {
			_, err = s.Conn()
		}
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		s.mu.Lock()
		for p := range s.procs {
			fmt.Println(p.cmd.Process.Pid)
		}
		s.mu.Unlock()
		fmt.Println(s.addr)
		select {}
	}
	os.Exit(m.Run())
}

// runHelper runs the test binary with env and args and returns what it
// printed; it is killed after a minute.
func runHelper(t *testing.T, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// readBanner reads the server's identification line from c, which the sshd
// serving c sends.
func readBanner(t *testing.T, c net.Conn) *bufio.Reader {
	t.Helper()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); !strings.HasPrefix(line, "SSH-2.0-OpenSSH_") {
		t.Fatalf("identification line %q, %v", line, err)
	}
	return r
}

// TestClose checks that Close stops every sshd: the one serving a Conn,
// the listening one and the one it forked (which left its process group)
// for a connection, so that both connections end and the port refuses;
// and that it removes what Start made: its directory, the pam_wrapper
// directories of its sshds, the home of Unprivileged.
func TestClose(t *testing.T) {
	s, err := Start(Options{Passwords: map[string]string{"someone": "secret"}, Unprivileged: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr, err := s.Addr()
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for _, dial := range []func() (net.Conn, error){s.Conn, func() (net.Conn, error) { return net.Dial("tcp", addr) }} {
		c, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		readBanner(t, c)
		conns = append(conns, c)
	}
	pamDirs := func() (n int) {
		dirs, _ := filepath.Glob("/tmp/pam.?/sshd")
		for _, d := range dirs {
			if b, _ := os.ReadFile(d); strings.Contains(string(b), s.passdb) {
				n++
			}
		}
		return n
	}
	if n := pamDirs(); n < 3 {
		t.Errorf("%d pam_wrapper directories of the server's sshds, want at least 3", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("connection %d after Close: read %d, %v; want EOF", i, n, err)
		}
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s accepts connections after Close", addr)
	}
	if n := pamDirs(); n != 0 {
		t.Errorf("%d pam_wrapper directories left after Close", n)
	}
	for _, dir := range []string{s.Dir, s.home} {
		if _, err := os.Stat(dir); dir != "" && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after Close: %v, want it removed", dir, err)
		}
	}
	if _, err := s.Conn(); !errors.Is(err, errClosed) {
		t.Errorf("Conn after Close: %v", err)
	}
	if log := s.Log(); !strings.Contains(log, "Server listening on") || !strings.Contains(log, "Connection from 127.0.0.1") {
		t.Errorf("the log lacks the listening sshd's lines:\n%s", log)
	}
}

// TestPdeathsig checks that the sshds of a test binary that dies (SIGKILL,
// so that nothing of it runs) die too.
func TestPdeathsig(t *testing.T) {
	// The context bounds the helper, and so the reads of its output.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=orphan", "SSHDTEST_DIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for sc := bufio.NewScanner(out); len(lines) < 3 && sc.Scan(); {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 3 {
		t.Fatalf("the helper printed %q, not two pids and an address", lines)
	}
	var pidfds []unix.PollFd
	for _, line := range lines[:len(lines)-1] {
		pid, err := strconv.Atoi(line)
		if err != nil {
			t.Fatalf("the helper printed %q", lines)
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		pidfds = append(pidfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	cmd.Process.Kill()
	cmd.Wait()
	for len(pidfds) > 0 { // readable once the process has exited
		n, err := unix.Poll(pidfds, 30_000)
		if err != nil && err != unix.EINTR || n == 0 {
			t.Fatalf("sshd still running 30 s after its parent died (%v)", err)
		}
		pidfds = slices.DeleteFunc(pidfds, func(p unix.PollFd) bool { return p.Revents != 0 })
	}
	if c, err := net.Dial("tcp", lines[len(lines)-1]); err == nil {
		c.Close()
		t.Error("the port still accepts connections")
	}
}

// TestFailurePrintsLog checks that the sshd log goes to the test log when
// a test fails.
func TestFailurePrintsLog(t *testing.T) {
	if os.Getenv(helperEnv) == "fail" {
		New(t, Options{}).Listen(t)
		t.Fail()
		return
	}
	out, err := runHelper(t, []string{helperEnv + "=fail"}, "-test.run=^TestFailurePrintsLog$")
	if err == nil || !strings.Contains(out, "sshdtest: sshd log:\n") || !strings.Contains(out, "Server listening on 127.0.0.1") {
		t.Errorf("a failing test ended with %v, printing:\n%s", err, out)
	}
}

// TestExitIfMissing checks TestMain's one-line message when sshd is
// missing.
func TestExitIfMissing(t *testing.T) {
	out, err := runHelper(t, []string{"SSHDTEST_SSHD=/nonexistent"}, "-test.run=^$")
	if want := "sshdtest tests need openssh-server: run `make deps` (Debian)\n"; out != want || err == nil {
		t.Errorf("the test binary ended with %v, printing %q; want an exit status 1 and %q", err, out, want)
	}
}

// TestKDCAndAgent checks that a KDC gives tickets and an agent holds the
// keys added, an encrypted one included, as soon as they are started.
func TestKDCAndAgent(t *testing.T) {
	k := NewKDC(t)
	if err := k.AddPrincipal("alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := k.Kinit("alice", "pw", filepath.Join(t.TempDir(), "cc")); err != nil {
		t.Fatal(err)
	}
	if err := k.Kinit("alice", "wrong", filepath.Join(t.TempDir(), "cc")); err == nil {
		t.Error("kinit with a wrong password succeeded")
	}
	socket := StartAgent(t, Keys("id_ed25519"), Keys("id_rsa_pem_enc"))
	out, err := run(append(os.Environ(), "SSH_AUTH_SOCK="+socket), "", "ssh-add", "-l")
	if err != nil || strings.Count(out, "\n") != 2 {
		t.Errorf("ssh-add -l: %v\n%s", err, out)
	}
}

// TestAwkwardTempDir: a test name that sshd_config or krb5.conf would
// misread ('%' tokens, '#' comments) gets a directory with a plain name.
func TestAwkwardTempDir(t *testing.T) {
	t.Run("100%_#1", func(t *testing.T) {
		c := New(t, Options{}).Pipe(t)
		defer c.Close()
		readBanner(t, c)
		if k := NewKDC(t); !plainPath(k.Dir) {
			t.Errorf("KDC directory %q", k.Dir)
		}
	})
}
