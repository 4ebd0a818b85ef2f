/*
 * Data instructions for the interpreter: the forms that appear when a
 * translated instruction touches MMIO or ROM and must be emulated, and their
 * register forms so that interp__step() runs whatever a test throws at it.
 * MOV in all its data forms (moffs, Sreg, immediates), MOVZX/MOVSX, the
 * eight ALU operations, TEST, INC/DEC/NOT/NEG, shifts and rotates, SHLD/SHRD,
 * MUL/IMUL/DIV/IDIV, XCHG, BT/BTS/BTR/BTC, BSF/BSR, BSWAP, PUSH/POP, CMPXCHG,
 * CMPXCHG8B, XADD, LEA, SETcc, CMOVcc, CBW/CWDE/CWD/CDQ, NOP.
 *
 * Arithmetic goes through alu() (interp-alu.c) so flags are the host CPU's.
 * Every handler reads all its operands first and stores last, memory before
 * registers, so that a faulting store leaves nothing behind that the
 * snapshot in interp__exec() cannot put back.
 */
#include "bt/interp-internal.h"

#include "monitor/machine.h"

#define OP0 (&x->ops[0])
#define OP1 (&x->ops[1])
#define OP2 (&x->ops[2])
#define TRY(e)                                                                                     \
    do {                                                                                           \
        int rc_ = (e);                                                                             \
        if (rc_ != INTERP_OK)                                                                      \
            return rc_;                                                                            \
    } while (0)

static unsigned opsize(const ZydisDecodedOperand *op)
{
    return op->size / 8;
}

static bool is_mem(const ZydisDecodedOperand *op)
{
    return op->type == ZYDIS_OPERAND_TYPE_MEMORY;
}

/* Sign-extend the low `size` bytes of v. */
static uint32_t sext(uint32_t v, unsigned size)
{
    return size == 1 ? (uint32_t)(int8_t)v : size == 2 ? (uint32_t)(int16_t)v : v;
}

/* Protected-mode segment loads need descriptors: refuse them before any read has side effects. */
static bool pm_seg_load(const struct ix *x, const ZydisDecodedOperand *op)
{
    return op->type == ZYDIS_OPERAND_TYPE_REGISTER && op->reg.value >= ZYDIS_REGISTER_ES &&
           op->reg.value <= ZYDIS_REGISTER_GS && (x->c->cr0 & CR0_PE) &&
           !(x->c->eflags_sys & EFL_VM);
}

static int mov(struct ix *x)
{
    uint32_t v;

    if (pm_seg_load(x, OP0))
        return INTERP_UNSUPPORTED;
    TRY(ix_op_read(x, OP1, &v));
    return ix_op_write(x, OP0, v);
}

static int movx(struct ix *x, bool sign)
{
    uint32_t v;

    TRY(ix_op_read(x, OP1, &v));
    return ix_op_write(x, OP0, sign ? sext(v, opsize(OP1)) : v);
}

/* ADD..CMP, TEST, INC/DEC/NOT/NEG and the shifts: dst = dst OP src. */
static int arith(struct ix *x, enum alu_op op, bool unary)
{
    unsigned size = opsize(OP0);
    uint32_t a, b = 0, r;

    TRY(ix_op_read(x, OP0, &a));
    if (!unary)
        TRY(ix_op_read(x, OP1, &b));
    r = alu(op, size, a, b, &x->c->rflags);
    if (op == ALU_CMP || op == ALU_TEST)
        return INTERP_OK;
    return ix_op_write(x, OP0, r);
}

/*
 * BT family. A register bit offset reaches outside the addressed operand:
 * it is signed, and selects the operand-sized word at ea + (offset / width)
 * words (rounding toward minus infinity), as on the hardware.
 */
static int bittest(struct ix *x, enum alu_op op)
{
    unsigned size = opsize(OP0), bits = size * 8;
    uint32_t off, v, r;

    TRY(ix_op_read(x, OP1, &off));
    if (!is_mem(OP0)) {
        TRY(ix_op_read(x, OP0, &v));
        r = alu(op, size, v, off & (bits - 1), &x->c->rflags);
        return op == ALU_BT ? INTERP_OK : ix_op_write(x, OP0, r);
    }
    uint32_t ea = ix_ea(x, OP0);
    int seg = ix_op_seg(OP0);
    if (OP1->type == ZYDIS_OPERAND_TYPE_REGISTER) {
        int32_t so = (int32_t)sext(off, size);
        ea += (uint32_t)((so >> (size == 2 ? 4 : 5)) * (int32_t)size);
        if (!x->addr32)
            ea &= 0xffff;
    }
    TRY(ix_read(x, seg, ea, size, &v));
    r = alu(op, size, v, off & (bits - 1), &x->c->rflags);
    return op == ALU_BT ? INTERP_OK : ix_write(x, seg, ea, size, r);
}

