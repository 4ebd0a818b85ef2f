/*
 * RDMSR and WRMSR (sysinsn-internal.h): the model-specific registers of the
 * P6-class CPU that monitor/cpuid.c describes (SEP, TSC, MTRR, PAT, APIC).
 * Everything else raises #GP(0), which is what the hardware does for an MSR
 * it does not have, and what guests probing with rdmsr_safe() expect.
 *
 * The TSC is the virtual clock plus an offset (monitor/vtime.h), so writing
 * it moves the offset. MTRRs and PAT are only stored: guest RAM has one
 * memory type on the host. Writes of reserved bits or invalid memory types
 * fault as on the hardware, so firmware that tests them sees a real part.
 */
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/sysinsn-internal.h"
#include "monitor/vtime.h"

enum {
    MSR_TSC = 0x10,
    MSR_PLATFORM_ID = 0x17,
    MSR_BIOS_SIGN_ID = 0x8b,   /* microcode revision: writes of 0 precede a CPUID that sets it */
    MSR_APIC_BASE = 0x1b,
    MSR_MTRRCAP = 0xfe,
    MSR_SYSENTER_CS = 0x174,
    MSR_SYSENTER_ESP = 0x175,
    MSR_SYSENTER_EIP = 0x176,
    MSR_MISC_ENABLE = 0x1a0,
    MSR_MTRR_PHYS_BASE0 = 0x200, /* ... 0x20f: base/mask pairs of 8 variable ranges */
    MSR_MTRR_FIX64K_00000 = 0x250,
    MSR_MTRR_FIX16K_80000 = 0x258,
    MSR_MTRR_FIX16K_A0000 = 0x259,
    MSR_MTRR_FIX4K_C0000 = 0x268, /* ... 0x26f */
    MSR_PAT = 0x277,
    MSR_MTRR_DEF_TYPE = 0x2ff,
};

/* APIC base (bits 12..35 with 36-bit physical addresses), enable, BSP. */
#define APIC_BASE_VALID 0x0000000ffffff900ull
/* Default type (bits 0..7), fixed-range enable (10), MTRR enable (11). */
#define MTRR_DEF_TYPE_VALID 0xcffull
/* Variable range: base has the type in 0..7; mask the valid bit 11; addresses are 36-bit. */
#define MTRR_PHYS_BASE_VALID 0x0000000ffffff0ffull
#define MTRR_PHYS_MASK_VALID 0x0000000ffffff800ull

/* A memory type MTRRs and PAT accept: UC, WC, WT, WP, WB (PAT also UC- = 7). */
static bool mem_type_ok(unsigned t, bool pat)
{
    return t == 0 || t == 1 || t == 4 || t == 5 || t == 6 || (pat && t == 7);
}

static bool types_ok(uint64_t v, bool pat)
{
    for (int i = 0; i < 8; i++)
        if (!mem_type_ok((unsigned)(v >> (8 * i)) & 0xff, pat))
            return false;
    return true;
}

/* The fixed-range MTRR index for msr, or -1. */
static int fixed_index(uint32_t msr)
{
    if (msr == MSR_MTRR_FIX64K_00000)
        return 0;
    if (msr == MSR_MTRR_FIX16K_80000 || msr == MSR_MTRR_FIX16K_A0000)
        return 1 + (int)(msr - MSR_MTRR_FIX16K_80000);
    if (msr >= MSR_MTRR_FIX4K_C0000 && msr <= MSR_MTRR_FIX4K_C0000 + 7)
        return 3 + (int)(msr - MSR_MTRR_FIX4K_C0000);
    return -1;
}

