/*
 * The generator's shift and bit families: shifts and rotates by 1, imm8 and
 * CL; SHLD/SHRD; BT/BTS/BTR/BTC with immediate and register offsets; BSF/BSR;
 * BSWAP.
 *
 * Their flag effects depend on the count, which Zydis cannot see (it
 * describes the general case): the count is made known (an immediate, or
 * `mov cl, imm` first) and the effect computed here. Undefined results are
 * avoided rather than masked: 16-bit SHLD/SHRD never shift by more than 16,
 * and BSF/BSR of a zero source overwrite their destination right after.
 * A memory BT* with a register offset reaches words around its operand; the
 * offset is chosen so that the word it reaches is inside the data area.
 */
#include <stdlib.h>

#include "gen_int.h"

/* --- shifts and rotates --- */

static uint32_t pick_count(struct gen *g, int size)
{
    switch (rnd(g, 12)) {
    case 0: return 0;
    case 1: case 2: return 1;
    case 3: return (uint32_t)size - 1;
    case 4: return (uint32_t)size;
    case 5: return (uint32_t)size + 1;
    case 6: return 31 + rnd(g, 3); /* 31, 32 (masked to 0), 33 */
    case 7: return rnd(g, 256);
    default: return rnd(g, (uint32_t)size);
    }
}

/* Flag effect of a shift (op 4-7) or rotate (op 0-3) by count (before masking). */
static void shift_flags(struct cand *c, int op, int size, uint32_t count)
{
    uint32_t n = count & 31, def = 0, und = 0;

    c->fl_override = true;
    if (n == 0) {
        c->fl_def = c->fl_undef = 0; /* a zero count changes no flag */
        return;
    }
    if (op < 4) {
        def = F_CF;
    } else {
        def = F_SF | F_ZF | F_PF;
        und = F_AF;
        if (n < (uint32_t)size)
            def |= F_CF;
        else
            und |= F_CF; /* undefined once every bit has been shifted out */
    }
    if (n == 1)
        def |= F_OF;
    else
        und |= F_OF;
    c->fl_def = def;
    c->fl_undef = und;
}

void op_shift(struct gen *g)
{
    int size = pick_size(g), w = size != 8, op = (int)rnd(g, 8), form = (int)rnd(g, 3);
    uint32_t count = 1;
    struct cand c;
    struct rm o;

    if (op == 6 && chance(g, 70))
        op = 4; /* /6 is the undocumented SAL alias: keep it rare */
    if (form == 2) {
        if ((g->t.known[ECX] & 0xff) != 0xff || chance(g, 40))
            set_part(g, ECX, 8, pick_count(g, size));
        count = g->t.val[ECX] & 0xff;
    } else if (form == 1) {
        count = pick_count(g, size);
    }
    c_init(&c);
    pick_rm(g, &o, size, true);
    c_opsize(&c, size);
    c_byte(&c, (uint8_t)((form == 0 ? 0xd0 : form == 1 ? 0xc0 : 0xd2) + w));
    c_modrm(&c, op, &o);
    if (form == 1)
        c_imm(&c, count, 1);
    shift_flags(&c, op, size, count);
    emit(g, &c);
}

void op_shld(struct gen *g)
{
    int size = chance(g, 60) ? 32 : 16;
    bool cl = chance(g, 40), right = chance(g, 50);
    uint32_t count;
    struct cand c;
    struct rm o;

    /* A 16-bit double shift by more than 16 has an undefined result: masked count <= 16. */
    count = size == 32 ? pick_count(g, 32) : (rnd(g, 17) | rnd(g, 8) << 5);
    if (cl) {
        if ((g->t.known[ECX] & 0xff) != 0xff || (size == 16 && (g->t.val[ECX] & 31) > 16) ||
            chance(g, 40))
            set_part(g, ECX, 8, count);
        count = g->t.val[ECX] & 0xff;
    }
    c_init(&c);
    pick_rm(g, &o, size, true);
    c_opsize(&c, size);
    c_byte(&c, 0x0f);
    c_byte(&c, (uint8_t)((right ? 0xac : 0xa4) + cl));
    c_modrm(&c, pick_rreg(g), &o);
    if (!cl)
        c_imm(&c, count, 1);
    c.fl_override = true;
    if (count & 31) {
        c.fl_def = F_SF | F_ZF | F_PF | F_CF | ((count & 31) == 1 ? F_OF : 0);
        c.fl_undef = F_AF | ((count & 31) == 1 ? 0 : F_OF);
    }
    emit(g, &c);
}