/* BSF/BSR: the destination's old value goes in, for the zero-source case. */
static int bitscan(struct ix *x, enum alu_op op)
{
    uint32_t d, v;

    TRY(ix_op_read(x, OP0, &d));
    TRY(ix_op_read(x, OP1, &v));
    return ix_op_write(x, OP0, alu(op, opsize(OP0), d, v, &x->c->rflags));
}

static int shiftd(struct ix *x, bool left)
{
    uint32_t d, s, n;

    TRY(ix_op_read(x, OP0, &d));
    TRY(ix_op_read(x, OP1, &s));
    TRY(ix_op_read(x, OP2, &n));
    return ix_op_write(x, OP0, alu_shd(left, opsize(OP0), d, s, (uint8_t)n, &x->c->rflags));
}

static int bswap(struct ix *x)
{
    uint32_t v;

    TRY(ix_op_read(x, OP0, &v));
    /* With a 16-bit operand the result is undefined; P6 and later cores give 0. */
    return ix_op_write(x, OP0, opsize(OP0) == 4 ? __builtin_bswap32(v) : 0);
}

static int xchg(struct ix *x)
{
    uint32_t a, b;

    TRY(ix_op_read(x, OP0, &a));
    TRY(ix_op_read(x, OP1, &b));
    if (is_mem(OP1)) {
        TRY(ix_op_write(x, OP1, a));
        return ix_op_write(x, OP0, b);
    }
    TRY(ix_op_write(x, OP0, b));
    return ix_op_write(x, OP1, a);
}

static int push(struct ix *x)
{
    uint32_t v;

    TRY(ix_op_read(x, OP0, &v));
    if (OP0->type == ZYDIS_OPERAND_TYPE_REGISTER && OP0->reg.value >= ZYDIS_REGISTER_ES &&
        OP0->reg.value <= ZYDIS_REGISTER_GS && x->osize == 4) {
        /* A 32-bit push of a selector stores 16 bits and leaves the upper half of the slot
         * alone, as Intel's P6 and later cores do. */
        uint32_t sp = ix_sp(x) - 4;
        if (!x->stack32)
            sp &= 0xffff;
        TRY(ix_write(x, SEG_SS, sp, 2, v));
        ix_set_sp(x, sp);
        return INTERP_OK;
    }
    return ix_push(x, x->osize, v & ix_mask(x->osize));
}

static int pop(struct ix *x)
{
    uint32_t v;

    if (pm_seg_load(x, OP0))
        return INTERP_UNSUPPORTED;
    /* ESP moves first: a [ESP]-based destination is addressed with the new value. */
    TRY(ix_pop(x, x->osize, &v));
    return ix_op_write(x, OP0, v);
}

static int cmpxchg(struct ix *x)
{
    unsigned size = opsize(OP0);
    uint32_t d, s, acc = ix_gpr(x, R_EAX, size);

    TRY(ix_op_read(x, OP0, &d));
    TRY(ix_op_read(x, OP1, &s));
    alu(ALU_CMP, size, acc, d, &x->c->rflags);
    if (ix_flags(x) & EFL_ZF)
        return ix_op_write(x, OP0, s);
    /* The processor always writes the destination: the old value goes back. */
    TRY(ix_op_write(x, OP0, d));
    ix_set_gpr(x, R_EAX, size, d);
    return INTERP_OK;
}

