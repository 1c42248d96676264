// Package sshdtest starts real OpenSSH sshd servers for tests, examples and
// demo programs.
//
// [Start] prepares a private server directory (host keys, authorized_keys,
// sshd_config and a log file) and validates the configuration with
// "sshd -t". The server can then be reached in two ways:
//
//   - [Server.Conn] runs "sshd -i" (inetd mode) on one end of a socket pair
//     and returns the other end as a [net.Conn]. Every call starts a fresh
//     sshd process serving exactly one connection.
//   - [Server.Addr] runs "sshd -D" listening on 127.0.0.1 and returns its
//     address. It is started once per Server.
//
// [Server.Close] stops every sshd process the Server started and removes the
// directory Start created. This core needs no testing.TB, so it also serves
// a package main or a TestMain that starts one server for runnable examples.
//
// Tests use the thin wrappers [New], [Server.Pipe] and [Server.Listen],
// which fail the test instead of returning an error and stop what they
// started with t.Cleanup: the sshd started by Pipe or Listen when the test
// that called it ends, and the whole Server when the test that called New
// ends. When a test fails, the sshd log is written to the test log.
//
// The package needs /usr/sbin/sshd and ssh-keygen (Debian: openssh-server,
// openssh-client); Start then fails with an error wrapping [ErrNoSSHD] and
// New skips the test. It works on Linux 5.3 or later (it waits for sshd
// processes through pidfds, without goroutines), both as root (sshd then
// permits root logins with public keys) and as an unprivileged user (sshd
// can then only authenticate that user).
//
// Beyond public keys, a Server can authenticate passwords (through PAM
// with pam_wrapper; see [Options.Passwords]) and Kerberos tickets (see
// [Options.GSSAPI] and the package internal/kdctest). [StartAgent] runs an
// ssh-agent holding test keys.
//
// The throwaway client keys used by default live in testdata/keys; see
// [Keys] and [TestdataDir].
package sshdtest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// SSHDPath is the sshd binary used by the harness. It is always invoked by
// its absolute path because sshd re-executes itself.
const SSHDPath = "/usr/sbin/sshd"

// listenTimeout bounds how long [Server.Addr] waits, over all attempts,
// for sshd to start listening.
const listenTimeout = 60 * time.Second

// listenAttempts is how many ports [Server.Addr] tries before giving up.
const listenAttempts = 5

// stopTimeout bounds how long stopping a listening sshd waits for the
// children it kills to exit.
const stopTimeout = 10 * time.Second

// PassphraseForTestKeys is the passphrase of the encrypted keys
// testdata/keys/id_ed25519_enc and testdata/keys/id_rsa_pem_enc.
const PassphraseForTestKeys = "correct horse battery staple"

// ErrNoSSHD is wrapped by the error [Start] returns when sshd or ssh-keygen
// is not installed. [New] skips the test in that case.
var ErrNoSSHD = errors.New("sshdtest: sshd or ssh-keygen is not installed")

// errClosed is returned by Conn and Addr once Close has been called.
var errClosed = errors.New("sshdtest: server is closed")

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
	// defaults written by Start. For most keywords sshd uses the first
	// value it sees, so this is the place to override a default (for
	// example "PasswordAuthentication yes" or "LogLevel DEBUG3"). Additive
	// keywords such as HostKey simply add to the defaults. "Subsystem sftp" cannot
	// be redefined (sshd rejects a second definition).
	ConfigFirst []string

	// Config holds extra sshd_config lines appended AFTER the defaults.
	// Use it for keywords the defaults do not set and for Match blocks,
	// which must come last. It cannot override a default; see ConfigFirst.
	Config []string

	// Env holds extra "KEY=value" environment entries for the sshd
	// processes (including the "sshd -t" check), appended to the
	// environment of the calling process and to the entries Passwords
	// and GSSAPI add, so an entry here overrides those. ssh-keygen does
	// not get them.
	Env []string

	// Passwords, if not empty, enables password and keyboard-interactive
	// authentication through PAM, mapping user names to passwords. sshd
	// runs with pam_wrapper (LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1
	// PAM_WRAPPER_SERVICE_DIR=Dir/pam.d), whose PAM service files "sshd"
	// and "other" in Dir/pam.d use the module pam_matrix for every PAM
	// stage, with the password database Dir/passdb ("user:password:sshd"
	// lines). pam_matrix checks the password; the system's PAM
	// configuration and passwords are not involved. The sshd_config gets,
	// ahead of the defaults (after ConfigFirst), "UsePAM yes",
	// "PasswordAuthentication yes", "KbdInteractiveAuthentication yes"
	// and, when running as root, "PermitRootLogin yes".
	//
	// sshd still only logs in users that exist on the system, and an
	// sshd not running as root can only log in the user running it, so
	// in practice the key is [Server.User]. Passwords may not be empty or
	// contain ':' or newlines.
	//
	// A failed attempt is answered at once: pam_matrix sets no PAM fail
	// delay (unlike pam_unix, which waits 2 seconds unless given
	// "nodelay"), and sshd itself only stretches a failed attempt to a
	// few milliseconds.
	//
	// pam_wrapper gives every process it is loaded into one of the 62
	// directories /tmp/pam.[0-9A-Za-z] and never removes it for sshd,
	// which leaves with _exit(2) or is killed. The Server removes those
	// of its exited sshd processes in Conn, Addr, Close and the cleanups
	// of Pipe and Listen; a test that makes dozens of connections to one
	// listening sshd without calling any of these may run out of them
	// on a system whose pids exceed 65535 (pam_wrapper reclaims stale
	// directories of smaller pids itself). Close (and New's cleanup)
	// also kills the sshd processes found this way that still serve
	// connections of a listening sshd stopped by Listen's cleanup.
	//
	// If pam_wrapper is not installed (Debian: libpam-wrapper), Start
	// fails with an error wrapping [ErrNoPAMWrapper] and New skips the
	// test.
	//
	// pam_wrapper (1.1.4) claims its /tmp/pam.X directory by checking
	// that it is free and then creating it, choosing X from the pid, so
	// two processes that start PAM at the same moment can pick the same X;
	// the loser exits and removes the winner's directory. On one machine,
	// only one PAM login may therefore be in progress at a time: tests
	// using Passwords must not run in parallel with each other (in any
	// package; the Makefile runs test packages one at a time).
	Passwords map[string]string

	// GSSAPI, if not nil, enables GSSAPI authentication: sshd gets
	// "GSSAPIAuthentication yes" and "GSSAPIStrictAcceptorCheck no"
	// ahead of the defaults (after ConfigFirst) and the environment
	// KRB5_KTNAME=FILE:<keytab> plus GSSAPI.Env. See [GSSAPIOptions].
	GSSAPI *GSSAPIOptions
}

