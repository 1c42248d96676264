// Package sshdtest runs real servers for tests, examples and demo
// programs: OpenSSH's sshd, ssh-agent, and an MIT Kerberos KDC.
//
// [Start] (or [New] in a test) prepares a private sshd configuration with
// fresh host keys and checks it with "sshd -t". [Server.Conn] (or
// [Server.Pipe]) then runs "sshd -i" (inetd mode) on one end of a socket
// pair per call; [Server.Addr] (or [Server.Listen]) runs one "sshd -D"
// listening on 127.0.0.1. Passwords and keyboard-interactive go through
// pam_wrapper ([Options.Passwords]), a login of "nobody" through
// nss_wrapper ([Options.Unprivileged]), GSSAPI through a [KDC]
// ([NewKDC], [Options.GSSAPI]). [StartAgent] runs an ssh-agent and
// [StartStuckAgent] one that never answers. The client keys are in
// testdata/keys ([Keys]).
//
// Every daemon runs as a plain exec.Cmd in a process group of its own,
// reaped by a goroutine, and gets SIGKILL when the test binary dies
// (Pdeathsig; they are started from one OS thread that never exits, since
// the signal follows the thread that forked). The daemons of a Server,
// KDC or agent write their log into one pipe, which they all hold: a
// daemon is ready when its log says so (sshd's "Server listening on"), and
// Close, which kills them, returns once the pipe's end of file says that
// none is left, sshd processes that left the group included. A test's
// cleanup writes the log to the test log when the test failed.
//
// The package needs Linux and the Debian packages of [ExitIfMissing]; a
// missing one fails the test that needs it (TestMain names them first). It
// works as root (sshd then permits root logins with keys) and as another
// user (sshd can then only log in that user).
package sshdtest
