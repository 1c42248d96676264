package sshdtest

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Options configures a [Server]. The zero value is a usable default.
type Options struct {
	// HostKeyTypes lists the host key types to generate, each with its
	// own HostKey line: "ed25519", "ecdsa" (P-256), "rsa" (3072 bits).
	// Empty means {"ed25519"}.
	HostKeyTypes []string

	// AuthorizedKeys lists public key files for authorized_keys. Empty
	// means the public halves of testdata/keys/id_ed25519, id_ecdsa,
	// id_rsa, id_ed25519_enc and id_rsa_pem_enc.
	AuthorizedKeys []string

	// ConfigFirst holds sshd_config lines put BEFORE the defaults. sshd
	// uses the first value it sees of most keywords, so this overrides a
	// default ("PasswordAuthentication yes", "LogLevel DEBUG3").
	ConfigFirst []string

	// Config holds sshd_config lines put AFTER the defaults: keywords
	// they do not set, and Match blocks.
	Config []string

	// Env holds "KEY=value" entries added last to sshd's environment.
	Env []string

	// Passwords, if not empty, maps user names to passwords that sshd
	// accepts for password and keyboard-interactive authentication,
	// through PAM with pam_wrapper (LD_PRELOAD) and its module
	// pam_matrix; the system's PAM configuration is not involved. sshd
	// still logs in only users that exist, so in practice the key is
	// [Server.User]. Neither may be empty or contain ':' or newlines.
	//
	// pam_wrapper (1.1.4) picks its directory /tmp/pam.X from the pid
	// after checking it is free, so two sshds starting PAM at the same
	// moment can collide: tests using Passwords must not run in parallel
	// with each other (the Makefile runs one test package at a time). It
	// leaves the directory behind in sshd; the Server removes those of
	// its exited sshds in Conn, Addr, the cleanup of Pipe, and Close.
	Passwords map[string]string

	// GSSAPI, if not nil, enables GSSAPI authentication. See
	// [GSSAPIOptions].
	GSSAPI *GSSAPIOptions

	// Unprivileged, when the program runs as root, makes sshd log in
	// "nobody" instead ([Server.User] says so), with privilege
	// separation, which some requests need (OpenSSH refuses "signal"
	// without it). nss_wrapper gives nobody, for sshd alone, the shell
	// /bin/sh and a home under os.TempDir() holding authorized_keys.
	// As another user it changes nothing.
	//
	// As root without Unprivileged, nss_wrapper gives root an empty home
	// in Dir, so that no start-up file of the machine's root runs.
	Unprivileged bool
}

// GSSAPIOptions enables GSSAPI ("gssapi-with-mic") authentication in sshd,
// against a [KDC]: sshd accepts any service principal in Keytab
// (GSSAPIStrictAcceptorCheck no), so a client names the service host, for
// example "host/sshd.test"; the user's principal is USER@realm.
type GSSAPIOptions struct {
	Keytab string   // the service keys, from KDC.Keytab; it must exist
	Env    []string // KDC.Env
}

// Server is a prepared sshd configuration. Create it with [Start] (or
// [New] in a test); run sshd with [Server.Conn] and [Server.Addr] (or
// [Server.Pipe] and [Server.Listen]); stop it with [Server.Close].
type Server struct {
	Dir        string            // the configuration, keys and databases
	ConfigPath string            // the sshd_config
	User       string            // the user sshd logs in
	HostKeys   map[string]string // key type -> private host key file (public: +".pub")

	daemons  // the sshd processes; Log returns their log
	env      []string
	hostPub  map[string]string // key type -> contents of the .pub file
	passdb   string            // pam_matrix's database, if Passwords
	home     string            // Unprivileged's home directory
	ownDir   bool              // Close removes Dir
	listenMu sync.Mutex        // held by Addr
	addr     string            // of the listening sshd

	closeOnce sync.Once
	closeErr  error
}

// Start prepares an sshd configuration in a new directory under
// os.TempDir() and checks it with "sshd -t". It is [New] without a
// testing.TB; the caller must call [Server.Close].
func Start(opts Options) (*Server, error) {
	return start(opts, "")
}

// New is [Start] for tests: the directory is t.TempDir() (unless its name
// is unsafe in sshd_config), an error fails the test, and a cleanup closes
// the Server, then writes the sshd log to the test log if the test failed.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := start(opts, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	closeAtCleanup(t, "sshd", s.Log, s.Close)
	return s
}

