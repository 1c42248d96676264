// C side of package callbacks: static trampolines with libssh's exact
// signatures that forward to the exported Go functions with an integer id.

#include <libssh/libssh.h>
#include <libssh/callbacks.h>

#include "shim.h"
#include "_cgo_export.h"

static void log_trampoline(int priority, const char *function, const char *buffer, void *userdata)
{
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
