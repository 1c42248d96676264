#ifndef GOLIBSSH_CGOCALLBACK_SHIM_H
#define GOLIBSSH_CGOCALLBACK_SHIM_H

#include <stdint.h>

#include <libssh/libssh.h>
#include <libssh/callbacks.h>

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
    /* Not a callback of its own: the data callback counts data messages
     * (data_events, stderr_events) and takes no data. Exclusive with
     * GOLIBSSH_CB_DATA. */
    GOLIBSSH_CB_COUNT_DATA = 1 << 15,
};

/* What golibssh_channel_callbacks_new allocates: libssh's struct first (so a
 * pointer to this is a valid ssh_channel_callbacks), then the Go id, and the
 * counts of data messages (all, and stderr's) for GOLIBSSH_CB_COUNT_DATA.
 * The struct is the callbacks' userdata. The counts are written under the
 * session lock, by libssh's packet handling, and read under it. */
struct golibssh_channel_callbacks {
    struct ssh_channel_callbacks_struct cb;
    uintptr_t id;
    uint64_t data_events;
    uint64_t stderr_events; /* of which on the stderr stream */
    /* What libssh held of each stream (stdout, stderr) after the last data
     * message on it: libssh passes the data callback all it holds. */
    uint32_t held[2];
};

/* A calloc'ed struct golibssh_channel_callbacks with id, whose libssh part
 * is ssh_callbacks_init'ed, has the struct itself as userdata and the
 * trampolines named by mask as fields; NULL if out of memory. */
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

/* Client side: sets a session callback struct (userdata id) whose only
 * callback answers the server's auth-agent@openssh.com channel opens
 * through goSessionAuthAgentOpen; every other field stays NULL (libssh's
 * defaults: keepalive replies, queued messages). It replaces any struct set
 * before. Returns the struct, to free with free() after the session is
 * freed, or NULL. */
void *golibssh_session_callbacks_set(void *session, uintptr_t id);

/* Client side: sets golibssh's message callback (userdata id) on session,
 * which then gets the channel opens libssh would otherwise queue. */
void golibssh_message_callback_set(void *session, uintptr_t id);

#endif
