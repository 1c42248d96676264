package sftp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"sync"
	"time"

	"github.com/golibssh/libssh"
	pkgsftp "github.com/pkg/sftp"
)

// Defaults of the options.
const (
	// DefaultMaxConcurrency is the most read requests of DefaultPacketSize
	// a transfer keeps in flight per file when [WithConcurrency] does not
	// say (writes: 64). NewClient times two requests (the limits request
	// when the server has it, SSH_FXP_REALPATH) and keeps enough in flight
	// to carry 200 MB/s over that round-trip time, at least 16 reads and 8
	// writes. Writes stay at 48 (1.5 MiB) under 20 ms: against OpenSSH's
	// sftp-server, whose channel window is 2 MiB, more writes in flight than
	// that slowed uploads down (see docs/design.md, "SFTP"). With OpenSSH's
	// larger requests ([OpenSSHPacketSize]) it keeps at least 4 reads and 1
	// write, at most 64 reads and 16 writes.
	DefaultMaxConcurrency = 128
	// DefaultPacketSize is the size of each read and write request: 32 KiB,
	// which every server takes (the protocol's minimum maximum), unless
	// the server is OpenSSH's (see [OpenSSHPacketSize]).
	DefaultPacketSize = 32 << 10
	// OpenSSHPacketSize is the largest request the client makes unless
	// [WithPacketSize] says otherwise: the size of each read and write
	// when the server announces the "limits@openssh.com" extension with
	// at least that much, as OpenSSH's sftp-server (8.7 and later) does
	// (256 KiB less 1 KiB, which OpenSSH's sftp uses too; a server with
	// lower limits gets requests of its limits). Fewer, larger requests
	// cost the client, sshd and sftp-server less per byte.
	OpenSSHPacketSize = 255 << 10
)

// Option configures a Client.
type Option func(*config) error

type config struct {
	concurrency int // 0: from the round-trip time
	packet      int // 0: from the server's extensions
	window      int
	raw         []pkgsftp.ClientOption
}

// WithConcurrency sets how many read or write requests a transfer keeps in
// flight per file (at least 1); by default the client picks them (see
// [DefaultMaxConcurrency]).
func WithConcurrency(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("sftp: concurrency %d is less than 1", n)
		}
		c.concurrency = n
		return nil
	}
}

// WithPacketSize sets the size of each read and write request. The
// default is the largest read and write the server announces with the
// "limits@openssh.com" extension, at most [OpenSSHPacketSize] (OpenSSH's
// sftp-server announces 255 KiB), and [DefaultPacketSize] with a server
// that announces none. A size over the announced limits is lowered to
// them. With a server that announces none, a size over 32 KiB is not
// checked: one that answers reads with less than asked (pkg/sftp's server
// and sshtest's send at most 32 KiB) makes File.WriteTo stop early, as
// pkg/sftp takes a short read for the end of the file; [Download] then
// fails, as the size it copied is not the file's.
func WithPacketSize(bytes int) Option {
	return func(c *config) error {
		if bytes < 512 || bytes > 1<<20 {
			return fmt.Errorf("sftp: packet size %d is out of range 512-1048576", bytes)
		}
		c.packet = bytes
		return nil
	}
}

// WithMaxWindow sets the cap of the subsystem channel's receive window
// ([libssh.Channel.SetMaxWindow]); the default is the session's
// ([libssh.WithMaxWindow]).
func WithMaxWindow(bytes int) Option {
	return func(c *config) error {
		c.window = bytes
		return nil
	}
}

// WithClientOptions passes options to pkg/sftp's client as they are, after
// the ones this package sets.
func WithClientOptions(opts ...pkgsftp.ClientOption) Option {
	return func(c *config) error {
		c.raw = append(c.raw, opts...)
		return nil
	}
}