static int cmpxchg8b(struct ix *x)
{
    uint32_t ea = ix_ea(x, OP0), lo, hi;
    int seg = ix_op_seg(OP0);

    if (!is_mem(OP0))
        return ix_ud(x);
    TRY(ix_read(x, seg, ea, 4, &lo));
    TRY(ix_read(x, seg, ea + 4, 4, &hi));
    TRY(ix_probe_write(x, seg, ea, 8));
    if (lo == ix_gpr(x, R_EAX, 4) && hi == ix_gpr(x, R_EDX, 4)) {
        TRY(ix_write(x, seg, ea, 4, ix_gpr(x, R_EBX, 4)));
        TRY(ix_write(x, seg, ea + 4, 4, ix_gpr(x, R_ECX, 4)));
        ix_set_flags(x, EFL_ZF, EFL_ZF);
        return INTERP_OK;
    }
    TRY(ix_write(x, seg, ea, 4, lo));
    TRY(ix_write(x, seg, ea + 4, 4, hi));
    ix_set_gpr(x, R_EAX, 4, lo);
    ix_set_gpr(x, R_EDX, 4, hi);
    ix_set_flags(x, EFL_ZF, 0);
    return INTERP_OK;
}

static int xadd(struct ix *x)
{
    unsigned size = opsize(OP0);
    uint32_t d, s, sum;

    TRY(ix_op_read(x, OP0, &d));
    TRY(ix_op_read(x, OP1, &s));
    sum = alu(ALU_ADD, size, d, s, &x->c->rflags);
    if (is_mem(OP0)) {
        TRY(ix_op_write(x, OP0, sum));
        return ix_op_write(x, OP1, d);
    }
    /* XADD r, r with the same register: the destination's store comes last and wins. */
    TRY(ix_op_write(x, OP1, d));
    return ix_op_write(x, OP0, sum);
}

/* MUL, IMUL, DIV, IDIV with one explicit operand; IMUL's two- and three-operand forms. */
static int muldiv(struct ix *x, enum alu_op op)
{
    uint32_t src, ax, dx;
    unsigned size;

    if (op == ALU_IMUL && x->in->operand_count_visible >= 2) {
        /* IMUL r, r/m (dst *= src) and IMUL r, r/m, imm (dst = src * imm). */
        bool three = x->in->operand_count_visible >= 3;
        uint32_t a, b;

        TRY(ix_op_read(x, three ? OP1 : OP0, &a));
        TRY(ix_op_read(x, three ? OP2 : OP1, &b));
        return ix_op_write(x, OP0, alu_imul2(opsize(OP0), a, b, &x->c->rflags));
    }
    size = opsize(OP0);
    TRY(ix_op_read(x, OP0, &src));
    ax = ix_gpr(x, R_EAX, size == 1 ? 2 : size);
    dx = ix_gpr(x, R_EDX, size == 1 ? 2 : size);
    if ((op == ALU_DIV || op == ALU_IDIV) && !alu_div_ok(op, size, ax, dx, src))
        return ix_exception(x, 0, false, 0); /* #DE */
    alu_muldiv(op, size, &ax, &dx, src, &x->c->rflags);
    if (size == 1) {
        ix_set_gpr(x, R_EAX, 2, ax);
    } else {
        ix_set_gpr(x, R_EAX, size, ax);
        ix_set_gpr(x, R_EDX, size, dx);
    }
    return INTERP_OK;
}

static int lea(struct ix *x)
{
    return ix_op_write(x, OP0, ix_ea(x, OP1));
}

/* CBW/CWDE sign-extend the accumulator in place; CWD/CDQ into (E)DX. */
static int convert(struct ix *x, bool into_dx)
{
    unsigned size = x->osize;
    uint32_t a = ix_gpr(x, R_EAX, size);

    if (into_dx)
        ix_set_gpr(x, R_EDX, size, (a >> (size * 8 - 1)) ? 0xffffffffu : 0);
    else
        ix_set_gpr(x, R_EAX, size, sext(a, size / 2));
    return INTERP_OK;
}

static int setcc(struct ix *x)
{
    return ix_op_write(x, OP0, alu_cond(x->in->opcode & 15, ix_flags(x)));
}

static int cmovcc(struct ix *x)
{
    uint32_t v;

    /* The source is read, and may fault, whether or not the move happens. */
    TRY(ix_op_read(x, OP1, &v));
    if (!alu_cond(x->in->opcode & 15, ix_flags(x)))
        return INTERP_OK;
    return ix_op_write(x, OP0, v);
}

