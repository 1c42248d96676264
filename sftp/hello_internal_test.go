package sftp

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type nopCloser struct{ bytes.Buffer }

func (*nopCloser) Close() error { return nil }

// TestHelloParts: the VERSION parser takes well-formed extension lists and
// survives malformed ones; the request size follows the limits; the INIT
// swallower drops pkg/sftp's INIT however it is split, and refuses
// anything else.
func TestHelloParts(t *testing.T) {
	ext := func(pairs ...string) []byte {
		b := []byte{0, 0, 0, 3}
		for _, s := range pairs {
			b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		}
		return b
	}
	assert.True(t, hasExtension(ext("posix-rename@openssh.com", "1", limitsExtension, "1"), limitsExtension))
	assert.False(t, hasExtension(ext("posix-rename@openssh.com", "1"), limitsExtension))
	assert.False(t, hasExtension(ext(limitsExtension), limitsExtension), "a name without its data")
	full := ext(limitsExtension, "1")
	for i := range full {
		hasExtension(full[:i], limitsExtension) // truncated: no panic
	}
	assert.False(t, hasExtension([]byte{0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff}, limitsExtension))

	assert.Equal(t, OpenSSHPacketSize, (&hello{read: 0, write: 0}).packetFor(), "no limits")
	assert.Equal(t, OpenSSHPacketSize, (&hello{read: 261120, write: 261120}).packetFor())
	assert.Equal(t, 65536, (&hello{read: 65536, write: 1 << 20}).packetFor())
	assert.Equal(t, 4096, (&hello{read: 1 << 20, write: 4096}).packetFor())

	initPkt := []byte{0, 0, 0, 5, fxpInit, 0, 0, 0, 3}
	for split := 0; split <= len(initPkt); split++ {
		var out nopCloser
		s := &initSwallower{w: &out}
		n, err := s.Write(initPkt[:split])
		require.NoError(t, err)
		assert.Equal(t, split, n)
		n, err = s.Write(append(initPkt[split:], "next"...))
		require.NoError(t, err)
		assert.Equal(t, len(initPkt)-split+4, n)
		assert.Equal(t, "next", out.String(), "split at %d", split)
	}
	s := &initSwallower{w: &nopCloser{}}
	_, err := s.Write([]byte{0, 0, 0, 9, 3, 0, 0, 0, 1, 0, 0, 0, 0})
	assert.ErrorIs(t, err, errNotInit)
}
