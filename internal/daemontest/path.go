package daemontest

import "strings"

// PlainPath reports whether p consists only of ASCII letters and digits
// and the characters "/._-+=,:@", which none of the files the test daemons
// read (sshd_config, krb5.conf and kdc.conf, PAM service files,
// LD_PRELOAD) needs quoted or escaped, so that p can be written into them
// verbatim. Temporary directories have such names unless TMPDIR or a test
// name makes them otherwise.
func PlainPath(p string) bool {
	for _, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("/._-+=,:@", r):
		default:
			return false
		}
	}
	return true
}
