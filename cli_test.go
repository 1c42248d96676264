package libssh_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

// openPTY opens a pseudo-terminal pair: the test drives the master, the code
// under test gets the slave, a real terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	var unlock int32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock)))
	require.Zero(t, errno, "unlock pty")
	var n uint32
	_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n)))
	require.Zero(t, errno, "pty number")
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { slave.Close(); master.Close() })
	return master, slave
}

// terminal is the person at the master side of a pty: it reads what the
// program shows and types answers.
type terminal struct {
	t      *testing.T
	master *os.File
	seen   bytes.Buffer
}

// expect reads until the screen shows s, and fails on end of output.
func (term *terminal) expect(s string) {
	term.t.Helper()
	buf := make([]byte, 4096)
	for !strings.Contains(term.seen.String(), s) {
		n, err := term.master.Read(buf)
		term.seen.Write(buf[:n])
		require.NoError(term.t, err, "waiting for %q; the screen shows:\n%s", s, term.seen.String())
	}
}

func (term *terminal) typeLine(s string) {
	term.t.Helper()
	_, err := term.master.Write([]byte(s + "\n"))
	require.NoError(term.t, err)
}

// runCLI runs AuthenticateCLI on a pty in the background.
func runCLI(t *testing.T, s *libssh.Session) (*terminal, <-chan error) {
	master, slave := openPTY(t)
	done := make(chan error, 1)
	go func() { done <- s.AuthenticateCLI(testCtx(t, 30*time.Second), slave, slave) }()
	return &terminal{t: t, master: master}, done
}

func TestAuthenticateCLIUnknownHostAnsweredNo(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	kh := writeKnownHosts(t, srv.KnownHostsLine("some.other.host", "ed25519"))
	before, err := os.ReadFile(kh)
	require.NoError(t, err)
	s := connectPipeSession(t, srv, libssh.WithKnownHosts(kh))
	key, err := s.ServerPublicKey()
	require.NoError(t, err)

	term, done := runCLI(t, s)
	term.expect("The authenticity of host 'sshd.test' can't be established.")
	term.expect("ED25519 key fingerprint is " + key.Fingerprint())
	term.expect("Are you sure you want to continue connecting (yes/no/[fingerprint])? ")
	term.typeLine("maybe")
	term.expect("Please type 'yes', 'no' or the fingerprint: ")
	term.typeLine("no")
	err = recv(t, done, 30*time.Second)
	var hv *libssh.HostVerificationError
	require.ErrorAs(t, err, &hv)
	assert.Equal(t, libssh.KnownHostsUnknown, hv.Status)
	after, err := os.ReadFile(kh)
	require.NoError(t, err)
	assert.Equal(t, before, after, "known_hosts is untouched")
}

func TestAuthenticateCLIUnknownHostAnsweredYes(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	s := connectPipeSession(t, srv, append(identitiesOnly(t, "id_ed25519"), libssh.WithKnownHosts(kh))...)

	term, done := runCLI(t, s)
	term.expect("This will create the known_hosts file " + kh)
	term.expect("(yes/no/[fingerprint])? ")
	term.typeLine("yes")
	require.NoError(t, recv(t, done, 30*time.Second), "the identity file in the ssh directory logs in")
	term.expect("Warning: Permanently added 'sshd.test' (ED25519) to the list of known hosts.")
	state, err := s.IsKnownServer()
	require.NoError(t, err)
	assert.Equal(t, libssh.KnownHostsOK, state)
}

func TestAuthenticateCLIChangedHostKey(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	kh := writeKnownHosts(t, pipeHost+" ssh-ed25519 "+pubKeyBlob(t, sshdtest.Keys("other_ed25519.pub")))
	s := connectPipeSession(t, srv, libssh.WithKnownHosts(kh))
	term, done := runCLI(t, s)
	err := recv(t, done, 30*time.Second)
	var hv *libssh.HostVerificationError
	require.ErrorAs(t, err, &hv)
	assert.Equal(t, libssh.KnownHostsChanged, hv.Status)
	term.expect("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @")
	term.expect("Host key verification failed.")
}

// cliSession is a session to srv whose server is known and which has no
// agent and no identity files, so that AuthenticateCLI has to ask.
func cliSession(t *testing.T, srv *sshdtest.Server) *libssh.Session {
	return newPipeSession(t, srv, identitiesOnly(t)...)
}

func TestAuthenticateCLIPasswordIsNotEchoed(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see sshdtest.Options.Passwords).
	srv := pamServer(t, sshdtest.Options{ConfigFirst: []string{"KbdInteractiveAuthentication no"}})
	s := cliSession(t, srv)
	term, done := runCLI(t, s)
	prompt := srv.User + "@sshd.test's password: "
	term.expect(prompt)
	term.typeLine("wrong password")
	term.expect("Permission denied, please try again.")
	term.expect(prompt)
	term.typeLine(testPassword)
	require.NoError(t, recv(t, done, 30*time.Second))
	assert.NotContains(t, term.seen.String(), testPassword, "the password must not be echoed")
	assert.NotContains(t, term.seen.String(), "wrong password", "the password must not be echoed")
}

func TestAuthenticateCLIKeyboardInteractive(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see sshdtest.Options.Passwords).
	srv := pamServer(t, sshdtest.Options{})
	s := cliSession(t, srv)
	term, done := runCLI(t, s)
	term.expect("Password: ")
	term.typeLine(testPassword)
	require.NoError(t, recv(t, done, 30*time.Second))
	assert.NotContains(t, term.seen.String(), testPassword, "a hidden answer must not be echoed")
}

func TestAuthenticateCLIGivesUp(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see sshdtest.Options.Passwords).
	srv := pamServer(t, sshdtest.Options{ConfigFirst: []string{"KbdInteractiveAuthentication no"}})
	s := cliSession(t, srv)
	term, done := runCLI(t, s)
	for range 3 {
		term.expect("'s password: ")
		term.typeLine("wrong")
		term.seen.Reset()
	}
	err := recv(t, done, 30*time.Second)
	assert.ErrorIs(t, err, libssh.ErrRequestDenied)
	assert.ErrorContains(t, err, "permission denied (password,publickey)")
}

func TestAuthenticateCLINotATerminal(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see sshdtest.Options.Passwords).
	srv := pamServer(t, sshdtest.Options{ConfigFirst: []string{"KbdInteractiveAuthentication no"}})
	s := cliSession(t, srv)
	var out bytes.Buffer
	require.NoError(t, s.AuthenticateCLI(testCtx(t, 30*time.Second), strings.NewReader(testPassword+"\n"), &out))
	assert.Contains(t, out.String(), "'s password: ")
}

func TestAuthenticateCLIKeyboardInteractiveGivesUp(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see sshdtest.Options.Passwords).
	srv := pamServer(t, sshdtest.Options{ConfigFirst: []string{"PasswordAuthentication no"}})
	s := cliSession(t, srv)
	term, done := runCLI(t, s)
	for i := range 3 {
		term.expect("Password: ")
		if i > 0 {
			assert.Contains(t, term.seen.String(), "Permission denied, please try again.")
		}
		term.seen.Reset()
		term.typeLine("wrong")
	}
	err := recv(t, done, 30*time.Second)
	assert.ErrorContains(t, err, "permission denied (publickey,keyboard-interactive)")
}