// Client is an SFTP client on a channel of a session: the os-like calls
// on the files of the server. Its methods may be called from several
// goroutines at once.
//
// A call waits for the server's answer; it ends early, with an error
// matching [ErrClosed], when the client or its session is closed, or the
// server ends the subsystem. SFTP cannot withdraw a request in flight, so
// the calls take no context: [Client.Close] (or the session's Close) ends
// them all, and [Upload] and [Download] take one.
type Client struct {
	ch        *libssh.Channel
	c         *pkgsftp.Client
	reads     int // read requests in flight per file
	writes    int // write requests in flight per file
	closeOnce sync.Once
	closeErr  error

	s   *libssh.Session
	cfg config        // as NewClient settled it (for siblings)
	rtt time.Duration // a request's round trip at NewClient (0: not timed)
}

// afterDone runs f once ctx is done, as context.AfterFunc does; the stop
// it returns reports false when f was started, after f has returned, so
// that no goroutine outlives the call that gave up.
func afterDone(ctx context.Context, f func()) (stop func() bool) {
	done := make(chan struct{})
	stopFunc := context.AfterFunc(ctx, func() {
		defer close(done)
		f()
	})
	return func() bool {
		if stopFunc() {
			return true
		}
		<-done // f closes the channel or the client: it returns promptly
		return false
	}
}

// NewClient opens a channel on s, starts the "sftp" subsystem on it and
// returns a client once the server has answered the SFTP handshake and,
// when it announces them, the request for its limits (and, unless
// [WithConcurrency] says, a second request it times to choose how many to
// keep in flight); ctx bounds these steps. The session must be
// authenticated. A server that
// refuses the subsystem gives an error matching [libssh.ErrRequestDenied].
// Close the client when done; closing the session ends it too.
func NewClient(ctx context.Context, s *libssh.Session, opts ...Option) (*Client, error) {
	if ctx == nil {
		return nil, errors.New("sftp: nil context given to NewClient")
	}
	var cfg config
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	ch, err := openSubsystem(ctx, s, cfg.window)
	if err != nil {
		return nil, err
	}
	// The handshake has no context: ctx ending closes the channel, which
	// ends it. The version exchange (and the limits request) is done here,
	// then pkg/sftp is handed the server's VERSION.
	stop := afterDone(ctx, func() { ch.Close() })
	w := newWriter(ch)
	r := newReader(ch)
	h, err := sayHello(r, w)
	var c *pkgsftp.Client
	if err == nil {
		switch {
		case h.limits && (cfg.packet == 0 || cfg.packet > h.packetFor()):
			// Never more than the server serves: a short answer to a
			// read would end a download early, silently.
			cfg.packet = h.packetFor()
		case cfg.packet == 0:
			cfg.packet = DefaultPacketSize
		}
		copts := []pkgsftp.ClientOption{
			pkgsftp.MaxConcurrentRequestsPerFile(max(cfg.concurrency, 1)),
			pkgsftp.UseConcurrentReads(true),
			pkgsftp.UseConcurrentWrites(true),
			pkgsftp.UseFstat(true),
		}
		if cfg.packet > DefaultPacketSize {
			copts = append(copts, pkgsftp.MaxPacketUnchecked(cfg.packet))
		} else {
			copts = append(copts, pkgsftp.MaxPacketChecked(cfg.packet))
		}
		copts = append(copts, cfg.raw...)
		c, err = pkgsftp.NewClientPipe(replayReader(h.version, r), &initSwallower{w: w}, copts...)
	}
	if !stop() {
		if c != nil {
			c.Close()
		}
		w.Close()
		return nil, fmt.Errorf("sftp: handshake: %w", ctx.Err())
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sftp: handshake: %w", mapErr(err))
	}
	rtt, reads := h.rtt, max(cfg.concurrency, 1)
	if cfg.concurrency == 0 {
		// The best of two round trips of requests the server answers at
		// once: the limits request, if made, and SSH_FXP_REALPATH of ".".
		stop := afterDone(ctx, func() { c.Close() })
		rounds := 2
		rtt = time.Duration(math.MaxInt64)
		if h.rtt > 0 {
			rtt, rounds = h.rtt, 1 // the limits request was one
		}
		for range rounds {
			start := time.Now()
			if _, err = c.Getwd(); err != nil {
				break
			}
			rtt = min(rtt, time.Since(start))
		}
		if !stop() {
			err = ctx.Err()
		}
		if err != nil {
			c.Close()
			w.Close()
			return nil, fmt.Errorf("sftp: handshake: %w", mapErr(err))
		}
		var writes int
		reads, writes = concurrencyFor(rtt, cfg.packet)
		pkgsftp.MaxConcurrentRequestsPerFile(reads)(c)
		cfg.concurrency = writes
	}
	return &Client{ch: ch, c: c, reads: reads, writes: cfg.concurrency, s: s, cfg: cfg, rtt: rtt}, nil
}

