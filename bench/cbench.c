/*
 * cbench: the channel benchmarks' work done by plain blocking libssh, for
 * comparison with the Go package (see bench_test.go; `make bench` builds
 * it).
 *
 *   cbench HOST PORT USER KEYFILE KNOWNHOSTS MODE N SIZE
 *
 * The server's key must be in the known_hosts file KNOWNHOSTS.
 * MODE is "download" (N times: a channel running `head -c SIZE /dev/zero`,
 * read to the end), "upload" (N times: a channel running `cat >/dev/null`,
 * SIZE bytes written, EOF, wait for the exit status), "exec" (N times: a
 * channel running `true`, read to the end, exit status) or "open" (N times:
 * a session channel opened and closed) or "forward" (N times: a
 * direct-tcpip channel to 127.0.0.1:$CBENCH_FORWARD_PORT, SIZE bytes
 * written, EOF, read until the far end closes) or "many" (N channels at
 * once, each running `head -c SIZE /dev/zero`, read to the end through
 * channel data callbacks and one ssh_event). The session set-up
 * is not measured. It prints the nanoseconds the N iterations took.
 */
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(ssh_session s, const char *what)
{
    fprintf(stderr, "cbench: %s: %s\n", what, s ? ssh_get_error(s) : "failed");
    exit(1);
}

static ssh_channel run(ssh_session s, const char *cmd)
{
    ssh_channel ch = ssh_channel_new(s);
    if (ch == NULL || ssh_channel_open_session(ch) != SSH_OK) {
        die(s, "open channel");
    }
    if (ssh_channel_request_exec(ch, cmd) != SSH_OK) {
        die(s, "exec");
    }
    return ch;
}

/* drain reads ch's standard output to the end and returns its length. */
static long long drain(ssh_session s, ssh_channel ch, char *buf, size_t len)
{
    long long total = 0;
    int n;
    while ((n = ssh_channel_read(ch, buf, len, 0)) > 0) {
        total += n;
    }
    if (n < 0) {
        die(s, "read");
    }
    return total;
}

/* send_all writes size bytes of buf (repeated) to ch, then EOF. */
static void send_all(ssh_session s, ssh_channel ch, char *buf, size_t len, long long size)
{
    for (long long left = size; left > 0;) {
        int w = ssh_channel_write(ch, buf, left < (long long)len ? (uint32_t)left : len);
        if (w < 0) {
            die(s, "write");
        }
        left -= w;
    }
    ssh_channel_send_eof(ch);
}

static void release(ssh_channel ch)
{
    ssh_channel_close(ch);
    ssh_channel_free(ch);
}

/* finish reads what is left, checks the exit status and frees ch. */
static long long finish(ssh_session s, ssh_channel ch, char *buf, size_t len)
{
    long long total = drain(s, ch, buf, len);
    if (ssh_channel_get_exit_status(ch) != 0) {
        die(s, "exit status");
    }
    release(ch);
    return total;
}

/* many: n channels downloading size bytes each at once. */
struct many_chan {
    long long got;
    int eof;
};

static int many_data(ssh_session s, ssh_channel ch, void *data, uint32_t len, int is_stderr, void *u)
{
    (void)s; (void)ch; (void)data; (void)is_stderr;
    ((struct many_chan *)u)->got += len;
    return (int)len;
}

static void many_eof(ssh_session s, ssh_channel ch, void *u)
{
    (void)s; (void)ch;
    ((struct many_chan *)u)->eof = 1;
}

