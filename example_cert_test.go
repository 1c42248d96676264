package libssh_test

import (
	"context"
	"log"

	"github.com/golibssh/libssh"
)

// Log in with a user certificate: the key and the certificate the CA
// signed for it (ssh-keygen -s ca -I alice -n alice id_ed25519.pub writes
// id_ed25519-cert.pub). A key file's "-cert.pub" beside it is found on its
// own, as ssh does; AuthOptions.CertificateFiles names others, and a
// PrivateKey carries one with WithCertificate.
func ExamplePrivateKey_WithCertificateFile() {
	key, err := libssh.ParsePrivateKeyFile("/home/alice/.ssh/id_ed25519", "")
	if err != nil {
		log.Fatal(err)
	}
	defer key.Close()
	cert, err := key.WithCertificateFile("/home/alice/.ssh/id_ed25519-cert.pub")
	if err != nil {
		log.Fatal(err) // not a user certificate of this key
	}
	defer cert.Close()

	ctx := context.Background()
	s, err := libssh.Dial(ctx, "server.example.com", libssh.WithUser("alice"),
		libssh.WithAuth(libssh.AuthOptions{PrivateKey: cert}))
	if err != nil {
		// When the server refuses the certificate, the error says what
		// was the likely cause: expired, not yet valid, not for "alice",
		// or a CA the server does not trust.
		log.Fatal(err)
	}
	defer s.Close()
}
