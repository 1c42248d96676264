package libssh_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/lib"
	"github.com/golibssh/libssh/sshtest"
)

// BenchmarkConnectAuthenticate: a whole session against sshd -i: connect,
// key exchange, public-key authentication, close. sshd's own start-up is
// part of each iteration.
func BenchmarkConnectAuthenticate(b *testing.B) {
	srv := sshdtest.New(b, sshdtest.Options{})
	key, err := libssh.ParsePrivateKeyFile(sshdtest.Keys("id_ed25519"), "")
	if err != nil {
		b.Fatal(err)
	}
	defer key.Close()
	kh := knownHostsOf(b, srv, pipeHost)
	b.ReportAllocs()
	for b.Loop() {
		s, err := libssh.NewSession(b.Context(), pipeHost, libssh.WithConn(srv.Pipe(b)),
			libssh.WithUser(srv.User), libssh.WithKnownHosts(kh))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.VerifyHost(); err != nil {
			b.Fatal(err)
		}
		if status, err := s.UserauthPublicKey(b.Context(), key); status != libssh.AuthSuccess {
			b.Fatal(status, err)
		}
		s.Close()
	}
}

// BenchmarkRoundTrip: one request and its reply on a connected session over
// TCP (a "none" authentication attempt). It measures the path every call that
// waits for the server takes: libssh sends, the pump wakes on the reply, the
// waiter retries. OpenSSH delays every failed attempt by a per-user 5-10 ms,
// so compare with plain blocking libssh doing the same (5.8 ms per attempt on
// the 2-core CI machine), not with a bare network round trip.
func BenchmarkRoundTrip(b *testing.B) {
	srv := sshdtest.New(b, sshdtest.Options{ConfigFirst: []string{"MaxAuthTries 1000000"}})
	host, port := splitHostPort(b, srv.Listen(b))
	s, err := libssh.NewSession(b.Context(), host, libssh.WithPort(port),
		libssh.WithUser(srv.User), trustSSHD(srv))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		if status, err := s.UserauthNone(b.Context()); status != libssh.AuthDenied {
			b.Fatal(status, err)
		}
	}
}

// The channel benchmarks run each piece of work twice: through this package
// (impl=go) and through bench/cbench.c, a plain blocking C program calling
// libssh directly (impl=c). Both talk to the same listening sshd over TCP,
// and only the work after authentication is timed. `make bench` builds
// cbench, names it in $GOLIBSSH_CBENCH and compares the two with
// `benchstat -col /impl`; without it the benchmark compiles cbench itself.
// (For impl=c, B/op and allocs/op are the Go side's, starting the program.)

const benchSize = 64 << 20 // bytes per download or upload

// benchSession is an authenticated session to srv's listening sshd.
func benchSession(b *testing.B, srv *sshdtest.Server) *libssh.Session {
	host, port := splitHostPort(b, srv.Listen(b))
	s, err := libssh.NewSession(b.Context(), host, libssh.WithPort(port), libssh.WithUser(srv.User), trustSSHD(srv))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if status, err := s.UserauthPublicKeyFile(b.Context(), sshdtest.Keys("id_ed25519"), ""); status != libssh.AuthSuccess {
		b.Fatal(status, err)
	}
	return s
}

// benchExec runs command on a new channel of s.
func benchExec(b *testing.B, s *libssh.Session, command string) *libssh.Channel {
	ch, err := s.NewChannel()
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.OpenSession(b.Context()); err != nil {
		b.Fatal(err)
	}
	if err := ch.RequestExec(b.Context(), command); err != nil {
		b.Fatal(err)
	}
	return ch
}

// benchFinish reads ch to the end, checks its exit status and closes it.
func benchFinish(b *testing.B, ch *libssh.Channel, buf []byte) int64 {
	n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, ch, buf) // buf-sized reads (io.Discard.ReadFrom would read 8 KiB at a time)
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.Wait(b.Context()); err != nil {
		b.Fatal(err)
	}
	if status, err := ch.ExitStatus(); status != 0 || err != nil {
		b.Fatal(status, err)
	}
	ch.Close()
	return n
}

// cbench returns the path of the compiled bench/cbench.c.
func cbench(b *testing.B) string {
	if path := os.Getenv("GOLIBSSH_CBENCH"); path != "" {
		return path
	}
	path := filepath.Join(b.TempDir(), "cbench")
	cmd := exec.Command("sh", "-c", "cc -O2 -o "+path+" bench/cbench.c $(pkg-config --cflags --libs libssh)")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building bench/cbench.c: %v\n%s", err, out)
	}
	return path
}

