package libssh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// An Option configures a [Session] made by [NewSession].
type Option func(*config) error

// config is what the options set.
type config struct {
	port             int // 0: libssh's default (22) or ssh_config's
	user             *string
	conn             net.Conn
	dial             func(ctx context.Context, network, addr string) (net.Conn, error)
	autoConnect      bool
	knownHosts       *string
	globalKnownHosts *string
	sshDir           *string
	agentSocket      *string
	logger           *slog.Logger
	verbosity        int // -1: not set
	processConfig    bool
	gssapiServer     *string
	gssapiClient     *string
	gssapiDelegate   *bool
	connectTimeout   time.Duration
	auth             *AuthOptions // WithAuth: what Dial and ProxyJump hops log in with
	proxyCommand     bool         // WithProxyCommand: run ssh_config's ProxyCommand
	// keepalive and keepaliveMax: send a keepalive after this much
	// silence, give up after keepaliveMax unanswered (0: off); set by
	// ssh_config's ServerAliveInterval and ServerAliveCountMax.
	keepalive    time.Duration
	keepaliveMax int
	// keepaliveFromConfig: ssh_config set keepalive, not an option.
	keepaliveFromConfig bool
	// ssh_config's CertificateFile and IdentityFile lines, expanded
	// (sshconfig.go), which Authenticate pairs.
	configCerts, configIdentities []string
	// Internal, for ProxyJump hops: jumpDepth counts the jump chains this
	// session is a hop of (a loop in ssh_config ends there), and viaJump
	// says that dial reaches it through the previous hop, so that its own
	// ssh_config's ProxyJump or ProxyCommand does not apply (as with
	// OpenSSH's ssh -J).
	jumpDepth int
	viaJump   bool

	// The host key policy (hostkey.go): at most one option sets it.
	hostKeyPolicy   string // the option that set it, "" for the default (known_hosts)
	hostKeyCallback func(host string, key *PublicKey) error
	insecureHostKey bool

	algorithms [numAlgoKinds][]string // nil: libssh's default list

	maxWindow int // WithMaxWindow; 0: DefaultMaxWindow
}

func defaultConfig() config {
	return config{autoConnect: true, verbosity: -1}
}

func stringOption(name string, dst **string, v string) Option {
	return func(c *config) error {
		if err := checkString(name, v); err != nil {
			return err
		}
		*dst = &v
		return nil
	}
}

// WithPort sets the server's TCP port (default 22, or what ssh_config says
// when [WithProcessConfig] is on).
func WithPort(port int) Option {
	return func(c *config) error {
		if port < 1 || port > 65535 {
			return fmt.Errorf("libssh: port %d is out of range 1-65535", port)
		}
		c.port = port
		return nil
	}
}

// WithUser sets the user to log in as (default: the local user).
func WithUser(user string) Option {
	return func(c *config) error {
		if user == "" {
			return errors.New("libssh: empty user name")
		}
		if err := checkString("user name", user); err != nil {
			return err
		}
		c.user = &user
		return nil
	}
}

// WithConn makes the session run over conn instead of dialling the host. The
// session owns conn from then on and closes it when it closes. A *net.TCPConn
// or *net.UnixConn is handed to libssh directly; any other net.Conn (a TLS
// connection, a channel of another SSH session for a jump host) is relayed
// through a socket pair. The host name still names the server in
// known_hosts.
func WithConn(conn net.Conn) Option {
	return func(c *config) error {
		if conn == nil {
			return errors.New("libssh: WithConn(nil)")
		}
		c.conn = conn
		return nil
	}
}

// WithDialer makes the session dial with dial instead of a [net.Dialer],
// for example to go through a proxy. It receives "tcp" and "host:port".
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(c *config) error {
		if dial == nil {
			return errors.New("libssh: WithDialer(nil)")
		}
		c.dial = dial
		return nil
	}
}

// WithAutoConnect sets whether [NewSession] connects (default true). With
// false, call [Session.Connect].
func WithAutoConnect(connect bool) Option {
	return func(c *config) error { c.autoConnect = connect; return nil }
}

