// C side of package cgocallback: static trampolines with libssh's exact
// signatures that forward to the exported Go functions with an integer id.
// Each trampoline clears the upper vector state before it enters Go, and
// every libssh call package lib makes clears it before it returns
// (golibssh_vzeroupper, lib/vzeroupper.h): libssh's crypto may leave it
// dirty, and Go's SSE-encoded code then runs slowly on some CPUs.

#include <stdlib.h>

#include <libssh/libssh.h>
#include <libssh/callbacks.h>
#include <libssh/server.h>

#include "shim.h"
#include "_cgo_export.h"

static void log_trampoline(int priority, const char *function, const char *buffer, void *userdata)
{
    golibssh_vzeroupper_call();
    goLibsshLog(priority, (char *)function, (char *)buffer, (uintptr_t)userdata);
}

void golibssh_log_thread(int level, uintptr_t id)
{
    if (level <= 0 || id == 0) {
        ssh_set_log_level(SSH_LOG_NOLOG);
        ssh_set_log_callback(NULL);
        ssh_set_log_userdata(NULL);
        return;
    }
    ssh_set_log_callback(log_trampoline);
    ssh_set_log_userdata((void *)id);
    ssh_set_log_level(level);
}

/* Channel callbacks: each trampoline has libssh's exact signature and
 * forwards to the exported Go function with the integer id from userdata. */

#define ID(userdata) (((struct golibssh_channel_callbacks *)(userdata))->id)

/* The data callback of a counting struct: it notes that data arrived and
 * takes none of it, so that it stays buffered for ssh_channel_read. */
static int count_tramp(ssh_session s, ssh_channel c, void *data, uint32_t len, int is_stderr, void *u)
{
    (void)s;
    (void)c;
    (void)data;
    struct golibssh_channel_callbacks *cb = u;
    cb->data_events++;
    if (is_stderr) {
        cb->stderr_events++;
    }
    cb->held[is_stderr ? 1 : 0] = len;
    return 0;
}

static int data_tramp(ssh_session s, ssh_channel c, void *data, uint32_t len, int is_stderr, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    return goChannelData(ID(u), data, len, is_stderr);
}

static void eof_tramp(ssh_session s, ssh_channel c, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    goChannelEOF(ID(u));
}

static void close_tramp(ssh_session s, ssh_channel c, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    goChannelClose(ID(u));
}

static void signal_tramp(ssh_session s, ssh_channel c, const char *signal, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    goChannelSignal(ID(u), (char *)signal);
}

static void exit_status_tramp(ssh_session s, ssh_channel c, int status, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    goChannelExitStatus(ID(u), status);
}

static void exit_signal_tramp(ssh_session s, ssh_channel c, const char *signal, int core, const char *errmsg,
                              const char *lang, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    goChannelExitSignal(ID(u), (char *)signal, core, (char *)errmsg, (char *)lang);
}

static int pty_request_tramp(ssh_session s, ssh_channel c, const char *term, int width, int height, int pxwidth,
                             int pxheight, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    return goChannelPtyRequest(ID(u), (char *)term, width, height, pxwidth, pxheight);
}

static int shell_request_tramp(ssh_session s, ssh_channel c, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    return goChannelShellRequest(ID(u));
}

static void auth_agent_req_tramp(ssh_session s, ssh_channel c, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    goChannelAuthAgentReq(ID(u));
}

static void x11_req_tramp(ssh_session s, ssh_channel c, int single, const char *protocol, const char *cookie,
                          uint32_t screen, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    goChannelX11Req(ID(u), single, (char *)protocol, (char *)cookie, screen);
}

static int pty_window_change_tramp(ssh_session s, ssh_channel c, int width, int height, int pxwidth, int pxheight,
                                   void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    return goChannelPtyWindowChange(ID(u), width, height, pxwidth, pxheight);
}

static int exec_request_tramp(ssh_session s, ssh_channel c, const char *command, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    return goChannelExecRequest(ID(u), (char *)command);
}

static int env_request_tramp(ssh_session s, ssh_channel c, const char *name, const char *value, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    return goChannelEnvRequest(ID(u), (char *)name, (char *)value);
}

static int subsystem_request_tramp(ssh_session s, ssh_channel c, const char *subsystem, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    return goChannelSubsystemRequest(ID(u), (char *)subsystem);
}

static int write_wontblock_tramp(ssh_session s, ssh_channel c, uint32_t bytes, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    (void)c;
    return goChannelWriteWontblock(ID(u), bytes);
}

void *golibssh_channel_callbacks_new(uintptr_t id, unsigned int mask)
{
    struct golibssh_channel_callbacks *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return NULL;
    }
    struct ssh_channel_callbacks_struct *cb = &w->cb;
    ssh_callbacks_init(cb);
    w->id = id;
    cb->userdata = w;
