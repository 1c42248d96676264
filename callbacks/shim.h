#ifndef GOLIBSSH_CALLBACKS_SHIM_H
#define GOLIBSSH_CALLBACKS_SHIM_H

#include <stdint.h>

/* Sets libssh's thread-local log level, callback and userdata for this thread. */
void golibssh_log_thread(int level, uintptr_t id);

#endif
