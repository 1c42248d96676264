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
	algorithms       [numAlgoKinds][]string // nil: libssh's default list
	keepalive        time.Duration          // 0: no keepalives
	keepaliveMax     int                    // keepalives unanswered before the session ends
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
// ~/.ssh/known_hosts).
func WithKnownHosts(path string) Option {
	return func(c *config) error { return stringOption("known_hosts path", &c.knownHosts, path)(c) }
}

// WithGlobalKnownHosts sets the system-wide known_hosts file, consulted after
// the user's (default /etc/ssh/ssh_known_hosts).
func WithGlobalKnownHosts(path string) Option {
	return func(c *config) error { return stringOption("global known_hosts path", &c.globalKnownHosts, path)(c) }
}

// WithSSHDir sets the directory that stands for %d in libssh's paths, where
// the default identity files and known_hosts live (default ~/.ssh).
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

// WithProcessConfig sets whether libssh reads ~/.ssh/config and
// /etc/ssh/ssh_config for this host (default false). Options given to
// NewSession override the files. Even with it on, host key checking stays
// strict, and ProxyCommand/ProxyJump are ignored (the connection is made by
// Go: use [WithConn] or [WithDialer] for proxies).
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