#define SET(bit, field, fn)                                                                                            \
    if (mask & (bit)) {                                                                                                \
        cb->field = fn;                                                                                                \
    }
    SET(GOLIBSSH_CB_DATA, channel_data_function, data_tramp)
    SET(GOLIBSSH_CB_EOF, channel_eof_function, eof_tramp)
    SET(GOLIBSSH_CB_CLOSE, channel_close_function, close_tramp)
    SET(GOLIBSSH_CB_SIGNAL, channel_signal_function, signal_tramp)
    SET(GOLIBSSH_CB_EXIT_STATUS, channel_exit_status_function, exit_status_tramp)
    SET(GOLIBSSH_CB_EXIT_SIGNAL, channel_exit_signal_function, exit_signal_tramp)
    SET(GOLIBSSH_CB_PTY_REQUEST, channel_pty_request_function, pty_request_tramp)
    SET(GOLIBSSH_CB_SHELL_REQUEST, channel_shell_request_function, shell_request_tramp)
    SET(GOLIBSSH_CB_AUTH_AGENT_REQ, channel_auth_agent_req_function, auth_agent_req_tramp)
    SET(GOLIBSSH_CB_X11_REQ, channel_x11_req_function, x11_req_tramp)
    SET(GOLIBSSH_CB_PTY_WINDOW_CHANGE, channel_pty_window_change_function, pty_window_change_tramp)
    SET(GOLIBSSH_CB_EXEC_REQUEST, channel_exec_request_function, exec_request_tramp)
    SET(GOLIBSSH_CB_ENV_REQUEST, channel_env_request_function, env_request_tramp)
    SET(GOLIBSSH_CB_SUBSYSTEM_REQUEST, channel_subsystem_request_function, subsystem_request_tramp)
    SET(GOLIBSSH_CB_WRITE_WONTBLOCK, channel_write_wontblock_function, write_wontblock_tramp)
    SET(GOLIBSSH_CB_COUNT_DATA, channel_data_function, count_tramp)
#undef SET
    return w;
}

int golibssh_channel_callbacks_set(void *channel, void *cb)
{
    return ssh_set_channel_callbacks((ssh_channel)channel, (ssh_channel_callbacks)cb);
}

void golibssh_channel_callbacks_remove(void *channel, void *cb)
{
    if (channel != NULL) {
        ssh_remove_channel_callbacks((ssh_channel)channel, (ssh_channel_callbacks)cb);
    }
    free(cb);
}

/* Server side: every client message no channel callback took goes to
 * goServerMessage; 0 means it was answered, 1 asks for libssh's default
 * answer (a refusal). */
static int message_trampoline(ssh_session session, ssh_message msg, void *userdata)
{
    golibssh_vzeroupper_call();
    (void)session;
    return goServerMessage((uintptr_t)userdata, msg);
}

void *golibssh_server_callbacks_set(void *session, uintptr_t id)
{
    struct ssh_server_callbacks_struct *cb = calloc(1, sizeof(*cb));
    if (cb == NULL) {
        return NULL;
    }
    ssh_callbacks_init(cb);
    cb->userdata = (void *)id;
    if (ssh_set_server_callbacks((ssh_session)session, cb) != SSH_OK) {
        free(cb);
        return NULL;
    }
    golibssh_message_callback_set(session, id);
    return cb;
}

/* Client side: the session callbacks package libssh serves. libssh 0.10
 * hands a server's auth-agent@openssh.com channel open to
 * channel_open_request_auth_agent_function, which returns a new channel to
 * accept it or NULL to refuse it; without the callback the open is queued
 * and never answered. */
static ssh_channel auth_agent_open_tramp(ssh_session s, void *u)
{
    golibssh_vzeroupper_call();
    (void)s;
    return (ssh_channel)goSessionAuthAgentOpen((uintptr_t)u);
}

void *golibssh_session_callbacks_set(void *session, uintptr_t id)
{
    struct ssh_callbacks_struct *cb = calloc(1, sizeof(*cb));
    if (cb == NULL) {
        return NULL;
    }
    ssh_callbacks_init(cb);
    cb->userdata = (void *)id;
    cb->channel_open_request_auth_agent_function = auth_agent_open_tramp;
    if (ssh_set_callbacks((ssh_session)session, cb) != SSH_OK) {
        free(cb);
        return NULL;
    }
    return cb;
}

void golibssh_message_callback_set(void *session, uintptr_t id)
{
    ssh_set_message_callback((ssh_session)session, message_trampoline, (void *)id);
}