// Server is a prepared sshd configuration. Create it with [Start] (or [New]
// in a test); start sshd with [Server.Conn] and [Server.Addr] (or
// [Server.Pipe] and [Server.Listen]); stop everything with [Server.Close].
type Server struct {
	// Dir is the private directory holding the configuration, keys, log
	// and pid FIFO of this server.
	Dir string
	// ConfigPath is the absolute path of the generated sshd_config.
	ConfigPath string
	// LogPath is the file every sshd process of this Server logs to (-E).
	LogPath string
	// User is the name of the user running the program. sshd runs as this
	// user and can authenticate it with the authorized keys.
	User string
	// HostKeys maps each host key type ("ed25519", "ecdsa", "rsa") to the
	// path of its private host key; the public key is at path+".pub".
	HostKeys map[string]string

	env     []string          // environment for sshd processes
	hostPub map[string]string // key type -> trimmed .pub contents
	passdb  string            // pam_matrix password database, if PAM is on
	ownDir  bool              // Close removes Dir (Start created it)

	// listenMu serializes starting the listening sshd. Close takes it to
	// wait for a start in progress. Lock order: listenMu, then mu.
	listenMu sync.Mutex

	mu     sync.Mutex              // guards closed, lis and procs
	closed bool                    // Close has been called
	lis    *listener               // the running listening sshd, or nil
	procs  map[*inetdProc]struct{} // sshd -i processes not reaped yet

	// starting counts Conn calls between their check of closed and the
	// recording of their sshd in procs, for Close to wait for. Add is
	// only called with mu held and closed false.
	starting sync.WaitGroup

	stopped  chan struct{} // closed when shutdown has finished
	stopErr  error         // shutdown's result, valid once stopped is closed
	dirOnce  sync.Once     // removes Dir
	dirErr   error         // result of removing Dir
	closeErr error         // Close's result, valid once dirOnce has run
}

// Start prepares an sshd configuration in a fresh directory under
// os.TempDir() and validates it with "sshd -t". It is [New] without a
// testing.TB: it returns an error instead of failing a test, and the caller
// must call [Server.Close] to undo everything, including removing the
// directory. No sshd process is started until [Server.Conn] or
// [Server.Addr] is called.
//
// If sshd or ssh-keygen is not installed, the error wraps [ErrNoSSHD]; if
// Options.Passwords is set and pam_wrapper is not installed, it wraps
// [ErrNoPAMWrapper].
func Start(opts Options) (*Server, error) {
	return start(opts, nil)
}

