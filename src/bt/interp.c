/*
 * The interpreter's front end and toolbox (interp.h, interp-internal.h):
 * fetch and decode at CS:EIP, the per-instruction context, operand, memory
 * and stack access, and the fault discipline.
 *
 * Decoding follows the vCPU's mode: real mode and virtual-8086 mode decode
 * as 16-bit real mode, protected mode per CS.D; the stack width is SS.B.
 * Instructions are fetched up to the end of the current page first and only
 * then across it, so an instruction that ends on a mapped page never faults
 * on the next one.
 *
 * Faults are precise by snapshot: before a handler runs, interp__exec saves
 * the registers, flags and segments (struct ix_state); if the handler
 * returns INTERP_EXCEPTION, the snapshot comes back and EIP stays at the
 * instruction. Handlers are written so that memory is stored only after all
 * faulting checks, which makes the snapshot sufficient. REP string
 * instructions move the snapshot forward after each iteration (ix_commit).
 *
 * Every data access passes through ix_read/ix_write/ix_probe_write, which
 * check the segment limit (expand-up and expand-down data segments; #SS(0)
 * for SS, #GP(0) otherwise) before the linear access. Access rights (present,
 * writable, null selector) come with the protected-mode segmentation issue,
 * in the same place. A 4 GiB expand-up limit never faults, so offsets that
 * wrap past 4 GiB in flat segments behave like the translated code's.
 */
#include "bt/interp.h"

#include <string.h>

#include "bt/interp-internal.h"
#include "mmu-shadow/mem.h"
#include "monitor/log.h"
#include "monitor/machine.h"

#define MAX_INSN 15

/* ---- exceptions ------------------------------------------------------------------------------ */

int ix_exception(struct ix *x, int vector, bool has_error, uint32_t error_code)
{
    x->exc->vector = vector;
    x->exc->has_error = has_error;
    x->exc->error_code = has_error ? error_code : 0;
    x->exc->cr2 = 0;
    return INTERP_EXCEPTION;
}

int ix_gp0(struct ix *x)
{
    return ix_exception(x, 13, true, 0);
}

int ix_ud(struct ix *x)
{
    return ix_exception(x, 6, false, 0);
}

static bool vector_has_error(int v)
{
    return v == 8 || (v >= 10 && v <= 14) || v == 17;
}

static int exc_from_fault(struct interp_exc *exc, const struct mem_fault *f)
{
    exc->vector = f->vector;
    exc->has_error = vector_has_error(f->vector);
    exc->error_code = exc->has_error ? f->error_code : 0;
    exc->cr2 = f->vector == 14 ? f->cr2 : 0;
    return INTERP_EXCEPTION;
}

int ix_mem_fault(struct ix *x, const struct mem_fault *f)
{
    return exc_from_fault(x->exc, f);
}

static void save_state(const struct vcpu *c, struct ix_state *s)
{
    memcpy(s->gpr, c->gpr, sizeof(s->gpr));
    s->rflags = c->rflags;
    s->eflags_sys = c->eflags_sys;
    memcpy(s->seg, c->seg, sizeof(s->seg));
}

static void restore_state(struct vcpu *c, const struct ix_state *s)
{
    memcpy(c->gpr, s->gpr, sizeof(s->gpr));
    c->rflags = s->rflags;
    c->eflags_sys = s->eflags_sys;
    memcpy(c->seg, s->seg, sizeof(s->seg));
    for (int i = 0; i < SEG_NR; i++)
        c->seg_base[i] = s->seg[i].base;
}

void ix_commit(struct ix *x)
{
    save_state(x->c, &x->saved);
}

/* ---- registers ------------------------------------------------------------------------------- */

uint32_t ix_gpr(const struct ix *x, int r, unsigned size)
{
    uint32_t v = (uint32_t)x->c->gpr[size == 1 ? r & 3 : r];

    if (size == 1)
        return (r & 4 ? v >> 8 : v) & 0xff; /* AH CH DH BH are 4..7 */
    return v & ix_mask(size);
}

void ix_set_gpr(struct ix *x, int r, unsigned size, uint32_t v)
{
    uint64_t *g = &x->c->gpr[size == 1 ? r & 3 : r];

    if (size == 4)
        *g = v;
    else if (size == 2)
        *g = (*g & ~0xffffull) | (v & 0xffff);
    else if (r & 4)
        *g = (*g & ~0xff00ull) | (v & 0xff) << 8;
    else
        *g = (*g & ~0xffull) | (v & 0xff);
}

