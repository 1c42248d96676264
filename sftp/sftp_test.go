package sftp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/sftp"
	"github.com/golibssh/libssh/sshtest"
)

// TestOSCalls runs the os-like calls against both servers and checks what
// they did on the server's disk.
func TestOSCalls(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			root := t.TempDir()
			c, dir := srv.client(t, root)
			p := func(name string) string { return path.Join(dir, name) }

			f, err := c.Create(p("a.txt"))
			require.NoError(t, err)
			n, err := f.Write([]byte("hello, world"))
			require.NoError(t, err)
			require.Equal(t, 12, n)
			_, err = f.WriteAt([]byte("HELLO"), 0)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			require.ErrorIs(t, f.Close(), fs.ErrClosed)
			got, err := os.ReadFile(filepath.Join(root, "a.txt"))
			require.NoError(t, err)
			require.Equal(t, "HELLO, world", string(got))

			f, err = c.Open(p("a.txt"))
			require.NoError(t, err)
			off, err := f.Seek(7, io.SeekStart)
			require.NoError(t, err)
			require.EqualValues(t, 7, off)
			rest, err := io.ReadAll(f)
			require.NoError(t, err)
			require.Equal(t, "world", string(rest))
			fi, err := f.Stat()
			require.NoError(t, err)
			require.EqualValues(t, 12, fi.Size())
			require.Equal(t, "a.txt", fi.Name())
			require.NoError(t, f.Close())

			require.NoError(t, c.Mkdir(p("d")))
			require.ErrorIs(t, c.Mkdir(p("d")), fs.ErrExist)
			require.NoError(t, c.MkdirAll(p("d/e/f")))
			require.DirExists(t, filepath.Join(root, "d/e/f"))
			_, err = c.OpenFile(p("a.txt"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			require.ErrorIs(t, err, fs.ErrExist)

			f, err = c.OpenFile(p("d/m"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			lfi, err := os.Stat(filepath.Join(root, "d/m"))
			require.NoError(t, err)
			require.Equal(t, fs.FileMode(0o640), lfi.Mode().Perm())

			require.NoError(t, c.Chmod(p("a.txt"), 0o604))
			mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
			require.NoError(t, c.Chtimes(p("a.txt"), mtime, mtime))
			fi, err = c.Stat(p("a.txt"))
			require.NoError(t, err)
			require.Equal(t, fs.FileMode(0o604), fi.Mode().Perm())
			require.True(t, mtime.Equal(fi.ModTime()), fi.ModTime())

			require.NoError(t, c.Truncate(p("a.txt"), 5))
			fi, err = c.Stat(p("a.txt"))
			require.NoError(t, err)
			require.EqualValues(t, 5, fi.Size())

			require.NoError(t, c.Symlink("a.txt", p("link")))
			target, err := c.ReadLink(p("link"))
			require.NoError(t, err)
			require.Equal(t, "a.txt", target)
			fi, err = c.Lstat(p("link"))
			require.NoError(t, err)
			require.Equal(t, fs.ModeSymlink, fi.Mode().Type())

			require.NoError(t, c.Rename(p("a.txt"), p("b.txt")))
			require.NoFileExists(t, filepath.Join(root, "a.txt"))
			require.FileExists(t, filepath.Join(root, "b.txt"))

			entries, err := c.ReadDir(dir)
			require.NoError(t, err)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			require.Equal(t, []string{"b.txt", "d", "link"}, names)

			st, err := c.StatVFS(dir)
			require.NoError(t, err)
			require.NotZero(t, st.Blocks)

			require.NoError(t, c.Remove(p("link")))
			require.NoError(t, c.RemoveAll(p("d")))
			require.NoDirExists(t, filepath.Join(root, "d"))
			require.NoError(t, c.RemoveAll(p("d")), "RemoveAll of a missing path")
		})
	}
}

// TestMissingPath: every call on a missing path matches fs.ErrNotExist
// and names the path.
func TestMissingPath(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			c, dir := srv.client(t, t.TempDir())
			missing := path.Join(dir, "missing")
			_, err := c.Stat(missing)
			require.ErrorIs(t, err, fs.ErrNotExist)
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, missing, pe.Path)
			_, err = c.Open(missing)
			require.ErrorIs(t, err, fs.ErrNotExist)
			_, err = c.ReadDir(missing)
			require.ErrorIs(t, err, fs.ErrNotExist)
			require.ErrorIs(t, c.Remove(missing), fs.ErrNotExist)
			require.ErrorIs(t, c.Rename(missing, missing+"2"), fs.ErrNotExist)
			_, err = c.DirFS(dir).Open("missing")
			require.ErrorIs(t, err, fs.ErrNotExist)
		})
	}
}