// start implements Start and New. tempDir, if not nil, supplies the server
// directory (t.TempDir), which is used unless its name is unsafe in
// sshd_config; otherwise start creates a directory that Close removes.
func start(opts Options, tempDir func() string) (_ *Server, err error) {
	if _, err := os.Stat(SSHDPath); err != nil {
		return nil, fmt.Errorf("%w: %s not found; install openssh-server", ErrNoSSHD, SSHDPath)
	}
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		return nil, fmt.Errorf("%w: ssh-keygen not found in PATH; install openssh-client", ErrNoSSHD)
	}
	var pamw pamWrapper
	if len(opts.Passwords) > 0 {
		if err := checkPasswords(opts.Passwords); err != nil {
			return nil, err
		}
		if pamw, err = findPAMWrapper(); err != nil {
			return nil, err
		}
	}
	root := os.Geteuid() == 0
	if root {
		// sshd's privilege separation directory; /run is a tmpfs that
		// is empty on a freshly booted machine.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("sshdtest: creating privilege separation directory: %w", err)
		}
	}
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("sshdtest: looking up current user: %w", err)
	}

	dir, ownDir, err := serverDir(tempDir)
	if err != nil {
		return nil, err
	}
	if ownDir {
		defer func() {
			if err != nil {
				_ = os.RemoveAll(dir) // the setup error matters more
			}
		}()
	}
	s := &Server{
		Dir:      dir,
		User:     u.Username,
		HostKeys: make(map[string]string),
		hostPub:  make(map[string]string),
		ownDir:   ownDir,
		procs:    make(map[*inetdProc]struct{}),
		stopped:  make(chan struct{}),
	}
	s.ConfigPath = filepath.Join(s.Dir, "sshd_config")
	s.LogPath = filepath.Join(s.Dir, "sshd.log")

	if err := os.WriteFile(s.LogPath, nil, 0o600); err != nil {
		return nil, fmt.Errorf("sshdtest: creating log file: %w", err)
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
			return nil, fmt.Errorf("sshdtest: unsupported host key type %q (want ed25519, ecdsa or rsa)", typ)
		}
		if _, dup := s.HostKeys[typ]; dup {
			continue
		}
		path := filepath.Join(s.Dir, "hostkey_"+typ)
		args = append(args, "-q", "-N", "", "-C", "sshdtest-host-"+typ, "-f", path)
		if out, err := exec.Command(keygen, args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("sshdtest: generating %s host key: %w\n%s", typ, err, out)
		}
		pub, err := os.ReadFile(path + ".pub")
		if err != nil {
			return nil, fmt.Errorf("sshdtest: reading %s host public key: %w", typ, err)
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
			return nil, fmt.Errorf("sshdtest: reading authorized key: %w", err)
		}
		auth.Write(bytes.TrimSpace(b))
		auth.WriteByte('\n')
	}
	authPath := filepath.Join(s.Dir, "authorized_keys")
	if err := os.WriteFile(authPath, auth.Bytes(), 0o600); err != nil {
		return nil, fmt.Errorf("sshdtest: writing authorized_keys: %w", err)
	}

	// Password (PAM) and GSSAPI authentication: environment, and
	// configuration lines that must precede the defaults they override.
	var featureEnv, featureConfig []string
	if len(opts.Passwords) > 0 {
		env, config, err := s.setupPAM(pamw, opts.Passwords, root)
		if err != nil {
			return nil, err
		}
		featureEnv = append(featureEnv, env...)
		featureConfig = append(featureConfig, config...)
	}
	if opts.GSSAPI != nil {
		env, config, err := setupGSSAPI(opts.GSSAPI)
		if err != nil {
			return nil, err
		}
		featureEnv = append(featureEnv, env...)
		featureConfig = append(featureConfig, config...)
	}
	// Later entries win (os/exec keeps the last of duplicate keys).
	s.env = slices.Concat(os.Environ(), featureEnv, opts.Env)

	// sshd_config.
	var lines []string
	lines = append(lines, opts.ConfigFirst...)
	lines = append(lines, featureConfig...)
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
		// Addr overrides this on the command line; options given
		// with -o take precedence over the file.
		"PidFile none",
	)
	lines = append(lines, opts.Config...)
	config := strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(s.ConfigPath, []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("sshdtest: writing sshd_config: %w", err)
	}

	check := exec.Command(SSHDPath, "-t", "-f", s.ConfigPath)
	check.Env = s.env
	if out, err := check.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("sshdtest: sshd rejected the configuration: %w\n%s\nconfiguration %s:\n%s",
			err, out, s.ConfigPath, config)
	}
	return s, nil
}

// New prepares an sshd configuration for t, like [Start], in a fresh
// temporary directory from t.TempDir. It skips the test when sshd or
// ssh-keygen is not installed ([ErrNoSSHD]) or when Options.Passwords
// needs pam_wrapper and it is not installed ([ErrNoPAMWrapper]), and
// fails it on any other error. No sshd process is started until
// [Server.Pipe] or [Server.Listen] (or [Server.Conn] or [Server.Addr]) is
// called.
//
// A cleanup registered on t calls [Server.Close]. If the test has failed by
// then, the sshd log is written to the test log.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := start(opts, func() string { return t.TempDir() })
	if err != nil {
		if errors.Is(err, ErrNoSSHD) || errors.Is(err, ErrNoPAMWrapper) {
			t.Skip(err.Error())
		}
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		// Stop sshd before reading the log, and read the log before
		// Close can remove the directory.
		if err := s.shutdown(); err != nil {
			t.Errorf("%v", err)
		}
		if t.Failed() {
			t.Logf("sshdtest: sshd log %s:\n%s", s.LogPath, s.Log())
		}
		if err := s.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return s
}

