// Package kdctest runs a throwaway MIT Kerberos KDC on 127.0.0.1 for tests,
// for example to test GSSAPI authentication against the sshd of
// internal/sshdtest (see sshdtest.GSSAPIOptions).
//
// [Start] creates a private directory with a krb5.conf, a kdc.conf and a
// fresh Kerberos database for the realm [Realm], and starts krb5kdc in the
// foreground on a free port. Principals, keytabs and ticket caches are
// then made with [KDC.AddPrincipal], [KDC.AddServicePrincipal],
// [KDC.Keytab] and [KDC.Kinit]; programs that should use the KDC get
// [KDC.Env]. [KDC.Close] stops the KDC and removes the directory. This core
// needs no testing.TB; tests use [New], which skips the test when the MIT
// Kerberos tools are not installed and closes the KDC when the test ends.
//
// The krb5.conf maps the DNS domain ".test" (and the host "sshd.test") to
// the realm and turns off DNS lookups and host name canonicalization, so a
// service principal such as host/sshd.test@TEST.LOCAL can be used for a
// server reached at 127.0.0.1 (with OpenSSH's ssh: -o
// GSSAPIServerIdentity=sshd.test). Clients are told to use TCP.
//
// The package needs krb5kdc, kdb5_util and kadmin.local (Debian: krb5-kdc,
// krb5-admin-server) and kinit (krb5-user); they are looked up in PATH and
// in /usr/sbin and /sbin. It works on Linux 5.3 or later (it waits for
// krb5kdc through a pidfd).
package kdctest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golibssh/libssh/internal/daemontest"
)

// Realm is the Kerberos realm of every KDC. Each KDC has its own
// configuration files, so KDCs running at the same time do not interfere.
const Realm = "TEST.LOCAL"

// masterPassword is the throwaway master key password of the database.
const masterPassword = "kdctest master key"

// startTimeout bounds how long Start waits, over all attempts, for
// krb5kdc to start listening.
const startTimeout = 30 * time.Second

// startAttempts is how many ports Start tries before giving up.
const startAttempts = 5

// pickPort chooses the KDC's port; tests replace it to exercise the retry
// path.
var pickPort = daemontest.FreePort

// toolTimeout bounds each run of kdb5_util, kadmin.local and kinit.
const toolTimeout = 60 * time.Second

// ErrNoKDC is wrapped by the error [Start] returns when one of the MIT
// Kerberos programs it needs is not installed. [New] skips the test in
// that case.
var ErrNoKDC = errors.New("kdctest: the MIT Kerberos KDC programs are not installed")

// sbinDirs are searched for the programs after PATH, which often lacks
// them for unprivileged users. Tests replace it.
var sbinDirs = []string{"/usr/sbin", "/sbin"}

// tools holds the absolute paths of the programs the package runs.
type tools struct {
	krb5kdc, kdb5util, kadmin, kinit string
}

// findTools looks up the programs; the error wraps ErrNoKDC.
func findTools() (tools, error) {
	var t tools
	for _, p := range []struct {
		name string
		dst  *string
	}{
		{"krb5kdc", &t.krb5kdc},
		{"kdb5_util", &t.kdb5util},
		{"kadmin.local", &t.kadmin},
		{"kinit", &t.kinit},
	} {
		path, err := exec.LookPath(p.name)
		if err != nil {
			path = ""
			for _, dir := range sbinDirs {
				if fi, err := os.Stat(filepath.Join(dir, p.name)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
					path = filepath.Join(dir, p.name)
					break
				}
			}
		}
		if path == "" {
			return tools{}, fmt.Errorf("%w: %s not found; install krb5-kdc krb5-admin-server krb5-user", ErrNoKDC, p.name)
		}
		*p.dst = path
	}
	return t, nil
}

// KDC is a running krb5kdc with its own database and configuration.
// Create it with [Start] (or [New] in a test) and stop it with [KDC.Close].
// Its methods may be called concurrently.
type KDC struct {
	// Dir is the private directory holding the configuration, the
	// database, the log and the pid FIFO. Close removes it.
	Dir string
	// Realm is the realm of the KDC, always [Realm].
	Realm string
	// ConfigPath is the krb5.conf for clients and servers (KRB5_CONFIG).
	ConfigPath string
	// KDCConfigPath is the kdc.conf of the KDC and of kadmin.local
	// (KRB5_KDC_PROFILE).
	KDCConfigPath string
	// LogPath is the KDC's log file.
	LogPath string
	// KDCPort is the port the KDC listens on, for UDP and TCP, on
	// 127.0.0.1.
	KDCPort int

	tools      tools
	stderrPath string    // krb5kdc's standard error
	cmd        *exec.Cmd // the running krb5kdc, or nil

	closeOnce sync.Once
	closeErr  error
}

