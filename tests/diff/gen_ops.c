/*
 * The generator's data-processing families: ALU, TEST, INC/DEC, NEG/NOT,
 * MUL/IMUL, DIV/IDIV, exchanges, moves, LEA, conversions, flag operations,
 * XLAT, BCD, NOP -- and the family table. Each family builds one "bundle":
 * the instruction under test plus whatever set-up makes it safe (a divisor
 * that cannot fault, an accumulator that makes CMPXCHG hit) -- through
 * emit(), which keeps the bookkeeping. The table at the end weights the
 * families (shifts and bit operations are in gen_bits.c, stack, strings and
 * control flow in gen_flow.c); inside a branch region the families that
 * move ESP or branch are skipped.
 *
 * DIV/IDIV get a divisor and a high half for which the quotient fits, so
 * they cannot fault.
 */
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

static bool alu_mutable(int op)
{
    return op == 0 || op == 1 || op == 4 || op == 5 || op == 6; /* add or and sub xor */
}

/* --- flag definer used by emit() --- */

void op_cmp_definer(struct gen *g, bool allow_test)
{
    struct cand c;
    struct rm o;
    int size = pick_size(g), w = size != 8;
    bool test = allow_test && chance(g, 30);

    c_init(&c);
    switch (rnd(g, 4)) {
    case 0:
        pick_rm(g, &o, size, false);
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)((test ? 0x84 : 0x38) + w));
        c_modrm(&c, pick_rreg(g), &o);
        break;
    case 1:
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)((test ? 0xa8 : 0x3c) + w));
        c_imm(&c, rand_val(g, size), size / 8);
        break;
    case 2:
        if (!test) {
            pick_rm(g, &o, size, false);
            c_opsize(&c, size);
            c_byte(&c, (uint8_t)(0x3a + w));
            c_modrm(&c, pick_rreg(g), &o);
            break;
        }
        /* fall through */
    default:
        pick_rm(g, &o, size, false);
        c_opsize(&c, size);
        if (test) {
            c_byte(&c, (uint8_t)(0xf6 + w));
            c_modrm(&c, 0, &o);
            c_imm(&c, rand_val(g, size), size / 8);
        } else if (size != 8 && chance(g, 50)) {
            c_byte(&c, 0x83);
            c_modrm(&c, 7, &o);
            c_imm(&c, rand_val(g, 8), 1);
        } else {
            c_byte(&c, (uint8_t)(0x80 + w));
            c_modrm(&c, 7, &o);
            c_imm(&c, rand_val(g, size), size / 8);
        }
        break;
    }
    emit(g, &c);
}

/* --- integer ALU --- */

static void op_alu(struct gen *g)
{
    int op = (int)rnd(g, 8), size = pick_size(g), w = size != 8;
    bool write = op != 7; /* cmp */
    struct cand c;
    struct rm o;

    c_init(&c);
    switch (rnd(g, 5)) {
    case 0: /* r/m, reg */
        pick_rm(g, &o, size, write);
        if (write)
            maybe_lock(g, &c, &o);
        c_opsize(&c, size);
        if (alu_mutable(op))
            c.alu_pos = c.n;
        c_byte(&c, (uint8_t)(op * 8 + w));
        c_modrm(&c, pick_rreg(g), &o);
        break;
    case 1: /* reg, r/m */
        pick_rm(g, &o, size, false);
        c_opsize(&c, size);
        if (alu_mutable(op))
            c.alu_pos = c.n;
        c_byte(&c, (uint8_t)(op * 8 + 2 + w));
        c_modrm(&c, write ? pick_wreg(g, size) : pick_rreg(g), &o);
        break;
    case 2: /* AL/AX/EAX, imm */
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)(op * 8 + 4 + w));
        c_imm(&c, rand_val(g, size), size / 8);
        break;
    default: /* r/m, imm */
        pick_rm(g, &o, size, write);
        if (write)
            maybe_lock(g, &c, &o);
        c_opsize(&c, size);
        if (size == 8) {
            c_byte(&c, chance(g, 8) ? 0x82 : 0x80); /* 82: the 32-bit-only alias */
            c_modrm(&c, op, &o);
            c_imm(&c, rand_val(g, 8), 1);
        } else if (chance(g, 50)) {
            c_byte(&c, 0x83);
            c_modrm(&c, op, &o);
            c_imm(&c, rand_val(g, 8), 1);
        } else {
            c_byte(&c, 0x81);
            c_modrm(&c, op, &o);
            c_imm(&c, rand_val(g, size), size / 8);
        }
        break;
    }
    emit(g, &c);
}

