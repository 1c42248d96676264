package sshdtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// KDC is a throwaway MIT Kerberos KDC on 127.0.0.1 with its own database
// for the realm [KDC.Realm], for GSSAPI authentication (see
// [GSSAPIOptions]). Its krb5.conf maps the domain ".test" to the realm and
// turns off DNS lookups and host name canonicalization, so that a service
// principal such as host/sshd.test serves a server reached at 127.0.0.1.
type KDC struct {
	Dir           string // the configuration and database
	Realm         string // TEST.LOCAL
	ConfigPath    string // krb5.conf, for clients and servers (KRB5_CONFIG)
	KDCConfigPath string // kdc.conf (KRB5_KDC_PROFILE)
	Port          int    // for UDP and TCP

	daemons
	kadmin, kinit string
}

// NewKDC creates a Kerberos database in t.TempDir() and starts krb5kdc in
// the foreground on a free port, once it logs that it serves. An error
// fails t; a cleanup stops the KDC and, if the test failed, writes its log
// to the test log.
func NewKDC(t testing.TB) *KDC {
	t.Helper()
	k := &KDC{Dir: t.TempDir(), Realm: "TEST.LOCAL"}
	if !plainPath(k.Dir) {
		k.Dir = shortTempDir(t)
	}
	if err := k.start(); err != nil {
		k.close()
		t.Fatalf("sshdtest: KDC: %v", err)
	}
	closeAtCleanup(t, "KDC", k.Log, k.close)
	return k
}

func (k *KDC) start() (err error) {
	var tools [4]string
	for i, name := range []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit"} {
		if tools[i], err = lookTool(name, "krb5-kdc krb5-admin-server krb5-user"); err != nil {
			return err
		}
	}
	k.kadmin, k.kinit = tools[2], tools[3]
	k.ConfigPath, k.KDCConfigPath = filepath.Join(k.Dir, "krb5.conf"), filepath.Join(k.Dir, "kdc.conf")
	// An empty ACL: nothing runs kadmind, but the realm names the file.
	if err = os.WriteFile(filepath.Join(k.Dir, "kadm5.acl"), nil, 0o600); err != nil {
		return err
	}
	if err = k.init(); err != nil {
		return err
	}
	created := false
	k.Port, err = k.listen("commencing operation", func(port int) (*exec.Cmd, error) {
		if err := k.writeConfig(port); err != nil {
			return nil, err
		}
		if !created { // kdb5_util reads where from kdc.conf
			if _, err := run(k.env(), "", tools[1], "create", "-s", "-r", k.Realm, "-P", "kdc master key"); err != nil {
				return nil, err
			}
			created = true
		}
		cmd := exec.Command(tools[0], "-r", k.Realm, "-n") // -n: in the foreground
		cmd.Env = k.env()
		return cmd, nil
	})
	return err
}

// writeConfig writes krb5.conf and kdc.conf for a KDC on port; the KDC
// logs to its standard error.
func (k *KDC) writeConfig(port int) error {
	krb5 := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	udp_preference_limit = 1
[realms]
	%[1]s = {
		kdc = 127.0.0.1:%[2]d
	}
[domain_realm]
	.test = %[1]s
	sshd.test = %[1]s
`, k.Realm, port)
	kdc := fmt.Sprintf(`[kdcdefaults]
	kdc_listen = 127.0.0.1:%[2]d
	kdc_tcp_listen = 127.0.0.1:%[2]d
[realms]
	%[1]s = {
		database_name = %[3]s/principal
		key_stash_file = %[3]s/stash
		acl_file = %[3]s/kadm5.acl
	}
[logging]
	kdc = STDERR
`, k.Realm, port, k.Dir)
	if err := os.WriteFile(k.ConfigPath, []byte(krb5), 0o600); err != nil {
		return err
	}
	return os.WriteFile(k.KDCConfigPath, []byte(kdc), 0o600)
}

// Env returns the environment that makes Kerberos programs and libraries
// use the KDC: KRB5_CONFIG, KRB5_KDC_PROFILE and KRB5RCACHETYPE=none (no
// replay cache file shared by all tests). Clients add KRB5CCNAME.
func (k *KDC) Env() []string {
	return []string{"KRB5_CONFIG=" + k.ConfigPath, "KRB5_KDC_PROFILE=" + k.KDCConfigPath, "KRB5RCACHETYPE=none"}
}

// env is the environment of the programs the KDC runs, with the C locale,
// whose messages are checked.
func (k *KDC) env() []string {
	return append(append(os.Environ(), k.Env()...), "LC_ALL=C")
}

// AddPrincipal creates the principal name (the realm may be omitted) with
// the given password, for [KDC.Kinit].
func (k *KDC) AddPrincipal(name, password string) error {
	return k.addPrincipal(name, "-pw "+quote(password))
}

// AddServicePrincipal creates the principal name with a random key, for a
// service such as sshd ("host/sshd.test"); see [KDC.Keytab].
func (k *KDC) AddServicePrincipal(name string) error {
	return k.addPrincipal(name, "-randkey")
}

func (k *KDC) addPrincipal(name, keyOption string) error {
	out, err := k.query("addprinc " + keyOption + " " + quote(name))
	if err == nil && !strings.Contains(out, "created.") { // kadmin.local exits with 0 anyway
		err = fmt.Errorf("adding principal %s failed:\n%s", name, out)
	}
	return err
}

// Keytab adds the keys of the given principals, unchanged, to the keytab
// file path, for example for GSSAPIOptions.Keytab.
func (k *KDC) Keytab(path string, principals ...string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	q := "ktadd -k " + quote("WRFILE:"+abs) + " -norandkey"
	for _, p := range principals {
		q += " " + quote(p)
	}
	out, err := k.query(q)
	if err == nil && (len(principals) == 0 || strings.Count(out, "Entry for principal") < len(principals)) {
		err = fmt.Errorf("adding %v to keytab %s failed:\n%s", principals, path, out)
	}
	return err
}

// Kinit gets a ticket-granting ticket for principal with password into the
// file ticket cache ccache, for clients with KRB5CCNAME=FILE:ccache.
func (k *KDC) Kinit(principal, password, ccache string) error {
	abs, err := filepath.Abs(ccache)
	if err == nil {
		_, err = run(append(k.env(), "KRB5CCNAME=FILE:"+abs), password+"\n", k.kinit, principal)
	}
	return err
}

// query runs one kadmin.local query.
func (k *KDC) query(q string) (string, error) {
	if strings.ContainsAny(q, "\n\r\x00") {
		return "", fmt.Errorf("sshdtest: a line break or NUL in %q", q)
	}
	return run(k.env(), "", k.kadmin, "-r", k.Realm, "-q", q)
}

// quote quotes s as one argument of a kadmin.local query.
func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
