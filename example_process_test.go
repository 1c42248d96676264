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
)

// Run a program with arguments: each arrives as one word, whatever it holds.
func ExampleSession_Command() {
	ctx := context.Background()
	s := exampleSession(ctx)
	defer s.Close()

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
	ctx := context.Background()
	s := exampleSession(ctx)
	defer s.Close()

	out, err := s.CommandLine("echo hello; echo not in the output >&2").Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", strings.TrimSpace(string(out)))
	// Output: "hello"
}

// Print a command's output as it comes (LibSSH.jl's run, which prints).
func ExampleCmd_Run() {
	ctx := context.Background()
	s := exampleSession(ctx)
	defer s.Close()

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
	ctx := context.Background()
	s := exampleSession(ctx)
	defer s.Close()

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
	ctx := context.Background()
	s := exampleSession(ctx)
	defer s.Close()

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
	ctx := context.Background()
	s := exampleSession(ctx)
	defer s.Close()

	_, err := s.CommandLine("echo why >&2; exit 3").Output()
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
	ctx := context.Background()
	s := exampleSession(ctx)
	defer s.Close()

	limited, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	err := s.CommandContext(limited, "sleep", "60").Run()
	fmt.Println(err)
	// Output: context deadline exceeded
}