func start(opts Options, dir string) (_ *Server, err error) {
	keygen, err := lookTool("ssh-keygen", "openssh-client")
	if err != nil {
		return nil, err
	}
	if !isFile(sshdPath()) {
		return nil, fmt.Errorf("sshdtest: %s not found; install openssh-server", sshdPath())
	}
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("sshdtest: %w", err)
	}
	s := &Server{Dir: dir, User: u.Username, HostKeys: map[string]string{}, hostPub: map[string]string{}}
	defer func() {
		if err != nil {
			s.Close() // the first error matters more
		}
	}()
	if !plainPath(dir) || dir == "" {
		if s.Dir, err = os.MkdirTemp("", "sshdtest-"); err != nil {
			return nil, fmt.Errorf("sshdtest: %w", err)
		}
		if s.ownDir = true; !plainPath(s.Dir) {
			return nil, fmt.Errorf("sshdtest: temporary directory %q has characters unsafe in sshd_config", s.Dir)
		}
	}
	s.ConfigPath = filepath.Join(s.Dir, "sshd_config")
	if err := s.init(); err != nil {
		return nil, err
	}

	root := os.Geteuid() == 0
	config := slices.Clone(opts.ConfigFirst)
	var env []string
	if root {
		// sshd's privilege separation directory; /run is emptied at boot.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("sshdtest: %w", err)
		}
		nss, nssErr := findNSSWrapper()
		switch {
		case opts.Unprivileged && nssErr != nil:
			return nil, nssErr
		case opts.Unprivileged:
			if s.home, err = makeHome(); err != nil {
				return nil, err
			}
			s.User = "nobody"
			env, err = s.wrapPasswd(nss, "nobody", s.home, "/bin/sh")
		case nssErr == nil:
			home := filepath.Join(s.Dir, "root-home")
			if err = os.Mkdir(home, 0o700); err == nil {
				env, err = s.wrapPasswd(nss, "root", home, "")
			}
		}
		if err != nil {
			return nil, fmt.Errorf("sshdtest: %w", err)
		}
	}
	authPath, err := writeAuthorizedKeys(cmp.Or(s.home, s.Dir), opts.AuthorizedKeys)
	if err != nil {
		return nil, err
	}
	if len(opts.Passwords) > 0 {
		e, c, err := s.setupPAM(opts.Passwords, root)
		if err != nil {
			return nil, err
		}
		env, config = append(env, e...), append(config, c...)
	}
	if g := opts.GSSAPI; g != nil {
		keytab, err := filepath.Abs(g.Keytab)
		if err == nil && !isFile(keytab) {
			err = fmt.Errorf("no keytab %q", g.Keytab)
		}
		if err != nil {
			return nil, fmt.Errorf("sshdtest: GSSAPI: %w", err)
		}
		env = append(append(env, "KRB5_KTNAME=FILE:"+keytab), g.Env...)
		config = append(config, "GSSAPIAuthentication yes", "GSSAPIStrictAcceptorCheck no")
	}
	// Later entries win; the LD_PRELOAD entries become one.
	s.env = slices.Concat(os.Environ(), joinPreloads(env), opts.Env)

	keyTypes := opts.HostKeyTypes
	if len(keyTypes) == 0 {
		keyTypes = []string{"ed25519"}
	}
	for _, typ := range keyTypes {
		path, err := s.generateHostKey(keygen, typ)
		if err != nil {
			return nil, err
		}
		if path != "" {
			config = append(config, "HostKey "+path)
		}
	}
	config = append(config, "AuthorizedKeysFile "+authPath, "StrictModes no", "UsePAM no", "PubkeyAuthentication yes",
		"PasswordAuthentication no", "KbdInteractiveAuthentication no")
	if root {
		config = append(config, "PermitRootLogin prohibit-password")
	}
	config = append(config, "LogLevel DEBUG1", "Subsystem sftp internal-sftp", "MaxSessions 1000",
		"MaxStartups 1000", "MaxAuthTries 20", "PidFile none")
	text := strings.Join(append(config, opts.Config...), "\n") + "\n"
	if err := os.WriteFile(s.ConfigPath, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("sshdtest: %w", err)
	}
	if _, err := run(s.env, "", sshdPath(), "-t", "-f", s.ConfigPath); err != nil {
		return nil, fmt.Errorf("sshdtest: sshd rejected the configuration: %w\n%s:\n%s", err, s.ConfigPath, text)
	}
	return s, nil
}

