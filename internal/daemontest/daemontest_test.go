package daemontest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestFreePort checks that the port is on 127.0.0.1 and can be listened on.
func TestFreePort(t *testing.T) {
	t.Parallel()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("listening on the free port %d: %v", port, err)
	}
	l.Close()
}

// pipe returns a pipe's read and write ends, closed when the test ends.
func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// TestWaitReadable checks the timeout, data, hang-up and the order of the
// results.
func TestWaitReadable(t *testing.T) {
	t.Parallel()
	r1, w1 := pipe(t)
	r2, w2 := pipe(t)
	fds := []int{int(r1.Fd()), int(r2.Fd())}

	start := time.Now()
	ready, err := WaitReadable(50*time.Millisecond, fds...)
	if err != nil || ready[0] || ready[1] {
		t.Fatalf("nothing written: ready %v, err %v, want a timeout", ready, err)
	}
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
		t.Errorf("the wait ended after %v, before its timeout", elapsed)
	}
	if ready, err := WaitReadable(0, fds...); err != nil || ready[0] || ready[1] {
		t.Errorf("poll: ready %v, err %v, want nothing ready", ready, err)
	}

	if _, err := w2.WriteString("x"); err != nil {
		t.Fatal(err)
	}
	if ready, err := WaitReadable(10*time.Second, fds...); err != nil || ready[0] || !ready[1] {
		t.Errorf("second pipe written: ready %v, err %v, want [false true]", ready, err)
	}
	w1.Close() // hang-up counts as readable
	if ready, err := WaitReadable(10*time.Second, fds...); err != nil || !ready[0] || !ready[1] {
		t.Errorf("first pipe closed: ready %v, err %v, want [true true]", ready, err)
	}
	if _, err := WaitReadable(0, -1); err == nil {
		t.Error("WaitReadable accepted an invalid descriptor")
	}
}

// startSleep starts a process that runs until it is killed, and kills it
// when the test ends.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = KillAndWait(cmd) })
	return cmd
}

// TestPidfd opens a pidfd, waits for it, signals through it and checks
// KillAndWait.
func TestPidfd(t *testing.T) {
	t.Parallel()
	cmd := startSleep(t)
	fd, err := PidfdOpen(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if ready, err := WaitReadable(0, fd); err != nil || ready[0] {
		t.Fatalf("pidfd of a running process: ready %v, err %v", ready, err)
	}
	if err := PidfdSendSignal(fd, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ready, err := WaitReadable(10*time.Second, fd); err != nil || !ready[0] {
		t.Fatalf("pidfd of a killed process: ready %v, err %v, want readable", ready, err)
	}
	if err := KillAndWait(cmd); err != nil {
		t.Errorf("KillAndWait of an exited process: %v", err)
	}
	if cmd.ProcessState == nil {
		t.Error("KillAndWait did not reap the process")
	}
	if err := KillAndWait(cmd); err != nil {
		t.Errorf("KillAndWait of a reaped process: %v", err)
	}
	if err := PidfdSendSignal(fd, 0); err != syscall.ESRCH {
		t.Errorf("signalling a reaped process: %v, want ESRCH", err)
	}
}

// shDaemon returns a Daemon running the shell script with $0 set to its
// pid FIFO.
func shDaemon(t *testing.T, script string) Daemon {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), "pid")
	return Daemon{Name: "test daemon", Cmd: exec.Command("/bin/sh", "-c", script, fifo), PidFile: fifo}
}

// TestDaemonStart starts a daemon that writes its pid, in its own process
// group, over a stale pid file.
func TestDaemonStart(t *testing.T) {
	t.Parallel()
	d := shDaemon(t, `echo $$ >"$0"; exec sleep 600`)
	if err := os.WriteFile(d.PidFile, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.Start(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	defer KillAndWait(d.Cmd)
	pid := d.Cmd.Process.Pid
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		t.Errorf("process group %d (err %v), want %d: Start dropped SysProcAttr", pgid, err, pid)
	}
	if err := d.Cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the daemon is not running after Start: %v", err)
	}
}

