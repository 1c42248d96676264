package lib

/*
#include <stdlib.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include "vzeroupper.h"

// ssh_message_auth_interactive_request, then golibssh_vzeroupper (see
// vzeroupper.h): it encrypts the request it sends.
static inline int golibssh_message_auth_interactive_request(ssh_message msg, const char *name,
        const char *instruction, unsigned int num_prompts, const char **prompts, char *echo)
{
    int r = ssh_message_auth_interactive_request(msg, name, instruction, num_prompts, prompts, echo);
    golibssh_vzeroupper();
    return r;
}
*/
import "C"

import "unsafe"

// Bind is an ssh_bind: the server's host keys and settings, from which
// accepted sessions copy theirs. The zero value is NULL.
type Bind struct{ p C.ssh_bind }

// IsNil reports whether b is NULL.
func (b Bind) IsNil() bool { return b.p == nil }

// Message is an ssh_message, a client's request to a server-side session,
// valid only during the message callback that received it. The zero value
// is NULL.
type Message struct{ p C.ssh_message }

// IsNil reports whether m is NULL.
func (m Message) IsNil() bool { return m.p == nil }

// Raw returns the C pointer of m for package cgocallback.
func (m Message) Raw() unsafe.Pointer { return unsafe.Pointer(m.p) }

// MessageFromRaw turns a pointer handed to a message callback by libssh into
// a Message.
func MessageFromRaw(p unsafe.Pointer) Message { return Message{p: C.ssh_message(p)} }

// MessageAuthInteractiveRequest calls ssh_message_auth_interactive_request:
// it sends one keyboard-interactive round of prompts; echo[i] says whether
// the answer to prompts[i] may be shown. len(echo) must be len(prompts).
func MessageAuthInteractiveRequest(m Message, name, instruction string, prompts []string, echo []bool) int {
	n := len(prompts)
	if len(echo) != n {
		return SSH_ERROR
	}
	cName, cInstr := C.CString(name), C.CString(instruction)
	defer C.free(unsafe.Pointer(cName))
	defer C.free(unsafe.Pointer(cInstr))
	// C arrays in C memory: cgo forbids Go memory holding C pointers there.
	size := max(n, 1)
	cPrompts := unsafe.Slice((**C.char)(C.calloc(C.size_t(size), C.size_t(unsafe.Sizeof((*C.char)(nil))))), size)
	cEcho := unsafe.Slice((*C.char)(C.calloc(C.size_t(size), 1)), size)
	defer C.free(unsafe.Pointer(&cPrompts[0]))
	defer C.free(unsafe.Pointer(&cEcho[0]))
	for i, p := range prompts {
		cPrompts[i] = C.CString(p)
		defer C.free(unsafe.Pointer(cPrompts[i]))
		if echo[i] {
			cEcho[i] = 1
		}
	}
	return int(C.golibssh_message_auth_interactive_request(m.p, cName, cInstr, C.uint(n), &cPrompts[0], &cEcho[0]))
}
