package libssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/golibssh/libssh/lib"
)

// What ssh_config says about reaching the server, done in Go: libssh 0.10
// turns ProxyJump into a ProxyCommand string (config.c,
// ssh_config_parse_proxy_jump) that it would run itself by forking inside
// the Go process. The session reads that string back, parses the hops out
// of it and dials them as sessions of their own, or (ProxyCommand) refuses
// unless WithProxyCommand lets it run the command with os/exec.

// maxJumpDepth bounds how many jump chains nest (a hop whose own ssh_config
// has a ProxyJump): a loop in ssh_config ends there with an error.
const maxJumpDepth = 8

// jumpHop is one ProxyJump entry, "[user@]host[:port]".
type jumpHop struct {
	user, host string
	port       int // 0: ssh_config's or 22
}

func (h jumpHop) String() string {
	s := h.host
	if h.port != 0 {
		s = net.JoinHostPort(h.host, strconv.Itoa(h.port))
	}
	if h.user != "" {
		s = h.user + "@" + s
	}
	return s
}

// jumpCommand is the ProxyCommand libssh 0.10 makes of a ProxyJump list:
// "ssh [-l USER] [-p PORT] [-J REST] -W '[%h]:%p' HOST", where USER, PORT
// and HOST are the first entry's and REST is the rest of the list as
// written. (Unlike OpenSSH, which makes the last entry the host and the
// others -J, so this command would visit two or more hops in the wrong
// order; the session follows the list's order, as ssh_config(5) says.)
var jumpCommand = regexp.MustCompile(`^ssh(?: -l (\S+))?(?: -p (\S+))?(?: -J (\S+))? -W '\[%h\]:%p' (\S+)$`)

// parseProxyJump returns the hops of a ProxyCommand that libssh made from a
// ProxyJump; isJump is false for any other command. An error means that
// cmd looks like one but cannot be parsed.
func parseProxyJump(cmd string) (hops []jumpHop, isJump bool, err error) {
	if !strings.HasPrefix(cmd, "ssh ") || !strings.Contains(cmd, " -W '[%h]:%p' ") {
		return nil, false, nil
	}
	m := jumpCommand.FindStringSubmatch(cmd)
	if m == nil {
		return nil, true, errors.New("not in the form libssh 0.10 gives it")
	}
	first := jumpHop{user: m[1], host: m[4]}
	if m[2] != "" {
		if first.port, err = parsePort(m[2]); err != nil {
			return nil, true, err
		}
	}
	hops = append(hops, first)
	if m[3] != "" {
		for _, e := range strings.Split(m[3], ",") {
			h, err := parseJumpHop(e)
			if err != nil {
				return nil, true, err
			}
			hops = append(hops, h)
		}
	}
	return hops, true, nil
}

// parseJumpHop parses "[user@]host[:port]", with an IPv6 address in
// brackets, as libssh's ssh_config_parse_uri does.
func parseJumpHop(s string) (jumpHop, error) {
	bad := func() (jumpHop, error) {
		return jumpHop{}, fmt.Errorf("bad hop %q (want [user@]host[:port])", s)
	}
	var h jumpHop
	rest := s
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		h.user, rest = rest[:i], rest[i+1:]
		if h.user == "" {
			return bad()
		}
	}
	host, port, err := parseHostPort(rest)
	if err != nil {
		return jumpHop{}, fmt.Errorf("bad hop %q: %w", s, err)
	}
	if host == "" || strings.ContainsAny(host, "[]@") {
		return bad()
	}
	h.host, h.port = host, port
	return h, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("port %q is not a number in 1-65535", s)
	}
	return p, nil
}

// proxyFromConfigLocked reads back the ProxyCommand that ssh_config (or its
// ProxyJump) gave the session and decides what Connect does with it.
func (st *sessionState) proxyFromConfigLocked(host string) error {
	cmd := lib.OptionsGet(st.p, lib.SSH_OPTIONS_PROXYCOMMAND)
	if cmd == "" {
		return nil
	}
	// libssh never runs it (Connect hands it a socket); clear it anyway.
	lib.OptionsSetString(st.p, lib.SSH_OPTIONS_PROXYCOMMAND, "none")
	if st.cfg.conn != nil || st.cfg.viaJump {
		return nil // the connection is given
	}
	hops, isJump, err := parseProxyJump(cmd)
	switch {
	case err != nil:
		return &Error{Op: "read ssh_config", Message: fmt.Sprintf(
			"cannot parse the ProxyJump of %s (libssh made it the command %q): %v; not connecting directly instead", host, cmd, err)}
	case isJump && strings.EqualFold(hops[0].host, host):
		return &Error{Op: "read ssh_config", Message: fmt.Sprintf(
			"ssh_config makes %s jump through itself (ProxyJump %s); give it \"ProxyJump none\" in a Host block before the one that applies", host, hops[0])}
	case isJump && st.cfg.jumpDepth >= maxJumpDepth:
		return &Error{Op: "read ssh_config", Message: fmt.Sprintf(
			"ProxyJump hops of ProxyJump hops nest deeper than %d at %s (a loop in ssh_config?)", maxJumpDepth, host)}
	case isJump:
		st.jumps = hops
	case !st.cfg.proxyCommand:
		return &Error{Op: "read ssh_config", Message: fmt.Sprintf(
			"ssh_config gives %s the ProxyCommand %q, which runs only with WithProxyCommand(true); not connecting directly instead", host, cmd)}
	default:
		st.proxyCmd = cmd
	}
	return nil
}

