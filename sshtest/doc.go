// Package sshtest runs an SSH server inside the test process, in the
// spirit of net/http/httptest: [NewServer] listens on 127.0.0.1 with a
// freshly generated host key and serves until [Server.Close]. It is built on
// libssh's server API through the safe server API of package libssh
// ([libssh.AcceptSession], [libssh.ServerMessage], [libssh.GenerateKey]),
// the equivalent of LibSSH.jl's DemoServer, and speaks real SSH: OpenSSH's
// ssh client can log in.
//
// [Options] choose what the server does:
//
//   - authentication: none, password, keyboard-interactive with any number
//     of rounds of prompts, and public key against a list of authorized keys
//     (any user name is accepted);
//   - exec requests: the command runs with /bin/sh -c as the user running
//     the test, or a Go [ExecHandler] answers it;
//   - port forwarding both ways (direct-tcpip, and tcpip-forward on
//     127.0.0.1), on or off;
//   - faults OpenSSH's sshd cannot be made to produce: the exit status
//     before EOF, an exit signal, a close without any status, a connection
//     dropped after some output, channels whose window runs down to zero;
//   - the "sftp" subsystem ([Options.SFTP]), served in Go over the files of
//     a directory the test chooses, read-only or with a disk that fills up;
//   - [Options.Channel]: a test's own server-side channel callbacks, which
//     take over the requests they handle.
//
// A shell, a pty and subsystems other than SFTP are refused unless
// Options.Channel handles them. libssh 0.10 has no server callback for keyboard-interactive or
// direct-tcpip: both go through the message handler of
// [libssh.AcceptSession], as every authentication request does here.
package sshtest
