package kdctest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golibssh/libssh/internal/daemontest"
	"github.com/golibssh/libssh/internal/sshdtest"
)

// sshPath is the OpenSSH client used to exercise GSSAPI logins.
const sshPath = "/usr/bin/ssh"

// tricky is a password with a space and quotes, which kadmin.local's
// query parser must get verbatim.
const tricky = `pass "word" ""x`

// runTool runs a Kerberos client program with the KDC's environment.
func runTool(t *testing.T, k *KDC, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Env = append(append(os.Environ(), k.Env()...), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestKinit gets tickets from a KDC for principals added before and after
// it started, and is refused with a wrong password.
func TestKinit(t *testing.T) {
	t.Parallel()
	k := New(t)
	if k.Realm != Realm || k.KDCPort == 0 {
		t.Errorf("Realm %q, KDCPort %d", k.Realm, k.KDCPort)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(k.KDCPort), 10*time.Second); err != nil {
		t.Errorf("KDC port does not accept TCP connections: %v", err)
	} else {
		c.Close()
	}
	if err := k.AddPrincipal("alice", tricky); err != nil {
		t.Fatal(err)
	}
	if err := k.AddPrincipal("bob@"+Realm, "bobpw"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, p := range []struct{ name, password string }{{"alice", tricky}, {"bob@" + Realm, "bobpw"}} {
		cc := filepath.Join(dir, "cc_"+strings.Split(p.name, "@")[0])
		if err := k.Kinit(p.name, p.password, cc); err != nil {
			t.Fatalf("Kinit %s: %v\nKDC log:\n%s", p.name, err, k.Log())
		}
		out, err := runTool(t, k, []string{"KRB5CCNAME=FILE:" + cc}, "klist")
		if err != nil {
			t.Fatalf("klist: %v\n%s", err, out)
		}
		want := "Default principal: " + k.qualify(p.name)
		if !strings.Contains(out, want) || !strings.Contains(out, "krbtgt/"+Realm+"@"+Realm) {
			t.Errorf("klist:\n%s\nwant %q and a TGT", out, want)
		}
	}
	err := k.Kinit("alice", "wrong", filepath.Join(dir, "cc_wrong"))
	if err == nil || !strings.HasPrefix(err.Error(), "kdctest: kinit alice: ") || !strings.Contains(err.Error(), "Password incorrect") {
		t.Errorf("Kinit with a wrong password: %v, want an incorrect password error", err)
	}
	if err := k.Kinit("nobody", "x", filepath.Join(dir, "cc_nobody")); err == nil {
		t.Error("Kinit for an unknown principal succeeded")
	}
}

// TestPrincipalErrors checks that failed kadmin.local commands, which exit
// with status 0, are reported, and that unusable arguments are refused.
func TestPrincipalErrors(t *testing.T) {
	t.Parallel()
	k := New(t)
	if err := k.AddPrincipal("carol", "pw"); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		k.AddPrincipal("carol", "again"),
		k.AddServicePrincipal("carol"),
		k.AddPrincipal("-x", "pw"),
		k.AddPrincipal("dave", "two\nlines"),
		k.Keytab(filepath.Join(t.TempDir(), "kt"), "host/missing.test"),
		k.Keytab(filepath.Join(t.TempDir(), "kt")),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), "kdctest: ") {
			t.Errorf("got error %v, want one starting with \"kdctest: \"", err)
		}
	}
}

// TestKeytab exports service and user keys and checks that the keytab
// holds them and that exporting changed no key.
func TestKeytab(t *testing.T) {
	t.Parallel()
	k := New(t)
	if err := k.AddServicePrincipal("host/sshd.test"); err != nil {
		t.Fatal(err)
	}
	if err := k.AddPrincipal("frank", "frankpw"); err != nil {
		t.Fatal(err)
	}
	kt := filepath.Join(t.TempDir(), "a b.keytab") // a space, to check quoting
	if err := k.Keytab(kt, "host/sshd.test", "frank"); err != nil {
		t.Fatal(err)
	}
	// Again: with -norandkey the keys (and kvno) stay the same.
	if err := k.Keytab(kt, "host/sshd.test"); err != nil {
		t.Fatal(err)
	}
	out, err := runTool(t, k, nil, "klist", "-k", kt)
	if err != nil {
		t.Fatalf("klist -k: %v\n%s", err, out)
	}
	for _, p := range []string{"host/sshd.test@" + Realm, "frank@" + Realm} {
		if !strings.Contains(out, p) {
			t.Errorf("keytab lacks %s:\n%s", p, out)
		}
	}
	// "KVNO Principal" lines: every key is still version 1.
	entries := 0
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.Contains(f[1], "@") {
			entries++
			if f[0] != "1" {
				t.Errorf("keytab entry %q has key version %s, want 1: Keytab changed keys", f[1], f[0])
			}
		}
	}
	if entries < 2 {
		t.Errorf("klist -k lists %d keytab entries, want at least 2:\n%s", entries, out)
	}
	if err := k.Kinit("frank", "frankpw", filepath.Join(t.TempDir(), "cc")); err != nil {
		t.Errorf("password no longer works after Keytab: %v", err)
	}
	// The keytab alone gets a ticket for the service.
	out, err = runTool(t, k, []string{"KRB5CCNAME=FILE:" + filepath.Join(t.TempDir(), "svc")},
		"kinit", "-k", "-t", kt, "host/sshd.test")
	if err != nil {
		t.Errorf("kinit -k with the keytab: %v\n%s", err, out)
	}
}

