package sftp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"
)

// TransferOption configures [Upload] and [Download].
type TransferOption func(*transfer)

// transfer is what the options set.
type transfer struct {
	progress func(name string, done, total int64)
	preserve bool
	mu       sync.Mutex // one progress call at a time
}

// WithProgress has fn called as each file's transfer goes on, one call at
// a time (from the goroutines sending a large upload's parts, see
// [Upload]): name is the file's path on the side it is read
// from, done the bytes taken from it so far (the requests in flight run a
// little ahead of what the other side has), total its size. Each file ends
// with a call where done == total, once it is in place under its final
// name, even an empty one.
func WithProgress(fn func(name string, done, total int64)) TransferOption {
	return func(t *transfer) { t.progress = fn }
}

// WithPreserve copies each file's permission bits and modification time
// (SFTP keeps whole seconds) to the copy.
func WithPreserve() TransferOption {
	return func(t *transfer) { t.preserve = true }
}

// CancelGrace is how long an Upload or Download whose context ended waits
// for the requests it has in flight; a server that has not answered by
// then gets its client closed, so that the call returns.
const CancelGrace = 5 * time.Second

// Upload copies the local file or directory tree local to remote on the
// server. A file is written under a temporary name next to remote
// (".NAME.part-RANDOM") and renamed to remote at the end, replacing it
// (see [Client.Rename]): when ctx ends or the transfer fails, the
// temporary file is removed and remote is untouched. A tree is copied file
// by file this way, making the directories it needs; only regular files
// and directories are copied (symbolic links and other files are left
// out).
//
// On a path with latency (a round trip of 2 ms or more when c was made), a
// file of 32 MiB or more goes in parts, each on an SFTP channel of its own
// on c's session (2 parts at 10 ms, up to 4): the server's window per
// channel caps what one channel carries per round trip. A server that
// refuses more channels gets the parts on c's.
//
// When ctx ends, Upload stops sending, waits for the requests in flight
// (at most [CancelGrace], then it closes c) and returns ctx's error.
func Upload(ctx context.Context, c *Client, local, remote string, opts ...TransferOption) error {
	t, err := newTransfer(ctx, c, opts)
	if err != nil {
		return err
	}
	defer watch(ctx, c)()
	fi, err := os.Stat(local)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return t.uploadFile(ctx, c, local, remote, fi)
	}
	return filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		relp, err := filepath.Rel(local, p)
		if err != nil {
			return err
		}
		dst := path.Join(remote, filepath.ToSlash(relp))
		switch {
		case d.IsDir():
			if err := c.MkdirAll(dst); err != nil {
				return err
			}
			if t.preserve {
				fi, err := d.Info()
				if err != nil {
					return err
				}
				return c.Chmod(dst, fi.Mode().Perm())
			}
			return nil
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return t.uploadFile(ctx, c, p, dst, fi)
		}
		return nil
	})
}

// Download copies the file or directory tree remote on the server to
// local, as [Upload] does the other way: a file is written under a
// temporary name next to local and renamed at the end; when ctx ends or
// the transfer fails, it is removed and local is untouched.
//
// A file of 4 MiB or more is read on an SFTP channel of its own on c's
// session, with c's request size and reads in flight, by a read loop of
// this package that reuses its buffers (about a sixth less CPU than
// pkg/sftp's File.WriteTo) and asks again for the rest of a short answer;
// a server that refuses the channel gets the file through c.
func Download(ctx context.Context, c *Client, remote, local string, opts ...TransferOption) error {
	t, err := newTransfer(ctx, c, opts)
	if err != nil {
		return err
	}
	defer watch(ctx, c)()
	fi, err := c.Stat(remote)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return t.downloadFile(ctx, c, remote, local, fi)
	}
	return fs.WalkDir(c.DirFS(remote), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		src, dst := path.Join(remote, p), filepath.Join(local, filepath.FromSlash(p))
		switch {
		case d.IsDir():
			perm := fs.FileMode(0o777)
			if t.preserve {
				fi, err := d.Info()
				if err != nil {
					return err
				}
				perm = fi.Mode().Perm()
			}
			if err := os.MkdirAll(dst, 0o777); err != nil {
				return err
			}
			if t.preserve {
				return os.Chmod(dst, perm)
			}
			return nil
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return t.downloadFile(ctx, c, src, dst, fi)
		}
		return nil
	})
}

