// Package sshdtest starts real OpenSSH sshd servers for tests.
//
// Each call to [New] prepares a private server directory (host keys,
// authorized_keys, sshd_config and a log file) under the test's temporary
// directory and validates the configuration with "sshd -t". The server can
// then be reached in two ways:
//
//   - [Server.Pipe] runs "sshd -i" (inetd mode) on one end of a socket pair
//     and returns the other end as a [net.Conn]. Every call starts a fresh
//     sshd process serving exactly one connection.
//   - [Server.Listen] runs "sshd -D" listening on 127.0.0.1 and returns its
//     address. It is started once per Server.
//
// Every sshd process is stopped by a t.Cleanup registered by the call that
// started it, and when a test fails the sshd log is written to the test log.
//
// The package needs /usr/sbin/sshd and ssh-keygen (Debian: openssh-server,
// openssh-client); tests are skipped when they are missing. It works both as
// root (sshd then permits root logins with public keys) and as an
// unprivileged user (sshd can then only authenticate that user).
//
// The throwaway client keys used by default live in testdata/keys; see
// [Keys] and [TestdataDir].
package sshdtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SSHDPath is the sshd binary used by the harness. It is always invoked by
// its absolute path because sshd re-executes itself.
const SSHDPath = "/usr/sbin/sshd"

// listenTimeout bounds how long [Server.Listen] waits, over all attempts,
// for sshd to start listening.
const listenTimeout = 60 * time.Second

// listenAttempts is how many ports [Server.Listen] tries before giving up.
const listenAttempts = 5

// stopTimeout bounds how long a cleanup waits for sshd to exit after SIGTERM
// before it sends SIGKILL.
const stopTimeout = 10 * time.Second

// PassphraseForTestKeys is the passphrase of the encrypted keys
// testdata/keys/id_ed25519_enc and testdata/keys/id_rsa_pem_enc.
const PassphraseForTestKeys = "correct horse battery staple"

// hostKeyTypes lists the accepted values of Options.HostKeyTypes and the
// ssh-keygen arguments used to generate each of them.
var hostKeyTypes = map[string][]string{
	"ed25519": {"-t", "ed25519"},
	"ecdsa":   {"-t", "ecdsa", "-b", "256"},
	"rsa":     {"-t", "rsa", "-b", "3072"},
}

// defaultAuthorizedKeys lists the testdata/keys public keys that go into
// authorized_keys when Options.AuthorizedKeys is empty.
var defaultAuthorizedKeys = []string{
	"id_ed25519.pub",
	"id_ecdsa.pub",
	"id_rsa.pub",
	"id_ed25519_enc.pub",
	"id_rsa_pem_enc.pub",
}

// Options configures a [Server]. The zero value is a usable default.
type Options struct {
	// HostKeyTypes lists the host key types to generate, each one freshly
	// with ssh-keygen and each with its own HostKey line. Valid types are
	// "ed25519", "ecdsa" (P-256) and "rsa" (3072 bits). Empty means
	// {"ed25519"}. Duplicates are ignored.
	HostKeyTypes []string

	// AuthorizedKeys lists paths of public key files whose contents are
	// concatenated into the server's authorized_keys. Empty means the
	// public halves of testdata/keys/id_ed25519, id_ecdsa, id_rsa,
	// id_ed25519_enc and id_rsa_pem_enc. To run a server that accepts no
	// key at all, put "AuthorizedKeysFile none" in ConfigFirst.
	AuthorizedKeys []string

	// ConfigFirst holds extra sshd_config lines inserted BEFORE the
	// defaults written by New. For most keywords sshd uses the first value
	// it sees, so this is the place to override a default (for example
	// "PasswordAuthentication yes" or "LogLevel DEBUG3"). Additive keywords
	// such as HostKey simply add to the defaults. "Subsystem sftp" cannot
	// be redefined (sshd rejects a second definition).
	ConfigFirst []string

	// Config holds extra sshd_config lines appended AFTER the defaults.
	// Use it for keywords the defaults do not set and for Match blocks,
	// which must come last. It cannot override a default; see ConfigFirst.
	Config []string

	// Env holds extra "KEY=value" environment entries for the sshd
	// processes (including the "sshd -t" check), appended to the test
	// process's environment (for example LD_PRELOAD for pam_wrapper, or
	// KRB5 variables). ssh-keygen does not get them.
	Env []string
}

