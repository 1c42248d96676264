// Package sshdtest starts real OpenSSH sshd servers for tests, examples and
// demo programs.
//
// [Start] prepares a private server directory (host keys, authorized_keys,
// sshd_config and a log file) and validates the configuration with
// "sshd -t". The server can then be reached in two ways:
//
//   - [Server.Conn] runs "sshd -i" (inetd mode) on one end of a socket pair
//     and returns the other end as a [net.Conn]. Every call starts a fresh
//     sshd process serving exactly one connection.
//   - [Server.Addr] runs "sshd -D" listening on 127.0.0.1 and returns its
//     address. It is started once per Server.
//
// [Server.Close] stops every sshd process the Server started and removes the
// directory Start created. This core needs no testing.TB, so it also serves
// a package main or a TestMain that starts one server for runnable examples.
//
// Tests use the thin wrappers [New], [Server.Pipe] and [Server.Listen],
// which fail the test instead of returning an error and stop what they
// started with t.Cleanup: the sshd started by Pipe or Listen when the test
// that called it ends, and the whole Server when the test that called New
// ends. When a test fails, the sshd log is written to the test log.
//
// The package needs /usr/sbin/sshd and ssh-keygen (Debian: openssh-server,
// openssh-client); Start then fails with an error wrapping [ErrNoSSHD] and
// New skips the test. It works on Linux 5.3 or later (it waits for sshd
// processes through pidfds, without goroutines), both as root (sshd then
// permits root logins with public keys) and as an unprivileged user (sshd
// can then only authenticate that user).
//
// Beyond public keys, a Server can authenticate passwords (through PAM
// with pam_wrapper; see [Options.Passwords]) and Kerberos tickets (see
// [Options.GSSAPI] and the package internal/kdctest). As root, it can log
// in an unprivileged user instead of root, for what sshd does only with
// privilege separation ([Options.Unprivileged]). [StartAgent] runs an
// ssh-agent holding test keys.
//
// The throwaway client keys used by default live in testdata/keys; see
// [Keys] and [TestdataDir].
package sshdtest