int ix_data(struct ix *x)
{
    switch (x->in->mnemonic) {
    case ZYDIS_MNEMONIC_MOV: return mov(x);
    case ZYDIS_MNEMONIC_MOVZX: return movx(x, false);
    case ZYDIS_MNEMONIC_MOVSX: return movx(x, true);
    case ZYDIS_MNEMONIC_ADD: return arith(x, ALU_ADD, false);
    case ZYDIS_MNEMONIC_OR: return arith(x, ALU_OR, false);
    case ZYDIS_MNEMONIC_ADC: return arith(x, ALU_ADC, false);
    case ZYDIS_MNEMONIC_SBB: return arith(x, ALU_SBB, false);
    case ZYDIS_MNEMONIC_AND: return arith(x, ALU_AND, false);
    case ZYDIS_MNEMONIC_SUB: return arith(x, ALU_SUB, false);
    case ZYDIS_MNEMONIC_XOR: return arith(x, ALU_XOR, false);
    case ZYDIS_MNEMONIC_CMP: return arith(x, ALU_CMP, false);
    case ZYDIS_MNEMONIC_TEST: return arith(x, ALU_TEST, false);
    case ZYDIS_MNEMONIC_INC: return arith(x, ALU_INC, true);
    case ZYDIS_MNEMONIC_DEC: return arith(x, ALU_DEC, true);
    case ZYDIS_MNEMONIC_NOT: return arith(x, ALU_NOT, true);
    case ZYDIS_MNEMONIC_NEG: return arith(x, ALU_NEG, true);
    case ZYDIS_MNEMONIC_ROL: return arith(x, ALU_ROL, false);
    case ZYDIS_MNEMONIC_ROR: return arith(x, ALU_ROR, false);
    case ZYDIS_MNEMONIC_RCL: return arith(x, ALU_RCL, false);
    case ZYDIS_MNEMONIC_RCR: return arith(x, ALU_RCR, false);
    case ZYDIS_MNEMONIC_SHL: return arith(x, ALU_SHL, false);
    case ZYDIS_MNEMONIC_SHR: return arith(x, ALU_SHR, false);
    case ZYDIS_MNEMONIC_SAR: return arith(x, ALU_SAR, false);
    case ZYDIS_MNEMONIC_MUL: return muldiv(x, ALU_MUL);
    case ZYDIS_MNEMONIC_IMUL: return muldiv(x, ALU_IMUL);
    case ZYDIS_MNEMONIC_DIV: return muldiv(x, ALU_DIV);
    case ZYDIS_MNEMONIC_IDIV: return muldiv(x, ALU_IDIV);
    case ZYDIS_MNEMONIC_BT: return bittest(x, ALU_BT);
    case ZYDIS_MNEMONIC_BTS: return bittest(x, ALU_BTS);
    case ZYDIS_MNEMONIC_BTR: return bittest(x, ALU_BTR);
    case ZYDIS_MNEMONIC_BTC: return bittest(x, ALU_BTC);
    case ZYDIS_MNEMONIC_BSF: return bitscan(x, ALU_BSF);
    case ZYDIS_MNEMONIC_BSR: return bitscan(x, ALU_BSR);
    case ZYDIS_MNEMONIC_SHLD: return shiftd(x, true);
    case ZYDIS_MNEMONIC_SHRD: return shiftd(x, false);
    case ZYDIS_MNEMONIC_BSWAP: return bswap(x);
    case ZYDIS_MNEMONIC_XCHG: return xchg(x);
    case ZYDIS_MNEMONIC_PUSH: return push(x);
    case ZYDIS_MNEMONIC_POP: return pop(x);
    case ZYDIS_MNEMONIC_CMPXCHG: return cmpxchg(x);
    case ZYDIS_MNEMONIC_CMPXCHG8B: return cmpxchg8b(x);
    case ZYDIS_MNEMONIC_XADD: return xadd(x);
    case ZYDIS_MNEMONIC_LEA: return lea(x);
    case ZYDIS_MNEMONIC_CBW:
    case ZYDIS_MNEMONIC_CWDE: return convert(x, false);
    case ZYDIS_MNEMONIC_CWD:
    case ZYDIS_MNEMONIC_CDQ: return convert(x, true);
    case ZYDIS_MNEMONIC_NOP: return INTERP_OK;
    default:
        break;
    }
    if (x->in->meta.category == ZYDIS_CATEGORY_SETCC)
        return setcc(x);
    if (x->in->meta.category == ZYDIS_CATEGORY_CMOV)
        return cmovcc(x);
    return IX_NOT_MINE;
}
