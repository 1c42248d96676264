// Read-ahead under libssh 0.10's socket reads; see shim.h and
// docs/design.md ("Reading the socket").

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim.h"

/*
 * libssh 0.10 reads its socket 4 KiB at a time (MAX_BUF_SIZE in socket.c),
 * with a poll(2) before each read: two system calls per 4 KiB received.
 * The functions below replace libssh's own calls of recv, poll and close
 * (its entries in its global offset table, nobody else's) to give each
 * registered socket a buffer: one recv of up to RA_SIZE bytes serves many of
 * libssh's reads, poll reports a socket whose buffer holds data as readable
 * (without a system call when every descriptor asked about is such a
 * socket, whatever else was asked about it), and close drops the buffer
 * before the descriptor.
 *
 * A descriptor's buffer is only used between golibssh_readahead_register and
 * golibssh_readahead_forget (or libssh's close), which the session's owner
 * calls with the session locked, as libssh's reads of that socket are;
 * descriptors that are not registered (and every caller outside libssh) see
 * recv, poll and close as they are.
 */

#define RA_SIZE (64 * 1024)
#define RA_MAX_FD 65536

struct ra_buf {
    uint64_t id;       /* golibssh_readahead_register's answer */
    uint32_t off, len; /* unread bytes: data[off:len] */
    char data[RA_SIZE];
};

static _Atomic(struct ra_buf *) ra_bufs[RA_MAX_FD];
static ssize_t (*ra_next_recv)(int, void *, size_t, int);
static int (*ra_next_poll)(struct pollfd *, nfds_t, int);
static int (*ra_next_close)(int);
/* Held to give or take a descriptor's buffer (never to use one). */
static pthread_mutex_t ra_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t ra_last_id;
static pthread_once_t ra_once = PTHREAD_ONCE_INIT;
static int ra_installed;
static atomic_ullong ra_fills, ra_served;
static atomic_long ra_live; /* buffers given and not yet taken */
/* Set while golibssh_flush runs on this thread: see ra_poll. */
static __thread int ra_ask_writable;

static struct ra_buf *ra_lookup(int fd)
{
    if (fd < 0 || fd >= RA_MAX_FD) {
        return NULL;
    }
    return atomic_load_explicit(&ra_bufs[fd], memory_order_acquire);
}

static int ra_pending(const struct ra_buf *b)
{
    return b != NULL && b->off < b->len;
}

static ssize_t ra_recv(int fd, void *dest, size_t len, int flags)
{
    struct ra_buf *b = ra_lookup(fd);
    /*
     * libssh 0.10 reads with no flags. Any other read (MSG_PEEK, say) goes
     * to the kernel as asked, and would miss what the buffer holds.
     */
    if (b == NULL || flags != 0) {
        return ra_next_recv(fd, dest, len, flags);
    }
    if (b->off == b->len) {
        if (len >= RA_SIZE) {
            return ra_next_recv(fd, dest, len, flags);
        }
        ssize_t n = ra_next_recv(fd, b->data, RA_SIZE, 0);
        if (n <= 0) {
            return n; /* errno as recv left it */
        }
        b->off = 0;
        b->len = (uint32_t)n;
        atomic_fetch_add_explicit(&ra_fills, 1, memory_order_relaxed);
    }
    size_t n = b->len - b->off;
    if (n > len) {
        n = len;
    }
    memcpy(dest, b->data + b->off, n);
    b->off += (uint32_t)n;
    atomic_fetch_add_explicit(&ra_served, 1, memory_order_relaxed);
    return (ssize_t)n;
}

