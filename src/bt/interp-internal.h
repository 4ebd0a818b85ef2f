/*
 * Shared between the interpreter's files (interp*.c), nobody else: the
 * per-instruction context, operand and stack helpers (interp.c), and the
 * host-executed ALU (interp-alu.c). Handlers for each instruction family
 * live in interp-data.c, interp-string.c, interp-flow.c and interp-sys.c.
 *
 * Handler contract: return an enum interp_status. A handler may change
 * registers and flags freely before it fails: interp__exec() restores the
 * snapshot taken before the instruction (or at the last ix_commit()). Memory
 * writes cannot be undone, so a handler stores to memory only after every
 * access that can fault has been checked (ix_probe_write() helps).
 */
#ifndef TACHYON_INTERP_INTERNAL_H
#define TACHYON_INTERP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <Zydis/Zydis.h>

#include "bt/interp.h"
#include "monitor/cpu.h"

struct machine;
struct mem_fault;

/* What a fault must put back: everything a handler may touch except memory and EIP. */
struct ix_state {
    uint64_t gpr[8];
    uint64_t rflags;
    uint32_t eflags_sys;
    struct segment seg[SEG_NR];
};

/* One instruction in execution. */
struct ix {
    struct machine *m;
    struct vcpu *c;
    const ZydisDecodedInstruction *in;
    const ZydisDecodedOperand *ops;
    struct interp_exc *exc;
    uint32_t next_eip;    /* where EIP goes on success; handlers change it for branches */
    uint32_t ip_mask;     /* 0xffff in 16-bit code, else 0xffffffff */
    unsigned osize;       /* operand size in bytes: 1, 2 or 4 */
    bool addr32;          /* 32-bit addressing (ECX/ESI/EDI, not CX/SI/DI) */
    bool stack32;         /* SS.B: ESP, not SP */
    bool trap;            /* the exception is a trap: keep state, EIP = next_eip */
    struct ix_state saved;
};

/* --- interp.c: exceptions ------------------------------------------------------------------ */
int ix_exception(struct ix *x, int vector, bool has_error, uint32_t error_code);
int ix_gp0(struct ix *x);
int ix_ud(struct ix *x);
int ix_mem_fault(struct ix *x, const struct mem_fault *f);
/* Make the current register state the one a later fault restores (REP iterations). */
void ix_commit(struct ix *x);

/* --- interp.c: registers ------------------------------------------------------------------- */
uint32_t ix_gpr(const struct ix *x, int r, unsigned size); /* r = R_EAX.., size 1 = AL..BL */
void ix_set_gpr(struct ix *x, int r, unsigned size, uint32_t v);
uint32_t ix_reg(const struct ix *x, ZydisRegister r);
int ix_set_reg(struct ix *x, ZydisRegister r, uint32_t v); /* INTERP_OK or a fault */
int ix_load_seg(struct ix *x, int seg, uint16_t sel);
/* The counter/index registers of the address size: ECX or CX, ... Wraps like the hardware. */
uint32_t ix_areg(const struct ix *x, int r);
void ix_set_areg(struct ix *x, int r, uint32_t v);

static inline uint32_t ix_flags(const struct ix *x)
{
    return (uint32_t)x->c->rflags & EFL_HOST;
}

static inline void ix_set_flags(struct ix *x, uint32_t mask, uint32_t v)
{
    x->c->rflags = (x->c->rflags & ~(uint64_t)mask & EFL_HOST) | (v & mask) | 0x202;
}

static inline uint32_t ix_mask(unsigned size)
{
    return size >= 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
}

/* --- interp.c: memory ---------------------------------------------------------------------- */
int ix_read(struct ix *x, int seg, uint32_t off, unsigned size, uint32_t *v);
int ix_write(struct ix *x, int seg, uint32_t off, unsigned size, uint32_t v);
/* Fail now, before any store, if a write of size bytes at seg:off would fault. */
int ix_probe_write(struct ix *x, int seg, uint32_t off, unsigned size);
uint32_t ix_ea(const struct ix *x, const ZydisDecodedOperand *op); /* offset, address-size wrap */
int ix_op_seg(const ZydisDecodedOperand *op);                         /* SEG_ES.. */
/* Read or write an explicit operand (register, memory, immediate); size is op->size. */
int ix_op_read(struct ix *x, const ZydisDecodedOperand *op, uint32_t *v);
int ix_op_write(struct ix *x, const ZydisDecodedOperand *op, uint32_t v);

/* --- interp.c: stack ----------------------------------------------------------------------- */
int ix_push(struct ix *x, unsigned size, uint32_t v);
int ix_pop(struct ix *x, unsigned size, uint32_t *v);
uint32_t ix_sp(const struct ix *x);
void ix_set_sp(struct ix *x, uint32_t v);

/* --- interp-alu.c: arithmetic on the host CPU, flags exactly as it computes them ------------ */
enum alu_op {
    ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP, /* ModRM /0../7 order */
    ALU_TEST, ALU_INC, ALU_DEC, ALU_NOT, ALU_NEG,
    ALU_ROL, ALU_ROR, ALU_RCL, ALU_RCR, ALU_SHL, ALU_SHR, ALU_SAR,
    ALU_BT, ALU_BTS, ALU_BTR, ALU_BTC, ALU_BSF, ALU_BSR, /* size 2 or 4 */
    ALU_MUL, ALU_IMUL, ALU_DIV, ALU_IDIV, /* alu_muldiv() only */
};
/* a OP b at size bytes; *rflags is the guest's host-RFLAGS image, updated in place (status
 * flags only). Returns the result (a for CMP/TEST/BT). */
uint32_t alu(enum alu_op op, unsigned size, uint32_t a, uint32_t b, uint64_t *rflags);
/* One-operand MUL/IMUL/DIV/IDIV: *ax is AX for size 1, else (E)AX; *dx is (E)DX. Division
 * only after alu_div_ok() said the quotient fits (else the guest gets #DE). */
void alu_muldiv(enum alu_op op, unsigned size, uint32_t *ax, uint32_t *dx, uint32_t src,
                uint64_t *rflags);
bool alu_div_ok(enum alu_op op, unsigned size, uint32_t ax, uint32_t dx, uint32_t src);
uint32_t alu_imul2(unsigned size, uint32_t a, uint32_t b, uint64_t *rflags); /* size 2 or 4 */
uint32_t alu_shd(bool left, unsigned size, uint32_t dst, uint32_t src, uint8_t cnt,
                 uint64_t *rflags); /* SHLD/SHRD, size 2 or 4 */
/* The status flags of a result computed in C: SF ZF PF from v, others cleared (then patched). */
uint32_t alu_szp(unsigned size, uint32_t v);
/* Condition code cc (0..15, as in Jcc/SETcc/CMOVcc) on the status flags in f. */
bool alu_cond(unsigned cc, uint32_t f);

/* --- handlers: each returns an enum interp_status, or IX_NOT_MINE for another family ---- */
#define IX_NOT_MINE (-1)
int ix_data(struct ix *x);   /* interp-data.c: MOV, ALU, XCHG, BT*, PUSH/POP, CMPXCHG, ... */
int ix_string(struct ix *x); /* interp-string.c: MOVS..OUTS with REP, IN, OUT */
int ix_flow(struct ix *x);   /* interp-flow.c: near JMP/Jcc/CALL/RET/LOOP, ENTER, LEAVE, ... */
int ix_sys(struct ix *x);    /* interp-sys.c: flags, BCD, CPUID, RDTSC, HLT, PUSHF/POPF, ... */

#endif
