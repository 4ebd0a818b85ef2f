/*
 * The virtual CPU's identity (cpuid.h). Every value is a constant of the
 * model except the APIC bit, which follows the machine: it is set only while
 * a local APIC answers at the base the APIC_BASE MSR names and that MSR has
 * the APIC enabled, as on the hardware (where disabling the APIC clears the
 * bit). Features are the ones tachyon implements: no PAE (the walker is
 * 2-level), no MCE/MCA (no machine-check banks), no PSE36 (no physical
 * memory above 4 GiB), no VME (CR4.VME is not emulated), no CLFSH, no SSE3+.
 *
 * Leaves past the last basic or extended leaf return the last basic leaf's
 * values, which is what Intel parts do.
 */
#include "monitor/cpuid.h"

#include <string.h>

#include "devices/bus.h"
#include "monitor/machine.h"

#define CPUID_MAX_BASIC 2u
#define CPUID_MAX_EXT 0x80000004u
#define APIC_DEFAULT_BASE 0xfee00000u
#define APIC_BASE_ENABLE (1ull << 11)

#define CPUID_FEATURES                                                                             \
    (CPUID_1_EDX_FPU | CPUID_1_EDX_DE | CPUID_1_EDX_PSE | CPUID_1_EDX_TSC | CPUID_1_EDX_MSR |      \
     CPUID_1_EDX_CX8 | CPUID_1_EDX_SEP | CPUID_1_EDX_MTRR | CPUID_1_EDX_PGE | CPUID_1_EDX_CMOV |   \
     CPUID_1_EDX_PAT | CPUID_1_EDX_MMX | CPUID_1_EDX_FXSR | CPUID_1_EDX_SSE | CPUID_1_EDX_SSE2)

/*
 * Leaf 2: one round (AL = 1) of cache/TLB descriptors, SDM table "Encoding of
 * CPUID Leaf 2 Descriptors": 01 ITLB 4K 32 entries 4-way, 02 ITLB 4M 2 entries,
 * 03 DTLB 4K 64 entries 4-way, 04 DTLB 4M 8 entries 4-way, 2C L1D 32K 8-way
 * 64-byte lines, 30 L1I 32K 8-way 64-byte lines, 7D L2 2M 8-way 64-byte lines.
 */
static const uint32_t leaf2[4] = {0x03020101u, 0x00302c04u, 0x00000000u, 0x0000007du};

static bool apic_present(struct machine *m)
{
    uint64_t msr = m->cpu->apic_base;
    uint32_t base = msr ? (uint32_t)(msr & 0xfffff000u) : APIC_DEFAULT_BASE;

    /* Zero means nobody has set the MSR up yet: treat it as its reset value (enabled). */
    if (msr && !(msr & APIC_BASE_ENABLE))
        return false;
    return bus__mmio_claimed(m, base) != 0;
}

static void brand(uint32_t leaf, uint32_t out[4])
{
    char s[48];

    memset(s, 0, sizeof(s));
    memcpy(s, CPUID_BRAND, sizeof(CPUID_BRAND) - 1);
    memcpy(out, s + (leaf - 0x80000002u) * 16, 16);
}

void cpuid__query(struct machine *m, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    (void)subleaf; /* no leaf of this model has subleaves */
    memset(out, 0, 4 * sizeof(out[0]));
    if ((leaf > CPUID_MAX_BASIC && leaf < 0x80000000u) || leaf > CPUID_MAX_EXT)
        leaf = CPUID_MAX_BASIC;
    switch (leaf) {
    case 0:
        out[CPUID_EAX] = CPUID_MAX_BASIC;
        memcpy(&out[CPUID_EBX], "Genu", 4);
        memcpy(&out[CPUID_EDX], "ineI", 4);
        memcpy(&out[CPUID_ECX], "ntel", 4);
        break;
    case 1:
        out[CPUID_EAX] = CPUID_SIGNATURE;
        out[CPUID_EBX] = 0; /* brand index 0, no CLFLUSH size, one logical CPU, APIC ID 0 */
        out[CPUID_ECX] = 0;
        out[CPUID_EDX] = CPUID_FEATURES | (apic_present(m) ? CPUID_1_EDX_APIC : 0);
        break;
    case 2:
        memcpy(out, leaf2, sizeof(leaf2));
        break;
    case 0x80000000u:
        out[CPUID_EAX] = CPUID_MAX_EXT;
        break;
    case 0x80000001u:
        break; /* no extended features: no NX, no long mode, no LAHF64 */
    case 0x80000002u:
    case 0x80000003u:
    case 0x80000004u:
        brand(leaf, out);
        break;
    }
}
