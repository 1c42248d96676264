package sshdtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/golibssh/libssh/internal/daemontest"
)

// defaultAuthorizedKeys lists the testdata/keys public keys that go into
// authorized_keys when Options.AuthorizedKeys is empty.
var defaultAuthorizedKeys = []string{
	"id_ed25519.pub",
	"id_ecdsa.pub",
	"id_rsa.pub",
	"id_ed25519_enc.pub",
	"id_rsa_pem_enc.pub",
}

// writeAuthorizedKeys writes the public keys in the files authPaths (see
// Options.AuthorizedKeys) to dir/authorized_keys and returns its path. The
// file is world-readable: sshd reads it as the user logging in.
func writeAuthorizedKeys(dir string, authPaths []string) (authPath string, err error) {
	if len(authPaths) == 0 {
		for _, name := range defaultAuthorizedKeys {
			authPaths = append(authPaths, Keys(name))
		}
	}
	var auth bytes.Buffer
	for _, p := range authPaths {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("sshdtest: reading authorized key: %w", err)
		}
		auth.Write(bytes.TrimSpace(b))
		auth.WriteByte('\n')
	}
	authPath = filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authPath, auth.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("sshdtest: writing authorized_keys: %w", err)
	}
	return authPath, nil
}

// writeConfig writes s.ConfigPath and returns its contents: opts.ConfigFirst,
// then featureConfig (from Options.Passwords and Options.GSSAPI), then the
// defaults, with a HostKey line for each type in hostKeyOrder and authPath
// as the authorized keys file, then opts.Config.
func (s *Server) writeConfig(opts Options, featureConfig, hostKeyOrder []string, authPath string, root bool) (config string, err error) {
	var lines []string
	lines = append(lines, opts.ConfigFirst...)
	lines = append(lines, featureConfig...)
	for _, typ := range hostKeyOrder {
		lines = append(lines, "HostKey "+s.HostKeys[typ])
	}
	lines = append(lines,
		"AuthorizedKeysFile "+authPath,
		"StrictModes no",
		"UsePAM no",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
	)
	if root {
		lines = append(lines, "PermitRootLogin prohibit-password")
	}
	lines = append(lines,
		"LogLevel DEBUG1",
		"Subsystem sftp internal-sftp",
		"MaxSessions 1000",
		"MaxStartups 1000",
		"MaxAuthTries 20",
		// Addr overrides this on the command line; options given
		// with -o take precedence over the file.
		"PidFile none",
	)
	lines = append(lines, opts.Config...)
	config = strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(s.ConfigPath, []byte(config), 0o600); err != nil {
		return "", fmt.Errorf("sshdtest: writing sshd_config: %w", err)
	}
	return config, nil
}

// serverDir returns the directory for a new server and whether the caller
// created it and must remove it. That is tempDir() unless tempDir is nil
// or the path it returns contains characters that sshd_config would
// interpret (such as '%' tokens, '#' comments, quotes or spaces); otherwise
// a directory with a plain name is created under os.TempDir().
func serverDir(tempDir func() string) (dir string, created bool, err error) {
	if tempDir != nil {
		if dir := tempDir(); daemontest.PlainPath(dir) {
			return dir, false, nil
		}
	}
	dir, err = os.MkdirTemp("", "sshdtest-")
	if err != nil {
		return "", false, fmt.Errorf("sshdtest: creating server directory: %w", err)
	}
	if !daemontest.PlainPath(dir) {
		_ = os.RemoveAll(dir)
		return "", false, fmt.Errorf("sshdtest: temporary directory %q contains characters unsafe in sshd_config", dir)
	}
	return dir, true, nil
}
