// Package vecstate lets tests see and dirty the upper vector state of the
// calling OS thread on amd64, to check that package lib's calls clear it
// (see lib/vzeroupper.h). Only tests import it.
package vecstate

/*
#include <stdint.h>

#if defined(__x86_64__)
#include <cpuid.h>

// 1 when the CPU has AVX, the OS saves the YMM state, and XGETBV with ECX=1
// reads XINUSE (CPUID.(EAX=0DH,ECX=1):EAX bit 2).
static int vecstate_supported(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || (c & bit_AVX) == 0 || (c & bit_OSXSAVE) == 0) {
        return 0;
    }
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) {
        return 0;
    }
    return __get_cpuid_count(0xd, 1, &a, &b, &c, &d) && (a & 4) != 0;
}

// XINUSE bits 2 (AVX: upper halves of YMM0-15) and 6 (ZMM_Hi256: upper
// halves of ZMM0-15), the state VZEROUPPER resets.
static int vecstate_upper_dirty(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
    return (lo & ((1u << 2) | (1u << 6))) != 0;
}

// Sets every bit of YMM1 and returns without VZEROUPPER.
static void vecstate_dirty(void)
{
    __asm__ volatile("vpcmpeqd %%ymm1, %%ymm1, %%ymm1" ::: "xmm1");
}
#else
static int vecstate_supported(void) { return 0; }
static int vecstate_upper_dirty(void) { return 0; }
static void vecstate_dirty(void) {}
#endif

*/
import "C"

// Supported reports whether this CPU can be checked: amd64 with AVX, and
// XGETBV reading which register state is in use.
func Supported() bool { return C.vecstate_supported() != 0 }

// UpperDirty reports whether the calling thread's upper vector state (YMM
// or ZMM upper halves of registers 0-15) is in use. Only with Supported.
func UpperDirty() bool { return C.vecstate_upper_dirty() != 0 }

// Dirty leaves the calling thread's upper vector state dirty, as AVX code
// that returns without VZEROUPPER does. Only with Supported.
func Dirty() { C.vecstate_dirty() }
