/*
 * Flag, BCD and CPU-state instructions for the interpreter: CLC STC CMC CLD
 * STD, CLI STI, LAHF SAHF, PUSHF POPF, the BCD adjustments (DAA DAS AAA AAS
 * AAM AAD), BOUND, INTO, XLAT, HLT, CPUID, RDTSC and the UD opcodes.
 *
 * Privilege rules follow the SDM for a CPU without VME/PVI (CR4.VME is not
 * offered): IF may be changed at CPL <= IOPL (IOPL 3 in virtual-8086 mode),
 * IOPL only at CPL 0; in virtual-8086 mode with IOPL < 3, CLI/STI/PUSHF/POPF
 * raise #GP(0). POPF never sets VM, VIF or VIP and clears RF.
 *
 * The BCD instructions are invalid in 64-bit mode, so their flags cannot
 * come from the host CPU as interp-alu.c's do. The flags the manuals leave
 * undefined follow a model that matches a real processor exactly over every
 * AX and every AF/CF input (measured on the development host in a 32-bit
 * process; see docs/internals-interp.md): DAA/DAS set OF as the signed
 * overflow of the adjustment, AAA/AAS set SF ZF PF OF as a 16-bit ADD/SUB of
 * AX and 0x106 (or 0) would, AAM clears OF AF CF, AAD sets OF AF CF as the
 * 8-bit addition AL + AH * imm8 does.
 */
#include "bt/interp-internal.h"

#include "monitor/cpuid.h"
#include "monitor/machine.h"
#include "monitor/vtime.h"

#define TRY(e)                                                                                     \
    do {                                                                                           \
        int rc_ = (e);                                                                             \
        if (rc_ != INTERP_OK)                                                                      \
            return rc_;                                                                            \
    } while (0)

#define EFL_SAHF (EFL_SF | EFL_ZF | EFL_AF | EFL_PF | EFL_CF)

static unsigned iopl(const struct vcpu *c)
{
    return (c->eflags_sys & EFL_IOPL) >> 12;
}

static bool v86(const struct vcpu *c)
{
    return (c->cr0 & CR0_PE) && (c->eflags_sys & EFL_VM);
}

/* May this instruction change IF (CLI, STI, POPF)? */
static bool if_allowed(const struct vcpu *c)
{
    if (v86(c))
        return iopl(c) == 3;
    return vcpu_cpl(c) <= iopl(c);
}

static int cli_sti(struct ix *x, bool set)
{
    if (!if_allowed(x->c))
        return ix_gp0(x);
    if (set)
        x->c->eflags_sys |= EFL_IF;
    else
        x->c->eflags_sys &= ~EFL_IF;
    return INTERP_OK;
}

static int pushf(struct ix *x)
{
    if (v86(x->c) && iopl(x->c) < 3)
        return ix_gp0(x);
    /* The image on the stack never shows VM or RF. */
    return ix_push(x, x->osize, vcpu_eflags(x->c) & ~(EFL_VM | EFL_RF) & ix_mask(x->osize));
}

static int popf(struct ix *x)
{
    struct vcpu *c = x->c;
    uint32_t v, cur = vcpu_eflags(c);
    uint32_t change = EFL_STATUS | EFL_DF | EFL_TF | EFL_NT | EFL_AC | EFL_ID;

    if (v86(c) && iopl(c) < 3)
        return ix_gp0(x);
    TRY(ix_pop(x, x->osize, &v));
    if (if_allowed(c))
        change |= EFL_IF;
    if (!v86(c) && vcpu_cpl(c) == 0)
        change |= EFL_IOPL;
    change &= ix_mask(x->osize);
    vcpu_set_eflags(c, ((cur & ~change) | (v & change)) & ~EFL_RF);
    return INTERP_OK;
}

static int lahf_sahf(struct ix *x, bool load)
{
    if (load)
        ix_set_gpr(x, 4 /* AH */, 1, (ix_flags(x) & EFL_SAHF) | 0x2);
    else
        ix_set_flags(x, EFL_SAHF, ix_gpr(x, 4, 1));
    return INTERP_OK;
}

