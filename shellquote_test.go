package libssh_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/golibssh/libssh"
)

// FuzzShellQuote checks that sh and bash read ShellQuote's word back as the
// original bytes. (NUL cannot be in a command line at all.)
func FuzzShellQuote(f *testing.F) {
	for _, seed := range []string{
		"", "plain", "  two  words ", "it's", `"double"`, "$HOME ${X} $(id) `id`",
		`a\b\\c`, "line 1\nline 2\n", "* ? [a-z] ~", "a;b|c&d>e<f(g)h{i}", "-n",
		"A=b", "\xff\xfe\x80", "\x01\x1b[31m\t\r", "#x", "!!", "'", "''", "\\'",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		if strings.IndexByte(arg, 0) >= 0 {
			return
		}
		for _, shell := range []string{"sh", "bash"} {
			out, err := exec.Command(shell, "-c", "printf %s "+libssh.ShellQuote(arg)).Output()
			if err != nil {
				t.Fatalf("%s: %v (word %q)", shell, err, libssh.ShellQuote(arg))
			}
			if string(out) != arg {
				t.Fatalf("%s read %q back as %q (word %q)", shell, arg, out, libssh.ShellQuote(arg))
			}
		}
	})
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":            "''",
		"plain":       "plain",
		"/usr/bin/x":  "/usr/bin/x",
		"a-b_c.d:e,f": "a-b_c.d:e,f",
		"A=b":         "'A=b'",
		"it's":        `'it'\''s'`,
		"two words":   "'two words'",
		"~":           "'~'",
	} {
		if got := libssh.ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