static int ra_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    nfds_t buffered = 0;
    for (nfds_t i = 0; i < nfds; i++) {
        if ((fds[i].events & POLLIN) && ra_pending(ra_lookup(fds[i].fd))) {
            buffered++;
        }
    }
    if (buffered == 0) {
        return ra_next_poll(fds, nfds, timeout);
    }
    /*
     * Input is ready in a buffer, so nothing waits. A socket with input
     * buffered is not polled when nothing else is asked about: its other
     * events (writability, a hang-up) are reported once its buffer is
     * empty, at most RA_SIZE bytes of libssh's work later. libssh asks for
     * POLLOUT as well after each write until a poll without input reports
     * it, so asking the kernel each time would keep a poll per 4 KiB.
     * golibssh_flush, which polls to send, asks the kernel all the same.
     */
    int rc = 0;
    if (buffered == nfds && !ra_ask_writable) {
        for (nfds_t i = 0; i < nfds; i++) {
            fds[i].revents = 0;
        }
    } else {
        rc = ra_next_poll(fds, nfds, 0);
        if (rc < 0) {
            return rc;
        }
    }
    for (nfds_t i = 0; i < nfds; i++) {
        if ((fds[i].events & POLLIN) && ra_pending(ra_lookup(fds[i].fd))) {
            if (fds[i].revents == 0) {
                rc++;
            }
            fds[i].revents |= POLLIN;
        }
    }
    return rc;
}

void golibssh_readahead_ask_writable(int on)
{
    ra_ask_writable = on;
}

/* ra_free frees a buffer taken from the table (with ra_mu held). */
static void ra_free(struct ra_buf *b)
{
    if (b != NULL) {
        atomic_fetch_sub(&ra_live, 1);
        free(b);
    }
}

/* The descriptor's buffer goes before the descriptor: its number may be reused at once. */
static void ra_drop(int fd)
{
    if (fd < 0 || fd >= RA_MAX_FD) {
        return;
    }
    pthread_mutex_lock(&ra_mu);
    ra_free(atomic_exchange_explicit(&ra_bufs[fd], NULL, memory_order_acq_rel));
    pthread_mutex_unlock(&ra_mu);
}

static int ra_close(int fd)
{
    if (ra_lookup(fd) != NULL) {
        ra_drop(fd);
    }
    return ra_next_close(fd);
}

#if defined(__x86_64__) || defined(__aarch64__)

#if defined(__x86_64__)
#define RA_JUMP_SLOT R_X86_64_JUMP_SLOT
#define RA_GLOB_DAT R_X86_64_GLOB_DAT
#else
#define RA_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define RA_GLOB_DAT R_AARCH64_GLOB_DAT
#endif

/* A global offset table entry of libssh's to point elsewhere. */
struct ra_slot {
    uintptr_t *addr;
    void *to;
    int relro; /* the entry is in the read-only-after-relocation part */
};

#define RA_MAX_SLOTS 12

struct ra_scan {
    uintptr_t inside; /* an address in libssh's code (or a stub of the program's for it) */
    uintptr_t page;   /* the page size */
    int by_name;      /* look for libssh by its file's name, not by inside */
    int found;        /* libssh's shared object was found */
    int ok;           /* its tables were read */
    uintptr_t relro_lo, relro_hi; /* the pages of libssh's the loader made read-only */
    struct ra_slot slots[RA_MAX_SLOTS];
    int nslots, nrecv, npoll, nclose;
};

/* A dynamic-section address: glibc has relocated most of them in place. */
static uintptr_t ra_dyn_addr(uintptr_t base, ElfW(Addr) v)
{
    return v < base ? base + v : v;
}

static void ra_scan_relocs(struct ra_scan *s, uintptr_t base, const ElfW(Rela) *rel, size_t bytes,
                           const ElfW(Sym) *symtab, const char *strtab)
{
    for (size_t i = 0; i < bytes / sizeof(ElfW(Rela)); i++) {
        unsigned long type = ELF64_R_TYPE(rel[i].r_info);
        unsigned long sym = ELF64_R_SYM(rel[i].r_info);
        if (sym == 0 || (type != RA_JUMP_SLOT && type != RA_GLOB_DAT)) {
            continue;
        }
        const char *name = strtab + symtab[sym].st_name;
        void *to;
        if (strcmp(name, "recv") == 0) {
            to = (void *)ra_recv;
            s->nrecv++;
        } else if (strcmp(name, "poll") == 0) {
            to = (void *)ra_poll;
            s->npoll++;
        } else if (strcmp(name, "close") == 0) {
            to = (void *)ra_close;
            s->nclose++;
        } else {
            continue;
        }
        if (s->nslots == RA_MAX_SLOTS) {
            s->ok = 0;
            return;
        }
        uintptr_t addr = base + rel[i].r_offset;
        s->slots[s->nslots++] = (struct ra_slot){
            .addr = (uintptr_t *)addr,
            .to = to,
            .relro = addr >= s->relro_lo && addr < s->relro_hi,
        };
    }
}

