/*
 * IDENT re-emission: a guest instruction becomes the same host instruction,
 * changed only where 64-bit mode or the sandbox demands (DESIGN.md §1):
 *
 *  - guest ESP is host R12: a ModRM reg/rm, SIB base or opcode-embedded
 *    register 4 gets a REX bit;
 *  - every memory operand gets GS and the 0x67 address-size prefix, so the
 *    32-bit effective address indexes the window; [disp32] (mod=00 rm=101,
 *    RIP-relative in 64-bit mode) becomes the SIB form with no base;
 *  - segments with a non-zero base, and 16-bit addressing, are computed into
 *    a scratch register with flag-free LEA/MOVZX and the instruction uses
 *    gs:[scratch];
 *  - AH/CH/DH/BH cannot be encoded with a REX prefix: when such an
 *    instruction also needs REX (guest ESP, R10 as address), a guest register
 *    the instruction does not use is parked in R9 and stands in for the
 *    REX-only register. The fault handler restores it (insn_map.fixup_reg).
 */
#include "bt/internal.h"
#include "monitor/cpu.h"

#include <stddef.h>

int zreg_gpr(ZydisRegister r, bool *high8)
{
    *high8 = false;
    if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_EDI)
        return r - ZYDIS_REGISTER_EAX;
    if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_DI)
        return r - ZYDIS_REGISTER_AX;
    if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BL)
        return r - ZYDIS_REGISTER_AL;
    if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH) {
        *high8 = true;
        return r - ZYDIS_REGISTER_AH;
    }
    return -1;
}

int zreg_seg(ZydisRegister r)
{
    switch (r) {
    case ZYDIS_REGISTER_ES: return SEG_ES;
    case ZYDIS_REGISTER_CS: return SEG_CS;
    case ZYDIS_REGISTER_SS: return SEG_SS;
    case ZYDIS_REGISTER_DS: return SEG_DS;
    case ZYDIS_REGISTER_FS: return SEG_FS;
    case ZYDIS_REGISTER_GS: return SEG_GS;
    default: return -1;
    }
}

void memref_from(struct memref *mr, const ZydisDecodedInstruction *in, const ZydisDecodedOperand *op)
{
    bool h;

    mr->base = op->mem.base == ZYDIS_REGISTER_NONE ? -1 : zreg_gpr(op->mem.base, &h);
    mr->index = op->mem.index == ZYDIS_REGISTER_NONE ? -1 : zreg_gpr(op->mem.index, &h);
    mr->scale = op->mem.scale ? op->mem.scale : 1;
    mr->disp = op->mem.disp.has_displacement ? (int32_t)op->mem.disp.value : 0;
    mr->seg = zreg_seg(op->mem.segment);
    if (mr->seg < 0)
        mr->seg = SEG_DS;
    mr->addr16 = in->address_width == 16;
}

void ident__addr(struct xlate *x, const struct memref *mr, int a, int32_t bias, bool agen)
{
    int hb = mr->base >= 0 ? host_reg(mr->base) : -1;
    int hi = mr->index >= 0 ? host_reg(mr->index) : -1;
    int32_t disp = mr->disp + (mr->base == R_ESP ? bias : 0);

    if (hb < 0 && hi < 0)
        emit_mov_ri(&x->e, a, (uint32_t)disp);
    else
        emit_lea32(&x->e, a, hb, hi, mr->scale, disp);
    if (mr->addr16)
        emit_movzx16(&x->e, a, a);
    if (!agen && !(x->flat & (1u << mr->seg))) {
        emit_load32(&x->e, T_TMP, H_R15,
                    (int32_t)(offsetof(struct vcpu, seg_base) + 4 * (unsigned)mr->seg));
        emit_lea32(&x->e, a, a, T_TMP, 1, 0);
    }
}

/* Does this memory operand need the computed form? */
static bool needs_computed(const struct xlate *x, const struct memref *mr)
{
    return mr->addr16 || !(x->flat & (1u << mr->seg));
}

