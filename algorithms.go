package libssh

import (
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/golibssh/libssh/lib"
)

// algoKind is one of the algorithm lists a client offers in its key
// exchange.
type algoKind int

const (
	algoKex algoKind = iota
	algoHostKey
	algoCipher
	algoMAC
	algoCompression
	numAlgoKinds
)

// algoKinds describes each list: the option that sets it, what its entries
// are called, the libssh options it sets (both directions get the same
// list), and the names libssh may know.
//
// libssh 0.10 exports no function that lists what it supports
// (ssh_kex_get_supported_method is internal), so the candidates below are
// the union of the names in libssh's own tables (src/kex.c of 0.10 and
// 0.11, whatever the build options), and supportedAlgorithms asks the
// libssh in use which of them it accepts: ssh_options_set refuses a list
// in which it knows no name. Host key algorithms leave out the certificate
// types: libssh 0.10 accepts them as an option but drops them from the
// key exchange (ssh_client_select_hostkeys).
var algoKinds = [numAlgoKinds]struct {
	option, what string
	libOpts      []int
	candidates   []string
}{
	algoKex: {"WithKeyExchanges", "key exchange", []int{lib.SSH_OPTIONS_KEY_EXCHANGE}, []string{
		"mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com",
		"curve25519-sha256", "curve25519-sha256@libssh.org",
		"ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
		"diffie-hellman-group18-sha512", "diffie-hellman-group16-sha512",
		"diffie-hellman-group-exchange-sha256", "diffie-hellman-group14-sha256",
		"diffie-hellman-group-exchange-sha1", "diffie-hellman-group14-sha1", "diffie-hellman-group1-sha1",
	}},
	algoHostKey: {"WithHostKeyAlgorithms", "host key algorithm", []int{lib.SSH_OPTIONS_HOSTKEYS}, []string{
		"ssh-ed25519", "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp256",
		"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
		"rsa-sha2-512", "rsa-sha2-256", "ssh-rsa", "ssh-dss",
	}},
	algoCipher: {"WithCiphers", "cipher", []int{lib.SSH_OPTIONS_CIPHERS_C_S, lib.SSH_OPTIONS_CIPHERS_S_C}, []string{
		"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
		"aes256-ctr", "aes192-ctr", "aes128-ctr", "aes256-cbc", "aes192-cbc", "aes128-cbc",
		"blowfish-cbc", "3des-cbc", "none",
	}},
	algoMAC: {"WithMACs", "MAC", []int{lib.SSH_OPTIONS_HMAC_C_S, lib.SSH_OPTIONS_HMAC_S_C}, []string{
		"hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-sha1-etm@openssh.com",
		"hmac-sha2-256", "hmac-sha2-512", "hmac-sha1", "none",
	}},
	algoCompression: {"WithCompression", "compression", []int{lib.SSH_OPTIONS_COMPRESSION_C_S, lib.SSH_OPTIONS_COMPRESSION_S_C}, []string{
		"none", "zlib@openssh.com", "zlib",
	}},
}

// supportedAlgorithms returns, for each kind, the candidates the libssh in
// use accepts (in FIPS mode, the ones it allows there), asking it once per
// process on a session of its own.
//
//lockcheck:ok the probe session is never shared
var supportedAlgorithms = sync.OnceValue(func() (supported [numAlgoKinds][]string) {
	p := lib.New()
	if p.IsNil() {
		return supported
	}
	defer lib.Free(p)
	for k, kind := range algoKinds {
		for _, name := range kind.candidates {
			if lib.OptionsSetString(p, kind.libOpts[0], name) == lib.SSH_OK {
				supported[k] = append(supported[k], name)
			}
		}
	}
	return supported
})

// AlgorithmError is the error of an algorithm option ([WithCiphers],
// [WithKeyExchanges], [WithHostKeyAlgorithms], [WithMACs],
// [WithCompression]) given a name libssh does not support, or no name at
// all. [NewSession] returns it.
type AlgorithmError struct {
	Option    string   // the option, such as "WithCiphers"
	Name      string   // the name libssh does not support; "" for an empty list
	Supported []string // what the libssh in use supports for this option
}

func (e *AlgorithmError) Error() string {
	if e == nil {
		return "libssh: algorithm error (nil *AlgorithmError)"
	}
	what := "algorithm"
	for _, k := range algoKinds {
		if k.option == e.Option {
			what = k.what
		}
	}
	option := ""
	if e.Option != "" {
		option = " (" + e.Option + ")"
	}
	var msg string
	if e.Name == "" {
		msg = "libssh: empty " + what + " list" + option
	} else {
		msg = "libssh: " + what + " " + strconv.Quote(e.Name) + " is not supported" + option
	}
	if len(e.Supported) == 0 {
		return msg + "; libssh supports none"
	}
	return msg + "; libssh supports " + strings.Join(e.Supported, ", ")
}