/* ra_is_libssh reports whether a loaded object's path names libssh's shared library. */
static int ra_is_libssh(const char *path)
{
    const char *slash = strrchr(path, '/');
    return strncmp(slash != NULL ? slash + 1 : path, "libssh.so", strlen("libssh.so")) == 0;
}

static int ra_scan_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct ra_scan *s = data;
    uintptr_t base = info->dlpi_addr;
    /* The program itself is never changed, even if libssh is linked into it. */
    if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0') {
        return 0;
    }
    int holds = s->by_name && ra_is_libssh(info->dlpi_name);
    const ElfW(Phdr) *dynamic = NULL;
    uintptr_t relro_lo = 0, relro_hi = 0; /* as glibc rounds them */
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && s->inside >= base + ph->p_vaddr &&
            s->inside < base + ph->p_vaddr + ph->p_memsz) {
            holds = 1;
        } else if (ph->p_type == PT_DYNAMIC) {
            dynamic = ph;
        } else if (ph->p_type == PT_GNU_RELRO) {
            relro_lo = (base + ph->p_vaddr) & ~(s->page - 1);
            relro_hi = (base + ph->p_vaddr + ph->p_memsz) & ~(s->page - 1);
        }
    }
    if (!holds) {
        return 0;
    }
    if (dynamic == NULL) {
        return 1;
    }
    s->found = 1;
    s->relro_lo = relro_lo;
    s->relro_hi = relro_hi;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const ElfW(Rela) *jmprel = NULL, *rela = NULL;
    size_t jmprel_bytes = 0, rela_bytes = 0;
    long pltrel = DT_RELA;
    for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(base + dynamic->p_vaddr); d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB:
            symtab = (const ElfW(Sym) *)ra_dyn_addr(base, d->d_un.d_ptr);
            break;
        case DT_STRTAB:
            strtab = (const char *)ra_dyn_addr(base, d->d_un.d_ptr);
            break;
        case DT_JMPREL:
            jmprel = (const ElfW(Rela) *)ra_dyn_addr(base, d->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            jmprel_bytes = d->d_un.d_val;
            break;
        case DT_PLTREL:
            pltrel = (long)d->d_un.d_val;
            break;
        case DT_RELA:
            rela = (const ElfW(Rela) *)ra_dyn_addr(base, d->d_un.d_ptr);
            break;
        case DT_RELASZ:
            rela_bytes = d->d_un.d_val;
            break;
        }
    }
    if (symtab == NULL || strtab == NULL || pltrel != DT_RELA) {
        return 1;
    }
    s->ok = 1;
    if (jmprel != NULL) {
        ra_scan_relocs(s, base, jmprel, jmprel_bytes, symtab, strtab);
    }
    if (rela != NULL && s->ok) {
        ra_scan_relocs(s, base, rela, rela_bytes, symtab, strtab);
    }
    return 1;
}

/* ra_patch points one entry at to; 0 on success. */
static int ra_patch(const struct ra_slot *slot, long page)
{
    uintptr_t start = (uintptr_t)slot->addr & ~(uintptr_t)(page - 1);
    if (slot->relro && mprotect((void *)start, (size_t)page, PROT_READ | PROT_WRITE) != 0) {
        return -1;
    }
    atomic_store_explicit((_Atomic uintptr_t *)slot->addr, (uintptr_t)slot->to, memory_order_release);
    if (slot->relro) {
        mprotect((void *)start, (size_t)page, PROT_READ);
    }
    return 0;
}

