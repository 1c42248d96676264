package sftp

import (
	"io/fs"
	"sync"
	"syscall"
)

// umask returns the process's umask (read once: reading sets it).
var umask = sync.OnceValue(func() fs.FileMode {
	m := syscall.Umask(0o022)
	syscall.Umask(m)
	return fs.FileMode(m)
})