// Server is a prepared sshd configuration. Create it with [New]; start sshd
// with [Server.Pipe] or [Server.Listen].
type Server struct {
	// Dir is the private directory holding the configuration, keys, log
	// and pid FIFO of this server.
	Dir string
	// ConfigPath is the absolute path of the generated sshd_config.
	ConfigPath string
	// LogPath is the file every sshd process of this Server logs to (-E).
	LogPath string
	// User is the name of the user running the tests. sshd runs as this
	// user and can authenticate it with the authorized keys.
	User string
	// HostKeys maps each host key type ("ed25519", "ecdsa", "rsa") to the
	// path of its private host key; the public key is at path+".pub".
	HostKeys map[string]string

	env     []string          // environment for sshd processes
	hostPub map[string]string // key type -> trimmed .pub contents

	mu   sync.Mutex // guards addr and serializes Listen
	addr string     // address of the running listening sshd, or ""
}

// New prepares an sshd configuration for t in a fresh temporary directory
// and validates it with "sshd -t". It skips the test when sshd or
// ssh-keygen is not installed and fails it on any other error. No sshd
// process is started until [Server.Pipe] or [Server.Listen] is called.
//
// If the test has failed by the time its cleanups run, the sshd log is
// written to the test log.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Skip("sshdtest: " + SSHDPath + " not found; install openssh-server")
	}
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("sshdtest: ssh-keygen not found in PATH; install openssh-client")
	}
	root := os.Geteuid() == 0
	if root {
		// sshd's privilege separation directory; /run is a tmpfs that
		// is empty on a freshly booted machine.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshdtest: creating privilege separation directory: %v", err)
		}
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshdtest: looking up current user: %v", err)
	}

	s := &Server{
		Dir:      serverDir(t),
		User:     u.Username,
		HostKeys: make(map[string]string),
		hostPub:  make(map[string]string),
		env:      append(os.Environ(), opts.Env...),
	}
	s.ConfigPath = filepath.Join(s.Dir, "sshd_config")
	s.LogPath = filepath.Join(s.Dir, "sshd.log")

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sshdtest: sshd log %s:\n%s", s.LogPath, s.Log())
		}
	})

	if err := os.WriteFile(s.LogPath, nil, 0o600); err != nil {
		t.Fatalf("sshdtest: creating log file: %v", err)
	}

	// Host keys.
	types := opts.HostKeyTypes
	if len(types) == 0 {
		types = []string{"ed25519"}
	}
	var hostKeyOrder []string
	for _, typ := range types {
		args, ok := hostKeyTypes[typ]
		if !ok {
			t.Fatalf("sshdtest: unsupported host key type %q (want ed25519, ecdsa or rsa)", typ)
		}
		if _, dup := s.HostKeys[typ]; dup {
			continue
		}
		path := filepath.Join(s.Dir, "hostkey_"+typ)
		args = append(args, "-q", "-N", "", "-C", "sshdtest-host-"+typ, "-f", path)
		if out, err := exec.Command(keygen, args...).CombinedOutput(); err != nil {
			t.Fatalf("sshdtest: generating %s host key: %v\n%s", typ, err, out)
		}
		pub, err := os.ReadFile(path + ".pub")
		if err != nil {
			t.Fatalf("sshdtest: reading %s host public key: %v", typ, err)
		}
		s.HostKeys[typ] = path
		s.hostPub[typ] = strings.TrimSpace(string(pub))
		hostKeyOrder = append(hostKeyOrder, typ)
	}

	// authorized_keys.
	authPaths := opts.AuthorizedKeys
	if len(authPaths) == 0 {
		for _, name := range defaultAuthorizedKeys {
			authPaths = append(authPaths, Keys(name))
		}
	}
	var auth bytes.Buffer
	for _, p := range authPaths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("sshdtest: reading authorized key: %v", err)
		}
		auth.Write(bytes.TrimSpace(b))
		auth.WriteByte('\n')
	}
	authPath := filepath.Join(s.Dir, "authorized_keys")
	if err := os.WriteFile(authPath, auth.Bytes(), 0o600); err != nil {
		t.Fatalf("sshdtest: writing authorized_keys: %v", err)
	}

	// sshd_config.
	var lines []string
	lines = append(lines, opts.ConfigFirst...)
	for _, typ := range hostKeyOrder {
		lines = append(lines, "HostKey "+s.HostKeys[typ])
	}
	lines = append(lines,
		"AuthorizedKeysFile "+authPath,
		"StrictModes no",
		"UsePAM no",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
	)
	if root {
		lines = append(lines, "PermitRootLogin prohibit-password")
	}
	lines = append(lines,
		"LogLevel DEBUG1",
		"Subsystem sftp internal-sftp",
		"MaxSessions 1000",
		"MaxStartups 1000",
		"MaxAuthTries 20",
		// Listen overrides this on the command line; options given
		// with -o take precedence over the file.
		"PidFile none",
	)
	lines = append(lines, opts.Config...)
	config := strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(s.ConfigPath, []byte(config), 0o600); err != nil {
		t.Fatalf("sshdtest: writing sshd_config: %v", err)
	}

	check := exec.Command(SSHDPath, "-t", "-f", s.ConfigPath)
	check.Env = s.env
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("sshdtest: sshd rejected the configuration: %v\n%s\nconfiguration %s:\n%s",
			err, out, s.ConfigPath, config)
	}
	return s
}

