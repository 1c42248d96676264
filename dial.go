package libssh

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	host, port, err = parseHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("libssh: Dial address %q: %w", addr, err)
	}
	return host, port, nil
}

// parseHostPort splits "host[:port]" (port 0 when absent), with an IPv6
// address bare or in brackets.
func parseHostPort(addr string) (host string, port int, err error) {
	if addr == "" {
		return "", 0, errors.New("empty")
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if !errors.As(err, &ae) || ae.Err != "missing port in address" {
			if net.ParseIP(addr) != nil { // a bare IPv6 address
				return addr, 0, nil
			}
			return "", 0, errors.New(`want "host:port" or "host", with an IPv6 address in brackets`)
		}
		h = addr
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
		if strings.ContainsAny(h, "[]") {
			return "", 0, errors.New("unbalanced brackets")
		}
		return h, 0, nil
	}
	if h == "" {
		return "", 0, errors.New("no host")
	}
	n, err := parsePort(p)
	if err != nil {
		return "", 0, err
	}
	return h, n, nil
}
