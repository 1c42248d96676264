// Package daemontest holds the process plumbing shared by the packages that
// run real daemons for tests, internal/sshdtest and internal/kdctest:
//
//   - [FreePort] picks a TCP port on 127.0.0.1 for a daemon to listen on.
//   - [Daemon.Start] starts a daemon whose pid file is a FIFO and waits,
//     event-driven, until the daemon has written its pid there (it does so
//     once it is listening) or has exited. The caller decides from the
//     daemon's log whether an exit ([ErrExited]) deserves another port.
//   - [WaitReadable] waits for file descriptors, pidfds included, to become
//     readable, blocking in epoll_wait(2) instead of starting goroutines or
//     sleeping; [PidfdOpen] and [PidfdSendSignal] make and use pidfds.
//   - [KillAndWait] kills a started command and reaps it.
//   - [SkipOrFatal] and [CloseAtCleanup] are the two halves of the
//     testing.TB wrappers (such as sshdtest.New and kdctest.New) around
//     constructors that return an error, and [RecordingTB] lets tests
//     observe how such wrappers end a test.
//
// Nothing here starts goroutines except [RecordingTB.Run]. The package
// works on Linux 5.3 or later (pidfd_open(2), CLONE_PIDFD).
package daemontest