// serverDir returns the directory for a new server: t.TempDir(), unless its
// path contains characters that sshd_config would interpret (such as '%'
// tokens, '#' comments, quotes or spaces), in which case a directory with a
// plain name is created under os.TempDir() and removed by a cleanup.
func serverDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if plainPath(dir) {
		return dir
	}
	dir, err := os.MkdirTemp("", "sshdtest-")
	if err != nil {
		t.Fatalf("sshdtest: creating server directory: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("sshdtest: removing server directory: %v", err)
		}
	})
	if !plainPath(dir) {
		t.Fatalf("sshdtest: temporary directory %q contains characters unsafe in sshd_config", dir)
	}
	return dir
}

// plainPath reports whether p consists only of characters that need no
// quoting or escaping in sshd_config.
func plainPath(p string) bool {
	for _, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("/._-+=,:@", r):
		default:
			return false
		}
	}
	return true
}

// Pipe starts a new "sshd -i" (inetd mode) process serving one connection
// over a Unix socket pair and returns the client end, a *net.UnixConn. The
// caller owns the connection and must close it.
//
// The sshd process is killed (SIGKILL) and reaped by a cleanup registered
// on t. sshd logs to [Server.LogPath]; nothing but the SSH protocol is
// written to the connection.
func (s *Server) Pipe(t testing.TB) net.Conn {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("sshdtest: socketpair: %v", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "sshdtest-client")
	child := os.NewFile(uintptr(fds[1]), "sshdtest-sshd")

	logFile, err := s.openLog()
	if err != nil {
		parent.Close()
		child.Close()
		t.Fatalf("sshdtest: %v", err)
	}
	// Never pass -e: in inetd mode sshd would then keep stderr and its
	// debug output could reach the client. The log goes to LogPath.
	cmd := exec.Command(SSHDPath, "-i", "-f", s.ConfigPath, "-E", s.LogPath)
	cmd.Stdin = child
	cmd.Stdout = child
	cmd.Stderr = logFile // only for messages printed before -E applies
	cmd.Env = s.env
	err = cmd.Start()
	child.Close()
	logFile.Close()
	if err != nil {
		parent.Close()
		t.Fatalf("sshdtest: starting sshd -i: %v", err)
	}
	t.Cleanup(func() {
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("sshdtest: killing sshd -i (pid %d): %v", cmd.Process.Pid, err)
		}
		_ = cmd.Wait() // the exit status of a killed sshd is uninteresting
	})

	conn, err := net.FileConn(parent) // dups the descriptor
	parent.Close()
	if err != nil {
		t.Fatalf("sshdtest: wrapping socket: %v", err)
	}
	return conn
}

