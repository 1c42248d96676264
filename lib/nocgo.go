//go:build !cgo

package lib

// This package binds the C library libssh, so it cannot be built without cgo.
// The line below turns a CGO_ENABLED=0 build into an error that says so.
var _ int = "github.com/golibssh/libssh needs cgo and libssh (libssh-dev >= 0.10): build with CGO_ENABLED=1 and a C compiler"