// TestPermissionDenied: sshtest's ReadOnly refuses changes; sshd logged in
// as nobody cannot read root's private file.
func TestPermissionDenied(t *testing.T) {
	t.Run("sshtest", func(t *testing.T) {
		root := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644))
		c := sshtestClient(t, sshtest.SFTP{Root: root, ReadOnly: true})
		_, err := c.Create("/new")
		require.ErrorIs(t, err, fs.ErrPermission)
		require.ErrorIs(t, c.Remove("/f"), fs.ErrPermission)
		require.ErrorIs(t, c.Mkdir("/d"), fs.ErrPermission)
		require.FileExists(t, filepath.Join(root, "f"))
		require.NoFileExists(t, filepath.Join(root, "new"))
	})
	t.Run("sshd", func(t *testing.T) {
		// As root, sshd logs in nobody, who cannot read root's 0600 file
		// nor write in its 0755 directory; as another user, the modes
		// (0000, 0555) deny the user itself.
		root := os.Getuid() == 0
		fileMode, dirMode := fs.FileMode(0o000), fs.FileMode(0o555)
		if root {
			fileMode, dirMode = 0o600, 0o755
		}
		dir, err := os.MkdirTemp("", "sftp-perm-")
		require.NoError(t, err)
		t.Cleanup(func() {
			os.Chmod(dir, 0o700)
			os.RemoveAll(dir)
		})
		secret := filepath.Join(dir, "secret")
		require.NoError(t, os.WriteFile(secret, []byte("x"), 0o600))
		require.NoError(t, os.Chmod(secret, fileMode))
		require.NoError(t, os.Chmod(dir, dirMode))
		c := newClient(t, sshdSession(t, sshdtest.Options{Unprivileged: root}))
		_, err = c.Open(secret)
		require.ErrorIs(t, err, fs.ErrPermission)
		_, err = c.Create(filepath.Join(dir, "new"))
		require.ErrorIs(t, err, fs.ErrPermission)
	})
}

// TestDiskFull: a write past sshtest's DiskSize fails with the server's
// "no space left on device", and Upload leaves nothing behind.
func TestDiskFull(t *testing.T) {
	for _, path := range ownPaths {
		t.Run(path.name, func(t *testing.T) {
			sftp.SetOwnPathMin(t, path.min)
			root := t.TempDir()
			c := sshtestClient(t, sshtest.SFTP{Root: root, DiskSize: 100 << 10})
			local := filepath.Join(t.TempDir(), "big")
			require.NoError(t, os.WriteFile(local, bytes.Repeat([]byte("x"), 1<<20), 0o644))
			err := sftp.Upload(testCtx(t, 30*time.Second), c, local, "/big")
			require.Error(t, err)
			var se *sftp.StatusError
			require.ErrorAs(t, err, &se)
			require.Contains(t, err.Error(), "no space left on device")
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "write", pe.Op)
			entries, err := os.ReadDir(root)
			require.NoError(t, err)
			require.Empty(t, entries, "no file, temporary or final, is left")
		})
	}
}

