package sshdtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/golibssh/libssh/internal/daemontest"
)

// ErrNoPAMWrapper is wrapped by the error [Start] returns when
// Options.Passwords is set but pam_wrapper (libpam_wrapper.so and its
// pam_matrix.so module; Debian: libpam-wrapper) is not installed. [New]
// skips the test in that case.
var ErrNoPAMWrapper = errors.New("sshdtest: pam_wrapper is not installed")

// pamRuntimeGlob matches the directories pam_wrapper creates: every process
// it is loaded into takes one of the 62 names /tmp/pam.[0-9A-Za-z] (the
// path is fixed in pam_wrapper; TMPDIR does not change it).
const pamRuntimeGlob = "/tmp/pam.?"

// multiarchTriplets maps GOARCH to the Debian multiarch library directory
// name, the first place searched for pam_wrapper.
var multiarchTriplets = map[string]string{
	"386":      "i386-linux-gnu",
	"amd64":    "x86_64-linux-gnu",
	"arm":      "arm-linux-gnueabihf",
	"arm64":    "aarch64-linux-gnu",
	"loong64":  "loongarch64-linux-gnu",
	"mips64le": "mips64el-linux-gnuabi64",
	"ppc64le":  "powerpc64le-linux-gnu",
	"riscv64":  "riscv64-linux-gnu",
	"s390x":    "s390x-linux-gnu",
}

// pamLibDirs lists the directories searched for libpam_wrapper.so, which
// must have pam_wrapper/pam_matrix.so next to it. Tests replace it.
var pamLibDirs = defaultPAMLibDirs

// defaultPAMLibDirs is wrapperLibDirs for pam_wrapper.
func defaultPAMLibDirs() []string { return wrapperLibDirs("libpam_wrapper.so") }

