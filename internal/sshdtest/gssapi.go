package sshdtest

import (
	"fmt"
	"os"
	"path/filepath"
)

// GSSAPIOptions enables GSSAPI authentication ("gssapi-with-mic", in
// practice Kerberos) in sshd. See [Options.GSSAPI].
//
// The package internal/kdctest provides a KDC to go with it: create the
// user's principal (USER@REALM, where USER is [Server.User]) and a host
// service principal such as "host/sshd.test", export the service key to
// a keytab, and pass that keytab and the KDC's Env here. A client then
// authenticates with a ticket from kinit, naming the service host (for
// OpenSSH's ssh, -o GSSAPIServerIdentity=sshd.test), since sshd accepts
// any principal in the keytab (GSSAPIStrictAcceptorCheck no) rather than
// only host/<its hostname>. sshd maps the client principal to a local
// user with the Kerberos library's rules, which by default accept
// USER@<default realm> for the local user USER (unless that user has a
// ~/.k5login saying otherwise).
type GSSAPIOptions struct {
	// Keytab is the path of the keytab holding the keys of the service
	// principal(s) sshd accepts. It is required and must exist when
	// Start is called; sshd gets it as KRB5_KTNAME=FILE:<absolute path>.
	Keytab string

	// Env holds the Kerberos environment entries for sshd, at least
	// KRB5_CONFIG naming a krb5.conf whose default realm is the realm of
	// the keytab and whose [realms] section finds its KDC; for example
	// the result of kdctest's KDC.Env. KRB5RCACHETYPE=none is advisable
	// too (kdctest includes it): sshd then keeps no replay cache file.
	Env []string
}

// setupGSSAPI checks g and returns the environment entries and
// sshd_config lines that enable GSSAPI authentication.
func setupGSSAPI(g *GSSAPIOptions) (env, config []string, err error) {
	if g.Keytab == "" {
		return nil, nil, fmt.Errorf("sshdtest: GSSAPI.Keytab is empty")
	}
	keytab, err := filepath.Abs(g.Keytab)
	if err != nil {
		return nil, nil, fmt.Errorf("sshdtest: resolving GSSAPI keytab: %w", err)
	}
	if _, err := os.Stat(keytab); err != nil {
		return nil, nil, fmt.Errorf("sshdtest: GSSAPI keytab: %w", err)
	}
	env = append([]string{"KRB5_KTNAME=FILE:" + keytab}, g.Env...)
	config = []string{
		"GSSAPIAuthentication yes",
		"GSSAPIStrictAcceptorCheck no",
	}
	return env, config, nil
}