/* The GPR number and width of a Zydis register, or false when it is no GPR. */
static bool gpr_of(ZydisRegister r, int *n, unsigned *size)
{
    if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BH) {
        *n = r - ZYDIS_REGISTER_AL;
        *size = 1;
    } else if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_DI) {
        *n = r - ZYDIS_REGISTER_AX;
        *size = 2;
    } else if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_EDI) {
        *n = r - ZYDIS_REGISTER_EAX;
        *size = 4;
    } else {
        return false;
    }
    return true;
}

/* Registers this file can read: GPRs, segment registers, (E)FLAGS. CRx and DRx are the system
 * issue's. */
static bool reg_known(ZydisRegister r)
{
    int n;
    unsigned size;

    return gpr_of(r, &n, &size) || (r >= ZYDIS_REGISTER_ES && r <= ZYDIS_REGISTER_GS) ||
           r == ZYDIS_REGISTER_FLAGS || r == ZYDIS_REGISTER_EFLAGS;
}

uint32_t ix_reg(const struct ix *x, ZydisRegister r)
{
    int n;
    unsigned size;

    if (gpr_of(r, &n, &size))
        return ix_gpr(x, n, size);
    if (r >= ZYDIS_REGISTER_ES && r <= ZYDIS_REGISTER_GS)
        return x->c->seg[r - ZYDIS_REGISTER_ES].sel;
    if (r == ZYDIS_REGISTER_FLAGS || r == ZYDIS_REGISTER_EFLAGS)
        return vcpu_eflags(x->c);
    return 0;
}

int ix_set_reg(struct ix *x, ZydisRegister r, uint32_t v)
{
    int n;
    unsigned size;

    if (gpr_of(r, &n, &size)) {
        ix_set_gpr(x, n, size, v);
        return INTERP_OK;
    }
    if (r >= ZYDIS_REGISTER_ES && r <= ZYDIS_REGISTER_GS)
        return ix_load_seg(x, r - ZYDIS_REGISTER_ES, (uint16_t)v);
    return INTERP_UNSUPPORTED;
}

/*
 * Segment loads in real and virtual-8086 mode: the base follows the selector
 * and, in real mode, the cached limit and attributes stay (which is what
 * "unreal mode" relies on). Protected-mode loads need the descriptor tables
 * and come with the system issue.
 */
int ix_load_seg(struct ix *x, int seg, uint16_t sel)
{
    struct vcpu *c = x->c;

    if (seg == SEG_CS)
        return ix_ud(x); /* MOV CS / POP CS do not exist */
    if ((c->cr0 & CR0_PE) && !(c->eflags_sys & EFL_VM))
        return INTERP_UNSUPPORTED;
    c->seg[seg].sel = sel;
    c->seg[seg].base = (uint32_t)sel << 4;
    if (c->eflags_sys & EFL_VM) {
        c->seg[seg].limit = 0xffff;
        c->seg[seg].flags = SEGF_P | SEGF_S | 3 << 5 | 0x3; /* data, read/write, accessed, DPL 3 */
    }
    c->seg_base[seg] = c->seg[seg].base;
    return INTERP_OK;
}

uint32_t ix_areg(const struct ix *x, int r)
{
    return ix_gpr(x, r, x->addr32 ? 4 : 2);
}

void ix_set_areg(struct ix *x, int r, uint32_t v)
{
    ix_set_gpr(x, r, x->addr32 ? 4 : 2, v);
}

/* ---- memory ---------------------------------------------------------------------------------- */

#define SEG_TYPE_CODE 0x8u
#define SEG_TYPE_EXPAND_DOWN 0x4u

static int seg_check(struct ix *x, int seg, uint32_t off, unsigned size)
{
    const struct segment *s = &x->c->seg[seg];
    uint32_t last = off + size - 1;
    bool ok;

    if ((s->flags & SEGF_S) && (s->flags & (SEG_TYPE_CODE | SEG_TYPE_EXPAND_DOWN)) ==
                                   SEG_TYPE_EXPAND_DOWN) {
        /* Expand-down: valid offsets are limit+1 up to 64 KiB or 4 GiB (B bit). */
        uint32_t top = (s->flags & SEGF_DB) ? 0xffffffffu : 0xffff;
        ok = off > s->limit && last >= off && last <= top;
    } else {
        ok = s->limit == 0xffffffffu || (off <= s->limit && size - 1 <= s->limit - off);
    }
    if (ok)
        return INTERP_OK;
    return ix_exception(x, seg == SEG_SS ? 12 : 13, true, 0);
}

