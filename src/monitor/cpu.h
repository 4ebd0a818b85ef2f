/*
 * The virtual CPU: the whole architectural state of a P6-class processor, as
 * the guest sees it. While translated code runs, the general registers and
 * the arithmetic flags live in host registers (DESIGN.md §1) and the copies
 * here are stale; every exit from the translation cache stores them back.
 * Fields the translated code touches directly are at the front, and their
 * offsets are taken with offsetof() by the emitter.
 */
#ifndef TACHYON_CPU_H
#define TACHYON_CPU_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI };
enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_NR };

/* EFLAGS bits. */
#define EFL_CF 0x00000001u
#define EFL_PF 0x00000004u
#define EFL_AF 0x00000010u
#define EFL_ZF 0x00000040u
#define EFL_SF 0x00000080u
#define EFL_TF 0x00000100u
#define EFL_IF 0x00000200u
#define EFL_DF 0x00000400u
#define EFL_OF 0x00000800u
#define EFL_IOPL 0x00003000u
#define EFL_NT 0x00004000u
#define EFL_RF 0x00010000u
#define EFL_VM 0x00020000u
#define EFL_AC 0x00040000u
#define EFL_VIF 0x00080000u
#define EFL_VIP 0x00100000u
#define EFL_ID 0x00200000u
#define EFL_STATUS (EFL_CF | EFL_PF | EFL_AF | EFL_ZF | EFL_SF | EFL_OF)
/* The part of EFLAGS kept in host RFLAGS while translated code runs. */
#define EFL_HOST (EFL_STATUS | EFL_DF)

#define CR0_PE 0x00000001u
#define CR0_MP 0x00000002u
#define CR0_EM 0x00000004u
#define CR0_TS 0x00000008u
#define CR0_ET 0x00000010u
#define CR0_NE 0x00000020u
#define CR0_WP 0x00010000u
#define CR0_AM 0x00040000u
#define CR0_NW 0x20000000u
#define CR0_CD 0x40000000u
#define CR0_PG 0x80000000u

#define CR4_VME 0x0001u
#define CR4_PVI 0x0002u
#define CR4_TSD 0x0004u
#define CR4_DE 0x0008u
#define CR4_PSE 0x0010u
#define CR4_PAE 0x0020u
#define CR4_MCE 0x0040u
#define CR4_PGE 0x0080u
#define CR4_PCE 0x0100u
#define CR4_OSFXSR 0x0200u
#define CR4_OSXMMEXCPT 0x0400u

/* A segment register with its hidden descriptor cache. */
struct segment {
    uint32_t base;
    uint32_t limit;  /* byte granular, already scaled by G */
    uint16_t sel;
    uint16_t flags;  /* descriptor bits 40..55: type, S, DPL, P, AVL, L, D/B, G (as in the GDT) */
};

#define SEGF_TYPE 0x000f
#define SEGF_S 0x0010
#define SEGF_DPL(f) (((f) >> 5) & 3)
#define SEGF_P 0x0080
#define SEGF_DB 0x4000
#define SEGF_G 0x8000

struct dtable {
    uint32_t base;
    uint16_t limit;
};

/* Why translated code returned to the monitor. */
enum exit_reason {
    EXIT_NONE,
    EXIT_TRANSLATE,   /* no translation for eip (entry, chain miss, lookup miss) */
    EXIT_BUDGET,      /* instruction budget ran out or another thread asked us to stop */
    EXIT_CALLOUT,     /* an instruction needs C: exit_arg is the callout id */
    EXIT_FAULT,       /* host signal in translated code: fault_* describe it */
    EXIT_HLT,
    EXIT_UNSUPPORTED, /* instruction the translator does not handle: stop the VM */
    EXIT_NR,
};

const char *exit_reason_name(int r);

/* A data-segment load at CPL 0 that succeeded: inline loads of the same selector reuse it
 * after checking that the descriptor in the GDT still has these bytes. */
struct seg_memo {
    uint64_t desc;         /* descriptor as in the GDT (accessed bit set) */
    uint32_t base, limit;  /* as struct segment */
    uint16_t sel, flags;
    uint32_t pad[3];       /* 32 bytes: translated code indexes with a shift */
};

/* The last VERW at CPL 0 of a GDT selector: translated code gives the same ZF while the
 * selector and the descriptor's bytes are the same (sel 0: empty). */
struct verw_memo {
    uint64_t desc;
    uint16_t sel, pad;
    uint32_t zf;           /* 0x40 (ZF) or 0, as an RFLAGS bit */
};