static bool rdmsr(struct machine *m, uint32_t msr, uint64_t *v)
{
    struct vcpu *c = m->cpu;
    int fix = fixed_index(msr);

    if (fix >= 0) {
        *v = c->mtrr_fixed[fix];
        return true;
    }
    if (msr >= MSR_MTRR_PHYS_BASE0 && msr < MSR_MTRR_PHYS_BASE0 + 16) {
        *v = c->mtrr_var[msr - MSR_MTRR_PHYS_BASE0];
        return true;
    }
    switch (msr) {
    case MSR_TSC: *v = vtime__tsc(m); return true;
    case MSR_PLATFORM_ID: *v = 0; return true;
    case MSR_BIOS_SIGN_ID: *v = 0; return true; /* no microcode update loaded */
    case MSR_APIC_BASE: *v = c->apic_base; return true;
    case MSR_MTRRCAP: *v = c->mtrr_cap; return true;
    case MSR_SYSENTER_CS: *v = c->sysenter_cs; return true;
    case MSR_SYSENTER_ESP: *v = c->sysenter_esp; return true;
    case MSR_SYSENTER_EIP: *v = c->sysenter_eip; return true;
    case MSR_MISC_ENABLE: *v = c->misc_enable; return true;
    case MSR_PAT: *v = c->pat; return true;
    case MSR_MTRR_DEF_TYPE: *v = c->mtrr_def_type; return true;
    default: return false;
    }
}

static bool wrmsr(struct machine *m, uint32_t msr, uint64_t v)
{
    struct vcpu *c = m->cpu;
    int fix = fixed_index(msr);

    if (fix >= 0) {
        if (!types_ok(v, false))
            return false;
        c->mtrr_fixed[fix] = v;
        return true;
    }
    if (msr >= MSR_MTRR_PHYS_BASE0 && msr < MSR_MTRR_PHYS_BASE0 + 16) {
        bool is_mask = msr & 1;

        if (v & ~(is_mask ? MTRR_PHYS_MASK_VALID : MTRR_PHYS_BASE_VALID))
            return false;
        if (!is_mask && !mem_type_ok((unsigned)v & 0xff, false))
            return false;
        c->mtrr_var[msr - MSR_MTRR_PHYS_BASE0] = v;
        return true;
    }
    switch (msr) {
    case MSR_TSC:
        vtime__set_tsc(m, v);
        return true;
    case MSR_APIC_BASE:
        if (v & ~APIC_BASE_VALID)
            return false;
        c->apic_base = v;
        return true;
    case MSR_BIOS_SIGN_ID: return true;
    case MSR_SYSENTER_CS: c->sysenter_cs = (uint32_t)v; return true;
    case MSR_SYSENTER_ESP: c->sysenter_esp = (uint32_t)v; return true;
    case MSR_SYSENTER_EIP: c->sysenter_eip = (uint32_t)v; return true;
    case MSR_MISC_ENABLE: c->misc_enable = v; return true;
    case MSR_PAT:
        if (!types_ok(v, true))
            return false;
        c->pat = v;
        return true;
    case MSR_MTRR_DEF_TYPE:
        if ((v & ~MTRR_DEF_TYPE_VALID) || !mem_type_ok((unsigned)v & 0xff, false))
            return false;
        c->mtrr_def_type = v;
        return true;
    default: /* MTRRcap is read-only, like every MSR not listed */
        return false;
    }
}

int sx_msr(struct sx *x)
{
    struct vcpu *c = x->c;
    uint32_t msr = (uint32_t)c->gpr[R_ECX];
    uint64_t v;

    if (sx_priv_fail(x))
        return sx_gp0(x);
    if (x->in->mnemonic == ZYDIS_MNEMONIC_RDMSR) {
        if (!rdmsr(x->m, msr, &v)) {
            LOG(GUEST, 2, "rdmsr of unknown MSR %#x at %08x: #GP", msr, c->eip);
            return sx_gp0(x);
        }
        c->gpr[R_EAX] = (uint32_t)v;
        c->gpr[R_EDX] = (uint32_t)(v >> 32);
        return INTERP_OK;
    }
    v = (uint32_t)c->gpr[R_EAX] | (uint64_t)(uint32_t)c->gpr[R_EDX] << 32;
    if (!wrmsr(x->m, msr, v)) {
        LOG(GUEST, 2, "wrmsr %#x <- %#llx at %08x: #GP", msr, (unsigned long long)v, c->eip);
        return sx_gp0(x);
    }
    return INTERP_OK;
}
