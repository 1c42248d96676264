package libssh_test

// The examples run against a server of package sshtest, which each one
// starts for itself: a real program connects to its own server instead
// (drop the sshtest lines, and WithKnownHosts to use ~/.ssh/known_hosts).

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

// Connect, check the server's key, log in with a password.
func ExampleNewSession() {
	srv, err := sshtest.NewServer(sshtest.Options{Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithUser("alice"), libssh.WithKnownHosts(srv.KnownHostsFile()))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if err := s.VerifyHost(); err != nil {
		log.Fatal(err)
	}
	status, err := s.UserauthPassword(ctx, "secret")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("authentication:", status)
	// Output: authentication: success
}

// A host key policy of the program's own instead of known_hosts: here the
// server's key is pinned. NewSession runs the callback after the key
// exchange and fails when it refuses the key; nothing else is sent then.
func ExampleWithHostKeyCallback() {
	srv, err := sshtest.NewServer(sshtest.Options{Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	pinned := srv.HostKey() // a real program has it from its configuration

	ctx := context.Background()
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()), libssh.WithUser("alice"),
		libssh.WithHostKeyCallback(func(host string, key *libssh.PublicKey) error {
			if !key.Equal(pinned) {
				return fmt.Errorf("%s offered %s, not the pinned key", host, key.Fingerprint())
			}
			return nil
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	status, err := s.UserauthPassword(ctx, "secret") // no VerifyHost needed
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("authentication:", status)
	// Output: authentication: success
}

// Log in with a private key. Here the key is made in memory and the test
// server trusts it; a real program reads its key with ParsePrivateKeyFile.
func ExampleSession_UserauthPublicKey() {
	key, err := libssh.GenerateKey("ssh-ed25519")
	if err != nil {
		log.Fatal(err)
	}
	defer key.Close()
	pub, err := key.PublicKey()
	if err != nil {
		log.Fatal(err)
	}
	srv, err := sshtest.NewServer(sshtest.Options{AuthorizedKeys: []*libssh.PublicKey{pub}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithUser("alice"), libssh.WithKnownHosts(srv.KnownHostsFile()))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.VerifyHost(); err != nil {
		log.Fatal(err)
	}
	status, err := s.UserauthPublicKey(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("authentication:", status)
	// Output: authentication: success
}

// Log in with the keys of the SSH agent. (Not run: it needs an agent at
// $SSH_AUTH_SOCK, and a server that knows one of its keys.)
func ExampleSession_UserauthAgent() {
	ctx := context.Background()
	s, err := libssh.NewSession(ctx, "server.example.com", libssh.WithUser("alice"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.VerifyHost(); err != nil {
		log.Fatal(err)
	}
	status, err := s.UserauthAgent(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("authentication:", status)
}

// A host that is not in known_hosts yet: look at the key, decide, and trust
// it.
func ExampleSession_VerifyHost() {
	srv, err := sshtest.NewServer(sshtest.Options{Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	knownHosts := filepath.Join(dir, "known_hosts") // does not exist yet

	ctx := context.Background()
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithUser("alice"), libssh.WithKnownHosts(knownHosts))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	err = s.VerifyHost()
	var hv *libssh.HostVerificationError
	if errors.As(err, &hv) {
		fmt.Println("known_hosts says:", hv.Status)
		// Show hv.Fingerprint to the user and ask; on yes:
		if err := s.UpdateKnownHosts(); err != nil {
			log.Fatal(err)
		}
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified:", s.VerifyHost() == nil)
	// Output:
	// known_hosts says: not found
	// verified: true
}

// Ask the server which authentication methods it accepts.
func ExampleSession_UserauthList() {
	srv, err := sshtest.NewServer(sshtest.Options{
		Password:            "secret",
		KeyboardInteractive: []sshtest.Round{{Prompts: []sshtest.Prompt{{Text: "Password: ", Answer: "secret"}}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithUser("alice"), libssh.WithKnownHosts(srv.KnownHostsFile()))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.VerifyHost(); err != nil {
		log.Fatal(err)
	}
	methods, err := s.UserauthList(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(methods)
	// Output: [password keyboard-interactive]
}

// A key loaded once can authenticate many sessions. An encrypted key needs
// its passphrase.
func ExampleParsePrivateKeyFile() {
	path := "testdata/keys/id_ed25519_enc" // such as filepath.Join(home, ".ssh", "id_ed25519")
	key, err := libssh.ParsePrivateKeyFile(path, "wrong passphrase")
	fmt.Println(errors.Is(err, libssh.ErrPassphrase))

	key, err = libssh.ParsePrivateKeyFile(path, "correct horse battery staple")
	if err != nil {
		log.Fatal(err)
	}
	defer key.Close()
	pub, err := key.PublicKey()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(pub.Type())
	// Output:
	// true
	// ssh-ed25519
}

// Every call after Close returns an error that wraps ErrClosed.
func ExampleSession_Close() {
	srv, err := sshtest.NewServer(sshtest.Options{Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithUser("alice"), libssh.WithKnownHosts(srv.KnownHostsFile()))
	if err != nil {
		log.Fatal(err)
	}
	s.Close()
	_, err = s.UserauthNone(ctx)
	fmt.Println(errors.Is(err, libssh.ErrClosed))
	// Output: true
}

// Authenticate checks the server's key, walks the methods the server
// offers with what it is given, and says what is missing when it cannot
// finish.
func ExampleSession_Authenticate() {
	srv, err := sshtest.NewServer(sshtest.Options{
		Password:            "secret",
		KeyboardInteractive: []sshtest.Round{{Prompts: []sshtest.Prompt{{Text: "Password: ", Answer: "secret"}}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithUser("alice"), libssh.WithKnownHosts(srv.KnownHostsFile()))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// Without input it cannot finish: the *NotAuthenticatedError says what is missing.
	_, err = s.Authenticate(ctx, libssh.AuthOptions{})
	var unfinished *libssh.NotAuthenticatedError
	if !errors.As(err, &unfinished) {
		log.Fatal(err)
	}
	fmt.Println(unfinished.Result.Needed)

	res, err := s.Authenticate(ctx, libssh.AuthOptions{Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res)
	// Output:
	// password|keyboard-interactive
	// authenticated
}

// Keyboard-interactive by hand: answer each round of questions until the
// server decides.
func ExampleSession_UserauthKbdint() {
	srv, err := sshtest.NewServer(sshtest.Options{
		KeyboardInteractive: []sshtest.Round{{Prompts: []sshtest.Prompt{{Text: "Password: ", Answer: "secret"}}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithUser("alice"), libssh.WithKnownHosts(srv.KnownHostsFile()))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.VerifyHost(); err != nil {
		log.Fatal(err)
	}

	status, err := s.UserauthKbdint(ctx)
	for err == nil && status == libssh.AuthInfo {
		var prompts []libssh.KbdintPrompt
		if prompts, err = s.UserauthKbdintGetPrompts(); err != nil {
			break
		}
		answers := make([]string, len(prompts))
		for i, p := range prompts {
			fmt.Printf("question %q, echo %v\n", p.Msg, p.Display)
			answers[i] = "secret" // a real program asks its user
		}
		if err = s.UserauthKbdintSetAnswers(answers); err == nil {
			status, err = s.UserauthKbdint(ctx)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(status)
	// Output:
	// question "Password: ", echo false
	// success
}

// A command-line tool logs in the way ssh does: it asks about unknown host
// keys, and for passwords and keyboard-interactive answers, on the terminal.
// (Not run: it needs a person to answer.)
func ExampleSession_AuthenticateCLI() {
	ctx := context.Background()
	s, err := libssh.NewSession(ctx, "server.example.com")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.AuthenticateCLI(ctx, os.Stdin, os.Stderr); err != nil {
		log.Fatal(err)
	}
}

func ExampleAuthMethod_String() {
	fmt.Println(libssh.AuthMethodPublicKey | libssh.AuthMethodInteractive)
	// Output: publickey|keyboard-interactive
}

// Dial connects, checks the server's key against known_hosts and logs in,
// in one call.
func ExampleDial() {
	srv, err := sshtest.NewServer(sshtest.Options{Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	s, err := libssh.Dial(ctx, srv.Addr(), libssh.WithUser("alice"),
		libssh.WithKnownHosts(srv.KnownHostsFile()),
		libssh.WithAuth(libssh.AuthOptions{Password: "secret"}))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	out, err := s.Command("echo", "hello").Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output: hello
}

// With WithProcessConfig, the user's ssh_config decides how to reach a
// host, ProxyJump included: given
//
//	Host inner
//	    HostName 10.0.0.5
//	    ProxyJump bastion.example.com
//
// Dial logs in to bastion.example.com first (its key must be in
// known_hosts, like inner's), and reaches inner through it; both log in
// with the agent and the default identity files here. (This example needs
// such a config, so it is compiled but not run.)
func ExampleDial_proxyJump() {
	ctx := context.Background()
	s, err := libssh.Dial(ctx, "inner", libssh.WithProcessConfig(true))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // closes the bastion's session too, after inner's

	out, err := s.Command("hostname").Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
}
