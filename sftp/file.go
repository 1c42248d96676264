package sftp

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	pkgsftp "github.com/pkg/sftp"
)

// File is an open file of the server. It is an io.Reader, io.Writer,
// io.Seeker, io.ReaderAt, io.WriterAt and io.Closer; ReadFrom and WriteTo
// (which io.Copy uses) keep many requests in flight ([WithConcurrency]),
// which is what makes a transfer fast over a link with latency.
type File struct {
	f    *pkgsftp.File
	c    *Client
	name string
}

func (f *File) made() error {
	if f == nil || f.f == nil {
		return errors.New("sftp: nil or zero File (not made by a Client)")
	}
	return nil
}

// Name returns the name the file was opened with.
func (f *File) Name() string {
	if f == nil {
		return ""
	}
	return f.name
}

func (f *File) err(op string, err error) error { return pathErr(op, f.name, err) }

// Read reads up to len(b) bytes at the file's offset.
func (f *File) Read(b []byte) (int, error) {
	if err := f.made(); err != nil {
		return 0, err
	}
	n, err := f.f.Read(b)
	return n, f.err("read", err)
}

// ReadAt reads len(b) bytes at off, with requests in flight at once.
func (f *File) ReadAt(b []byte, off int64) (int, error) {
	if err := f.made(); err != nil {
		return 0, err
	}
	n, err := f.f.ReadAt(b, off)
	return n, f.err("read", err)
}

// Write writes b at the file's offset.
func (f *File) Write(b []byte) (int, error) {
	if err := f.made(); err != nil {
		return 0, err
	}
	n, err := f.f.Write(b)
	return n, f.err("write", err)
}

// WriteAt writes b at off, with requests in flight at once.
func (f *File) WriteAt(b []byte, off int64) (int, error) {
	if err := f.made(); err != nil {
		return 0, err
	}
	n, err := f.f.WriteAt(b, off)
	return n, f.err("write", err)
}

// Seek sets the offset of the next Read or Write (whence as io.Seeker's).
func (f *File) Seek(offset int64, whence int) (int64, error) {
	if err := f.made(); err != nil {
		return 0, err
	}
	off, err := f.f.Seek(offset, whence)
	return off, f.err("seek", err)
}

// ReadFrom writes what r gives at the file's offset until r's EOF, with
// many write requests in flight (whatever r is). After an error, parts of the file after
// the data written may have been written too (the requests run at once).
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	if err := f.made(); err != nil {
		return 0, err
	}
	n, err := f.f.ReadFromWithConcurrency(r, f.c.writes)
	return n, f.err("write", err)
}

// WriteTo writes the file from its offset to its end to w, with many read
// requests in flight.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if err := f.made(); err != nil {
		return 0, err
	}
	n, err := f.f.WriteTo(w)
	return n, f.err("read", err)
}

// Stat returns the file's attributes.
func (f *File) Stat() (fs.FileInfo, error) {
	if err := f.made(); err != nil {
		return nil, err
	}
	fi, err := f.f.Stat()
	if err != nil {
		return nil, f.err("stat", err)
	}
	return namedInfo{fi, path.Base(f.name)}, nil
}

// Chmod sets the file's permission bits.
func (f *File) Chmod(mode fs.FileMode) error {
	if err := f.made(); err != nil {
		return err
	}
	return f.err("chmod", f.f.Chmod(mode))
}

// Truncate changes the file's size.
func (f *File) Truncate(size int64) error {
	if err := f.made(); err != nil {
		return err
	}
	return f.err("truncate", f.f.Truncate(size))
}

// Sync asks the server to commit the file to storage, with its
// "fsync@openssh.com" extension; without it, an error matching
// errors.ErrUnsupported.
func (f *File) Sync() error {
	if err := f.made(); err != nil {
		return err
	}
	if _, ok := f.c.c.HasExtension("fsync@openssh.com"); !ok {
		return f.err("sync", errors.ErrUnsupported)
	}
	return f.err("sync", f.f.Sync())
}

// Close closes the file; the server has it whole once Close returned nil.
// A second Close returns an error matching fs.ErrClosed.
func (f *File) Close() error {
	if err := f.made(); err != nil {
		return err
	}
	err := f.f.Close()
	if errors.Is(err, os.ErrClosed) {
		return f.err("close", fs.ErrClosed)
	}
	return f.err("close", err)
}

// namedInfo is a FileInfo with the base name of the path a file was opened
// with (an fstat answer has no name).
type namedInfo struct {
	fs.FileInfo
	name string
}

func (i namedInfo) Name() string { return i.name }

func sortEntries(entries []fs.DirEntry) {
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
}