// addDependent makes c close when the session closes, after it; it fails
// (and the caller closes c) when the session is closing already.
func (st *sessionState) addDependent(c io.Closer) error {
	st.lock()
	defer st.unlock()
	if st.closing.Load() || st.disconnected.Load() {
		return ErrClosed
	}
	st.dependents = append(st.dependents, c)
	return nil
}

// takeDependentsLocked returns the dependents for closeDependents, and
// forgets them.
func (st *sessionState) takeDependentsLocked() []io.Closer {
	d := st.dependents
	st.dependents = nil
	return d
}

// closeDependents closes d, the last made first (a hop runs over the hop
// before it).
func closeDependents(d []io.Closer) {
	for i := len(d) - 1; i >= 0; i-- {
		d[i].Close()
	}
}

// jumpError is the failure of a ProxyJump hop.
type jumpError struct {
	hop string
	err error
}

func (e *jumpError) Error() string {
	return "libssh: ProxyJump host " + e.hop + ": " + strings.TrimPrefix(e.err.Error(), "libssh: ")
}

func (e *jumpError) Unwrap() error { return e.err }

// dialJumps connects and logs in to each hop in turn, each over the one
// before it (the first with base's dialer), and returns a connection to
// addr through the last. The hops become dependents of the session.
func (st *sessionState) dialJumps(ctx context.Context, base config, hops []jumpHop, addr string) (net.Conn, error) {
	var prev *Session
	for i, h := range hops {
		c := base
		c.port, c.user, c.conn, c.gssapiServer = h.port, nil, nil, nil
		c.autoConnect, c.jumpDepth, c.viaJump = true, base.jumpDepth+1, i > 0
		if h.user != "" {
			user := h.user
			c.user = &user
		}
		// A password or keyboard-interactive answers are the server's
		// secrets: a jump host gets keys, the agent and GSSAPI only.
		hopAuth := c.authOptions()
		hopAuth.Password, hopAuth.KbdintAnswers, hopAuth.Kbdint = "", nil, nil
		c.auth = &hopAuth
		if c.keepaliveFromConfig { // the hop's own ssh_config decides
			c.keepalive, c.keepaliveMax, c.keepaliveFromConfig = 0, 0, false
		}
		if i > 0 {
			c.dial = prev.DialContext
		}
		hop, err := newSession(ctx, h.host, c)
		if err == nil {
			if err = st.addDependent(hop); err != nil {
				hop.Close()
			}
		}
		if err == nil {
			_, err = hop.Authenticate(ctx, c.authOptions())
		}
		if err != nil {
			return nil, &jumpError{hop: h.String(), err: err}
		}
		prev = hop
	}
	conn, err := prev.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &jumpError{hop: hops[len(hops)-1].String(), err: fmt.Errorf("forward to %s: %w", addr, err)}
	}
	return conn, nil
}

// proxyProcess is a ProxyCommand running for a session.
type proxyProcess struct {
	cmd    *exec.Cmd
	stderr *tailWriter
	once   sync.Once
}

// expandProxyCommand expands OpenSSH's ProxyCommand tokens.
func expandProxyCommand(cmd string, host string, port int, user, original string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(cmd); i++ {
		if cmd[i] != '%' {
			b.WriteByte(cmd[i])
			continue
		}
		if i++; i == len(cmd) {
			return "", fmt.Errorf("ProxyCommand %q ends with a lone %%", cmd)
		}
		switch cmd[i] {
		case '%':
			b.WriteByte('%')
		case 'h':
			b.WriteString(host)
		case 'p':
			b.WriteString(strconv.Itoa(port))
		case 'r':
			b.WriteString(user)
		case 'n':
			b.WriteString(original)
		default:
			return "", fmt.Errorf("ProxyCommand %q has the unknown token %%%c (known: %%h %%p %%r %%n %%%%)", cmd, cmd[i])
		}
	}
	return b.String(), nil
}

// startProxyCommand runs command (expanded) with one end of a Unix socket
// pair as its standard input and output, and returns the other end.
func startProxyCommand(command string) (net.Conn, *proxyProcess, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "proxy command connection")
	theirs := os.NewFile(uintptr(fds[1]), "proxy command stdio")
	defer theirs.Close()
	conn, err := net.FileConn(ours) // a *net.UnixConn on a dup
	ours.Close()
	if err != nil {
		return nil, nil, err
	}
	p := &proxyProcess{stderr: &tailWriter{max: 1024}}
	p.cmd = exec.Command("/bin/sh", "-c", "exec "+command)
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = theirs, theirs, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A child of the command that keeps standard error open must not make
	// Close wait for it.
	p.cmd.WaitDelay = time.Second
	if err := p.cmd.Start(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, p, nil
}

// Close kills the command's process group and reaps the command.
func (p *proxyProcess) Close() error {
	p.once.Do(func() {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		p.cmd.Wait()
	})
	return nil
}

// said returns the end of what the command wrote to its standard error.
func (p *proxyProcess) said() string { return strings.TrimSpace(p.stderr.String()) }

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if over := len(w.b) - w.max; over > 0 {
		w.b = append(w.b[:0], w.b[over:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}

// startProxy runs the session's ProxyCommand for Connect; the process
// becomes a dependent of the session.
func (st *sessionState) startProxy(command string, props properties) (net.Conn, *proxyProcess, error) {
	expanded, err := expandProxyCommand(command, props.host, props.port, props.user, st.origHost)
	if err != nil {
		return nil, nil, err
	}
	conn, p, err := startProxyCommand(expanded)
	if err != nil {
		return nil, nil, err
	}
	if err := st.addDependent(p); err != nil {
		conn.Close()
		p.Close()
		return nil, nil, err
	}
	return conn, p, nil
}