// TestDaemonStartFailures checks every way a start can fail, and that no
// process is left behind.
func TestDaemonStartFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, script string
		timeout      time.Duration
		exited       bool
		want         string // prefix of the error
	}{
		{"exit", `exit 3`, time.Minute, true, "test daemon exited before listening: exit status 3"},
		{"wrong pid", `echo 1 >"$0"; exec sleep 600`, time.Minute, false, "test daemon wrote pid 1, but the started process is "},
		{"invalid pid", `echo nonsense >"$0"; exec sleep 600`, time.Minute, false, `test daemon wrote an invalid pid "nonsense\n"`},
		{"timeout", `exec sleep 600`, 100 * time.Millisecond, false, "test daemon did not start listening within "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := shDaemon(t, tc.script)
			err := d.Start(time.Now().Add(tc.timeout))
			if err == nil {
				KillAndWait(d.Cmd)
				t.Fatal("Start succeeded")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q, want prefix %q", err, tc.want)
			}
			if errors.Is(err, ErrExited) != tc.exited {
				t.Errorf("errors.Is(%q, ErrExited) = %v, want %v", err, !tc.exited, tc.exited)
			}
			if d.Cmd.ProcessState == nil {
				t.Error("Start left the daemon running")
			}
		})
	}
	d := Daemon{Name: "nothing", Cmd: exec.Command("/nonexistent/daemon"), PidFile: filepath.Join(t.TempDir(), "pid")}
	if err := d.Start(time.Now().Add(time.Minute)); err == nil || !strings.HasPrefix(err.Error(), "starting nothing: ") {
		t.Errorf("starting a missing program: %v", err)
	}
}

// TestDaemonStartStop checks that a failed start stops the daemon with
// Daemon.Stop, whose error is added to the start's.
func TestDaemonStartStop(t *testing.T) {
	t.Parallel()
	d := shDaemon(t, `exec sleep 600`)
	stops := 0
	d.Stop = func() error {
		stops++
		return errors.Join(KillAndWait(d.Cmd), errors.New("stop trouble"))
	}
	err := d.Start(time.Now().Add(100 * time.Millisecond))
	if err == nil || !strings.HasSuffix(err.Error(), "; stop trouble") {
		t.Errorf("error %v, want one ending with the Stop error", err)
	}
	if stops != 1 || d.Cmd.ProcessState == nil {
		t.Errorf("Stop called %d times, daemon reaped %v; want once and reaped", stops, d.Cmd.ProcessState != nil)
	}
}

var errMissing = errors.New("tool missing")

// TestSkipOrFatal checks all three outcomes.
func TestSkipOrFatal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err               error
		skipped, returned bool
	}{
		{nil, false, true},
		{fmt.Errorf("starting: %w", errMissing), true, false},
		{errors.New("broken"), false, false},
	} {
		r := &RecordingTB{TB: t}
		returned := false
		r.Run(func(t testing.TB) {
			SkipOrFatal(t, tc.err, errors.ErrUnsupported, errMissing)
			returned = true
		})
		wantMsg := ""
		if tc.err != nil {
			wantMsg = tc.err.Error()
		}
		if r.Skipped() != tc.skipped || r.Failed() != (!tc.skipped && !tc.returned) || returned != tc.returned || r.Message() != wantMsg {
			t.Errorf("SkipOrFatal(%v): skipped %v, failed %v, returned %v, message %q; want %v, %v, %v, %q", tc.err,
				r.Skipped(), r.Failed(), returned, r.Message(), tc.skipped, !tc.skipped && !tc.returned, tc.returned, wantMsg)
		}
	}
}

// TestCloseAtCleanup checks that the cleanup closes and reads the log only
// for a failed test.
func TestCloseAtCleanup(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		var calls []string
		r := &RecordingTB{TB: t}
		r.Run(func(t testing.TB) {
			CloseAtCleanup(t, "title",
				func() string { calls = append(calls, "log"); return "" },
				func() error { calls = append(calls, "close"); return nil })
			t.Cleanup(func() { calls = append(calls, "later cleanup") })
			if fail {
				t.FailNow()
			}
		})
		want := "later cleanup close"
		if fail {
			want = "later cleanup log close"
		}
		if got := strings.Join(calls, " "); got != want {
			t.Errorf("failed %v: calls %q, want %q", fail, got, want)
		}
		if r.NumCleanups() != 2 {
			t.Errorf("%d cleanups recorded, want 2", r.NumCleanups())
		}
	}
}

