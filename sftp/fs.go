package sftp

import (
	"errors"
	"io"
	"io/fs"
	"path"
)

// FS is a read-only view of a directory of the server as an io/fs file
// system: an fs.FS, fs.ReadDirFS, fs.StatFS and fs.ReadFileFS, so that
// fs.WalkDir, fs.Glob, http.FS and template.ParseFS work on it. Names are
// slash-separated and unrooted, as io/fs requires ("a/b.txt"); they are
// joined to the directory. Make one with [Client.DirFS].
type FS struct {
	c    *Client
	root string
}

var (
	_ fs.FS         = (*FS)(nil)
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
	_ fs.ReadFileFS = (*FS)(nil)
	_ fs.SubFS      = (*FS)(nil)
)

// DirFS returns the file system of the server's directory dir (relative
// paths start in the server's current directory, usually the user's home).
// Symbolic links are followed.
func (c *Client) DirFS(dir string) *FS {
	return &FS{c: c, root: dir}
}

// remote checks name and returns the server's path for it.
func (f *FS) remote(op, name string) (string, error) {
	if f == nil || f.c.made() != nil {
		return "", &fs.PathError{Op: op, Path: name, Err: errors.New("sftp: nil or zero FS (not made by Client.DirFS)")}
	}
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return f.root, nil
	}
	return path.Join(f.root, name), nil
}

// rename gives err, a *fs.PathError for the server's path, the name asked
// for.
func rename(err error, name string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: name, Err: pe.Err}
	}
	return err
}

// Open opens the file or directory name. A directory's ReadDir lists it.
func (f *FS) Open(name string) (fs.File, error) {
	p, err := f.remote("open", name)
	if err != nil {
		return nil, err
	}
	fi, err := f.c.Stat(p)
	if err != nil {
		return nil, rename(err, name)
	}
	if fi.IsDir() {
		return &dirFile{fs: f, name: name, path: p, info: namedInfo{fi, path.Base(name)}}, nil
	}
	file, err := f.c.Open(p)
	if err != nil {
		return nil, rename(err, name)
	}
	file.name = name
	return file, nil
}

// Stat returns the attributes of name.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	p, err := f.remote("stat", name)
	if err != nil {
		return nil, err
	}
	fi, err := f.c.Stat(p)
	if err != nil {
		return nil, rename(err, name)
	}
	return namedInfo{fi, path.Base(name)}, nil
}

// ReadDir returns the entries of the directory name sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := f.remote("readdir", name)
	if err != nil {
		return nil, err
	}
	entries, err := f.c.ReadDir(p)
	return entries, rename(err, name)
}

// ReadFile returns the contents of the file name.
func (f *FS) ReadFile(name string) ([]byte, error) {
	p, err := f.remote("readfile", name)
	if err != nil {
		return nil, err
	}
	file, err := f.c.Open(p)
	if err != nil {
		return nil, rename(err, name)
	}
	defer file.Close()
	var buf writerBuffer
	if _, err := file.WriteTo(&buf); err != nil {
		return nil, rename(err, name)
	}
	if buf.b == nil {
		buf.b = []byte{}
	}
	return buf.b, nil
}

// Sub returns the file system of the directory dir of f.
func (f *FS) Sub(dir string) (fs.FS, error) {
	p, err := f.remote("sub", dir)
	if err != nil {
		return nil, err
	}
	return &FS{c: f.c, root: p}, nil
}

type writerBuffer struct{ b []byte }

func (w *writerBuffer) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// dirFile is a directory opened by FS.Open.
type dirFile struct {
	fs      *FS
	name    string // as FS.Open got it
	path    string // on the server
	info    fs.FileInfo
	entries []fs.DirEntry // what ReadDir has still to return
	read    bool          // entries holds the listing
	closed  bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "stat", Path: d.name, Err: fs.ErrClosed}
	}
	return d.info, nil
}

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}

func (d *dirFile) Close() error {
	if d.closed {
		return &fs.PathError{Op: "close", Path: d.name, Err: fs.ErrClosed}
	}
	d.closed = true
	return nil
}

// ReadDir returns the next n entries (all that are left when n <= 0), as
// fs.ReadDirFile says.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "readdir", Path: d.name, Err: fs.ErrClosed}
	}
	if !d.read {
		entries, err := d.fs.c.ReadDir(d.path)
		if err != nil {
			return nil, rename(err, d.name)
		}
		d.entries, d.read = entries, true
	}
	if n <= 0 {
		out := d.entries
		d.entries = nil
		if out == nil {
			out = []fs.DirEntry{}
		}
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(d.entries))
	out := d.entries[:k:k]
	d.entries = d.entries[k:]
	return out, nil
}