// TestNoSubsystem: a server without SFTP refuses the subsystem.
func TestNoSubsystem(t *testing.T) {
	s := sshtestSession(t, sshtest.Options{})
	_, err := sftp.NewClient(testCtx(t, 30*time.Second), s)
	require.ErrorIs(t, err, libssh.ErrRequestDenied)
	require.ErrorContains(t, err, "no sftp subsystem")
}

// TestFS runs fstest.TestFS on the view of a remote tree, and fs.WalkDir.
func TestFS(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			root := t.TempDir()
			for name, data := range map[string]string{
				"a.txt": "alpha", "dir/b.txt": "beta", "dir/sub/c.txt": "gamma", "empty": "",
			} {
				p := filepath.Join(root, filepath.FromSlash(name))
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
			}
			c, dir := srv.client(t, root)
			fsys := c.DirFS(dir)
			require.NoError(t, fstest.TestFS(fsys, "a.txt", "dir/b.txt", "dir/sub/c.txt", "empty"))
			var walked []string
			require.NoError(t, fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
				walked = append(walked, p)
				return err
			}))
			require.Equal(t, []string{".", "a.txt", "dir", "dir/b.txt", "dir/sub", "dir/sub/c.txt", "empty"}, walked)
			data, err := fs.ReadFile(fsys, "dir/sub/c.txt")
			require.NoError(t, err)
			require.Equal(t, "gamma", string(data))
		})
	}
}

// TestTransfer uploads and downloads a tree with progress and preserved
// modes and times, against both servers.
func TestTransfer(t *testing.T) {
	for _, srv := range servers {
		for _, path := range ownPaths {
			t.Run(srv.name+"/"+path.name, func(t *testing.T) {
				sftp.SetOwnPathMin(t, path.min)
				testTransfer(t, srv)
			})
		}
	}
}

// ownPaths are the ways Upload and Download copy a file: on a channel of
// their own (getFile, putFile) or through pkg/sftp on the client's.
var ownPaths = []struct {
	name string
	min  int64
}{{"own", 1}, {"pkgsftp", math.MaxInt64}}

func testTransfer(t *testing.T, srv server) {
	root := t.TempDir()
	c, dir := srv.client(t, root)
	src := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 200<<10) // 3.2 MB
	require.NoError(t, os.MkdirAll(filepath.Join(src, "sub"), 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(src, "big"), big, 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(src, "sub/small"), []byte("small"), 0o600))
	mtime := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	require.NoError(t, os.Chtimes(filepath.Join(src, "big"), mtime, mtime))

	var last = map[string]int64{}
	progress := sftp.WithProgress(func(name string, done, total int64) {
		assert.LessOrEqual(t, last[name], done, "progress goes forward")
		last[name] = done
	})
	ctx := testCtx(t, 60*time.Second)
	require.NoError(t, sftp.Upload(ctx, c, src, path.Join(dir, "up"), progress, sftp.WithPreserve()))
	require.EqualValues(t, len(big), last[filepath.Join(src, "big")])
	got, err := os.ReadFile(filepath.Join(root, "up/big"))
	require.NoError(t, err)
	require.True(t, bytes.Equal(big, got))
	fi, err := os.Stat(filepath.Join(root, "up/big"))
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o640), fi.Mode().Perm())
	require.True(t, mtime.Equal(fi.ModTime()), fi.ModTime())

	dst := filepath.Join(t.TempDir(), "down")
	require.NoError(t, sftp.Download(ctx, c, path.Join(dir, "up"), dst, progress, sftp.WithPreserve()))
	got, err = os.ReadFile(filepath.Join(dst, "big"))
	require.NoError(t, err)
	require.True(t, bytes.Equal(big, got))
	fi, err = os.Stat(filepath.Join(dst, "big"))
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o640), fi.Mode().Perm())
	require.True(t, mtime.Equal(fi.ModTime()), fi.ModTime())
	small, err := os.ReadFile(filepath.Join(dst, "sub/small"))
	require.NoError(t, err)
	require.Equal(t, "small", string(small))
}

