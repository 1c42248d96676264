// Command demo walks through what a user of package libssh does with a
// session, against a throwaway OpenSSH sshd on 127.0.0.1 that it starts and
// stops itself: connect, check the server's key against known_hosts, trust
// it, list the authentication methods, authenticate (a wrong key, then the
// right one), close.
//
// Run it with `make demo` (which installs what it needs) or
// `go run ./examples/demo` from the repository.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/internal/sshdtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n== "+format+"\n", args...) }

func run() error {
	ctx := context.Background()
	fmt.Println("libssh", libssh.Version())

	step("starting a throwaway OpenSSH server on 127.0.0.1")
	// As root, the server logs in an unprivileged user: OpenSSH delivers
	// signals (which cancelling a command sends) only to those.
	srv, err := sshdtest.Start(sshdtest.Options{Unprivileged: true})
	if err != nil {
		return err
	}
	defer srv.Close()
	addr, err := srv.Addr()
	if err != nil {
		return err
	}
	host, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	fmt.Println("sshd listening on", addr)

	dir, err := os.MkdirTemp("", "libssh-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	knownHosts := filepath.Join(dir, "known_hosts")

	step("connecting to %s as %s", addr, srv.User)
	s, err := libssh.NewSession(ctx, host, libssh.WithPort(port), libssh.WithUser(srv.User),
		libssh.WithKnownHosts(knownHosts))
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Println(s)

	step("the server's host key")
	key, err := s.ServerPublicKey()
	if err != nil {
		return err
	}
	fmt.Println("type:       ", key.Type())
	fmt.Println("fingerprint:", key.Fingerprint())

	step("checking it against %s", knownHosts)
	err = s.VerifyHost()
	var hv *libssh.HostVerificationError
	if !errors.As(err, &hv) {
		return fmt.Errorf("expected an unknown host, got %v", err)
	}
	fmt.Println("status:", hv.Status)
	fmt.Println(err)
	fmt.Println("(a program asks its user here; the demo trusts the key)")
	if err := s.UpdateKnownHosts(); err != nil {
		return err
	}
	line, _ := os.ReadFile(knownHosts)
	fmt.Printf("known_hosts now has: %s", line)
	if err := s.VerifyHost(); err != nil {
		return err
	}
	fmt.Println("status: ok")

	step("authentication methods the server offers")
	methods, err := s.UserauthList(ctx)
	if err != nil {
		return err
	}
	fmt.Println(methods)

	step("authenticating with a key the server does not know")
	status, err := s.UserauthPublicKeyFile(ctx, sshdtest.Keys("other_ed25519"), "")
	if err != nil {
		return err
	}
	fmt.Println("result:", status)

	step("authenticating with an encrypted key and a wrong passphrase")
	_, err = s.UserauthPublicKeyFile(ctx, sshdtest.Keys("id_ed25519_enc"), "not the passphrase")
	fmt.Println("error:", err)
	fmt.Println("errors.Is(err, libssh.ErrPassphrase):", errors.Is(err, libssh.ErrPassphrase))

	step("authenticating with the right passphrase")
	status, err = s.UserauthPublicKeyFile(ctx, sshdtest.Keys("id_ed25519_enc"), sshdtest.PassphraseForTestKeys)
	if err != nil {
		return err
	}
	fmt.Println("result:", status)
	if status != libssh.AuthSuccess {
		return fmt.Errorf("authentication: %s", status)
	}

	step("running a command on a channel")
	ch, err := s.NewChannel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.OpenSession(ctx); err != nil {
		return err
	}
	if err := ch.RequestExec(ctx, "echo hello from $(uname -s); echo a warning >&2; exit 3"); err != nil {
		return err
	}
	stderr := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(ch.Stderr())
		stderr <- b
	}()
	out, err := io.ReadAll(ch)
	if err != nil {
		return err
	}
	if err := ch.Wait(ctx); err != nil {
		return err
	}
	code, err := ch.ExitStatus()
	fmt.Printf("stdout: %sstderr: %sexit status: %d %v\n", out, <-stderr, code, err)

	step("running commands the os/exec way")
	out, err = s.Command("printf", "%s\n", "an argument with spaces, 'quotes' and $dollars").Output()
	if err != nil {
		return err
	}
	fmt.Printf("Command(...).Output(): %s", out)
	err = s.CommandLine("echo failing >&2; exit 42").Run()
	var exit *libssh.ExitError
	if errors.As(err, &exit) {
		fmt.Printf("Run: %v (exit code %d, stderr %q)\n", err, exit.ExitCode(), exit.Stderr())
	}
	limited, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err = s.CommandContext(limited, "sleep", "60").Run()
	fmt.Println("sleep 60 with a 200 ms context:", err)

	step("closing the session while a channel is open")
	if err := s.Close(); err != nil {
		return err
	}
	_, err = s.UserauthNone(ctx)
	fmt.Println("a session call after Close:", err)
	fmt.Println("errors.Is(err, libssh.ErrClosed):", errors.Is(err, libssh.ErrClosed))
	_, err = ch.Write([]byte("more"))
	fmt.Println("a channel call after Close:", err)
	fmt.Println("errors.Is(err, libssh.ErrClosed):", errors.Is(err, libssh.ErrClosed))
	return nil
}
