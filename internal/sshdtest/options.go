package sshdtest

// Options configures a [Server]. The zero value is a usable default.
type Options struct {
	// HostKeyTypes lists the host key types to generate, each one freshly
	// with ssh-keygen and each with its own HostKey line. Valid types are
	// "ed25519", "ecdsa" (P-256) and "rsa" (3072 bits). Empty means
	// {"ed25519"}. Duplicates are ignored.
	HostKeyTypes []string

	// AuthorizedKeys lists paths of public key files whose contents are
	// concatenated into the server's authorized_keys. Empty means the
	// public halves of testdata/keys/id_ed25519, id_ecdsa, id_rsa,
	// id_ed25519_enc and id_rsa_pem_enc. To run a server that accepts no
	// key at all, put "AuthorizedKeysFile none" in ConfigFirst.
	AuthorizedKeys []string

	// ConfigFirst holds extra sshd_config lines inserted BEFORE the
	// defaults written by Start. For most keywords sshd uses the first
	// value it sees, so this is the place to override a default (for
	// example "PasswordAuthentication yes" or "LogLevel DEBUG3"). Additive
	// keywords such as HostKey simply add to the defaults. "Subsystem sftp" cannot
	// be redefined (sshd rejects a second definition).
	ConfigFirst []string

	// Config holds extra sshd_config lines appended AFTER the defaults.
	// Use it for keywords the defaults do not set and for Match blocks,
	// which must come last. It cannot override a default; see ConfigFirst.
	Config []string

	// Env holds extra "KEY=value" environment entries for the sshd
	// processes (including the "sshd -t" check), appended to the
	// environment of the calling process and to the entries Passwords
	// and GSSAPI add, so an entry here overrides those. ssh-keygen does
	// not get them.
	Env []string

	// Passwords, if not empty, enables password and keyboard-interactive
	// authentication through PAM, mapping user names to passwords. sshd
	// runs with pam_wrapper (LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1
	// PAM_WRAPPER_SERVICE_DIR=Dir/pam.d), whose PAM service files "sshd"
	// and "other" in Dir/pam.d use the module pam_matrix for every PAM
	// stage, with the password database Dir/passdb ("user:password:sshd"
	// lines). pam_matrix checks the password; the system's PAM
	// configuration and passwords are not involved. The sshd_config gets,
	// ahead of the defaults (after ConfigFirst), "UsePAM yes",
	// "PasswordAuthentication yes", "KbdInteractiveAuthentication yes"
	// and, when running as root, "PermitRootLogin yes".
	//
	// sshd still only logs in users that exist on the system, and an
	// sshd not running as root can only log in the user running it, so
	// in practice the key is [Server.User]. Passwords may not be empty or
	// contain ':' or newlines.
	//
	// A failed attempt is answered at once: pam_matrix sets no PAM fail
	// delay (unlike pam_unix, which waits 2 seconds unless given
	// "nodelay"), and sshd itself only stretches a failed attempt to a
	// few milliseconds.
	//
	// pam_wrapper gives every process it is loaded into one of the 62
	// directories /tmp/pam.[0-9A-Za-z] and never removes it for sshd,
	// which leaves with _exit(2) or is killed. The Server removes those
	// of its exited sshd processes in Conn, Addr, Close and the cleanups
	// of Pipe and Listen; a test that makes dozens of connections to one
	// listening sshd without calling any of these may run out of them
	// on a system whose pids exceed 65535 (pam_wrapper reclaims stale
	// directories of smaller pids itself). Close (and New's cleanup)
	// also kills the sshd processes found this way that still serve
	// connections of a listening sshd stopped by Listen's cleanup.
	//
	// If pam_wrapper is not installed (Debian: libpam-wrapper), Start
	// fails with an error wrapping [ErrNoPAMWrapper] and New skips the
	// test.
	//
	// pam_wrapper (1.1.4) claims its /tmp/pam.X directory by checking
	// that it is free and then creating it, choosing X from the pid, so
	// two processes that start PAM at the same moment can pick the same X;
	// the loser exits and removes the winner's directory. On one machine,
	// only one PAM login may therefore be in progress at a time: tests
	// using Passwords must not run in parallel with each other (in any
	// package; the Makefile runs test packages one at a time).
	Passwords map[string]string

	// GSSAPI, if not nil, enables GSSAPI authentication: sshd gets
	// "GSSAPIAuthentication yes" and "GSSAPIStrictAcceptorCheck no"
	// ahead of the defaults (after ConfigFirst) and the environment
	// KRB5_KTNAME=FILE:<keytab> plus GSSAPI.Env. See [GSSAPIOptions].
	GSSAPI *GSSAPIOptions

	// Unprivileged, when the program runs as root, makes sshd log in the
	// unprivileged user "nobody" instead ([Server.User] says so). sshd
	// uses privilege separation only for users other than root, and some
	// requests need it: OpenSSH refuses "signal" requests without it. For
	// sshd alone, nss_wrapper (LD_PRELOAD=libnss_wrapper.so; Debian:
	// libnss-wrapper) gives nobody the shell /bin/sh and a fresh home
	// directory under os.TempDir() holding authorized_keys, which Close
	// removes; the system's user database is not changed. The user's
	// commands run as nobody, so they cannot read the test's files. When
	// the program does not run as root, Unprivileged changes nothing:
	// the user running it is unprivileged already.
	//
	// If nss_wrapper is not installed, Start fails with an error wrapping
	// [ErrNoNSSWrapper] and New skips the test.
	Unprivileged bool
}
