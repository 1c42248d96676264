package libssh_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

// The examples run against a real sshd that TestMain starts: these say where
// it is, who may log in, with which key, and a known_hosts file that knows it.
var (
	exampleHost       string
	examplePort       int
	exampleUser       string
	exampleKey        = sshdtest.Keys("id_ed25519")
	exampleKnownHosts string
	examplePassword   = "example-password"
)

func startExampleServer() (stop func(), err error) {
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	// An unprivileged user, so that sshd delivers signals (ExampleSession_CommandContext).
	srv, err := sshdtest.Start(sshdtest.Options{
		Unprivileged: true,
		Passwords:    map[string]string{u.Username: examplePassword, "nobody": examplePassword},
	})
	if err != nil {
		return nil, err
	}
	addr, err := srv.Addr()
	if err != nil {
		srv.Close()
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	exampleHost, exampleUser = host, srv.User
	examplePort, _ = strconv.Atoi(port)
	exampleKnownHosts = filepath.Join(srv.Dir, "example_known_hosts")
	line := srv.KnownHostsLine(fmt.Sprintf("[%s]:%s", host, port), "ed25519") + "\n"
	if err := os.WriteFile(exampleKnownHosts, []byte(line), 0o600); err != nil {
		srv.Close()
		return nil, err
	}
	return func() { srv.Close() }, nil
}

// Connect, check the server's key, authenticate with a key file.
func ExampleNewSession() {
	ctx := context.Background()
	s, err := libssh.NewSession(ctx, exampleHost, libssh.WithPort(examplePort),
		libssh.WithUser(exampleUser), libssh.WithKnownHosts(exampleKnownHosts))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if err := s.VerifyHost(); err != nil {
		log.Fatal(err)
	}
	status, err := s.UserauthPublicKeyFile(ctx, exampleKey, "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("authentication:", status)
	// Output: authentication: success
}

// A host that is not in known_hosts yet: look at the key, decide, and trust
// it.
func ExampleSession_VerifyHost() {
	ctx := context.Background()
	knownHosts := filepath.Join(os.TempDir(), fmt.Sprintf("example-known-hosts-%d", os.Getpid()))
	defer os.Remove(knownHosts)
	s, err := libssh.NewSession(ctx, exampleHost, libssh.WithPort(examplePort),
		libssh.WithUser(exampleUser), libssh.WithKnownHosts(knownHosts))
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
	ctx := context.Background()
	s, err := libssh.NewSession(ctx, exampleHost, libssh.WithPort(examplePort),
		libssh.WithUser(exampleUser), libssh.WithKnownHosts(exampleKnownHosts))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	methods, err := s.UserauthList(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(methods)
	// Output: [password publickey keyboard-interactive]
}

// A key loaded once can authenticate many sessions.
func ExampleParsePrivateKeyFile() {
	key, err := libssh.ParsePrivateKeyFile(sshdtest.Keys("id_ed25519_enc"), "wrong passphrase")
	fmt.Println(errors.Is(err, libssh.ErrPassphrase))

	key, err = libssh.ParsePrivateKeyFile(sshdtest.Keys("id_ed25519_enc"), sshdtest.PassphraseForTestKeys)
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
	ctx := context.Background()
	s, err := libssh.NewSession(ctx, exampleHost, libssh.WithPort(examplePort),
		libssh.WithUser(exampleUser), libssh.WithKnownHosts(exampleKnownHosts))
	if err != nil {
		log.Fatal(err)
	}
	s.Close()
	_, err = s.UserauthNone(ctx)
	fmt.Println(errors.Is(err, libssh.ErrClosed))
	// Output: true
}

// Authenticate walks the methods the server offers with what it is given,
// and says what is missing when it cannot finish.
func ExampleSession_Authenticate() {
	ctx := context.Background()
	s, err := libssh.NewSession(ctx, exampleHost, libssh.WithPort(examplePort),
		libssh.WithUser(exampleUser), libssh.WithKnownHosts(exampleKnownHosts))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	res, err := s.Authenticate(ctx, libssh.AuthOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res)

	res, err = s.Authenticate(ctx, libssh.AuthOptions{Password: examplePassword})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res)
	// Output:
	// not authenticated; the server also accepts password (AuthOptions.Password), publickey (AuthOptions.PrivateKey, PrivateKeyFiles, Agent or DefaultKeys), keyboard-interactive (AuthOptions.KbdintAnswers or Kbdint)
	// authenticated
}

// Keyboard-interactive by hand: answer each round of questions until the
// server decides.
func ExampleSession_UserauthKbdint() {
	ctx := context.Background()
	s, err := libssh.NewSession(ctx, exampleHost, libssh.WithPort(examplePort),
		libssh.WithUser(exampleUser), libssh.WithKnownHosts(exampleKnownHosts))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	status, err := s.UserauthKbdint(ctx)
	for err == nil && status == libssh.AuthInfo {
		var prompts []libssh.KbdintPrompt
		if prompts, err = s.UserauthKbdintGetPrompts(); err != nil {
			break
		}
		answers := make([]string, len(prompts))
		for i, p := range prompts {
			fmt.Printf("question %q, echo %v\n", p.Msg, p.Display)
			answers[i] = examplePassword // a real program asks its user
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
