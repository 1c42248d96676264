package libssh

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// configSession makes a session (not connected) for host with an ssh
// directory whose config is text, and returns it with its state.
func configSession(t *testing.T, host, text string, opts ...Option) (*Session, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	opts = append([]Option{WithProcessConfig(true), WithSSHDir(dir), WithAutoConnect(false)}, opts...)
	s, err := NewSession(context.Background(), host, opts...)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

// libssh's own ProxyJump translation, read back and parsed: the hops in
// the order written, with their users, ports and IPv6 brackets.
func TestProxyJumpFromLibssh(t *testing.T) {
	for _, c := range []struct {
		jump string
		want []jumpHop
	}{
		{"bastion", []jumpHop{{host: "bastion"}}},
		{"alice@bastion:2222", []jumpHop{{user: "alice", host: "bastion", port: 2222}}},
		{"[::1]:2200,bob@10.0.0.2,h3:23,[fe80::1]", []jumpHop{
			{host: "::1", port: 2200}, {user: "bob", host: "10.0.0.2"}, {host: "h3", port: 23}, {host: "fe80::1"},
		}},
		{"a@b@c", []jumpHop{{user: "a@b", host: "c"}}},
	} {
		s, err := configSession(t, "target", "Host target\n  ProxyJump "+c.jump+"\n")
		if err != nil {
			t.Fatalf("%s: %v", c.jump, err)
		}
		got := inspected(t, s, func(st *sessionState) []jumpHop { return st.jumps })
		if len(got) != len(c.want) {
			t.Fatalf("%s: hops %v, want %v", c.jump, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: hop %d is %+v, want %+v", c.jump, i, got[i], c.want[i])
			}
		}
	}
	// "ProxyJump none", and a ProxyCommand before a ProxyJump (the first
	// of the two wins, as in OpenSSH).
	s, err := configSession(t, "target", "Host target\n  ProxyJump none\nHost *\n  ProxyJump x\n")
	if err != nil {
		t.Fatal(err)
	}
	if jumps, cmd := inspected(t, s, func(st *sessionState) []jumpHop { return st.jumps }), inspected(t, s, func(st *sessionState) string { return st.proxyCmd }); jumps != nil || cmd != "" {
		t.Errorf("ProxyJump none: jumps %v, command %q", jumps, cmd)
	}
	s, err = configSession(t, "target", "Host target\n  ProxyCommand nc %h %p\n  ProxyJump x\n", WithProxyCommand(true))
	if err != nil {
		t.Fatal(err)
	}
	if jumps, cmd := inspected(t, s, func(st *sessionState) []jumpHop { return st.jumps }), inspected(t, s, func(st *sessionState) string { return st.proxyCmd }); jumps != nil || cmd != "nc %h %p" {
		t.Errorf("ProxyCommand first: jumps %v, command %q", jumps, cmd)
	}
}

func TestParseJumpHop(t *testing.T) {
	for _, bad := range []string{"", "@h", "[::1", "[::1]x", "h:0", "h:65536", "h:p", "u@", "[]"} {
		if h, err := parseJumpHop(bad); err == nil {
			t.Errorf("%q parsed as %+v", bad, h)
		}
	}
	for in, want := range map[string]jumpHop{
		"::1":          {host: "::1"}, // a bare IPv6 address, not host ":" port 1
		"u@fe80::1":    {user: "u", host: "fe80::1"},
		"[::1]:2222":   {host: "::1", port: 2222},
		"u@h.example":  {user: "u", host: "h.example"},
		"h.example:22": {host: "h.example", port: 22},
	} {
		if h, err := parseJumpHop(in); err != nil || h != want {
			t.Errorf("%q parsed as %+v, %v; want %+v", in, h, err, want)
		}
	}
	if _, _, err := parseProxyJump("ssh -l a b -W '[%h]:%p' c d"); err == nil {
		t.Error("a command in the jump form but with extra words was accepted")
	}
	if _, isJump, _ := parseProxyJump("nc %h %p"); isJump {
		t.Error("nc taken for a jump")
	}
}

func TestServerAliveFromConfig(t *testing.T) {
	incDir := t.TempDir()
	inc := filepath.Join(incDir, "extra.conf")
	if err := os.WriteFile(inc, []byte("Host inc\n  ServerAliveInterval 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := `# first value wins
Host plain
  ServerAliveInterval 15
  ServerAliveInterval 99
Host counted
  ServerAliveCountMax 5
Host counted "other"
  ServerAliveInterval=1m30s
Host *.example !bad.example
  ServerAliveInterval 20
Match originalhost matched
  ServerAliveInterval 30
Match host 127.0.0.9
  ServerAliveInterval 31
Match exec "true"
  ServerAliveInterval 32
Match all
Include ` + inc + `
Host off
  ServerAliveInterval 0
Host *
  ServerAliveCountMax 4
`
	for _, c := range []struct {
		host     string
		opts     []Option
		interval time.Duration
		max      int
	}{
		{"plain", nil, 15 * time.Second, 4},
		{"counted", nil, 90 * time.Second, 5},
		{"a.example", nil, 20 * time.Second, 4},
		{"bad.example", nil, 0, 0},
		{"matched", nil, 30 * time.Second, 4},
		{"alias9", nil, 31 * time.Second, 4}, // Match host sees HostName
		{"execd", nil, 0, 0},                 // other Match criteria do not apply
		{"inc", nil, 7 * time.Second, 4},
		{"off", nil, 0, 0},
		{"none", nil, 0, 0},
	} {
		text := config
		if c.host == "alias9" {
			text = "Host alias9\n  HostName 127.0.0.9\n" + config
		}
		s, err := configSession(t, c.host, text, c.opts...)
		if err != nil {
			t.Fatalf("%s: %v", c.host, err)
		}
		interval := inspected(t, s, func(st *sessionState) time.Duration { return st.cfg.keepalive })
		max := inspected(t, s, func(st *sessionState) int { return st.cfg.keepaliveMax })
		if interval != c.interval || max != c.max && c.interval != 0 {
			t.Errorf("%s: keepalive %v×%d, want %v×%d", c.host, interval, max, c.interval, c.max)
		}
	}
	if _, err := configSession(t, "x", "ServerAliveInterval soon\n"); err == nil {
		t.Error("a bad ServerAliveInterval was accepted")
	}
}

func TestExpandProxyCommand(t *testing.T) {
	got, err := expandProxyCommand("x %h:%p %r %n %%h", "host", 22, "user", "alias")
	if want := "x host:22 user alias %h"; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"x %", "x %C"} {
		if _, err := expandProxyCommand(bad, "h", 1, "u", "n"); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

// inspected returns f of the session's state, read under its lock; it
// fails the test when the session has no state to read (inspect would not
// call f, and checks made inside f would pass unseen).
func inspected[T any](t *testing.T, s *Session, f func(st *sessionState) T) T {
	t.Helper()
	var v T
	ran := false
	s.inspect(func(st *sessionState) { v, ran = f(st), true })
	if !ran {
		t.Fatal("the session has no state to inspect")
	}
	return v
}

func TestExpandConfigPath(t *testing.T) {
	tokens := map[byte]string{'%': "%", 'd': "/home/u", 'u': "u", 'h': "example.com", 'r': "root", 'l': "box"}
	for in, want := range map[string]string{
		"~/.ssh/id-cert.pub":     "/home/u/.ssh/id-cert.pub",
		"%d/.ssh/%r@%h-cert.pub": "/home/u/.ssh/root@example.com-cert.pub",
		"/etc/ssh/%u-%l%%":       "/etc/ssh/u-box%",
		"/no/tokens":             "/no/tokens",
		"relative/~not-expanded": "relative/~not-expanded",
	} {
		got, err := expandConfigPath(in, tokens)
		if err != nil || got != want {
			t.Errorf("expandConfigPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	root, err := user.Lookup("root")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"~root/.ssh/id_ed25519": root.HomeDir + "/.ssh/id_ed25519",
		"~root":                 root.HomeDir,
	} {
		got, err := expandConfigPath(in, tokens)
		if err != nil || got != want {
			t.Errorf("expandConfigPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"/a/%", "/a/%z", "~no-such-user-here/id"} {
		if got, err := expandConfigPath(in, tokens); err == nil {
			t.Errorf("expandConfigPath(%q) = %q, want an error", in, got)
		}
	}
}

// TestSSHConfigDirPath: the ssh directory read by the Go side expands ~
// to the home directory and ~user to that user's (not to a directory
// "user" in one's own home, as it did).
func TestSSHConfigDirPath(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := user.Lookup("root")
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	for _, c := range []struct {
		dir  *string
		want string
	}{
		{nil, filepath.Join(home, ".ssh")},
		{str("~"), home},
		{str("~/.ssh2"), filepath.Join(home, ".ssh2")},
		{str("~root"), root.HomeDir},
		{str("~root/.ssh"), filepath.Join(root.HomeDir, ".ssh")},
		{str("/etc/ssh/"), "/etc/ssh/"},
	} {
		got, err := sshDirPath(c.dir)
		if err != nil || got != c.want {
			t.Errorf("sshDirPath(%v) = %q, %v; want %q", c.dir, got, err, c.want)
		}
	}
	_, err = sshDirPath(str("~no-such-user-here/.ssh"))
	var uerr user.UnknownUserError
	if !errors.As(err, &uerr) || !strings.Contains(err.Error(), "cannot expand ~no-such-user-here: ") {
		t.Errorf("sshDirPath(~no-such-user-here/.ssh): %v, want a user.UnknownUserError", err)
	}
}