// serverDir returns the directory for a new server and whether the caller
// created it and must remove it. That is tempDir() unless tempDir is nil
// or the path it returns contains characters that sshd_config would
// interpret (such as '%' tokens, '#' comments, quotes or spaces); otherwise
// a directory with a plain name is created under os.TempDir().
func serverDir(tempDir func() string) (dir string, created bool, err error) {
	if tempDir != nil {
		if dir := tempDir(); plainPath(dir) {
			return dir, false, nil
		}
	}
	dir, err = os.MkdirTemp("", "sshdtest-")
	if err != nil {
		return "", false, fmt.Errorf("sshdtest: creating server directory: %w", err)
	}
	if !plainPath(dir) {
		_ = os.RemoveAll(dir)
		return "", false, fmt.Errorf("sshdtest: temporary directory %q contains characters unsafe in sshd_config", dir)
	}
	return dir, true, nil
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

// Close stops every sshd process this Server started and waits for them to
// exit:
//
//   - the listening sshd started by [Server.Addr], after which its port
//     refuses connections, and the sshd processes it forked to serve
//     connections (they use the files in Dir);
//   - the sshd -i process of every connection from [Server.Conn] or
//     [Server.Pipe] that is still running.
//
// They are killed with SIGKILL, each connection's sshd together with its
// process group, so that its privilege separation child dies too and the
// client reads EOF. Then Close removes [Server.Dir] if [Start] created it
// ([New]'s directory comes from t.TempDir and is left to the testing
// package).
//
// A Server starts no goroutines: it waits for sshd processes synchronously,
// so once Close has returned nothing of the Server is left running.
// Connections returned by Conn stay open (their sshd is gone); the caller
// still closes them.
//
// Close is idempotent: later calls, also concurrent ones, wait for the
// first to finish and return its result. After Close, Conn and Addr fail.
func (s *Server) Close() error {
	err := s.shutdown()
	s.dirOnce.Do(func() {
		if s.ownDir {
			if err := os.RemoveAll(s.Dir); err != nil {
				s.dirErr = fmt.Errorf("sshdtest: removing server directory: %w", err)
			}
		}
		s.closeErr = errors.Join(err, s.dirErr)
	})
	return s.closeErr
}

// shutdown is Close without removing the directory: it stops every sshd
// process of s. Every call returns the result of the first, once that has
// finished.
func (s *Server) shutdown() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.stopped
		return s.stopErr
	}
	s.closed = true
	s.mu.Unlock()

	// From now on Addr and Conn start nothing new. Let those under way
	// record what they start: Conn calls in procs, and (taking listenMu,
	// at most listenTimeout) a listening sshd being started in s.lis.
	s.starting.Wait()
	s.listenMu.Lock()
	s.mu.Lock()
	d := s.lis
	s.lis = nil
	procs := slices.Collect(maps.Keys(s.procs))
	s.mu.Unlock()
	s.listenMu.Unlock()

	var errs []error
	if d != nil {
		// Stop its connections too: Close removes the files they use.
		if err := d.stop(true); err != nil {
			errs = append(errs, fmt.Errorf("sshdtest: %w", err))
		}
	}
	for _, p := range procs {
		if err := s.stopProc(p); err != nil {
			errs = append(errs, fmt.Errorf("sshdtest: %w", err))
		}
	}
	if err := s.sweepPAMDirs(true); err != nil {
		errs = append(errs, err)
	}
	s.stopErr = errors.Join(errs...)
	close(s.stopped)
	return s.stopErr
}

// inetdProc is an "sshd -i" process, the leader of its own process group.
type inetdProc struct {
	cmd *exec.Cmd

	mu      sync.Mutex // guards the fields below and serializes stop
	stopped bool       // the process has been reaped
	pidfd   int        // pidfd of the process, or -1 (unsupported or closed)
}

// stop kills the process group of sshd (SIGKILL) and reaps sshd, unless
// that has been done already. Killing the group, not just sshd, matters:
// sshd forks a privilege separation child that shares the connection and
// would outlive its parent until it reads EOF or LoginGraceTime expires.
// As the group leader is not reaped before the signal is sent, its process
// group ID cannot have been reused.
func (p *inetdProc) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil
	}
	p.stopped = true
	pid := p.cmd.Process.Pid
	var err error
	if kerr := syscall.Kill(-pid, syscall.SIGKILL); kerr != nil && kerr != syscall.ESRCH {
		err = fmt.Errorf("killing the process group of sshd -i (pid %d): %w", pid, kerr)
		// Make sure at least sshd itself dies, or Wait would hang.
		if kerr := p.cmd.Process.Kill(); kerr != nil && !errors.Is(kerr, os.ErrProcessDone) {
			err = errors.Join(err, fmt.Errorf("killing sshd -i (pid %d): %w", pid, kerr))
		}
	}
	_ = p.cmd.Wait() // the exit status of a killed sshd is uninteresting
	if p.pidfd >= 0 {
		syscall.Close(p.pidfd)
		p.pidfd = -1
	}
	return err
}