// Listen starts "sshd -D" listening on 127.0.0.1 and returns its address,
// "127.0.0.1:PORT". The sshd is started once per Server: later calls return
// the same address until the cleanup registered on the t of the starting
// call has stopped it (after which a call starts a new one).
//
// Readiness is event-driven: the pid file is a FIFO and sshd writes it only
// once its listening socket is bound, so reading the FIFO blocks exactly
// until sshd accepts connections. The port is chosen by binding
// 127.0.0.1:0 and is passed, like the pid file, with -o on sshd's command
// line, so one sshd_config serves both Pipe and Listen. If sshd exits
// before listening because it could not bind the port (another process took
// it in the meantime), another port is tried, up to 5 times; any other
// early exit fails the test at once. Listen gives up after 60 seconds in
// total.
//
// The cleanup sends SIGTERM, waits up to 10 seconds, then sends SIGKILL.
// sshd processes serving connections that are still open are not stopped
// by this; close client connections before the test ends.
func (s *Server) Listen(t testing.TB) (addr string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr != "" {
		return s.addr
	}

	deadline := time.NewTimer(listenTimeout)
	defer deadline.Stop()
	var failures []string
	for attempt := 1; attempt <= listenAttempts; attempt++ {
		d, retry, err := s.startListening(deadline.C)
		if err == nil {
			s.addr = d.addr
			t.Cleanup(func() {
				if err := d.stop(); err != nil {
					t.Errorf("sshdtest: %v", err)
				}
				s.mu.Lock()
				if s.addr == d.addr {
					s.addr = ""
				}
				s.mu.Unlock()
			})
			return s.addr
		}
		failures = append(failures, fmt.Sprintf("attempt %d: %v", attempt, err))
		if !retry {
			break
		}
	}
	t.Fatalf("sshdtest: starting sshd -D failed:\n%s\nsshd log %s:\n%s",
		strings.Join(failures, "\n"), s.LogPath, s.Log())
	return ""
}

// listener is a running "sshd -D" process.
type listener struct {
	addr    string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd.Wait has returned
	waitErr error         // cmd.Wait's result, valid once exited is closed
}

// fifoResult is what the pid FIFO reader goroutine reports.
type fifoResult struct {
	data []byte
	err  error
}

// startListening makes one attempt at starting a listening sshd on a fresh
// port. On failure it leaves no process or goroutine behind and reports
// whether trying another port might help. The caller must hold s.mu.
func (s *Server) startListening(deadline <-chan time.Time) (d *listener, retry bool, err error) {
	port, err := pickPort()
	if err != nil {
		return nil, false, err
	}
	fifo := filepath.Join(s.Dir, "sshd.pid")
	if err := os.Remove(fifo); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("removing old pid fifo: %w", err)
	}
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return nil, false, fmt.Errorf("creating pid fifo: %w", err)
	}
	logStart := s.logSize()
	logFile, err := s.openLog()
	if err != nil {
		return nil, false, err
	}
	defer logFile.Close()

	d = &listener{
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		exited: make(chan struct{}),
	}
	// -o options take precedence over the configuration file, whose
	// "PidFile none" serves Pipe.
	d.cmd = exec.Command(SSHDPath, "-D", "-f", s.ConfigPath, "-E", s.LogPath,
		"-o", "PidFile="+fifo,
		"-o", "ListenAddress="+d.addr,
	)
	d.cmd.Stderr = logFile // only for messages printed before -E applies
	d.cmd.Env = s.env

	// Start the reader first: it blocks in open(2) until sshd opens the
	// FIFO for writing, which sshd does after binding its socket.
	opened := make(chan struct{})
	pidc := make(chan fifoResult, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_RDONLY, 0)
		close(opened)
		if err != nil {
			pidc <- fifoResult{err: err}
			return
		}
		data, err := io.ReadAll(f)
		f.Close()
		pidc <- fifoResult{data: data, err: err}
	}()

	if err := d.cmd.Start(); err != nil {
		releaseFIFO(fifo, opened, pidc)
		return nil, false, fmt.Errorf("starting sshd -D: %w", err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()

	select {
	case res := <-pidc:
		if res.err != nil {
			err = fmt.Errorf("reading pid fifo: %w", res.err)
		} else if pid, perr := strconv.Atoi(strings.TrimSpace(string(res.data))); perr != nil {
			err = fmt.Errorf("sshd wrote an invalid pid %q", res.data)
		} else if pid != d.cmd.Process.Pid {
			err = fmt.Errorf("sshd wrote pid %d, but the started process is %d", pid, d.cmd.Process.Pid)
		}
		if err != nil {
			if serr := d.stop(); serr != nil {
				err = fmt.Errorf("%w; %v", err, serr)
			}
			return nil, false, err
		}
		return d, false, nil

	case <-d.exited:
		releaseFIFO(fifo, opened, pidc)
		log := s.logSince(logStart)
		retry = strings.Contains(log, "Address already in use") ||
			strings.Contains(log, "Cannot bind any address")
		return nil, retry, fmt.Errorf("sshd exited before listening on %s: %v", d.addr, d.waitErr)

	case <-deadline:
		err = fmt.Errorf("sshd did not start listening on %s within %v", d.addr, listenTimeout)
		if serr := d.stop(); serr != nil {
			err = fmt.Errorf("%w; %v", err, serr)
		}
		releaseFIFO(fifo, opened, pidc)
		return nil, false, err
	}
}

// stop terminates the sshd process with SIGTERM, escalating to SIGKILL
// after stopTimeout, and waits until its Wait goroutine has finished.
func (d *listener) stop() error {
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sending SIGTERM to sshd -D (pid %d): %w", d.cmd.Process.Pid, err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-d.exited:
		return nil
	case <-timer.C:
	}
	if err := d.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing sshd -D (pid %d): %w", d.cmd.Process.Pid, err)
	}
	<-d.exited
	return fmt.Errorf("sshd -D (pid %d) ignored SIGTERM for %v and was killed", d.cmd.Process.Pid, stopTimeout)
}