/* The ModRM/SIB/disp of a direct (window-relative) memory operand. */
static void emit_direct_modrm(struct emitter *e, int reg, const struct memref *mr, int32_t bias)
{
    int32_t disp = mr->disp + (mr->base == R_ESP ? bias : 0);
    int ss = mr->scale == 8 ? 3 : mr->scale == 4 ? 2 : mr->scale == 2 ? 1 : 0;
    int base = mr->base >= 0 ? host_reg(mr->base) : -1;
    int mod;

    if (base < 0) {
        /* [index*s + disp32] or [disp32]: SIB with no base. */
        emit1(e, (uint8_t)(0x04 | (reg & 7) << 3));
        emit1(e, (uint8_t)(ss << 6 | (mr->index >= 0 ? mr->index : 4) << 3 | 5));
        emit4(e, (uint32_t)disp);
        return;
    }
    mod = disp == 0 && (base & 7) != 5 ? 0 : (disp >= -128 && disp <= 127 ? 1 : 2);
    if (mr->index < 0 && (base & 7) != 4) {
        emit1(e, (uint8_t)(mod << 6 | (reg & 7) << 3 | (base & 7)));
    } else {
        emit1(e, (uint8_t)(mod << 6 | (reg & 7) << 3 | 4));
        emit1(e, (uint8_t)(ss << 6 | (mr->index >= 0 ? mr->index : 4) << 3 | (base & 7)));
    }
    if (mod == 1)
        emit1(e, (uint8_t)disp);
    else if (mod == 2)
        emit4(e, (uint32_t)disp);
}

/* Core of every memory-operand emission. a >= 0 forces the computed form with that register. */
static void memop(struct xlate *x, const uint8_t *pre, int npre, bool rex_w, bool rex_r, int reg,
                  const uint8_t *op, int oplen, const struct memref *mr, int32_t bias,
                  const uint8_t *tail, int ntail, int a)
{
    struct emitter *e = &x->e;
    bool computed = a >= 0 || needs_computed(x, mr);
    uint8_t rex = 0x40 | rex_w << 3 | rex_r << 2;

    if (computed && a < 0)
        a = T_ADDR;
    if (computed)
        ident__addr(x, mr, a, bias, false);
    /* GS and 0x67 first: mandatory prefixes (66/F2/F3) must stay next to the opcode. */
    emit1(e, 0x65);
    emit1(e, 0x67);
    emit_bytes(e, pre, npre);
    if (computed)
        rex |= (a >> 3) & 1;
    else if (mr->base == R_ESP)
        rex |= 1;
    if (rex != 0x40)
        emit1(e, rex);
    emit_bytes(e, op, oplen);
    if (computed) {
        if ((a & 7) == 5) {
            emit1(e, (uint8_t)(0x40 | (reg & 7) << 3 | 5));
            emit1(e, 0);
        } else {
            emit1(e, (uint8_t)((reg & 7) << 3 | (a & 7)));
        }
    } else {
        emit_direct_modrm(e, reg, mr, bias);
    }
    emit_bytes(e, tail, ntail);
}

void ident__memop(struct xlate *x, const uint8_t *pre, int npre, bool rex_w, int reg,
                  const uint8_t *op, int oplen, const struct memref *mr, int32_t bias,
                  const uint8_t *tail, int ntail)
{
    memop(x, pre, npre, rex_w, reg >= 8, reg, op, oplen, mr, bias, tail, ntail, -1);
}

/* Host registers an instruction touches (bit per host register), for choosing a stand-in. */
static unsigned regs_used(const struct dinsn *d)
{
    unsigned used = 1u << H_RSP;
    bool h;

    for (int i = 0; i < d->in.operand_count; i++) {
        const ZydisDecodedOperand *o = &d->ops[i];
        int g;

        if (o->type == ZYDIS_OPERAND_TYPE_REGISTER) {
            g = zreg_gpr(o->reg.value, &h);
            if (g >= 0)
                used |= 1u << (h ? g : host_reg(g));
            else if (o->reg.value >= ZYDIS_REGISTER_EAX && o->reg.value <= ZYDIS_REGISTER_EDI)
                used |= 0xff;
        } else if (o->type == ZYDIS_OPERAND_TYPE_MEMORY) {
            g = zreg_gpr(o->mem.base, &h);
            if (g >= 0)
                used |= 1u << host_reg(g);
            g = zreg_gpr(o->mem.index, &h);
            if (g >= 0)
                used |= 1u << host_reg(g);
        }
    }
    return used;
}

static int pick_standin(const struct dinsn *d)
{
    static const int order[] = {H_RSI, H_RDI, H_RBP, H_RBX, H_RDX, H_RCX, H_RAX};
    unsigned used = regs_used(d);

    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (!(used & (1u << order[i])))
            return order[i];
    return -1;
}

