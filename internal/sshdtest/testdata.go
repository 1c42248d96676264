package sshdtest

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// PassphraseForTestKeys is the passphrase of the encrypted keys
// testdata/keys/id_ed25519_enc and testdata/keys/id_rsa_pem_enc.
const PassphraseForTestKeys = "correct horse battery staple"

// TestdataDir returns the absolute path of the repository's testdata
// directory. The repository root is the nearest directory containing go.mod
// above this package's source file, or above the working directory when
// the source location is unknown (as with -trimpath). It panics if no
// go.mod is found.
func TestdataDir() string {
	return testdataDir()
}

var testdataDir = sync.OnceValue(func() string {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for {
			if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
				return filepath.Join(dir, "testdata")
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	panic("sshdtest: cannot locate the repository root (no go.mod above the package source or working directory)")
})

// Keys returns the absolute path of testdata/keys/<name>, for example
// Keys("id_ed25519") or Keys("id_ed25519.pub"). Note that git does not keep
// the 0600 mode of the private keys; copy a key to a private file before
// handing it to OpenSSH's ssh client.
func Keys(name string) string {
	return filepath.Join(TestdataDir(), "keys", name)
}