static int flag_op(struct ix *x, uint32_t mask, int how)
{
    uint32_t f = ix_flags(x);

    ix_set_flags(x, mask, how < 0 ? ~f : how ? mask : 0);
    return INTERP_OK;
}

/* ---- BCD ------------------------------------------------------------------------------------- */

static int daa_das(struct ix *x, bool sub)
{
    uint32_t f = ix_flags(x), al = ix_gpr(x, R_EAX, 1), old = al, out = 0;
    bool cf = false;

    if ((al & 0xf) > 9 || (f & EFL_AF)) {
        cf = (f & EFL_CF) || (sub ? old < 6 : old > 0xf9);
        al = (sub ? al - 6 : al + 6) & 0xff;
        out |= EFL_AF;
    }
    if (old > 0x99 || (f & EFL_CF)) {
        al = (sub ? al - 0x60 : al + 0x60) & 0xff;
        cf = true;
    } else if (!sub) {
        cf = false;
    }
    out |= alu_szp(1, al) | (cf ? EFL_CF : 0);
    if ((sub ? old & ~al : ~old & al) & 0x80)
        out |= EFL_OF;
    ix_set_gpr(x, R_EAX, 1, al);
    ix_set_flags(x, EFL_STATUS, out);
    return INTERP_OK;
}

static int aaa_aas(struct ix *x, bool sub)
{
    uint32_t ax = ix_gpr(x, R_EAX, 2);
    bool adj = (ax & 0xf) > 9 || (ix_flags(x) & EFL_AF);
    uint64_t fl = x->c->rflags;

    /* AX +/- 0x106 is the P6 rule (the carry out of AL reaches AH); the flag model runs it. */
    ax = alu(sub ? ALU_SUB : ALU_ADD, 2, ax, adj ? 0x106 : 0, &fl);
    x->c->rflags = fl;
    ix_set_gpr(x, R_EAX, 2, ax & 0xff0f);
    ix_set_flags(x, EFL_AF | EFL_CF, adj ? EFL_AF | EFL_CF : 0);
    return INTERP_OK;
}

static int aam(struct ix *x)
{
    uint32_t base = (uint32_t)x->ops[0].imm.value.u & 0xff, al = ix_gpr(x, R_EAX, 1);

    if (!base)
        return ix_exception(x, 0, false, 0); /* #DE */
    ix_set_gpr(x, R_EAX, 2, (al / base) << 8 | (al % base));
    ix_set_flags(x, EFL_STATUS, alu_szp(1, al % base));
    return INTERP_OK;
}

static int aad(struct ix *x)
{
    uint32_t base = (uint32_t)x->ops[0].imm.value.u & 0xff;
    uint32_t al = ix_gpr(x, R_EAX, 1), ah = ix_gpr(x, 4, 1);

    al = alu(ALU_ADD, 1, al, (ah * base) & 0xff, &x->c->rflags);
    ix_set_gpr(x, R_EAX, 2, al);
    return INTERP_OK;
}

/* ---- the rest -------------------------------------------------------------------------------- */

static int bound(struct ix *x)
{
    const ZydisDecodedOperand *m = &x->ops[1];
    unsigned sz = x->osize;
    uint32_t ea = ix_ea(x, m), idx = ix_reg(x, x->ops[0].reg.value);
    uint32_t lo, hi;
    int32_t i, l, h;

    if (m->type != ZYDIS_OPERAND_TYPE_MEMORY)
        return ix_ud(x);
    TRY(ix_read(x, ix_op_seg(m), ea, sz, &lo));
    TRY(ix_read(x, ix_op_seg(m), (ea + sz) & (x->addr32 ? 0xffffffffu : 0xffff), sz, &hi));
    i = sz == 2 ? (int16_t)idx : (int32_t)idx;
    l = sz == 2 ? (int16_t)lo : (int32_t)lo;
    h = sz == 2 ? (int16_t)hi : (int32_t)hi;
    if (i < l || i > h)
        return ix_exception(x, 5, false, 0); /* #BR, a fault: EIP stays at BOUND */
    return INTERP_OK;
}

