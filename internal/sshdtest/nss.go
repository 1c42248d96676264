package sshdtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/golibssh/libssh/internal/daemontest"
)

// ErrNoNSSWrapper is wrapped by the error [Start] returns when
// Options.Unprivileged needs nss_wrapper and it is not installed.
var ErrNoNSSWrapper = errors.New("sshdtest: nss_wrapper is not installed")

// unprivilegedUser is the user Options.Unprivileged logs in. Its uid and
// gid come from the system's passwd file.
const unprivilegedUser = "nobody"

// findNSSWrapper locates libnss_wrapper.so; the error wraps ErrNoNSSWrapper.
func findNSSWrapper() (string, error) {
	dirs := wrapperLibDirs("libnss_wrapper.so")
	for _, dir := range dirs {
		lib := filepath.Join(dir, "libnss_wrapper.so")
		if isRegular(lib) && plainListEntry(lib) {
			return lib, nil
		}
	}
	return "", fmt.Errorf("%w: no libnss_wrapper.so in %s; install libnss-wrapper",
		ErrNoNSSWrapper, strings.Join(dirs, ", "))
}

// plainListEntry reports whether path is plain (daemontest.PlainPath) and
// can be an entry of a list split at colons: LD_PRELOAD, a passwd field.
func plainListEntry(path string) bool {
	return daemontest.PlainPath(path) && !strings.ContainsRune(path, ':')
}

// setupUnprivileged makes "nobody" a user sshd can log in, for sshd only:
// it writes a copy of /etc/passwd in which nobody has the shell /bin/sh
// and the home directory home, and a copy of /etc/group, and returns the
// environment that makes sshd (through nss_wrapper) read them. home holds
// authorized_keys: sshd reads it as the user, so the directory must be
// reachable by nobody, which t.TempDir is not.
func (s *Server) setupUnprivileged(nssLib, home string) (env []string, err error) {
	return s.wrapPasswd(nssLib, unprivilegedUser, home, "/bin/sh")
}

// setupRootHome gives root an empty home directory, home, for sshd only
// (through nss_wrapper, as setupUnprivileged does for nobody): commands then
// run without root's start-up files. sshd runs them with root's shell, and
// bash reads ~/.bashrc when sshd starts it, so whatever a machine's root has
// there (a pyenv init takes seconds, and a minute when a hundred commands
// start at once) would time the tests.
func (s *Server) setupRootHome(nssLib, home string) (env []string, err error) {
	return s.wrapPasswd(nssLib, "root", home, "")
}

// wrapPasswd writes a copy of /etc/passwd in which name has the home
// directory home and the shell shell (each unless ""), and a copy of
// /etc/group, and returns the environment that makes sshd (through
// nss_wrapper) read them.
func (s *Server) wrapPasswd(nssLib, name, home, shell string) (env []string, err error) {
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return nil, fmt.Errorf("sshdtest: reading /etc/passwd: %w", err)
	}
	var out bytes.Buffer
	found := false
	sc := bufio.NewScanner(bytes.NewReader(passwd))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Split(line, ":")
		if len(f) == 7 && f[0] == name {
			if home != "" {
				f[5] = home
			}
			if shell != "" {
				f[6] = shell
			}
			line = strings.Join(f, ":")
			found = true
		}
		out.WriteString(line + "\n")
	}
	if !found {
		return nil, fmt.Errorf("sshdtest: /etc/passwd has no user %q", name)
	}
	passwdPath := filepath.Join(s.Dir, "passwd")
	if err := os.WriteFile(passwdPath, out.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("sshdtest: writing passwd: %w", err)
	}
	group, err := os.ReadFile("/etc/group")
	if err != nil {
		return nil, fmt.Errorf("sshdtest: reading /etc/group: %w", err)
	}
	groupPath := filepath.Join(s.Dir, "group")
	if err := os.WriteFile(groupPath, group, 0o644); err != nil {
		return nil, fmt.Errorf("sshdtest: writing group: %w", err)
	}
	return []string{
		"LD_PRELOAD=" + nssLib,
		"NSS_WRAPPER_PASSWD=" + passwdPath,
		"NSS_WRAPPER_GROUP=" + groupPath,
	}, nil
}

// joinPreloads merges the LD_PRELOAD entries of env into one, keeping the
// other entries in order.
func joinPreloads(env []string) []string {
	var libs []string
	var rest []string
	for _, e := range env {
		if lib, ok := strings.CutPrefix(e, "LD_PRELOAD="); ok {
			libs = append(libs, lib)
			continue
		}
		rest = append(rest, e)
	}
	if len(libs) == 0 {
		return env
	}
	return append(rest, "LD_PRELOAD="+strings.Join(libs, " "))
}

// makeHome creates the unprivileged user's home directory under
// os.TempDir(), owned by that user and reachable by it.
func makeHome() (home string, err error) {
	u, err := user.Lookup(unprivilegedUser)
	if err != nil {
		return "", fmt.Errorf("sshdtest: Unprivileged: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return "", fmt.Errorf("sshdtest: Unprivileged: user %s: %w", unprivilegedUser, err)
	}
	home, err = os.MkdirTemp("", "sshdtest-home-")
	if err != nil {
		return "", fmt.Errorf("sshdtest: creating the unprivileged user's home: %w", err)
	}
	if !plainListEntry(home) {
		_ = os.RemoveAll(home)
		return "", fmt.Errorf("sshdtest: temporary directory %q contains characters unsafe in sshd_config or passwd", home)
	}
	if err := errors.Join(os.Chmod(home, 0o755), os.Chown(home, uid, gid)); err != nil {
		_ = os.RemoveAll(home)
		return "", fmt.Errorf("sshdtest: preparing the unprivileged user's home: %w", err)
	}
	return home, nil
}
