/*
 * Architectural vCPU state that is not about running code: the power-on
 * (RESET) state of a P6-class processor, the flat protected-mode state a
 * Multiboot loader leaves behind, a register dump laid out like QEMU's
 * `info registers` (so dumps of the two can be diffed line by line), and
 * the names of exit reasons.
 *
 * Both state setters write every field they own, so a vCPU that ran before
 * ends up exactly as a fresh one; the seg_base[] copies used by translated
 * code are refreshed whenever seg[] changes here.
 */
#include "monitor/cpu.h"

#include <stddef.h>
#include <string.h>

#include "monitor/cpuid.h"
#include "monitor/vtime.h"

/* Descriptor bits 40..55 (struct segment.flags) for the states set here. */
#define SEG_REAL_CODE 0x009b /* P, S, code, readable, accessed */
#define SEG_REAL_DATA 0x0093 /* P, S, data, writable, accessed */
#define SEG_FLAT_CODE 0xcf9b /* the same, plus limit 19:16 = f, D/B, G */
#define SEG_FLAT_DATA 0xcf93
#define SEG_LDT 0x0082        /* P, LDT */
#define SEG_TSS32_BUSY 0x008b /* P, 32-bit busy TSS */

static void set_seg(struct vcpu *c, int s, uint16_t sel, uint32_t base, uint32_t limit,
                    uint16_t flags)
{
    c->seg[s] = (struct segment){.base = base, .limit = limit, .sel = sel, .flags = flags};
    c->seg_base[s] = base;
}

/* RESET: the x87 part as after FNINIT (it lives in the host FPU), MXCSR masking every SSE
 * exception, the XMM registers zero. */
static void reset_fpu(struct vcpu *c)
{
    memset(c->fxsave, 0, sizeof(c->fxsave));
    c->fxsave[FXSAVE_MXCSR] = MXCSR_DEFAULT & 0xff;
    c->fxsave[FXSAVE_MXCSR + 1] = MXCSR_DEFAULT >> 8;
    __asm__ volatile("fninit");
}

void vcpu_fpu_image(const struct vcpu *c, uint8_t out[512])
{
    uint8_t img[512] __attribute__((aligned(16)));

    __asm__ volatile("fxsave64 %0" : "=m"(img));
    memcpy(img + FXSAVE_MXCSR, c->fxsave + FXSAVE_MXCSR, 4);
    memcpy(img + FXSAVE_XMM, c->fxsave + FXSAVE_XMM, 8 * 16);
    memset(img + FXSAVE_XMM + 8 * 16, 0, 512 - FXSAVE_XMM - 8 * 16);
    memcpy(out, img, 512);
}

void vcpu_reset(struct vcpu *c)
{
    /* Monitor plumbing, not architectural state: a guest reset must not lose it. */
    int64_t budget = c->budget;
    uint64_t host_rsp = c->host_rsp;
    void *lookup = c->lookup;
    int s;

    /* Everything not named below is zero at RESET (Intel SDM vol. 3, table 9-1). */
    memset(c, 0, offsetof(struct vcpu, fxsave));
    c->budget = budget;
    c->host_rsp = host_rsp;
    c->lookup = lookup;
    reset_fpu(c);
    c->tsc_offset = 0 - vtime__tsc_reference(); /* the TSC counts from 0 */

    c->gpr[R_EDX] = CPUID_SIGNATURE; /* EDX holds the processor signature after RESET */
    c->rflags = 0x202;               /* guest EFLAGS = 0x00000002 */
    c->eflags_sys = 0;
    c->eip = 0xfff0;

    for (s = 0; s < SEG_NR; s++)
        set_seg(c, s, 0, 0, 0xffff, SEG_REAL_DATA);
    /* The first fetch is at 0xfffffff0: CS.base keeps its high bits until the first far jump. */
    set_seg(c, SEG_CS, 0xf000, 0xffff0000, 0xffff, SEG_REAL_CODE);
    c->ldtr = (struct segment){.limit = 0xffff, .flags = SEG_LDT};
    c->tr = (struct segment){.limit = 0xffff, .flags = SEG_TSS32_BUSY};
    c->gdtr = (struct dtable){.base = 0, .limit = 0xffff};
    c->idtr = (struct dtable){.base = 0, .limit = 0xffff};

    c->cr0 = CR0_CD | CR0_NW | CR0_ET;
    c->dr[6] = 0xffff0ff0;
    c->dr[7] = 0x00000400;
    c->a20_mask = 0xffffffff;

    c->apic_base = 0xfee00000 | 0x800 | 0x100; /* enabled, bootstrap processor */
    c->misc_enable = 1;                        /* fast strings, as QEMU reports */
    c->pat = 0x0007040600070406ull;
    c->mtrr_cap = 0x508; /* WC supported, fixed-range MTRRs, 8 variable ranges: a P6 */
    c->halted = false;
}

