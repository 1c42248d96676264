package sshdtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// askpassScript answers ssh-add's first passphrase prompt with
// $SSHDTEST_PASSPHRASE and fails later ones (a wrong passphrase), so that
// ssh-add gives up instead of asking forever. $SSHDTEST_ASKPASS_USED is a
// marker file of one ssh-add run.
const askpassScript = `#!/bin/sh
[ -e "$SSHDTEST_ASKPASS_USED" ] && exit 1
: > "$SSHDTEST_ASKPASS_USED" || exit 1
printf '%s\n' "$SSHDTEST_PASSPHRASE"
`

// shortTempDir makes a directory with a short, plain name under
// os.TempDir(), for a Unix socket (whose path must fit in 107 bytes) or
// configuration files, and removes it when t ends.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sshdtest-")
	if err == nil && len(dir) > 90 {
		err = fmt.Errorf("%s is too long for a socket path; use a shorter TMPDIR", dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// StartAgent starts an OpenSSH ssh-agent for t holding the private keys at
// the given paths (encrypted ones are decrypted with
// [PassphraseForTestKeys]) and returns its socket, for SSH_AUTH_SOCK. It
// returns once the agent has announced its socket, which it does once the
// socket listens. An error fails t; a cleanup kills the agent and, if the
// test failed, writes its log to the test log.
func StartAgent(t testing.TB, keys ...string) (socket string) {
	t.Helper()
	dir := shortTempDir(t)
	socket = filepath.Join(dir, "agent.sock")
	agent, err := lookTool("ssh-agent", "openssh-client")
	var d daemons
	if err == nil {
		err = d.init()
	}
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, "ssh-agent", d.Log, d.close)
	// -D: in the foreground, so that this process owns it.
	p, err := d.start(exec.Command(agent, "-D", "-s", "-a", socket))
	if err == nil {
		err = d.waitLog(p, 0, "SSH_AUTH_SOCK=")
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "askpass"), []byte(askpassScript), 0o700)
	}
	for i, key := range keys {
		if err == nil {
			err = addKey(dir, socket, strconv.Itoa(i), key)
		}
	}
	if err != nil {
		t.Fatalf("sshdtest: ssh-agent: %v", err)
	}
	return socket
}

// addKey adds the key file key with ssh-add, from a private copy (ssh-add
// refuses keys others can read, and git does not keep modes).
func addKey(dir, socket, n, key string) error {
	b, err := os.ReadFile(key)
	keyCopy := filepath.Join(dir, "key"+n)
	if err == nil {
		err = os.WriteFile(keyCopy, b, 0o600)
	}
	if err != nil {
		return err
	}
	env := append(os.Environ(), "SSH_AUTH_SOCK="+socket, "SSH_ASKPASS="+filepath.Join(dir, "askpass"),
		"SSH_ASKPASS_REQUIRE=force", "SSHDTEST_ASKPASS_USED="+keyCopy+".used", "SSHDTEST_PASSPHRASE="+PassphraseForTestKeys)
	_, err = run(env, "", "ssh-add", "-q", keyCopy)
	return err
}

// StartStuckAgent starts, for t, an agent that never answers: a Unix
// socket that accepts every connection and then neither reads nor writes,
// as a hung agent (or one waiting for a confirmation) does, and returns
// its path. accepted, if not nil, gets a value per connection accepted
// when it has room. A cleanup closes the socket and every connection,
// which ends the client's wait with EOF.
func StartStuckAgent(t testing.TB, accepted chan<- struct{}) (socket string) {
	t.Helper()
	socket = filepath.Join(shortTempDir(t), "agent.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return socket
}