// Conn starts "sshd -i" (inetd mode) serving one connection over a Unix
// socket pair, and returns the client end, a *net.UnixConn, which the
// caller closes. sshd exits when the connection ends; Close kills it (and
// its process group) if it has not. It is [Server.Pipe] without a
// testing.TB.
func (s *Server) Conn() (net.Conn, error) {
	conn, _, err := s.conn()
	return conn, err
}

func (s *Server) conn() (net.Conn, *proc, error) {
	if err := s.sweepPAM(false); err != nil {
		return nil, nil, err
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("sshdtest: socketpair: %w", err)
	}
	client, server := os.NewFile(uintptr(fds[0]), "client"), os.NewFile(uintptr(fds[1]), "sshd")
	defer client.Close()
	defer server.Close()
	// -E /dev/stderr: the log pipe, opened by sshd once more, so that
	// the log does not reach the client through the command's stderr
	// (see docs/design.md).
	cmd := exec.Command(sshdPath(), "-i", "-f", s.ConfigPath, "-E", "/dev/stderr")
	cmd.Stdin, cmd.Stdout, cmd.Env = server, server, s.env
	p, err := s.start(cmd)
	if err != nil {
		return nil, nil, fmt.Errorf("sshdtest: starting sshd -i: %w", err)
	}
	conn, err := net.FileConn(client)
	if err != nil {
		p.stop()
		return nil, nil, fmt.Errorf("sshdtest: %w", err)
	}
	return conn, p, nil
}

// Pipe is [Server.Conn] for tests: an error fails t, and a cleanup kills
// sshd when the test ends. The caller closes the connection.
func (s *Server) Pipe(t testing.TB) net.Conn {
	t.Helper()
	conn, p, err := s.conn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop()
		if err := s.sweepPAM(false); err != nil {
			t.Error(err)
		}
	})
	return conn
}

// Addr starts "sshd -D" listening on a free port of 127.0.0.1, unless it
// is running, and returns its address "127.0.0.1:PORT". It returns once
// sshd has logged that it listens; it runs until [Server.Close], which
// also kills the sshd processes serving its connections. It is
// [Server.Listen] without a testing.TB.
func (s *Server) Addr() (string, error) {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.escaped = true // the sshd serving a connection calls setsid
	s.mu.Unlock()
	if closed {
		return "", errClosed
	}
	if err := s.sweepPAM(false); err != nil || s.addr != "" {
		return s.addr, err
	}
	port, err := s.listen("Server listening on ", func(port int) (*exec.Cmd, error) {
		cmd := exec.Command(sshdPath(), "-D", "-f", s.ConfigPath, "-E", "/dev/stderr",
			"-o", "ListenAddress=127.0.0.1:"+strconv.Itoa(port))
		cmd.Env = s.env
		return cmd, nil
	})
	if err != nil {
		return "", fmt.Errorf("sshdtest: starting sshd: %w", err)
	}
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return s.addr, nil
}

// Listen is [Server.Addr] for tests: an error fails t.
func (s *Server) Listen(t testing.TB) string {
	t.Helper()
	addr, err := s.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// Close kills every sshd process of the Server (SIGKILL, with their
// process groups) and waits until they are gone: the listening one, whose
// port then refuses connections, those serving its connections, and those
// of Conn. Connections from Conn stay open; the caller still closes them.
// Then it removes what Start made. Later calls return the first's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		errs := []error{s.close(), s.sweepPAM(true)}
		if s.ownDir {
			errs = append(errs, os.RemoveAll(s.Dir))
		}
		if s.home != "" {
			errs = append(errs, os.RemoveAll(s.home))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// HostPublicKey returns the public host key of the given type as in its
// .pub file: "ssh-ed25519 AAAA... comment". It panics if there is none.
func (s *Server) HostPublicKey(keyType string) string {
	pub, ok := s.hostPub[keyType]
	if !ok {
		panic(fmt.Sprintf("sshdtest: no host key of type %q", keyType))
	}
	return pub
}

// KnownHostsLine returns the known_hosts line "host keytype base64" for
// the host key of the given type; host is used verbatim (pass
// "[127.0.0.1]:2222" for a port other than 22).
func (s *Server) KnownHostsLine(host, keyType string) string {
	f := strings.Fields(s.HostPublicKey(keyType))
	return host + " " + f[0] + " " + f[1]
}
