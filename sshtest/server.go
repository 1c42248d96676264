package sshtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/callbacks"
)

// Options say what a Server offers. The zero value offers no way to log in:
// set at least one of AuthNone, Password, KeyboardInteractive and
// AuthorizedKeys.
type Options struct {
	// AuthNone lets every client in without credentials ("none").
	AuthNone bool
	// Password, when not empty, is accepted for any user ("password").
	Password string
	// KeyboardInteractive, when not empty, offers "keyboard-interactive":
	// each round's prompts are sent in turn, and the client is in when it
	// answered every round as expected.
	KeyboardInteractive []Round
	// AuthorizedKeys, when not empty, offers "publickey" for these keys.
	AuthorizedKeys []*libssh.PublicKey

	// Exec answers exec requests. nil runs the command with /bin/sh -c as
	// the user running the server, with the environment of the server's
	// process plus what the client's env requests set.
	Exec ExecHandler
	// Forwarding accepts direct-tcpip channels (the client's port
	// forwarding, ssh -L): the server dials the target over TCP and
	// relays. It also serves tcpip-forward (ssh -R, [libssh.Session.Listen]):
	// the server listens on 127.0.0.1, whatever address the client names,
	// and forwards each connection to the client.
	Forwarding bool

	// SFTP, when not nil, serves the "sftp" subsystem over the files of a
	// directory (see [SFTP]); nil refuses the subsystem.
	SFTP *SFTP

	// Faults change how commands end and how channels behave.
	Faults Faults

	// Channel, when not nil, is called for every session channel the
	// server accepts. The callbacks it returns are installed on the
	// channel; each field set takes over that request from the server
	// (OnExecRequest set: the server runs nothing), and the fields left
	// nil keep the server's behaviour. The callbacks run with the session
	// locked: they must not call methods of the channel other than Close
	// (hand the channel to a goroutine for that).
	Channel func(ch *libssh.Channel) *callbacks.ChannelCallbacks

	// Logger receives the server's own messages (accept and relay
	// failures); nil discards them.
	Logger *slog.Logger
}

// Round is one round of keyboard-interactive prompts. A round without
// prompts is a notice, such as a password-expiry warning: the client shows
// its name and instruction and answers with no answers.
type Round struct {
	Name, Instruction string
	Prompts           []Prompt
}

// Prompt is one keyboard-interactive prompt and the answer it expects.
type Prompt struct {
	Text   string
	Echo   bool // the client may show what is typed
	Answer string
}

// Faults make the server misbehave on purpose, in the ways a client must
// survive. They apply to every connection and channel of the server.
type Faults struct {
	// ExitStatusBeforeEOF sends a command's exit status (or signal)
	// before its EOF; the server normally sends EOF first, as sshd does.
	ExitStatusBeforeEOF bool
	// ExitSignal, when not empty ("TERM", "KILL"), is sent as the exit
	// signal of every command instead of its exit status.
	ExitSignal string
	// CloseWithoutStatus closes command channels after EOF without an
	// exit status or signal.
	CloseWithoutStatus bool
	// DropAfter, when positive, drops the connection (the TCP socket is
	// shut down, without a goodbye) once a channel's output reached this
	// many bytes. Only the first DropAfter bytes are sent.
	DropAfter int
	// ZeroWindow makes channels stop taking data: the server never reads
	// what a client sends, so the client's window runs down to zero and
	// its writes stall. libssh 0.10 cannot open a channel with a window of
	// zero: it opens with 32000 bytes and grows the window once by itself,
	// so writes stall after about 1.3 MB.
	ZeroWindow bool

	// StopReading makes the server stop reading the TCP connection once
	// the client's message at this Point has arrived: that message is
	// answered, and the server goes on sending (command output, replies
	// it owed), but nothing the client sends afterwards is read. The
	// client's kernel takes its bytes until the socket buffers are full;
	// then the client's writes block, as with a stalled link or a frozen
	// peer. A small SO_SNDBUF on the client's socket (a dialer for
	// [libssh.WithDialer]) makes that happen after a few kilobytes.
	StopReading Point
	// Blackhole makes the server go silent once the client's message at
	// this Point has arrived: it reads nothing more, and nothing it sends
	// reaches the client, not even the answer to that message. The TCP
	// connection stays open, so the client sees neither an answer nor an
	// end.
	Blackhole Point
	// Reset makes the server reset the TCP connection (SO_LINGER 0, then
	// close) when the client's message at this Point arrives, before
	// answering it.
	Reset Point

	// CloseInsteadOfReply names channel requests ("exec", "env",
	// "pty-req", "shell", "subsystem", "window-change") that the server
	// answers by closing the channel instead of replying, as some servers
	// do (paramiko's default server, for one). libssh's server API does
	// not tell which channel a request came on, so the server closes every
	// session channel of the connection that runs no command yet; open one
	// channel at a time to aim the fault.
	CloseInsteadOfReply []string
}

