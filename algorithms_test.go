package libssh_test

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

// sshdKex is what sshd logged (LogLevel DEBUG) about the key exchange of
// its one connection.
type sshdKex struct {
	kex, hostKey string
	c2s, s2c     [3]string // cipher, MAC, compression
}

var (
	sshdKexAlgo    = regexp.MustCompile(`kex: algorithm: (\S+)`)
	sshdKexHostKey = regexp.MustCompile(`kex: host key algorithm: (\S+)`)
	sshdKexDir     = regexp.MustCompile(`kex: (client->server|server->client) cipher: (\S+) MAC: (\S+) compression: (\S+)`)
)

// parseSSHDKex reads what sshd logged; it fails the test unless every line
// is there exactly once.
func parseSSHDKex(t *testing.T, log string) sshdKex {
	t.Helper()
	var k sshdKex
	one := func(re *regexp.Regexp) []string {
		m := re.FindAllStringSubmatch(log, -1)
		require.Len(t, m, 1, "sshd logged %s once:\n%s", re, log)
		return m[0]
	}
	k.kex = one(sshdKexAlgo)[1]
	k.hostKey = one(sshdKexHostKey)[1]
	dirs := sshdKexDir.FindAllStringSubmatch(log, -1)
	require.Len(t, dirs, 2, "sshd logged both directions once:\n%s", log)
	for _, m := range dirs {
		d := [3]string{m[2], m[3], m[4]}
		if m[1] == "client->server" {
			k.c2s = d
		} else {
			k.s2c = d
		}
	}
	return k
}

// aeadMAC is libssh's name for the MAC of an AEAD cipher, which sshd logs
// as "<implicit>"; "" for other ciphers.
func aeadMAC(cipher string) string {
	switch {
	case cipher == "chacha20-poly1305@openssh.com":
		return "aead-poly1305"
	case strings.HasSuffix(cipher, "-gcm@openssh.com"):
		return "aead-gcm"
	}
	return ""
}

// assertDirection checks one direction of Algorithms against sshd's line.
func assertDirection(t *testing.T, what string, got libssh.DirectionAlgorithms, sshd [3]string) {
	t.Helper()
	assert.Equal(t, sshd[0], got.Cipher, what+" cipher")
	if sshd[1] == "<implicit>" {
		assert.Equal(t, aeadMAC(got.Cipher), got.MAC, what+" MAC of an AEAD cipher")
		assert.NotEmpty(t, got.MAC)
	} else {
		assert.Equal(t, sshd[1], got.MAC, what+" MAC")
	}
	assert.Equal(t, sshd[2], got.Compression, what+" compression")
}

// TestAlgorithmsMatchSSHDLog: what Session.Algorithms reports is what sshd
// logged for the same connection, with the algorithms pinned by the
// options in use.
func TestAlgorithmsMatchSSHDLog(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts []libssh.Option
		want libssh.NegotiatedAlgorithms // the fields set are checked too
	}{
		{"chacha20-poly1305", []libssh.Option{libssh.WithCiphers("chacha20-poly1305@openssh.com")},
			libssh.NegotiatedAlgorithms{Read: libssh.DirectionAlgorithms{Cipher: "chacha20-poly1305@openssh.com", MAC: "aead-poly1305"}}},
		{"aes128-gcm, ecdh, rsa-sha2-512", []libssh.Option{
			libssh.WithCiphers("aes128-gcm@openssh.com"),
			libssh.WithKeyExchanges("ecdh-sha2-nistp256"),
			libssh.WithHostKeyAlgorithms("rsa-sha2-512"),
		}, libssh.NegotiatedAlgorithms{KeyExchange: "ecdh-sha2-nistp256", HostKey: "rsa-sha2-512",
			Read: libssh.DirectionAlgorithms{Cipher: "aes128-gcm@openssh.com", MAC: "aead-gcm"}}},
		{"aes256-ctr, etm MAC, group exchange, ecdsa, zlib", []libssh.Option{
			libssh.WithCiphers("aes256-ctr", "aes128-ctr"),
			libssh.WithMACs("hmac-sha2-512-etm@openssh.com"),
			libssh.WithKeyExchanges("diffie-hellman-group-exchange-sha256"),
			libssh.WithHostKeyAlgorithms("ecdsa-sha2-nistp256", "ssh-ed25519"),
			libssh.WithCompression("zlib@openssh.com", "none"),
		}, libssh.NegotiatedAlgorithms{KeyExchange: "diffie-hellman-group-exchange-sha256", HostKey: "ecdsa-sha2-nistp256",
			Read: libssh.DirectionAlgorithms{Cipher: "aes256-ctr", MAC: "hmac-sha2-512-etm@openssh.com", Compression: "zlib@openssh.com"}}},
		{"defaults", nil, libssh.NegotiatedAlgorithms{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := sshdtest.New(t, sshdtest.Options{
				ConfigFirst:  []string{"LogLevel DEBUG"},
				HostKeyTypes: []string{"ed25519", "ecdsa", "rsa"},
			})
			s := newPipeSession(t, srv, c.opts...)
			authenticate(t, s) // compression starts here with zlib@openssh.com
			got, err := s.Algorithms()
			require.NoError(t, err)
			t.Logf("%+v", got)
			sshd := parseSSHDKex(t, srv.Log())
			assert.Equal(t, sshd.kex, got.KeyExchange)
			assert.Equal(t, sshd.hostKey, got.HostKey)
			assertDirection(t, "write (client->server)", got.Write, sshd.c2s)
			assertDirection(t, "read (server->client)", got.Read, sshd.s2c)

			w := c.want
			if w.KeyExchange != "" {
				assert.Equal(t, w.KeyExchange, got.KeyExchange)
			}
			if w.HostKey != "" {
				assert.Equal(t, w.HostKey, got.HostKey)
			}
			for _, d := range []libssh.DirectionAlgorithms{got.Read, got.Write} {
				if w.Read.Cipher != "" {
					assert.Equal(t, w.Read.Cipher, d.Cipher)
					assert.Equal(t, w.Read.MAC, d.MAC)
				}
				if w.Read.Compression != "" {
					assert.Equal(t, w.Read.Compression, d.Compression)
				}
			}
		})
	}
}