// TestLargeRequests: with OpenSSH's server the client uses its large
// requests (it announces limits@openssh.com; sshtest's does not), and data
// that is no pattern keeps its place across them: a transfer of a size that
// is no multiple of a request, and ReadAt and WriteAt at an odd offset
// spanning several requests, with the default request size and a smaller
// one.
func TestLargeRequests(t *testing.T) {
	data := make([]byte, 3*sftp.OpenSSHPacketSize+12345)
	_, err := rand.Read(data)
	require.NoError(t, err)
	for _, srv := range servers {
		for i, opts := range [][]sftp.Option{nil, {sftp.WithPacketSize(20 << 10), sftp.WithConcurrency(3)}, nil} {
			t.Run(fmt.Sprintf("%s/%d", srv.name, i), func(t *testing.T) {
				if i == 2 {
					sftp.SetOwnPathMin(t, 1) // the default options through getFile and putFile
				}
				root := t.TempDir()
				c, dir := srv.client(t, root, opts...)
				// Closing the client ends the calls below that take no
				// context, so a hang fails the test in a minute.
				context.AfterFunc(testCtx(t, 60*time.Second), func() { c.Close() })
				_, limits := c.HasExtension("limits@openssh.com")
				require.Equal(t, srv.name == "sshd", limits)

				local := filepath.Join(t.TempDir(), "data")
				require.NoError(t, os.WriteFile(local, data, 0o600))
				ctx := testCtx(t, 60*time.Second)
				require.NoError(t, sftp.Upload(ctx, c, local, path.Join(dir, "data")))
				got, err := os.ReadFile(filepath.Join(root, "data"))
				require.NoError(t, err)
				require.True(t, bytes.Equal(data, got), "uploaded data differ")
				back := filepath.Join(t.TempDir(), "back")
				require.NoError(t, sftp.Download(ctx, c, path.Join(dir, "data"), back))
				got, err = os.ReadFile(back)
				require.NoError(t, err)
				require.True(t, bytes.Equal(data, got), "downloaded data differ")

				f, err := c.OpenFile(path.Join(dir, "data"), os.O_RDWR, 0)
				require.NoError(t, err)
				defer f.Close()
				const off = 100001
				part := data[len(data)-2*sftp.OpenSSHPacketSize-7:]
				n, err := f.WriteAt(part, off)
				require.NoError(t, err)
				require.Equal(t, len(part), n)
				read := make([]byte, len(part))
				n, err = f.ReadAt(read, off)
				require.NoError(t, err)
				require.Equal(t, len(part), n)
				require.True(t, bytes.Equal(part, read), "ReadAt gave other data than WriteAt wrote")
				want := slices.Concat(data[:off], part, data[off+len(part):])
				require.NoError(t, f.Close())
				got, err = os.ReadFile(filepath.Join(root, "data"))
				require.NoError(t, err)
				require.True(t, bytes.Equal(want, got), "WriteAt wrote elsewhere")
			})
		}
	}
}

// TestCancelledTransfer: a transfer whose context ends leaves no file
// under the final name, and no temporary file; an upload in parts too.
func TestCancelledTransfer(t *testing.T) {
	root := t.TempDir()
	c := sshtestClient(t, sshtest.SFTP{Root: root})
	local := filepath.Join(t.TempDir(), "big")
	require.NoError(t, os.WriteFile(local, bytes.Repeat([]byte("x"), 8<<20), 0o644))

	for _, streams := range []int{1, 3} {
		t.Run(fmt.Sprint("streams=", streams), func(t *testing.T) {
			sftp.ForceUploadStreams(t, streams)
			ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
			stop := sftp.WithProgress(func(string, int64, int64) { cancel() })
			err := sftp.Upload(ctx, c, local, "/big", stop)
			require.ErrorIs(t, err, context.Canceled)
			entries, err := os.ReadDir(root)
			require.NoError(t, err)
			require.Empty(t, entries)
		})
	}

	require.NoError(t, os.WriteFile(filepath.Join(root, "big"), bytes.Repeat([]byte("y"), 8<<20), 0o644))
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(testCtx(t, 30*time.Second))
	stop := sftp.WithProgress(func(string, int64, int64) { cancel() })
	err := sftp.Download(ctx, c, "/big", filepath.Join(dir, "big"), stop)
	require.ErrorIs(t, err, context.Canceled)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
}

