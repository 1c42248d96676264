package libssh_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

// Run a program with arguments: each arrives as one word, whatever it holds.
func ExampleSession_Command() {
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
	if _, err := s.Authenticate(ctx, libssh.AuthOptions{Password: "secret"}); err != nil {
		log.Fatal(err)
	}

	cmd := s.Command("printf", "%s|", "two words", "it's", "$HOME")
	out, err := cmd.Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out))
	fmt.Println(cmd)
	// Output:
	// two words|it's|$HOME|
	// printf '%s|' 'two words' 'it'\''s' '$HOME'
}

// Read a command's output as bytes or as a string (LibSSH.jl's read).
func ExampleCmd_Output() {
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
	if _, err := s.Authenticate(ctx, libssh.AuthOptions{Password: "secret"}); err != nil {
		log.Fatal(err)
	}

	out, err := s.CommandLine("echo hello; echo not in the output >&2").Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", strings.TrimSpace(string(out)))
	// Output: "hello"
}

// Print a command's output as it comes (LibSSH.jl's run, which prints).
func ExampleCmd_Run() {
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
	if _, err := s.Authenticate(ctx, libssh.AuthOptions{Password: "secret"}); err != nil {
		log.Fatal(err)
	}

	cmd := s.CommandLine("echo one; echo two")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// one
	// two
}

// Ask whether a command succeeds (LibSSH.jl's success): a non-zero exit is
// false, not an error.
func ExampleCmd_Success() {
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
	if _, err := s.Authenticate(ctx, libssh.AuthOptions{Password: "secret"}); err != nil {
		log.Fatal(err)
	}

	ok, err := s.Command("test", "-d", "/").Success()
	fmt.Println(ok, err)
	ok, err = s.Command("test", "-d", "/no/such/dir").Success()
	fmt.Println(ok, err)
	// Output:
	// true <nil>
	// false <nil>
}

// Feed a command's standard input while reading its output.
func ExampleCmd_StdinPipe() {
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
	if _, err := s.Authenticate(ctx, libssh.AuthOptions{Password: "secret"}); err != nil {
		log.Fatal(err)
	}

	cmd := s.Command("tr", "a-z", "A-Z")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		log.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	io.WriteString(stdin, "shout\n")
	stdin.Close() // EOF: tr finishes
	out, err := io.ReadAll(stdout)
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output: SHOUT
}

// Tell how a failed command ended.
func ExampleExitError() {
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
	if _, err := s.Authenticate(ctx, libssh.AuthOptions{Password: "secret"}); err != nil {
		log.Fatal(err)
	}

	_, err = s.CommandLine("echo why >&2; exit 3").Output()
	var exit *libssh.ExitError
	if errors.As(err, &exit) {
		fmt.Println(exit.ExitCode(), exit.Signal() == "", string(exit.Stderr()))
	}
	err = s.CommandLine("kill -TERM $$").Run()
	if errors.As(err, &exit) {
		fmt.Println(exit.ExitCode(), exit.Signal())
	}
	// Output:
	// 3 true why
	//
	// -1 TERM
}

// Stop a command after a time limit: the context's end kills it.
func ExampleSession_CommandContext() {
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
	if _, err := s.Authenticate(ctx, libssh.AuthOptions{Password: "secret"}); err != nil {
		log.Fatal(err)
	}

	limited, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err = s.CommandContext(limited, "sleep", "60").Run()
	fmt.Println(err)
	// Output: context deadline exceeded
}

// os/exec's own example: write to a command's standard input from
// a goroutine, before and while it starts.
func ExampleCmd_StdinPipe_beforeStart() {
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
	if _, err := s.Authenticate(ctx, libssh.AuthOptions{Password: "secret"}); err != nil {
		log.Fatal(err)
	}

	cmd := s.Command("cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		defer stdin.Close()
		io.WriteString(stdin, "values written to stdin are passed to cmd's standard input")
	}()
	out, err := cmd.CombinedOutput()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", out)
	// Output: values written to stdin are passed to cmd's standard input
}