static void op_test(struct gen *g)
{
    int size = pick_size(g), w = size != 8;
    struct cand c;
    struct rm o;

    c_init(&c);
    switch (rnd(g, 3)) {
    case 0:
        pick_rm(g, &o, size, false);
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)(0x84 + w));
        c_modrm(&c, pick_rreg(g), &o);
        break;
    case 1:
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)(0xa8 + w));
        c_imm(&c, rand_val(g, size), size / 8);
        break;
    default:
        pick_rm(g, &o, size, false);
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)(0xf6 + w));
        c_modrm(&c, chance(g, 10) ? 1 : 0, &o); /* /1: the undocumented TEST alias */
        c_imm(&c, rand_val(g, size), size / 8);
        break;
    }
    emit(g, &c);
}

static void op_incdec(struct gen *g)
{
    int size = pick_size(g);
    struct cand c;
    struct rm o;

    c_init(&c);
    if (size != 8 && chance(g, 40)) {
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)((chance(g, 50) ? 0x40 : 0x48) + pick_wreg(g, size)));
    } else {
        pick_rm(g, &o, size, true);
        maybe_lock(g, &c, &o);
        c_opsize(&c, size);
        c_byte(&c, size == 8 ? 0xfe : 0xff);
        c_modrm(&c, (int)rnd(g, 2), &o);
    }
    emit(g, &c);
}

static void op_negnot(struct gen *g)
{
    int size = pick_size(g);
    struct cand c;
    struct rm o;

    c_init(&c);
    pick_rm(g, &o, size, true);
    maybe_lock(g, &c, &o);
    c_opsize(&c, size);
    c_byte(&c, size == 8 ? 0xf6 : 0xf7);
    c_modrm(&c, 2 + (int)rnd(g, 2), &o);
    emit(g, &c);
}

static void op_mul(struct gen *g)
{
    int size = pick_size(g);
    struct cand c;
    struct rm o;

    c_init(&c);
    if (size == 8 || chance(g, 40)) {
        pick_rm(g, &o, size, false);
        c_opsize(&c, size);
        c_byte(&c, size == 8 ? 0xf6 : 0xf7);
        c_modrm(&c, 4 + (int)rnd(g, 2), &o); /* mul / imul */
        emit(g, &c);
        return;
    }
    pick_rm(g, &o, size, false);
    c_opsize(&c, size);
    switch (rnd(g, 3)) {
    case 0:
        c_byte(&c, 0x0f);
        c_byte(&c, 0xaf);
        c_modrm(&c, pick_wreg(g, size), &o);
        break;
    case 1:
        c_byte(&c, 0x69);
        c_modrm(&c, pick_wreg(g, size), &o);
        c_imm(&c, rand_val(g, size), size / 8);
        break;
    default:
        c_byte(&c, 0x6b);
        c_modrm(&c, pick_wreg(g, size), &o);
        c_imm(&c, rand_val(g, 8), 1);
        break;
    }
    emit(g, &c);
}

/*
 * DIV/IDIV that cannot fault: the divisor is set to a known value (never 0,
 * never -1 for IDIV), and the dividend is either quotient*divisor+remainder
 * for a random in-range quotient, or (IDIV) the sign extension of the random
 * low half, or (DIV) a high half below the divisor.
 */
