package daemontest

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// RecordingTB is a testing.TB for checking how a test helper ends a test,
// for example that kdctest.New skips the test when Kerberos is not
// installed (see also [CheckNotInstalled]). A real Skip would hide in a CI
// check that nothing is skipped, and a real Fatal would fail the test that
// expects it.
//
// It records the first call of Skip, Skipf, SkipNow, Fatal, Fatalf or
// FailNow, each of which ends the calling goroutine as the real ones do,
// and the functions passed to Cleanup; it discards Log and Logf.
// Everything else, Error and Errorf included, goes to the embedded TB, the
// real test: an error a helper reports is a real failure. Call the helper
// through [RecordingTB.Run].
//
// Create it as &RecordingTB{TB: t}. Its methods may be called
// concurrently.
type RecordingTB struct {
	testing.TB

	mu       sync.Mutex
	ended    bool   // Skip or Fatal (or a variant) has been called
	skipped  bool   // ... and the first such call was a Skip
	message  string // the message of that call
	cleanups []func()
}

// Run calls f(r) on a goroutine of its own, since Skip and Fatal end the
// goroutine that calls them, and waits for f to return or end. Then, on
// that goroutine still, it runs the cleanups recorded so far, last first,
// as the testing package does when a test ends.
func (r *RecordingTB) Run(f func(t testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer r.runCleanups()
		f(r)
	}()
	<-done
}

// runCleanups runs the recorded cleanups, last first.
func (r *RecordingTB) runCleanups() {
	r.mu.Lock()
	cleanups := r.cleanups
	r.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}

// Message returns the message of the first Skip or Fatal call (or of a
// variant), "" if there was none.
func (r *RecordingTB) Message() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.message
}

// NumCleanups returns how many cleanups have been registered.
func (r *RecordingTB) NumCleanups() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cleanups)
}

// Skipped reports whether the first Skip or Fatal call (or a variant) was
// a Skip.
func (r *RecordingTB) Skipped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skipped
}

// Failed reports whether the first Skip or Fatal call (or a variant) was a
// Fatal, or the real test has failed.
func (r *RecordingTB) Failed() bool {
	r.mu.Lock()
	fatal := r.ended && !r.skipped
	r.mu.Unlock()
	return fatal || r.TB.Failed()
}

// Helper does nothing: the helpers under test are not to be hidden in the
// real test's output.
func (r *RecordingTB) Helper() {}

// Log discards its arguments.
func (r *RecordingTB) Log(...any) {}

// Logf discards its arguments.
func (r *RecordingTB) Logf(string, ...any) {}

// Cleanup records f for [RecordingTB.Run] to call.
func (r *RecordingTB) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// Skip records a skip with the message and ends the calling goroutine.
func (r *RecordingTB) Skip(args ...any) {
	r.end(true, fmt.Sprint(args...))
}

// Skipf records a skip with the message and ends the calling goroutine.
func (r *RecordingTB) Skipf(format string, args ...any) {
	r.end(true, fmt.Sprintf(format, args...))
}

// SkipNow records a skip without message and ends the calling goroutine.
func (r *RecordingTB) SkipNow() {
	r.end(true, "")
}

// Fatal records a failure with the message and ends the calling goroutine.
func (r *RecordingTB) Fatal(args ...any) {
	r.end(false, fmt.Sprint(args...))
}

// Fatalf records a failure with the message and ends the calling
// goroutine.
func (r *RecordingTB) Fatalf(format string, args ...any) {
	r.end(false, fmt.Sprintf(format, args...))
}

// FailNow records a failure without message and ends the calling
// goroutine.
func (r *RecordingTB) FailNow() {
	r.end(false, "")
}

// end records a skip or failure with msg, unless one has been recorded
// already, and ends the calling goroutine.
func (r *RecordingTB) end(skip bool, msg string) {
	r.mu.Lock()
	if !r.ended {
		r.ended, r.skipped, r.message = true, skip, msg
	}
	r.mu.Unlock()
	runtime.Goexit()
}
