package libssh

// known_hosts "@revoked" lines, which libssh skips (it ignores every line
// that starts with '@'). The matching rules are OpenSSH's (hostfile.c and
// match.c of OpenSSH 9.2, the facts copied, not the code).
//
// "@cert-authority" lines are not handled: libssh, as a client, never
// negotiates a host certificate. ssh_client_select_hostkeys (kex.c, 0.10.6
// and libssh's master in 2026) drops the *-cert-v01@openssh.com names from
// the host key algorithms it offers, whatever SSH_OPTIONS_HOSTKEYS says, so
// the key libssh hands us is always a plain key. docs/design.md,
// "known_hosts markers", has the details, the test that pins them, and why
// this is not golang.org/x/crypto/ssh/knownhosts.

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// checkKnownHostsRevoked reports whether keyBlob, the server's host key in
// SSH wire format (as ssh_pki_export_pubkey_blob gives it, or the base64
// of [PublicKey.Base64] decoded), is revoked for host and port by an
// "@revoked" line of one of files (the user's known_hosts, then the global
// one, as libssh reads them; "" and missing files are skipped). It returns
// nil when it is not, a [*HostVerificationError] with Status
// [KnownHostsRevoked] when it is, and an error naming the file when a file
// cannot be read: a line nobody read might revoke the key, so the caller
// must refuse the host on any error.
//
// It does what OpenSSH's ssh does, so that a known_hosts file means the same
// to both: an "@revoked" line applies to the hosts its pattern field
// matches (write "@revoked * <type> <base64>" for every host), where the
// host is keyed as known_hosts keys it — "host", or "[host]:port" when the
// port is not 22 — in lower case; the field is a comma-separated list of
// patterns with "*" and "?" wildcards, each possibly negated with "!" (a
// matching negation excludes the host), or one hashed "|1|salt|hash" entry
// (ssh-keygen -H). A revoked key is refused even when a plain line lists it
// as known. Lines OpenSSH skips as invalid (an unknown or second marker, a
// key that does not decode or whose type is not the line's type field, a
// malformed hash) are skipped here too, and so are "@cert-authority" lines
// (see the note at the top of the file).
//
// It reads files only, without libssh: it needs no session lock.
func checkKnownHostsRevoked(files []string, host string, port int, keyBlob []byte) error {
	name := strings.ToLower(hostPort(host, port))
	for _, path := range files {
		if path == "" {
			continue
		}
		revoked, err := revokedInFile(path, name, keyBlob)
		if err != nil {
			return err
		}
		if revoked {
			return &HostVerificationError{Status: KnownHostsRevoked, Host: host, Port: port, Fingerprint: blobFingerprint(keyBlob)}
		}
	}
	return nil
}

// revokedInFile reports whether a line of the known_hosts file at path
// revokes key for the host keyed name. A missing file revokes nothing.
func revokedInFile(path, name string, key []byte) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("libssh: reading known_hosts: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20) // an RSA key of 16384 bits takes 2.8 kB of base64
	for sc.Scan() {
		if revokesKey(sc.Text(), name, key) {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("libssh: reading known_hosts %s: %w", path, err)
	}
	return false, nil
}

// revokesKey reports whether line is a valid "@revoked" line for the host
// keyed name whose key is key.
func revokesKey(line, name string, key []byte) bool {
	f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' })
	// "@revoked hosts type base64 [comment]"; a second marker makes the
	// host field start with '@', which no pattern or hash does.
	if len(f) < 4 || f[0] != "@revoked" || strings.HasPrefix(f[1], "@") {
		return false
	}
	blob, err := base64.StdEncoding.DecodeString(f[3])
	if err != nil || blobType(blob) != f[2] || !bytes.Equal(blob, key) {
		return false
	}
	return matchHostField(name, f[1])
}

// blobType returns the key type name a wire-format key starts with ("" if
// it has none).
func blobType(blob []byte) string {
	if len(blob) < 4 {
		return ""
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) {
		return ""
	}
	return string(blob[4 : 4+n])
}

// matchHostField reports whether the host field of a known_hosts line (a
// hashed entry or a pattern list) matches the host keyed name.
func matchHostField(name, field string) bool {
	if strings.HasPrefix(field, "|") {
		return matchHashedHost(name, field)
	}
	return matchPatternList(name, field) > 0
}

// hashMagic starts a hashed host entry: "|1|" base64(salt) "|"
// base64(HMAC-SHA1 of the host name keyed with the salt).
const hashMagic = "|1|"

// matchHashedHost reports whether the hashed host entry field is name's.
// A malformed entry matches nothing.
func matchHashedHost(name, field string) bool {
	rest, ok := strings.CutPrefix(field, hashMagic)
	if !ok {
		return false
	}
	salt64, _, ok := strings.Cut(rest, "|")
	if !ok {
		return false
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || len(salt) != sha1.Size {
		return false
	}
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(name))
	want := hashMagic + base64.StdEncoding.EncodeToString(salt) + "|" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return want == field
}

// maxSubpattern is the longest subpattern OpenSSH matches (its buffer is
// 1024 bytes, and one of 1023 already counts as too long); a longer one
// makes the whole list match nothing.
const maxSubpattern = 1022

// matchPatternList matches name (in lower case) against a comma-separated
// list of patterns, each possibly negated with a leading "!", compared in
// lower case. It returns -1 when a negated pattern matches, 1 when a plain
// one does (and no negated one), 0 otherwise.
func matchPatternList(name, list string) int {
	matched := 0
	for _, sub := range strings.Split(list, ",") {
		sub, negated := strings.CutPrefix(sub, "!")
		if len(sub) > maxSubpattern {
			return 0
		}
		if matchPattern(name, strings.ToLower(sub)) {
			if negated {
				return -1
			}
			matched = 1
		}
	}
	return matched
}

// matchPattern reports whether s matches pattern, in which "*" stands for
// any run of bytes and "?" for any one byte.
func matchPattern(s, pattern string) bool {
	// Greedy with backtracking to the last "*": each "*" only ever needs
	// to absorb one more byte of s, so this takes O(len(s)·len(pattern)).
	si, pi := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && (pattern[pi] == '?' || pattern[pi] == s[si]):
			si++
			pi++
		case pi < len(pattern) && pattern[pi] == '*':
			starP, starS = pi, si
			pi++
		case starP >= 0:
			starS++
			si, pi = starS, starP+1
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

// blobFingerprint is a wire-format key's SHA256 fingerprint as OpenSSH
// prints it.
func blobFingerprint(blob []byte) string {
	sum := sha256.Sum256(blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}