// TestSessionCloseDuringTransfer: closing the session ends a transfer
// promptly, with an error matching ErrClosed.
func TestSessionCloseDuringTransfer(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			root := t.TempDir()
			s, dir := srv.session(t, root)
			c := newClient(t, s)
			started := make(chan struct{})
			var once bool
			r := &endless{onRead: func() {
				if !once {
					once = true
					close(started)
				}
			}}
			f, err := c.Create(path.Join(dir, "endless"))
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() {
				_, err := f.ReadFrom(r)
				done <- err
			}()
			recv(t, started, 10*time.Second)
			require.NoError(t, s.Close())
			err = recv(t, done, 10*time.Second)
			require.ErrorIs(t, err, sftp.ErrClosed)
			_, err = c.Stat(dir)
			require.ErrorIs(t, err, sftp.ErrClosed)
		})
	}
}

// endless is a reader that never ends.
type endless struct{ onRead func() }

func (e *endless) Read(b []byte) (int, error) {
	e.onRead()
	clear(b)
	return len(b), nil
}

// TestMisuse: nil and zero values, and use after Close, return errors.
func TestMisuse(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	_, err := sftp.NewClient(ctx, nil)
	require.Error(t, err)
	var nilClient *sftp.Client
	_, err = nilClient.Stat("x")
	require.Error(t, err)
	require.Error(t, (&sftp.Client{}).Close())
	_, err = nilClient.DirFS(".").Open("x")
	require.Error(t, err)
	var nilFile *sftp.File
	_, err = nilFile.Read(make([]byte, 1))
	require.Error(t, err)
	require.Error(t, (&sftp.File{}).Close())
	require.Error(t, sftp.Upload(ctx, nil, "a", "b"))

	root := t.TempDir()
	c := sshtestClient(t, sshtest.SFTP{Root: root})
	f, err := c.Create("/f")
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close is idempotent")
	_, err = c.Stat("/")
	require.ErrorIs(t, err, sftp.ErrClosed)
	_, err = f.Write([]byte("x"))
	require.ErrorIs(t, err, sftp.ErrClosed)
	_, err = c.DirFS("/").Open("f")
	require.ErrorIs(t, err, sftp.ErrClosed)
}

// TestPacketSizeOverServerLimits: a request size over what the server
// serves. OpenSSH's server announces its limits, and the size is lowered
// to them: the download is whole. sshtest's announces none and answers
// reads with at most 32 KiB. Download's own read path (files of 4 MiB or
// more) asks again for the rest of a short answer: whole too. Through
// pkg/sftp (smaller files), which takes a short answer for the end of the
// file, Download fails, and leaves nothing under the final name.
func TestPacketSizeOverServerLimits(t *testing.T) {
	for _, size := range []int{5<<20 + 77, 3<<20 + 77} {
		data := make([]byte, size)
		_, err := rand.Read(data)
		require.NoError(t, err)
		for _, srv := range servers {
			t.Run(fmt.Sprintf("%s/%d", srv.name, size), func(t *testing.T) {
				root := t.TempDir()
				require.NoError(t, os.WriteFile(filepath.Join(root, "data"), data, 0o600))
				c, dir := srv.client(t, root, sftp.WithPacketSize(1<<20))
				back := filepath.Join(t.TempDir(), "back")
				err := sftp.Download(testCtx(t, 60*time.Second), c, path.Join(dir, "data"), back)
				if srv.name == "sshd" || size >= 4<<20 {
					require.NoError(t, err)
					got, err := os.ReadFile(back)
					require.NoError(t, err)
					require.True(t, bytes.Equal(data, got), "downloaded data differ")
					return
				}
				require.Error(t, err)
				assert.Contains(t, err.Error(), "bytes of")
				_, err = os.Stat(back)
				assert.ErrorIs(t, err, fs.ErrNotExist, "a partial file under the final name")
			})
		}
	}
}