static void many(ssh_session s, long n, long long size)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "head -c %lld /dev/zero", size);
    ssh_channel *chs = calloc((size_t)n, sizeof *chs);
    struct many_chan *st = calloc((size_t)n, sizeof *st);
    struct ssh_channel_callbacks_struct *cbs = calloc((size_t)n, sizeof *cbs);
    ssh_event ev = ssh_event_new();
    if (chs == NULL || st == NULL || cbs == NULL || ev == NULL || ssh_event_add_session(ev, s) != SSH_OK) {
        die(s, "many: set-up");
    }
    for (long i = 0; i < n; i++) {
        chs[i] = run(s, cmd);
        cbs[i].userdata = &st[i];
        cbs[i].channel_data_function = many_data;
        cbs[i].channel_eof_function = many_eof;
        ssh_callbacks_init(&cbs[i]);
        if (ssh_set_channel_callbacks(chs[i], &cbs[i]) != SSH_OK) {
            die(s, "many: callbacks");
        }
    }
    for (;;) {
        long open = 0;
        for (long i = 0; i < n; i++) {
            open += !st[i].eof;
        }
        if (open == 0) {
            break;
        }
        if (ssh_event_dopoll(ev, 10000) == SSH_ERROR) {
            die(s, "many: poll");
        }
    }
    for (long i = 0; i < n; i++) {
        if (st[i].got != size) {
            die(s, "many: short download");
        }
        release(chs[i]);
    }
    ssh_event_remove_session(ev, s);
    ssh_event_free(ev);
    free(cbs);
    free(st);
    free(chs);
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: cbench HOST PORT USER KEYFILE KNOWNHOSTS MODE N SIZE\n");
        return 2;
    }
    const char *mode = argv[6];
    long n = atol(argv[7]);
    long long size = atoll(argv[8]);
    unsigned int port = (unsigned int)atoi(argv[2]);

    ssh_session s = ssh_new();
    if (s == NULL) {
        die(NULL, "ssh_new");
    }
    ssh_options_set(s, SSH_OPTIONS_HOST, argv[1]);
    ssh_options_set(s, SSH_OPTIONS_PORT, &port);
    ssh_options_set(s, SSH_OPTIONS_USER, argv[3]);
    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, argv[5]);
    /* As the Go package does: without it, Nagle's algorithm and delayed
     * ACKs cost ~40 ms per request. */
    int nodelay = 1;
    ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay);
    if (ssh_connect(s) != SSH_OK) {
        die(s, "connect");
    }
    if (ssh_session_is_known_server(s) != SSH_KNOWN_HOSTS_OK) {
        die(s, "host key not in known_hosts");
    }
    ssh_key key = NULL;
    if (ssh_pki_import_privkey_file(argv[4], NULL, NULL, NULL, &key) != SSH_OK) {
        die(s, "import key");
    }
    if (ssh_userauth_publickey(s, NULL, key) != SSH_AUTH_SUCCESS) {
        die(s, "auth");
    }
    ssh_key_free(key);

    static char buf[64 * 1024];
    /* Written to, so that uploads do not read the kernel's zero page (a
     * static buffer never written maps it 16 times: 4 KiB that always stay
     * in the cache), as the Go benchmarks' buffers are. */
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (char)(i * 7 + (i >> 8));
    }
    char cmd[128];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        if (strcmp(mode, "many") == 0) {
            many(s, n, size);
            break;
        } else if (strcmp(mode, "download") == 0) {
            snprintf(cmd, sizeof cmd, "head -c %lld /dev/zero", size);
            ssh_channel ch = run(s, cmd);
            if (finish(s, ch, buf, sizeof buf) != size) {
                die(s, "short download");
            }
        } else if (strcmp(mode, "upload") == 0) {
            ssh_channel ch = run(s, "cat >/dev/null");
            send_all(s, ch, buf, sizeof buf, size);
            finish(s, ch, buf, sizeof buf);
        } else if (strcmp(mode, "exec") == 0) {
            finish(s, run(s, "true"), buf, sizeof buf);
        } else if (strcmp(mode, "forward") == 0) {
            const char *target = getenv("CBENCH_FORWARD_PORT");
            ssh_channel ch = ssh_channel_new(s);
            if (target == NULL || ch == NULL ||
                ssh_channel_open_forward(ch, "127.0.0.1", atoi(target), "127.0.0.1", 0) != SSH_OK) {
                die(s, "open forward channel");
            }
            send_all(s, ch, buf, sizeof buf, size);
            drain(s, ch, buf, sizeof buf); /* until the far end closes */
            release(ch);
        } else if (strcmp(mode, "open") == 0) {
            ssh_channel ch = ssh_channel_new(s);
            if (ch == NULL || ssh_channel_open_session(ch) != SSH_OK) {
                die(s, "open channel");
            }
            release(ch);
        } else {
            fprintf(stderr, "cbench: unknown mode %s\n", mode);
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%lld\n", (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
    ssh_disconnect(s);
    ssh_free(s);
    return 0;
}
