package sshdtest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// generateHostKey makes a host key of type typ in Dir with ssh-keygen and
// returns its path, or "" if it has one already.
func (s *Server) generateHostKey(keygen, typ string) (string, error) {
	args, ok := map[string][]string{"ed25519": {"-t", "ed25519"}, "ecdsa": {"-t", "ecdsa", "-b", "256"},
		"rsa": {"-t", "rsa", "-b", "3072"}}[typ]
	if !ok {
		return "", fmt.Errorf("sshdtest: unsupported host key type %q (want ed25519, ecdsa or rsa)", typ)
	}
	if _, dup := s.HostKeys[typ]; dup {
		return "", nil
	}
	path := filepath.Join(s.Dir, "hostkey_"+typ)
	if _, err := run(nil, "", keygen, append(args, "-q", "-N", "", "-C", "sshdtest-host-"+typ, "-f", path)...); err != nil {
		return "", fmt.Errorf("sshdtest: generating a %s host key: %w", typ, err)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		return "", fmt.Errorf("sshdtest: %w", err)
	}
	s.HostKeys[typ], s.hostPub[typ] = path, strings.TrimSpace(string(pub))
	return path, nil
}

// writeAuthorizedKeys writes the public keys in the files paths (see
// Options.AuthorizedKeys) to dir/authorized_keys, readable by the user
// sshd reads it as, and returns its path.
func writeAuthorizedKeys(dir string, paths []string) (string, error) {
	if len(paths) == 0 {
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa", "id_ed25519_enc", "id_rsa_pem_enc"} {
			paths = append(paths, Keys(name+".pub"))
		}
	}
	var keys bytes.Buffer
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("sshdtest: %w", err)
		}
		keys.Write(append(bytes.TrimSpace(b), '\n'))
	}
	path := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(path, keys.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("sshdtest: %w", err)
	}
	return path, nil
}

// findPAMWrapper returns the path of libpam_wrapper.so, with its module
// pam_matrix.so next to it in pam_wrapper/.
func findPAMWrapper() (string, error) {
	return findWrapper("libpam_wrapper.so", "pam_wrapper/pam_matrix.so", "libpam-wrapper")
}

func findNSSWrapper() (string, error) {
	return findWrapper("libnss_wrapper.so", "libnss_wrapper.so", "libnss-wrapper")
}

// setupPAM writes PAM service files that use pam_matrix for every stage,
// and its password database, into Dir, and returns the environment and
// sshd_config lines that make sshd use them through pam_wrapper.
func (s *Server) setupPAM(passwords map[string]string, root bool) (env, config []string, err error) {
	lib, err := findPAMWrapper()
	if err != nil {
		return nil, nil, err
	}
	serviceDir := filepath.Join(s.Dir, "pam.d")
	s.passdb = filepath.Join(s.Dir, "passdb")
	var service, db strings.Builder
	for _, stage := range []string{"auth", "account", "password", "session"} {
		fmt.Fprintf(&service, "%s required %s passdb=%s\n", stage, filepath.Join(filepath.Dir(lib), "pam_wrapper/pam_matrix.so"), s.passdb)
	}
	for _, user := range slices.Sorted(maps.Keys(passwords)) {
		pw := passwords[user]
		if user == "" || pw == "" || strings.ContainsAny(user+pw, ":\n\x00") {
			return nil, nil, fmt.Errorf("sshdtest: invalid user %q or password in Passwords (empty, or with ':' or a newline)", user)
		}
		fmt.Fprintf(&db, "%s:%s:sshd\n", user, pw) // the third field is the PAM service
	}
	// "other" is the fallback PAM looks up too; pam_wrapper complains without it.
	err = errors.Join(os.Mkdir(serviceDir, 0o700),
		os.WriteFile(filepath.Join(serviceDir, "sshd"), []byte(service.String()), 0o600),
		os.WriteFile(filepath.Join(serviceDir, "other"), []byte(service.String()), 0o600),
		os.WriteFile(s.passdb, []byte(db.String()), 0o600))
	if err != nil {
		return nil, nil, fmt.Errorf("sshdtest: %w", err)
	}
	config = []string{"UsePAM yes", "PasswordAuthentication yes", "KbdInteractiveAuthentication yes"}
	if root {
		config = append(config, "PermitRootLogin yes") // the default refuses passwords for root
	}
	return []string{"LD_PRELOAD=" + lib, "PAM_WRAPPER=1", "PAM_WRAPPER_SERVICE_DIR=" + serviceDir}, config, nil
}