// exited reports whether sshd has exited but not been reaped yet.
func (p *inetdProc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.pidfd < 0 {
		return false
	}
	ready, err := waitReadable(0, p.pidfd)
	return err == nil && ready[0]
}

// stopProc stops p and forgets it.
func (s *Server) stopProc(p *inetdProc) error {
	err := p.stop()
	s.mu.Lock()
	delete(s.procs, p)
	s.mu.Unlock()
	return err
}

// reapExited reaps the sshd -i processes that have exited on their own
// (their client closed the connection), so that a long-lived Server does not
// accumulate zombies.
func (s *Server) reapExited() error {
	s.mu.Lock()
	procs := slices.Collect(maps.Keys(s.procs))
	s.mu.Unlock()
	var errs []error
	for _, p := range procs {
		if p.exited() {
			if err := s.stopProc(p); err != nil {
				errs = append(errs, fmt.Errorf("sshdtest: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// Conn starts a new "sshd -i" (inetd mode) process serving one connection
// over a Unix socket pair and returns the client end, a *net.UnixConn. It
// is [Server.Pipe] without a testing.TB. The caller owns the connection and
// must close it.
//
// The sshd process exits when the connection is closed or the session
// ends; it is reaped by a later Conn call or by [Server.Close], which kills
// it (SIGKILL) if it is still running. sshd logs to [Server.LogPath];
// nothing but the SSH protocol is written to the connection.
func (s *Server) Conn() (net.Conn, error) {
	conn, _, err := s.conn()
	return conn, err
}

// conn implements Conn and also returns the sshd process.
func (s *Server) conn() (net.Conn, *inetdProc, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, errClosed
	}
	s.starting.Add(1)
	s.mu.Unlock()
	started := false
	defer func() {
		if !started {
			s.starting.Done()
		}
	}()

	if err := s.reapExited(); err != nil {
		return nil, nil, err
	}
	if err := s.sweepPAMDirs(false); err != nil {
		return nil, nil, err
	}

	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("sshdtest: socketpair: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "sshdtest-client")
	child := os.NewFile(uintptr(fds[1]), "sshdtest-sshd")
	defer parent.Close() // net.FileConn dups the descriptor

	logFile, err := s.openLog()
	if err != nil {
		child.Close()
		return nil, nil, fmt.Errorf("sshdtest: %w", err)
	}
	p := &inetdProc{pidfd: -1}
	// Never pass -e: in inetd mode sshd would then keep stderr and its
	// debug output could reach the client. The log goes to LogPath.
	p.cmd = exec.Command(SSHDPath, "-i", "-f", s.ConfigPath, "-E", s.LogPath)
	p.cmd.Stdin = child
	p.cmd.Stdout = child
	p.cmd.Stderr = logFile // only for messages printed before -E applies
	p.cmd.Env = s.env
	// A process group of its own lets stop kill sshd's children too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, PidFD: &p.pidfd}
	err = p.cmd.Start()
	child.Close()
	logFile.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("sshdtest: starting sshd -i: %w", err)
	}

	// Close, if it has started meanwhile, waits for this before it looks
	// at procs, and then stops p.
	s.mu.Lock()
	s.procs[p] = struct{}{}
	s.mu.Unlock()
	started = true
	s.starting.Done()

	conn, err := net.FileConn(parent)
	if err != nil {
		if serr := s.stopProc(p); serr != nil {
			err = fmt.Errorf("%w; %v", err, serr)
		}
		return nil, nil, fmt.Errorf("sshdtest: wrapping socket: %w", err)
	}
	return conn, p, nil
}

// Pipe is [Server.Conn] for tests: it fails t on error, and a cleanup
// registered on t stops the sshd process as Close would (SIGKILL to its
// process group) and reaps it when the test ends, so that long test runs do
// not accumulate sshd processes. The caller owns the connection and must
// close it.
func (s *Server) Pipe(t testing.TB) net.Conn {
	t.Helper()
	conn, p, err := s.conn()
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := s.stopProc(p); err != nil {
			t.Errorf("sshdtest: %v", err)
		}
		if err := s.sweepPAMDirs(false); err != nil {
			t.Errorf("%v", err)
		}
	})
	return conn
}

// Addr starts "sshd -D" listening on 127.0.0.1, unless it is running
// already, and returns its address, "127.0.0.1:PORT". It is [Server.Listen]
// without a testing.TB. The listening sshd runs until [Server.Close] (or
// until the test whose Listen call started it ends).
//
// Readiness is event-driven: the pid file is a FIFO and sshd writes it only
// once its listening socket is bound, so the FIFO becomes readable exactly
// when sshd accepts connections. Addr waits for that, or for sshd to exit
// (through a pidfd, so Linux 5.3 or later is needed), without starting any
// goroutine. The port is chosen by binding 127.0.0.1:0 and is passed, like
// the pid file, with -o on sshd's command line, so one sshd_config serves
// both Conn and Addr. If sshd exits before listening because it could not
// bind the port (another process took it in the meantime), another port is
// tried, up to 5 times; any other early exit is an error at once. Addr
// gives up after 60 seconds in total; its error then includes the sshd log.
func (s *Server) Addr() (string, error) {
	addr, _, err := s.listen()
	return addr, err
}

// Listen is [Server.Addr] for tests: it fails t on error. The sshd is
// started once per Server: later calls return the same address until the
// cleanup registered on the t of the starting call has stopped it (after
// which a call starts a new one). When that cleanup returns, the port
// refuses connections: it freezes sshd (SIGSTOP), kills (SIGKILL) the
// children sshd has just forked, which may still hold the listening socket,
// then kills sshd.
//
// sshd processes serving established connections are not stopped by this;
// close client connections before the test ends.
func (s *Server) Listen(t testing.TB) (addr string) {
	t.Helper()
	addr, d, err := s.listen()
	if err != nil {
		t.Fatalf("%v", err)
	}
	if d != nil {
		t.Cleanup(func() {
			s.mu.Lock()
			if s.lis == d {
				s.lis = nil
			}
			s.mu.Unlock()
			if err := d.stop(false); err != nil {
				t.Errorf("sshdtest: %v", err)
			}
			if err := s.sweepPAMDirs(false); err != nil {
				t.Errorf("%v", err)
			}
		})
	}
	return addr
}

// listen implements Addr. It returns the listener too if this call started
// it.
func (s *Server) listen() (addr string, started *listener, err error) {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	s.mu.Lock()
	closed, d := s.closed, s.lis
	s.mu.Unlock()
	if closed {
		return "", nil, errClosed
	}
	if err := s.sweepPAMDirs(false); err != nil {
		return "", nil, err
	}
	if d != nil {
		return d.addr, nil, nil
	}

	deadline := time.Now().Add(listenTimeout)
	var failures []string
	for attempt := 1; attempt <= listenAttempts; attempt++ {
		d, retry, err := s.startListening(deadline)
		if err == nil {
			// Close waits for listenMu before it looks at s.lis, so
			// it will stop d even if it has started meanwhile.
			s.mu.Lock()
			s.lis = d
			s.mu.Unlock()
			return d.addr, d, nil
		}
		failures = append(failures, fmt.Sprintf("attempt %d: %v", attempt, err))
		if !retry {
			break
		}
	}
	return "", nil, fmt.Errorf("sshdtest: starting sshd -D failed:\n%s\nsshd log %s:\n%s",
		strings.Join(failures, "\n"), s.LogPath, s.Log())
}

// listener is a running "sshd -D" process.
type listener struct {
	addr  string
	cmd   *exec.Cmd
	pidfd int // pidfd of the process; closed by reap

	stopOnce sync.Once
	waitErr  error // cmd.Wait's result, valid after reap
}

// startListening makes one attempt at starting a listening sshd on a fresh
// port, before deadline. On failure it leaves no process behind and
// reports whether trying another port might help. The caller must hold
// s.listenMu.
func (s *Server) startListening(deadline time.Time) (d *listener, retry bool, err error) {
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
	// Opening a FIFO for reading with O_NONBLOCK does not wait for a
	// writer, and the FIFO stays unreadable (no data, no hang-up) until
	// sshd has opened it for writing, which it does after binding its
	// socket. Holding it open also lets sshd's open(2) proceed.
	fifoFD, err := syscall.Open(fifo, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, false, fmt.Errorf("opening pid fifo: %w", err)
	}
	defer syscall.Close(fifoFD)

	logStart := s.logSize()
	logFile, err := s.openLog()
	if err != nil {
		return nil, false, err
	}
	defer logFile.Close()

	d = &listener{
		addr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		pidfd: -1,
	}
	// -o options take precedence over the configuration file, whose
	// "PidFile none" serves Conn.
	d.cmd = exec.Command(SSHDPath, "-D", "-f", s.ConfigPath, "-E", s.LogPath,
		"-o", "PidFile="+fifo,
		"-o", "ListenAddress="+d.addr,
	)
	d.cmd.Stderr = logFile // only for messages printed before -E applies
	d.cmd.Env = s.env
	d.cmd.SysProcAttr = &syscall.SysProcAttr{PidFD: &d.pidfd}
	if err := d.cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("starting sshd -D: %w", err)
	}
	if d.pidfd < 0 {
		_ = d.cmd.Process.Kill()
		_ = d.cmd.Wait()
		return nil, false, errors.New("no pidfd for sshd -D: Linux 5.3 or later is needed")
	}

	// fail stops sshd and returns err, with any trouble stopping it.
	fail := func(err error) (*listener, bool, error) {
		if serr := d.stop(true); serr != nil {
			err = fmt.Errorf("%w; %v", err, serr)
		}
		return nil, false, err
	}
	var pidData []byte
	buf := make([]byte, 64)
	for {
		ready, err := waitReadable(time.Until(deadline), fifoFD, d.pidfd)
		if err != nil {
			return fail(err)
		}
		switch {
		case ready[0]:
			n, err := syscall.Read(fifoFD, buf)
			switch {
			case n > 0:
				pidData = append(pidData, buf[:n]...)
				continue
			case err == syscall.EAGAIN || err == syscall.EINTR:
				continue
			case err != nil:
				return fail(fmt.Errorf("reading pid fifo: %w", err))
			}
			// EOF: sshd has written its pid and closed the FIFO.
			pid, perr := strconv.Atoi(strings.TrimSpace(string(pidData)))
			if perr != nil {
				return fail(fmt.Errorf("sshd wrote an invalid pid %q", pidData))
			}
			if pid != d.cmd.Process.Pid {
				return fail(fmt.Errorf("sshd wrote pid %d, but the started process is %d", pid, d.cmd.Process.Pid))
			}
			return d, false, nil

		case ready[1]:
			d.reap()
			log := s.logSince(logStart)
			retry = strings.Contains(log, "Address already in use") ||
				strings.Contains(log, "Cannot bind any address")
			return nil, retry, fmt.Errorf("sshd exited before listening on %s: %v", d.addr, d.waitErr)

		case !time.Now().Before(deadline):
			return fail(fmt.Errorf("sshd did not start listening on %s within %v", d.addr, listenTimeout))
		}
	}
}

// reap waits for the exited sshd and releases its pidfd.
func (d *listener) reap() {
	d.waitErr = d.cmd.Wait()
	syscall.Close(d.pidfd)
	d.pidfd = -1
}

// stop stops the listening sshd and reaps it. Only the first call does
// this and can report an error; later calls wait for it.
//
// Killing just the listening sshd would not close its listening socket for
// sure: a child that sshd has just forked for a new connection holds the
// socket until it gets round to closing it, and connections to the port
// would still succeed meanwhile. So stop freezes sshd, kills those of its
// children that may still hold the socket (see freezeAndKillChildren), and
// then kills sshd itself (SIGKILL), which lets it neither accept nor fork
// again. When stop returns, the port refuses connections. The children
// serving established connections are killed too if all is set, and left
// alone otherwise.
func (d *listener) stop(all bool) (err error) {
	d.stopOnce.Do(func() {
		pid := d.cmd.Process.Pid
		if ferr := freezeAndKillChildren(d.cmd.Process, all); ferr != nil {
			// sshd itself can still be stopped; do that, then report.
			err = fmt.Errorf("stopping the new children of sshd -D (pid %d): %w", pid, ferr)
		}
		if kerr := d.cmd.Process.Kill(); kerr != nil && !errors.Is(kerr, os.ErrProcessDone) {
			// Reaping would hang; leave the process alone.
			err = errors.Join(err, fmt.Errorf("killing sshd -D (pid %d): %w", pid, kerr))
			return
		}
		d.reap()
	})
	return err
}

// freezeAndKillChildren stops (SIGSTOP) the listening sshd p, waits until it
// has stopped, and then kills (SIGKILL) and waits for those of its children
// that have not detached from its session yet, or for all of them (with
// their process groups) if all is set. sshd forks a child per connection,
// which closes the listening socket and only then calls setsid(2); a child
// still in sshd's session may therefore hold the listening socket, while a
// detached child serves an established connection. While sshd is stopped
// it can neither fork nor reap, so the set of its children is fixed and
// their pids, which are also the IDs of the process groups of the detached
// ones, cannot be reused. p is left stopped.
func freezeAndKillChildren(p *os.Process, all bool) error {
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return nil
		}
		return fmt.Errorf("sending SIGSTOP: %w", err)
	}
	if err := waitStopped(p.Pid); err != nil {
		return err
	}
	st, err := readStat(p.Pid)
	if err != nil {
		return err
	}
	children, err := childrenOf(p.Pid)
	if err != nil {
		return err
	}
	var pidfds []int
	defer func() {
		for _, fd := range pidfds {
			syscall.Close(fd)
		}
	}()
	for _, c := range children {
		cst, err := readStat(c)
		if errors.Is(err, os.ErrNotExist) {
			continue // not ours: exited and reaped before sshd stopped
		}
		if err != nil {
			return err
		}
		if cst.ppid != p.Pid || cst.state == 'Z' {
			continue // exited, or not a child of sshd
		}
		detached := cst.sid != st.sid
		if detached && !all {
			continue
		}
		fd, err := pidfdOpen(c)
		if err != nil {
			return fmt.Errorf("pidfd_open %d: %w", c, err)
		}
		pidfds = append(pidfds, fd)
		target := c
		if detached && cst.sid == c {
			// A session leader, so also the leader of its process
			// group, which holds the privilege separation child.
			target = -c
		}
		if err := syscall.Kill(target, syscall.SIGKILL); err != nil {
			return fmt.Errorf("killing child %d: %w", c, err)
		}
	}
	deadline := time.Now().Add(stopTimeout)
	for _, fd := range pidfds {
		ready, err := waitReadable(time.Until(deadline), fd)
		if err != nil {
			return err
		}
		if !ready[0] {
			return fmt.Errorf("killed children did not exit within %v", stopTimeout)
		}
	}
	return nil
}