static void op_div(struct gen *g)
{
    int size = pick_size(g), bytes = size / 8;
    bool sgn = chance(g, 50);
    uint32_t mask = size == 32 ? ~0u : (1u << size) - 1;
    uint32_t d;
    struct cand c;
    struct rm o;

    do
        d = rand_val(g, size) & mask;
    while (d == 0 || (sgn && d == mask));

    g->reserved = (1u << EAX) | (1u << EDX);
    if (chance(g, 50)) {
        int r;
        do
            r = pick_wreg(g, size);
        while (size == 8 ? (r == 0 || r == 4) : (r == EAX || r == EDX));
        rm_reg(&o, r);
        if (size == 32)
            set_reg(g, r, d);
        else if (size == 16)
            set_part(g, r, 16, d);
        else
            set_part(g, r & 3, r < 4 ? 8 : 9, d);
    } else {
        pick_mem(g, &o, (unsigned)bytes, 0);
        c_init(&c);
        c_opsize(&c, size);
        c_byte(&c, size == 8 ? 0xc6 : 0xc7);
        c_modrm(&c, 0, &o);
        c_imm(&c, d, bytes);
        emit(g, &c);
    }
    g->reserved = 0;

    if (chance(g, 50)) {
        /* dividend = q * d + r with q in range and |r| < |d|, r taking the dividend's sign */
        uint64_t u;
        if (sgn) {
            int64_t sd = size == 8 ? (int8_t)d : size == 16 ? (int16_t)d : (int32_t)d;
            int64_t q = (int64_t)(rng_next(&g->rng) % ((uint64_t)1 << (size - 1)));
            int64_t rem = (int64_t)(rng_next(&g->rng) % (uint64_t)(sd < 0 ? -sd : sd));
            if (chance(g, 50))
                q = -q;
            int64_t dividend = q * sd;
            if (dividend < 0 || (dividend == 0 && chance(g, 50)))
                rem = -rem;
            u = (uint64_t)(dividend + rem);
        } else {
            uint64_t q = rng_next(&g->rng) & (size == 32 ? ~0u : (1u << size) - 1);
            u = q * d + rng_next(&g->rng) % d;
        }
        if (size == 8) {
            set_part(g, EAX, 16, (uint32_t)u & 0xffff);
        } else if (size == 16) {
            set_part(g, EAX, 16, (uint32_t)u & 0xffff);
            set_part(g, EDX, 16, (uint32_t)(u >> 16) & 0xffff);
        } else {
            set_reg(g, EAX, (uint32_t)u);
            set_reg(g, EDX, (uint32_t)(u >> 32));
        }
    } else if (sgn) {
        c_init(&c);
        if (size == 8) {
            c_byte(&c, 0x66);
            c_byte(&c, 0x98); /* cbw */
        } else {
            c_opsize(&c, size);
            c_byte(&c, 0x99); /* cwd / cdq */
        }
        emit(g, &c);
    } else {
        uint32_t hi = rand32(g) % d;
        if (size == 8)
            set_part(g, EAX, 9, hi);
        else if (size == 16)
            set_part(g, EDX, 16, hi);
        else
            set_reg(g, EDX, hi);
    }

    c_init(&c);
    c_opsize(&c, size);
    c_byte(&c, size == 8 ? 0xf6 : 0xf7);
    c_modrm(&c, sgn ? 7 : 6, &o);
    emit(g, &c);
}

/* --- exchange --- */

static void op_xchg(struct gen *g)
{
    int size = pick_size(g), w = size != 8;
    struct cand c;
    struct rm o;

    c_init(&c);
    if (size != 8 && chance(g, 30)) {
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)(0x90 + pick_wreg(g, size)));
    } else {
        pick_rm(g, &o, size, true);
        maybe_lock(g, &c, &o);
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)(0x86 + w));
        c_modrm(&c, pick_wreg(g, size), &o);
    }
    emit(g, &c);
}

