package libssh_test

// Every authentication method the sshtest server offers, through the client.

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
	"github.com/golibssh/libssh/sshtest"
)

// publicKeyOfFile returns the public half of one of the test keys.
func publicKeyOfFile(t *testing.T, name string) *libssh.PublicKey {
	t.Helper()
	k, err := libssh.ParsePrivateKeyFile(sshdtest.Keys(name), "")
	require.NoError(t, err)
	defer k.Close()
	pub, err := k.PublicKey()
	require.NoError(t, err)
	return pub
}

func TestSSHTestAuthNone(t *testing.T) {
	t.Parallel()
	s := connectSSHTest(t, newSSHTest(t, sshtest.Options{AuthNone: true}))
	status, err := s.UserauthNone(testCtx(t, 30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthSuccess, status)
	out, err := s.CommandLine("echo in").Output()
	require.NoError(t, err)
	assert.Equal(t, "in\n", string(out))
}

func TestSSHTestAuthList(t *testing.T) {
	t.Parallel()
	srv := newSSHTest(t, sshtest.Options{
		Password:            "pw",
		KeyboardInteractive: []sshtest.Round{{Prompts: []sshtest.Prompt{{Text: "Token: ", Answer: "t"}}}},
		AuthorizedKeys:      []*libssh.PublicKey{publicKeyOfFile(t, "id_ed25519")},
	})
	s := connectSSHTest(t, srv)
	methods, err := s.UserauthList(testCtx(t, 30*time.Second))
	require.NoError(t, err)
	assert.ElementsMatch(t, []libssh.AuthMethod{libssh.AuthMethodPassword, libssh.AuthMethodInteractive, libssh.AuthMethodPublicKey}, methods)

	// Only what is offered.
	s = connectSSHTest(t, newSSHTest(t, sshtest.Options{Password: "pw"}))
	methods, err = s.UserauthList(testCtx(t, 30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, []libssh.AuthMethod{libssh.AuthMethodPassword}, methods)
}

func TestSSHTestAuthPassword(t *testing.T) {
	t.Parallel()
	s := connectSSHTest(t, newSSHTest(t, sshtest.Options{Password: "right"}))
	for _, wrong := range []string{"wrong", "righ", "right ", ""} {
		status, err := s.UserauthPassword(testCtx(t, 30*time.Second), wrong)
		require.NoError(t, err)
		assert.Equal(t, libssh.AuthDenied, status, "password %q", wrong)
	}
	_, err := s.NewChannel()
	require.ErrorIs(t, err, libssh.ErrNotAuthenticated)
	status, err := s.UserauthPassword(testCtx(t, 30*time.Second), "right")
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthSuccess, status)
}

func TestSSHTestAuthPublicKey(t *testing.T) {
	t.Parallel()
	srv := newSSHTest(t, sshtest.Options{AuthorizedKeys: []*libssh.PublicKey{
		publicKeyOfFile(t, "id_ed25519"), publicKeyOfFile(t, "id_rsa"),
	}})
	for _, key := range []string{"id_ed25519", "id_rsa"} {
		s := connectSSHTest(t, srv)
		status, err := s.UserauthPublicKeyFile(testCtx(t, 30*time.Second), sshdtest.Keys(key), "")
		require.NoError(t, err)
		assert.Equal(t, libssh.AuthSuccess, status, key)
	}
	for _, key := range []string{"other_ed25519", "id_ecdsa"} {
		s := connectSSHTest(t, srv)
		status, err := s.UserauthPublicKeyFile(testCtx(t, 30*time.Second), sshdtest.Keys(key), "")
		require.NoError(t, err)
		assert.Equal(t, libssh.AuthDenied, status, key)
	}
	// The probe-then-sign path of Authenticate, with one wrong key first.
	s := connectSSHTest(t, srv)
	res, err := s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{
		PrivateKeyFiles: []string{sshdtest.Keys("other_ed25519"), sshdtest.Keys("id_ed25519")},
	})
	require.NoError(t, err)
	assert.True(t, res.Done(), res.String())
}

// kbdintRounds are two rounds: a hidden password, then a shown token.
var kbdintRounds = []sshtest.Round{
	{Name: "Step 1", Instruction: "Say the password", Prompts: []sshtest.Prompt{{Text: "Password: ", Answer: "foo"}}},
	{Name: "Step 2", Prompts: []sshtest.Prompt{
		{Text: "Token: ", Echo: true, Answer: "bar"},
		{Text: "PIN: ", Answer: "1234"},
	}},
}

// kbdintAnswer runs keyboard-interactive, answering each round with
// answers[round], and returns the final status and the rounds seen.
func kbdintAnswer(t *testing.T, s *libssh.Session, answers [][]string) (libssh.AuthStatus, []libssh.KbdintRound) {
	t.Helper()
	var seen []libssh.KbdintRound
	for {
		status, err := s.UserauthKbdint(testCtx(t, 30*time.Second))
		require.NoError(t, err)
		if status != libssh.AuthInfo {
			return status, seen
		}
		r, err := s.UserauthKbdintRound()
		require.NoError(t, err)
		seen = append(seen, *r)
		require.Less(t, len(seen)-1, len(answers), "more rounds than answers")
		require.NoError(t, s.UserauthKbdintSetAnswers(answers[len(seen)-1]))
	}
}

func TestSSHTestAuthKeyboardInteractive(t *testing.T) {
	t.Parallel()
	srv := newSSHTest(t, sshtest.Options{KeyboardInteractive: kbdintRounds})

	s := connectSSHTest(t, srv)
	status, seen := kbdintAnswer(t, s, [][]string{{"foo"}, {"bar", "1234"}})
	assert.Equal(t, libssh.AuthSuccess, status)
	assert.Equal(t, []libssh.KbdintRound{
		{Name: "Step 1", Instruction: "Say the password", Prompts: []libssh.KbdintPrompt{{Msg: "Password: "}}},
		{Name: "Step 2", Prompts: []libssh.KbdintPrompt{{Msg: "Token: ", Display: true}, {Msg: "PIN: "}}},
	}, seen)

	// A wrong answer in either round is denied; the session may try again.
	s = connectSSHTest(t, srv)
	status, seen = kbdintAnswer(t, s, [][]string{{"nope"}})
	assert.Equal(t, libssh.AuthDenied, status)
	assert.Len(t, seen, 1)
	status, seen = kbdintAnswer(t, s, [][]string{{"foo"}, {"bar", "4321"}})
	assert.Equal(t, libssh.AuthDenied, status)
	assert.Len(t, seen, 2)
	status, _ = kbdintAnswer(t, s, [][]string{{"foo"}, {"bar", "1234"}})
	assert.Equal(t, libssh.AuthSuccess, status)

	// Authenticate's Kbdint callback drives the same rounds.
	s = connectSSHTest(t, srv)
	res, err := s.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{Kbdint: func(r libssh.KbdintRound) ([]string, error) {
		if r.Name == "Step 1" {
			return []string{"foo"}, nil
		}
		return []string{"bar", "1234"}, nil
	}})
	require.NoError(t, err)
	assert.True(t, res.Done(), res.String())
}
