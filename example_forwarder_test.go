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
)

// Fetch a web page that only the server can reach, with net/http going
// through the session.
func ExampleSession_DialContext() {
	ctx := context.Background()
	s := exampleSession(ctx)
	defer s.Close()
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

// Forward a local port to a service the server reaches, as ssh -L does.
func ExampleNewForwarder() {
	ctx := context.Background()
	s := exampleSession(ctx)
	defer s.Close()
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