// WithKnownHosts sets the user's known_hosts file (default
// ~/.ssh/known_hosts), which the default host key policy reads (see
// [Session.VerifyHost]) and [Session.UpdateKnownHosts] writes.
func WithKnownHosts(path string) Option {
	return func(c *config) error { return stringOption("known_hosts path", &c.knownHosts, path)(c) }
}

// WithGlobalKnownHosts sets the system-wide known_hosts file, consulted after
// the user's by the default host key policy (default
// /etc/ssh/ssh_known_hosts).
func WithGlobalKnownHosts(path string) Option {
	return func(c *config) error { return stringOption("global known_hosts path", &c.globalKnownHosts, path)(c) }
}

// setHostKeyPolicy records the host key policy option name; a session has
// one policy, so a second option is an error.
func (c *config) setHostKeyPolicy(name string) error {
	if c.hostKeyPolicy != "" {
		if c.hostKeyPolicy == name {
			return fmt.Errorf("libssh: %s given twice", name)
		}
		return fmt.Errorf("libssh: %s and %s both given: a session has one host key policy", c.hostKeyPolicy, name)
	}
	c.hostKeyPolicy = name
	return nil
}

// WithHostKeyCallback makes callback the session's host key policy in
// place of known_hosts (see "Host keys" in the package documentation).
// [Session.Connect], and so [NewSession], calls it right after the key
// exchange with the server's address, "host:port" as [net.JoinHostPort]
// makes it, and the key the server proved it holds. When it returns an
// error, Connect closes the connection and returns an error that wraps
// it, and nothing has been sent to the server but the key exchange; when
// it returns nil, the key is accepted for the connection and the Userauth
// methods may send credentials. [Session.VerifyHost] then returns nil
// for that key without calling callback again.
//
// callback runs on a goroutine of its own, with no lock held; it may block
// (to ask a person, or a database). The call waiting for its verdict
// (Connect, [Session.Authenticate], [Session.VerifyHostContext]) waits no
// longer than its context or the session (Close, Disconnect, a lost
// connection), and VerifyHost, which has no context, as long as the
// session lasts: when the
// context ends first, the call returns an error that wraps the context's
// (errors.Is(err, context.DeadlineExceeded), say), the key is not accepted
// and nothing is sent; Connect then closes the connection, as for a
// refusal. The callback itself is not interrupted, and its answer, when it
// comes, counts only if a call still waits for it. Calls that need a
// verdict on the key while the callback runs wait for that run: the
// callback runs once per key and connection, however many goroutines ask.
// A panic in callback refuses the key, with an error that wraps a
// [*callbacks.PanicError].
//
// callback must not use the Session: its methods other than the cached
// facts (Host, User, Port, KnownHostsPath, String, IsOpen, IsConnected)
// return [ErrInCallback] there. It cannot be given with
// [InsecureIgnoreHostKey].
func WithHostKeyCallback(callback func(host string, key *PublicKey) error) Option {
	return func(c *config) error {
		if callback == nil {
			return errors.New("libssh: WithHostKeyCallback(nil)")
		}
		if err := c.setHostKeyPolicy("WithHostKeyCallback"); err != nil {
			return err
		}
		c.hostKeyCallback = callback
		return nil
	}
}

// InsecureIgnoreHostKey makes the session accept any host key: Connect
// accepts the server's key, whichever it is, and [Session.VerifyHost]
// returns nil. Anyone who can intercept the connection then receives the
// credentials and sees and changes everything the session does. It is for
// tests and benchmarks against throwaway servers, and says so in the code
// that uses it. It cannot be given with [WithHostKeyCallback].
func InsecureIgnoreHostKey() Option {
	return func(c *config) error {
		if err := c.setHostKeyPolicy("InsecureIgnoreHostKey"); err != nil {
			return err
		}
		c.insecureHostKey = true
		return nil
	}
}

// WithSSHDir sets the directory that stands for %d in libssh's paths, where
// the default identity files and known_hosts live (default ~/.ssh). A
// leading "~user" stands for that user's home directory, as in OpenSSH;
// NewSession fails when there is no such user.
func WithSSHDir(dir string) Option {
	return func(c *config) error { return stringOption("ssh directory", &c.sshDir, dir)(c) }
}