// TestAlgorithmsOnBothSides: a session made by AcceptSession reports the
// same algorithms as its client, with Read and Write the other way round.
func TestAlgorithmsOnBothSides(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	key := generateKey(t)
	type result struct {
		a   libssh.NegotiatedAlgorithms
		err error
	}
	server := make(chan result, 1)
	release := make(chan struct{})
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			server <- result{err: err}
			return
		}
		s, err := libssh.AcceptSession(testCtx(t, 30*time.Second), conn, []*libssh.PrivateKey{key}, func(*libssh.ServerMessage) bool { return false })
		if err != nil {
			server <- result{err: err}
			return
		}
		defer s.Close()
		a, err := s.Algorithms()
		server <- result{a, err}
		<-release
	}()
	defer close(release)
	host, port := splitHostPort(t, ln.Addr().String())
	c := connectTCP(t, host, port,
		libssh.WithCiphers("aes192-ctr"), libssh.WithMACs("hmac-sha2-512"),
		libssh.WithKeyExchanges("diffie-hellman-group14-sha256"), libssh.WithCompression("zlib@openssh.com"))
	client, err := c.Algorithms()
	require.NoError(t, err)
	srv := recv(t, server, 30*time.Second)
	require.NoError(t, srv.err)
	want := libssh.NegotiatedAlgorithms{
		KeyExchange: "diffie-hellman-group14-sha256", HostKey: "ssh-ed25519",
		Read:  libssh.DirectionAlgorithms{Cipher: "aes192-ctr", MAC: "hmac-sha2-512", Compression: "zlib@openssh.com"},
		Write: libssh.DirectionAlgorithms{Cipher: "aes192-ctr", MAC: "hmac-sha2-512", Compression: "zlib@openssh.com"},
	}
	assert.Equal(t, want, client)
	assert.Equal(t, want, srv.a)
}

// connectTCP connects a session to host:port without authenticating.
func connectTCP(t *testing.T, host string, port int, opts ...libssh.Option) *libssh.Session {
	t.Helper()
	opts = append([]libssh.Option{libssh.WithPort(port), libssh.WithUser("tester")}, opts...)
	s, err := libssh.NewSession(testCtx(t, 30*time.Second), host, opts...)
	require.NoError(t, err)
	closeAtEnd(t, s)
	return s
}

// TestAlgorithmsNeedsAConnection: Algorithms on a session without a key
// exchange is an error, never a zero value.
func TestAlgorithmsNeedsAConnection(t *testing.T) {
	t.Parallel()
	s, err := libssh.NewSession(testCtx(t, 10*time.Second), "unused.test", libssh.WithAutoConnect(false))
	require.NoError(t, err)
	_, err = s.Algorithms()
	assert.ErrorIs(t, err, libssh.ErrNotConnected)
	require.NoError(t, s.Close())
	_, err = s.Algorithms()
	assert.ErrorIs(t, err, libssh.ErrClosed)
	var nilSession *libssh.Session
	_, err = nilSession.Algorithms()
	assert.ErrorIs(t, err, libssh.ErrClosed)
}

