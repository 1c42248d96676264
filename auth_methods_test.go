package libssh_test

import (
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

const testPassword = "pam-matrix-password"

func currentUser(t testing.TB) string {
	u, err := user.Current()
	require.NoError(t, err)
	return u.Username
}

// pamServer is an sshd that checks passwords with pam_wrapper + pam_matrix
// (no system user is created or changed).
func pamServer(t *testing.T, opts sshdtest.Options) *sshdtest.Server {
	opts.Passwords = map[string]string{currentUser(t): testPassword}
	return sshdtest.New(t, opts)
}

func TestUserauthPassword(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see sshdtest.Options.Passwords).
	srv := pamServer(t, sshdtest.Options{})
	s := newPipeSession(t, srv)
	methods, err := s.UserauthList(testCtx(t, 30*time.Second))
	require.NoError(t, err)
	assert.Subset(t, methods, []libssh.AuthMethod{libssh.AuthMethodPassword, libssh.AuthMethodInteractive})

	status, err := s.UserauthPassword(testCtx(t, 30*time.Second), "wrong password")
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthDenied, status)
	status, err = s.UserauthPassword(testCtx(t, 30*time.Second), testPassword)
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthSuccess, status)

	_, err = s.UserauthPassword(testCtx(t, 30*time.Second), "nul\x00")
	assert.ErrorContains(t, err, "NUL")
}

func TestUserauthKbdint(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see sshdtest.Options.Passwords).
	srv := pamServer(t, sshdtest.Options{})

	kbdint := func(t *testing.T, answer string) libssh.AuthStatus {
		s := newPipeSession(t, srv)
		_, err := s.UserauthKbdintGetPrompts()
		assert.Error(t, err, "no round in progress yet")
		status, err := s.UserauthKbdint(testCtx(t, 30*time.Second))
		require.NoError(t, err)
		rounds := 0
		for status == libssh.AuthInfo {
			rounds++
			round, err := s.UserauthKbdintRound()
			require.NoError(t, err)
			prompts, err := s.UserauthKbdintGetPrompts()
			require.NoError(t, err)
			assert.Equal(t, round.Prompts, prompts)
			answers := make([]string, len(prompts))
			if len(prompts) > 0 {
				assert.Equal(t, "Password: ", prompts[0].Msg)
				assert.False(t, prompts[0].Display, "a password is not echoed")
				// A count that does not match the questions is refused.
				assert.ErrorContains(t, s.UserauthKbdintSetAnswers(nil), "0 answers for 1 questions")
				assert.ErrorContains(t, s.UserauthKbdintSetAnswers([]string{"a", "b"}), "2 answers for 1 questions")
				answers[0] = answer
			}
			require.NoError(t, s.UserauthKbdintSetAnswers(answers))
			status, err = s.UserauthKbdint(testCtx(t, 30*time.Second))
			require.NoError(t, err)
		}
		if status == libssh.AuthSuccess {
			// OpenSSH's PAM asks once more with no questions after the password.
			assert.Equal(t, 2, rounds)
		}
		return status
	}
	t.Run("right", func(t *testing.T) { assert.Equal(t, libssh.AuthSuccess, kbdint(t, testPassword)) })
	t.Run("wrong", func(t *testing.T) { assert.Equal(t, libssh.AuthDenied, kbdint(t, "wrong")) })
}

func TestPartialAuthentication(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see sshdtest.Options.Passwords).
	srv := pamServer(t, sshdtest.Options{Config: []string{"AuthenticationMethods publickey,password"}})

	s := newPipeSession(t, srv)
	status, err := s.UserauthPublicKeyFile(testCtx(t, 30*time.Second), sshdtest.Keys("id_ed25519"), "")
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthPartial, status)
	methods, err := s.UserauthList(testCtx(t, 30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, []libssh.AuthMethod{libssh.AuthMethodPassword}, methods)
	status, err = s.UserauthPassword(testCtx(t, 30*time.Second), testPassword)
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthSuccess, status)

	// Authenticate follows the partial success to the second factor.
	s2 := newPipeSession(t, srv)
	res, err := s2.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{
		PrivateKeyFiles: []string{sshdtest.Keys("id_ed25519")},
	})
	var ae *libssh.NotAuthenticatedError
	require.ErrorAs(t, err, &ae, "a partial success is not a finished login")
	assert.False(t, res.Done())
	assert.Equal(t, libssh.AuthMethodPassword, res.Needed, res.String())
	res, err = s2.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{Password: testPassword})
	require.NoError(t, err)
	assert.True(t, res.Done(), res.String())

	s3 := newPipeSession(t, srv)
	res, err = s3.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{
		PrivateKeyFiles: []string{sshdtest.Keys("id_ed25519")},
		Password:        testPassword,
	})
	require.NoError(t, err)
	assert.True(t, res.Done(), res.String())
}