// WithAgentSocket sets the SSH agent's socket for [Session.UserauthAgent]
// and [Session.UserauthPublicKeyAuto] (default: $SSH_AUTH_SOCK). Prefer it to
// setting the environment variable, which is shared by the whole process.
func WithAgentSocket(path string) Option {
	return func(c *config) error { return stringOption("agent socket path", &c.agentSocket, path)(c) }
}

// WithLogger sends libssh's log to logger. Without [WithLogVerbosity] it logs
// warnings only.
func WithLogger(logger *slog.Logger) Option {
	return func(c *config) error { c.logger = logger; return nil }
}

// The libssh log verbosities for [WithLogVerbosity], and the slog level each
// is logged at.
const (
	LogNone      = 0 // nothing
	LogWarning   = 1 // slog.LevelWarn
	LogProtocol  = 2 // slog.LevelInfo: connections, authentication, channels
	LogPacket    = 3 // slog.LevelDebug: every packet
	LogFunctions = 4 // slog.LevelDebug-4: function calls
)

// WithLogVerbosity sets how much libssh logs (LogNone to LogFunctions). The
// log goes to the [WithLogger] logger, or to slog.Default().
func WithLogVerbosity(level int) Option {
	return func(c *config) error {
		if level < LogNone || level > LogFunctions {
			return fmt.Errorf("libssh: log verbosity %d is out of range 0-4", level)
		}
		c.verbosity = level
		return nil
	}
}

// WithProcessConfig sets whether libssh reads ssh_config for this host
// (default false): the file "config" of the ssh directory ([WithSSHDir],
// default ~/.ssh), then /etc/ssh/ssh_config. Options given to NewSession
// override the files. Even with it on, host key checking stays as strict
// as the options make it (StrictHostKeyChecking is ignored).
//
// Besides what libssh applies itself (HostName, User, Port,
// IdentityFile, the algorithm lists and the rest of what libssh 0.10
// supports), the session honours:
//
//   - ProxyJump, done in Go: each hop (one or many, "[user@]host[:port]",
//     in the order written) is a session of its own, with its own ssh_config
//     resolution, the same host-key policy options as the session (known
//     hosts files and the like) and the same login inputs except secrets
//     typed for the server ([WithAuth]'s keys, agent and GSSAPI, not its
//     Password or keyboard-interactive answers; by default the agent and
//     the default identity files, as [Dial]); the
//     next hop, and finally the server, is reached through the previous
//     hop's [Session.DialContext]. A hop logs in as the user of its entry,
//     else of its own ssh_config, else the local user (not [WithUser]'s),
//     as ssh does. A [WithDialer] dialer dials the first hop. The hops
//     close when the session closes, after it. A ProxyJump of the first
//     hop's own config is followed too, as ssh does (the later hops are
//     reached through the hop before); nesting deeper than 8 chains, or a
//     host jumping through itself, is an error.
//   - ProxyCommand is refused (NewSession fails and says so) unless
//     [WithProxyCommand](true) lets it run.
//   - ServerAliveInterval and ServerAliveCountMax (which libssh 0.10
//     ignores) are read by the package itself for the host (see below)
//     and turn the keepalive on.
//   - CertificateFile (which libssh 0.10 ignores) is read by the package
//     too, every line, with ~ and the tokens %d %u %h %r %l %% expanded:
//     [Session.Authenticate] and [Dial] offer each certificate with the
//     key it certifies (see [AuthOptions]).
//
// With [WithConn] the connection is given, so ProxyJump and ProxyCommand
// do not apply. The session never connects directly when ssh_config says
// to go through a proxy.
//
// The package reads ServerAliveInterval, ServerAliveCountMax,
// CertificateFile and IdentityFile from the
// same two files with OpenSSH's rules (the first value wins, but every
// CertificateFile and IdentityFile line counts; Host
// patterns with * ? and !; Include), matching Host against the name given
// to NewSession; of Match blocks it understands "Match all" and "Match
// host"/"originalhost" patterns, and the lines of other Match blocks do not
// set these keywords.
func WithProcessConfig(process bool) Option {
	return func(c *config) error { c.processConfig = process; return nil }
}

