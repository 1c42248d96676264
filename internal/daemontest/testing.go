package daemontest

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// SkipOrFatal ends the test t if err is not nil: it skips it when err wraps
// one of notInstalled (the errors a constructor returns when a program it
// needs is missing, such as sshdtest.ErrNoSSHD) and fails it with err
// otherwise. Wrappers such as kdctest.New call it right after the
// constructor they wrap.
func SkipOrFatal(t testing.TB, err error, notInstalled ...error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, target := range notInstalled {
		if errors.Is(err, target) {
			t.Skip(err.Error())
		}
	}
	t.Fatalf("%v", err)
}

// CloseAtCleanup registers a cleanup on t that calls close and reports its
// error with t.Errorf. If the test has failed by then, the cleanup first
// writes log() to the test log, headed by title (for example
// "kdctest: KDC log /tmp/kdctest-1/kdc.log").
//
// Cleanups run last-registered first, so a cleanup registered after this
// one runs before the log is read.
func CloseAtCleanup(t testing.TB, title string, log func() string, close func() error) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s:\n%s", title, log())
		}
		if err := close(); err != nil {
			t.Errorf("%v", err)
		}
	})
}

// CheckNotInstalled tests how a constructor and its testing.TB wrapper
// handle a missing program, which the caller has hidden (for example by
// clearing PATH): start must fail with an error that wraps notInstalled
// and contains hint (say, what to install), and wrap, which calls the
// wrapper, must skip the test with such a message when run with a
// [RecordingTB]. It returns start's error for further checks.
func CheckNotInstalled[T io.Closer](t testing.TB, start func() (T, error), wrap func(t testing.TB), notInstalled error, hint string) error {
	t.Helper()
	c, err := start()
	if err == nil {
		c.Close()
		t.Fatalf("start succeeded; want an error wrapping %q", notInstalled)
	}
	if !errors.Is(err, notInstalled) || !strings.Contains(err.Error(), hint) {
		t.Errorf("start: %v; want an error wrapping %q that contains %q", err, notInstalled, hint)
	}
	r := &RecordingTB{TB: t}
	r.Run(wrap)
	if !r.Skipped() || !strings.Contains(r.Message(), hint) {
		t.Errorf("the wrapper: skipped %v, message %q; want a skip whose message contains %q", r.Skipped(), r.Message(), hint)
	}
	return err
}
