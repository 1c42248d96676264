package sshtest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"sync"
	"syscall"
	"time"

	"github.com/golibssh/libssh"
	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/sys/unix"
)

// SFTP configures the "sftp" subsystem of a server ([Options.SFTP]),
// served in Go by github.com/pkg/sftp's request server over the files of
// a directory.
type SFTP struct {
	// Root is the directory clients see as "/", their starting directory.
	// Paths cannot leave it (it is an os.Root): a symbolic link may be
	// made to point anywhere, but one that leads out is not followed. It
	// must exist.
	Root string
	// ReadOnly refuses every change with SSH_FX_PERMISSION_DENIED.
	ReadOnly bool
	// DiskSize, when positive, makes the disk full after this many bytes
	// written in all, over every connection: a write that would pass it
	// fails with SSH_FX_FAILURE, "no space left on device" (ENOSPC), and
	// writes nothing.
	DiskSize int64
}

// sftpRoot serves SFTP requests from Options.SFTP, with the disk use
// shared by every connection of the server.
type sftpRoot struct {
	opts *SFTP
	mu   sync.Mutex
	used int64
}

func (o *SFTP) check() error {
	if o == nil {
		return nil
	}
	fi, err := os.Stat(o.Root)
	if err != nil {
		return fmt.Errorf("sshtest: SFTP root: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("sshtest: SFTP root %s is not a directory", o.Root)
	}
	return nil
}

// onSubsystem starts the SFTP server on the channel, in a goroutine: the
// callback must not use the channel.
func (s *session) onSubsystem(name string) bool {
	if name != "sftp" || s.started {
		return false
	}
	s.started = true
	s.conn.srv.goTracked(s.serveSFTP)
	return true
}

// serveSFTP serves until the client ends the subsystem, or the connection
// or server closes.
func (s *session) serveSFTP() {
	defer s.cancel()
	defer s.ch.Close()
	root, err := os.OpenRoot(s.conn.srv.opts.SFTP.Root)
	if err != nil {
		s.conn.srv.opts.Logger.Error("sshtest: SFTP root", "err", err)
		return
	}
	defer root.Close()
	h := &sftpHandler{srv: s.conn.srv.sftp, root: root}
	hs := pkgsftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h}
	rs := pkgsftp.NewRequestServer(loggedWrites{s.ch, s.conn.srv.opts.Logger}, hs, pkgsftp.WithStartDirectory("/"))
	stop := make(chan struct{})
	s.conn.srv.goTracked(func() {
		select {
		case <-s.ctx.Done():
			rs.Close()
		case <-stop:
		}
	})
	if err := rs.Serve(); err != nil && !errors.Is(err, io.EOF) && s.ctx.Err() == nil {
		s.conn.srv.opts.Logger.Info("sshtest: SFTP", "err", err)
	}
	close(stop)
}

// loggedWrites logs the channel's failed writes: pkg/sftp's server drops
// the error of an answer it could not send, and its client then waits for
// that answer for ever.
type loggedWrites struct {
	*libssh.Channel
	log *slog.Logger
}

func (c loggedWrites) Write(b []byte) (int, error) {
	n, err := c.Channel.Write(b)
	if err != nil {
		c.log.Error("sshtest: SFTP answer not sent", "written", n, "of", len(b), "err", err)
	}
	return n, err
}

// sftpHandler answers one connection's requests on the root.
type sftpHandler struct {
	srv  *sftpRoot
	root *os.Root
}

// rel is the root-relative name of a request's path ("/a/b" is "a/b").
func rel(p string) string {
	p = path.Clean("/" + p)
	if p == "/" {
		return "."
	}
	return p[1:]
}

var errReadOnly = pkgsftp.ErrSSHFxPermissionDenied

func (h *sftpHandler) Fileread(r *pkgsftp.Request) (io.ReaderAt, error) {
	f, err := h.root.Open(rel(r.Filepath))
	if err != nil {
		return nil, err // not a nil *os.File in the interface
	}
	return f, nil
}

func (h *sftpHandler) Filewrite(r *pkgsftp.Request) (io.WriterAt, error) {
	return h.OpenFile(r)
}

// OpenFile opens for reading and writing (the request server's Open
// method).
func (h *sftpHandler) OpenFile(r *pkgsftp.Request) (pkgsftp.WriterAtReaderAt, error) {
	pf := r.Pflags()
	var flag int
	switch {
	case pf.Read && pf.Write:
		flag = os.O_RDWR
	case pf.Write:
		flag = os.O_WRONLY
	default:
		flag = os.O_RDONLY
	}
	if pf.Creat {
		flag |= os.O_CREATE
	}
	if pf.Trunc {
		flag |= os.O_TRUNC
	}
	if pf.Excl {
		flag |= os.O_EXCL
	}
	// O_APPEND is left out: the client says where each write goes.
	if h.srv.opts.ReadOnly && flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC) != 0 {
		return nil, errReadOnly
	}
	f, err := h.root.OpenFile(rel(r.Filepath), flag, 0o666)
	if err != nil {
		return nil, err
	}
	return &sftpFile{File: f, srv: h.srv}, nil
}