// Server is an SSH server listening on 127.0.0.1.
type Server struct {
	opts       Options
	ln         net.Listener
	key        *libssh.PrivateKey // the host key
	hostKey    *libssh.PublicKey
	knownHosts string            // a known_hosts file that knows the server, in a directory Close removes
	methods    libssh.AuthMethod // offered

	ctx    context.Context // ended by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	sessions map[*conn]struct{}
	sftp     *sftpRoot // Options.SFTP's disk, or nil

	accepted     atomic.Int64
	authRequests atomic.Int64
}

// NewServer starts a server on a free port of 127.0.0.1. Close it when done.
func NewServer(opts Options) (*Server, error) {
	return NewServerOn("127.0.0.1:0", opts)
}

// NewServerOn is NewServer on a given address, such as "127.0.0.1:2222".
func NewServerOn(addr string, opts Options) (*Server, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, methods: opts.methods(), sessions: map[*conn]struct{}{}}
	if opts.SFTP != nil {
		o := *opts.SFTP
		s.opts.SFTP = &o
		s.sftp = &sftpRoot{opts: s.opts.SFTP}
	}
	if s.opts.Logger == nil {
		s.opts.Logger = slog.New(slog.DiscardHandler)
	}
	var err error
	if s.key, err = libssh.GenerateKey("ssh-ed25519"); err != nil {
		return nil, fmt.Errorf("sshtest: host key: %w", err)
	}
	if s.hostKey, err = s.key.PublicKey(); err != nil {
		s.key.Close()
		return nil, fmt.Errorf("sshtest: host key: %w", err)
	}
	if s.ln, err = net.Listen("tcp", addr); err != nil {
		s.key.Close()
		return nil, fmt.Errorf("sshtest: %w", err)
	}
	if err := s.writeKnownHosts(); err != nil {
		s.ln.Close()
		s.key.Close()
		return nil, fmt.Errorf("sshtest: known_hosts file: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.goTracked(s.serve)
	return s, nil
}

func (o *Options) check() error {
	for i, k := range o.AuthorizedKeys {
		if k == nil {
			return fmt.Errorf("sshtest: authorized key %d is nil", i+1)
		}
	}
	if err := o.SFTP.check(); err != nil {
		return err
	}
	return o.Faults.check()
}

// methods returns the authentication methods the options offer.
func (o *Options) methods() libssh.AuthMethod {
	var m libssh.AuthMethod
	if o.AuthNone {
		m |= libssh.AuthMethodNone
	}
	if o.Password != "" {
		m |= libssh.AuthMethodPassword
	}
	if len(o.KeyboardInteractive) > 0 {
		m |= libssh.AuthMethodInteractive
	}
	if len(o.AuthorizedKeys) > 0 {
		m |= libssh.AuthMethodPublicKey
	}
	return m
}

// made reports whether NewServer made s. The methods of a nil or zero
// Server return zero values, and Close an error.
func (s *Server) made() bool { return s != nil && s.ln != nil }

// Addr returns the address the server listens on, "127.0.0.1:port".
func (s *Server) Addr() string {
	if !s.made() {
		return ""
	}
	return s.ln.Addr().String()
}

// Host returns the host the server listens on, "127.0.0.1".
func (s *Server) Host() string {
	if !s.made() {
		return ""
	}
	return s.ln.Addr().(*net.TCPAddr).IP.String()
}

// Port returns the port the server listens on.
func (s *Server) Port() int {
	if !s.made() {
		return 0
	}
	return s.ln.Addr().(*net.TCPAddr).Port
}

// HostKey returns the server's host key (an ed25519 key made for this
// server alone).
func (s *Server) HostKey() *libssh.PublicKey {
	if !s.made() {
		return nil
	}
	return s.hostKey
}

// KnownHostsLine returns the line a known_hosts file needs to know the
// server: "[127.0.0.1]:port ssh-ed25519 AAAA...".
func (s *Server) KnownHostsLine() string {
	if !s.made() {
		return ""
	}
	return "[" + s.Host() + "]:" + strconv.Itoa(s.Port()) + " " + s.hostKey.String()
}

// KnownHostsFile returns the path of a known_hosts file that holds
// [Server.KnownHostsLine] alone, for [libssh.WithKnownHosts]: with it,
// [libssh.Session.VerifyHost] accepts the server. Close removes it.
func (s *Server) KnownHostsFile() string {
	if !s.made() {
		return ""
	}
	return s.knownHosts
}

func (s *Server) writeKnownHosts() error {
	dir, err := os.MkdirTemp("", "sshtest-")
	if err != nil {
		return err
	}
	s.knownHosts = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(s.knownHosts, []byte(s.KnownHostsLine()+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return err
	}
	return nil
}

// Accepted returns how many connections the server has accepted so far.
func (s *Server) Accepted() int {
	if !s.made() {
		return 0
	}
	return int(s.accepted.Load())
}

// AuthRequests returns how many authentication requests the server has
// received so far, over all its connections: every method, "none"
// included, and each keyboard-interactive response. A test can check with
// it that a client sent no credentials. The server counts a request before
// it answers it, so once a client has the answer to a request, the count
// includes that request and every earlier one of the connection.
func (s *Server) AuthRequests() int {
	if !s.made() {
		return 0
	}
	return int(s.authRequests.Load())
}

// Close stops the server: it stops listening, closes every connection
// (which ends their commands and relays), removes the known_hosts file of
// [Server.KnownHostsFile] and returns once everything the server started
// has ended. It is idempotent.
func (s *Server) Close() error {
	if !s.made() {
		return errors.New("sshtest: Close of a nil or zero Server (not made by NewServer)")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*conn, 0, len(s.sessions))
	for c := range s.sessions {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel()
	s.ln.Close()
	for _, c := range conns {
		c.close()
	}
	s.wg.Wait()
	s.key.Close()
	return os.RemoveAll(filepath.Dir(s.knownHosts))
}

// serve accepts connections until Close.
func (s *Server) serve() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() == nil {
				s.opts.Logger.Error("sshtest: accept", "err", err)
			}
			return
		}
		s.accepted.Add(1)
		s.goTracked(func() { s.handshake(nc) })
	}
}