// Start creates a Kerberos database for [Realm] in a fresh directory under
// os.TempDir() and starts krb5kdc in the foreground ("-n", so this process
// owns it) on a free port of 127.0.0.1. It is [New] without a testing.TB:
// it returns an error instead of failing a test, and the caller must call
// [KDC.Close].
//
// Readiness is event-driven: krb5kdc's pid file (-P) is a FIFO, which
// krb5kdc writes only once its sockets are bound, so Start returns when the
// KDC accepts requests. It waits for that or for krb5kdc to exit (through
// a pidfd), without starting goroutines. If krb5kdc exits because its port
// was taken meanwhile, another port is tried, up to 5 times; Start gives up
// after 30 seconds in total.
//
// If a program is missing, the error wraps [ErrNoKDC].
func Start() (_ *KDC, err error) {
	tl, err := findTools()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kdctest-")
	if err != nil {
		return nil, fmt.Errorf("kdctest: creating directory: %w", err)
	}
	k := &KDC{
		Dir:           dir,
		Realm:         Realm,
		ConfigPath:    filepath.Join(dir, "krb5.conf"),
		KDCConfigPath: filepath.Join(dir, "kdc.conf"),
		LogPath:       filepath.Join(dir, "kdc.log"),
		stderrPath:    filepath.Join(dir, "krb5kdc.stderr"),
		tools:         tl,
	}
	defer func() {
		if err != nil {
			_ = k.Close() // the start error matters more
		}
	}()
	if !daemontest.PlainPath(dir) {
		return nil, fmt.Errorf("kdctest: temporary directory %q contains characters unsafe in krb5 configuration files", dir)
	}
	// An empty ACL: nothing uses kadmind, but the realm names the file.
	if err := os.WriteFile(filepath.Join(dir, "kadm5.acl"), nil, 0o600); err != nil {
		return nil, fmt.Errorf("kdctest: writing kadm5.acl: %w", err)
	}

	deadline := time.Now().Add(startTimeout)
	var failures []string
	for attempt := 1; attempt <= startAttempts; attempt++ {
		port, err := pickPort()
		if err != nil {
			return nil, fmt.Errorf("kdctest: %w", err)
		}
		if err := k.writeConfig(port); err != nil {
			return nil, err
		}
		if attempt == 1 {
			// kdb5_util reads the database location from kdc.conf.
			if _, err := k.run(tl.kdb5util, "", "create", "-s", "-r", k.Realm, "-P", masterPassword); err != nil {
				return nil, err
			}
		}
		retry, err := k.startKDC(deadline)
		if err == nil {
			k.KDCPort = port
			return k, nil
		}
		failures = append(failures, fmt.Sprintf("attempt %d (port %d): %v", attempt, port, err))
		if !retry {
			break
		}
	}
	return nil, fmt.Errorf("kdctest: starting krb5kdc failed:\n%s\nlog:\n%s",
		strings.Join(failures, "\n"), k.Log())
}

// New starts a KDC for t, like [Start]. It skips the test when the MIT
// Kerberos programs are not installed ([ErrNoKDC]) and fails it on any
// other error. A cleanup registered on t calls [KDC.Close]; if the test has
// failed by then, the KDC's log is written to the test log first.
func New(t testing.TB) *KDC {
	t.Helper()
	k, err := Start()
	daemontest.SkipOrFatal(t, err, ErrNoKDC)
	daemontest.CloseAtCleanup(t, "kdctest: KDC log "+k.LogPath, k.Log, k.Close)
	return k
}

