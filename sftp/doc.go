// Package sftp is an SFTP client on a [libssh.Session]: the files of the
// server through os-like calls, as an io/fs file system, and whole files
// and trees copied with [Upload] and [Download].
//
// It is github.com/pkg/sftp's client over a channel of the session running
// the server's "sftp" subsystem: pkg/sftp keeps many read and write
// requests in flight per file, which is what makes a transfer fast over a
// link with latency (libssh 0.10's own SFTP client writes one request at a
// time). It lives in a package of its own so that programs that do not use
// SFTP do not link pkg/sftp.
//
//	c, err := sftp.NewClient(ctx, session)
//	...
//	defer c.Close()
//	f, err := c.Create("notes.txt")       // an io.Writer, io.WriterAt, io.ReaderFrom...
//	fi, err := c.Stat("notes.txt")
//	err = fs.WalkDir(c.DirFS("/var/log"), ".", walk) // an fs.FS
//	err = sftp.Upload(ctx, c, "build/", "/srv/www", sftp.WithProgress(show))
//
// # Errors
//
// Errors are *fs.PathError (or *os.LinkError for Rename and Symlink) as
// package os returns, and errors.Is matches fs.ErrNotExist,
// fs.ErrPermission and fs.ErrExist. SFTP version 3, which OpenSSH speaks,
// says only "failure" when a path exists: Mkdir and OpenFile with O_EXCL
// then look whether it does. [StatusError] keeps the server's status code
// and message. Once the client, its session or the server's subsystem has
// ended, calls fail with an error matching [ErrClosed].
//
// # Contexts
//
// SFTP cannot withdraw a request once sent, and pkg/sftp's calls take no
// context. So the context of [NewClient] bounds setting the client up
// (opening the channel, starting the subsystem, the SFTP handshake), and
// the os-like calls and File methods take none: each waits for the
// server's answer, and [Client.Close] or the session's Close ends every
// waiting call at once. [Upload] and [Download] take a context: when it
// ends they stop sending, remove their temporary file and return the
// context's error, closing the client if the server has not answered
// within [CancelGrace].
//
// # Speed
//
// Writes to the channel are gathered and sent by a goroutine of the
// client, so that the requests in flight leave in large writes. Requests
// are 32 KiB, or, when the server announces "limits@openssh.com" (as
// OpenSSH's sftp-server does), the largest read and write it gives in its
// answer to NewClient, at most 255 KiB ([OpenSSHPacketSize]; OpenSSH's
// sftp uses that size too). How many a transfer keeps in flight follows the
// round-trip time the client measures when it starts (see
// [DefaultMaxConcurrency]): enough for 200 MB/s, but few writes on a short
// link, where more only make sshd slower. [WithConcurrency] and
// [WithPacketSize] set them instead. The channel's receive window is the
// session's ([libssh.WithMaxWindow]), or [WithMaxWindow]'s. Against
// OpenSSH's sshd, gets outrun OpenSSH's sftp over links with latency and
// puts match it at 10 and 50 ms; on loopback both trail it (make
// bench-link, docs/design.md).
//
// Package sshtest serves the subsystem in Go ([sshtest.SFTP]), rooted in
// a directory a test chooses, with a read-only mode and a disk that fills
// up, so that code using this package can be tested without sshd.
package sftp
