/*
 * The CPU model the guest sees through CPUID: a P6-class "GenuineIntel"
 * family 6 part with a fixed feature set that tachyon emulates, never the
 * host's. Leaves 0, 1, 2 and 0x80000000..0x80000004.
 */
#ifndef TACHYON_CPUID_H
#define TACHYON_CPUID_H

#include <stdint.h>

struct machine;

enum { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

/* Leaf-1 EDX feature bits (Intel SDM vol. 2A, CPUID, table "Feature Information"). */
#define CPUID_1_EDX_FPU (1u << 0)
#define CPUID_1_EDX_VME (1u << 1)
#define CPUID_1_EDX_DE (1u << 2)
#define CPUID_1_EDX_PSE (1u << 3)
#define CPUID_1_EDX_TSC (1u << 4)
#define CPUID_1_EDX_MSR (1u << 5)
#define CPUID_1_EDX_PAE (1u << 6)
#define CPUID_1_EDX_MCE (1u << 7)
#define CPUID_1_EDX_CX8 (1u << 8)
#define CPUID_1_EDX_APIC (1u << 9)
#define CPUID_1_EDX_SEP (1u << 11)
#define CPUID_1_EDX_MTRR (1u << 12)
#define CPUID_1_EDX_PGE (1u << 13)
#define CPUID_1_EDX_MCA (1u << 14)
#define CPUID_1_EDX_CMOV (1u << 15)
#define CPUID_1_EDX_PAT (1u << 16)
#define CPUID_1_EDX_PSE36 (1u << 17)
#define CPUID_1_EDX_CLFSH (1u << 19)
#define CPUID_1_EDX_MMX (1u << 23)
#define CPUID_1_EDX_FXSR (1u << 24)
#define CPUID_1_EDX_SSE (1u << 25)
#define CPUID_1_EDX_SSE2 (1u << 26)

/* Family 6, model 13, stepping 8 (a Pentium M-class signature: P6 core with SSE2). */
#define CPUID_SIGNATURE 0x000006d8u
#define CPUID_BRAND "tachyon virtual CPU"

/* out[CPUID_EAX..CPUID_EDX] for CPUID with EAX=leaf, ECX=subleaf. */
void cpuid__query(struct machine *m, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

#endif
