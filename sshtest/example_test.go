package sshtest_test

import (
	"context"
	"fmt"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

// A test server with a password, and a command run on it. Its
// known_hosts file lets the client check the server's key.
func ExampleNewServer() {
	srv, err := sshtest.NewServer(sshtest.Options{Password: "secret"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	ctx := context.Background()
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithUser("tester"), libssh.WithKnownHosts(srv.KnownHostsFile()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	if err := s.VerifyHost(); err != nil { // known_hosts knows the server's key
		fmt.Println(err)
		return
	}
	if status, err := s.UserauthPassword(ctx, "secret"); err != nil || status != libssh.AuthSuccess {
		fmt.Println("login:", status, err)
		return
	}
	out, err := s.Command("echo", "hello from sshtest").Output()
	fmt.Printf("%s%v\n", out, err)
	// Output:
	// hello from sshtest
	// <nil>
}

// Faults make the server misbehave on purpose: here every command ends
// with the exit signal KILL instead of its status.
func ExampleFaults() {
	srv, err := sshtest.NewServer(sshtest.Options{
		AuthNone: true,
		Faults:   sshtest.Faults{ExitSignal: "KILL"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	ctx := context.Background()
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithUser("tester"), libssh.WithKnownHosts(srv.KnownHostsFile()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	if err := s.VerifyHost(); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := s.UserauthNone(ctx); err != nil {
		fmt.Println(err)
		return
	}
	err = s.CommandLine("true").Run()
	fmt.Println(err)
	// Output:
	// libssh: remote command failed: signal: KILL
}

// An ExecHandler answers commands in Go.
func ExampleExecHandler() {
	srv, err := sshtest.NewServer(sshtest.Options{
		AuthNone: true,
		Exec: func(ctx context.Context, e *sshtest.Exec) int {
			fmt.Fprintf(e.Stdout, "you asked for %q\n", e.Command)
			return 3
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	ctx := context.Background()
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithUser("tester"), libssh.WithKnownHosts(srv.KnownHostsFile()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	if err := s.VerifyHost(); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := s.UserauthNone(ctx); err != nil {
		fmt.Println(err)
		return
	}
	out, err := s.CommandLine("launch rockets").Output()
	fmt.Printf("%s%v\n", out, err)
	// Output:
	// you asked for "launch rockets"
	// libssh: remote command failed: exit status 3
}
