package sshdtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// hostKeyTypes lists the accepted values of Options.HostKeyTypes and the
// ssh-keygen arguments used to generate each of them.
var hostKeyTypes = map[string][]string{
	"ed25519": {"-t", "ed25519"},
	"ecdsa":   {"-t", "ecdsa", "-b", "256"},
	"rsa":     {"-t", "rsa", "-b", "3072"},
}

// generateHostKeys generates, with the ssh-keygen at keygen, a host key of
// each of the given types (see Options.HostKeyTypes) in s.Dir, records
// them in s.HostKeys and s.hostPub, and returns the types in the order of
// their HostKey lines.
func (s *Server) generateHostKeys(keygen string, types []string) (hostKeyOrder []string, err error) {
	if len(types) == 0 {
		types = []string{"ed25519"}
	}
	for _, typ := range types {
		args, ok := hostKeyTypes[typ]
		if !ok {
			return nil, fmt.Errorf("sshdtest: unsupported host key type %q (want ed25519, ecdsa or rsa)", typ)
		}
		if _, dup := s.HostKeys[typ]; dup {
			continue
		}
		path := filepath.Join(s.Dir, "hostkey_"+typ)
		args = append(args, "-q", "-N", "", "-C", "sshdtest-host-"+typ, "-f", path)
		if out, err := exec.Command(keygen, args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("sshdtest: generating %s host key: %w\n%s", typ, err, out)
		}
		pub, err := os.ReadFile(path + ".pub")
		if err != nil {
			return nil, fmt.Errorf("sshdtest: reading %s host public key: %w", typ, err)
		}
		s.HostKeys[typ] = path
		s.hostPub[typ] = strings.TrimSpace(string(pub))
		hostKeyOrder = append(hostKeyOrder, typ)
	}
	return hostKeyOrder, nil
}

// HostPublicKey returns the public host key of the given type as found in
// its .pub file, trimmed: "ssh-ed25519 AAAA... comment". It panics if the
// Server has no host key of that type.
func (s *Server) HostPublicKey(keyType string) string {
	pub, ok := s.hostPub[keyType]
	if !ok {
		panic(fmt.Sprintf("sshdtest: no host key of type %q", keyType))
	}
	return pub
}

// KnownHostsLine returns a known_hosts line "host keytype base64" (without
// comment) for the host key of the given type. host is used verbatim, so
// pass "[127.0.0.1]:2222" for a non-standard port. It panics if the Server
// has no host key of that type.
func (s *Server) KnownHostsLine(host, keyType string) string {
	fields := strings.Fields(s.HostPublicKey(keyType))
	if len(fields) < 2 {
		panic(fmt.Sprintf("sshdtest: malformed %s host public key %q", keyType, s.HostPublicKey(keyType)))
	}
	return host + " " + fields[0] + " " + fields[1]
}
