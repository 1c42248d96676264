package libssh_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

// Use the session as a SOCKS5 proxy, as ssh -D does: any program that
// speaks SOCKS (curl --socks5-hostname, a browser, net/http) reaches what
// the server reaches.
func ExampleNewSOCKSForwarder() {
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
		fmt.Fprint(w, "hello through the SOCKS proxy")
	}))
	defer web.Close()

	// Port 0: a free port on 127.0.0.1. WithSOCKSAuth would require a
	// user name and password.
	proxy, err := libssh.NewSOCKSForwarder(ctx, s, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer proxy.Close()

	// socks5h: the proxy, that is the server, resolves host names.
	proxyURL := &url.URL{Scheme: "socks5h", Host: proxy.LocalAddr().String()}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	defer client.CloseIdleConnections()
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
	// Output: hello through the SOCKS proxy
}
