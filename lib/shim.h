/*
 * Hand-written C helpers for package lib. Each one exists because the libssh
 * call it wraps cannot be called safely or conveniently from Go directly:
 * ssh_options_set takes a void* whose pointee type depends on the option,
 * some results need two frees, the pump loop must run without returning to Go
 * between rounds, and key import must tell an encrypted key from a broken one.
 * mklib reads the prototypes below and generates their Go wrappers.
 */
#ifndef GOLIBSSH_SHIM_H
#define GOLIBSSH_SHIM_H

#include <stdint.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

/* ssh_options_set with the pointee type each option expects. */
int golibssh_options_set_string(ssh_session session, enum ssh_options_e type, const char *value);
int golibssh_options_set_null(ssh_session session, enum ssh_options_e type);
int golibssh_options_set_int(ssh_session session, enum ssh_options_e type, int value);
int golibssh_options_set_uint(ssh_session session, enum ssh_options_e type, unsigned int value);
int golibssh_options_set_long(ssh_session session, enum ssh_options_e type, long value);
int golibssh_options_set_bool(ssh_session session, enum ssh_options_e type, int value);

/* ssh_options_get: a malloc'ed copy of the value, or NULL when unset. */
char *golibssh_options_get(ssh_session session, enum ssh_options_e type);

/* ssh_options_get_port: the port, or 0 on error. */
unsigned int golibssh_options_get_port(ssh_session session);

/*
 * Runs ssh_event_dopoll(event, 0) until it finds nothing ready (the socket
 * drained), at most max_rounds times. Returns 0 when the socket was drained,
 * 1 when input may remain after max_rounds, SSH_ERROR when the event loop
 * failed (socket closed).
 */
int golibssh_pump(ssh_event event, int max_rounds);

/*
 * Lets libssh send buffered output: nothing at all when libssh holds none
 * (not even a system call), else one ssh_blocking_flush round with timeout
 * 0, which sends what the socket takes and reads input that is ready.
 * Returns 0 when nothing is left to send, 1 when output is left (the socket
 * is full: wait for it to become writable), SSH_ERROR when the round
 * failed. libssh's SSH_WRITE_PENDING is no substitute for the first test:
 * it stays set after every send until a poll reports writability, and
 * libssh holds every packet until then. With prime, when nothing is left,
 * one ssh_event_dopoll(event, 0) round lets that poll happen, so that the
 * next packet (a goodbye before the socket closes) is sent at once; it
 * returns 1 if the poll did not find the socket writable.
 */
int golibssh_flush(ssh_event event, ssh_session session, int prime);

/*
 * A zeroed ssh_counter for ssh_set_counters (NULL when out of memory), and
 * its release.
 */
ssh_counter golibssh_counter_new(void);
void golibssh_counter_free(ssh_counter counter);

/* ssh_get_server_publickey: the key (free with ssh_key_free), or NULL. */
ssh_key golibssh_get_server_publickey(ssh_session session);

/* Fingerprints of a key's SHA256 hash: "SHA256:<base64>" and colon hex. */
char *golibssh_key_fingerprint_sha256(ssh_key key);
char *golibssh_key_hexa_sha256(ssh_key key);

/* ssh_pki_export_pubkey_base64: the base64 blob, or NULL. */
char *golibssh_key_base64(ssh_key key);

/*
 * ssh_pki_import_privkey_file / _base64. passphrase may be NULL. *encrypted is
 * set to 1 when libssh found the key encrypted and needed a passphrase it did
 * not have or that did not decrypt it. Returns NULL on failure.
 */
ssh_key golibssh_import_privkey_file(const char *path, const char *passphrase, int *encrypted);
ssh_key golibssh_import_privkey_base64(const char *b64, const char *passphrase, int *encrypted);

/*
 * ssh_userauth_kbdint_getprompt with the bounds check libssh 0.10 gets wrong
 * (it accepts i == nprompts and reads past the array): NULL when i is out of
 * range. *echo is set to 1 when the answer may be shown.
 */
const char *golibssh_kbdint_prompt(ssh_session session, unsigned int i, int *echo);

/*
 * Server side. golibssh_bind_import_key gives the bind a copy of key
 * (SSH_BIND_OPTIONS_IMPORT_KEY takes ownership of what it gets). The
 * message accessors below wrap the ones libssh 0.10 marks deprecated
 * without a replacement for the message-callback style.
 */
int golibssh_bind_import_key(ssh_bind bind, ssh_key key);
const char *golibssh_message_auth_password(ssh_message msg);
ssh_key golibssh_message_auth_pubkey(ssh_message msg);
int golibssh_message_auth_publickey_state(ssh_message msg);

/*
 * ssh_channel_read_nonblocking that lets the channel's receive window grow:
 * reads at most len bytes of the stream into dest and returns what
 * ssh_channel_read_nonblocking would (bytes read, 0 when nothing is buffered,
 * SSH_EOF, SSH_ERROR). When everything the stream has buffered fits in dest,
 * it asks libssh 0.10's ssh_channel_read_timeout for window bytes instead
 * (or for what is buffered, when that is more), which first grows the window
 * until buffered + window >= count (one SSH_MSG_CHANNEL_WINDOW_ADJUST) and
 * then copies min(buffered, count) = buffered bytes: with data buffered it
 * handles no packets in between, so it never writes past len. The window
 * never grows past that, however large dest is. libssh 0.11 and later ignore
 * the count for the window (it is fixed there).
 */
int golibssh_channel_read_window(ssh_channel channel, void *dest, uint32_t len, int is_stderr, uint32_t window);

/* free(s) after overwriting it with zeros (for C copies of secrets). */
void golibssh_burn_free(char *s);

/*
 * golibssh_vzeroupper (vzeroupper.h) as a function, for package
 * cgocallback's trampolines: C code outside lib's directory calls this
 * instead of including the header.
 */
void golibssh_vzeroupper_call(void);

/*
 * Read-ahead under libssh's 4 KiB socket reads (readahead.c). register
 * gives fd a buffer that libssh's recv and poll use, and returns its id (0
 * when this libssh cannot have one: then nothing changes); forget drops
 * that buffer, if fd still has it, and what it holds, before its owner
 * closes the descriptor (libssh's own close drops it too). Both run with
 * the session that reads fd locked. buffered is what fd's buffer holds;
 * stats counts the recv calls that filled a buffer, the reads served from
 * one and the buffers given and not yet dropped. recv and poll are
 * libssh's view of fd, for tests (-1 and ENOSYS without read-ahead).
 */
uint64_t golibssh_readahead_register(int fd);
void golibssh_readahead_forget(int fd, uint64_t id);
int golibssh_readahead_buffered(int fd);
void golibssh_readahead_stats(uint64_t *fills, uint64_t *served, long *live);
ssize_t golibssh_readahead_recv(int fd, void *dest, size_t len);
int golibssh_readahead_poll(int fd, int timeout_ms);

/*
 * While on (on the calling thread), libssh's polls ask the kernel about
 * writability also for sockets whose buffer holds input, instead of
 * answering from memory (for golibssh_flush; not part of package lib's Go
 * API).
 */
void golibssh_readahead_ask_writable(int on);

/* Version of the libssh the package was compiled against. */
int golibssh_compiled_version(void);

#endif