bool ident__emit(struct xlate *x, const struct dinsn *d)
{
    const ZydisDecodedInstruction *in = &d->in;
    struct emitter *e = &x->e;
    uint8_t pre[8];
    int npre = 0, oplen, modrm_off, tail_off;
    const ZydisDecodedOperand *mem = NULL;
    bool rex_r = false, rex_b = false, high8 = false, esp_reg_field = false, esp_rm_field = false;
    bool moffs = false;
    uint8_t opbuf[3];
    const uint8_t *op;

    for (int i = 0; i < in->raw.prefix_count; i++) {
        uint8_t p = in->raw.prefixes[i].value;
        if (in->raw.prefixes[i].type == ZYDIS_PREFIX_TYPE_IGNORED)
            continue;
        if (p == 0xf0 || p == 0xf2 || p == 0xf3 || p == 0x66)
            pre[npre++] = p;
    }
    switch (in->opcode_map) {
    case ZYDIS_OPCODE_MAP_DEFAULT: oplen = 1; break;
    case ZYDIS_OPCODE_MAP_0F: oplen = 2; break;
    case ZYDIS_OPCODE_MAP_0F38:
    case ZYDIS_OPCODE_MAP_0F3A: oplen = 3; break;
    default: return false;
    }
    op = d->bytes + in->raw.prefix_count;
    modrm_off = in->raw.prefix_count + oplen;
    tail_off = in->raw.imm[0].size ? in->raw.imm[0].offset : in->length;

    for (int i = 0; i < in->operand_count; i++) {
        const ZydisDecodedOperand *o = &d->ops[i];
        bool h;
        int g;

        if (o->type == ZYDIS_OPERAND_TYPE_MEMORY) {
            if (o->visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT)
                return false;
            mem = o;
            continue;
        }
        if (o->type != ZYDIS_OPERAND_TYPE_REGISTER)
            continue;
        g = zreg_gpr(o->reg.value, &h);
        if (g < 0)
            continue;
        if (h)
            high8 = true;
        if (g != R_ESP || h)
            continue;
        if (o->visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT)
            return false; /* implicit ESP: a stack instruction, not IDENT */
        if (o->encoding == ZYDIS_OPERAND_ENCODING_MODRM_REG)
            esp_reg_field = true;
        else
            esp_rm_field = true; /* ModRM rm (mod=11) or opcode-embedded */
    }
    rex_r = esp_reg_field;
    rex_b = esp_rm_field;

    /* 0x82 is 0x80 (group 1, r/m8, imm8) in 32-bit code and invalid in 64-bit mode. */
    if (in->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && in->opcode == 0x82) {
        opbuf[0] = 0x80;
        op = opbuf;
    }

    /* MOV AL/AX/EAX <-> moffs has no ModRM: use the 88-8B forms with reg = EAX. */
    if (mem && in->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && in->opcode >= 0xa0 &&
        in->opcode <= 0xa3) {
        static const uint8_t alt[4] = {0x8a, 0x8b, 0x88, 0x89};
        opbuf[0] = alt[in->opcode - 0xa0];
        op = opbuf;
        moffs = true;
    }

    if (mem) {
        struct memref mr;
        int reg = moffs ? 0 : in->raw.modrm.reg;
        bool need_rex;

        memref_from(&mr, in, mem);
        need_rex = rex_r || needs_computed(x, &mr) || mr.base == R_ESP;

        if (mem->mem.type == ZYDIS_MEMOP_TYPE_AGEN)
            return false; /* LEA and friends are handled by the caller */
        if (high8 && need_rex) {
            int f = pick_standin(d);
            if (f < 0 || rex_r)
                return false;
            emit_mov_rr(e, true, T_SAVE, f);
            memop(x, pre, npre, false, false, reg, op, oplen, &mr, 0, d->bytes + tail_off,
                  in->length - tail_off, f);
            emit_mov_rr(e, true, f, T_SAVE);
            x->fixup_reg = f;
            return true;
        }
        memop(x, pre, npre, false, rex_r, reg, op, oplen, &mr, 0, d->bytes + tail_off,
              in->length - tail_off, -1);
        return true;
    }

    if (high8 && (rex_r || rex_b)) {
        /* e.g. MOVZX SP, AH: let a free legacy register stand in for ESP. */
        int f = pick_standin(d);
        uint8_t modrm;

        if (f < 0 || !(in->attributes & ZYDIS_ATTRIB_HAS_MODRM))
            return false;
        modrm = d->bytes[modrm_off];
        if (rex_r)
            modrm = (uint8_t)((modrm & ~0x38) | f << 3);
        else
            modrm = (uint8_t)((modrm & ~0x07) | f);
        emit_mov_rr(e, true, T_SAVE, f);
        emit_mov_rr(e, false, f, H_R12);
        emit_bytes(e, pre, npre);
        emit_bytes(e, op, oplen);
        emit1(e, modrm);
        emit_bytes(e, d->bytes + modrm_off + 1, in->length - modrm_off - 1);
        emit_mov_rr(e, false, H_R12, f);
        emit_mov_rr(e, true, f, T_SAVE);
        return true;
    }

    emit_bytes(e, pre, npre);
    if (rex_r || rex_b)
        emit1(e, (uint8_t)(0x40 | rex_r << 2 | rex_b));
    emit_bytes(e, op, oplen);
    emit_bytes(e, d->bytes + modrm_off, in->length - modrm_off);
    return true;
}