int ix_read(struct ix *x, int seg, uint32_t off, unsigned size, uint32_t *v)
{
    struct mem_fault f;
    uint64_t val;
    int rc;

    if ((rc = seg_check(x, seg, off, size)))
        return rc;
    if (mem__lin_read(x->m, x->c->seg[seg].base + off, size, &val, &f))
        return ix_mem_fault(x, &f);
    *v = (uint32_t)val;
    return INTERP_OK;
}

int ix_write(struct ix *x, int seg, uint32_t off, unsigned size, uint32_t v)
{
    struct mem_fault f;
    int rc;

    if ((rc = seg_check(x, seg, off, size)))
        return rc;
    if (mem__lin_write(x->m, x->c->seg[seg].base + off, size, v, &f))
        return ix_mem_fault(x, &f);
    return INTERP_OK;
}

int ix_probe_write(struct ix *x, int seg, uint32_t off, unsigned size)
{
    uint32_t lin = x->c->seg[seg].base + off, gpa;
    struct mem_fault f;
    int rc;

    if ((rc = seg_check(x, seg, off, size)))
        return rc;
    if (mem__lin_to_phys(x->m, lin, true, &gpa, &f) ||
        mem__lin_to_phys(x->m, lin + size - 1, true, &gpa, &f))
        return ix_mem_fault(x, &f);
    return INTERP_OK;
}

int ix_op_seg(const ZydisDecodedOperand *op)
{
    return op->mem.segment - ZYDIS_REGISTER_ES;
}

uint32_t ix_ea(const struct ix *x, const ZydisDecodedOperand *op)
{
    uint32_t a = (uint32_t)op->mem.disp.value;

    if (op->mem.base != ZYDIS_REGISTER_NONE)
        a += ix_reg(x, op->mem.base);
    if (op->mem.index != ZYDIS_REGISTER_NONE)
        a += ix_reg(x, op->mem.index) * op->mem.scale;
    return x->addr32 ? a : a & 0xffff;
}

int ix_op_read(struct ix *x, const ZydisDecodedOperand *op, uint32_t *v)
{
    unsigned size = op->size / 8;

    switch (op->type) {
    case ZYDIS_OPERAND_TYPE_REGISTER:
        if (!reg_known(op->reg.value))
            return INTERP_UNSUPPORTED;
        *v = ix_reg(x, op->reg.value) & ix_mask(size);
        return INTERP_OK;
    case ZYDIS_OPERAND_TYPE_MEMORY:
        return ix_read(x, ix_op_seg(op), ix_ea(x, op), size, v);
    case ZYDIS_OPERAND_TYPE_IMMEDIATE:
        /* Zydis has sign-extended imm8 forms already; the user masks to its operand size. */
        *v = (uint32_t)op->imm.value.u;
        return INTERP_OK;
    default:
        return INTERP_UNSUPPORTED;
    }
}

int ix_op_write(struct ix *x, const ZydisDecodedOperand *op, uint32_t v)
{
    switch (op->type) {
    case ZYDIS_OPERAND_TYPE_REGISTER:
        return ix_set_reg(x, op->reg.value, v);
    case ZYDIS_OPERAND_TYPE_MEMORY:
        return ix_write(x, ix_op_seg(op), ix_ea(x, op), op->size / 8, v);
    default:
        return INTERP_UNSUPPORTED;
    }
}

/* ---- stack ----------------------------------------------------------------------------------- */

uint32_t ix_sp(const struct ix *x)
{
    return ix_gpr(x, R_ESP, x->stack32 ? 4 : 2);
}

void ix_set_sp(struct ix *x, uint32_t v)
{
    ix_set_gpr(x, R_ESP, x->stack32 ? 4 : 2, v);
}

int ix_push(struct ix *x, unsigned size, uint32_t v)
{
    uint32_t sp = (ix_sp(x) - size) & (x->stack32 ? 0xffffffffu : 0xffff);
    int rc = ix_write(x, SEG_SS, sp, size, v);

    if (rc == INTERP_OK)
        ix_set_sp(x, sp);
    return rc;
}

