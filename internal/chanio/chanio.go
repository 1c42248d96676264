// Package chanio gives this module's other packages (package sftp) the
// reads of a libssh.Channel that package libssh does not export.
package chanio

import "io"

// ReadAtLeast is io.ReadAtLeast; package libssh makes it wait on a
// *libssh.Channel until the channel holds what is missing, rather than
// for each piece of data that arrives.
var ReadAtLeast = io.ReadAtLeast