static void op_xadd_cmpxchg(struct gen *g)
{
    int size = pick_size(g), w = size != 8;
    bool xadd = chance(g, 50), hit = !xadd && chance(g, 35);
    struct cand c;
    struct rm o;

    if (hit)
        g->reserved = 1u << EAX; /* EAX gets the old value: the operand must not use it */
    pick_rm(g, &o, size, true);
    g->reserved = 0;
    if (hit && (!o.is_reg || (o.reg & 3) != EAX)) {
        /* Make the compare succeed: load the accumulator from the operand. */
        c_init(&c);
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)(0x8a + w));
        c_modrm(&c, EAX, &o);
        emit(g, &c);
    }
    c_init(&c);
    maybe_lock(g, &c, &o);
    c_opsize(&c, size);
    c_byte(&c, 0x0f);
    c_byte(&c, (uint8_t)((xadd ? 0xc0 : 0xb0) + w));
    c_modrm(&c, xadd ? pick_wreg(g, size) : pick_rreg(g), &o);
    emit(g, &c);
}

static void op_cmpxchg8b(struct gen *g)
{
    bool hit = chance(g, 40);
    struct cand c;
    struct rm o, o4;

    g->reserved = (1u << EAX) | (1u << EDX);
    pick_mem(g, &o, 8, 0);
    g->reserved = 0;
    o4 = o;
    if (hit && rm_offset(&o4, 4)) {
        c_init(&c);
        c_byte(&c, 0x8b);
        c_modrm(&c, EAX, &o);
        emit(g, &c);
        c_init(&c);
        c_byte(&c, 0x8b);
        c_modrm(&c, EDX, &o4);
        emit(g, &c);
    }
    c_init(&c);
    maybe_lock(g, &c, &o);
    c_byte(&c, 0x0f);
    c_byte(&c, 0xc7);
    c_modrm(&c, 1, &o);
    emit(g, &c);
}

/* --- moves --- */

static void op_cmov_setcc(struct gen *g)
{
    struct cand c;
    struct rm o;

    c_init(&c);
    if (chance(g, 50)) {
        int size = chance(g, 70) ? 32 : 16;
        pick_rm(g, &o, size, false);
        c_opsize(&c, size);
        c_byte(&c, 0x0f);
        c_byte(&c, (uint8_t)(0x40 + rnd(g, 16)));
        c_modrm(&c, pick_wreg(g, size), &o);
    } else {
        pick_rm(g, &o, 8, true);
        c_byte(&c, 0x0f);
        c_byte(&c, (uint8_t)(0x90 + rnd(g, 16)));
        c_modrm(&c, 0, &o);
    }
    emit(g, &c);
}

static void op_movx(struct gen *g)
{
    bool from8 = chance(g, 60), sx = chance(g, 50);
    int dsize = from8 && chance(g, 25) ? 16 : 32;
    struct cand c;
    struct rm o;

    c_init(&c);
    pick_rm(g, &o, from8 ? 8 : 16, false);
    c_opsize(&c, dsize);
    c_byte(&c, 0x0f);
    c_byte(&c, (uint8_t)((sx ? 0xbe : 0xb6) + !from8));
    c_modrm(&c, pick_wreg(g, dsize), &o);
    emit(g, &c);
}

/* LEA computes an address and touches no memory: any ModRM/SIB, any registers. */
static void op_lea(struct gen *g)
{
    int size = chance(g, 80) ? 32 : 16, dst = pick_wreg(g, size);
    struct cand c;
    struct rm o;

    memset(&o, 0, sizeof(o));
    o.mod = (uint8_t)rnd(g, 3);
    o.rmf = (uint8_t)rnd(g, 8);
    c_init(&c);
    if (chance(g, 20)) { /* 16-bit addressing */
        o.a16 = true;
        o.dsize = o.mod == 1 ? 1 : o.mod == 2 || (o.mod == 0 && o.rmf == 6) ? 2 : 0;
        o.disp = rand32(g);
        c_byte(&c, 0x67);
    } else {
        if (o.rmf == 4) {
            o.has_sib = true;
            o.sib = (uint8_t)rand32(g);
        }
        o.dsize = o.mod == 1 ? 1 : o.mod == 2 ? 4 : 0;
        if (o.mod == 0 && (o.rmf == 5 || (o.has_sib && (o.sib & 7) == 5)))
            o.dsize = 4;
        o.disp = chance(g, 50) ? rand32(g) : rand_val(g, 32);

        /* Known inputs give a known result (a pointer later bundles can use). */
        int base = o.has_sib ? o.sib & 7 : o.rmf, index = o.has_sib ? (o.sib >> 3) & 7 : 4;
        bool nobase = o.mod == 0 && base == 5;
        uint32_t disp = o.dsize == 1 ? (uint32_t)(int32_t)(int8_t)o.disp :
                        o.dsize == 4 ? o.disp : 0;
        if ((nobase || g->t.known[base] == ~0u) && (index == 4 || g->t.known[index] == ~0u)) {
            uint32_t a = disp + (nobase ? 0 : g->t.val[base]) +
                         (index == 4 ? 0 : g->t.val[index] << (o.sib >> 6));
            c_known(&c, dst, size == 32 ? ~0u : 0xffff, a);
        }
    }
    o.disp &= o.dsize == 4 ? ~0u : o.dsize == 2 ? 0xffff : 0xff;
    c_opsize(&c, size);
    c_byte(&c, 0x8d);
    c_modrm(&c, dst, &o);
    emit(g, &c);
}

