/*
 * The translator's public face: translate guest code at the vCPU's current
 * CS:EIP into the translation cache (TC), find translations, chain them, and
 * drop them when their guest bytes change. The run loop (src/monitor/run.c)
 * is the only caller; translated code talks back only through exits.
 */
#ifndef TACHYON_BT_H
#define TACHYON_BT_H

#include <stdbool.h>
#include <stdint.h>

struct machine;
struct vcpu;
struct block;

/* Mode bits a translation depends on (with the linear EIP and the CS base). */
#define MODE_CODE32 (1u << 0)   /* CS.D */
#define MODE_STACK32 (1u << 1)  /* SS.B */
#define MODE_CPL_SHIFT 2        /* 2 bits */
#define MODE_FLAT_SHIFT 4       /* 6 bits: segment i has base 0 */
#define MODE_PE (1u << 10)
#define MODE_VM86 (1u << 11)
#define MODE_TS (1u << 12)
#define MODE_EM (1u << 13)
#define MODE_MP (1u << 14)
#define MODE_OSFXSR (1u << 15)
#define MODE_PG (1u << 16)
#define MODE_TF (1u << 17)     /* single-step: one instruction per block, never linked */

uint32_t bt__mode(const struct vcpu *c);

/* What an EXIT_CALLOUT asks of the monitor (vcpu->exit_arg): one of these, or (values of
 * CALLOUT_DECODED and up) a pointer to the instruction decoded at translation time, which
 * the monitor runs without fetching and decoding it again (bt__callout_insn). */
#define CALLOUT_DECODED 4096
enum callout {
    CALLOUT_INTERP,   /* run the instruction at EIP in the interpreter */
    CALLOUT_UD,       /* raise #UD at EIP (invalid or unadvertised instruction) */
    CALLOUT_NM,       /* raise #NM at EIP (FPU/SSE with CR0.TS or CR0.EM) */
    CALLOUT_DB,       /* an enabled DR0-DR3 execution breakpoint matches EIP */
    CALLOUT_RDTSC,    /* RDTSC (0F 31): hot in Linux, handled without decoding */
    CALLOUT_STALE,    /* a self-checking block found its guest bytes changed */
};

int bt__init(struct machine *m);
void bt__destroy(struct machine *m);

/* Enter translated code at pc; returns when the TC exits (reason in vcpu). */
void bt__enter(struct machine *m, void *pc);

struct mem_fault;

/* Host entry for the guest instruction at the vCPU's CS:EIP, translating if needed; mode
 * is bt__mode() of the vCPU as it is. Returns NULL if fetching the instruction faults (*f
 * says how). */
void *bt__lookup(struct machine *m, uint32_t mode, struct mem_fault *f);

/* After an exit at a patchable branch (vcpu->exit_pc != 0), link it to target. */
void bt__chain(struct machine *m, uint64_t site, void *target);

/* Fill the inline indirect-branch table for the vCPU's current eip -> pc. */

/* Guest-physical page gpa (4 KiB aligned) was written: drop its translations. */
void bt__invalidate_page(struct machine *m, uint32_t gpa);
/* Bumped by every flush: sites and pointers from an older generation are gone. */
uint64_t bt__generation(struct machine *m);
/* Linear range [lin, lin+len_minus_1] of address space cr3 was remapped: forget the
 * indirect-branch targets that went through it. */
void bt__lin_unmapped(struct machine *m, uint32_t cr3, uint32_t lin, uint32_t len_minus_1);
/* Paging rules changed (CR0.WP, CR4.PSE/PGE, all windows dropped): forget all targets. */
void bt__paging_changed(struct machine *m);
/* INVLPG of [lin, lin+len): forget lookups of targets there in the tables of global pages
 * (which, like global TLB entries, page-table writes and CR3 loads leave alone). */
void bt__global_unmapped(struct machine *m, uint32_t lin, uint32_t len);
/* Nothing traces the page tables of address space cr3 any more: forget its lookups. */
void bt__forget_space(struct machine *m, uint32_t cr3);
/* Drop everything (mode-table changes, TC full, guest asked for a full flush). */
void bt__flush(struct machine *m);

/* Adaptive retranslation: the translated instruction at host pc faulted and its access was
 * emulated. The second time for the same guest instruction, its block is dropped and the
 * instruction is translated from then on as a callout to the interpreter, which does the
 * access without a host signal (writes to page tables, MMIO). */
void bt__emulated_at(struct machine *m, uint64_t pc);

struct ZydisDecodedInstruction_;
/* The decoded instruction behind an EXIT_CALLOUT's exit_arg (>= CALLOUT_DECODED). */
void bt__callout_insn(uint64_t arg, const void **in, const void **ops);
/* The decoded callout `arg` ran; `needed` if its accesses needed the monitor (MMIO, ROM,
 * a traced or code page). An adaptive callout that stops needing it is translated again. */
void bt__callout_done(struct machine *m, uint64_t arg, bool needed);

/* Host-fault support: map a host PC inside the TC to the guest instruction.
 * Fills *eip and *fixup_reg (host register saved in R9 that must be restored, or -1).
 * Returns false if pc is not inside translated guest code. Async-signal-safe. */
bool bt__pc_to_guest(struct machine *m, uint64_t pc, uint32_t *eip, int *fixup_reg);

/* Is pc inside the TC at all (guest code or stubs)? Async-signal-safe. */
bool bt__pc_in_tc(struct machine *m, uint64_t pc);

/* Address of the generic exit stub (the signal handler resumes there). */
void *bt__exit_stub(struct machine *m);

#endif
