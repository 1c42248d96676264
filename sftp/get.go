package sftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/golibssh/libssh/internal/chanio"
)

// Download's own read path. pkg/sftp v1's client allocates every answer
// (a new buffer of the packet's size in recvPacket) and passes each chunk
// of File.WriteTo through three goroutines: on loopback that made its
// downloads cost about twice the CPU of a plain channel download, zeroing
// and garbage-collecting every byte. getFile reads a whole file on a
// channel of its own instead: one goroutine keeps read requests in
// flight (written straight to the channel: they are small, and the
// server's window takes them), reads each answer whole into one reused
// buffer (inbox, which waits once per answer) and writes it where it
// belongs. It speaks only OPEN, READ and their answers
// (draft-ietf-secsh-filexfer-02); the channel's end closes the handle.

// The packets getFile uses (fxpStatus is in hello.go).
const (
	fxpOpen   = 3
	fxpRead   = 5
	fxpHandle = 102
	fxpData   = 103

	fxfRead = 1 // SSH_FXF_READ
	fxEOF   = 1 // SSH_FX_EOF

	maxHandle = 256 // the protocol's bound on a handle's length
)

// errNotStarted is getFile or putFile failing before it moved anything:
// Download or Upload then copies through pkg/sftp instead.
type errNotStarted struct{ err error }

func (e errNotStarted) Error() string { return e.err.Error() }
func (e errNotStarted) Unwrap() error { return e.err }

// getFile copies the first size bytes of the remote file to dst, reporting
// progress, on a new channel of c's session. It returns the bytes written;
// fewer than size when the file ended sooner.
func (t *transfer) getFile(ctx context.Context, c *Client, remote string, dst io.WriterAt, size int64) (int64, error) {
	g, handle, end, err := openOwn(ctx, c, remote, fxfRead, c.cfg.packet)
	if err != nil {
		return 0, err
	}
	defer end()

	packet := int64(c.cfg.packet)
	inFlight := make(map[uint32]span, c.reads)
	var next, done int64
	var ended bool // the server said EOF: the file is shorter than size
	for {
		for !ended && next < size && len(inFlight) < max(c.reads, 1) {
			n := min(packet, size-next)
			if err := g.read(handle, span{next, n}, inFlight); err != nil {
				return done, err
			}
			next += n
		}
		if len(inFlight) == 0 {
			return done, nil
		}
		id, typ, length, err := g.header()
		if err != nil {
			return done, err
		}
		want, ok := inFlight[id]
		if !ok {
			return done, fmt.Errorf("sftp: download %s: the server answered request %d, which is not in flight", remote, id)
		}
		delete(inFlight, id)
		switch {
		case typ == fxpData && length >= 4:
			n, err := g.r.next(4)
			if err != nil {
				return done, err
			}
			got := int64(binary.BigEndian.Uint32(n))
			if got != int64(length)-4 || got > want.n || got == 0 {
				// (An empty answer would be asked for again for ever.)
				return done, fmt.Errorf("sftp: download %s: the server sent %d bytes for a read of %d", remote, got, want.n)
			}
			data, err := g.r.next(int(got))
			if err != nil {
				return done, err
			}
			if _, err := dst.WriteAt(data, want.off); err != nil {
				return done, err
			}
			t.advance(remote, &done, int(got), size)
			if got < want.n {
				// A short answer is not the end: ask for the rest.
				if err := g.read(handle, span{want.off + got, want.n - got}, inFlight); err != nil {
					return done, err
				}
			}
		case typ == fxpStatus:
			code, msg, err := g.status(length)
			if err != nil {
				return done, err
			}
			if code != fxEOF {
				return done, pathErr("read", remote, statusErr(code, msg))
			}
			ended = true
		default:
			return done, fmt.Errorf("sftp: download %s: the server answered a read with a packet of type %d", remote, typ)
		}
	}
}

// openOwn opens an SFTP channel of its own on c's session for getFile or
// putFile: the subsystem, the version exchange, and name opened with the
// SSH_FXF flags, with an inbox for answers of up to packet bytes of data.
// Any failure is an errNotStarted. end closes the channel; until then,
// ctx's end closes it too, which ends a blocked read or write.
func openOwn(ctx context.Context, c *Client, name string, flags uint32, packet int) (g *getter, handle []byte, end func(), err error) {
	ch, err := openSubsystem(ctx, c.s, c.cfg.window)
	if err != nil {
		return nil, nil, nil, errNotStarted{err}
	}
	stop := context.AfterFunc(ctx, func() { ch.Close() })
	end = func() {
		stop()
		ch.Close()
	}
	g = &getter{r: newInbox(ch, packet), w: ch}
	if _, err = sayHello(g.r, ch); err == nil {
		handle, err = g.openFlags(name, flags)
	}
	if err != nil {
		end()
		return nil, nil, nil, errNotStarted{err}
	}
	return g, handle, end, nil
}

// span is a read request: length n at offset off.
type span struct{ off, n int64 }

// getter reads and writes getFile's packets.
type getter struct {
	r  *inbox
	w  io.Writer
	id uint32 // the last request's id
}