// openSubsystem opens a channel on s running the "sftp" subsystem, with
// its window capped at window bytes (0: the session's cap).
func openSubsystem(ctx context.Context, s *libssh.Session, window int) (*libssh.Channel, error) {
	ch, err := s.NewChannel()
	if err != nil {
		return nil, fmt.Errorf("sftp: %w", err)
	}
	if window != 0 {
		if err := ch.SetMaxWindow(window); err != nil {
			ch.Close()
			return nil, fmt.Errorf("sftp: %w", err)
		}
	}
	if err := ch.OpenSession(ctx); err != nil {
		ch.Close()
		return nil, fmt.Errorf("sftp: open channel: %w", err)
	}
	if err := ch.RequestSubsystem(ctx, "sftp"); err != nil {
		ch.Close()
		return nil, fmt.Errorf("sftp: the server has no sftp subsystem: %w", err)
	}
	return ch, nil
}

// sibling opens another client on c's session with c's settings (its
// packet size and writes in flight, no round-trip timing): a channel of
// its own, with its own windows, for a part of a parallel upload.
func (c *Client) sibling(ctx context.Context) (*Client, error) {
	opts := []Option{WithPacketSize(c.cfg.packet), WithConcurrency(c.writes), WithClientOptions(c.cfg.raw...)}
	if c.cfg.window != 0 {
		opts = append(opts, WithMaxWindow(c.cfg.window))
	}
	return NewClient(ctx, c.s, opts...)
}

// concurrencyFor returns the read and write requests of packet bytes to
// keep in flight over a link with this round-trip time: what carries 200
// MB/s over it, and a base for the server's own delays.
func concurrencyFor(rtt time.Duration, packet int) (reads, writes int) {
	const rate = 200e6 // bytes per second
	n := int(rtt.Seconds() * rate / float64(packet))
	if packet >= OpenSSHPacketSize {
		// Reads for twice the rate; on a short link few requests of
		// either kind, as more only wait in sshd (docs/design.md, "SFTP").
		return min(4+2*n, 64), min(1+n, 16)
	}
	maxWrites := 64
	if rtt < 20*time.Millisecond {
		maxWrites = 48
	}
	return min(16+n, DefaultMaxConcurrency), min(8+n, maxWrites)
}

func (c *Client) made() error {
	if c == nil || c.c == nil {
		return errors.New("sftp: nil or zero Client (not made by NewClient)")
	}
	return nil
}

// Close ends the subsystem and closes its channel; calls waiting for the
// server return an error matching [ErrClosed]. It is idempotent.
func (c *Client) Close() error {
	if err := c.made(); err != nil {
		return err
	}
	c.closeOnce.Do(func() {
		// The channel first: it ends a write blocked on the window, which
		// holds the lock pkg/sftp's Close takes.
		c.ch.Close()
		if err := c.c.Close(); err != nil && !errors.Is(err, libssh.ErrClosed) {
			c.closeErr = err
		}
	})
	return c.closeErr
}

// Raw returns the pkg/sftp client underneath, for what this package does
// not wrap (its errors are pkg/sftp's).
func (c *Client) Raw() *pkgsftp.Client {
	if c == nil {
		return nil
	}
	return c.c
}

