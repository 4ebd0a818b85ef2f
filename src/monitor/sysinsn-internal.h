/*
 * Shared by the system-instruction files only (sysinsn.c, sysinsn-desc.c,
 * sysinsn-far.c, sysinsn-msr.c): the per-instruction context and its operand helpers.
 *
 * Handler contract: return an enum interp_status, or SX_NOT_MINE. A handler
 * may change registers before it fails (sys__exec() puts back a snapshot of
 * the vCPU's architectural registers on INTERP_EXCEPTION), but it stores to
 * guest memory only when nothing after the store can fault, except for
 * stack frames written below the stack pointer. A handler that moves EIP
 * itself (transfers) sets `jumped`; otherwise EIP becomes next_eip.
 */
#ifndef TACHYON_SYSINSN_INTERNAL_H
#define TACHYON_SYSINSN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <Zydis/Zydis.h>

#include "bt/interp.h"
#include "monitor/cpu.h"

struct machine;

#define SX_NOT_MINE (-1)

struct sx {
    struct machine *m;
    struct vcpu *c;
    const ZydisDecodedInstruction *in;
    const ZydisDecodedOperand *ops;
    struct interp_exc *exc;
    unsigned cpl;      /* before the instruction */
    bool pe;           /* CR0.PE */
    bool vm;           /* EFLAGS.VM (implies pe) */
    unsigned osize;    /* operand size in bytes: 2 or 4 */
    bool addr32;
    uint32_t ip_mask;  /* 0xffff in 16-bit code */
    uint32_t next_eip; /* EIP of the next instruction */
    bool jumped;       /* the handler set EIP */
};

/* Exceptions: fill x->exc, return INTERP_EXCEPTION. */
int sx_raise(struct sx *x, int vector, uint32_t error_code);
static inline int sx_gp0(struct sx *x)
{
    return sx_raise(x, 13, 0);
}
static inline int sx_ud(struct sx *x)
{
    return sx_raise(x, 6, 0);
}
/* Map a seg.h / exception-style result (0 or -1 with x->exc filled) to a status. */
static inline int sx_rc(int rc)
{
    return rc ? INTERP_EXCEPTION : INTERP_OK;
}
/* Privileged instruction: #GP(0) unless CPL 0 (virtual-8086 mode is CPL 3). */
static inline bool sx_priv_fail(const struct sx *x)
{
    return x->cpl != 0;
}

/* General registers by Zydis name (8-, 16- and 32-bit). */
bool sx_is_gpr(ZydisRegister r);
uint32_t sx_gpr(const struct sx *x, ZydisRegister r);
void sx_set_gpr(struct sx *x, ZydisRegister r, uint32_t v);

/* Memory operands: linear address of the operand plus `plus` bytes (address-size wrap of the
 * offset, then the segment base). */
uint32_t sx_lin(const struct sx *x, const ZydisDecodedOperand *op, uint32_t plus);
int sx_mem_read(struct sx *x, const ZydisDecodedOperand *op, uint32_t plus, unsigned size,
                uint32_t *v);
int sx_mem_write(struct sx *x, const ZydisDecodedOperand *op, unsigned size, uint64_t v);
/* Register or memory operand of op->size bits (a register operand is read whole). */
int sx_rm_read(struct sx *x, const ZydisDecodedOperand *op, uint32_t *v);

/* A selector or CRn value stored to a register (whole register, so a 32-bit one gets it
 * zero-extended) or to memory (mem_size bytes). */
int sx_store_rm(struct sx *x, const ZydisDecodedOperand *op, uint32_t v, unsigned mem_size);

/* Set or clear ZF in the host flags image. */
void sx_set_zf(struct sx *x, bool on);

/* Families. */
int sx_desc(struct sx *x); /* sysinsn-desc.c: xGDT, xIDT, xLDT, LTR/STR, LAR, LSL, VERx, ARPL */
int sx_far(struct sx *x); /* sysinsn-far.c: INT*, IRET, far JMP/CALL/RET, SYSENTER/SYSEXIT */
int sx_msr(struct sx *x); /* sysinsn-msr.c: RDMSR, WRMSR */

#endif
