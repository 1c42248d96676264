// Hand-written C helpers for package lib; see shim.h for why each exists.

#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"
#include "vzeroupper.h"

int golibssh_options_set_string(ssh_session session, enum ssh_options_e type, const char *value)
{
    return ssh_options_set(session, type, value);
}

int golibssh_options_set_null(ssh_session session, enum ssh_options_e type)
{
    return ssh_options_set(session, type, NULL);
}

int golibssh_options_set_int(ssh_session session, enum ssh_options_e type, int value)
{
    return ssh_options_set(session, type, &value);
}

int golibssh_options_set_uint(ssh_session session, enum ssh_options_e type, unsigned int value)
{
    return ssh_options_set(session, type, &value);
}

int golibssh_options_set_long(ssh_session session, enum ssh_options_e type, long value)
{
    return ssh_options_set(session, type, &value);
}

int golibssh_options_set_bool(ssh_session session, enum ssh_options_e type, int value)
{
    bool b = value != 0;
    return ssh_options_set(session, type, &b);
}

char *golibssh_options_get(ssh_session session, enum ssh_options_e type)
{
    char *value = NULL;
    if (ssh_options_get(session, type, &value) != SSH_OK) {
        return NULL;
    }
    return value;
}

unsigned int golibssh_options_get_port(ssh_session session)
{
    unsigned int port = 0;
    if (ssh_options_get_port(session, &port) != SSH_OK) {
        return 0;
    }
    return port;
}

int golibssh_pump(ssh_event event, int max_rounds)
{
    for (int i = 0; i < max_rounds; i++) {
        /*
         * One round is one poll(…, 0) and, when the socket is ready, one
         * read of at most 4 KiB (libssh's MAX_BUF_SIZE) and the packets it
         * completes; both are served by the socket's read-ahead buffer
         * when it holds input (readahead.c). ssh_event_dopoll answers
         * SSH_AGAIN when nothing was ready: the socket and its buffer are
         * drained, with no second poll of our own.
         */
        int rc = ssh_event_dopoll(event, 0);
        if (rc == SSH_ERROR) {
            return SSH_ERROR;
        }
        if (rc == SSH_AGAIN) {
            return 0;
        }
    }
    return 1;
}

int golibssh_flush(ssh_event event, ssh_session session, int prime)
{
    /*
     * ssh_blocking_flush with timeout 0 makes no system call when libssh's
     * output buffer is empty; otherwise it runs one poll(…, 0) round, which
     * sends what the socket takes (libssh sends its whole buffer in one
     * send) and reads input that is ready. The round asks the kernel about
     * writability even when the socket's read-ahead buffer holds input
     * (readahead.c would otherwise answer from memory, with input only),
     * so SSH_AGAIN after it means the socket is full.
     */
    golibssh_readahead_ask_writable(1);
    int rc = ssh_blocking_flush(session, 0);
    if (rc == SSH_OK && prime && (ssh_get_poll_flags(session) & SSH_WRITE_PENDING) != 0) {
        /*
         * Nothing is left, but libssh still waits for a poll to report
         * writability since its last send, and holds every packet until
         * then: one round, so that the next packet goes out at once.
         */
        if (ssh_event_dopoll(event, 0) == SSH_ERROR) {
            rc = SSH_ERROR;
        } else if ((ssh_get_poll_flags(session) & SSH_WRITE_PENDING) != 0) {
            rc = SSH_AGAIN; /* not writable yet: wait for it */
        }
    }
    golibssh_readahead_ask_writable(0);
    switch (rc) {
    case SSH_OK:
        return 0;
    case SSH_AGAIN:
        return 1;
    default:
        return SSH_ERROR;
    }
}

ssh_counter golibssh_counter_new(void)
{
    return calloc(1, sizeof(struct ssh_counter_struct));
}

void golibssh_counter_free(ssh_counter counter)
{
    free(counter);
}

ssh_key golibssh_get_server_publickey(ssh_session session)
{
    ssh_key key = NULL;
    if (ssh_get_server_publickey(session, &key) != SSH_OK) {
        return NULL;
    }
    return key;
}

static int sha256_of(ssh_key key, unsigned char **hash, size_t *len)
{
    return ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, hash, len);
}

char *golibssh_key_fingerprint_sha256(ssh_key key)
{
    unsigned char *hash = NULL;
    size_t len = 0;
    if (sha256_of(key, &hash, &len) != SSH_OK) {
        return NULL;
    }
    char *fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
    ssh_clean_pubkey_hash(&hash);
    return fp;
}

char *golibssh_key_hexa_sha256(ssh_key key)
{
    unsigned char *hash = NULL;
    size_t len = 0;
    if (sha256_of(key, &hash, &len) != SSH_OK) {
        return NULL;
    }
    char *hex = ssh_get_hexa(hash, len);
    ssh_clean_pubkey_hash(&hash);
    return hex;
}