// releaseFIFO unblocks the pid FIFO reader goroutine once no sshd can write
// to the FIFO any more, and waits for the goroutine to finish.
//
// On Linux, opening a FIFO with O_RDWR never blocks and counts as a writer:
// a reader blocked in open(2) returns, and a reader that has not reached
// open(2) yet will not block there. Once the reader has opened the FIFO,
// closing our descriptor leaves it without writers, so its read returns EOF.
func releaseFIFO(path string, opened <-chan struct{}, result <-chan fifoResult) {
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		// Cannot happen for our own FIFO; if it does, waiting for the
		// reader could hang forever, so leave it blocked.
		return
	}
	<-opened
	syscall.Close(fd)
	<-result
}

// pickPort chooses the port for a listening sshd; tests replace it to
// exercise the retry path.
var pickPort = freePort

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("picking a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("picking a free port: %w", err)
	}
	return port, nil
}

// openLog opens the log file for appending, for use as sshd's stderr.
func (s *Server) openLog() (*os.File, error) {
	f, err := os.OpenFile(s.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	return f, nil
}

// logSize returns the current size of the log file (0 if unknown).
func (s *Server) logSize() int64 {
	fi, err := os.Stat(s.LogPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince returns the log written after offset off.
func (s *Server) logSince(off int64) string {
	log := s.Log()
	if off < 0 || off > int64(len(log)) {
		return log
	}
	return log[off:]
}

// HostPublicKey returns the public host key of the given type as found in
// its .pub file, trimmed: "ssh-ed25519 AAAA... comment". It panics if the
// Server has no host key of that type.
func (s *Server) HostPublicKey(keyType string) string {
	pub, ok := s.hostPub[keyType]
	if !ok {
		panic(fmt.Sprintf("sshdtest: no host key of type %q", keyType))
	}
	return pub
}

// KnownHostsLine returns a known_hosts line "host keytype base64" (without
// comment) for the host key of the given type. host is used verbatim, so
// pass "[127.0.0.1]:2222" for a non-standard port. It panics if the Server
// has no host key of that type.
func (s *Server) KnownHostsLine(host, keyType string) string {
	fields := strings.Fields(s.HostPublicKey(keyType))
	if len(fields) < 2 {
		panic(fmt.Sprintf("sshdtest: malformed %s host public key %q", keyType, s.HostPublicKey(keyType)))
	}
	return host + " " + fields[0] + " " + fields[1]
}

// Log returns the contents of the sshd log file shared by all sshd
// processes of this Server. It returns "" if nothing was logged, and a
// description of the problem if the log cannot be read.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ""
		}
		return fmt.Sprintf("(sshdtest: cannot read log: %v)", err)
	}
	return string(b)
}

// TestdataDir returns the absolute path of the repository's testdata
// directory. The repository root is the nearest directory containing go.mod
// above this package's source file, or above the working directory when
// the source location is unknown (as with -trimpath). It panics if no
// go.mod is found.
func TestdataDir() string {
	return testdataDir()
}

var testdataDir = sync.OnceValue(func() string {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for {
			if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
				return filepath.Join(dir, "testdata")
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	panic("sshdtest: cannot locate the repository root (no go.mod above the package source or working directory)")
})

// Keys returns the absolute path of testdata/keys/<name>, for example
// Keys("id_ed25519") or Keys("id_ed25519.pub"). Note that git does not keep
// the 0600 mode of the private keys; copy a key to a private file before
// handing it to OpenSSH's ssh client.
func Keys(name string) string {
	return filepath.Join(TestdataDir(), "keys", name)
}