// procStat holds the fields of /proc/PID/stat that the package uses.
type procStat struct {
	state byte
	ppid  int
	sid   int
}

// readStat reads /proc/PID/stat. The error wraps os.ErrNotExist if the
// process does not exist.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// "pid (comm) state ppid pgrp session ..."; comm may contain
	// anything, including spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat: %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 4 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat: %q", pid, b)
	}
	st := procStat{state: f[0][0]}
	var err1, err2 error
	st.ppid, err1 = strconv.Atoi(f[1])
	st.sid, err2 = strconv.Atoi(f[3])
	if err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat: %q", pid, b)
	}
	return st, nil
}

// childrenOf lists the children of the single-threaded process pid, from
// /proc/PID/task/PID/children or, on kernels without it, by scanning /proc.
func childrenOf(pid int) ([]int, error) {
	p := strconv.Itoa(pid)
	if b, err := os.ReadFile("/proc/" + p + "/task/" + p + "/children"); err == nil {
		var pids []int
		for _, f := range strings.Fields(string(b)) {
			c, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("malformed /proc/%d/task/%d/children: %q", pid, pid, b)
			}
			pids = append(pids, c)
		}
		return pids, nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// readStat is checked again by the caller; errors here only
		// mean that the process has gone.
		if st, err := readStat(c); err == nil && st.ppid == pid {
			pids = append(pids, c)
		}
	}
	return pids, nil
}

