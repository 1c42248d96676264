package libssh

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// This file is the SOCKS5 server of NewSOCKSForwarder (RFC 1928, with the
// username/password method of RFC 1929): CONNECT only, which is what
// ssh -D offers too.

// socksHandshakeTimeout bounds a SOCKS client's handshake, request and the
// dial of its destination, together, in nanoseconds. (Atomic for the
// tests, which change it.)
var socksHandshakeTimeout atomic.Int64

func init() { socksHandshakeTimeout.Store(int64(30 * time.Second)) }

// NewSOCKSForwarder listens on 127.0.0.1:localPort (port 0 picks a free
// one; see [Forwarder.LocalAddr]) as a SOCKS5 proxy, as ssh -D does: each
// client's CONNECT request is dialled through s ([Session.DialContext]'s
// direct-tcpip channel), to an IPv4 or IPv6 address or a domain name,
// which the server resolves (curl --socks5-hostname, a browser's "proxy
// DNS"). It answers with the SOCKS reply code that fits a failure:
// "connection not allowed" when the server refuses to forward (OpenSSH:
// AllowTcpForwarding, PermitOpen), "connection refused", "network
// unreachable" or "host unreachable" when the server could not connect,
// "command not supported" for BIND and UDP ASSOCIATE, "address type not
// supported", and "general failure" otherwise.
//
// Without [WithSOCKSAuth] any local client may connect without
// credentials: keep the default loopback address, or choose another with
// [WithListenAddress] knowing that whoever reaches the port reaches
// everything the server does. [WithListener] and [WithErrorLog] apply as
// for [NewForwarder]; the returned [Forwarder] is closed the same way and
// its Close ends every relay and the accept loop. A client has 30 seconds
// from connecting to the proxy's answer (its handshake and request, and the
// server opening the connection); after that its connection is closed. A
// nil ctx or a nil or zero s is an error.
func NewSOCKSForwarder(ctx context.Context, s *Session, localPort int, opts ...ForwarderOption) (*Forwarder, error) {
	if ctx == nil {
		return nil, errNilContext("NewSOCKSForwarder")
	}
	return newForwarder(ctx, s, localPort, "", 0, true, opts)
}

// WithSOCKSAuth makes a [NewSOCKSForwarder] proxy require the SOCKS
// username/password method (RFC 1929) with these credentials; a client
// that does not offer it, or gives others, is turned away. Each is 1 to
// 255 bytes. SOCKS sends them in clear text: on a loopback listener they
// keep other local users out; across a network they protect little.
func WithSOCKSAuth(user, password string) ForwarderOption {
	return func(c *forwarderConfig) {
		c.socks.auth, c.socks.user, c.socks.password = true, user, password
	}
}

// socksConfig is a SOCKS forwarder's authentication.
type socksConfig struct {
	auth           bool
	user, password string
}

// check validates the configuration of a forwarder, SOCKS or not.
func (c *socksConfig) check(socks bool) error {
	if !c.auth {
		return nil
	}
	if !socks {
		return errors.New("libssh: WithSOCKSAuth applies to NewSOCKSForwarder only")
	}
	if len(c.user) < 1 || len(c.user) > 255 || len(c.password) < 1 || len(c.password) > 255 {
		return errors.New("libssh: WithSOCKSAuth: the user name and password must each be 1 to 255 bytes")
	}
	return nil
}

// ifSOCKS returns the configuration for a SOCKS forwarder, nil otherwise.
func (c socksConfig) ifSOCKS(socks bool) *socksConfig {
	if !socks {
		return nil
	}
	return &c
}

// SOCKS5 constants (RFC 1928, 1929).
const (
	socksVersion       = 5
	socksAuthVersion   = 1
	socksMethodNone    = 0x00
	socksMethodPass    = 0x02
	socksMethodNoneFit = 0xff
	socksCmdConnect    = 1
	socksAtypIPv4      = 1
	socksAtypDomain    = 3
	socksAtypIPv6      = 4

	socksSucceeded          = 0x00
	socksGeneralFailure     = 0x01
	socksNotAllowed         = 0x02
	socksNetworkUnreachable = 0x03
	socksHostUnreachable    = 0x04
	socksConnRefused        = 0x05
	socksCmdNotSupported    = 0x07
	socksAtypNotSupported   = 0x08
)

// socksError is a request the proxy turned away with a reply code.
type socksError struct {
	code byte
	msg  string
}

func (e *socksError) Error() string { return e.msg }