// HasExtension reports whether the server announced an SFTP extension,
// such as "posix-rename@openssh.com" or "statvfs@openssh.com", and its
// version.
func (c *Client) HasExtension(name string) (version string, ok bool) {
	if c.made() != nil {
		return "", false
	}
	return c.c.HasExtension(name)
}

// Getwd returns the server's idea of the current directory, where relative
// paths start: usually the user's home.
func (c *Client) Getwd() (string, error) {
	if err := c.made(); err != nil {
		return "", err
	}
	dir, err := c.c.Getwd()
	return dir, pathErr("getwd", ".", err)
}

// Stat returns the attributes of the file at p, following symbolic links.
func (c *Client) Stat(p string) (fs.FileInfo, error) {
	if err := c.made(); err != nil {
		return nil, err
	}
	fi, err := c.c.Stat(p)
	if err != nil {
		return nil, pathErr("stat", p, err)
	}
	return fi, nil
}

// Lstat is Stat that describes a symbolic link itself.
func (c *Client) Lstat(p string) (fs.FileInfo, error) {
	if err := c.made(); err != nil {
		return nil, err
	}
	fi, err := c.c.Lstat(p)
	if err != nil {
		return nil, pathErr("lstat", p, err)
	}
	return fi, nil
}

// ReadDir returns the entries of the directory p sorted by name.
func (c *Client) ReadDir(p string) ([]fs.DirEntry, error) {
	if err := c.made(); err != nil {
		return nil, err
	}
	infos, err := c.c.ReadDir(p)
	if err != nil {
		return nil, pathErr("readdir", p, err)
	}
	entries := make([]fs.DirEntry, 0, len(infos))
	for _, fi := range infos {
		if n := fi.Name(); n == "." || n == ".." {
			continue
		}
		entries = append(entries, fs.FileInfoToDirEntry(fi))
	}
	sortEntries(entries)
	return entries, nil
}

// Mkdir makes the directory p (mode 0777 less the server's umask). It
// fails with an error matching fs.ErrExist when p exists.
func (c *Client) Mkdir(p string) error {
	if err := c.made(); err != nil {
		return err
	}
	err := pathErr("mkdir", p, c.c.Mkdir(p))
	if c.failedOnExisting(p, err) {
		return existErr(err)
	}
	return err
}

// failedOnExisting reports whether err is SSH_FX_FAILURE and p exists: the
// only way SFTP version 3 says that a path exists.
func (c *Client) failedOnExisting(p string, err error) bool {
	var se *StatusError
	if !errors.As(err, &se) || se.Status == nil || se.Status.FxCode() != pkgsftp.ErrSSHFxFailure {
		return false
	}
	_, lerr := c.c.Lstat(p)
	return lerr == nil
}

// MkdirAll makes the directory p and its missing parents; it does nothing
// when p is a directory already.
func (c *Client) MkdirAll(p string) error {
	if err := c.made(); err != nil {
		return err
	}
	return pathErr("mkdir", p, c.c.MkdirAll(p))
}

// Remove removes the file or empty directory p.
func (c *Client) Remove(p string) error {
	if err := c.made(); err != nil {
		return err
	}
	return pathErr("remove", p, c.c.Remove(p))
}

// RemoveAll removes p and everything under it; it does nothing when p does
// not exist.
func (c *Client) RemoveAll(p string) error {
	if err := c.made(); err != nil {
		return err
	}
	if _, err := c.c.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return pathErr("removeall", p, c.c.RemoveAll(p))
}

// Rename renames oldname to newname. With the server's
// "posix-rename@openssh.com" extension it replaces newname atomically, as
// os.Rename does; without it, SFTP's rename fails when newname exists.
func (c *Client) Rename(oldname, newname string) error {
	if err := c.made(); err != nil {
		return err
	}
	var err error
	if _, ok := c.c.HasExtension("posix-rename@openssh.com"); ok {
		err = c.c.PosixRename(oldname, newname)
	} else {
		err = c.c.Rename(oldname, newname)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: mapErr(err)}
	}
	return nil
}