int ix_pop(struct ix *x, unsigned size, uint32_t *v)
{
    uint32_t sp = ix_sp(x);
    int rc = ix_read(x, SEG_SS, sp, size, v);

    if (rc == INTERP_OK)
        ix_set_sp(x, sp + size);
    return rc;
}

/* ---- dispatch -------------------------------------------------------------------------------- */

int interp__exec(struct machine *m, const ZydisDecodedInstruction *in,
                 const ZydisDecodedOperand *ops, struct interp_exc *exc)
{
    struct vcpu *c = m->cpu;
    struct ix x = {
        .m = m,
        .c = c,
        .in = in,
        .ops = ops,
        .exc = exc,
        .osize = in->operand_width / 8,
        .addr32 = in->address_width == 32,
        .stack32 = (c->seg[SEG_SS].flags & SEGF_DB) != 0,
    };
    int rc;

    x.ip_mask = in->machine_mode == ZYDIS_MACHINE_MODE_LEGACY_32 ? 0xffffffffu : 0xffff;
    x.next_eip = (c->eip + in->length) & x.ip_mask;
    save_state(c, &x.saved);

    rc = ix_data(&x);
    if (rc == IX_NOT_MINE)
        rc = ix_string(&x);
    if (rc == IX_NOT_MINE)
        rc = ix_flow(&x);
    if (rc == IX_NOT_MINE)
        rc = ix_sys(&x);
    if (rc == IX_NOT_MINE)
        rc = INTERP_UNSUPPORTED;

    switch (rc) {
    case INTERP_OK:
    case INTERP_HALT:
        c->eip = x.next_eip;
        break;
    case INTERP_EXCEPTION:
        if (x.trap) {
            c->eip = x.next_eip;
            break;
        }
        /* fall through */
    default:
        restore_state(c, &x.saved);
        break;
    }
    return rc;
}

static ZydisMachineMode decode_mode(const struct vcpu *c)
{
    if (!(c->cr0 & CR0_PE) || (c->eflags_sys & EFL_VM))
        return ZYDIS_MACHINE_MODE_REAL_16;
    return (c->seg[SEG_CS].flags & SEGF_DB) ? ZYDIS_MACHINE_MODE_LEGACY_32
                                            : ZYDIS_MACHINE_MODE_LEGACY_16;
}

int interp__step(struct machine *m, struct interp_exc *exc)
{
    struct vcpu *c = m->cpu;
    ZydisDecoder dec;
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    uint8_t buf[MAX_INSN];
    uint32_t lin = c->seg[SEG_CS].base + c->eip;
    uint32_t have = 4096 - (lin & 4095);
    struct mem_fault f;
    ZyanStatus st;

    if (have > MAX_INSN)
        have = MAX_INSN;
    ZydisDecoderInit(&dec, decode_mode(c),
                     (c->seg[SEG_SS].flags & SEGF_DB) ? ZYDIS_STACK_WIDTH_32
                                                      : ZYDIS_STACK_WIDTH_16);
    if (mem__lin_read_buf(m, lin, buf, have, &f))
        return exc_from_fault(exc, &f);
    st = ZydisDecoderDecodeFull(&dec, buf, have, &in, ops);
    if (st == ZYDIS_STATUS_NO_MORE_DATA && have < MAX_INSN) {
        /* The instruction continues on the next page: only now may that page fault. */
        if (mem__lin_read_buf(m, lin + have, buf + have, MAX_INSN - have, &f))
            return exc_from_fault(exc, &f);
        st = ZydisDecoderDecodeFull(&dec, buf, MAX_INSN, &in, ops);
    }
    if (st == ZYDIS_STATUS_INSTRUCTION_TOO_LONG) {
        exc->vector = 13;
        exc->has_error = true;
        exc->error_code = 0;
        exc->cr2 = 0;
        return INTERP_EXCEPTION;
    }
    if (ZYAN_FAILED(st)) {
        LOG(CPU, 2, "interp: undecodable bytes at %04x:%08x: #UD", c->seg[SEG_CS].sel, c->eip);
        exc->vector = 6;
        exc->has_error = false;
        exc->error_code = 0;
        exc->cr2 = 0;
        return INTERP_EXCEPTION;
    }
    return interp__exec(m, &in, ops, exc);
}
