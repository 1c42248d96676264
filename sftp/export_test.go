package sftp

import (
	"testing"
	"time"
)

// ForceUploadStreams makes uploads send each file in n parts on channels
// of their own, whatever the path, until t ends.
func ForceUploadStreams(t testing.TB, n int) {
	old := uploadStreams
	uploadStreams = func(time.Duration, int64) int { return n }
	t.Cleanup(func() { uploadStreams = old })
}

// UploadStreams is how many channels an upload of size bytes uses over a
// path with round trip rtt.
func UploadStreams(rtt time.Duration, size int64) int { return uploadStreams(rtt, size) }

// SetOwnPathMin sets the smallest file Download reads and Upload writes
// on a channel of its own, until t ends.
func SetOwnPathMin(t testing.TB, n int64) {
	old := ownPathMin
	ownPathMin = n
	t.Cleanup(func() { ownPathMin = old })
}
