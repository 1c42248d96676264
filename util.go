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

// checkString rejects strings that C would silently truncate.
func checkString(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("libssh: %s contains a NUL byte", what)
	}
	return nil
}
