package libssh_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/callbacks"
	"github.com/golibssh/libssh/sshtest"
)

// Run a command, read its output and its exit status.
func ExampleSession_NewChannel() {
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

	ch, err := s.NewChannel()
	if err != nil {
		log.Fatal(err)
	}
	defer ch.Close()
	if err := ch.OpenSession(ctx); err != nil {
		log.Fatal(err)
	}
	if err := ch.RequestExec(ctx, "echo hello; exit 3"); err != nil {
		log.Fatal(err)
	}
	out, err := io.ReadAll(ch) // stdout, to the server's EOF
	if err != nil {
		log.Fatal(err)
	}
	if err := ch.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	status, err := ch.ExitStatus()
	fmt.Printf("%q, exit status %d, %v\n", out, status, err)
	// Output: "hello\n", exit status 3, <nil>
}

// Feed a command's standard input while reading its output.
func ExampleChannel_Write() {
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

	err = s.WithChannel(func(ch *libssh.Channel) error {
		if err := ch.OpenSession(ctx); err != nil {
			return err
		}
		if err := ch.RequestExec(ctx, "tr a-z A-Z"); err != nil {
			return err
		}
		go func() {
			io.Copy(ch, strings.NewReader("shout this\n"))
			ch.CloseWrite() // the command reads end of input
		}()
		_, err := io.Copy(os.Stdout, ch)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: SHOUT THIS
}

// Callbacks see the channel's events as they happen; here they collect
// stderr and the exit status.
func ExampleChannel_SetCallbacks() {
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

	ch, err := s.NewChannel()
	if err != nil {
		log.Fatal(err)
	}
	defer ch.Close()
	if err := ch.OpenSession(ctx); err != nil {
		log.Fatal(err)
	}
	// Callbacks run in another goroutine, with the session locked: they
	// only copy what they need.
	var mu sync.Mutex
	var stderr strings.Builder
	status := make(chan int, 1)
	err = ch.SetCallbacks(&callbacks.ChannelCallbacks{
		OnData: func(data []byte, isStderr bool) int {
			if !isStderr {
				return 0 // leave stdout for Read
			}
			mu.Lock()
			defer mu.Unlock()
			stderr.Write(data)
			return len(data)
		},
		OnExitStatus: func(s int) { status <- s },
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := ch.RequestExec(ctx, "echo out; echo err >&2; exit 1"); err != nil {
		log.Fatal(err)
	}
	out, err := io.ReadAll(ch)
	if err != nil {
		log.Fatal(err)
	}
	if err := ch.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Printf("stdout %q, stderr %q, status %d\n", out, stderr.String(), <-status)
	// Output: stdout "out\n", stderr "err\n", status 1
}

// An interactive shell on a terminal, as ssh without a command gives. (Not
// run: it needs a server that gives a shell, such as OpenSSH's sshd.)
func ExampleChannel_RequestShell() {
	ctx := context.Background()
	s, err := libssh.NewSession(ctx, "server.example.com", libssh.WithUser("alice"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Authenticate(ctx, libssh.AuthOptions{DefaultKeys: true}); err != nil {
		log.Fatal(err)
	}

	ch, err := s.NewChannel()
	if err != nil {
		log.Fatal(err)
	}
	defer ch.Close()
	if err := ch.OpenSession(ctx); err != nil {
		log.Fatal(err)
	}
	if err := ch.RequestPty(ctx, "xterm", 80, 24); err != nil {
		log.Fatal(err)
	}
	if err := ch.RequestShell(ctx); err != nil {
		log.Fatal(err)
	}
	// What is typed goes to the shell (put the local terminal in raw mode,
	// with golang.org/x/term, to pass every key through), and the
	// terminal's output comes back until the shell exits.
	go io.Copy(ch, os.Stdin)
	if _, err := io.Copy(os.Stdout, ch); err != nil {
		log.Fatal(err)
	}
	if err := ch.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	status, err := ch.ExitStatus()
	fmt.Println("shell exited:", status, err)
}
