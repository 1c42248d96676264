package sftp

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

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
	assert.Equal(t, 64<<10-1024, (&hello{packet: 64 << 10, read: 1 << 20, write: 1 << 20}).packetFor(), "a write fits a packet")
	assert.Equal(t, OpenSSHPacketSize, (&hello{packet: 256 << 10, read: 261120, write: 261120}).packetFor(), "OpenSSH's")

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

// TestSayHello: the version exchange against a server in the test: the
// limits it answers set the request size; a STATUS answer leaves no
// limits; another packet, or the channel closing, is an error.
func TestSayHello(t *testing.T) {
	pkt := func(typ byte, body ...[]byte) []byte {
		b := bytes.Join(append([][]byte{{typ}}, body...), nil)
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
	}
	str := func(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	version := pkt(fxpVersion, u32(3), str(limitsExtension), str("1"))
	cases := []struct {
		name    string
		answers [][]byte // after INIT, and after the limits request
		limits  bool
		packet  int
		err     string
	}{
		{"limits", [][]byte{version, pkt(fxpExtendedReply, u32(1), u64(1<<18), u64(65536), u64(1<<20), u64(64))}, true, 65536, ""},
		{"refused", [][]byte{version, pkt(fxpStatus, u32(1), u32(8))}, false, 0, ""},
		{"no extension", [][]byte{pkt(fxpVersion, u32(3))}, false, 0, ""},
		{"other answer", [][]byte{version, pkt(fxpVersion, u32(3))}, false, 0, "limits request"},
		{"not VERSION", [][]byte{pkt(fxpStatus, u32(0), u32(8))}, false, 0, "not VERSION"},
		{"closed", nil, false, 0, "closed the channel"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			served := make(chan struct{})
			go func() {
				defer close(served)
				defer server.Close()
				buf := make([]byte, 1<<10)
				for _, a := range tc.answers {
					if _, err := server.Read(buf); err != nil {
						return
					}
					if _, err := server.Write(a); err != nil {
						return
					}
				}
				server.Read(buf) // INIT, when there is no answer
			}()
			require.NoError(t, client.SetDeadline(time.Now().Add(10*time.Second)))
			h, err := sayHello(client, client)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.answers[0], h.version)
				assert.Equal(t, tc.limits, h.limits)
				if tc.limits {
					assert.Equal(t, tc.packet, h.packetFor())
					assert.Positive(t, h.rtt)
				}
			}
			client.Close()
			select {
			case <-served:
			case <-time.After(10 * time.Second):
				t.Fatal("the test's server did not end")
			}
		})
	}
}
