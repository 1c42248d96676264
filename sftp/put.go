package sftp

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// Upload's own write path, the counterpart of getFile. pkg/sftp's
// File.ReadFrom passes each WRITE through four goroutines (its reader of
// the file, its writers, the channel writer, its reader of the answers) and
// one more copy. putFile writes a whole file on a channel of its own
// instead: one goroutine reads the local file straight into a request's
// buffer, writes the request to the channel (Write returns once libssh took
// it, so one buffer does), and reads the answers, keeping the client's
// writes in flight (one more than Client.writes: pkg/sftp's ReadFrom sends
// the next request while its writer waits for an answer, so it keeps that
// many). It speaks only OPEN, WRITE, CLOSE and their answers.

const (
	fxpClose = 4
	fxpWrite = 6

	fxfWrite = 2 // SSH_FXF_WRITE
)

// putFile writes the first size bytes of src (the local file local) to the
// remote file name, which exists, on a new channel of c's session,
// reporting progress. (A file that grows meanwhile is copied up to size,
// its size when Upload began.)
func (t *transfer) putFile(ctx context.Context, c *Client, local string, src io.ReaderAt, name string, size int64) error {
	g, handle, end, err := openOwn(ctx, c, name, fxfWrite, 0)
	if err != nil {
		return err
	}
	defer end()

	packet := int64(c.cfg.packet)
	inFlight := max(c.writes, 1) + 1
	head := 4 + 1 + 4 + 4 + len(handle) + 8 + 4 // WRITE's fields before the data
	b := make([]byte, head+int(packet))
	pending := make(map[uint32]int64, inFlight) // request id: bytes
	var next, done int64
	for {
		for len(pending) < inFlight && next < size {
			if err := ctx.Err(); err != nil {
				return err
			}
			n, err := src.ReadAt(b[head:head+int(min(packet, size-next))], next)
			if err != nil && err != io.EOF {
				return err
			}
			if n == 0 {
				return fmt.Errorf("sftp: upload %s: the file ended at %d bytes of %d", local, next, size)
			}
			g.id++
			p := b[:4]
			p = append(p, fxpWrite)
			p = binary.BigEndian.AppendUint32(p, g.id)
			p = binary.BigEndian.AppendUint32(p, uint32(len(handle)))
			p = append(p, handle...) // in b: the offset and length follow
			binary.BigEndian.PutUint64(b[len(p):], uint64(next))
			binary.BigEndian.PutUint32(b[len(p)+8:], uint32(n))
			if err := g.send(b[:head+n]); err != nil {
				return err
			}
			pending[g.id] = int64(n)
			next += int64(n)
		}
		if len(pending) == 0 {
			break
		}
		n, code, msg, err := g.answer(pending)
		if err != nil {
			return fmt.Errorf("sftp: upload %s: %w", local, err)
		}
		if code != 0 {
			return pathErr("write", name, statusErr(code, msg))
		}
		t.advance(local, &done, int(n), size)
	}
	// CLOSE, for the server's error of its close.
	g.id++
	p := make([]byte, 4, 4+1+4+4+len(handle))
	p = append(p, fxpClose)
	p = binary.BigEndian.AppendUint32(p, g.id)
	p = binary.BigEndian.AppendUint32(p, uint32(len(handle)))
	p = append(p, handle...)
	if err := g.send(p); err != nil {
		return err
	}
	_, code, msg, err := g.answer(map[uint32]int64{g.id: 0})
	if err != nil {
		return fmt.Errorf("sftp: upload %s: %w", local, err)
	}
	if code != 0 {
		return pathErr("close", name, statusErr(code, msg))
	}
	return nil
}

// answer reads the STATUS that answers one of the requests in pending,
// removes it, and returns its bytes (pending's value), code and message.
func (g *getter) answer(pending map[uint32]int64) (n int64, code uint32, msg string, err error) {
	id, typ, length, err := g.header()
	if err != nil {
		return 0, 0, "", err
	}
	n, ok := pending[id]
	switch {
	case !ok:
		return 0, 0, "", fmt.Errorf("the server answered request %d, which is not in flight", id)
	case typ != fxpStatus:
		return 0, 0, "", fmt.Errorf("the server answered request %d with a packet of type %d", id, typ)
	}
	delete(pending, id)
	code, msg, err = g.status(length)
	return n, code, msg, err
}