// wrapperLibDirs returns where to look for a cwrap library such as
// libpam_wrapper.so: the library directory of this architecture first,
// then the usual non-multiarch ones, then any other directory /usr/lib/*/
// holding lib.
func wrapperLibDirs(lib string) []string {
	var dirs []string
	if triplet, ok := multiarchTriplets[runtime.GOARCH]; ok {
		dirs = append(dirs, "/usr/lib/"+triplet)
	}
	dirs = append(dirs, "/usr/lib64", "/usr/lib", "/usr/local/lib")
	matches, _ := filepath.Glob("/usr/lib/*/" + lib) // the pattern is valid
	for _, m := range matches {
		if d := filepath.Dir(m); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// pamWrapper holds the paths of the installed pam_wrapper files.
type pamWrapper struct {
	lib    string // libpam_wrapper.so, for LD_PRELOAD
	matrix string // the pam_matrix.so module
}

// findPAMWrapper locates libpam_wrapper.so and pam_matrix.so. The error
// wraps ErrNoPAMWrapper.
func findPAMWrapper() (pamWrapper, error) {
	dirs := pamLibDirs()
	for _, dir := range dirs {
		w := pamWrapper{
			lib:    filepath.Join(dir, "libpam_wrapper.so"),
			matrix: filepath.Join(dir, "pam_wrapper", "pam_matrix.so"),
		}
		// The paths go into LD_PRELOAD (split at spaces and colons) and
		// a PAM service file (split at spaces).
		if isRegular(w.lib) && isRegular(w.matrix) && plainListEntry(w.lib) && daemontest.PlainPath(w.matrix) {
			return w, nil
		}
	}
	return pamWrapper{}, fmt.Errorf("%w: no libpam_wrapper.so with pam_wrapper/pam_matrix.so next to it in %s; install libpam-wrapper",
		ErrNoPAMWrapper, strings.Join(dirs, ", "))
}

// isRegular reports whether path names a regular file (following links).
func isRegular(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// checkPasswords validates Options.Passwords for pam_matrix's passdb, whose
// lines are "user:password:service".
func checkPasswords(passwords map[string]string) error {
	for user, pw := range passwords {
		if user == "" || strings.ContainsAny(user, ":\n\x00") {
			return fmt.Errorf("sshdtest: invalid user name %q in Passwords (it must be non-empty, without ':' or newlines)", user)
		}
		if pw == "" || strings.ContainsAny(pw, ":\n\x00") {
			// sshd rejects empty passwords anyway (PermitEmptyPasswords).
			return fmt.Errorf("sshdtest: invalid password for %q in Passwords (it must be non-empty, without ':' or newlines)", user)
		}
	}
	return nil
}

// setupPAM writes the pam_wrapper service directory and pam_matrix's
// password database into s.Dir and returns the environment entries and
// sshd_config lines that make sshd use them.
func (s *Server) setupPAM(w pamWrapper, passwords map[string]string, root bool) (env, config []string, err error) {
	serviceDir := filepath.Join(s.Dir, "pam.d")
	if err := os.Mkdir(serviceDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("sshdtest: creating PAM service directory: %w", err)
	}
	s.passdb = filepath.Join(s.Dir, "passdb")
	var service strings.Builder
	for _, typ := range []string{"auth", "account", "password", "session"} {
		fmt.Fprintf(&service, "%s required %s passdb=%s\n", typ, w.matrix, s.passdb)
	}
	// sshd's service is "sshd"; "other" is the fallback PAM looks up
	// too, and pam_wrapper logs errors while it is missing.
	for _, name := range []string{"sshd", "other"} {
		if err := os.WriteFile(filepath.Join(serviceDir, name), []byte(service.String()), 0o600); err != nil {
			return nil, nil, fmt.Errorf("sshdtest: writing PAM service file: %w", err)
		}
	}
	var db strings.Builder
	users := make([]string, 0, len(passwords))
	for user := range passwords {
		users = append(users, user)
	}
	slices.Sort(users)
	for _, user := range users {
		// The third field is the PAM service the user may log in to.
		fmt.Fprintf(&db, "%s:%s:sshd\n", user, passwords[user])
	}
	if err := os.WriteFile(s.passdb, []byte(db.String()), 0o600); err != nil {
		return nil, nil, fmt.Errorf("sshdtest: writing pam_matrix password database: %w", err)
	}

	env = []string{
		"LD_PRELOAD=" + w.lib,
		"PAM_WRAPPER=1",
		"PAM_WRAPPER_SERVICE_DIR=" + serviceDir,
	}
	config = []string{
		"UsePAM yes",
		"PasswordAuthentication yes",
		"KbdInteractiveAuthentication yes",
	}
	if root {
		// The default, prohibit-password, refuses passwords for root.
		config = append(config, "PermitRootLogin yes")
	}
	return env, config, nil
}

// sweepPAMDirs removes the pam_wrapper directories (see pamRuntimeGlob)
// left behind by sshd processes of s that have exited. pam_wrapper removes
// its directory in a destructor, which never runs in sshd: sshd leaves
// with _exit(2) or is killed. Other processes only reclaim such a stale
// directory if its pid is below 65536, so on a system with a larger
// pid_max the 62 names would run out after a few dozen connections.
//
// A directory is recognised as belonging to s by the copy of s's PAM
// service file in it, and as stale by its pid file naming a process that
// no longer exists or is a zombie. Directories of other programs are left
// alone, and so are those of running processes unless kill is set: then
// each such process that is an sshd of s (it has s's log file open) is
// killed (SIGKILL) and waited for first. Shutdown
// does that for the sshd processes that still serve connections of a
// listening sshd stopped by Listen's cleanup, or that were still tearing
// down their connection when that cleanup looked.
func (s *Server) sweepPAMDirs(kill bool) error {
	if s.passdb == "" {
		return nil
	}
	dirs, err := filepath.Glob(pamRuntimeGlob)
	if err != nil {
		return fmt.Errorf("sshdtest: listing pam_wrapper directories: %w", err)
	}
	marker := []byte("passdb=" + s.passdb + "\n")
	var errs []error
	for _, dir := range dirs {
		service, err := os.ReadFile(filepath.Join(dir, "sshd"))
		if err != nil || !bytes.Contains(service, marker) {
			continue // not ours, or still being set up
		}
		b, err := os.ReadFile(filepath.Join(dir, "pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if processRunning(pid) {
			if !kill {
				continue
			}
			stopped, err := s.killOwnSSHD(pid)
			if err != nil {
				errs = append(errs, err)
			}
			if !stopped {
				continue
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("sshdtest: removing stale pam_wrapper directory: %w", err))
		}
	}
	return errors.Join(errs...)
}

// killOwnSSHD kills the process pid and waits for it to exit if it is an
// sshd of s, and reports whether pid is gone. The process is held by a
// pidfd before it is identified, so a reused pid cannot make it kill
// another process.
func (s *Server) killOwnSSHD(pid int) (gone bool, err error) {
	fd, err := daemontest.PidfdOpen(pid)
	if err == syscall.ESRCH {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("sshdtest: pidfd_open %d: %w", pid, err)
	}
	defer syscall.Close(fd)
	if !s.hasLogOpen(pid) {
		return false, nil // gone meanwhile, or not ours
	}
	if err := daemontest.PidfdSendSignal(fd, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return false, fmt.Errorf("sshdtest: killing sshd %d: %w", pid, err)
	}
	ready, err := daemontest.WaitReadable(stopTimeout, fd)
	if err != nil {
		return false, fmt.Errorf("sshdtest: waiting for sshd %d: %w", pid, err)
	}
	if !ready[0] {
		return false, fmt.Errorf("sshdtest: killed sshd %d did not exit within %v", pid, stopTimeout)
	}
	return true, nil
}

// hasLogOpen reports whether the process pid has s's log file open, which
// every sshd of s has (as its standard error, from -E). The environment
// would not do: sshd's setproctitle overwrites what /proc/PID/environ
// shows.
func (s *Server) hasLogOpen(pid int) bool {
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil && target == s.LogPath {
			return true
		}
	}
	return false
}

// processRunning reports whether the process pid exists and is not a
// zombie.
func processRunning(pid int) bool {
	st, err := readStat(pid)
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	return st.state != 'Z'
}