/* --- bit instructions --- */

void op_bt(struct gen *g)
{
    int size = chance(g, 65) ? 32 : 16, op = (int)rnd(g, 4), bytes = size / 8;
    struct cand c;
    struct rm o;

    c_init(&c);
    if (chance(g, 40)) { /* bt* r/m, imm8: the offset is taken modulo the operand size */
        pick_rm(g, &o, size, op != 0);
        if (op)
            maybe_lock(g, &c, &o);
        c_opsize(&c, size);
        c_byte(&c, 0x0f);
        c_byte(&c, 0xba);
        c_modrm(&c, 4 + op, &o);
        c_imm(&c, rand_val(g, 8), 1);
        emit(g, &c);
        return;
    }
    if (chance(g, 40)) { /* register operand: offset modulo the size as well */
        rm_reg(&o, op ? pick_wreg(g, size) : pick_rreg(g));
        c_opsize(&c, size);
        c_byte(&c, 0x0f);
        c_byte(&c, (uint8_t)(0xa3 + 8 * op));
        c_modrm(&c, pick_rreg(g), &o);
        emit(g, &c);
        return;
    }
    /* Memory with a register offset: the signed offset reaches words around the operand. */
    int r = pick_wreg(g, 32);
    g->reserved = (uint8_t)(1u << r);
    pick_mem(g, &o, (unsigned)bytes, 0);
    g->reserved = 0;
    int64_t lo = ((int64_t)DIFF_DATA_BASE - o.addr) / bytes - 1;
    int64_t hi = ((int64_t)DATA_END - bytes - o.addr) / bytes + 1;
    if (lo < -600)
        lo = -600;
    if (hi > 600)
        hi = 600;
    int64_t k;
    do
        k = lo + (int64_t)rnd(g, (uint32_t)(hi - lo + 1));
    while (!addr_ok(g, (uint32_t)(o.addr + k * bytes), (uint32_t)bytes));
    uint32_t bit = (uint32_t)(k * size) + rnd(g, (uint32_t)size);
    if (size == 16)
        set_part(g, r, 16, bit);
    else
        set_reg(g, r, bit);
    if (op)
        maybe_lock(g, &c, &o);
    c_opsize(&c, size);
    c_byte(&c, 0x0f);
    c_byte(&c, (uint8_t)(0xa3 + 8 * op));
    c_modrm(&c, r, &o);
    emit(g, &c);
}

void op_bsf(struct gen *g)
{
    int size = chance(g, 65) ? 32 : 16, bytes = size / 8;
    uint32_t mask = size == 32 ? ~0u : 0xffff;
    int dst = pick_wreg(g, size);
    bool zero = chance(g, 15);
    struct cand c;
    struct rm o;

    pick_rm(g, &o, size, false);
    if (o.is_reg && o.reg == ESP)
        zero = false;
    if (zero || !o.is_reg || (g->t.known[o.reg] & mask) != mask ||
        !(g->t.val[o.reg] & mask)) {
        /* Source zero on purpose, or made non-zero: a zero source leaves the destination
         * undefined (AMD keeps it, Intel documents nothing). */
        c_init(&c);
        c_opsize(&c, size);
        if (zero) {
            if (o.is_reg) {
                if (size == 32)
                    set_reg(g, o.reg, 0);
                else
                    set_part(g, o.reg, 16, 0);
            } else {
                c_byte(&c, 0xc7);
                c_modrm(&c, 0, &o);
                c_imm(&c, 0, bytes);
                emit(g, &c);
            }
        } else {
            uint32_t bit = rnd(g, (uint32_t)size);
            if (bit < 7) {
                c_byte(&c, 0x83);
                c_modrm(&c, 1, &o);
                c_imm(&c, 1u << bit, 1);
            } else {
                c_byte(&c, 0x81);
                c_modrm(&c, 1, &o);
                c_imm(&c, 1u << bit, bytes);
            }
            emit(g, &c);
        }
    }
    c_init(&c);
    c_opsize(&c, size);
    c_byte(&c, 0x0f);
    c_byte(&c, chance(g, 50) ? 0xbc : 0xbd);
    c_modrm(&c, dst, &o);
    emit(g, &c);
    if (zero)
        set_reg(g, dst, rand_val(g, 32));
}

void op_bswap(struct gen *g)
{
    struct cand c;

    c_init(&c);
    c_byte(&c, 0x0f);
    c_byte(&c, (uint8_t)(0xc8 + pick_wreg(g, 32)));
    emit(g, &c);
}