// openFlags opens the file with the SSH_FXF flags and returns its handle.
func (g *getter) openFlags(name string, flags uint32) ([]byte, error) {
	g.id++
	p := make([]byte, 4, 4+1+4+4+len(name)+8)
	p = append(p, fxpOpen)
	p = binary.BigEndian.AppendUint32(p, g.id)
	p = binary.BigEndian.AppendUint32(p, uint32(len(name)))
	p = append(p, name...)
	p = binary.BigEndian.AppendUint32(p, flags)
	p = binary.BigEndian.AppendUint32(p, 0) // no attributes
	if err := g.send(p); err != nil {
		return nil, err
	}
	id, typ, length, err := g.header()
	if err != nil {
		return nil, err
	}
	if id != g.id {
		return nil, fmt.Errorf("the server answered request %d, not %d", id, g.id)
	}
	switch typ {
	case fxpHandle:
		if length < 4 || length > 4+maxHandle {
			return nil, fmt.Errorf("the server sent a handle packet of %d bytes", length)
		}
		b, err := g.r.next(int(length))
		if err != nil {
			return nil, err
		}
		if n := binary.BigEndian.Uint32(b); int(n) != len(b)-4 {
			return nil, errors.New("the server sent a malformed handle")
		}
		return bytes.Clone(b[4:]), nil
	case fxpStatus:
		code, msg, err := g.status(length)
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("the server refused to open %s: %s (status %d)", name, msg, code)
	}
	return nil, fmt.Errorf("the server answered OPEN with a packet of type %d", typ)
}

// read asks for s, as a new request in flight.
func (g *getter) read(handle []byte, s span, inFlight map[uint32]span) error {
	g.id++
	p := make([]byte, 4, 4+1+4+4+len(handle)+8+4)
	p = append(p, fxpRead)
	p = binary.BigEndian.AppendUint32(p, g.id)
	p = binary.BigEndian.AppendUint32(p, uint32(len(handle)))
	p = append(p, handle...)
	p = binary.BigEndian.AppendUint64(p, uint64(s.off))
	p = binary.BigEndian.AppendUint32(p, uint32(s.n))
	inFlight[g.id] = s
	return g.send(p)
}

// send fills in p's length and writes it.
func (g *getter) send(p []byte) error {
	binary.BigEndian.PutUint32(p, uint32(len(p)-4))
	_, err := g.w.Write(p)
	return err
}

// header reads an answer's length, type and id; length is what follows.
func (g *getter) header() (id uint32, typ byte, length uint32, err error) {
	h, err := g.r.next(9)
	if err != nil {
		if err == io.EOF {
			err = fmt.Errorf("the server closed the channel: %w", io.ErrUnexpectedEOF)
		}
		return 0, 0, 0, err
	}
	size := binary.BigEndian.Uint32(h[:])
	if size < 5 || size > 1<<20+1024 {
		return 0, 0, 0, fmt.Errorf("the server sent a packet of %d bytes", size)
	}
	return binary.BigEndian.Uint32(h[5:]), h[4], size - 5, nil
}

// status reads a STATUS answer's body: its code and message.
func (g *getter) status(length uint32) (code uint32, msg string, err error) {
	if length < 4 || length > maxHelloPacket {
		return 0, "", fmt.Errorf("the server sent a status of %d bytes", length)
	}
	b, err := g.r.next(int(length))
	if err != nil {
		return 0, "", err
	}
	code = binary.BigEndian.Uint32(b)
	if len(b) >= 8 {
		if n := binary.BigEndian.Uint32(b[4:]); uint64(n) <= uint64(len(b)-8) {
			msg = string(b[8 : 8+n])
		}
	}
	return code, msg, nil
}

// inbox buffers what getFile reads from its channel. It asks the channel
// for at least what the next step needs (chanio.ReadAtLeast, which waits
// for all of it at once) and takes whatever more the channel holds, up to
// its buffer's size.
type inbox struct {
	ch   io.Reader
	buf  []byte
	r, w int // buf[r:w] is unread
}

// newInbox buffers ch for answers that carry up to packet bytes of data.
func newInbox(ch io.Reader, packet int) *inbox {
	return &inbox{ch: ch, buf: make([]byte, max(packet+64<<10, pipeBuffer))}
}

// next returns the next n bytes, valid until the next call. An end of the
// channel before them is io.ErrUnexpectedEOF, or io.EOF before any.
func (in *inbox) next(n int) ([]byte, error) {
	if n > len(in.buf) {
		return nil, fmt.Errorf("the server sent a packet of %d bytes", n)
	}
	if held := in.w - in.r; held < n {
		if len(in.buf)-in.r < n {
			copy(in.buf, in.buf[in.r:in.w])
			in.r, in.w = 0, held
		}
		got, err := chanio.ReadAtLeast(in.ch, in.buf[in.w:], n-held)
		in.w += got
		if err != nil {
			if err == io.EOF && held > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	b := in.buf[in.r : in.r+n]
	in.r += n
	return b, nil
}

// Read is io.Reader's, for sayHello.
func (in *inbox) Read(p []byte) (int, error) {
	if in.r == in.w {
		got, err := chanio.ReadAtLeast(in.ch, in.buf, 1)
		in.r, in.w = 0, got
		if err != nil {
			return 0, err
		}
	}
	n := copy(p, in.buf[in.r:in.w])
	in.r += n
	return n, nil
}
