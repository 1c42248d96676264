package sftp_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/internal/testbound"
	"github.com/golibssh/libssh/sftp"
	"github.com/golibssh/libssh/sshtest"
)

func testCtx(t testing.TB, d time.Duration) context.Context { return testbound.Ctx(t, d) }

// closeAtEnd closes c when the test ends, failing the test if Close has not
// returned within 30 s.
func closeAtEnd(t testing.TB, c interface{ Close() error }) {
	t.Cleanup(func() { testbound.Do(t, 30*time.Second, func() { c.Close() }) })
}

func recv[T any](t testing.TB, c <-chan T, d time.Duration) T {
	t.Helper()
	return testbound.Recv(t, c, d)
}

// sshtestSession is a logged-in session to a new sshtest server with opts.
func sshtestSession(t *testing.T, opts sshtest.Options) *libssh.Session {
	t.Helper()
	opts.AuthNone = true
	srv, err := sshtest.NewServer(opts)
	require.NoError(t, err)
	closeAtEnd(t, srv)
	ctx := testCtx(t, 30*time.Second)
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithUser("tester"), libssh.WithKnownHosts(srv.KnownHostsFile()))
	require.NoError(t, err)
	closeAtEnd(t, s)
	require.NoError(t, s.VerifyHost())
	st, err := s.UserauthNone(ctx)
	require.NoError(t, err)
	require.Equal(t, libssh.AuthSuccess, st)
	return s
}

// sshtestClient is a client of a new sshtest server serving root.
func sshtestClient(t *testing.T, sftpOpts sshtest.SFTP, opts ...sftp.Option) *sftp.Client {
	t.Helper()
	s := sshtestSession(t, sshtest.Options{SFTP: &sftpOpts})
	return newClient(t, s, opts...)
}

func newClient(t testing.TB, s *libssh.Session, opts ...sftp.Option) *sftp.Client {
	t.Helper()
	c, err := sftp.NewClient(testCtx(t, 30*time.Second), s, opts...)
	require.NoError(t, err)
	closeAtEnd(t, c)
	return c
}

// sshdSession is a logged-in session to a new sshd -i, whose internal-sftp
// is OpenSSH's sftp-server.
func sshdSession(t testing.TB, opts sshdtest.Options) *libssh.Session {
	t.Helper()
	srv := sshdtest.New(t, opts)
	ctx := testCtx(t, 30*time.Second)
	s, err := libssh.NewSession(ctx, "sshd.test", libssh.WithConn(srv.Pipe(t)), libssh.WithUser(srv.User),
		libssh.WithKnownHosts(filepath.Join(t.TempDir(), "known_hosts")),
		libssh.WithHostKeyCallback(func(host string, key *libssh.PublicKey) error {
			for typ := range srv.HostKeys {
				if strings.Fields(srv.HostPublicKey(typ))[1] == key.Base64() {
					return nil
				}
			}
			return fmt.Errorf("%s offered %s, not a host key of the test's sshd", host, key.Fingerprint())
		}))
	require.NoError(t, err)
	closeAtEnd(t, s)
	key, err := libssh.ParsePrivateKeyFile(sshdtest.Keys("id_ed25519"), "")
	require.NoError(t, err)
	defer key.Close()
	st, err := s.UserauthPublicKey(ctx, key)
	require.NoError(t, err)
	require.Equal(t, libssh.AuthSuccess, st)
	return s
}

// server is one of the servers the tests run against: dir is where the
// client's paths for root's files start.
type server struct {
	name   string
	client func(t *testing.T, root string, opts ...sftp.Option) (c *sftp.Client, dir string)
	// session is a logged-in session to a server serving root.
	session func(t *testing.T, root string) (s *libssh.Session, dir string)
}

var servers = []server{
	{"sshtest", func(t *testing.T, root string, opts ...sftp.Option) (*sftp.Client, string) {
		return sshtestClient(t, sshtest.SFTP{Root: root}, opts...), "/"
	}, func(t *testing.T, root string) (*libssh.Session, string) {
		return sshtestSession(t, sshtest.Options{SFTP: &sshtest.SFTP{Root: root}}), "/"
	}},
	{"sshd", func(t *testing.T, root string, opts ...sftp.Option) (*sftp.Client, string) {
		return newClient(t, sshdSession(t, sshdtest.Options{}), opts...), root
	}, func(t *testing.T, root string) (*libssh.Session, string) {
		return sshdSession(t, sshdtest.Options{}), root
	}},
}
