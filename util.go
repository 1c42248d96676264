package libssh

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// chunkBufs recycles buffers of maxWriteChunk bytes, for copying to and from
// channels (a channel write takes at most that much at once).
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, maxWriteChunk); return &b }}

func itoa(i int) string { return strconv.Itoa(i) }

func strconvHex(u uint32) string { return strconv.FormatUint(uint64(u), 16) }

// maxProtocolString bounds a string the client sends in one message (a
// command line, an environment variable, a user name, a password). OpenSSH
// and libssh refuse packets over 256 KiB (PACKET_MAX_SIZE, MAX_PACKET_LEN)
// by ending the whole connection; this leaves room for the rest of the
// packet, so that an over-long string is refused by the call that got it,
// before anything is sent.
const maxProtocolString = 250 << 10

// checkString rejects strings that C would silently truncate, and strings
// too long for one SSH packet.
func checkString(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("libssh: %s contains a NUL byte", what)
	}
	if len(s) > maxProtocolString {
		return fmt.Errorf("libssh: %s is %d bytes long, more than one SSH packet carries (servers end the connection for packets over 256 KiB; the limit here is %d bytes)", what, len(s), maxProtocolString)
	}
	return nil
}
