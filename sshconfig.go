package libssh

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golibssh/libssh/lib"
)

// libssh 0.10 reads ssh_config but ignores ServerAliveInterval,
// ServerAliveCountMax and CertificateFile (config.c lists them as
// unsupported). This file reads those keywords itself (and IdentityFile,
// to pair certificates with keys), with OpenSSH's rules, from the files
// libssh reads: the ssh directory's "config", then /etc/ssh/ssh_config.

// globalSSHConfig is the system-wide ssh_config.
const globalSSHConfig = "/etc/ssh/ssh_config"

// maxIncludeDepth bounds nested Include directives, as OpenSSH does.
const maxIncludeDepth = 16

// serverAliveLocked sets the keepalive from ssh_config's
// ServerAliveInterval and ServerAliveCountMax for host, unless an option
// set it.
func (st *sessionState) serverAliveLocked(host string) error {
	cfg := &st.cfg
	if cfg.keepalive != 0 || cfg.keepaliveMax != 0 {
		return nil
	}
	dir, err := sshDirPath(cfg.sshDir)
	if err != nil {
		return nil // no home: libssh read no user file either
	}
	r := &sshConfigReader{
		host:     host,
		hostName: lib.OptionsGet(st.p, lib.SSH_OPTIONS_HOST),
		want:     map[string]string{"serveraliveinterval": "", "serveralivecountmax": ""},
		found:    map[string]string{},
	}
	if err := r.readAll(dir); err != nil {
		return err
	}
	interval, count := time.Duration(0), 3 // OpenSSH's defaults
	if v, ok := r.found["serveraliveinterval"]; ok {
		if interval, err = parseConfigTime(v); err != nil {
			return &Error{Op: "read ssh_config", Message: "ServerAliveInterval " + strconv.Quote(v), Err: err}
		}
	}
	if v, ok := r.found["serveralivecountmax"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return &Error{Op: "read ssh_config", Message: "ServerAliveCountMax " + strconv.Quote(v) + " is not a number"}
		}
		count = n
	}
	if interval > 0 {
		cfg.keepalive, cfg.keepaliveMax, cfg.keepaliveFromConfig = interval, count, true
	}
	return nil
}

// readAll reads the user's file in the ssh directory dir, then the
// system's.
func (r *sshConfigReader) readAll(dir string) error {
	for _, f := range []struct{ path, dir string }{
		{filepath.Join(dir, "config"), dir},
		{globalSSHConfig, filepath.Dir(globalSSHConfig)},
	} {
		if err := r.readFile(f.path, f.dir, 0, true); err != nil {
			return &Error{Op: "read ssh_config", Err: err}
		}
	}
	return nil
}

// certConfigLocked reads every CertificateFile and IdentityFile line of
// ssh_config for host, which [Session.Authenticate] pairs: libssh 0.10
// applies IdentityFile itself but ignores CertificateFile. It runs once
// the user is known (%r).
func (st *sessionState) certConfigLocked(host string) error {
	dir, err := sshDirPath(st.cfg.sshDir)
	if err != nil {
		return nil // no home: libssh read no user file either
	}
	r := &sshConfigReader{
		host:     host,
		hostName: lib.OptionsGet(st.p, lib.SSH_OPTIONS_HOST),
		want:     map[string]string{},
		found:    map[string]string{},
		all:      map[string][]string{"certificatefile": nil, "identityfile": nil},
	}
	if err := r.readAll(dir); err != nil {
		return err
	}
	tokens := map[byte]string{'%': "%", 'd': "", 'u': "", 'h': r.hostName, 'r': lib.OptionsGet(st.p, lib.SSH_OPTIONS_USER), 'l': ""}
	tokens['d'], _ = os.UserHomeDir()
	if u, err := user.Current(); err == nil {
		tokens['u'] = u.Username
	}
	tokens['l'], _ = os.Hostname()
	expand := func(paths []string) ([]string, error) {
		var out []string
		for _, p := range paths {
			e, err := expandConfigPath(p, tokens)
			if err != nil {
				return nil, &Error{Op: "read ssh_config", Message: strconv.Quote(p), Err: err}
			}
			out = append(out, e)
		}
		return out, nil
	}
	if st.cfg.configCerts, err = expand(r.all["certificatefile"]); err != nil {
		return err
	}
	st.cfg.configIdentities, err = expand(r.all["identityfile"])
	return err
}