func TestAuthenticateWalksTheMethods(t *testing.T) {
	// Not parallel: pam_wrapper sshds must not start PAM at the same moment (see sshdtest.Options.Passwords).
	srv := pamServer(t, sshdtest.Options{})
	ctx := testCtx(t, 30*time.Second)

	t.Run("needs input", func(t *testing.T) {
		s := newPipeSession(t, srv)
		res, err := s.Authenticate(ctx, libssh.AuthOptions{})
		var ae *libssh.NotAuthenticatedError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, libssh.AuthMethodPublicKey|libssh.AuthMethodPassword|libssh.AuthMethodInteractive, res.Needed)
		assert.Contains(t, res.String(), "password (AuthOptions.Password)")
		assert.Contains(t, res.String(), "keyboard-interactive (AuthOptions.KbdintAnswers or Kbdint)")
	})
	t.Run("denied key, then kbdint answers", func(t *testing.T) {
		s := newPipeSession(t, srv)
		res, err := s.Authenticate(ctx, libssh.AuthOptions{
			PrivateKeyFiles: []string{sshdtest.Keys("other_ed25519")},
			KbdintAnswers:   []string{testPassword},
		})
		require.NoError(t, err)
		assert.True(t, res.Done(), res.String())
	})
	t.Run("kbdint callback sees the round", func(t *testing.T) {
		s := newPipeSession(t, srv)
		var seen []libssh.KbdintRound
		res, err := s.Authenticate(ctx, libssh.AuthOptions{Kbdint: func(r libssh.KbdintRound) ([]string, error) {
			seen = append(seen, r)
			return []string{testPassword}, nil
		}})
		require.NoError(t, err)
		assert.True(t, res.Done(), res.String())
		// PAM's last round has no question: Kbdint sees it (to show its
		// name and instruction), and the answers it gives are ignored.
		require.Len(t, seen, 2)
		assert.Equal(t, "Password: ", seen[0].Prompts[0].Msg)
		assert.Empty(t, seen[1].Prompts)
	})
	t.Run("wrong kbdint answer, then password", func(t *testing.T) {
		s := newPipeSession(t, srv)
		res, err := s.Authenticate(ctx, libssh.AuthOptions{KbdintAnswers: []string{"wrong"}, Password: testPassword})
		require.NoError(t, err)
		assert.True(t, res.Done(), res.String())
	})
	t.Run("all wrong", func(t *testing.T) {
		s := newPipeSession(t, srv)
		res, err := s.Authenticate(ctx, libssh.AuthOptions{KbdintAnswers: []string{"wrong"}, Password: "wrong"})
		var ae *libssh.NotAuthenticatedError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, res, ae.Result)
		assert.False(t, res.Done())
		assert.Equal(t, libssh.AuthMethodPassword|libssh.AuthMethodInteractive, res.Denied)
		assert.Equal(t, libssh.AuthMethodPublicKey, res.Needed)
	})
}