// TestAlgorithmOptionsRefused: an unknown name or an empty list is refused
// by NewSession with an error that names the entry and what libssh
// supports.
func TestAlgorithmOptionsRefused(t *testing.T) {
	t.Parallel()
	options := map[string]struct {
		with func(...string) libssh.Option
		good string // a name libssh supports
	}{
		"WithCiphers":           {libssh.WithCiphers, "aes128-ctr"},
		"WithKeyExchanges":      {libssh.WithKeyExchanges, "curve25519-sha256"},
		"WithHostKeyAlgorithms": {libssh.WithHostKeyAlgorithms, "ssh-ed25519"},
		"WithMACs":              {libssh.WithMACs, "hmac-sha2-256"},
		"WithCompression":       {libssh.WithCompression, "none"},
	}
	for name, o := range options {
		for what, list := range map[string][]string{
			"unknown":            {o.good, "rot13-cbc"},
			"empty":              {},
			"case":               {strings.ToUpper(o.good)},
			"comma-joined":       {o.good + "," + o.good},
			"libssh's extension": {"ext-info-c"},
		} {
			t.Run(name+"/"+what, func(t *testing.T) {
				_, err := libssh.NewSession(context.Background(), "unused.test", o.with(list...), libssh.WithAutoConnect(false))
				require.Error(t, err)
				errLower(t, name, err)
				var ae *libssh.AlgorithmError
				require.True(t, errors.As(err, &ae), "%T: %v", err, err)
				assert.Equal(t, name, ae.Option)
				assert.Contains(t, ae.Supported, o.good)
				assert.Contains(t, err.Error(), name)
				assert.Contains(t, err.Error(), o.good, "the message lists what is supported")
				if len(list) == 0 {
					assert.Empty(t, ae.Name)
					assert.Contains(t, err.Error(), "empty")
				} else {
					bad := list[len(list)-1]
					assert.Equal(t, bad, ae.Name)
					assert.Contains(t, err.Error(), `"`+bad+`"`)
				}
			})
		}
	}
	t.Run("host certificates", func(t *testing.T) {
		_, err := libssh.NewSession(context.Background(), "unused.test",
			libssh.WithHostKeyAlgorithms("ssh-ed25519-cert-v01@openssh.com"), libssh.WithAutoConnect(false))
		var ae *libssh.AlgorithmError
		require.ErrorAs(t, err, &ae)
		assert.NotContains(t, ae.Supported, "ssh-ed25519-cert-v01@openssh.com")
	})
	t.Run("accepted", func(t *testing.T) {
		s, err := libssh.NewSession(context.Background(), "unused.test", libssh.WithAutoConnect(false),
			libssh.WithCiphers("aes256-ctr", "aes128-ctr"), libssh.WithKeyExchanges("curve25519-sha256"),
			libssh.WithHostKeyAlgorithms("ssh-ed25519"), libssh.WithMACs("hmac-sha2-256"), libssh.WithCompression("none"))
		require.NoError(t, err)
		s.Close()
	})
}

// TestAlgorithmsNotSharedFailConnect: a list the server shares nothing
// with fails the key exchange with libssh's message naming both lists.
func TestAlgorithmsNotSharedFailConnect(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		opt        libssh.Option
		sshdConfig string
		what       string // libssh's name for the list
	}{
		"cipher":   {libssh.WithCiphers("chacha20-poly1305@openssh.com"), "Ciphers aes256-ctr", "encryption client->server"},
		"kex":      {libssh.WithKeyExchanges("ecdh-sha2-nistp521"), "KexAlgorithms curve25519-sha256", "kex algos"},
		"host key": {libssh.WithHostKeyAlgorithms("rsa-sha2-512"), "", "server host key algo"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var cfg []string
			if c.sshdConfig != "" {
				cfg = append(cfg, c.sshdConfig)
			}
			srv := sshdtest.New(t, sshdtest.Options{ConfigFirst: cfg}) // an ed25519 host key only
			_, err := libssh.NewSession(testCtx(t, 30*time.Second), pipeHost, libssh.WithConn(srv.Pipe(t)), c.opt)
			require.Error(t, err)
			t.Log(err)
			errLower(t, name, err)
			assert.Contains(t, err.Error(), "no match for method "+c.what)
		})
	}
}
