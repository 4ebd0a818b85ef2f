/*
 * Segmentation: descriptors in the GDT and LDT, the hidden descriptor cache
 * of each segment register (struct segment: base, byte-granular limit, and
 * descriptor bits 40..55 as flags), and the architectural checks of segment
 * loads. Every change of c->seg[i] made here also updates c->seg_base[i],
 * which translated code reads.
 *
 * Functions that can fault return 0, or -1 with *exc filled (vector, error
 * code) and the vCPU unchanged.
 */
#ifndef TACHYON_SEG_H
#define TACHYON_SEG_H

#include <stdbool.h>
#include <stdint.h>

#include "bt/interp.h"
#include "monitor/cpu.h"

struct machine;
struct mem_fault;

/* Type bits of struct segment.flags for code/data descriptors (S = 1). */
#define SEGF_ACCESSED 0x0001
#define SEGF_RW 0x0002        /* readable code, writable data */
#define SEGF_DC 0x0004        /* conforming code, expand-down data */
#define SEGF_CODE 0x0008

/* System descriptor types (S = 0). */
enum {
    DESC_TSS16_AVAIL = 1, DESC_LDT = 2, DESC_TSS16_BUSY = 3, DESC_CALL16 = 4, DESC_TASK = 5,
    DESC_INT16 = 6, DESC_TRAP16 = 7, DESC_TSS32_AVAIL = 9, DESC_TSS32_BUSY = 11,
    DESC_CALL32 = 12, DESC_INT32 = 14, DESC_TRAP32 = 15,
};

#define DESC_ACCESSED (1ull << 40)
#define DESC_TSS_BUSY (1ull << 41)

/* Exception vectors segmentation raises. */
#define EXC_UD 6
#define EXC_TS 10
#define EXC_NP 11
#define EXC_SS 12
#define EXC_GP 13

static inline uint32_t desc_base(uint64_t d)
{
    return (uint32_t)((d >> 16) & 0xffffff) | (uint32_t)(d >> 56) << 24;
}

static inline uint32_t desc_limit(uint64_t d) /* byte granular */
{
    uint32_t l = (uint32_t)(d & 0xffff) | (uint32_t)(d >> 32 & 0xf0000);

    return (d & (1ull << 55)) ? l << 12 | 0xfff : l;
}

static inline uint16_t desc_flags(uint64_t d)
{
    return (uint16_t)(d >> 40);
}

static inline unsigned desc_dpl(uint64_t d)
{
    return (unsigned)(d >> 45) & 3;
}

static inline struct segment seg__from_desc(uint16_t sel, uint64_t d)
{
    return (struct segment){
        .base = desc_base(d), .limit = desc_limit(d), .sel = sel, .flags = desc_flags(d)};
}

/* Fill *exc; returns -1 so that callers can `return seg__fault(...)`. */
int seg__fault(struct interp_exc *exc, int vector, uint32_t error_code);
/* A guest memory fault (mem.h) as an exception. Returns -1. */
int seg__mem_fault(struct interp_exc *exc, const struct mem_fault *f);

/* Read the descriptor sel names from the GDT or LDT. Returns 0; 1 when the selector is
 * outside the table (or names the LDT while LDTR is unusable): the caller picks the fault;
 * -1 on a memory fault (*f filled). Null selectors read entry 0 of the GDT. */
int seg__read_desc(struct machine *m, uint16_t sel, uint64_t *desc, struct mem_fault *f);
/* The same, raising #GP(sel) for a selector outside its table. */
int seg__load_desc(struct machine *m, uint16_t sel, uint64_t *desc, struct interp_exc *exc);
/* Set bits (DESC_ACCESSED, DESC_TSS_BUSY) in the descriptor in guest memory and in *desc,
 * writing only when one is clear. */
int seg__set_desc_bits(struct machine *m, uint16_t sel, uint64_t *desc, uint64_t bits,
                       struct interp_exc *exc);

/* Cache loads, no checks. */
void seg__set_cache(struct vcpu *c, int segreg, uint16_t sel, uint64_t desc);
void seg__set_null(struct vcpu *c, int segreg, uint16_t sel); /* unusable: flags 0 */
/* Real mode: base = sel << 4, limit and attributes kept (big real mode). Virtual-8086 mode:
 * also limit 0xffff and DPL-3 read/write attributes. */
void seg__load_real(struct vcpu *c, int segreg, uint16_t sel);
/* CS for a far transfer whose checks passed: selector RPL becomes cpl, which is the new CPL. */
void seg__load_cs_raw(struct vcpu *c, uint16_t sel, uint64_t desc, unsigned cpl);

/* MOV/POP/LxS to ES, SS, DS, FS or GS in the current mode, with every architectural check
 * (null selector, table limit, type, DPL/RPL/CPL, present) and the accessed bit. CS -> #UD. */
int seg__load(struct machine *m, int segreg, uint16_t sel, struct interp_exc *exc);

/* Checks for a stack segment selector at privilege `cpl` (SS from the TSS, or popped by a
 * return to an outer level): null, type, RPL, DPL raise `vector` (EXC_GP or EXC_TS) with
 * error code sel | ext (0 | ext when null); not present raises #SS. Fills *desc. */
int seg__check_stack(struct machine *m, uint16_t sel, unsigned cpl, int vector, uint32_t ext,
                     uint64_t *desc, struct interp_exc *exc);

/* The stack for privilege level dpl in the current TSS (32-bit TSS: ESP at 4+8n, SS at 8+8n;
 * 16-bit: SP at 2+4n, SS at 4+4n). Outside the TSS limit: #TS(TR selector | ext). */
int seg__tss_stack(struct machine *m, unsigned dpl, uint32_t ext, uint16_t *ss, uint32_t *esp,
                   struct interp_exc *exc);

/* After a return to an outer privilege level: ES, DS, FS, GS that the new CPL may not use
 * (data or non-conforming code with DPL < cpl) become null. */
void seg__null_invalid(struct vcpu *c, unsigned cpl);

/* Is [off, off+size) inside the segment's limit (expand-down data segments included)? */
bool seg__in_limit(const struct segment *s, uint32_t off, unsigned size);

/* A stack that far transfers and interrupt delivery push to and pop from, possibly one not
 * loaded into SS yet. Offsets wrap at 64 KiB or 4 GiB by the segment's B bit; every access is
 * checked against the limit (#SS with `error`). Nothing reaches the vCPU until the caller
 * copies sp back with seg__stack_esp(), so a fault half-way leaves the registers alone. */
struct stack {
    struct segment ss;
    uint32_t sp;
    uint32_t mask;  /* 0xffff or 0xffffffff */
    uint32_t error; /* #SS error code */
};

void seg__stack_init(struct stack *st, const struct segment *ss, uint32_t esp, uint32_t error);
int seg__push(struct machine *m, struct stack *st, unsigned size, uint32_t v,
              struct interp_exc *exc);
int seg__pop(struct machine *m, struct stack *st, unsigned size, uint32_t *v,
             struct interp_exc *exc);

/* The new ESP: a 16-bit stack changes only SP, leaving the upper half of old_esp. */
static inline uint32_t seg__stack_esp(const struct stack *st, uint32_t old_esp)
{
    return (old_esp & ~st->mask) | (st->sp & st->mask);
}

#endif
