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
)

// exampleSession is an authenticated session to the examples' sshd.
func exampleSession(ctx context.Context) *libssh.Session {
	s, err := libssh.NewSession(ctx, exampleHost, libssh.WithPort(examplePort),
		libssh.WithUser(exampleUser), libssh.WithKnownHosts(exampleKnownHosts))
	if err != nil {
		log.Fatal(err)
	}
	if err := s.VerifyHost(); err != nil {
		log.Fatal(err)
	}
	if status, err := s.UserauthPublicKeyFile(ctx, exampleKey, ""); status != libssh.AuthSuccess {
		log.Fatal(status, err)
	}
	return s
}

// Run a command, read its output and its exit status.
func ExampleSession_NewChannel() {
	ctx := context.Background()
	s := exampleSession(ctx)
	defer s.Close()

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
	ctx := context.Background()
	s := exampleSession(ctx)
	defer s.Close()

	err := s.WithChannel(func(ch *libssh.Channel) error {
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
	ctx := context.Background()
	s := exampleSession(ctx)
	defer s.Close()

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