// writeConfig writes krb5.conf and kdc.conf for a KDC on port.
func (k *KDC) writeConfig(port int) error {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	krb5conf := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	udp_preference_limit = 1

[realms]
	%[1]s = {
		kdc = %[2]s
	}

[domain_realm]
	.test = %[1]s
	sshd.test = %[1]s
`, k.Realm, addr)
	// kdc_listen and kdc_tcp_listen take precedence over kdc_ports and
	// kdc_tcp_ports; an address without a port there means port 88.
	kdcconf := fmt.Sprintf(`[kdcdefaults]
	kdc_listen = %[2]s
	kdc_tcp_listen = %[2]s

[realms]
	%[1]s = {
		database_name = %[3]s
		key_stash_file = %[4]s
		acl_file = %[5]s
	}

[logging]
	kdc = FILE:%[6]s
`, k.Realm, addr, filepath.Join(k.Dir, "principal"), filepath.Join(k.Dir, "stash"),
		filepath.Join(k.Dir, "kadm5.acl"), k.LogPath)
	if err := os.WriteFile(k.ConfigPath, []byte(krb5conf), 0o600); err != nil {
		return fmt.Errorf("kdctest: writing krb5.conf: %w", err)
	}
	if err := os.WriteFile(k.KDCConfigPath, []byte(kdcconf), 0o600); err != nil {
		return fmt.Errorf("kdctest: writing kdc.conf: %w", err)
	}
	return nil
}

// startKDC makes one attempt at starting krb5kdc with the current
// configuration, before deadline (see [daemontest.Daemon.Start]). On
// failure it leaves no process behind and reports whether another port
// might help.
func (k *KDC) startKDC(deadline time.Time) (retry bool, err error) {
	logStart, stderrStart := fileSize(k.LogPath), fileSize(k.stderrPath)
	stderr, err := os.OpenFile(k.stderrPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return false, fmt.Errorf("opening stderr file: %w", err)
	}
	defer stderr.Close()

	fifo := filepath.Join(k.Dir, "krb5kdc.pid")
	cmd := exec.Command(k.tools.krb5kdc, "-r", k.Realm, "-n", "-P", fifo)
	cmd.Env = k.toolEnv()
	cmd.Stderr = stderr
	err = daemontest.Daemon{Name: "krb5kdc", Cmd: cmd, PidFile: fifo}.Start(deadline)
	if errors.Is(err, daemontest.ErrExited) {
		out := readFrom(k.LogPath, logStart) + readFrom(k.stderrPath, stderrStart)
		return strings.Contains(out, "Address already in use"), err
	}
	if err != nil {
		return false, err
	}
	k.cmd = cmd
	return false, nil
}

// Close stops the KDC (SIGKILL), waits for it to exit and removes Dir. It is
// idempotent: later calls return the first call's result.
func (k *KDC) Close() error {
	k.closeOnce.Do(func() {
		var errs []error
		if k.cmd != nil {
			if err := daemontest.KillAndWait(k.cmd); err != nil {
				errs = append(errs, fmt.Errorf("kdctest: killing krb5kdc (pid %d): %w", k.cmd.Process.Pid, err))
			}
		}
		if err := os.RemoveAll(k.Dir); err != nil {
			errs = append(errs, fmt.Errorf("kdctest: removing directory: %w", err))
		}
		k.closeErr = errors.Join(errs...)
	})
	return k.closeErr
}

// Env returns the environment entries that make Kerberos programs and
// libraries use this KDC: KRB5_CONFIG (the krb5.conf), KRB5_KDC_PROFILE
// (the kdc.conf, for KDC-side programs) and KRB5RCACHETYPE=none, which
// turns off the replay cache of servers such as sshd (it would otherwise
// be a file shared by all tests). Pass them to sshd through
// sshdtest.GSSAPIOptions.Env and to clients such as ssh, together with
// KRB5CCNAME naming a ticket cache from [KDC.Kinit].
func (k *KDC) Env() []string {
	return []string{
		"KRB5_CONFIG=" + k.ConfigPath,
		"KRB5_KDC_PROFILE=" + k.KDCConfigPath,
		"KRB5RCACHETYPE=none",
	}
}

// toolEnv is the environment for the programs the package runs: this
// process's, Env, and the C locale, whose messages run checks for.
func (k *KDC) toolEnv() []string {
	return append(append(os.Environ(), k.Env()...), "LC_ALL=C")
}

// AddPrincipal creates the principal name with the given password, for a
// user to get tickets with [KDC.Kinit]. name may omit the realm, for
// example "alice" for alice@TEST.LOCAL. Neither may contain newlines.
func (k *KDC) AddPrincipal(name, password string) error {
	if err := checkArg("password", password); err != nil {
		return err
	}
	return k.addPrincipal(name, "-pw "+quote(password))
}

// AddServicePrincipal creates the principal name with a random key, for a
// service such as sshd ("host/sshd.test"); export its key with
// [KDC.Keytab].
func (k *KDC) AddServicePrincipal(name string) error {
	return k.addPrincipal(name, "-randkey")
}

// addPrincipal runs kadmin.local's addprinc with the given key option.
func (k *KDC) addPrincipal(name, keyOption string) error {
	if err := checkPrincipal(name); err != nil {
		return err
	}
	out, err := k.kadmin("addprinc", "addprinc "+keyOption+" "+quote(name))
	if err != nil {
		return err
	}
	// kadmin.local exits with status 0 even when the command fails.
	if !strings.Contains(out, `Principal "`+k.qualify(name)+`" created.`) {
		return fmt.Errorf("kdctest: adding principal %s failed:\n%s", name, out)
	}
	return nil
}

// Keytab writes the current keys of the given principals to the keytab
// file at path (adding to it if it exists), for example for sshd through
// sshdtest.GSSAPIOptions.Keytab. The keys are not changed (kadmin.local
// ktadd -norandkey), so passwords stay valid and earlier keytabs keep
// working.
func (k *KDC) Keytab(path string, principals ...string) error {
	if len(principals) == 0 {
		return errors.New("kdctest: Keytab needs at least one principal")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("kdctest: keytab path: %w", err)
	}
	if err := checkArg("keytab path", abs); err != nil {
		return err
	}
	query := "ktadd -k " + quote("WRFILE:"+abs) + " -norandkey"
	for _, p := range principals {
		if err := checkPrincipal(p); err != nil {
			return err
		}
		query += " " + quote(p)
	}
	out, err := k.kadmin("ktadd", query)
	if err != nil {
		return err
	}
	for _, p := range principals {
		if !strings.Contains(out, "Entry for principal "+p+" with kvno ") {
			return fmt.Errorf("kdctest: adding %s to keytab %s failed:\n%s", p, path, out)
		}
	}
	return nil
}

// Kinit gets a ticket-granting ticket for principal with password into the
// file ticket cache ccache (KRB5CCNAME=FILE:ccache), which is created or
// replaced. Clients use the ticket with KRB5CCNAME=FILE:ccache and
// [KDC.Env].
func (k *KDC) Kinit(principal, password, ccache string) error {
	if err := checkArg("password", password); err != nil {
		return err
	}
	if err := checkPrincipal(principal); err != nil {
		return err
	}
	abs, err := filepath.Abs(ccache)
	if err != nil {
		return fmt.Errorf("kdctest: ticket cache path: %w", err)
	}
	if _, err := k.runEnv([]string{"KRB5CCNAME=FILE:" + abs}, k.tools.kinit, password+"\n", principal); err != nil {
		return fmt.Errorf("kdctest: kinit %s: %w", principal, err)
	}
	return nil
}

// Log returns the KDC's log and anything it wrote to its standard error,
// or a description of the problem if they cannot be read.
func (k *KDC) Log() string {
	log := readFrom(k.LogPath, 0)
	if stderr := readFrom(k.stderrPath, 0); stderr != "" {
		log += "\nstandard error:\n" + stderr
	}
	return log
}

// kadmin runs one kadmin.local query (verb names it in errors; the query
// may hold a password) and returns the output.
func (k *KDC) kadmin(verb, query string) (string, error) {
	out, err := k.run(k.tools.kadmin, "", "-r", k.Realm, "-q", query)
	if err != nil {
		return "", fmt.Errorf("kdctest: kadmin.local %s: %w", verb, err)
	}
	return out, nil
}

// run runs program with args and stdin, and returns its combined output;
// the error includes the output.
func (k *KDC) run(program, stdin string, args ...string) (string, error) {
	return k.runEnv(nil, program, stdin, args...)
}

// runEnv is run with extra environment entries.
func (k *KDC) runEnv(env []string, program, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Env = append(k.toolEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", filepath.Base(program), err, out)
	}
	return string(out), nil
}

// qualify appends the realm to a principal name that has none.
func (k *KDC) qualify(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	return name + "@" + k.Realm
}

// checkPrincipal rejects principal names that kadmin.local or kinit would
// take for something else.
func checkPrincipal(name string) error {
	if name == "" || strings.HasPrefix(name, "-") {
		return fmt.Errorf("kdctest: invalid principal name %q", name)
	}
	return checkArg("principal name", name)
}

// checkArg rejects values that cannot be passed on one kadmin.local query
// line or one line of kinit's input.
func checkArg(what, s string) error {
	if strings.ContainsAny(s, "\n\r\x00") {
		return fmt.Errorf("kdctest: invalid %s %q: it contains a line break or NUL", what, s)
	}
	return nil
}

// quote quotes s as one argument of a kadmin.local query, which doubles
// quotes inside double quotes.
func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// fileSize returns the size of the file at path (0 if unknown).
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom returns the contents of the file at path after offset off, ""
// if it does not exist.
func readFrom(path string, off int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ""
		}
		return fmt.Sprintf("(kdctest: cannot read %s: %v)", path, err)
	}
	if off < 0 || off > int64(len(b)) {
		return string(b)
	}
	return string(b[off:])
}
