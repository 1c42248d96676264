package libssh

import (
	"fmt"
	"strconv"
	"strings"
)

func itoa(i int) string { return strconv.Itoa(i) }

func strconvHex(u uint32) string { return strconv.FormatUint(uint64(u), 16) }

// checkString rejects strings that C would silently truncate.
func checkString(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("libssh: %s contains a NUL byte", what)
	}
	return nil
}
