package libssh_test

// Keyboard-interactive rounds without prompts (a password-expiry notice:
// a name and an instruction, nothing to answer) reach AuthOptions.Kbdint
// and are shown by AuthenticateCLI, as OpenSSH's ssh shows them.

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

const (
	noticeName        = "Password expiry"
	noticeInstruction = "Your password will expire in 3 days."
	noticeAnswer      = "kbdint answer"
)

// A notice first, then a question; a notice last, as OpenSSH's PAM ends.
var (
	noticeFirst = []sshtest.Round{
		{Name: noticeName, Instruction: noticeInstruction},
		{Prompts: []sshtest.Prompt{{Text: "Password: ", Answer: noticeAnswer}}},
	}
	noticeLast = []sshtest.Round{
		{Prompts: []sshtest.Prompt{{Text: "Password: ", Answer: noticeAnswer}}},
		{Name: noticeName, Instruction: noticeInstruction},
	}
)

func TestKbdintNoPromptRoundReachesKbdint(t *testing.T) {
	t.Parallel()
	for name, rounds := range map[string][]sshtest.Round{"first": noticeFirst, "last": noticeLast} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newSSHTest(t, sshtest.Options{KeyboardInteractive: rounds})
			s := connectSSHTest(t, srv)
			var seen []libssh.KbdintRound
			res, err := s.Authenticate(testCtx(t, 20*time.Second), libssh.AuthOptions{
				Kbdint: func(r libssh.KbdintRound) ([]string, error) {
					seen = append(seen, r)
					if len(r.Prompts) == 0 {
						return nil, nil
					}
					return []string{noticeAnswer}, nil
				},
			})
			require.NoError(t, err)
			assert.True(t, res.Done(), res.String())
			notice := libssh.KbdintRound{Name: noticeName, Instruction: noticeInstruction, Prompts: []libssh.KbdintPrompt{}}
			question := libssh.KbdintRound{Prompts: []libssh.KbdintPrompt{{Msg: "Password: "}}}
			want := []libssh.KbdintRound{notice, question}
			if name == "last" {
				want = []libssh.KbdintRound{question, notice}
			}
			assert.Equal(t, want, seen)
		})
	}
}

// TestKbdintNoPromptRoundWithFixedAnswers: KbdintAnswers answers the round
// that asks, whatever notices come before it.
func TestKbdintNoPromptRoundWithFixedAnswers(t *testing.T) {
	t.Parallel()
	srv := newSSHTest(t, sshtest.Options{KeyboardInteractive: noticeFirst})
	s := connectSSHTest(t, srv)
	res, err := s.Authenticate(testCtx(t, 20*time.Second), libssh.AuthOptions{KbdintAnswers: []string{noticeAnswer}})
	require.NoError(t, err)
	assert.True(t, res.Done(), res.String())
}

// TestKbdintNoPromptRoundShownByCLI: AuthenticateCLI prints a notice's name
// and instruction, each on its line, as ssh does, and a notice is not one
// of the three tries.
func TestKbdintNoPromptRoundShownByCLI(t *testing.T) {
	t.Parallel()
	for name, rounds := range map[string][]sshtest.Round{"first": noticeFirst, "last": noticeLast} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newSSHTest(t, sshtest.Options{KeyboardInteractive: rounds})
			s := connectSSHTest(t, srv)
			var out bytes.Buffer
			err := s.AuthenticateCLI(testCtx(t, 20*time.Second), strings.NewReader(noticeAnswer+"\n"), &out)
			require.NoError(t, err)
			assert.Contains(t, out.String(), noticeName+"\n"+noticeInstruction+"\n")
			assert.Contains(t, out.String(), "Password: ")
		})
	}
	t.Run("notices are not tries", func(t *testing.T) {
		t.Parallel()
		// Three notices, then the question: the wrong answers get three
		// tries, as without the notices.
		rounds := []sshtest.Round{
			{Instruction: "notice 1"}, {Instruction: "notice 2"}, {Instruction: "notice 3"},
			{Prompts: []sshtest.Prompt{{Text: "Password: ", Answer: noticeAnswer}}},
		}
		srv := newSSHTest(t, sshtest.Options{KeyboardInteractive: rounds})
		s := connectSSHTest(t, srv)
		var out bytes.Buffer
		in := strings.NewReader("wrong\nwrong\n" + noticeAnswer + "\n")
		err := s.AuthenticateCLI(testCtx(t, 20*time.Second), in, &out)
		require.NoError(t, err, out.String())
		assert.Equal(t, 3, strings.Count(out.String(), "Password: "))
		assert.Equal(t, 3, strings.Count(out.String(), "notice 1\n"))
	})
}
