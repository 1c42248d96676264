package sftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// The SFTP packets the version exchange uses (draft-ietf-secsh-filexfer-02
// and OpenSSH's PROTOCOL, "limits@openssh.com").
const (
	fxpInit          = 1
	fxpVersion       = 2
	fxpStatus        = 101
	fxpExtended      = 200
	fxpExtendedReply = 201

	limitsExtension = "limits@openssh.com"
	// maxHelloPacket bounds a VERSION or limits answer: a server's list of
	// extensions is a few hundred bytes.
	maxHelloPacket = 64 << 10
)

// hello is what the client learns from the version exchange, which it does
// itself before pkg/sftp starts: pkg/sftp (v1) cannot send the limits
// request, and without the server's limits a read request larger than the
// server serves comes back short, which pkg/sftp's concurrent reads take
// for the end of the file.
type hello struct {
	version []byte // the server's VERSION packet, length included, for pkg/sftp
	limits  bool   // the server answered the limits request
	packet  uint64 // its largest packet, read and write (0: no limit)
	read    uint64
	write   uint64
	rtt     time.Duration // the limits request's round trip (0: none)
}

// sayHello sends INIT, reads VERSION, and asks for the limits when the
// server announces them.
func sayHello(r io.Reader, w io.Writer) (*hello, error) {
	if _, err := w.Write([]byte{0, 0, 0, 5, fxpInit, 0, 0, 0, 3}); err != nil {
		return nil, err
	}
	raw, err := readHelloPacket(r)
	if err != nil {
		return nil, err
	}
	if raw[4] != fxpVersion {
		return nil, fmt.Errorf("the server answered INIT with a packet of type %d, not VERSION", raw[4])
	}
	h := &hello{version: raw}
	if !hasExtension(raw[5:], limitsExtension) {
		return h, nil
	}
	req := binary.BigEndian.AppendUint32(nil, uint32(1+4+4+len(limitsExtension)))
	req = append(req, fxpExtended, 0, 0, 0, 1)
	req = binary.BigEndian.AppendUint32(req, uint32(len(limitsExtension)))
	req = append(req, limitsExtension...)
	start := time.Now()
	if _, err := w.Write(req); err != nil {
		return nil, err
	}
	ans, err := readHelloPacket(r)
	if err != nil {
		return nil, err
	}
	h.rtt = time.Since(start)
	switch body := ans[5:]; {
	case ans[4] == fxpExtendedReply && len(body) >= 4+4*8 && binary.BigEndian.Uint32(body) == 1:
		h.limits = true
		h.packet = binary.BigEndian.Uint64(body[4:])
		h.read = binary.BigEndian.Uint64(body[4+8:])
		h.write = binary.BigEndian.Uint64(body[4+16:])
	case ans[4] == fxpStatus && len(body) >= 4 && binary.BigEndian.Uint32(body) == 1:
		// Refused after all: no limits known.
	default:
		return nil, fmt.Errorf("the server answered the limits request with a packet of type %d", ans[4])
	}
	return h, nil
}

// readHelloPacket reads one packet whole, its length included.
func readHelloPacket(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		if err == io.EOF { // not a clean end: the server owes an answer
			err = fmt.Errorf("the server closed the channel during the version exchange: %w", io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size < 1 || size > maxHelloPacket {
		return nil, fmt.Errorf("the server sent a packet of %d bytes during the version exchange", size)
	}
	p := make([]byte, 4+size)
	copy(p, n[:])
	if _, err := io.ReadFull(r, p[4:]); err != nil {
		return nil, err
	}
	return p, nil
}

// hasExtension says whether a VERSION packet's body (from its version
// number on) names the extension.
func hasExtension(body []byte, name string) bool {
	if len(body) < 4 {
		return false
	}
	body = body[4:]
	for len(body) > 0 {
		var s [2][]byte
		for j := range s {
			if len(body) < 4 {
				return false
			}
			n := binary.BigEndian.Uint32(body)
			if uint64(n) > uint64(len(body)-4) {
				return false
			}
			s[j], body = body[4:4+n], body[4+n:]
		}
		if string(s[0]) == name {
			return true
		}
	}
	return false
}

// packetFor returns the request size to use with these limits: the
// largest read and write the server serves, and a write that fits its
// largest packet, at most OpenSSHPacketSize.
func (h *hello) packetFor() int {
	size := uint64(OpenSSHPacketSize)
	// A write request carries its data and about 1 KiB more at most (its
	// handle is at most 256 bytes).
	packetData := uint64(0)
	if h.packet > 1024 {
		packetData = h.packet - 1024
	}
	for _, l := range []uint64{h.read, h.write, packetData} {
		if l != 0 && l < size {
			size = l
		}
	}
	return int(size)
}

// replayReader gives pkg/sftp the VERSION packet already read, then the
// channel.
func replayReader(version []byte, r io.Reader) io.Reader {
	return io.MultiReader(bytes.NewReader(version), r)
}

// initSwallower drops the INIT packet pkg/sftp sends (the server had one
// already), checking that it is one, and passes everything after it on.
type initSwallower struct {
	w    io.WriteCloser
	seen []byte // the start of pkg/sftp's INIT, until it is whole
}

var errNotInit = errors.New("pkg/sftp did not start with INIT")

func (s *initSwallower) Write(b []byte) (int, error) {
	const initLen = 9
	n := 0
	if len(s.seen) < initLen {
		take := min(initLen-len(s.seen), len(b))
		s.seen = append(s.seen, b[:take]...)
		b, n = b[take:], take
		if len(s.seen) == initLen && (binary.BigEndian.Uint32(s.seen) != 5 || s.seen[4] != fxpInit) {
			return n, errNotInit
		}
		if len(b) == 0 {
			return n, nil
		}
	}
	m, err := s.w.Write(b)
	return n + m, err
}

func (s *initSwallower) Close() error { return s.w.Close() }