void vcpu_load_flat32(struct vcpu *c)
{
    int s;

    for (s = 0; s < SEG_NR; s++)
        set_seg(c, s, 0x10, 0, 0xffffffff, SEG_FLAT_DATA);
    set_seg(c, SEG_CS, 0x08, 0, 0xffffffff, SEG_FLAT_CODE);
    /* SeaBIOS clears CD and NW on its way to 32-bit mode; paging is off (Multiboot spec 3.2). */
    c->cr0 = CR0_PE | CR0_ET;
    c->eflags_sys &= ~(EFL_IF | EFL_VM | EFL_TF | EFL_NT | EFL_RF);
    c->rflags &= ~(uint64_t)EFL_DF;
    c->rflags |= 0x202;
    c->a20_mask = 0xffffffff;
    c->halted = false;
}

static const char *const exit_names[EXIT_NR] = {
    [EXIT_NONE] = "none",
    [EXIT_TRANSLATE] = "translate",
    [EXIT_BUDGET] = "budget",
    [EXIT_CALLOUT] = "callout",
    [EXIT_FAULT] = "fault",
    [EXIT_HLT] = "hlt",
    [EXIT_UNSUPPORTED] = "unsupported",
};

const char *exit_reason_name(int r)
{
    if (r < 0 || r >= EXIT_NR || !exit_names[r])
        return "unknown";
    return exit_names[r];
}

/* System-segment types in a 32-bit (non-long-mode) view, as QEMU names them. */
static const char *const sys_type_name[16] = {
    "Reserved",   "TSS16-avl",  "LDT",       "TSS16-busy", "CallGate16", "TaskGate",
    "IntGate16",  "TrapGate16", "Reserved",  "TSS32-avl",  "Reserved",   "TSS32-busy",
    "CallGate32", "Reserved",   "IntGate32", "TrapGate32",
};

static void dump_seg(const struct vcpu *c, FILE *f, const char *name, const struct segment *sg)
{
    unsigned fl = sg->flags;

    fprintf(f, "%-3s=%04x %08x %08x %08x", name, sg->sel, sg->base, sg->limit,
            (fl << 8) & 0x00ffff00);
    if ((c->cr0 & CR0_PE) && (fl & SEGF_P)) {
        fprintf(f, " DPL=%u ", SEGF_DPL(fl));
        if (fl & SEGF_S) {
            if (fl & 0x8) /* code */
                fprintf(f, "%s [%c%c", (fl & SEGF_DB) ? "CS32" : "CS16", (fl & 4) ? 'C' : '-',
                        (fl & 2) ? 'R' : '-');
            else
                fprintf(f, "%s [%c%c", (fl & SEGF_DB) ? "DS  " : "DS16", (fl & 4) ? 'E' : '-',
                        (fl & 2) ? 'W' : '-');
            fprintf(f, "%c]", (fl & 1) ? 'A' : '-');
        } else {
            fputs(sys_type_name[fl & SEGF_TYPE], f);
        }
    }
    fputc('\n', f);
}

static uint16_t fx16(const uint8_t *fx, int off)
{
    return (uint16_t)(fx[off] | fx[off + 1] << 8);
}