static void ra_install(void)
{
    ra_next_recv = (ssize_t (*)(int, void *, size_t, int))dlsym(RTLD_DEFAULT, "recv");
    ra_next_poll = (int (*)(struct pollfd *, nfds_t, int))dlsym(RTLD_DEFAULT, "poll");
    ra_next_close = (int (*)(int))dlsym(RTLD_DEFAULT, "close");
    long page = sysconf(_SC_PAGESIZE);
    if (ra_next_recv == NULL || ra_next_poll == NULL || ra_next_close == NULL || page <= 0) {
        return;
    }
    struct ra_scan s = {.inside = (uintptr_t)(void *)ssh_channel_read, .page = (uintptr_t)page};
    dl_iterate_phdr(ra_scan_object, &s);
    if (!s.found) {
        /* The program has a stub for ssh_channel_read, whose address it gave us. */
        s.by_name = 1;
        dl_iterate_phdr(ra_scan_object, &s);
    }
    /*
     * All three or none: buffered input that poll did not report would wait
     * for ever, and a buffer must not outlive its descriptor.
     */
    if (!s.found || !s.ok || s.nrecv == 0 || s.npoll == 0 || s.nclose == 0) {
        return;
    }
    /*
     * recv's entries last: until one changes, no buffer is ever filled, so
     * a failure before that leaves everything as it was.
     */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < s.nslots; i++) {
            if ((s.slots[i].to == (void *)ra_recv) == (pass == 1) && ra_patch(&s.slots[i], page) != 0) {
                if (pass == 0) {
                    return;
                }
                /* Some of recv's entries read ahead and others not: poll still sees every buffer. */
            }
        }
    }
    ra_installed = 1;
}

#else

static void ra_install(void) {}

#endif

uint64_t golibssh_readahead_register(int fd)
{
    pthread_once(&ra_once, ra_install);
    if (!ra_installed || fd < 0 || fd >= RA_MAX_FD) {
        return 0;
    }
    struct ra_buf *b = malloc(sizeof *b);
    if (b == NULL) {
        return 0;
    }
    b->off = b->len = 0;
    pthread_mutex_lock(&ra_mu);
    b->id = ++ra_last_id;
    atomic_fetch_add(&ra_live, 1);
    /*
     * A buffer still here belongs to a descriptor closed without libssh's
     * close and without golibssh_readahead_forget: it is stale.
     */
    ra_free(atomic_exchange_explicit(&ra_bufs[fd], b, memory_order_acq_rel));
    pthread_mutex_unlock(&ra_mu);
    return b->id;
}

void golibssh_readahead_forget(int fd, uint64_t id)
{
    if (fd < 0 || fd >= RA_MAX_FD || id == 0) {
        return;
    }
    pthread_mutex_lock(&ra_mu);
    struct ra_buf *b = atomic_load_explicit(&ra_bufs[fd], memory_order_acquire);
    if (b != NULL && b->id == id) {
        atomic_store_explicit(&ra_bufs[fd], NULL, memory_order_release);
        ra_free(b);
    }
    pthread_mutex_unlock(&ra_mu);
}

int golibssh_readahead_buffered(int fd)
{
    struct ra_buf *b = ra_lookup(fd);
    return b == NULL ? 0 : (int)(b->len - b->off);
}

void golibssh_readahead_stats(uint64_t *fills, uint64_t *served, long *live)
{
    *fills = atomic_load(&ra_fills);
    *served = atomic_load(&ra_served);
    *live = atomic_load(&ra_live);
}

ssize_t golibssh_readahead_recv(int fd, void *dest, size_t len)
{
    pthread_once(&ra_once, ra_install);
    if (!ra_installed) {
        errno = ENOSYS;
        return -1;
    }
    return ra_recv(fd, dest, len, 0);
}

int golibssh_readahead_poll(int fd, int timeout_ms)
{
    pthread_once(&ra_once, ra_install);
    if (!ra_installed) {
        errno = ENOSYS;
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc = ra_poll(&p, 1, timeout_ms);
    return rc <= 0 ? rc : p.revents;
}