// waitStopped waits until the child process pid has stopped or exited,
// without reaping it or consuming the notification (waitid with WNOWAIT).
func waitStopped(pid int) error {
	const pPID = 1     // idtype_t P_PID
	var info [128]byte // siginfo_t
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid), uintptr(unsafe.Pointer(&info)),
			syscall.WSTOPPED|syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch e {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		default:
			return fmt.Errorf("waitid %d: %w", pid, e)
		}
	}
}

// sysPidfdOpen is the number of the pidfd_open system call, which the
// syscall package does not define on most architectures.
var sysPidfdOpen = map[string]uintptr{
	"mips": 4434, "mipsle": 4434, "mips64": 5434, "mips64le": 5434,
}[runtime.GOARCH]

// sysPidfdSendSignal is the number of the pidfd_send_signal system call.
var sysPidfdSendSignal = map[string]uintptr{
	"mips": 4424, "mipsle": 4424, "mips64": 5424, "mips64le": 5424,
}[runtime.GOARCH]

// pidfdSendSignal sends sig to the process of the pidfd fd.
func pidfdSendSignal(fd int, sig syscall.Signal) error {
	nr := sysPidfdSendSignal
	if nr == 0 {
		nr = 424 // the same on every other Linux architecture
	}
	_, _, e := syscall.Syscall6(nr, uintptr(fd), uintptr(sig), 0, 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// pidfdOpen returns a pidfd (close-on-exec) for the process pid.
func pidfdOpen(pid int) (int, error) {
	nr := sysPidfdOpen
	if nr == 0 {
		nr = 434 // the same on every other Linux architecture
	}
	fd, _, e := syscall.Syscall(nr, uintptr(pid), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// waitReadable waits until at least one of fds is readable or hung up, or
// timeout has passed, and reports which are. A pidfd becomes readable when
// its process exits. It blocks the calling goroutine in epoll_wait rather
// than starting goroutines, so that nothing is left running afterwards.
func waitReadable(timeout time.Duration, fds ...int) ([]bool, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	defer syscall.Close(ep)
	for i, fd := range fds {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return nil, fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	deadline := time.Now().Add(timeout)
	events := make([]syscall.EpollEvent, len(fds))
	for {
		// Round up, so that a wait never ends just before the deadline.
		msec := max(0, (time.Until(deadline)+time.Millisecond-1)/time.Millisecond)
		n, err := syscall.EpollWait(ep, events, int(min(msec, math.MaxInt32)))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("epoll_wait: %w", err)
		}
		ready := make([]bool, len(fds))
		for _, ev := range events[:n] {
			ready[ev.Fd] = true
		}
		return ready, nil
	}
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