// algorithmsOption is the option that sets the list of kind k.
func algorithmsOption(k algoKind, names []string) Option {
	return func(c *config) error {
		supported := supportedAlgorithms()[k]
		fail := func(name string) error {
			return &AlgorithmError{Option: algoKinds[k].option, Name: name, Supported: slices.Clone(supported)}
		}
		if len(names) == 0 {
			return fail("")
		}
		for _, name := range names {
			if !slices.Contains(supported, name) {
				return fail(name)
			}
		}
		c.algorithms[k] = slices.Clone(names)
		return nil
	}
}

// WithCiphers sets the ciphers the session offers, most preferred first,
// for both directions (default: libssh's list, which starts
// chacha20-poly1305@openssh.com, aes256-gcm@openssh.com,
// aes128-gcm@openssh.com). A name libssh does not support, or an empty
// list, makes [NewSession] fail with an [*AlgorithmError] that lists what
// it supports. The key exchange takes the first of the client's names that
// the server also has; with none in common, connecting fails. With
// [WithProcessConfig], ssh_config's Ciphers (KexAlgorithms,
// HostKeyAlgorithms, MACs, Compression) sets the list too, and these
// options override it.
//
// Uses SSH_OPTIONS_CIPHERS_C_S and SSH_OPTIONS_CIPHERS_S_C.
func WithCiphers(names ...string) Option { return algorithmsOption(algoCipher, names) }

// WithKeyExchanges sets the key exchange methods the session offers, most
// preferred first (default: libssh's list, curve25519-sha256 first). libssh
// adds its extension markers (ext-info-c, kex-strict-c-v00@openssh.com)
// itself. Errors as for [WithCiphers].
//
// Uses SSH_OPTIONS_KEY_EXCHANGE.
func WithKeyExchanges(names ...string) Option { return algorithmsOption(algoKex, names) }

// WithHostKeyAlgorithms sets the host key algorithms the session accepts,
// most preferred first (default: libssh's list, ssh-ed25519 first; ssh-rsa
// with SHA-1 and ssh-dss only when named). libssh moves the algorithms of
// the keys known_hosts holds for the host to the front of the list (of
// those named here), so that a known key is what the server shows.
// Certificate types are not offered: libssh 0.10 cannot check a host
// certificate in the key exchange. Errors as for [WithCiphers].
//
// Uses SSH_OPTIONS_HOSTKEYS.
func WithHostKeyAlgorithms(names ...string) Option { return algorithmsOption(algoHostKey, names) }

// WithMACs sets the message authentication codes the session offers, most
// preferred first, for both directions (default: libssh's list,
// hmac-sha2-256-etm@openssh.com first). With an AEAD cipher
// (chacha20-poly1305@openssh.com, aes*-gcm@openssh.com) the cipher
// authenticates the data itself and this list is not used. Errors as for
// [WithCiphers].
//
// Uses SSH_OPTIONS_HMAC_C_S and SSH_OPTIONS_HMAC_S_C.
func WithMACs(names ...string) Option { return algorithmsOption(algoMAC, names) }

// WithCompression sets the compression methods the session offers, most
// preferred first, for both directions: "none", "zlib@openssh.com" (zlib
// from the end of authentication on, what OpenSSH offers) and "zlib" (from
// the start); libssh built without zlib supports "none" alone. The default
// is libssh's "none,zlib@openssh.com": no compression unless the server
// insists. WithCompression("zlib@openssh.com", "none") asks for
// compression and still connects to a server without it. Errors as for
// [WithCiphers].
//
// Uses SSH_OPTIONS_COMPRESSION_C_S and SSH_OPTIONS_COMPRESSION_S_C.
func WithCompression(names ...string) Option { return algorithmsOption(algoCompression, names) }

// setAlgorithmsLocked sets the algorithm lists the options gave.
func (st *sessionState) setAlgorithmsLocked() error {
	for k, names := range st.cfg.algorithms {
		if names == nil {
			continue
		}
		list := strings.Join(names, ",")
		for _, opt := range algoKinds[k].libOpts {
			if lib.OptionsSetString(st.p, opt, list) != lib.SSH_OK {
				return st.errorLocked("set "+algoKinds[k].what+" list", "libssh refused "+strconv.Quote(list))
			}
		}
	}
	return nil
}

