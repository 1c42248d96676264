package libssh_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

// Fetch a web page that only the server can reach, with net/http going
// through the session.
func ExampleSession_DialContext() {
	srv, err := sshtest.NewServer(sshtest.Options{Password: "secret", Forwarding: true})
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
	// A web server on the server's loopback (here, the same machine).
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello through the tunnel")
	}))
	defer web.Close()

	client := &http.Client{Transport: &http.Transport{DialContext: s.DialContext}}
	resp, err := client.Get(web.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(body))
	client.CloseIdleConnections()
	// Output: hello through the tunnel
}

// Serve a port on the server from the client, as ssh -R does: the server
// listens, and each connection to its port is accepted here. (With sshtest
// the server is this machine, so its port is reachable from here.)
func ExampleSession_Listen() {
	srv, err := sshtest.NewServer(sshtest.Options{Password: "secret", Forwarding: true})
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
	// Port 0: a free port (Listen picks it), and Addr says which.
	ln, err := s.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener was closed
			}
			fmt.Fprintf(c, "hello from the client\n")
			c.Close()
		}
	}()

	// Someone on the server's side connects to its port.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	reply, err := io.ReadAll(c)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(reply))
	// Output: hello from the client
}

// Forward a local port to a service the server reaches, as ssh -L does.
func ExampleNewForwarder() {
	srv, err := sshtest.NewServer(sshtest.Options{Password: "secret", Forwarding: true})
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
	// A service on the server's loopback that says hello and closes.
	service, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan struct{})
	defer func() {
		service.Close()
		<-served
	}()
	go func() {
		defer close(served)
		for {
			c, err := service.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, "hello from the service")
			c.Close()
		}
	}()
	servicePort := service.Addr().(*net.TCPAddr).Port

	// Port 0: the forwarder picks a free local port.
	err = libssh.WithForwarder(ctx, s, 0, "127.0.0.1", servicePort, func(f *libssh.Forwarder) error {
		c, err := net.Dial("tcp", f.LocalAddr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		fmt.Println(string(b))
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: hello from the service
}

// Reach a server through a jump host (ssh -J): a connection that the jump
// host makes to the target carries a second session. Here both are test
// servers; the jump host forwards connections.
func ExampleWithConn() {
	jump, err := sshtest.NewServer(sshtest.Options{Password: "secret", Forwarding: true})
	if err != nil {
		log.Fatal(err)
	}
	defer jump.Close()
	target, err := sshtest.NewServer(sshtest.Options{Password: "target secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer target.Close()

	ctx := context.Background()
	hop, err := libssh.NewSession(ctx, jump.Host(), libssh.WithPort(jump.Port()),
		libssh.WithUser("alice"), libssh.WithKnownHosts(jump.KnownHostsFile()))
	if err != nil {
		log.Fatal(err)
	}
	defer hop.Close()
	if _, err := hop.Authenticate(ctx, libssh.AuthOptions{Password: "secret"}); err != nil {
		log.Fatal(err)
	}

	// The jump host connects to the target; the session runs over that
	// connection and closes it when it closes. Host and port still name
	// the target, for known_hosts.
	conn, err := hop.DialContext(ctx, "tcp", target.Addr())
	if err != nil {
		log.Fatal(err)
	}
	s, err := libssh.NewSession(ctx, target.Host(), libssh.WithPort(target.Port()), libssh.WithConn(conn),
		libssh.WithUser("bob"), libssh.WithKnownHosts(target.KnownHostsFile()))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Authenticate(ctx, libssh.AuthOptions{Password: "target secret"}); err != nil {
		log.Fatal(err)
	}
	out, err := s.Command("echo", "hello from the target").Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output: hello from the target
}
