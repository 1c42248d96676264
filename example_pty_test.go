package libssh_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/golibssh/libssh"
)

// Run an interactive program on a terminal, answer its prompt, and read
// its exit status. (Not run: it needs a server that gives terminals, such
// as OpenSSH's sshd; package sshtest refuses them.)
func ExampleCmd_pty() {
	ctx := context.Background()
	s, err := libssh.NewSession(ctx, "server.example.com", libssh.WithUser("alice"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Authenticate(ctx, libssh.AuthOptions{DefaultKeys: true}); err != nil {
		log.Fatal(err)
	}

	// The program reads its answer from the terminal; stderr arrives in
	// stdout, as on any terminal.
	cmd := s.CommandLine(`printf 'Proceed? '; read answer; [ "$answer" = yes ]`)
	cmd.Pty = &libssh.Pty{Term: "xterm", Cols: 80, Rows: 24}
	cmd.Stdout = os.Stdout
	stdin, err := cmd.StdinPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	// When the local window changes (SIGWINCH), pass its size on.
	if err := cmd.Process.Resize(100, 30); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(stdin, "no")
	err = cmd.Wait()
	var exit *libssh.ExitError
	switch {
	case errors.As(err, &exit):
		fmt.Println("\nexit status", exit.ExitCode()) // 1: the answer was not yes
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("\nexit status 0")
	}
}

// Give a login shell on a terminal the local agent, so that a remote ssh or
// git can log in with its keys. (Not run: it needs an sshd and an agent.)
func ExampleSession_Shell() {
	ctx := context.Background()
	s, err := libssh.NewSession(ctx, "server.example.com", libssh.WithUser("alice"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Authenticate(ctx, libssh.AuthOptions{Agent: true}); err != nil {
		log.Fatal(err)
	}

	sh := s.Shell()
	sh.Pty = &libssh.Pty{} // xterm, 80x24
	// A trust decision: the server can use the agent while connected.
	sh.ForwardAgent = true
	// Put the local terminal in raw mode (golang.org/x/term) to pass every
	// key through.
	sh.Stdin, sh.Stdout = os.Stdin, os.Stdout
	if err := sh.Run(); err != nil {
		log.Fatal(err)
	}
}
