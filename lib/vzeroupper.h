/*
 * golibssh_vzeroupper() clears the upper halves of the vector registers
 * (VZEROUPPER) on amd64 CPUs with AVX, and does nothing elsewhere.
 *
 * Why: AVX code on libssh's data path (libcrypto's ciphers and MACs, libc's
 * string functions) may return with the upper halves of the YMM/ZMM registers
 * dirty. Go's SHA-NI code (crypto/sha256) is SSE-encoded, and on some CPUs
 * every SSE instruction then pays a transition penalty: sha256 of 8 MiB was
 * measured at 746 ms instead of 9 ms on the thread that had just decrypted a
 * chacha20-poly1305 download. Every libssh call package lib wraps returns
 * through it (the wrappers mklib generates, and the hand-written ones), and
 * every C callback runs it before it enters Go (internal/cgocallback), so Go
 * code never starts with the state libssh left. See docs/design.md, "Vector
 * state after libssh (AVX)".
 *
 * VZEROUPPER raises #UD without AVX, so it runs only when the CPU has AVX and
 * the OS saves the YMM state (CPUID.1:ECX.AVX, .OSXSAVE and XCR0 bits 1-2),
 * checked once per translation unit by a constructor. The check costs a load
 * and a branch; VZEROUPPER itself about a cycle.
 */
#ifndef GOLIBSSH_VZEROUPPER_H
#define GOLIBSSH_VZEROUPPER_H

#if defined(__x86_64__)
#include <cpuid.h>
#include <stdint.h>

static int golibssh_has_avx;

__attribute__((constructor)) static void golibssh_detect_avx(void)
{
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        return;
    }
    if ((ecx & bit_AVX) == 0 || (ecx & bit_OSXSAVE) == 0) {
        return;
    }
    uint32_t xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    golibssh_has_avx = (xcr0_lo & 6) == 6;
}

static inline void golibssh_vzeroupper(void)
{
    if (__builtin_expect(golibssh_has_avx, 1)) {
        __asm__ volatile("vzeroupper" ::: "memory");
    }
}
#else
static inline void golibssh_vzeroupper(void)
{
}
#endif

#endif