// NegotiatedAlgorithms are the algorithms a session's key exchange chose.
type NegotiatedAlgorithms struct {
	// KeyExchange is the key exchange method, such as "curve25519-sha256".
	KeyExchange string
	// HostKey is the host key algorithm the server signed the exchange
	// with, such as "ssh-ed25519" or "rsa-sha2-512".
	HostKey string
	// Read is what protects the data this side receives (from the server,
	// for a client session), Write what protects the data it sends.
	Read, Write DirectionAlgorithms
}

// DirectionAlgorithms are the algorithms of one direction of a connection.
type DirectionAlgorithms struct {
	// Cipher is the cipher, such as "chacha20-poly1305@openssh.com".
	Cipher string
	// MAC is the message authentication code, such as
	// "hmac-sha2-256-etm@openssh.com". With an AEAD cipher it is libssh's
	// name for the cipher's own authentication: "aead-poly1305" for
	// chacha20-poly1305@openssh.com, "aead-gcm" for the GCM ciphers
	// (OpenSSH's logs say "<implicit>").
	MAC string
	// Compression is "none", "zlib@openssh.com" or "zlib".
	Compression string
}

// negotiation is what libssh logged when it chose the algorithms: the ten
// name-lists of a KEXINIT, in their protocol order (key exchange, host key,
// cipher client to server, cipher server to client, MAC c2s, MAC s2c,
// compression c2s, compression s2c, languages c2s, s2c).
type negotiation [10]string

// negotiatedPrefix starts the line ssh_kex_select_methods logs with what it
// chose ("Negotiated kex,hostkey,cipher,..."): at SSH_LOG_INFO in 0.10, at
// SSH_LOG_DEBUG later. libssh has no getter for the host key algorithm or
// the compression, so the session reads them there (captureLevel).
const negotiatedPrefix = "Negotiated "

// captureLevel is the log level the session sets on the lock holder's
// thread until the key exchange chose its algorithms, whatever the user's
// level (what the user did not ask for is not passed on).
const captureLevel = lib.SSH_LOG_DEBUG

// parseNegotiation reads the line ssh_kex_select_methods logs.
func parseNegotiation(function, message string) (negotiation, bool) {
	var n negotiation
	// libssh puts the function's name before a custom logger's message.
	message = strings.TrimPrefix(message, function+": ")
	rest, ok := strings.CutPrefix(message, negotiatedPrefix)
	if !ok || function != "ssh_kex_select_methods" {
		return n, false
	}
	fields := strings.Split(rest, ",")
	if len(fields) != len(n) {
		return n, false
	}
	copy(n[:], fields)
	return n, true
}

// errNoAlgorithms: Algorithms before the key exchange.
var errNoAlgorithms = errors.New("libssh: no algorithms negotiated yet")

// Algorithms returns the algorithms the key exchange chose. On a session
// that is not connected it returns an error matching [ErrNotConnected] (or
// [ErrClosed], or why the connection broke).
//
// The key exchange method, the ciphers and the MACs come from libssh's
// getters, and so follow a later re-exchange. The host key algorithm and
// the compression have no getter in libssh 0.10: the session reads them
// (and the key exchange method, for the group-exchange methods the getter
// does not name) from the line libssh logs when it chooses them, during
// the first key exchange, whatever log level was asked for. A session made
// by [WrapSession] has them "" (its key exchange is not watched).
//
// Uses ssh_get_kex_algo, ssh_get_cipher_in, ssh_get_cipher_out,
// ssh_get_hmac_in and ssh_get_hmac_out.
func (s *Session) Algorithms() (NegotiatedAlgorithms, error) {
	var a NegotiatedAlgorithms
	st, err := s.begin()
	if err != nil {
		return a, err
	}
	defer st.unlock()
	defer runtime.KeepAlive(s)
	if err := st.usableLocked(); err != nil {
		return a, err
	}
	n := st.negotiated
	a.KeyExchange = lib.GetKexAlgo(st.p)
	if a.KeyExchange == "" {
		a.KeyExchange = n[0]
	}
	a.HostKey = n[1]
	a.Read = DirectionAlgorithms{Cipher: lib.GetCipherIn(st.p), MAC: lib.GetHmacIn(st.p), Compression: n[7]}
	a.Write = DirectionAlgorithms{Cipher: lib.GetCipherOut(st.p), MAC: lib.GetHmacOut(st.p), Compression: n[6]}
	if st.server != nil {
		a.Read.Compression, a.Write.Compression = n[6], n[7]
	}
	if a.Read.Cipher == "" || a.Write.Cipher == "" {
		return NegotiatedAlgorithms{}, errNoAlgorithms
	}
	return a, nil
}