static uint32_t fx32(const uint8_t *fx, int off)
{
    return (uint32_t)fx16(fx, off) | (uint32_t)fx16(fx, off + 2) << 16;
}

static void dump_fpu(const struct vcpu *c, FILE *f)
{
    uint8_t fx[512];
    uint16_t fsw;
    uint8_t ftw_abridged;
    int i;

    vcpu_fpu_image(c, fx);
    fsw = fx16(fx, 2);
    ftw_abridged = fx[4];

    /* QEMU prints one bit per register, set when it holds a value: the abridged tag. */
    fprintf(f, "FCW=%04x FSW=%04x [ST=%d] FTW=%02x MXCSR=%08x\n", fx16(fx, 0), fsw, (fsw >> 11) & 7,
            ftw_abridged, fx32(fx, FXSAVE_MXCSR));
    for (i = 0; i < 8; i++) {
        int off = 32 + 16 * i;
        uint64_t mant = (uint64_t)fx32(fx, off) | (uint64_t)fx32(fx, off + 4) << 32;

        fprintf(f, "FPR%d=%016llx %04x", i, (unsigned long long)mant, fx16(fx, off + 8));
        fputc((i & 1) ? '\n' : ' ', f);
    }
    for (i = 0; i < 8; i++) {
        int off = FXSAVE_XMM + 16 * i;

        fprintf(f, "XMM%02d=%08x%08x%08x%08x", i, fx32(fx, off + 12), fx32(fx, off + 8),
                fx32(fx, off + 4), fx32(fx, off));
        fputc((i & 1) ? '\n' : ' ', f);
    }
}

void vcpu_dump(const struct vcpu *c, FILE *f)
{
    static const char *const seg_name[SEG_NR] = {"ES", "CS", "SS", "DS", "FS", "GS"};
    uint32_t efl = vcpu_eflags(c);
    int s;

    fprintf(f, "EAX=%08x EBX=%08x ECX=%08x EDX=%08x\n", (uint32_t)c->gpr[R_EAX],
            (uint32_t)c->gpr[R_EBX], (uint32_t)c->gpr[R_ECX], (uint32_t)c->gpr[R_EDX]);
    fprintf(f, "ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n", (uint32_t)c->gpr[R_ESI],
            (uint32_t)c->gpr[R_EDI], (uint32_t)c->gpr[R_EBP], (uint32_t)c->gpr[R_ESP]);
    fprintf(f, "EIP=%08x EFL=%08x [%c%c%c%c%c%c%c] CPL=%u II=0 A20=%u SMM=0 HLT=%d\n", c->eip, efl,
            (efl & EFL_DF) ? 'D' : '-', (efl & EFL_OF) ? 'O' : '-', (efl & EFL_SF) ? 'S' : '-',
            (efl & EFL_ZF) ? 'Z' : '-', (efl & EFL_AF) ? 'A' : '-', (efl & EFL_PF) ? 'P' : '-',
            (efl & EFL_CF) ? 'C' : '-', vcpu_cpl(c), (c->a20_mask >> 20) & 1, c->halted ? 1 : 0);
    for (s = 0; s < SEG_NR; s++)
        dump_seg(c, f, seg_name[s], &c->seg[s]);
    dump_seg(c, f, "LDT", &c->ldtr);
    dump_seg(c, f, "TR", &c->tr);
    fprintf(f, "GDT=     %08x %08x\n", c->gdtr.base, c->gdtr.limit);
    fprintf(f, "IDT=     %08x %08x\n", c->idtr.base, c->idtr.limit);
    fprintf(f, "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n", c->cr0, c->cr2, c->cr3, c->cr4);
    fprintf(f, "DR0=%08x DR1=%08x DR2=%08x DR3=%08x \n", c->dr[0], c->dr[1], c->dr[2], c->dr[3]);
    fprintf(f, "DR6=%08x DR7=%08x\n", c->dr[6], c->dr[7]);
    fprintf(f, "EFER=%016x\n", 0);
    dump_fpu(c, f);
}
