package sftp_test

import (
	"os"
	"path"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/sftp"
)

// BenchmarkDownload: Download of a 64 MiB file from sshd's internal-sftp
// over loopback, on a channel of its own (path=own, what Download does for
// files of 4 MiB or more) and through pkg/sftp's File.WriteTo
// (path=pkgsftp); cpu-ms/op is the client's CPU time.
func BenchmarkDownload(b *testing.B) {
	const size = 64 << 20
	root := b.TempDir()
	f, err := os.Create(filepath.Join(root, "data"))
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	s := sshdSession(b, sshdtest.Options{})
	c := newClient(b, s)
	for _, p := range ownPaths {
		b.Run("path="+p.name, func(b *testing.B) {
			sftp.SetOwnPathMin(b, p.min)
			b.SetBytes(size)
			dst := filepath.Join(b.TempDir(), "data")
			cpu0 := cpuTime(b)
			for b.Loop() {
				if err := sftp.Download(testCtx(b, time.Minute), c, path.Join(root, "data"), dst); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkUpload: Upload of a 64 MiB file to sshd's internal-sftp over
// loopback (one channel: no latency), on a channel of its own (path=own,
// what Upload does for files of 4 MiB or more) and through pkg/sftp's
// File.ReadFrom (path=pkgsftp); cpu-ms/op is the client's CPU time.
func BenchmarkUpload(b *testing.B) {
	const size = 64 << 20
	local := filepath.Join(b.TempDir(), "data")
	if err := os.WriteFile(local, make([]byte, size), 0o600); err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	s := sshdSession(b, sshdtest.Options{})
	c := newClient(b, s)
	for _, p := range ownPaths {
		b.Run("path="+p.name, func(b *testing.B) {
			sftp.SetOwnPathMin(b, p.min)
			b.SetBytes(size)
			cpu0 := cpuTime(b)
			for b.Loop() {
				if err := sftp.Upload(testCtx(b, time.Minute), c, local, path.Join(root, "data")); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime is the CPU time this process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