func newTransfer(ctx context.Context, c *Client, opts []TransferOption) (*transfer, error) {
	if ctx == nil {
		return nil, errors.New("sftp: nil context")
	}
	if err := c.made(); err != nil {
		return nil, err
	}
	t := &transfer{}
	for _, o := range opts {
		if o != nil {
			o(t)
		}
	}
	return t, nil
}

// watch closes c when ctx ended CancelGrace ago and the transfer still
// runs; the function it returns ends the watch.
func watch(ctx context.Context, c *Client) func() {
	if ctx.Done() == nil {
		return func() {}
	}
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		t := time.NewTimer(CancelGrace)
		defer t.Stop()
		select {
		case <-t.C:
			c.Close()
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-ended
	}
}

// tempBase is a name for the temporary copy of the file base, in the
// same directory.
func tempBase(base string) string {
	var b [6]byte
	rand.Read(b[:])
	return "." + base + ".part-" + hex.EncodeToString(b[:])
}

func (t *transfer) uploadFile(ctx context.Context, c *Client, local, remote string, fi fs.FileInfo) error {
	src, err := os.Open(local)
	if err != nil {
		return err
	}
	defer src.Close()
	dir, base := path.Split(remote)
	tmp := dir + tempBase(base)
	perm := fs.FileMode(0o666)
	if t.preserve {
		perm = fi.Mode().Perm()
	}
	dst, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if n := uploadStreams(c.rtt, fi.Size()); n > 1 {
		err = t.uploadParts(ctx, c, src, dst, tmp, local, fi.Size(), n)
	} else {
		own := fi.Size() >= ownPathMin
		if own {
			err = t.putFile(ctx, c, local, src, tmp, fi.Size())
		}
		if !own || errors.As(err, new(errNotStarted)) {
			var sent int64
			_, err = dst.ReadFrom(t.reader(ctx, src, local, &sent, fi.Size(), fi.Size()))
		}
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && t.preserve {
		err = c.Chtimes(tmp, fi.ModTime(), fi.ModTime())
	}
	if err == nil {
		err = c.Rename(tmp, remote)
	}
	if err == nil {
		t.report(local, fi.Size(), fi.Size())
		return nil
	}
	// The transfer failed: remove the temporary file, with the client
	// still open even though ctx ended (c.Close by watch ends this too).
	c.Remove(tmp)
	if ctx.Err() != nil {
		return fmt.Errorf("sftp: upload %s: %w", local, ctx.Err())
	}
	return err
}

func (t *transfer) downloadFile(ctx context.Context, c *Client, remote, local string, fi fs.FileInfo) error {
	src, err := c.Open(remote)
	if err != nil {
		return err
	}
	defer src.Close()
	dir, base := filepath.Split(local)
	tmp := filepath.Join(dir, tempBase(base))
	// 0666 less the umask, as os.Create; WithPreserve sets the mode after.
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	var n int64
	own := fi.Size() >= ownPathMin
	if own {
		n, err = t.getFile(ctx, c, remote, dst, fi.Size())
	}
	if !own || errors.As(err, new(errNotStarted)) {
		// A small file, or no channel of its own: through pkg/sftp.
		w := &progressWriter{ctx: ctx, w: dst, t: t, name: remote, total: fi.Size()}
		n, err = src.WriteTo(w)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && n < fi.Size() {
		// A server that answers reads short, or a file that shrank.
		err = fmt.Errorf("sftp: download %s: copied %d bytes of %d", remote, n, fi.Size())
	}
	if err == nil && t.preserve {
		err = dst.Chmod(fi.Mode().Perm())
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil && t.preserve {
		err = os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
	}
	if err == nil {
		err = os.Rename(tmp, local)
	}
	if err == nil {
		t.report(remote, fi.Size(), fi.Size())
		return nil
	}
	os.Remove(tmp)
	if ctx.Err() != nil {
		return fmt.Errorf("sftp: download %s: %w", remote, ctx.Err())
	}
	return err
}

func (t *transfer) report(name string, done, total int64) {
	if t.progress != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.progress(name, done, total)
	}
}

// advance adds n bytes to *done, name's progress, and reports it unless the
// file is complete (its last call comes once it is in place). *done is
// guarded by t.mu: the parts of an upload share it.
func (t *transfer) advance(name string, done *int64, n int, total int64) {
	if n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if *done += int64(n); *done < total && t.progress != nil {
		t.progress(name, *done, total)
	}
}

// ownPathMin is the smallest file Download reads and Upload writes (on a
// path without latency) on a channel of its own (getFile, putFile): below
// it the channel's set-up costs more than it saves.
var ownPathMin int64 = 4 << 20 // a variable for tests

// uploadStreams is how many channels an upload of size bytes uses over a
// path whose round trip took rtt. sshd gives each channel a fixed 2 MiB
// window, which caps one channel at 2 MiB per round trip (about 200 MB/s at
// 10 ms, 40 MB/s at 50 ms); parts of a file sent on channels of their own
// add up. It takes enough windows for 400 MB/s, at most 4 channels, each
// part at least 16 MiB; on paths under 2 ms, where the window is no limit,
// one. (A variable for tests.)
var uploadStreams = func(rtt time.Duration, size int64) int {
	if rtt < 2*time.Millisecond {
		return 1
	}
	n := int(math.Ceil(rtt.Seconds() * 400e6 / (2 << 20)))
	return max(1, min(n, 4, int(size/(16<<20))))
}

// uploadParts writes src to dst (the temporary file tmp) in n parts at
// once: the first through dst, each other through a file of its own on a
// sibling client (its own channel), or on c when no sibling opens (a
// server's MaxSessions). It returns the first error.
func (t *transfer) uploadParts(ctx context.Context, c *Client, src *os.File, dst *File, tmp, name string, size int64, n int) error {
	step := int64(c.cfg.packet)
	part := (size/int64(n) + step - 1) / step * step
	var sent int64 // of the whole file, guarded by t.mu
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, off := 0, int64(0); off < size; i, off = i+1, off+part {
		length := min(part, size-off)
		r := t.reader(ctx, io.NewSectionReader(src, off, length), name, &sent, size, length)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if off == 0 {
				_, errs[i] = dst.ReadFrom(r)
				return
			}
			errs[i] = t.uploadPart(ctx, c, tmp, off, r)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// uploadPart writes r at off in tmp, on a sibling client of c, or on c.
func (t *transfer) uploadPart(ctx context.Context, c *Client, tmp string, off int64, r io.Reader) (err error) {
	if sc, err := c.sibling(ctx); err == nil {
		defer sc.Close()
		defer watch(ctx, sc)()
		c = sc
	}
	f, err := c.OpenFile(tmp, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	_, err = f.ReadFrom(r)
	return err
}

// progressReader stops at ctx's end and counts what it reads into *done,
// the file's progress (see transfer.advance). Its Size, what it will read,
// lets File.ReadFrom send with many requests in flight.
type progressReader struct {
	ctx   context.Context
	r     io.Reader
	t     *transfer
	name  string
	done  *int64
	total int64 // the whole file's size
	size  int64
}

// reader is a progressReader of size bytes of r, part of name's total.
func (t *transfer) reader(ctx context.Context, r io.Reader, name string, done *int64, total, size int64) *progressReader {
	return &progressReader{ctx: ctx, r: r, t: t, name: name, done: done, total: total, size: size}
}

func (r *progressReader) Size() int64 { return r.size }

func (r *progressReader) Read(b []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(b)
	r.t.advance(r.name, r.done, n, r.total)
	return n, err
}

// progressWriter is progressReader for downloads.
type progressWriter struct {
	ctx   context.Context
	w     io.Writer
	t     *transfer
	name  string
	done  int64
	total int64
}

func (w *progressWriter) Write(b []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.w.Write(b)
	w.t.advance(w.name, &w.done, n, w.total)
	return n, err
}