// WithGSSAPIServerIdentity sets the server's GSSAPI identity: the service
// principal becomes host@identity instead of host@<host>. Needed when the host
// is an IP address.
func WithGSSAPIServerIdentity(identity string) Option {
	return func(c *config) error { return stringOption("GSSAPI server identity", &c.gssapiServer, identity)(c) }
}

// WithGSSAPIClientIdentity sets the client principal to acquire credentials
// for (default: the credential cache's default principal).
func WithGSSAPIClientIdentity(identity string) Option {
	return func(c *config) error { return stringOption("GSSAPI client identity", &c.gssapiClient, identity)(c) }
}

// WithGSSAPIDelegateCredentials sets whether GSSAPI authentication forwards
// (delegates) the client's Kerberos credentials to the server.
func WithGSSAPIDelegateCredentials(delegate bool) Option {
	return func(c *config) error { c.gssapiDelegate = &delegate; return nil }
}

// WithConnectTimeout bounds connecting (dialling, key exchange) to d, on top
// of the context's own deadline.
func WithConnectTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("libssh: connect timeout %v is not positive", d)
		}
		c.connectTimeout = d
		return nil
	}
}

// WithAuth sets what [Dial] logs in with, and what the ProxyJump hops of
// any session (see [WithProcessConfig]) log in with; the hops get its keys,
// agent and GSSAPI but never its Password, KbdintAnswers or Kbdint, which
// are the server's secrets, not a jump host's. Without it they offer
// the SSH agent ([WithAgentSocket] or $SSH_AUTH_SOCK) and then the default
// identity files of the ssh directory: AuthOptions{DefaultKeys: true}.
// [NewSession] itself does not log in.
func WithAuth(opts AuthOptions) Option {
	return func(c *config) error {
		opts.PrivateKeyFiles = append([]string(nil), opts.PrivateKeyFiles...)
		opts.CertificateFiles = append([]string(nil), opts.CertificateFiles...)
		opts.KbdintAnswers = append([]string(nil), opts.KbdintAnswers...)
		c.auth = &opts
		return nil
	}
}

// WithProxyCommand sets whether a ProxyCommand of ssh_config (with
// [WithProcessConfig]) is run (default false: the session refuses to
// connect). The command runs as OpenSSH runs it, "/bin/sh -c 'exec
// COMMAND'", with %h (the host name after ssh_config's HostName), %p (the
// port), %r (the user), %n (the host name as given) and %% expanded; its
// standard input and output are the connection (one end of a Unix socket
// pair), its standard error is kept for the error message when connecting
// fails, and it runs in a process group of its own, killed when the
// session closes. A [WithDialer] dialer is not used then.
func WithProxyCommand(run bool) Option {
	return func(c *config) error { c.proxyCommand = run; return nil }
}

// WithKeepalive makes the session check that the server is alive, as
// OpenSSH's ServerAliveInterval and ServerAliveCountMax do: once the
// session is authenticated, whenever interval passes without any input
// from the server, the session sends it a keepalive@openssh.com request
// that wants a reply (OpenSSH's sshd answers it). Any input counts as an
// answer. When maxMissed keepalives in a row went unanswered and one more
// interval passes in silence, the session ends with an error matching
// [ErrPeerUnresponsive]: every call waiting on it returns that error at
// once (a blocked [Channel.Read] among them), [Session.IsConnected] turns
// false, [Session.Done] is closed and the connection is shut down. A
// server that stopped answering is so found (maxMissed+1)×interval after
// its last message, or up to one interval later.
//
// With maxMissed 0 the session ends after one interval of silence,
// without sending anything. An interval of 0 turns keepalives off (the
// default). A session with keepalives off runs no timer; with them on, a
// timer fires once per interval and takes no goroutine between firings.
//
// Uses ssh_send_keepalive.
func WithKeepalive(interval time.Duration, maxMissed int) Option {
	return func(c *config) error {
		if interval < 0 {
			return fmt.Errorf("libssh: keepalive interval %v is negative", interval)
		}
		if maxMissed < 0 {
			return fmt.Errorf("libssh: keepalive count %d is negative", maxMissed)
		}
		c.keepalive, c.keepaliveMax = interval, maxMissed
		return nil
	}
}