// TestCloseStopsKDC checks that Close stops the KDC, so its port refuses
// connections, removes its directory and can be repeated.
func TestCloseStopsKDC(t *testing.T) {
	t.Parallel()
	k, err := Start()
	if errors.Is(err, ErrNoKDC) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(k.KDCPort)
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Close", addr)
	}
	if _, err := os.Stat(k.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory after Close: Stat error %v, want not exist", err)
	}
	if err := k.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestStartRetriesBusyPort makes the first two attempts pick a port that is
// in use. It is not parallel because it replaces pickPort.
func TestStartRetriesBusyPort(t *testing.T) {
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.LocalAddr().(*net.UDPAddr).Port
	picker := &daemontest.BusyPort{Port: busy, Times: 2}
	pickPort = picker.Pick
	defer func() { pickPort = daemontest.FreePort }()

	k := New(t)
	if picker.Calls() != 3 || k.KDCPort == busy {
		t.Errorf("Start picked %d ports and got port %d (busy %d), want 3 ports and another one", picker.Calls(), k.KDCPort, busy)
	}
	if err := k.AddPrincipal("gina", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := k.Kinit("gina", "pw", filepath.Join(t.TempDir(), "cc")); err != nil {
		t.Error(err)
	}
}

// TestMissingTools checks that Start reports missing programs with
// ErrNoKDC and that New skips the test then. It is not parallel because it
// clears PATH and replaces sbinDirs.
func TestMissingTools(t *testing.T) {
	t.Setenv("PATH", "")
	sbinDirs = nil
	defer func() { sbinDirs = []string{"/usr/sbin", "/sbin"} }()
	daemontest.CheckNotInstalled(t, Start, func(t testing.TB) { New(t) },
		ErrNoKDC, "install krb5-kdc krb5-admin-server krb5-user")
}

// TestGSSAPISSH logs in to a real sshd with OpenSSH's ssh using a Kerberos
// ticket (gssapi-with-mic), and checks that without a ticket the login
// fails. It proves the whole chain: KDC, user and host principals, sshd's
// keytab, kinit and sshdtest's GSSAPI options.
func TestGSSAPISSH(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(sshPath); err != nil {
		t.Skip("kdctest: " + sshPath + " not found; install openssh-client")
	}
	k := New(t)
	keytab := filepath.Join(t.TempDir(), "sshd.keytab")
	if err := k.AddServicePrincipal("host/sshd.test"); err != nil {
		t.Fatal(err)
	}
	if err := k.Keytab(keytab, "host/sshd.test"); err != nil {
		t.Fatal(err)
	}
	s := sshdtest.New(t, sshdtest.Options{
		GSSAPI: &sshdtest.GSSAPIOptions{Keytab: keytab, Env: k.Env()},
		// No key may log in, so only GSSAPI can succeed.
		ConfigFirst: []string{"AuthorizedKeysFile none"},
	})
	// The user's principal: the local user sshd logs in, in the realm.
	if err := k.AddPrincipal(s.User, "userpw"); err != nil {
		t.Fatal(err)
	}
	cc := filepath.Join(t.TempDir(), "ccache")
	if err := k.Kinit(s.User, "userpw", cc); err != nil {
		t.Fatal(err)
	}
	_, port, err := net.SplitHostPort(s.Listen(t))
	if err != nil {
		t.Fatal(err)
	}

	ssh := func(ccache string) (stdout, stderr string, code int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, sshPath,
			"-F", "/dev/null",
			"-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "UserKnownHostsFile="+filepath.Join(t.TempDir(), "kh"),
			"-o", "StrictHostKeyChecking=accept-new",
			"-o", "BatchMode=yes",
			"-o", "ConnectTimeout=30",
			"-o", "GSSAPIAuthentication=yes",
			"-o", "GSSAPIServerIdentity=sshd.test",
			"-o", "PreferredAuthentications=gssapi-with-mic",
			"-p", port, s.User+"@127.0.0.1", "echo kerberized")
		cmd.Env = append(append(os.Environ(), k.Env()...), "KRB5CCNAME=FILE:"+ccache)
		var outBuf, errBuf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &outBuf, &errBuf
		err := cmd.Run()
		var exitErr *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exitErr) && exitErr.Exited():
			code = exitErr.ExitCode()
		default:
			t.Fatalf("running ssh: %v\nstderr:\n%s", err, errBuf.String())
		}
		return outBuf.String(), errBuf.String(), code
	}

	if out, stderr, code := ssh(cc); code != 0 || out != "kerberized\n" {
		t.Errorf("ssh with a ticket: exit %d, stdout %q, want 0 and %q\nstderr:\n%s", code, out, "kerberized\n", stderr)
	}
	if !strings.Contains(s.Log(), "Accepted gssapi-with-mic for "+s.User) {
		t.Errorf("sshd did not log a gssapi-with-mic login:\n%s", s.Log())
	}
	if out, stderr, code := ssh(filepath.Join(t.TempDir(), "no-such-ccache")); code != 255 || !strings.Contains(stderr, "Permission denied") {
		t.Errorf("ssh without a ticket: exit %d, stdout %q, want 255 and permission denied\nstderr:\n%s", code, out, stderr)
	}
}