// sweepPAM removes the directories /tmp/pam.X that pam_wrapper made for
// sshd processes of s that have exited, or for all of them once Close has
// stopped them. pam_wrapper removes its directory in a destructor, which
// never runs in sshd (it leaves with _exit or is killed), and reclaims a
// stale one itself only if its pid is below 65536: with systemd's
// pid_max, the 62 names would run out after a few dozen connections.
func (s *Server) sweepPAM(all bool) error {
	if s.passdb == "" {
		return nil
	}
	dirs, _ := filepath.Glob("/tmp/pam.?") // fixed in pam_wrapper
	var errs []error
	for _, dir := range dirs {
		service, err := os.ReadFile(filepath.Join(dir, "sshd"))
		if err != nil || !bytes.Contains(service, []byte("passdb="+s.passdb+"\n")) {
			continue // not ours, or being set up
		}
		if !all {
			b, _ := os.ReadFile(filepath.Join(dir, "pid"))
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
				continue
			}
		}
		errs = append(errs, os.RemoveAll(dir))
	}
	return errors.Join(errs...)
}

// wrapPasswd writes copies of /etc/passwd, in which user name has the home
// directory home and the shell shell (each unless ""), and of /etc/group
// into Dir, and returns the environment that makes sshd read them through
// nss_wrapper (lib).
func (s *Server) wrapPasswd(lib, name, home, shell string) ([]string, error) {
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(passwd), "\n"), "\n")
	found := false
	for i, line := range lines {
		if f := strings.Split(line, ":"); len(f) == 7 && f[0] == name {
			f[5], f[6] = cmp.Or(home, f[5]), cmp.Or(shell, f[6])
			lines[i], found = strings.Join(f, ":"), true
		}
	}
	if !found {
		return nil, fmt.Errorf("/etc/passwd has no user %q", name)
	}
	group, err := os.ReadFile("/etc/group")
	if err != nil {
		return nil, err
	}
	passwdPath, groupPath := filepath.Join(s.Dir, "passwd"), filepath.Join(s.Dir, "group")
	err = errors.Join(os.WriteFile(passwdPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644),
		os.WriteFile(groupPath, group, 0o644))
	return []string{"LD_PRELOAD=" + lib, "NSS_WRAPPER_PASSWD=" + passwdPath, "NSS_WRAPPER_GROUP=" + groupPath}, err
}

// joinPreloads merges the LD_PRELOAD entries of env into one.
func joinPreloads(env []string) []string {
	var libs, rest []string
	for _, e := range env {
		if lib, ok := strings.CutPrefix(e, "LD_PRELOAD="); ok {
			libs = append(libs, lib)
		} else {
			rest = append(rest, e)
		}
	}
	if len(libs) == 0 {
		return env
	}
	return append(rest, "LD_PRELOAD="+strings.Join(libs, " "))
}

// makeHome makes a home directory for nobody under os.TempDir(), which
// nobody can reach (t.TempDir is not).
func makeHome() (string, error) {
	u, err := user.Lookup("nobody")
	if err != nil {
		return "", fmt.Errorf("sshdtest: Unprivileged: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	home, err := os.MkdirTemp("", "sshdtest-home-")
	if err = errors.Join(err1, err2, err); err != nil {
		return "", fmt.Errorf("sshdtest: Unprivileged: %w", err)
	}
	if !plainPath(home) || strings.Contains(home, ":") {
		err = fmt.Errorf("temporary directory %q is unsafe in passwd", home)
	}
	if err = errors.Join(err, os.Chmod(home, 0o755), os.Chown(home, uid, gid)); err != nil {
		os.RemoveAll(home)
		return "", fmt.Errorf("sshdtest: Unprivileged: %w", err)
	}
	return home, nil
}