static int into(struct ix *x)
{
    if (!(ix_flags(x) & EFL_OF))
        return INTERP_OK;
    x->trap = true; /* #OF is a trap: the saved EIP is the next instruction's */
    return ix_exception(x, 4, false, 0);
}

static int xlat(struct ix *x)
{
    uint32_t off = ix_areg(x, R_EBX) + ix_gpr(x, R_EAX, 1), v;

    TRY(ix_read(x, ix_op_seg(&x->ops[0]), off & (x->addr32 ? 0xffffffffu : 0xffff), 1, &v));
    ix_set_gpr(x, R_EAX, 1, v);
    return INTERP_OK;
}

static int hlt(struct ix *x)
{
    if (vcpu_cpl(x->c) != 0)
        return ix_gp0(x);
    return INTERP_HALT;
}

static int cpuid(struct ix *x)
{
    uint32_t out[4];

    cpuid__query(x->m, ix_gpr(x, R_EAX, 4), ix_gpr(x, R_ECX, 4), out);
    ix_set_gpr(x, R_EAX, 4, out[CPUID_EAX]);
    ix_set_gpr(x, R_EBX, 4, out[CPUID_EBX]);
    ix_set_gpr(x, R_ECX, 4, out[CPUID_ECX]);
    ix_set_gpr(x, R_EDX, 4, out[CPUID_EDX]);
    return INTERP_OK;
}

static int rdtsc(struct ix *x)
{
    uint64_t t;

    if ((x->c->cr4 & CR4_TSD) && vcpu_cpl(x->c) != 0)
        return ix_gp0(x);
    t = vtime__tsc(x->m);
    ix_set_gpr(x, R_EAX, 4, (uint32_t)t);
    ix_set_gpr(x, R_EDX, 4, (uint32_t)(t >> 32));
    return INTERP_OK;
}

int ix_sys(struct ix *x)
{
    switch (x->in->mnemonic) {
    case ZYDIS_MNEMONIC_CLC: return flag_op(x, EFL_CF, 0);
    case ZYDIS_MNEMONIC_STC: return flag_op(x, EFL_CF, 1);
    case ZYDIS_MNEMONIC_CMC: return flag_op(x, EFL_CF, -1);
    case ZYDIS_MNEMONIC_CLD: return flag_op(x, EFL_DF, 0);
    case ZYDIS_MNEMONIC_STD: return flag_op(x, EFL_DF, 1);
    case ZYDIS_MNEMONIC_CLI: return cli_sti(x, false);
    case ZYDIS_MNEMONIC_STI: return cli_sti(x, true);
    case ZYDIS_MNEMONIC_LAHF: return lahf_sahf(x, true);
    case ZYDIS_MNEMONIC_SAHF: return lahf_sahf(x, false);
    case ZYDIS_MNEMONIC_PUSHF:
    case ZYDIS_MNEMONIC_PUSHFD: return pushf(x);
    case ZYDIS_MNEMONIC_POPF:
    case ZYDIS_MNEMONIC_POPFD: return popf(x);
    case ZYDIS_MNEMONIC_DAA: return daa_das(x, false);
    case ZYDIS_MNEMONIC_DAS: return daa_das(x, true);
    case ZYDIS_MNEMONIC_AAA: return aaa_aas(x, false);
    case ZYDIS_MNEMONIC_AAS: return aaa_aas(x, true);
    case ZYDIS_MNEMONIC_AAM: return aam(x);
    case ZYDIS_MNEMONIC_AAD: return aad(x);
    case ZYDIS_MNEMONIC_BOUND: return bound(x);
    case ZYDIS_MNEMONIC_INTO: return into(x);
    case ZYDIS_MNEMONIC_XLAT: return xlat(x);
    case ZYDIS_MNEMONIC_HLT: return hlt(x);
    case ZYDIS_MNEMONIC_CPUID: return cpuid(x);
    case ZYDIS_MNEMONIC_RDTSC: return rdtsc(x);
    case ZYDIS_MNEMONIC_UD0:
    case ZYDIS_MNEMONIC_UD1:
    case ZYDIS_MNEMONIC_UD2: return ix_ud(x);
    default:
        return IX_NOT_MINE;
    }
}