char *golibssh_key_base64(ssh_key key)
{
    char *b64 = NULL;
    if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
        return NULL;
    }
    return b64;
}

/*
 * libssh asks this for a passphrase when a key is encrypted and none was
 * given. Answering "no passphrase" (-1) makes the import fail; the flag tells
 * the caller why.
 */
static int note_encrypted(const char *prompt, char *buf, size_t len, int echo, int verify, void *userdata)
{
    (void)prompt;
    (void)buf;
    (void)len;
    (void)echo;
    (void)verify;
    *(int *)userdata = 1;
    return -1;
}

static ssh_key import_privkey(const char *path, const char *b64, const char *passphrase, int *encrypted)
{
    ssh_key key = NULL;
    int rc;
    *encrypted = 0;
    if (path != NULL) {
        rc = ssh_pki_import_privkey_file(path, passphrase, note_encrypted, encrypted, &key);
    } else {
        rc = ssh_pki_import_privkey_base64(b64, passphrase, note_encrypted, encrypted, &key);
    }
    if (rc == SSH_OK) {
        return key;
    }
    if (passphrase != NULL && *encrypted == 0) {
        /* libssh does not ask when a passphrase was given; ask it once more without one
         * to learn whether the key is encrypted (then the passphrase was wrong). */
        if (path != NULL) {
            rc = ssh_pki_import_privkey_file(path, NULL, note_encrypted, encrypted, &key);
        } else {
            rc = ssh_pki_import_privkey_base64(b64, NULL, note_encrypted, encrypted, &key);
        }
        if (rc == SSH_OK) {
            /* Unencrypted after all: the passphrase was simply not needed. */
            return key;
        }
    }
    return NULL;
}

ssh_key golibssh_import_privkey_file(const char *path, const char *passphrase, int *encrypted)
{
    return import_privkey(path, NULL, passphrase, encrypted);
}

ssh_key golibssh_import_privkey_base64(const char *b64, const char *passphrase, int *encrypted)
{
    return import_privkey(NULL, b64, passphrase, encrypted);
}

const char *golibssh_kbdint_prompt(ssh_session session, unsigned int i, int *echo)
{
    int n = ssh_userauth_kbdint_getnprompts(session);
    char e = 0;
    const char *prompt;
    *echo = 0;
    if (n < 0 || i >= (unsigned int)n) {
        return NULL;
    }
    prompt = ssh_userauth_kbdint_getprompt(session, i, &e);
    *echo = e != 0;
    return prompt;
}

int golibssh_channel_read_window(ssh_channel channel, void *dest, uint32_t len, int is_stderr, uint32_t window)
{
    uint32_t count = len;
    int avail;

    if (len == 0) {
        return 0;
    }
    /* Handles pending packets only when the stream has nothing buffered. */
    avail = ssh_channel_poll(channel, is_stderr);
    if (avail <= 0) {
        return avail;
    }
    /*
     * libssh 0.10's ssh_channel_read_timeout grows the window to count less
     * what is buffered, so count is never more than the caller's window
     * (or what is buffered, when that is more): a count of len would let a
     * caller with a large buffer (io.ReadAll's, bytes.Buffer's) grant the
     * server that much, past the window's cap.
     *
     * count may exceed len, the size of dest. That is safe because libssh
     * 0.10's ssh_channel_read_timeout handles packets only while the stream
     * is empty (its termination test needs one buffered byte), so it copies
     * at most avail <= len bytes; it grows the window to count first. The
     * Go side (window.go) passes a window only on libssh 0.10, where this
     * holds: a libssh that read packets inside this call would write past
     * dest.
     */
    if ((uint32_t)avail <= len) {
        count = window > (uint32_t)avail ? window : (uint32_t)avail;
    }
    /* Timeout 0: libssh's SSH_TIMEOUT_NONBLOCKING (a private constant). */
    return ssh_channel_read_timeout(channel, dest, count, is_stderr, 0);
}

void golibssh_burn_free(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void golibssh_vzeroupper_call(void)
{
    golibssh_vzeroupper();
}

int golibssh_compiled_version(void)
{
    return LIBSSH_VERSION_INT;
}

int golibssh_bind_import_key(ssh_bind bind, ssh_key key)
{
    ssh_key copy = ssh_key_dup(key);
    if (copy == NULL) {
        return SSH_ERROR;
    }
    int rc = ssh_bind_options_set(bind, SSH_BIND_OPTIONS_IMPORT_KEY, copy);
    if (rc != SSH_OK) {
        ssh_key_free(copy);
    }
    return rc;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
const char *golibssh_message_auth_password(ssh_message msg)
{
    return ssh_message_auth_password(msg);
}

ssh_key golibssh_message_auth_pubkey(ssh_message msg)
{
    return ssh_message_auth_pubkey(msg);
}

int golibssh_message_auth_publickey_state(ssh_message msg)
{
    return ssh_message_auth_publickey_state(msg);
}
#pragma GCC diagnostic pop
