package libssh_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/golibssh/libssh"
	"github.com/golibssh/libssh/sshtest"
)

// Choose the algorithms, and read what the key exchange chose.
func ExampleSession_Algorithms() {
	srv, err := sshtest.NewServer(sshtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	s, err := libssh.NewSession(context.Background(), srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithKnownHosts(srv.KnownHostsFile()),
		libssh.WithCiphers("aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"),
		libssh.WithKeyExchanges("curve25519-sha256"),
		libssh.WithHostKeyAlgorithms("ssh-ed25519"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	a, err := s.Algorithms()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.KeyExchange, a.HostKey)
	fmt.Println("to the server:", a.Write.Cipher, a.Write.MAC, a.Write.Compression)

	_, err = libssh.NewSession(context.Background(), srv.Host(), libssh.WithCiphers("arcfour"))
	var ae *libssh.AlgorithmError
	fmt.Println(errors.As(err, &ae), ae.Name)
	// Output:
	// curve25519-sha256 ssh-ed25519
	// to the server: aes256-gcm@openssh.com aead-gcm none
	// true arcfour
}

// Find out that a server stopped answering. Here the test server goes
// silent, keeping the TCP connection open, when the client opens its first
// channel.
func ExampleWithKeepalive() {
	srv, err := sshtest.NewServer(sshtest.Options{AuthNone: true,
		Faults: sshtest.Faults{Blackhole: sshtest.Point{Channel: 1}}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	s, err := libssh.NewSession(ctx, srv.Host(), libssh.WithPort(srv.Port()),
		libssh.WithKnownHosts(srv.KnownHostsFile()),
		libssh.WithKeepalive(200*time.Millisecond, 2))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.VerifyHost(); err != nil {
		log.Fatal(err)
	}
	if _, err := s.UserauthNone(ctx); err != nil {
		log.Fatal(err)
	}
	// The open waits for an answer that never comes, until the keepalive
	// gives up on the server (after about 600 ms), well before the
	// context's 10 s.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = s.CommandContext(ctx, "true").Output()
	fmt.Println(errors.Is(err, libssh.ErrPeerUnresponsive), s.IsConnected())
	// Output: true false
}
