package lib

/*
#include <stdint.h>
#include <sys/types.h>
#include "shim.h"
*/
import "C"

import (
	"syscall"
	"unsafe"
)

// Read-ahead under libssh's socket reads (readahead.c, docs/design.md
// "Reading the socket"). None of these run libssh's crypto, so they need
// no golibssh_vzeroupper.

// ReadaheadRegister gives libssh's reads of fd a buffer and returns its id,
// or 0 when this libssh cannot have one. Call it, and ReadaheadForget, with
// the session that reads fd locked.
func ReadaheadRegister(fd int) uint64 { return uint64(C.golibssh_readahead_register(C.int(fd))) }

// ReadaheadForget drops the buffer id of fd, if fd still has it, and what it
// holds. Call it before closing fd yourself (libssh's close of fd drops the
// buffer too).
func ReadaheadForget(fd int, id uint64) { C.golibssh_readahead_forget(C.int(fd), C.uint64_t(id)) }

// ReadaheadBuffered is how many bytes fd's buffer holds.
func ReadaheadBuffered(fd int) int { return int(C.golibssh_readahead_buffered(C.int(fd))) }

// ReadaheadStats returns the recv calls that filled a buffer and the reads
// of libssh's served from one since the process started, and the buffers
// given and not yet dropped.
func ReadaheadStats() (fills, served uint64, live int) {
	var f, s C.uint64_t
	var l C.long
	C.golibssh_readahead_stats(&f, &s, &l)
	return uint64(f), uint64(s), int(l)
}

// ReadaheadRecv is a recv of fd as libssh makes it, for tests.
func ReadaheadRecv(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := C.golibssh_readahead_recv(C.int(fd), unsafe.Pointer(&p[0]), C.size_t(len(p)))
	if n < 0 {
		return 0, errnoOf(err)
	}
	return int(n), nil
}

// ReadaheadPoll is a poll of fd for input as libssh makes it, for tests: the
// events returned (0 when none before timeoutMs).
func ReadaheadPoll(fd int, timeoutMs int) (int, error) {
	rc, err := C.golibssh_readahead_poll(C.int(fd), C.int(timeoutMs))
	if rc < 0 {
		return 0, errnoOf(err)
	}
	return int(rc), nil
}

func errnoOf(err error) error {
	if e, ok := err.(syscall.Errno); ok && e != 0 {
		return e
	}
	return syscall.EIO
}