// Chmod sets the permission bits of p.
func (c *Client) Chmod(p string, mode fs.FileMode) error {
	if err := c.made(); err != nil {
		return err
	}
	return pathErr("chmod", p, c.c.Chmod(p, mode))
}

// Chtimes sets the access and modification times of p (SFTP keeps whole
// seconds).
func (c *Client) Chtimes(p string, atime, mtime time.Time) error {
	if err := c.made(); err != nil {
		return err
	}
	return pathErr("chtimes", p, c.c.Chtimes(p, atime, mtime))
}

// Symlink makes newname a symbolic link to oldname.
func (c *Client) Symlink(oldname, newname string) error {
	if err := c.made(); err != nil {
		return err
	}
	if err := c.c.Symlink(oldname, newname); err != nil {
		return &os.LinkError{Op: "symlink", Old: oldname, New: newname, Err: mapErr(err)}
	}
	return nil
}

// ReadLink returns the target of the symbolic link p.
func (c *Client) ReadLink(p string) (string, error) {
	if err := c.made(); err != nil {
		return "", err
	}
	target, err := c.c.ReadLink(p)
	return target, pathErr("readlink", p, err)
}

// Truncate changes the size of the file p.
func (c *Client) Truncate(p string, size int64) error {
	if err := c.made(); err != nil {
		return err
	}
	return pathErr("truncate", p, c.c.Truncate(p, size))
}

// StatVFS returns the statistics of the file system holding p, with the
// server's "statvfs@openssh.com" extension; without it, an error matching
// errors.ErrUnsupported.
func (c *Client) StatVFS(p string) (*pkgsftp.StatVFS, error) {
	if err := c.made(); err != nil {
		return nil, err
	}
	if _, ok := c.c.HasExtension("statvfs@openssh.com"); !ok {
		return nil, &fs.PathError{Op: "statvfs", Path: p, Err: fmt.Errorf("sftp: the server has no statvfs extension: %w", errors.ErrUnsupported)}
	}
	st, err := c.c.StatVFS(p)
	if err != nil {
		return nil, pathErr("statvfs", p, err)
	}
	return st, nil
}

// Open opens the file p for reading.
func (c *Client) Open(p string) (*File, error) {
	return c.OpenFile(p, os.O_RDONLY, 0)
}

// Create creates or truncates the file p (mode 0666 less the server's
// umask) and opens it for reading and writing.
func (c *Client) Create(p string) (*File, error) {
	return c.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// OpenFile opens p with flags as os.OpenFile does (O_RDONLY, O_WRONLY,
// O_RDWR, O_APPEND, O_CREATE, O_EXCL, O_TRUNC). A file it creates gets
// perm: 0666 less the server's umask, any other value as it is (set
// after the open, with one more round trip). With O_CREATE|O_EXCL it fails
// with an error matching fs.ErrExist when p exists.
func (c *Client) OpenFile(p string, flag int, perm fs.FileMode) (*File, error) {
	if err := c.made(); err != nil {
		return nil, err
	}
	// pkg/sftp's open sends no attributes: the mode of a file it creates
	// is set after, when it is not the default.
	setMode := flag&os.O_CREATE != 0 && perm != 0o666
	if setMode && flag&os.O_EXCL == 0 {
		_, err := c.c.Lstat(p)
		setMode = errors.Is(err, fs.ErrNotExist)
	}
	f, err := c.c.OpenFile(p, flag)
	if err != nil {
		err = pathErr("open", p, err)
		if flag&os.O_EXCL != 0 && c.failedOnExisting(p, err) {
			err = existErr(err)
		}
		return nil, err
	}
	if setMode {
		if err := f.Chmod(perm); err != nil {
			f.Close()
			return nil, pathErr("chmod", p, err)
		}
	}
	return &File{f: f, c: c, name: p}, nil
}

// Join joins path elements with "/", as the server's paths are.
func (c *Client) Join(elem ...string) string { return path.Join(elem...) }