// handshake runs the key exchange on nc and registers the connection.
func (s *Server) handshake(nc net.Conn) {
	c := &conn{srv: s, raw: nc, round: -1, ready: make(chan struct{})}
	served := nc
	if tcp, ok := nc.(*net.TCPConn); ok && s.opts.Faults.onConn() {
		c.fc = newFaultConn(tcp)
		served = c.fc
	}
	sess, err := libssh.AcceptSession(s.ctx, served, []*libssh.PrivateKey{s.key}, c.handle)
	if err != nil {
		close(c.ready)
		// The handler may have forwarded a port before the handshake
		// failed (a client gone, or Close): stop it, or its accept loop
		// would hold Close for ever.
		c.close()
		if s.ctx.Err() == nil {
			s.opts.Logger.Info("sshtest: handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
		}
		return
	}
	c.mu.Lock()
	c.sess = sess
	c.mu.Unlock()
	close(c.ready)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.close() // the session, and the ports it may have had forwarded already
		return
	}
	s.sessions[c] = struct{}{}
	s.mu.Unlock()
	// Serve until the client leaves or Close closes the session.
	for sess.Wait(context.Background()) == nil {
	}
	s.mu.Lock()
	delete(s.sessions, c)
	s.mu.Unlock()
	c.close()
}

// goTracked runs f in a goroutine that Close waits for. Call it before
// Close can run (in NewServerOn), or from a goroutine Close waits for
// already, so that Close's Wait never sees the count rise from zero.
func (s *Server) goTracked(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}