// sftpFile counts what is written against SFTP.DiskSize.
type sftpFile struct {
	*os.File
	srv *sftpRoot
}

func (f *sftpFile) WriteAt(b []byte, off int64) (int, error) {
	if err := f.srv.reserve(int64(len(b))); err != nil {
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: err}
	}
	return f.File.WriteAt(b, off)
}

// reserve takes n bytes of the disk, or fails with ENOSPC.
func (s *sftpRoot) reserve(n int64) error {
	if s.opts.DiskSize <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used+n > s.opts.DiskSize {
		return syscall.ENOSPC
	}
	s.used += n
	return nil
}

func (h *sftpHandler) Filecmd(r *pkgsftp.Request) error {
	if h.srv.opts.ReadOnly {
		return errReadOnly
	}
	name := rel(r.Filepath)
	switch r.Method {
	case "Setstat":
		return h.setstat(name, r)
	case "Rename":
		// SFTP's rename does not replace (OpenSSH's sftp-server's neither).
		if _, err := h.root.Lstat(rel(r.Target)); err == nil {
			return &os.LinkError{Op: "rename", Old: r.Filepath, New: r.Target, Err: syscall.EEXIST}
		}
		return h.root.Rename(name, rel(r.Target))
	case "Rmdir":
		fi, err := h.root.Lstat(name)
		if err == nil && !fi.IsDir() {
			return &os.PathError{Op: "rmdir", Path: r.Filepath, Err: syscall.ENOTDIR}
		}
		return h.root.Remove(name)
	case "Remove":
		fi, err := h.root.Lstat(name)
		if err == nil && fi.IsDir() {
			return &os.PathError{Op: "remove", Path: r.Filepath, Err: syscall.EISDIR}
		}
		return h.root.Remove(name)
	case "Mkdir":
		return h.root.Mkdir(name, 0o777)
	case "Link":
		return h.root.Link(name, rel(r.Target))
	case "Symlink":
		// Filepath is the link's target, as the client sent it.
		return h.root.Symlink(r.Filepath, rel(r.Target))
	}
	return pkgsftp.ErrSSHFxOpUnsupported
}

func (h *sftpHandler) setstat(name string, r *pkgsftp.Request) error {
	attrs, flags := r.Attributes(), r.AttrFlags()
	if flags.Size {
		f, err := h.root.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = f.Truncate(int64(attrs.Size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if flags.Permissions {
		if err := h.root.Chmod(name, attrs.FileMode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
	}
	if flags.Acmodtime {
		if err := h.root.Chtimes(name, time.Unix(int64(attrs.Atime), 0), time.Unix(int64(attrs.Mtime), 0)); err != nil {
			return err
		}
	}
	if flags.UidGid {
		return h.root.Chown(name, int(attrs.UID), int(attrs.GID))
	}
	return nil
}

// PosixRename replaces the target, as rename(2) does.
func (h *sftpHandler) PosixRename(r *pkgsftp.Request) error {
	if h.srv.opts.ReadOnly {
		return errReadOnly
	}
	return h.root.Rename(rel(r.Filepath), rel(r.Target))
}

// StatVFS answers for the file system of the root.
func (h *sftpHandler) StatVFS(r *pkgsftp.Request) (*pkgsftp.StatVFS, error) {
	f, err := h.root.Open(rel(r.Filepath))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return nil, &os.PathError{Op: "statvfs", Path: r.Filepath, Err: err}
	}
	return &pkgsftp.StatVFS{
		Bsize: uint64(st.Bsize), Frsize: uint64(st.Frsize), Blocks: st.Blocks, Bfree: st.Bfree,
		Bavail: st.Bavail, Files: st.Files, Ffree: st.Ffree, Favail: st.Ffree,
		Namemax: uint64(st.Namelen),
	}, nil
}

func (h *sftpHandler) Filelist(r *pkgsftp.Request) (pkgsftp.ListerAt, error) {
	name := rel(r.Filepath)
	switch r.Method {
	case "List":
		f, err := h.root.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		entries, err := f.ReadDir(-1)
		if err != nil {
			return nil, err
		}
		infos := make(listerAt, 0, len(entries))
		for _, e := range entries {
			if fi, err := e.Info(); err == nil { // gone since: left out
				infos = append(infos, fi)
			}
		}
		return infos, nil
	case "Stat":
		fi, err := h.root.Stat(name)
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	}
	return nil, pkgsftp.ErrSSHFxOpUnsupported
}

// Lstat does not follow a symbolic link.
func (h *sftpHandler) Lstat(r *pkgsftp.Request) (pkgsftp.ListerAt, error) {
	fi, err := h.root.Lstat(rel(r.Filepath))
	if err != nil {
		return nil, err
	}
	return listerAt{fi}, nil
}

// Readlink returns a link's target as it is.
func (h *sftpHandler) Readlink(p string) (string, error) {
	return h.root.Readlink(rel(p))
}

type listerAt []fs.FileInfo

func (l listerAt) ListAt(dst []fs.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if n < len(dst) || off+int64(n) == int64(len(l)) {
		return n, io.EOF
	}
	return n, nil
}