func TestUserauthAgent(t *testing.T) {
	t.Parallel()
	srv := sshdtest.New(t, sshdtest.Options{})
	socket := sshdtest.StartAgent(t, sshdtest.Keys("other_ed25519"), sshdtest.Keys("id_ecdsa"))

	s := newPipeSession(t, srv, libssh.WithAgentSocket(socket))
	status, err := s.UserauthAgent(testCtx(t, 30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthSuccess, status, "the agent's second key is accepted")

	empty := sshdtest.StartAgent(t)
	s2 := newPipeSession(t, srv, libssh.WithAgentSocket(empty))
	status, err = s2.UserauthAgent(testCtx(t, 30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthDenied, status)

	s3 := newPipeSession(t, srv, libssh.WithAgentSocket(socket))
	res, err := s3.Authenticate(testCtx(t, 30*time.Second), libssh.AuthOptions{Agent: true})
	require.NoError(t, err)
	assert.True(t, res.Done(), res.String())
}

// TestUserauthGSSAPI runs Kerberos end to end: a throwaway MIT KDC on
// 127.0.0.1, sshd with a keytab for host/sshd.test, a ticket from kinit.
// Not parallel: the Kerberos library reads KRB5_CONFIG and KRB5CCNAME from
// the process environment.
func TestUserauthGSSAPI(t *testing.T) {
	kdc := sshdtest.NewKDC(t)
	u := currentUser(t)
	require.NoError(t, kdc.AddPrincipal(u, "kerberos-password"))
	require.NoError(t, kdc.AddServicePrincipal("host/sshd.test"))
	keytab := filepath.Join(t.TempDir(), "sshd.keytab")
	require.NoError(t, kdc.Keytab(keytab, "host/sshd.test"))
	srv := sshdtest.New(t, sshdtest.Options{GSSAPI: &sshdtest.GSSAPIOptions{Keytab: keytab, Env: kdc.Env()}})
	for _, kv := range kdc.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ccache := filepath.Join(t.TempDir(), "ccache")
	require.NoError(t, kdc.Kinit(u, "kerberos-password", ccache))
	ctx := testCtx(t, 30*time.Second)

	t.Run("no ticket", func(t *testing.T) {
		t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(t.TempDir(), "empty"))
		s := newPipeSession(t, srv, libssh.WithGSSAPIServerIdentity("sshd.test"))
		methods, err := s.UserauthList(ctx)
		require.NoError(t, err)
		assert.Contains(t, methods, libssh.AuthMethodGSSAPIMIC)
		status, err := s.UserauthGSSAPI(ctx)
		require.NoError(t, err)
		assert.Equal(t, libssh.AuthDenied, status)
	})
	t.Setenv("KRB5CCNAME", "FILE:"+ccache)
	t.Run("valid ticket", func(t *testing.T) {
		s := newPipeSession(t, srv, libssh.WithGSSAPIServerIdentity("sshd.test"))
		status, err := s.UserauthGSSAPI(ctx)
		require.NoError(t, err)
		assert.Equal(t, libssh.AuthSuccess, status)
	})
	t.Run("client identity and delegation", func(t *testing.T) {
		s := newPipeSession(t, srv, libssh.WithGSSAPIServerIdentity("sshd.test"),
			libssh.WithGSSAPIClientIdentity(u), libssh.WithGSSAPIDelegateCredentials(true))
		status, err := s.UserauthGSSAPI(ctx)
		require.NoError(t, err)
		assert.Equal(t, libssh.AuthSuccess, status)
	})
	t.Run("Authenticate", func(t *testing.T) {
		s := newPipeSession(t, srv, libssh.WithGSSAPIServerIdentity("sshd.test"))
		res, err := s.Authenticate(ctx, libssh.AuthOptions{GSSAPI: true})
		require.NoError(t, err)
		assert.True(t, res.Done(), res.String())
	})
	t.Run("unknown server principal", func(t *testing.T) {
		s := newPipeSession(t, srv, libssh.WithGSSAPIServerIdentity("nosuch.test"))
		_, err := s.UserauthList(ctx) // leaves "Access denied for 'none'" as libssh's last message
		require.NoError(t, err)
		status, err := s.UserauthGSSAPI(ctx)
		assert.Equal(t, libssh.AuthError, status)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "host/nosuch.test", "the error names the principal the KDC does not know")
		assert.NotContains(t, err.Error(), "Access denied for 'none'", "not libssh's stale message")
	})
}

// TestUserauthAgentFromEnvironment: without WithAgentSocket, libssh finds the
// agent through SSH_AUTH_SOCK. Not parallel: it sets the environment.
func TestUserauthAgentFromEnvironment(t *testing.T) {
	srv := sshdtest.New(t, sshdtest.Options{})
	t.Setenv("SSH_AUTH_SOCK", sshdtest.StartAgent(t, sshdtest.Keys("id_rsa")))
	s := newPipeSession(t, srv)
	status, err := s.UserauthAgent(testCtx(t, 30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, libssh.AuthSuccess, status)
}
