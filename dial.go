package libssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Dial connects to the SSH server at addr, checks its host key and logs in,
// and returns the ready session, or one error (after closing whatever it
// made). It is [NewSession], then [Session.Authenticate] with the inputs
// of [WithAuth].
//
// addr is "host:port" or "host"; an IPv6 address goes in brackets
// ("[::1]:22", "[::1]"). Without a port in addr, the port is [WithPort]'s,
// or ssh_config's with [WithProcessConfig], or 22; a port in both addr and
// WithPort must be the same. Dial always connects ([WithAutoConnect] is
// ignored).
//
// Without [WithAuth], Dial offers what ssh offers without asking a person:
// the SSH agent ([WithAgentSocket], else $SSH_AUTH_SOCK, if set), then the
// default identity files of the ssh directory (~/.ssh or [WithSSHDir]):
// AuthOptions{DefaultKeys: true}.
//
// The host key is checked before any credential is sent: a key the
// host-key policy does not accept makes Dial fail with that check's error
// (a [*HostVerificationError] for known_hosts). A login that does not
// finish is a [*NotAuthenticatedError], which says what the server wanted.
func Dial(ctx context.Context, addr string, opts ...Option) (*Session, error) {
	cfg, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	host, port, err := splitAddr(addr)
	if err != nil {
		cfg.closeConn()
		return nil, err
	}
	if port != 0 {
		if cfg.port != 0 && cfg.port != port {
			cfg.closeConn()
			return nil, fmt.Errorf("libssh: Dial %q with WithPort(%d): two different ports", addr, cfg.port)
		}
		cfg.port = port
	}
	cfg.autoConnect = true
	s, err := newSession(ctx, host, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := s.Authenticate(ctx, cfg.authOptions()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// authOptions returns what Dial and ProxyJump hops log in with.
func (cfg *config) authOptions() AuthOptions {
	if cfg.auth != nil {
		return *cfg.auth
	}
	return AuthOptions{DefaultKeys: true}
}

// splitAddr splits Dial's "host[:port]" (port 0 when absent).
func splitAddr(addr string) (host string, port int, err error) {
	bad := func(why string) (string, int, error) {
		return "", 0, fmt.Errorf("libssh: Dial address %q: %s", addr, why)
	}
	if addr == "" {
		return bad("empty")
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if !errors.As(err, &ae) || ae.Err != "missing port in address" {
			if net.ParseIP(addr) != nil { // a bare IPv6 address
				return addr, 0, nil
			}
			return bad(`want "host:port" or "host", with an IPv6 address in brackets`)
		}
		h = addr
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
		if strings.ContainsAny(h, "[]") {
			return bad("unbalanced brackets")
		}
		return h, 0, nil
	}
	if h == "" {
		return bad("no host")
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return bad("port " + strconv.Quote(p) + " is not a number in 1-65535")
	}
	return h, n, nil
}
