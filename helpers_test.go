package libssh_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

// identitiesOnly returns options for an ssh directory holding copies of the
// named test keys (as its default identity files) and an agent socket that
// does not exist, so that only those keys can log in.
func identitiesOnly(t *testing.T, keys ...string) []libssh.Option {
	t.Helper()
	dir := t.TempDir()
	for _, k := range keys {
		b, err := os.ReadFile(sshdtest.Keys(k))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, k), b, 0o600))
	}
	return []libssh.Option{libssh.WithSSHDir(dir), libssh.WithAgentSocket(filepath.Join(dir, "no-agent"))}
}

func splitHostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}