static void op_mov(struct gen *g)
{
    int size = pick_size(g), w = size != 8, bytes = size / 8;
    uint32_t mask = size == 32 ? ~0u : size == 16 ? 0xffff : 0xff;
    struct cand c;
    struct rm o;

    c_init(&c);
    switch (rnd(g, 6)) {
    case 0: /* r/m, reg */
        pick_rm(g, &o, size, true);
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)(0x88 + w));
        c_modrm(&c, pick_rreg(g), &o);
        break;
    case 1: { /* reg, r/m */
        int r = pick_wreg(g, size);
        pick_rm(g, &o, size, false);
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)(0x8a + w));
        c_modrm(&c, r, &o);
        if (size == 32 && o.is_reg && g->t.known[o.reg] == ~0u)
            c_known(&c, r, ~0u, g->t.val[o.reg]);
        break;
    }
    case 2: { /* r/m, imm */
        uint32_t v = rand_val(g, size);
        pick_rm(g, &o, size, true);
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)(0xc6 + w));
        c_modrm(&c, 0, &o);
        c_imm(&c, v, bytes);
        if (o.is_reg && size != 8)
            c_known(&c, o.reg, mask, v);
        else if (o.is_reg)
            c_known(&c, o.reg & 3, o.reg < 4 ? 0xff : 0xff00, o.reg < 4 ? v : v << 8);
        break;
    }
    case 3: { /* reg, imm (short form) */
        uint32_t v = rand_val(g, size);
        int r = pick_wreg(g, size);
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)((size == 8 ? 0xb0 : 0xb8) + r));
        c_imm(&c, v, bytes);
        if (size != 8)
            c_known(&c, r, mask, v);
        else
            c_known(&c, r & 3, r < 4 ? 0xff : 0xff00, r < 4 ? v : v << 8);
        break;
    }
    default: { /* moffs: A0-A3 with an absolute address */
        bool store = chance(g, 50);
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)(0xa0 + (store ? 2 : 0) + w));
        c_imm(&c, data_addr(g, (unsigned)bytes), 4);
        break;
    }
    }
    emit(g, &c);
}

static void op_conv(struct gen *g)
{
    struct cand c;

    c_init(&c);
    if (chance(g, 40))
        c_byte(&c, 0x66);
    c_byte(&c, chance(g, 50) ? 0x98 : 0x99); /* cbw/cwde, cwd/cdq */
    emit(g, &c);
}

static void op_flags(struct gen *g)
{
    static const uint8_t ops[] = { 0xf8, 0xf9, 0xf5, 0xfc, 0xfd, 0x9e, 0x9f };
    struct cand c;

    c_init(&c);
    c_byte(&c, ops[rnd(g, sizeof(ops))]); /* clc stc cmc cld std sahf lahf */
    emit(g, &c);
}

