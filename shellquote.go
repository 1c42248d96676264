package libssh

import "strings"

// ShellQuote quotes arg for a POSIX shell (sh, bash, dash, zsh, ksh), so
// that the shell reads it back as one word holding exactly arg's bytes,
// whatever they are: spaces, quotes, $, backslashes, newlines, non-UTF-8.
// [Session.Command] quotes each argument with it; use it to build a line
// for [Session.CommandLine] from untrusted pieces.
//
// A word made only of letters, digits and the characters @%+:,./_- is
// returned as it is; anything else is put in single quotes, with each
// single quote written as '\”. csh and fish read some of these words
// differently (newlines, '!'); NUL bytes cannot be sent at all (the
// command is a C string), and Start refuses them.
func ShellQuote(arg string) string {
	if arg == "" {
		return "''"
	}
	if strings.IndexFunc(arg, needsQuote) < 0 {
		return arg
	}
	return "'" + strings.ReplaceAll(arg, "'", `'\''`) + "'"
}

// needsQuote reports whether r is special to a POSIX shell in some position
// (or not plain ASCII).
func needsQuote(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("@%+:,./_-", r) // not =: "A=b" would be an assignment
}

// shellJoin quotes each word with ShellQuote and joins them with spaces.
func shellJoin(words []string) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(ShellQuote(w))
	}
	return b.String()
}
