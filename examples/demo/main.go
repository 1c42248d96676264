// Command demo walks through what a user of package libssh does with a
// session. The SSH server it talks to runs inside the demo itself (package
// sshtest, an in-process server on 127.0.0.1 built on libssh), so nothing
// needs to be installed or configured: start the server, connect, check
// the server's key against known_hosts and trust it, list the
// authentication methods, log in (a wrong password, then the right one),
// run a command, forward a local port to a web server through the SSH
// connection, and close everything.
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
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

const password = "correct horse battery staple"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n== "+format+"\n", args...) }

func run() error {
	// Bound the whole demo, so that a hang fails instead of waiting forever.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fmt.Println("libssh", libssh.Version())

	step("starting an embedded SSH server (package sshtest)")
	srv, err := sshtest.NewServer(sshtest.Options{Password: password, Forwarding: true})
	if err != nil {
		return fmt.Errorf("start the server: %w", err)
	}
	defer srv.Close()
	fmt.Println("listening on", srv.Addr())
	fmt.Println("it takes the password", password, "for any user name")

	dir, err := os.MkdirTemp("", "libssh-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	knownHosts := filepath.Join(dir, "known_hosts") // does not exist yet

	// The server runs commands as the user running the demo: log in under
	// that name too.
	me, err := user.Current()
	if err != nil {
		return err
	}
	step("connecting to %s as %s", srv.Addr(), me.Username)
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithUser(me.Username), libssh.WithKnownHosts(knownHosts))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
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
	fmt.Println("the key the server was started with:", key.Equal(srv.HostKey()))

	step("checking it against %s", knownHosts)
	status, err := s.IsKnownServer()
	if err != nil {
		return err
	}
	fmt.Println("status:", status)
	fmt.Println("(a program asks its user here; the demo trusts the key)")
	if err := s.UpdateKnownHosts(); err != nil {
		return err
	}
	line, err := os.ReadFile(knownHosts)
	if err != nil {
		return err
	}
	fmt.Printf("known_hosts now has: %s", line)
	if status, err = s.IsKnownServer(); err != nil {
		return err
	}
	fmt.Println("status:", status)
	// VerifyHost accepts the key for the connection: until then no
	// Userauth call sends anything.
	if err := s.VerifyHost(); err != nil {
		return err
	}

	step("authentication methods the server offers")
	methods, err := s.UserauthList(ctx)
	if err != nil {
		return err
	}
	fmt.Println(methods)

	step("authenticating with a wrong password")
	auth, err := s.UserauthPassword(ctx, "wrong")
	if err != nil {
		return err
	}
	fmt.Println("result:", auth)

	step("authenticating with the right password")
	if auth, err = s.UserauthPassword(ctx, password); err != nil {
		return err
	}
	fmt.Println("result:", auth)
	if auth != libssh.AuthSuccess {
		return fmt.Errorf("authentication: %s", auth)
	}

	step("running a command the os/exec way")
	cmd := s.Command("sh", "-c", "echo hello from $(whoami); exit 3")
	fmt.Println("command line sent:", cmd)
	out, err := cmd.Output()
	var exit *libssh.ExitError
	if err != nil && !errors.As(err, &exit) {
		return err // not a command that failed: the command could not run
	}
	fmt.Println("output:   ", strings.TrimSpace(string(out)))
	fmt.Println("exit code:", cmd.Process.ExitCode())
	if exit != nil {
		fmt.Println("error:    ", exit)
		if stderr := exit.Stderr(); len(stderr) > 0 {
			fmt.Println("stderr:   ", strings.TrimSpace(string(stderr)))
		}
	}

	step("forwarding a local port to a web server, through the SSH server")
	web, err := startWebServer()
	if err != nil {
		return err
	}
	defer web.Close()
	webAddr := web.Addr().(*net.TCPAddr)
	fmt.Println("web server on", webAddr)
	// The forwarder reports what goes wrong with a connection (such as the
	// server refusing to forward) here; the client just sees it closed.
	fwErrs := make(chan error, 1)
	logErr := func(err error) {
		select {
		case fwErrs <- err:
		default:
		}
	}
	fw, err := libssh.NewForwarder(ctx, s, 0, "127.0.0.1", webAddr.Port, libssh.WithErrorLog(logErr))
	if err != nil {
		return err
	}
	defer fw.Close()
	url := "http://" + fw.LocalAddr().String() + "/"
	fmt.Printf("forwarder on %s -> (ssh) -> 127.0.0.1:%d\n", fw.LocalAddr(), webAddr.Port)
	body, err := get(ctx, url)
	if err != nil {
		select {
		case fwErr := <-fwErrs:
			return fmt.Errorf("%w\n%v", err, fwErr)
		default:
			return err
		}
	}
	fmt.Printf("GET %s: %s", url, body)

	step("closing the forwarder, the web server, the session and the SSH server")
	if err := fw.Close(); err != nil {
		return err
	}
	if err := web.Close(); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	if err := srv.Close(); err != nil {
		return err
	}
	fmt.Println("done")
	return nil
}

// startWebServer serves a one-line page on a free port of 127.0.0.1.
func startWebServer() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the web server on %s\n", ln.Addr())
	}))
	return ln, nil
}

// get fetches url and returns the body of a 200 answer.
func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Close = true // no idle connection left in the forwarder
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