static void op_xlat(struct gen *g)
{
    struct cand c;
    uint32_t b = g->t.val[EBX];

    /* [EBX + AL]: EBX must leave 256 bytes of room. */
    if (!reg_known(g, EBX) || !addr_ok(g, b, 256))
        set_reg(g, EBX, data_addr(g, 256));
    c_init(&c);
    if (chance(g, 10))
        c_byte(&c, (uint8_t)(0x26 + 8 * rnd(g, 4))); /* es cs ss ds */
    c_byte(&c, 0xd7);
    emit(g, &c);
}

static void op_bcd(struct gen *g)
{
    static const uint8_t ops[] = { 0x27, 0x2f, 0x37, 0x3f };
    struct cand c;

    c_init(&c);
    switch (rnd(g, 3)) {
    case 0:
        c_byte(&c, ops[rnd(g, 4)]); /* daa das aaa aas */
        break;
    case 1:
        c_byte(&c, 0xd4); /* aam: base 0 would fault */
        c_byte(&c, (uint8_t)(chance(g, 60) ? 10 : 1 + rnd(g, 255)));
        break;
    default:
        c_byte(&c, 0xd5); /* aad */
        c_byte(&c, (uint8_t)(chance(g, 60) ? 10 : rnd(g, 256)));
        break;
    }
    emit(g, &c);
}

static void op_nop(struct gen *g)
{
    struct cand c;
    struct rm o;

    c_init(&c);
    if (chance(g, 50)) {
        c_byte(&c, 0x90);
    } else {
        pick_rm(g, &o, 32, false);
        c_opsize(&c, chance(g, 20) ? 16 : 32);
        c_byte(&c, 0x0f);
        c_byte(&c, 0x1f);
        c_modrm(&c, 0, &o);
    }
    emit(g, &c);
}

/* --- family table --- */

void op_shift(struct gen *g);
void op_shld(struct gen *g);
void op_bt(struct gen *g);
void op_bsf(struct gen *g);
void op_bswap(struct gen *g);
void op_strings(struct gen *g);
void op_stack(struct gen *g);
void op_pusha(struct gen *g);
void op_pushf(struct gen *g);
void op_enter_leave(struct gen *g);
void op_branch(struct gen *g);
void op_call(struct gen *g);

#define FAM_STACK 1  /* moves ESP */
#define FAM_BRANCH 2 /* opens a region */

static const struct family {
    void (*fn)(struct gen *g);
    unsigned weight;
    unsigned kind;
} families[] = {
    { op_alu, 16, 0 },        { op_test, 4, 0 },        { op_incdec, 4, 0 },
    { op_negnot, 3, 0 },      { op_mul, 4, 0 },         { op_div, 3, 0 },
    { op_shift, 9, 0 },       { op_shld, 3, 0 },        { op_bt, 5, 0 },
    { op_bsf, 2, 0 },         { op_bswap, 1, 0 },       { op_xchg, 3, 0 },
    { op_xadd_cmpxchg, 3, 0 }, { op_cmpxchg8b, 1, 0 },  { op_cmov_setcc, 5, 0 },
    { op_movx, 3, 0 },        { op_lea, 4, 0 },         { op_mov, 8, 0 },
    { op_conv, 2, 0 },        { op_flags, 3, 0 },       { op_xlat, 1, 0 },
    { op_bcd, 3, 0 },         { op_nop, 1, 0 },         { op_strings, 5, 0 },
    { op_stack, 6, FAM_STACK }, { op_pusha, 1, FAM_STACK }, { op_pushf, 2, FAM_STACK },
    { op_enter_leave, 2, FAM_STACK }, { op_branch, 6, FAM_BRANCH },
    { op_call, 2, FAM_STACK | FAM_BRANCH },
};

void gen_bundle(struct gen *g)
{
    static unsigned total;
    const unsigned n = sizeof(families) / sizeof(families[0]);

    if (!total)
        for (unsigned i = 0; i < n; i++)
            total += families[i].weight;
    for (;;) {
        uint32_t x = rnd(g, total);
        unsigned i = 0;
        while (x >= families[i].weight)
            x -= families[i++].weight;
        if (g->region && families[i].kind)
            continue;
        g->reserved = 0;
        families[i].fn(g);
        g->reserved = 0;
        return;
    }
}