struct vcpu {
    /* --- touched by translated code and the enter/exit stubs (offsets in the emitter) --- */
    uint64_t gpr[8];       /* EAX..EDI, guest order (ESP is [4]); upper halves ignored */
    uint64_t rflags;       /* host RFLAGS image: guest CF PF AF ZF SF OF DF, plus 0x202 */
    int64_t budget;        /* guest instructions left; other threads set it negative to stop us */
    uint64_t host_rsp;     /* monitor stack at entry; the exit stub returns through it */
    uint32_t eip;          /* guest EIP (offset in CS), valid after every exit */
    uint32_t exit_reason;  /* enum exit_reason */
    uint64_t exit_arg;     /* callout id, branch target, ... */
    uint64_t exit_pc;      /* host PC after the exiting stub (for chaining and resuming) */
    void *lookup;          /* inline indirect-branch table for the current mode */
    void *lookup_global;   /* and for targets in global pages (NULL without CR4.PGE) */
    uint32_t seg_base[SEG_NR]; /* copies of seg[].base for address arithmetic in the TC */
    uint32_t scratch[4];   /* temporaries for sequences that need memory */
    uint64_t window;       /* host address of the active window (the GS base) */
    uint64_t window_neg;   /* -window: inline string instructions subtract it flag-free */
    uint32_t sti_next;     /* EIP after the last inline STI: an exit there is in its shadow */
    struct seg_memo seg_memo[8]; /* by (selector index & 7); sel 0 = empty */
    struct verw_memo verw_memo;
    uint8_t irq_waiting;   /* an interrupt waits for IF (set at entry): inline STI and POPF
                              that would set IF take the slow path */

    /* --- the rest of the architectural state, touched only from C --- */
    uint32_t eflags_sys;   /* IF, TF, IOPL, NT, RF, VM, AC, VIF, VIP, ID: never in host RFLAGS */
    struct segment seg[SEG_NR];
    struct segment ldtr, tr;
    struct dtable gdtr, idtr;
    uint32_t cr0, cr2, cr3, cr4;
    uint32_t dr[8];
    uint32_t a20_mask;     /* 0xffffffff, or 0xffefffff with the A20 gate closed */

    /* MSRs */
    uint32_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t apic_base;
    uint64_t misc_enable;
    uint64_t pat;
    uint64_t mtrr_cap, mtrr_def_type, mtrr_fixed[11], mtrr_var[16];
    uint64_t tsc_offset;   /* guest TSC = vtime__tsc_reference() + tsc_offset */

    /* Pending external events, set by other threads with atomics. */
    uint32_t pending_irq;
    bool halted;
    bool step_done;        /* the run loop's last callout or emulation completed an instruction */
    bool mem_sys;          /* implicit supervisor accesses (descriptor tables, IDT, TSS,
                              inner stacks): mem.c checks pages as CPL 0 while set */
    bool irq_shadow;       /* MOV SS, POP SS or STI (IF 0->1) just ran: no interrupt before
                              the next instruction completes; the run loop clears it */

    /* Fault description for EXIT_FAULT (filled by the signal handler). */
    int fault_signo;
    int fault_code;
    uint64_t fault_host_addr;
    uint64_t fault_pc;     /* host PC of the faulting instruction in the TC */
    uint32_t fault_linear;
    uint32_t fault_is_write;

    /* The guest's SSE state while the monitor runs, in FXSAVE layout: MXCSR and XMM0-7 only.
     * The x87/MMX part of the guest's state stays in the host FPU, which the monitor never
     * uses (bt/stubs.c); vcpu_fpu_image() gives the whole image. */
    uint8_t fxsave[512] __attribute__((aligned(64)));
};

enum {
    FXSAVE_MXCSR = 24,  /* offsets in the FXSAVE image */
    FXSAVE_XMM = 160,
    MXCSR_DEFAULT = 0x1f80,
};

/* Full guest EFLAGS from the host image and the virtual system bits. */
static inline uint32_t vcpu_eflags(const struct vcpu *c)
{
    return ((uint32_t)c->rflags & EFL_HOST) | c->eflags_sys | 0x2;
}

static inline void vcpu_set_eflags(struct vcpu *c, uint32_t v)
{
    c->rflags = (v & EFL_HOST) | 0x202;
    c->eflags_sys = v & ~(EFL_HOST | 0x2u) & 0x003f7fd5u;
}

static inline unsigned vcpu_cpl(const struct vcpu *c)
{
    if (!(c->cr0 & CR0_PE))
        return 0;
    if (c->eflags_sys & EFL_VM)
        return 3;
    return c->seg[SEG_SS].flags >> 5 & 3; /* SS.DPL == CPL */
}

void vcpu_reset(struct vcpu *c);
void vcpu_load_flat32(struct vcpu *c); /* flat 4 GiB protected-mode segments, as Multiboot leaves them */
void vcpu_dump(const struct vcpu *c, FILE *f);
/* The guest's whole x87/MMX/SSE state as FXSAVE stores it: the x87 part read from the host
 * FPU, MXCSR and XMM0-7 from c->fxsave. Only the vCPU's thread, outside the TC, may ask. */
void vcpu_fpu_image(const struct vcpu *c, uint8_t out[512]);

#endif