// expandConfigPath expands a leading ~ (see expandTilde) and the % tokens
// of OpenSSH's CertificateFile and IdentityFile.
func expandConfigPath(p string, tokens map[byte]string) (string, error) {
	p, err := expandTilde(p, func() (string, error) { return tokens['d'], nil })
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		if i+1 == len(p) {
			return "", errors.New("ends in %")
		}
		i++
		v, ok := tokens[p[i]]
		if !ok {
			return "", fmt.Errorf("unknown token %%%c", p[i])
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// sshDirPath returns the ssh directory as libssh uses it: dir (with a
// leading ~ expanded, see expandTilde) or ~/.ssh.
func sshDirPath(dir *string) (string, error) {
	if dir == nil {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(home, ".ssh"), nil
	}
	if _, ok := tildeUser(*dir); !ok {
		return *dir, nil
	}
	p, err := expandTilde(*dir, os.UserHomeDir)
	if err != nil {
		return "", err
	}
	return filepath.Clean(p), nil
}

// expandTilde expands a leading ~ of a path as OpenSSH does: "~" and "~/"
// stand for home's answer, "~user" and "~user/" for that user's home
// directory (an error names a user the system does not know). A path
// without a leading ~ is returned as it is.
func expandTilde(p string, home func() (string, error)) (string, error) {
	name, ok := tildeUser(p)
	if !ok {
		return p, nil
	}
	var dir string
	if name == "" {
		var err error
		if dir, err = home(); err != nil {
			return "", err
		}
	} else {
		u, err := user.Lookup(name)
		if err != nil {
			return "", fmt.Errorf("cannot expand ~%s: %w", name, err)
		}
		dir = u.HomeDir
	}
	return dir + p[1+len(name):], nil
}

// tildeUser returns the user name of a path that starts with ~ ("" for
// "~" and "~/"), and whether it does.
func tildeUser(p string) (name string, ok bool) {
	if !strings.HasPrefix(p, "~") {
		return "", false
	}
	name, _, _ = strings.Cut(p[1:], "/")
	return name, true
}

// sshConfigReader finds the first value of each wanted keyword for host.
type sshConfigReader struct {
	host     string            // as given: Host and Match originalhost match it
	hostName string            // after HostName: Match host matches it
	want     map[string]string // lower-case keywords
	found    map[string]string
	all      map[string][]string // keywords of which every value counts, in order
}

// readFile reads one file; a missing file is no error. dir resolves
// relative Include paths. active says whether the lines before the first
// Host or Match apply (an included file starts in its includer's state).
func (r *sshConfigReader) readFile(path, dir string, depth int, active bool) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		key, args := splitConfigLine(sc.Text())
		if key == "" {
			continue
		}
		where := func(err error) error { return fmt.Errorf("%s line %d: %w", path, line, err) }
		switch key {
		case "host":
			active = hostPatternsMatch(args, r.host)
		case "match":
			active = r.matchApplies(args)
		case "include":
			if !active {
				continue
			}
			if depth >= maxIncludeDepth {
				return where(errors.New("include directives nest too deep"))
			}
			for _, pat := range args {
				if strings.HasPrefix(pat, "~/") {
					home, err := os.UserHomeDir()
					if err != nil {
						return where(err)
					}
					pat = filepath.Join(home, pat[2:])
				} else if !filepath.IsAbs(pat) {
					pat = filepath.Join(dir, pat)
				}
				files, err := filepath.Glob(pat)
				if err != nil {
					return where(err)
				}
				sort.Strings(files)
				for _, inc := range files {
					if err := r.readFile(inc, dir, depth+1, active); err != nil {
						return err
					}
				}
			}
		default:
			if _, ok := r.all[key]; ok && active && len(args) > 0 {
				r.all[key] = append(r.all[key], args[0])
			}
			if _, ok := r.want[key]; ok && active && len(args) > 0 {
				if _, seen := r.found[key]; !seen {
					r.found[key] = args[0]
				}
			}
		}
	}
	return sc.Err()
}

// splitConfigLine returns a line's lower-case keyword and its arguments
// (unquoted), or "" for a blank line or a comment.
func splitConfigLine(line string) (string, []string) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return "", nil
	}
	end := strings.IndexAny(line, " \t=")
	if end < 0 {
		return strings.ToLower(line), nil
	}
	key := strings.ToLower(line[:end])
	rest := strings.TrimSpace(line[end:])
	rest = strings.TrimSpace(strings.TrimPrefix(rest, "="))
	var args []string
	for rest != "" {
		var arg string
		if rest[0] == '"' {
			if i := strings.IndexByte(rest[1:], '"'); i >= 0 {
				arg, rest = rest[1:i+1], rest[i+2:]
			} else {
				arg, rest = rest[1:], ""
			}
		} else if i := strings.IndexAny(rest, " \t"); i >= 0 {
			arg, rest = rest[:i], rest[i:]
		} else {
			arg, rest = rest, ""
		}
		args = append(args, arg)
		rest = strings.TrimSpace(rest)
	}
	return key, args
}

// hostPatternsMatch applies OpenSSH's pattern-list rule: a matching
// negated pattern (!pattern) refuses, else any matching pattern accepts
// (matchPatternList, the known_hosts matcher).
func hostPatternsMatch(patterns []string, host string) bool {
	return matchPatternList(strings.ToLower(host), strings.Join(patterns, ",")) > 0
}

// matchApplies evaluates a Match line: "all", and "host" and
// "originalhost" with comma-separated pattern lists, each maybe negated
// with "!"; any other criterion makes the block not apply.
func (r *sshConfigReader) matchApplies(args []string) bool {
	for i := 0; i < len(args); i++ {
		crit := strings.ToLower(args[i])
		neg := strings.HasPrefix(crit, "!")
		crit = strings.TrimPrefix(crit, "!")
		var ok bool
		switch crit {
		case "all":
			ok = true
		case "host", "originalhost":
			if i+1 == len(args) {
				return false
			}
			i++
			name := r.hostName
			if crit == "originalhost" || name == "" {
				name = r.host
			}
			ok = hostPatternsMatch(strings.Split(args[i], ","), name)
		default:
			return false
		}
		if ok == neg {
			return false
		}
	}
	return len(args) > 0
}

// parseConfigTime parses OpenSSH's time format: seconds, or a sequence of
// numbers with the units s, m, h, d, w ("90", "1m30s").
func parseConfigTime(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	var total time.Duration
	rest := strings.ToLower(v)
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, errors.New("is not a time (seconds, or numbers with s, m, h, d, w)")
		}
		n, err := strconv.Atoi(rest[:i])
		unit, ok := units[rest[i]]
		if err != nil || !ok {
			return 0, errors.New("is not a time (seconds, or numbers with s, m, h, d, w)")
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	return total, nil
}