// TestRecordingTB checks the Skip and Fatal variants and that only the
// first call is recorded.
func TestRecordingTB(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		end     func(testing.TB)
		skipped bool
		message string
	}{
		{func(t testing.TB) { t.Skip("a", 1) }, true, "a1"},
		{func(t testing.TB) { t.Skipf("b%d", 2) }, true, "b2"},
		{func(t testing.TB) { t.SkipNow() }, true, ""},
		{func(t testing.TB) { t.Fatal("c", 3) }, false, "c3"},
		{func(t testing.TB) { t.Fatalf("d%d", 4) }, false, "d4"},
		{func(t testing.TB) { t.FailNow() }, false, ""},
	} {
		r := &RecordingTB{TB: t}
		for range 2 {
			ended := true
			r.Run(func(t testing.TB) {
				t.Log("discarded")
				tc.end(t)
				ended = false
			})
			r.Run(func(t testing.TB) { t.Skip("second") })
			r.Run(func(t testing.TB) { t.Fatal("second") })
			if !ended || r.Skipped() != tc.skipped || r.Failed() == tc.skipped || r.Message() != tc.message {
				t.Errorf("ended %v, skipped %v, failed %v, message %q; want true, %v, %v, %q",
					ended, r.Skipped(), r.Failed(), r.Message(), tc.skipped, !tc.skipped, tc.message)
			}
		}
	}
}

// TestPlainPath checks some plain and some awkward paths.
func TestPlainPath(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{
		"/tmp/TestX123/001":    true,
		"/a/b_c-d.e+f=g,h:i@j": true,
		"/tmp/a b":             false,
		"/tmp/100%_#1":         false,
		`/tmp/"quoted"`:        false,
		"/tmp/\u00e9t\u00e9":   false,
	} {
		if got := PlainPath(p); got != want {
			t.Errorf("PlainPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestBusyPort checks the busy calls, the free ones after them, and the
// count.
func TestBusyPort(t *testing.T) {
	t.Parallel()
	b := &BusyPort{Port: 1, Times: 2}
	for i := 1; i <= 3; i++ {
		port, err := b.Pick()
		if err != nil {
			t.Fatal(err)
		}
		if (port == 1) != (i <= 2) {
			t.Errorf("call %d returned port %d", i, port)
		}
	}
	if b.Calls() != 3 {
		t.Errorf("Calls() = %d, want 3", b.Calls())
	}
}

// closer is an io.Closer for TestCheckNotInstalled.
type closer struct{}

// Close does nothing.
func (closer) Close() error { return nil }

// TestCheckNotInstalled checks CheckNotInstalled against a constructor
// and wrapper that behave, and against ones that do not.
func TestCheckNotInstalled(t *testing.T) {
	t.Parallel()
	missing := fmt.Errorf("%w; install it", errMissing)
	start := func() (closer, error) { return closer{}, missing }
	wrap := func(t testing.TB) {
		_, err := start()
		SkipOrFatal(t, err, errMissing)
	}
	if err := CheckNotInstalled(t, start, wrap, errMissing, "install it"); err != missing {
		t.Errorf("CheckNotInstalled returned %v, want the start error", err)
	}

	for _, tc := range []struct {
		name  string
		start func() (closer, error)
		wrap  func(testing.TB)
	}{
		{"start succeeds", func() (closer, error) { return closer{}, nil }, wrap},
		{"another error", func() (closer, error) { return closer{}, errors.New("install it") }, wrap},
		{"no hint", start, func(t testing.TB) { t.Skip("tool missing") }},
		{"no skip", start, func(testing.TB) {}},
		{"fatal", start, func(t testing.TB) { t.Fatal("install it") }},
	} {
		r := &RecordingTB{TB: &errorRecorder{TB: t}}
		r.Run(func(t testing.TB) { CheckNotInstalled(t, tc.start, tc.wrap, errMissing, "install it") })
		if !r.Failed() {
			t.Errorf("%s: CheckNotInstalled did not fail the test", tc.name)
		}
	}
}

// errorRecorder is a testing.TB whose Error and Errorf mark it failed
// instead of failing the real test.
type errorRecorder struct {
	testing.TB
	mu     sync.Mutex
	failed bool
}

// Errorf marks r failed.
func (r *errorRecorder) Errorf(string, ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
}

// Failed reports whether Errorf has been called.
func (r *errorRecorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}