// TestParallelUpload: a file sent in parts on channels of their own (as
// Upload does on a path with latency) arrives whole, with progress that
// goes forward to the file's size, and nothing else left; a server that
// allows one channel only (sshd's MaxSessions 1) gets every part on the
// client's own channel. Downloaded back (over 4 MiB: on a channel of its
// own, or through the client's where the server allows one), it is whole
// too.
func TestParallelUpload(t *testing.T) {
	sftp.ForceUploadStreams(t, 3)
	data := make([]byte, 4<<20+5*sftp.OpenSSHPacketSize+777)
	_, err := rand.Read(data)
	require.NoError(t, err)
	local := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.WriteFile(local, data, 0o600))
	oneChannel := server{"sshd-MaxSessions-1", func(t *testing.T, root string, opts ...sftp.Option) (*sftp.Client, string) {
		return newClient(t, sshdSession(t, sshdtest.Options{ConfigFirst: []string{"MaxSessions 1"}}), opts...), root
	}, nil}
	for _, srv := range append(slices.Clone(servers), oneChannel) {
		t.Run(srv.name, func(t *testing.T) {
			root := t.TempDir()
			c, dir := srv.client(t, root)
			context.AfterFunc(testCtx(t, 60*time.Second), func() { c.Close() })
			progress, checkProgress := progressOf(t, local, int64(len(data)))
			require.NoError(t, sftp.Upload(testCtx(t, 60*time.Second), c, local, path.Join(dir, "data"), progress))
			checkProgress()
			got, err := os.ReadFile(filepath.Join(root, "data"))
			require.NoError(t, err)
			require.True(t, bytes.Equal(data, got), "uploaded data differ")
			entries, err := os.ReadDir(root)
			require.NoError(t, err)
			require.Len(t, entries, 1, "no temporary file is left")

			back := filepath.Join(t.TempDir(), "back")
			progress, checkProgress = progressOf(t, path.Join(dir, "data"), int64(len(data)))
			require.NoError(t, sftp.Download(testCtx(t, 60*time.Second), c, path.Join(dir, "data"), back, progress))
			checkProgress()
			got, err = os.ReadFile(back)
			require.NoError(t, err)
			require.True(t, bytes.Equal(data, got), "downloaded data differ")
		})
	}
}

// progressOf is a WithProgress for a transfer of name's size bytes that
// checks each call, and a check that the calls went forward, several
// times, to the size.
func progressOf(t *testing.T, name string, size int64) (sftp.TransferOption, func()) {
	var last int64
	calls := 0
	opt := sftp.WithProgress(func(got string, done, total int64) {
		calls++
		assert.Equal(t, name, got)
		assert.Equal(t, size, total)
		assert.LessOrEqual(t, last, done, "progress goes forward")
		last = done
	})
	return opt, func() {
		t.Helper()
		require.Equal(t, size, last)
		require.Greater(t, calls, 3)
	}
}

// TestUploadStreams: one channel on a fast path or for a small file; on a
// slow path enough of sshd's 2 MiB windows, at most 4.
func TestUploadStreams(t *testing.T) {
	const big = 1 << 30
	assert.Equal(t, 1, sftp.UploadStreams(0, big))
	assert.Equal(t, 1, sftp.UploadStreams(time.Millisecond, big))
	assert.Equal(t, 2, sftp.UploadStreams(10*time.Millisecond, big))
	assert.Equal(t, 4, sftp.UploadStreams(50*time.Millisecond, big))
	assert.Equal(t, 1, sftp.UploadStreams(50*time.Millisecond, 20<<20))
	assert.Equal(t, 2, sftp.UploadStreams(50*time.Millisecond, 40<<20))
}
