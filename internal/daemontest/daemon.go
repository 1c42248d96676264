package daemontest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrExited is wrapped by the error of [Daemon.Start] when the daemon
// exited before writing its pid. It has been reaped then, and its exit
// status is in the error. If its log says that its port was taken (see
// [FreePort]), trying another port may help.
var ErrExited = errors.New("exited before listening")

// Daemon describes a daemon for [Daemon.Start]: a program that, once it is
// ready (listening), writes its pid to a pid file and closes it, such as
// "sshd -D -o PidFile=FIFO" or "krb5kdc -n -P FIFO".
type Daemon struct {
	// Name names the daemon in errors, for example "krb5kdc".
	Name string
	// Cmd is the daemon's command, set up but not started; its
	// arguments make it write its pid to PidFile. Start sets
	// Cmd.SysProcAttr.PidFD, keeping the other SysProcAttr fields.
	Cmd *exec.Cmd
	// PidFile is where Start creates the FIFO the daemon writes its pid
	// to. A file already there is replaced.
	PidFile string
	// Stop, if not nil, stops and reaps the daemon when Start fails
	// after starting it for a reason other than its exit (the daemon
	// wrote a wrong pid, or did not start listening in time); its error
	// is added to Start's. Nil means [KillAndWait].
	Stop func() error
}

// Start makes d.PidFile a FIFO, starts d.Cmd and waits, before deadline,
// until the daemon has written its pid to the FIFO and closed it. It
// returns nil then: the daemon is running and (having written its pid
// only after binding its sockets) accepts connections; the caller stops
// it eventually.
//
// Readiness is event-driven: Start holds the FIFO's read end open without
// blocking and waits in [WaitReadable] for it and for a pidfd of the
// daemon, so it notices the daemon's exit at once and starts no goroutine.
//
// On failure Start leaves no process behind. If the daemon exits first,
// Start reaps it and its error wraps [ErrExited]; after any other failure
// past the start it stops the daemon with d.Stop.
func (d Daemon) Start(deadline time.Time) (err error) {
	budget := max(0, time.Until(deadline)) // for the timeout error
	if err := os.Remove(d.PidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing old pid fifo: %w", err)
	}
	if err := syscall.Mkfifo(d.PidFile, 0o600); err != nil {
		return fmt.Errorf("creating pid fifo: %w", err)
	}
	// Opening a FIFO for reading with O_NONBLOCK does not wait for a
	// writer, and the FIFO stays unreadable (no data, no hang-up) until
	// the daemon has opened it for writing, which it does after binding
	// its sockets. Holding it open also lets the daemon's open(2)
	// proceed.
	fifoFD, err := syscall.Open(d.PidFile, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening pid fifo: %w", err)
	}
	defer syscall.Close(fifoFD)

	pidfd := -1
	if d.Cmd.SysProcAttr == nil {
		d.Cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	d.Cmd.SysProcAttr.PidFD = &pidfd
	if err := d.Cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", d.Name, err)
	}
	if pidfd < 0 {
		_ = KillAndWait(d.Cmd) // the missing pidfd matters more
		return fmt.Errorf("no pidfd for %s: Linux 5.3 or later is needed", d.Name)
	}
	defer syscall.Close(pidfd)

	stop := d.Stop
	if stop == nil {
		stop = func() error { return KillAndWait(d.Cmd) }
	}
	// fail stops the daemon and returns err, with any trouble stopping it.
	fail := func(err error) error {
		if serr := stop(); serr != nil {
			err = fmt.Errorf("%w; %v", err, serr)
		}
		return err
	}
	var pidData []byte
	buf := make([]byte, 64)
	for {
		ready, err := WaitReadable(time.Until(deadline), fifoFD, pidfd)
		if err != nil {
			return fail(err)
		}
		switch {
		case ready[0]:
			n, err := syscall.Read(fifoFD, buf)
			switch {
			case n > 0:
				pidData = append(pidData, buf[:n]...)
				continue
			case err == syscall.EAGAIN || err == syscall.EINTR:
				continue
			case err != nil:
				return fail(fmt.Errorf("reading pid fifo: %w", err))
			}
			// EOF: the daemon has written its pid and closed the FIFO.
			pid, perr := strconv.Atoi(strings.TrimSpace(string(pidData)))
			if perr != nil {
				return fail(fmt.Errorf("%s wrote an invalid pid %q", d.Name, pidData))
			}
			if pid != d.Cmd.Process.Pid {
				return fail(fmt.Errorf("%s wrote pid %d, but the started process is %d", d.Name, pid, d.Cmd.Process.Pid))
			}
			return nil

		case ready[1]:
			werr := d.Cmd.Wait()
			return fmt.Errorf("%s %w: %v", d.Name, ErrExited, werr)

		case !time.Now().Before(deadline):
			return fail(fmt.Errorf("%s did not start listening within %v", d.Name, budget.Round(time.Millisecond)))
		}
	}
}

// KillAndWait kills the started command cmd (SIGKILL) and waits for it,
// ignoring its exit status, which is uninteresting after a kill. It
// returns the error of killing it, if that failed for another reason than
// cmd having been reaped already; it does not wait then, as that could
// hang. Only cmd's own process is killed, not its children.
func KillAndWait(cmd *exec.Cmd) error {
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	_ = cmd.Wait()
	return nil
}
