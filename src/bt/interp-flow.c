/*
 * Near control flow and stack frames for the interpreter: JMP, Jcc, CALL,
 * RET (near, direct and indirect), LOOP/LOOPE/LOOPNE, JCXZ/JECXZ, ENTER,
 * LEAVE, PUSHA/POPA. Far transfers, INT and IRET go through descriptor
 * tables and gates and belong to the system-state code, not here.
 *
 * Widths, as the hardware uses them: the operand size truncates branch
 * targets (a 16-bit JMP lands in the low 64 KiB) and sizes pushed and popped
 * values; the address size picks CX or ECX for LOOP and JCXZ; the stack size
 * (SS.B) picks SP or ESP and, in ENTER, BP or EBP for the frame walk.
 */
#include "bt/interp-internal.h"

#define TRY(e)                                                                                     \
    do {                                                                                           \
        int rc_ = (e);                                                                             \
        if (rc_ != INTERP_OK)                                                                      \
            return rc_;                                                                            \
    } while (0)

static uint32_t osize_mask(const struct ix *x)
{
    return x->osize == 2 ? 0xffff : 0xffffffffu;
}

/* The target of a branch's operand: relative to the next instruction, or read from r/m. */
static int target(struct ix *x, const ZydisDecodedOperand *op, uint32_t *t)
{
    if (op->type == ZYDIS_OPERAND_TYPE_IMMEDIATE && op->imm.is_relative) {
        *t = (x->next_eip + (uint32_t)op->imm.value.u) & osize_mask(x);
        return INTERP_OK;
    }
    if (op->type != ZYDIS_OPERAND_TYPE_REGISTER && op->type != ZYDIS_OPERAND_TYPE_MEMORY)
        return INTERP_UNSUPPORTED; /* far pointer */
    if (op->size / 8 != x->osize)
        return INTERP_UNSUPPORTED; /* m16:16 / m16:32: far */
    TRY(ix_op_read(x, op, t));
    *t &= osize_mask(x);
    return INTERP_OK;
}

static int jmp(struct ix *x)
{
    return target(x, &x->ops[0], &x->next_eip);
}

static int jcc(struct ix *x)
{
    uint32_t t;

    TRY(target(x, &x->ops[0], &t));
    if (alu_cond(x->in->opcode & 15, ix_flags(x)))
        x->next_eip = t;
    return INTERP_OK;
}

static int call(struct ix *x)
{
    uint32_t t;

    /* The target is read (and an [ESP]-based operand addressed) before the push. */
    TRY(target(x, &x->ops[0], &t));
    TRY(ix_push(x, x->osize, x->next_eip & osize_mask(x)));
    x->next_eip = t;
    return INTERP_OK;
}

