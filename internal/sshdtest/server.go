package sshdtest

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/golibssh/libssh/internal/daemontest"
)

// SSHDPath is the sshd binary used by the harness. It is always invoked by
// its absolute path because sshd re-executes itself.
const SSHDPath = "/usr/sbin/sshd"

// ErrNoSSHD is wrapped by the error [Start] returns when sshd or ssh-keygen
// is not installed. [New] skips the test in that case.
var ErrNoSSHD = errors.New("sshdtest: sshd or ssh-keygen is not installed")

// errClosed is returned by Conn and Addr once Close has been called.
var errClosed = errors.New("sshdtest: server is closed")

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
	home    string            // Options.Unprivileged's home directory, which Close removes

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
	var nssLib string
	if opts.Unprivileged && root {
		if nssLib, err = findNSSWrapper(); err != nil {
			return nil, err
		}
	} else if root {
		nssLib, _ = findNSSWrapper() // for setupRootHome, when installed
	}
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

	hostKeyOrder, err := s.generateHostKeys(keygen, opts.HostKeyTypes)
	if err != nil {
		return nil, err
	}
	// Password (PAM) and GSSAPI authentication, and an unprivileged
	// user: environment, and configuration lines that must precede the
	// defaults they override.
	var featureEnv, featureConfig []string
	keysDir := s.Dir
	if opts.Unprivileged && root {
		if s.home, err = makeHome(); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				_ = os.RemoveAll(s.home) // the setup error matters more
			}
		}()
		env, err := s.setupUnprivileged(nssLib, s.home)
		if err != nil {
			return nil, err
		}
		featureEnv = append(featureEnv, env...)
		keysDir, s.User = s.home, unprivilegedUser
	} else if root && nssLib != "" {
		home := filepath.Join(s.Dir, "root-home")
		if err := os.Mkdir(home, 0o700); err != nil {
			return nil, fmt.Errorf("sshdtest: creating root's home: %w", err)
		}
		env, err := s.setupRootHome(nssLib, home)
		if err != nil {
			return nil, err
		}
		featureEnv = append(featureEnv, env...)
	}
	authPath, err := writeAuthorizedKeys(keysDir, opts.AuthorizedKeys)
	if err != nil {
		return nil, err
	}
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
	s.env = slices.Concat(os.Environ(), joinPreloads(featureEnv), opts.Env)

	config, err := s.writeConfig(opts, featureConfig, hostKeyOrder, authPath, root)
	if err != nil {
		return nil, err
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
// needs pam_wrapper and it is not installed ([ErrNoPAMWrapper]) or
// Options.Unprivileged needs nss_wrapper ([ErrNoNSSWrapper]), and
// fails it on any other error. No sshd process is started until
// [Server.Pipe] or [Server.Listen] (or [Server.Conn] or [Server.Addr]) is
// called.
//
// A cleanup registered on t calls [Server.Close]. If the test has failed by
// then, the sshd log is written to the test log.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := start(opts, func() string { return t.TempDir() })
	daemontest.SkipOrFatal(t, err, ErrNoSSHD, ErrNoPAMWrapper, ErrNoNSSWrapper)
	daemontest.CloseAtCleanup(t, "sshdtest: sshd log "+s.LogPath, s.Log, s.Close)
	// Cleanups run last first, so this one stops sshd before the log is
	// read, and the log is read before Close can remove the directory.
	t.Cleanup(func() {
		if err := s.shutdown(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return s
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
		if s.home != "" {
			if err := os.RemoveAll(s.home); err != nil {
				s.dirErr = errors.Join(s.dirErr, fmt.Errorf("sshdtest: removing the unprivileged user's home: %w", err))
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
