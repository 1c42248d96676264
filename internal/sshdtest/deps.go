package sshdtest

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// sshdPath returns the sshd to run: $SSHDTEST_SSHD, or /usr/sbin/sshd. It
// is an absolute path, as sshd re-executes itself.
func sshdPath() string {
	if p := os.Getenv("SSHDTEST_SSHD"); p != "" {
		return p
	}
	return "/usr/sbin/sshd"
}

// lookTool returns the absolute path of the program name, looked up in
// PATH and then in /usr/sbin and /sbin, which PATH often lacks for
// unprivileged users. The error names the Debian package to install.
func lookTool(name, pkg string) (string, error) {
	path, err := exec.LookPath(name)
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if err != nil {
			path, err = exec.LookPath(filepath.Join(dir, name))
		}
	}
	if err != nil {
		return "", fmt.Errorf("sshdtest: %s not found; install %s", name, pkg)
	}
	return filepath.Abs(path)
}

// findWrapper returns the path of a cwrap library such as
// libpam_wrapper.so, built for this machine, with the file rel next to it:
// in /usr/lib/*/, /usr/lib64, /usr/lib or /usr/local/lib. The path must be
// plain (see plainPath) and colon-free: it goes into LD_PRELOAD and PAM
// service files.
func findWrapper(lib, rel, pkg string) (string, error) {
	var machine elf.Machine
	if f, err := elf.Open("/proc/self/exe"); err == nil {
		machine = f.Machine
		f.Close()
	}
	paths, _ := filepath.Glob("/usr/lib/*/" + lib)
	for _, path := range append(paths, "/usr/lib64/"+lib, "/usr/lib/"+lib, "/usr/local/lib/"+lib) {
		f, err := elf.Open(path)
		if err != nil {
			continue
		}
		f.Close()
		if f.Machine == machine && isFile(filepath.Join(filepath.Dir(path), rel)) && plainPath(path) && !strings.Contains(path, ":") {
			return path, nil
		}
	}
	return "", fmt.Errorf("sshdtest: no %s found; install %s", lib, pkg)
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// plainPath reports whether p has only ASCII letters, digits and
// "/._-+=,:@", which the files the daemons read (sshd_config, PAM service
// files, krb5.conf, LD_PRELOAD) take verbatim.
func plainPath(p string) bool {
	const plain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=,:@"
	return !strings.ContainsFunc(p, func(r rune) bool { return !strings.ContainsRune(plain, r) })
}

// packages lists the Debian packages of the programs the harness runs,
// each with a check that it is installed.
var packages = []struct {
	name      string
	installed func() bool
}{
	{"openssh-server", func() bool { return isFile(sshdPath()) }},
	{"openssh-client", func() bool { return haveTools("ssh", "ssh-keygen", "ssh-agent", "ssh-add") }},
	{"libpam-wrapper", func() bool { _, err := findPAMWrapper(); return err == nil }},
	{"libnss-wrapper", func() bool { _, err := findNSSWrapper(); return err == nil || os.Geteuid() != 0 }},
	{"krb5-kdc", func() bool { return haveTools("krb5kdc", "kdb5_util") }},
	{"krb5-admin-server", func() bool { return haveTools("kadmin.local") }},
	{"krb5-user", func() bool { return haveTools("kinit") }},
}

func haveTools(names ...string) bool {
	for _, name := range names {
		if _, err := lookTool(name, ""); err != nil {
			return false
		}
	}
	return true
}

// ExitIfMissing is for TestMain, before m.Run: it checks that the Debian
// packages named (all the harness uses when none is) are installed, and if
// some are not, prints one line naming them and "make deps" and exits
// with status 1. It does not skip: CI, which installs everything, runs
// every test. (SSHDTEST_SSHD=/nonexistent shows the message.)
func ExitIfMissing(what string, debs ...string) {
	var missing []string
	for _, p := range packages {
		if (len(debs) == 0 || slices.Contains(debs, p.name)) && !p.installed() {
			missing = append(missing, p.name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "%s tests need %s: run `make deps` (Debian)\n", what, strings.Join(missing, ", "))
		os.Exit(1)
	}
}