// handshake negotiates the method, authenticates, and reads the request,
// returning its target. A request it cannot serve is answered with its
// reply code here.
func (c *socksConfig) handshake(conn net.Conn) (host string, port int, err error) {
	var hdr [2]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return "", 0, fmt.Errorf("SOCKS greeting: %w", err)
	}
	if hdr[0] != socksVersion {
		return "", 0, fmt.Errorf("not a SOCKS5 client (version %d)", hdr[0])
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(conn, methods); err != nil {
		return "", 0, fmt.Errorf("SOCKS greeting: %w", err)
	}
	want := byte(socksMethodNone)
	if c.auth {
		want = socksMethodPass
	}
	if !strings.ContainsRune(string(methods), rune(want)) {
		conn.Write([]byte{socksVersion, socksMethodNoneFit})
		if c.auth {
			return "", 0, errors.New("the SOCKS client does not offer username/password authentication")
		}
		return "", 0, errors.New("the SOCKS client does not offer to go without authentication")
	}
	if _, err := conn.Write([]byte{socksVersion, want}); err != nil {
		return "", 0, err
	}
	if c.auth {
		if err := c.authenticate(conn); err != nil {
			return "", 0, err
		}
	}
	var req [4]byte // version, command, reserved, address type
	if _, err := io.ReadFull(conn, req[:]); err != nil {
		return "", 0, fmt.Errorf("SOCKS request: %w", err)
	}
	if req[0] != socksVersion {
		return "", 0, fmt.Errorf("SOCKS request of version %d", req[0])
	}
	if host, err = readSOCKSAddr(conn, req[3]); err == nil {
		var p [2]byte
		_, err = io.ReadFull(conn, p[:])
		port = int(binary.BigEndian.Uint16(p[:]))
	}
	if err == nil && req[1] != socksCmdConnect {
		err = &socksError{socksCmdNotSupported, fmt.Sprintf("SOCKS command %d is not supported (only CONNECT)", req[1])}
	}
	if err != nil {
		var se *socksError
		if errors.As(err, &se) {
			writeSOCKSReply(conn, se.code)
		}
		return "", 0, err
	}
	return host, port, nil
}

// authenticate runs the username/password subnegotiation (RFC 1929).
func (c *socksConfig) authenticate(conn net.Conn) error {
	read := func() ([]byte, error) {
		var n [1]byte
		if _, err := io.ReadFull(conn, n[:]); err != nil {
			return nil, err
		}
		b := make([]byte, n[0])
		_, err := io.ReadFull(conn, b)
		return b, err
	}
	var ver [1]byte
	if _, err := io.ReadFull(conn, ver[:]); err != nil {
		return fmt.Errorf("SOCKS authentication: %w", err)
	}
	user, err := read()
	if err != nil {
		return fmt.Errorf("SOCKS authentication: %w", err)
	}
	pass, err := read()
	if err != nil {
		return fmt.Errorf("SOCKS authentication: %w", err)
	}
	userOK := subtle.ConstantTimeCompare(user, []byte(c.user))
	passOK := subtle.ConstantTimeCompare(pass, []byte(c.password))
	if ver[0] != socksAuthVersion || userOK&passOK != 1 {
		conn.Write([]byte{socksAuthVersion, 1})
		return errors.New("SOCKS authentication failed: wrong user name or password")
	}
	_, err = conn.Write([]byte{socksAuthVersion, 0})
	return err
}

// readSOCKSAddr reads the address of a request of address type atyp.
func readSOCKSAddr(conn net.Conn, atyp byte) (string, error) {
	var b []byte
	switch atyp {
	case socksAtypIPv4:
		b = make([]byte, net.IPv4len)
	case socksAtypIPv6:
		b = make([]byte, net.IPv6len)
	case socksAtypDomain:
		var n [1]byte
		if _, err := io.ReadFull(conn, n[:]); err != nil {
			return "", err
		}
		b = make([]byte, n[0])
	default:
		return "", &socksError{socksAtypNotSupported, fmt.Sprintf("SOCKS address type %d is not supported", atyp)}
	}
	if _, err := io.ReadFull(conn, b); err != nil {
		return "", fmt.Errorf("SOCKS request: %w", err)
	}
	if atyp != socksAtypDomain {
		return net.IP(b).String(), nil
	}
	if len(b) == 0 || strings.IndexByte(string(b), 0) >= 0 {
		return "", &socksError{socksHostUnreachable, fmt.Sprintf("SOCKS request for the invalid host name %q", b)}
	}
	return string(b), nil
}

// socksReply answers a CONNECT request: success when err is nil, else the
// code that fits err (a refusal of the channel by the server, mostly). It
// returns the error of writing the reply.
func socksReply(conn net.Conn, err error) error {
	code := byte(socksSucceeded)
	var oe *OpenChannelError
	switch {
	case err == nil:
	case errors.As(err, &oe) && oe.Reason == OpenAdministrativelyProhibited:
		code = socksNotAllowed
	case errors.As(err, &oe) && oe.Reason == OpenConnectFailed:
		// OpenSSH sends strerror() or gai_strerror() as the message.
		switch msg := strings.ToLower(oe.Message); {
		case strings.Contains(msg, "refused"):
			code = socksConnRefused
		case strings.Contains(msg, "network is unreachable"):
			code = socksNetworkUnreachable
		default:
			code = socksHostUnreachable
		}
	default:
		code = socksGeneralFailure
	}
	return writeSOCKSReply(conn, code)
}

// writeSOCKSReply writes a reply with the bound address 0.0.0.0:0 (a
// forwarded connection has no address of its own on this side).
func writeSOCKSReply(conn net.Conn, code byte) error {
	_, err := conn.Write([]byte{socksVersion, code, 0, socksAtypIPv4, 0, 0, 0, 0, 0, 0})
	return err
}
