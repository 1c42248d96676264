#ifndef GOLIBSSH_CGOCALLBACK_SHIM_H
#define GOLIBSSH_CGOCALLBACK_SHIM_H

#include <stdint.h>

/* Clears the upper vector state (VZEROUPPER) on amd64 CPUs with AVX, and
 * does nothing elsewhere. Package lib defines it (lib/shim.c, over
 * lib/vzeroupper.h); every trampoline calls it before it enters Go. */
void golibssh_vzeroupper_call(void);

/* Sets libssh's thread-local log level, callback and userdata for this thread. */
void golibssh_log_thread(int level, uintptr_t id);

/* Which channel callbacks a struct gets: one bit per field, in libssh 0.10's
 * struct order. A field whose bit is clear stays NULL (libssh's default). */
enum {
    GOLIBSSH_CB_DATA = 1 << 0,
    GOLIBSSH_CB_EOF = 1 << 1,
    GOLIBSSH_CB_CLOSE = 1 << 2,
    GOLIBSSH_CB_SIGNAL = 1 << 3,
    GOLIBSSH_CB_EXIT_STATUS = 1 << 4,
    GOLIBSSH_CB_EXIT_SIGNAL = 1 << 5,
    GOLIBSSH_CB_PTY_REQUEST = 1 << 6,
    GOLIBSSH_CB_SHELL_REQUEST = 1 << 7,
    GOLIBSSH_CB_AUTH_AGENT_REQ = 1 << 8,
    GOLIBSSH_CB_X11_REQ = 1 << 9,
    GOLIBSSH_CB_PTY_WINDOW_CHANGE = 1 << 10,
    GOLIBSSH_CB_EXEC_REQUEST = 1 << 11,
    GOLIBSSH_CB_ENV_REQUEST = 1 << 12,
    GOLIBSSH_CB_SUBSYSTEM_REQUEST = 1 << 13,
    GOLIBSSH_CB_WRITE_WONTBLOCK = 1 << 14,
};

/* A calloc'ed, ssh_callbacks_init'ed channel callback struct whose userdata
 * is id and whose fields are the trampolines named by mask; NULL if out of
 * memory. */
void *golibssh_channel_callbacks_new(uintptr_t id, unsigned int mask);

/* ssh_set_channel_callbacks(channel, cb). */
int golibssh_channel_callbacks_set(void *channel, void *cb);

/* ssh_remove_channel_callbacks(channel, cb), then free(cb). channel may be
 * NULL (already freed with its session): then only the struct is freed. */
void golibssh_channel_callbacks_remove(void *channel, void *cb);

/* Server side: sets golibssh's message callback (userdata id) on session,
 * and an empty server callback struct, without which libssh 0.10 never
 * offers a channel's requests to its channel callbacks. Returns the struct,
 * to free with free() after the session is freed, or NULL. */
void *golibssh_server_callbacks_set(void *session, uintptr_t id);

/* Client side: sets golibssh's message callback (userdata id) on session,
 * which then gets the channel opens libssh would otherwise queue. */
void golibssh_message_callback_set(void *session, uintptr_t id);

#endif
