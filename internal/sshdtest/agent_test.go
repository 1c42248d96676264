package sshdtest

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golibssh/libssh/internal/daemontest"
)

// agentKeys are the test keys the agent tests add, including both
// encrypted ones.
var agentKeys = []string{"id_ed25519", "id_ecdsa", "id_rsa", "id_ed25519_enc", "id_rsa_pem_enc"}

// fingerprint returns the SHA256 fingerprint of a public key file.
func fingerprint(t *testing.T, pub string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", pub).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l %s: %v", pub, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("ssh-keygen -l %s printed %q", pub, out)
	}
	return f[1]
}

// listAgent runs "ssh-add -l" against the agent at sock.
func listAgent(t *testing.T, sock string) (string, error) {
	t.Helper()
	cmd := exec.Command("ssh-add", "-l", "-E", "sha256")
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestStartAgent checks that the agent holds exactly the added keys,
// encrypted ones included, and that ssh logs in with it.
func TestStartAgent(t *testing.T) {
	t.Parallel()
	requireSSH(t)
	var paths []string
	for _, k := range agentKeys {
		paths = append(paths, Keys(k))
	}
	sock := StartAgent(t, paths...)

	out, err := listAgent(t, sock)
	if err != nil {
		t.Fatalf("ssh-add -l: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(agentKeys) {
		t.Errorf("ssh-add -l lists %d keys, want %d:\n%s", len(lines), len(agentKeys), out)
	}
	for _, k := range agentKeys {
		if fp := fingerprint(t, Keys(k+".pub")); !strings.Contains(out, fp) {
			t.Errorf("ssh-add -l does not list %s (%s):\n%s", k, fp, out)
		}
	}

	// The agent alone authenticates the client: no key file is given.
	s := New(t, Options{AuthorizedKeys: []string{Keys("id_ecdsa.pub")}})
	_, port, _ := net.SplitHostPort(s.Listen(t))
	res := runSSHArgs(t, []string{"SSH_AUTH_SOCK=" + sock},
		"-F", "/dev/null",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "UserKnownHostsFile="+filepath.Join(t.TempDir(), "kh"),
		"-o", "StrictHostKeyChecking=accept-new",
		"-o", "BatchMode=yes",
		"-o", "IdentityFile=none",
		"-o", "IdentityAgent="+sock,
		"-o", "PreferredAuthentications=publickey",
		"-p", port, s.User+"@127.0.0.1", "echo agent")
	if res.code != 0 || res.stdout != "agent\n" {
		t.Errorf("ssh with the agent: exit %d, stdout %q\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
}

// TestStartAgentEmptyAndCleanup checks an agent without keys and that the
// cleanup of the test that started it stops it and removes its directory.
func TestStartAgentEmptyAndCleanup(t *testing.T) {
	t.Parallel()
	var sock string
	t.Run("agent", func(t *testing.T) {
		sock = StartAgent(t)
		out, err := listAgent(t, sock)
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 || !strings.Contains(out, "no identities") {
			t.Errorf("ssh-add -l on an empty agent: %v\n%s\nwant exit status 1 and no identities", err, out)
		}
	})
	if sock == "" {
		t.Fatal("subtest did not start an agent")
	}
	if c, err := net.Dial("unix", sock); err == nil {
		c.Close()
		t.Errorf("agent socket %s still accepts connections after cleanup", sock)
	}
	if _, err := os.Stat(filepath.Dir(sock)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("agent directory after cleanup: Stat error %v, want not exist", err)
	}
}

// TestRunAgentBadKey checks that RunAgent fails, rather than hanging, for
// a key whose passphrase is not PassphraseForTestKeys, and for a missing
// key.
func TestRunAgentBadKey(t *testing.T) {
	t.Parallel()
	key := filepath.Join(t.TempDir(), "other_passphrase")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "something else", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	for _, k := range []string{key, filepath.Join(t.TempDir(), "missing")} {
		a, err := RunAgent(Keys("id_ed25519"), k)
		if err == nil {
			a.Close()
			t.Errorf("RunAgent accepted %s", k)
			continue
		}
		if !strings.HasPrefix(err.Error(), "sshdtest: ") {
			t.Errorf("RunAgent with %s: %v, want an error starting with \"sshdtest: \"", k, err)
		}
	}
}

// TestNoSSHAgent checks that RunAgent reports a missing ssh-agent with
// ErrNoSSHAgent and that StartAgent skips the test then. It is not parallel
// because it clears PATH.
func TestNoSSHAgent(t *testing.T) {
	t.Setenv("PATH", "")
	daemontest.CheckNotInstalled(t, func() (*Agent, error) { return RunAgent() },
		func(t testing.TB) { StartAgent(t) }, ErrNoSSHAgent, "install openssh-client")
}