// runC runs cbench against srv's listening sshd for b.N iterations of mode
// and reports its time. env holds extra "NAME=value" entries for it.
func runC(b *testing.B, srv *sshdtest.Server, mode string, size int64, env ...string) {
	d, cpu := runCOnce(b, srv, mode, b.N, size, env...)
	ns := d.Nanoseconds()
	b.ReportMetric(float64(ns)/float64(b.N), "ns/op")
	b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
	if size > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/float64(ns)*1e3, "MB/s")
	}
}

// runCOnce runs cbench's mode with count n and returns the time it took
// and the CPU time the program used (set-up included).
func runCOnce(b *testing.B, srv *sshdtest.Server, mode string, n int, size int64, env ...string) (took, cpu time.Duration) {
	bin := cbench(b)
	host, port := splitHostPort(b, srv.Listen(b))
	cmd := exec.Command(bin, host, strconv.Itoa(port), srv.User, sshdtest.Keys("id_ed25519"),
		knownHostsOf(b, srv, addrKey(host, port)), mode, strconv.Itoa(n), strconv.FormatInt(size, 10))
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("cbench %s: %v", mode, err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return time.Duration(ns), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// cpuTime is the CPU time this process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// goAndC runs a channel benchmark: work through this package on an
// authenticated session (impl=go), then cbench's mode (impl=c). size is
// the bytes each iteration moves, or 0.
func goAndC(b *testing.B, mode string, size int64, work func(b *testing.B, s *libssh.Session)) {
	goAndCWith(b, sshdtest.Options{}, mode, size, work)
}

// goAndCWith is goAndC against a server configured by opts. Both report
// cpu-ms/op, the client's CPU time per iteration (the C program's includes
// its connection and authentication).
func goAndCWith(b *testing.B, opts sshdtest.Options, mode string, size int64, work func(b *testing.B, s *libssh.Session)) {
	srv := sshdtest.New(b, opts)
	b.Run("impl=go", func(b *testing.B) {
		s := benchSession(b, srv)
		if size > 0 {
			b.SetBytes(size)
		}
		b.ReportAllocs()
		cpu0 := cpuTime(b)
		work(b, s)
		b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
	})
	b.Run("impl=c", func(b *testing.B) { runC(b, srv, mode, size) })
}

func BenchmarkChannelDownload(b *testing.B) {
	goAndC(b, "download", benchSize, func(b *testing.B, s *libssh.Session) {
		buf := make([]byte, 64<<10)
		for b.Loop() {
			ch := benchExec(b, s, fmt.Sprintf("head -c %d /dev/zero", benchSize))
			if n := benchFinish(b, ch, buf); n != benchSize {
				b.Fatal("short download", n)
			}
		}
	})
}

func BenchmarkChannelUpload(b *testing.B) {
	data := make([]byte, benchSize) // written to (not the kernel's zero page), outside the CPU time
	for i := range data {
		data[i] = byte(i)
	}
	goAndC(b, "upload", benchSize, func(b *testing.B, s *libssh.Session) {
		buf := make([]byte, 64<<10)
		for b.Loop() {
			ch := benchExec(b, s, "cat >/dev/null")
			for rest := data; len(rest) > 0; rest = rest[len(buf):] {
				if _, err := ch.Write(rest[:len(buf)]); err != nil {
					b.Fatal(err)
				}
			}
			if err := ch.CloseWrite(); err != nil {
				b.Fatal(err)
			}
			benchFinish(b, ch, buf)
		}
	})
}

// BenchmarkManyChannels: manyChannels commands at once on one session, each
// downloading manySize bytes; an iteration is the wall time of all of them.
// impl=go runs each as a user would (a Cmd per goroutine, its output to
// io.Discard); impl=c is cbench's many mode (channel data callbacks on one
// ssh_event).
func BenchmarkManyChannels(b *testing.B) {
	const manyChannels, manySize = 50, 10 << 20
	srv := sshdtest.New(b, sshdtest.Options{Unprivileged: true})
	b.Run("impl=go", func(b *testing.B) {
		s := benchSession(b, srv)
		b.SetBytes(manyChannels * manySize)
		b.ReportAllocs()
		line := fmt.Sprintf("head -c %d /dev/zero", manySize)
		cpu0 := cpuTime(b)
		for b.Loop() {
			var wg sync.WaitGroup
			errs := make(chan error, manyChannels)
			for range manyChannels {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cmd := s.CommandLine(line)
					cmd.Stdout = io.Discard
					errs <- cmd.Run()
				}()
			}
			wg.Wait()
			for range manyChannels {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64((cpuTime(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	})
	b.Run("impl=c", func(b *testing.B) {
		var total, cpu time.Duration
		for range b.N {
			b.StopTimer()
			took, used := runCOnce(b, srv, "many", manyChannels, manySize)
			total, cpu = total+took, cpu+used
		}
		b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/op")
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
		b.ReportMetric(float64(manyChannels*manySize)*float64(b.N)/float64(total.Nanoseconds())*1e3, "MB/s")
	})
}

// BenchmarkChannelExecTrue: a new channel running true per iteration. The
// remote shell's start dominates it.
func BenchmarkChannelExecTrue(b *testing.B) {
	goAndC(b, "exec", 0, func(b *testing.B, s *libssh.Session) {
		buf := make([]byte, 64<<10)
		for b.Loop() {
			benchFinish(b, benchExec(b, s, "true"), buf)
		}
	})
}

// BenchmarkChannelOpenClose: a session channel opened and closed, what
// every channel costs on its own.
func BenchmarkChannelOpenClose(b *testing.B) {
	goAndC(b, "open", 0, func(b *testing.B, s *libssh.Session) {
		for b.Loop() {
			ch, err := s.NewChannel()
			if err != nil {
				b.Fatal(err)
			}
			if err := ch.OpenSession(b.Context()); err != nil {
				b.Fatal(err)
			}
			ch.Close()
		}
	})
}

// BenchmarkCommandRun: commands per second on one session, Cmd.Run of true
// (impl=go) next to cbench's exec mode (impl=c). The user is the
// unprivileged one, whose shell is /bin/sh without start-up files, so that
// the remote shell does not hide the client's cost.
func BenchmarkCommandRun(b *testing.B) {
	goAndCWith(b, sshdtest.Options{Unprivileged: true}, "exec", 0, func(b *testing.B, s *libssh.Session) {
		for b.Loop() {
			if err := s.Command("true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCommandRunParallel: commands on one session from 8 goroutines
// per CPU, what one connection sustains (there is no C counterpart).
func BenchmarkCommandRunParallel(b *testing.B) {
	srv := sshdtest.New(b, sshdtest.Options{Unprivileged: true})
	s := benchSession(b, srv)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Command("true").Run(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// The forwarding benchmarks push 1 GiB to a local sink through the session:
// through a Forwarder (a local client writes to it), through DialContext,
// and through cbench's forward mode. Each iteration writes, half-closes, and
// waits for the sink to close, so the time covers the whole transfer.

const forwardSize = 1 << 30

// sink runs a process that reads each connection to a new listener on
// 127.0.0.1 to EOF and closes it, and returns the listener's port. The far
// end of a direct-tcpip channel is on the server's side, so it runs apart
// from the client, as it does in real use: in the client's process, its
// goroutines would share the Go scheduler with the client under test and
// not with cbench's.
func sink(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), sinkEnv+"=1")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // the sink exits when it closes
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			b.Error("the sink process did not exit")
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// sinkEnv makes the test binary the sink process (runSink) instead.
const sinkEnv = "GOLIBSSH_BENCH_SINK"

// runSink is the sink process: it serves the listener it inherited as
// descriptor 3 until its standard input closes.
func runSink() {
	ln, err := net.FileListener(os.NewFile(3, "sink"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		os.Exit(2)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(io.Discard, struct{ io.Reader }{c}) // no splice: see echo in forwarder_test.go
			}()
		}
	}()
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// push writes forwardSize bytes to c, half-closes it and reads to EOF.
func push(b *testing.B, c net.Conn, chunk []byte) {
	for left := forwardSize; left > 0; left -= len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, struct{ io.Reader }{c}); err != nil {
		b.Fatal(err)
	}
	c.Close()
}

// BenchmarkForward: sub-benchmarks via=forwarder and via=dial, each with
// impl=go and impl=c (the same C program in both, so that benchstat puts it
// next to each).
func BenchmarkForward(b *testing.B) {
	srv := sshdtest.New(b, sshdtest.Options{Unprivileged: true})
	port := sink(b)
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>8) // not the kernel's zero page, as cbench's
	}
	connect := map[string]func(b *testing.B, s *libssh.Session) func() net.Conn{
		"forwarder": func(b *testing.B, s *libssh.Session) func() net.Conn {
			f, err := libssh.NewForwarder(b.Context(), s, 0, "127.0.0.1", port)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { f.Close() })
			return func() net.Conn {
				c, err := net.Dial("tcp", f.LocalAddr().String())
				if err != nil {
					b.Fatal(err)
				}
				return c
			}
		},
		"dial": func(b *testing.B, s *libssh.Session) func() net.Conn {
			return func() net.Conn {
				c, err := s.DialContext(b.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(port))
				if err != nil {
					b.Fatal(err)
				}
				return c
			}
		},
	}
	for _, via := range []string{"forwarder", "dial"} {
		b.Run("via="+via, func(b *testing.B) {
			b.Run("impl=go", func(b *testing.B) {
				dial := connect[via](b, benchSession(b, srv))
				b.SetBytes(forwardSize)
				b.ReportAllocs()
				cpu0 := cpuTime(b)
				for b.Loop() {
					push(b, dial(), chunk)
				}
				b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			})
			b.Run("impl=c", func(b *testing.B) {
				runC(b, srv, "forward", forwardSize, "CBENCH_FORWARD_PORT="+strconv.Itoa(port))
			})
		})
	}
}

// BenchmarkRemoteForward: forwardSize bytes from a TCP client on the
// server's side to the Go client, read and SHA-256 checked: via=listen
// through a port the server listens on for the client (Session.Listen, ssh
// -R; the client connects to sshd's port), via=dial through DialContext
// (ssh -L; the client connects to a local server that writes). The same
// bytes cross the same kind of channel in the same direction, so the two
// should be as fast.
func BenchmarkRemoteForward(b *testing.B) {
	srv := sshdtest.New(b, sshdtest.Options{Unprivileged: true, ConfigFirst: []string{"AllowTcpForwarding yes"}})
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>8)
	}
	want := sha256.New()
	for left := forwardSize; left > 0; left -= len(chunk) {
		want.Write(chunk)
	}
	wantSum := want.Sum(nil)
	// send writes forwardSize bytes to c, half-closes it and waits for the
	// other end to close.
	send := func(c net.Conn) {
		defer c.Close()
		for left := forwardSize; left > 0; left -= len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
		c.(interface{ CloseWrite() error }).CloseWrite()
		io.Copy(io.Discard, struct{ io.Reader }{c})
	}
	// check reads c to its end and compares the bytes' SHA-256.
	check := func(b *testing.B, c net.Conn) {
		h := sha256.New()
		n, err := io.CopyBuffer(h, struct{ io.Reader }{c}, make([]byte, 256<<10))
		c.Close()
		if err != nil || n != forwardSize {
			b.Fatalf("read %d of %d bytes: %v", n, forwardSize, err)
		}
		if !bytes.Equal(h.Sum(nil), wantSum) {
			b.Fatal("SHA-256 differs")
		}
	}
	b.Run("via=listen", func(b *testing.B) {
		s := benchSession(b, srv)
		ln, err := s.Listen(b.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		b.SetBytes(forwardSize)
		for b.Loop() {
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Error(err)
					return
				}
				send(c)
			}()
			c, err := ln.(*libssh.RemoteListener).AcceptContext(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			check(b, c)
			<-done
		}
	})
	b.Run("via=dial", func(b *testing.B) {
		s := benchSession(b, srv)
		port := serveTCP(b, send)
		b.SetBytes(forwardSize)
		for b.Loop() {
			c, err := s.DialContext(b.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				b.Fatal(err)
			}
			check(b, c)
		}
	})
}

// BenchmarkSSHTest: the client against the in-process sshtest server, whose
// server side is this package too: a command through /bin/sh -c, one
// answered by a Go ExecHandler, and 64 MiB downloaded from a handler.
func BenchmarkSSHTest(b *testing.B) {
	const download = 64 << 20
	s := sshtestSession(b, sshtest.Options{Exec: func(ctx context.Context, e *sshtest.Exec) int {
		if e.Command == "download" {
			buf := make([]byte, 64<<10)
			for sent := 0; sent < download; sent += len(buf) {
				if _, err := e.Stdout.Write(buf); err != nil {
					return 1
				}
			}
		}
		return 0
	}})
	b.Run("run=handler", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.CommandLine("true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("download=64MiB", func(b *testing.B) {
		b.SetBytes(download)
		for b.Loop() {
			cmd := s.CommandLine("download")
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	sh := sshtestSession(b, sshtest.Options{})
	b.Run("run=sh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := sh.CommandLine("true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSHA256AfterDownload: Go's crypto/sha256 of 8 MiB on an OS thread
// that libssh just used to decrypt chacha20-poly1305 packets, next to the
// same hash on a clean thread (issue 16). The AVX code on libssh's data
// path can leave the upper halves of the vector registers dirty, and the
// SSE-encoded SHA-NI code Go then runs pays for that on every instruction
// on some CPUs. Only the hash is timed (ns/op is the hash's).
//
//   - thread=clean: a goroutine locked to its thread, whose vector state a
//     large copy has just reset (Go's memmove ends its AVX loop with
//     vzeroupper), so the thread's history does not matter.
//   - thread=callback: inside an OnData callback, which runs on the thread
//     that decrypted the packet, right after libssh decrypted it.
//   - thread=read: a goroutine locked to its thread makes libssh read and
//     decrypt on that thread (Channel.WithLib with the session locked: it
//     reads the channel dry, then until libssh has read more from the
//     socket), and hashes once that libssh call has returned, still with
//     the session locked, so that the pump does not compete for the CPU.
func BenchmarkSHA256AfterDownload(b *testing.B) {
	const size = 8 << 20
	data := make([]byte, size)
	srv := sshdtest.New(b, sshdtest.Options{})
	download := func(b *testing.B) (*libssh.Session, *libssh.Channel) {
		host, port := splitHostPort(b, srv.Listen(b))
		s, err := libssh.NewSession(b.Context(), host, libssh.WithPort(port), libssh.WithUser(srv.User),
			trustSSHD(srv), libssh.WithCiphers("chacha20-poly1305@openssh.com"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		if status, err := s.UserauthPublicKeyFile(b.Context(), sshdtest.Keys("id_ed25519"), ""); status != libssh.AuthSuccess {
			b.Fatal(status, err)
		}
		return s, benchExec(b, s, "cat /dev/zero")
	}
	// hash returns how long sha256 of data takes on the calling thread.
	hash := func() time.Duration {
		start := time.Now()
		sha256.Sum256(data)
		return time.Since(start)
	}
	// onThread runs f on a goroutine locked to its thread and waits for it.
	onThread := func(f func()) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			f()
		}()
		<-done
	}
	report := func(b *testing.B, total time.Duration) {
		b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/op")
		b.ReportMetric(float64(size)*float64(b.N)/total.Seconds()/1e6, "MB/s")
	}

	b.Run("thread=clean", func(b *testing.B) {
		var total time.Duration
		scratch := make([]byte, 1<<20)
		for b.Loop() {
			onThread(func() {
				copy(scratch, data)
				total += hash()
			})
		}
		report(b, total)
	})

	b.Run("thread=callback", func(b *testing.B) {
		_, ch := download(b)
		var probe atomic.Bool
		took := make(chan time.Duration, 1)
		err := ch.SetCallbacks(&callbacks.ChannelCallbacks{OnData: func(d []byte, _ bool) int {
			if probe.CompareAndSwap(true, false) {
				took <- hash()
			}
			return len(d)
		}})
		if err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for b.Loop() {
			probe.Store(true)
			select {
			case d := <-took:
				total += d
			case <-time.After(time.Minute):
				b.Fatal("no data for the probe in a minute")
			}
		}
		report(b, total)
	})

	b.Run("thread=read", func(b *testing.B) {
		_, ch := download(b)
		buf := make([]byte, 64<<10)
		// probe makes libssh decrypt at least one packet on the calling
		// thread and then hashes there: with the session locked (the pump
		// cannot run), it reads the channel until libssh has nothing
		// buffered and nothing on the socket, then until a read returns
		// data, which libssh must have read from the socket and decrypted
		// in that call.
		probe := func() (took time.Duration, err error) {
			err = ch.WithLib(func(p lib.Channel) error {
				for lib.ChannelReadNonblocking(p, buf, 0) > 0 {
				}
				deadline := time.Now().Add(time.Minute)
				for {
					switch n := lib.ChannelReadNonblocking(p, buf, 0); {
					case n > 0:
						took = hash()
						return nil
					case n < 0:
						return fmt.Errorf("ssh_channel_read_nonblocking: %d", n)
					case time.Now().After(deadline):
						return errors.New("no data from the server in a minute")
					}
				}
			})
			return took, err
		}
		var total time.Duration
		for b.Loop() {
			var (
				took time.Duration
				err  error
			)
			onThread(func() { took, err = probe() })
			if err != nil {
				b.Fatal(err)
			}
			total += took
		}
		report(b, total)
	})
}