static int ret(struct ix *x)
{
    uint32_t t, imm = 0;

    if (x->in->opcode == 0xca || x->in->opcode == 0xcb)
        return INTERP_UNSUPPORTED; /* RETF: Zydis calls it RET too */
    if (x->in->operand_count_visible && x->ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
        imm = (uint32_t)x->ops[0].imm.value.u & 0xffff;
    TRY(ix_pop(x, x->osize, &t));
    ix_set_sp(x, ix_sp(x) + imm);
    x->next_eip = t & osize_mask(x);
    return INTERP_OK;
}

/* LOOP* decrement the count without touching flags; JCXZ only tests it. */
static int loop(struct ix *x, int kind)
{
    uint32_t t, count = ix_areg(x, R_ECX);
    bool zf = ix_flags(x) & EFL_ZF, taken;

    TRY(target(x, &x->ops[0], &t));
    if (kind == ZYDIS_MNEMONIC_JCXZ || kind == ZYDIS_MNEMONIC_JECXZ) {
        taken = count == 0;
    } else {
        count = (count - 1) & (x->addr32 ? 0xffffffffu : 0xffff);
        ix_set_areg(x, R_ECX, count);
        taken = count != 0;
        if (kind == ZYDIS_MNEMONIC_LOOPE)
            taken = taken && zf;
        else if (kind == ZYDIS_MNEMONIC_LOOPNE)
            taken = taken && !zf;
    }
    if (taken)
        x->next_eip = t;
    return INTERP_OK;
}

/*
 * ENTER alloc, level: push (E)BP, copy level-1 frame pointers from the
 * enclosing frame (walking (E)BP down by the operand size), push the new
 * frame pointer, then allocate. Intel SDM vol. 2A, ENTER, "Operation".
 */
static int enter(struct ix *x)
{
    uint32_t alloc = (uint32_t)x->ops[0].imm.value.u & 0xffff;
    unsigned level = (unsigned)x->ops[1].imm.value.u & 31, sz = x->osize;
    unsigned bpsz = x->stack32 ? 4 : 2;
    uint32_t frame, v;

    TRY(ix_push(x, sz, ix_gpr(x, R_EBP, sz)));
    frame = ix_gpr(x, R_ESP, sz);
    if (level) {
        for (unsigned i = 1; i < level; i++) {
            uint32_t bp = ix_gpr(x, R_EBP, bpsz) - sz;
            ix_set_gpr(x, R_EBP, bpsz, bp);
            TRY(ix_read(x, SEG_SS, bp & ix_mask(bpsz), sz, &v));
            TRY(ix_push(x, sz, v));
        }
        TRY(ix_push(x, sz, frame));
    }
    ix_set_gpr(x, R_EBP, sz, frame);
    ix_set_sp(x, ix_sp(x) - alloc);
    return INTERP_OK;
}

static int leave(struct ix *x)
{
    uint32_t v;

    ix_set_sp(x, ix_gpr(x, R_EBP, x->stack32 ? 4 : 2));
    TRY(ix_pop(x, x->osize, &v));
    ix_set_gpr(x, R_EBP, x->osize, v);
    return INTERP_OK;
}

/* PUSHA pushes the ESP from before the instruction; POPA skips the saved ESP. */
static int pusha(struct ix *x)
{
    uint32_t sp = ix_gpr(x, R_ESP, x->osize);

    for (int r = R_EAX; r <= R_EDI; r++)
        TRY(ix_push(x, x->osize, r == R_ESP ? sp : ix_gpr(x, r, x->osize)));
    return INTERP_OK;
}

static int popa(struct ix *x)
{
    uint32_t v;

    for (int r = R_EDI; r >= R_EAX; r--) {
        TRY(ix_pop(x, x->osize, &v));
        if (r != R_ESP)
            ix_set_gpr(x, r, x->osize, v);
    }
    return INTERP_OK;
}

int ix_flow(struct ix *x)
{
    ZydisMnemonic mn = x->in->mnemonic;

    switch (mn) {
    case ZYDIS_MNEMONIC_JMP: return jmp(x);
    case ZYDIS_MNEMONIC_CALL: return call(x);
    case ZYDIS_MNEMONIC_RET: return ret(x);
    case ZYDIS_MNEMONIC_LOOP:
    case ZYDIS_MNEMONIC_LOOPE:
    case ZYDIS_MNEMONIC_LOOPNE:
    case ZYDIS_MNEMONIC_JCXZ:
    case ZYDIS_MNEMONIC_JECXZ: return loop(x, mn);
    case ZYDIS_MNEMONIC_ENTER: return enter(x);
    case ZYDIS_MNEMONIC_LEAVE: return leave(x);
    case ZYDIS_MNEMONIC_PUSHA:
    case ZYDIS_MNEMONIC_PUSHAD: return pusha(x);
    case ZYDIS_MNEMONIC_POPA:
    case ZYDIS_MNEMONIC_POPAD: return popa(x);
    default:
        break;
    }
    if (x->in->meta.category == ZYDIS_CATEGORY_COND_BR)
        return jcc(x);
    return IX_NOT_MINE;
}
