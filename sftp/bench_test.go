package sftp_test

import (
	"math"
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
	for _, p := range []struct {
		name string
		min  int64
	}{{"own", 0}, {"pkgsftp", math.MaxInt64}} {
		b.Run("path="+p.name, func(b *testing.B) {
			sftp.SetGetFileMin(b, p.min)
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

// cpuTime is the CPU time this process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkUpload: Upload of a 64 MiB file to sshd's internal-sftp over
// loopback (pkg/sftp's File.ReadFrom on one channel, what Upload does on
// paths under 2 ms); cpu-ms/op is the client's CPU time.
func BenchmarkUpload(b *testing.B) {
	const size = 64 << 20
	src := filepath.Join(b.TempDir(), "data")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.Write(make([]byte, size)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	root := b.TempDir()
	s := sshdSession(b, sshdtest.Options{})
	c := newClient(b, s)
	b.SetBytes(size)
	cpu0 := cpuTime(b)
	for b.Loop() {
		if err := sftp.Upload(testCtx(b, time.Minute), c, src, path.Join(root, "data")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}
