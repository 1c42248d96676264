package sshdtest

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// PassphraseForTestKeys is the passphrase of the encrypted keys
// testdata/keys/id_ed25519_enc and id_rsa_pem_enc.
const PassphraseForTestKeys = "correct horse battery staple"

// TestdataDir returns the absolute path of the repository's testdata
// directory, next to the nearest go.mod above this source file (or the
// working directory, with -trimpath). It panics if there is none.
func TestdataDir() string { return testdataDir() }

var testdataDir = sync.OnceValue(func() string {
	_, file, _, _ := runtime.Caller(0)
	wd, _ := os.Getwd()
	for _, dir := range []string{filepath.Dir(file), wd} {
		for ; filepath.IsAbs(dir) && dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
			if isFile(filepath.Join(dir, "go.mod")) {
				return filepath.Join(dir, "testdata")
			}
		}
	}
	panic("sshdtest: no go.mod above the package source or the working directory")
})

// Keys returns the absolute path of testdata/keys/name, for example
// Keys("id_ed25519.pub"). git does not keep the 0600 mode of the private
// keys: OpenSSH's ssh needs a private copy.
func Keys(name string) string {
	return filepath.Join(TestdataDir(), "keys", name)
}
