/*
 * The generator's families that move ESP, use implicit pointers, or change
 * control flow: push/pop in all forms, PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE,
 * the string instructions, forward branches, indirect jumps and calls.
 *
 * ESP is tracked exactly and kept in [STACK_LO, STACK_HI]. POPF only ever
 * pops a value with IF set and TF/IOPL/NT/AC clear (what a user process can
 * do, and what keeps tachyon's CPL-0 guest in step with it). A conditional
 * branch skips a "region" of whole bundles; where the two paths meet the
 * generator keeps only what holds on both (track_merge). An unconditional
 * jump skips dead code, generated like any other but never run. A call runs
 * a region as a subroutine and returns into a jump over it; the return
 * address is protected from the region's memory operands.
 */
#include <stdlib.h>

#include "gen_int.h"

static void set_esp(struct cand *c, uint32_t esp)
{
    c->esp_write = true;
    c->esp_new = esp;
}

/* --- strings --- */

static bool span_ok(struct gen *g, uint32_t p, int df, uint32_t n, uint32_t esz)
{
    uint32_t cnt = n ? n : 1;
    uint32_t lo = df ? p - (cnt - 1) * esz : p;

    return addr_ok(g, lo, cnt * esz);
}

static void set_ptr(struct gen *g, int r, int df, uint32_t n, uint32_t esz)
{
    uint32_t cnt = n ? n : 1;
    uint32_t lo = data_addr(g, cnt * esz);

    set_reg(g, r, df ? lo + (cnt - 1) * esz : lo);
}

void op_strings(struct gen *g)
{
    static const uint8_t opc[] = { 0xa4, 0xa6, 0xaa, 0xac, 0xae }; /* movs cmps stos lods scas */
    int k = (int)rnd(g, 5), size = pick_size(g);
    uint32_t esz = (uint32_t)size / 8;
    bool src = k == 0 || k == 1 || k == 3, dst = k != 3, cmp = k == 1 || k == 4;
    uint32_t x = rnd(g, 100);
    uint8_t rep = x < 35 ? 0 : x < 85 ? 0xf3 : 0xf2;
    struct cand c;

    if (g->t.df < 0 || chance(g, 15)) {
        c_init(&c);
        c_byte(&c, chance(g, 50) ? 0xfc : 0xfd); /* cld / std */
        emit(g, &c);
    }
    int df = g->t.df;
    uint32_t n = 1;
    if (rep) {
        if (g->t.known[ECX] == ~0u && g->t.val[ECX] <= 8 && chance(g, 40))
            n = g->t.val[ECX];
        else
            set_reg(g, ECX, n = rnd(g, 9));
    }
    if (src && (!reg_known(g, ESI) || !span_ok(g, g->t.val[ESI], df, n, esz) || chance(g, 50)))
        set_ptr(g, ESI, df, n, esz);
    if (dst && (!reg_known(g, EDI) || !span_ok(g, g->t.val[EDI], df, n, esz) || chance(g, 50)))
        set_ptr(g, EDI, df, n, esz);

    c_init(&c);
    c.no_seg = true;
    if (src && chance(g, 10))
        c_byte(&c, (uint8_t)(0x26 + 8 * rnd(g, 4))); /* es cs ss ds on the source */
    if (rep)
        c_byte(&c, rep);
    c_opsize(&c, size);
    c_byte(&c, (uint8_t)(opc[k] + (size != 8)));
    c.clobber = (uint8_t)((src ? 1u << ESI : 0) | (dst ? 1u << EDI : 0) | (rep ? 1u << ECX : 0));
    if (rep && n == 0) {
        c.fl_override = true; /* no iteration, no compare: the flags stay as they were */
        c.fl_def = c.fl_undef = 0;
    }
    /* Counted forms end at a known place; REPE/REPNE compares stop where the data says. */
    if (!rep || !cmp) {
        uint32_t step = (df ? -1u : 1u) * n * esz;
        if (src)
            c_known(&c, ESI, ~0u, g->t.val[ESI] + step);
        if (dst)
            c_known(&c, EDI, ~0u, g->t.val[EDI] + step);
        if (rep)
            c_known(&c, ECX, ~0u, 0);
    }
    emit(g, &c);
}

/* --- stack --- */

static bool can_push(const struct gen *g, uint32_t bytes)
{
    return g->t.val[ESP] - bytes >= STACK_LO;
}

static bool can_pop(const struct gen *g, uint32_t bytes)
{
    return g->t.val[ESP] + bytes <= STACK_HI;
}

static void esp_arith(struct gen *g)
{
    uint32_t esp = g->t.val[ESP];
    int32_t d = (int32_t)rnd(g, 255) - 127; /* fits imm8 either way round */
    struct cand c;
    struct rm o;

    if (esp + (uint32_t)d < STACK_LO || esp + (uint32_t)d > STACK_HI)
        d = -d;
    c_init(&c);
    switch (rnd(g, 6)) {
    case 0: /* add/sub esp, imm8 */
        c_byte(&c, 0x83);
        c_byte(&c, chance(g, 50) ? 0xc4 : 0xec);
        c_imm(&c, (uint32_t)(c.b[1] == 0xc4 ? d : -d), 1);
        break;
    case 1: /* add/sub esp, imm32 */
        c_byte(&c, 0x81);
        c_byte(&c, chance(g, 50) ? 0xc4 : 0xec);
        c_imm(&c, (uint32_t)(c.b[1] == 0xc4 ? d : -d), 4);
        break;
    case 2: /* lea esp, [esp + d] in any encoding */
        pick_mem_at(g, &o, esp + (uint32_t)d, 0);
        c_byte(&c, 0x8d);
        c_modrm(&c, ESP, &o);
        break;
    case 3: /* and esp, -16: the usual frame alignment */
        if ((esp & ~15u) < STACK_LO)
            return;
        c_byte(&c, 0x83);
        c_byte(&c, 0xe4);
        c_byte(&c, 0xf0);
        d = (int32_t)((esp & ~15u) - esp);
        break;
    case 4: /* inc/dec esp */
        d = chance(g, 50) ? 1 : -1;
        c_byte(&c, d > 0 ? 0x44 : 0x4c);
        break;
    default: /* mov esp, imm32 */
        d = (int32_t)(STACK_LO + 0x1000 + rnd(g, STACK_HI - STACK_LO - 0x2000)) - (int32_t)esp;
        if (chance(g, 80))
            d &= ~3;
        c_byte(&c, 0xbc);
        c_imm(&c, esp + (uint32_t)d, 4);
        break;
    }
    set_esp(&c, esp + (uint32_t)d);
    emit(g, &c);
}

void op_stack(struct gen *g)
{
    uint32_t esp = g->t.val[ESP];
    int size = chance(g, 80) ? 32 : 16;
    uint32_t bytes = (uint32_t)size / 8;
    uint32_t x = rnd(g, 20);
    struct cand c;
    struct rm o;

    if (x >= 12 && x < 17 && !can_pop(g, bytes))
        x = 0;
    if (x < 12 && !can_push(g, bytes + 4))
        x = 12;
    c_init(&c);
    switch (x) {
    case 0: case 1: case 2: case 3: /* push reg (push esp stores the old value) */
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)(0x50 + rnd(g, 8)));
        set_esp(&c, esp - bytes);
        break;
    case 4: case 5: case 6: /* push imm8 / imm16 / imm32 */
        c_opsize(&c, size);
        if (chance(g, 50)) {
            c_byte(&c, 0x6a);
            c_imm(&c, rand_val(g, 8), 1);
        } else {
            c_byte(&c, 0x68);
            c_imm(&c, rand_val(g, size), bytes);
        }
        set_esp(&c, esp - bytes);
        break;
    case 7: case 8: case 9: /* push r/m: the address is computed before ESP moves */
        pick_rm(g, &o, size, false);
        c_opsize(&c, size);
        c_byte(&c, 0xff);
        c_modrm(&c, 6, &o);
        set_esp(&c, esp - bytes);
        break;
    case 10: { /* push esp; pop esp, or push a valid stack address; pop esp */
        bool same = chance(g, 50);
        uint32_t v = same ? esp : (STACK_LO + 0x800 + rnd(g, STACK_HI - STACK_LO - 0x1000)) & ~3u;
        c_byte(&c, same ? 0x54 : 0x68);
        if (!same)
            c_imm(&c, v, 4);
        set_esp(&c, esp - 4);
        emit(g, &c);
        c_init(&c);
        c_byte(&c, 0x5c);
        set_esp(&c, v);
        break;
    }
    case 11:
        esp_arith(g);
        return;
    case 12: case 13: case 14: /* pop reg */
        c_opsize(&c, size);
        c_byte(&c, (uint8_t)(0x58 + pick_wreg(g, size)));
        set_esp(&c, esp + bytes);
        break;
    case 15: case 16: /* pop r/m: with ESP as base, the address uses the incremented ESP */
        if (chance(g, 50))
            rm_reg(&o, pick_wreg(g, size));
        else
            pick_mem(g, &o, bytes, (int32_t)bytes);
        c_opsize(&c, size);
        c_byte(&c, 0x8f);
        c_modrm(&c, 0, &o);
        set_esp(&c, esp + bytes);
        break;
    default:
        esp_arith(g);
        return;
    }
    emit(g, &c);
}

void op_pusha(struct gen *g)
{
    uint32_t esp = g->t.val[ESP], bytes = chance(g, 80) ? 32 : 16;
    struct cand c;

    c_init(&c);
    if (bytes == 16)
        c_byte(&c, 0x66);
    if ((chance(g, 50) && can_push(g, bytes)) || !can_pop(g, bytes)) {
        c_byte(&c, 0x60);
        set_esp(&c, esp - bytes);
    } else {
        c_byte(&c, 0x61);
        set_esp(&c, esp + bytes);
    }
    emit(g, &c);
}

/* DF after an AND/OR/XOR of `m` into a flags image whose DF is df (-1: unknown). */
static int df_after(int df, int op, uint32_t m)
{
    int bit = (m & F_DF) != 0;

    switch (op) {
    case 4: return bit ? df : 0;         /* and */
    case 1: return bit ? 1 : df;         /* or */
    default: return df < 0 ? -1 : df ^ bit; /* xor */
    }
}

void op_pushf(struct gen *g)
{
    uint32_t esp = g->t.val[ESP];
    int size = chance(g, 80) ? 32 : 16;
    uint32_t bytes = (uint32_t)size / 8, x = rnd(g, 100);
    struct cand c;
    int df;

    if (!can_push(g, bytes))
        return;
    c_init(&c);
    c_opsize(&c, size);
    if (x < 35) {
        /* push imm; popf: only arithmetic flags and DF, with IF and bit 1 set */
        uint32_t v = (rand32(g) & (F_STATUS | F_DF)) | 0x202;
        c_byte(&c, 0x68);
        c_imm(&c, v, bytes);
        df = (v & F_DF) != 0;
    } else {
        c_byte(&c, 0x9c);
        df = g->t.df;
    }
    set_esp(&c, esp - bytes);
    emit(g, &c);
    if (x >= 35 && x < 65)
        return; /* a lone pushf: the image stays for a later pop */
    if (x >= 65) {
        for (int i = 0, n = 1 + (int)rnd(g, 2); i < n; i++) {
            static const int ops[] = { 4, 1, 6 }; /* and or xor [esp], mask */
            int op = ops[rnd(g, 3)];
            uint32_t m = rand32(g) & (F_STATUS | F_DF);
            struct rm o;
            if (op == 4)
                m |= 0x202;
            pick_mem_at(g, &o, esp - bytes, 0);
            c_init(&c);
            c_opsize(&c, size);
            c_byte(&c, 0x81);
            c_modrm(&c, op, &o);
            c_imm(&c, m, bytes);
            emit(g, &c);
            df = df_after(df, op, m);
        }
    }
    c_init(&c);
    c_opsize(&c, size);
    c_byte(&c, 0x9d);
    set_esp(&c, esp);
    c.df_known = true;
    c.df_new = df;
    emit(g, &c);
}

void op_enter_leave(struct gen *g)
{
    uint32_t esp = g->t.val[ESP], ebp = g->t.val[EBP];
    struct cand c;

    c_init(&c);
    if (chance(g, 55)) {
        uint32_t n = chance(g, 30) ? 0 : chance(g, 80) ? rnd(g, 64) : rnd(g, 0x200);
        uint32_t lvl = chance(g, 60) ? 0 : chance(g, 60) ? 1 : 2 + rnd(g, 2);
        /* Levels above 1 copy frame pointers from below the old EBP. */
        if (lvl >= 2 && (!reg_known(g, EBP) || !addr_ok(g, ebp - 4 * (lvl - 1), 4 * (lvl - 1))))
            lvl = 1;
        uint32_t dec = 4 + n + (lvl ? 4 * lvl : 0);
        if (esp - dec < STACK_LO)
            return;
        c_byte(&c, 0xc8);
        c_imm(&c, n, 2);
        c_imm(&c, lvl + (chance(g, 10) ? 32 * (1 + rnd(g, 7)) : 0), 1); /* level is mod 32 */
        set_esp(&c, esp - dec);
        c_known(&c, EBP, ~0u, esp - 4);
    } else {
        if (!reg_known(g, EBP) || ebp < STACK_LO || ebp > STACK_HI - 4) {
            uint32_t lo = esp - 64 < STACK_LO ? STACK_LO : esp - 64;
            uint32_t hi = esp + 64 > STACK_HI - 4 ? STACK_HI - 4 : esp + 64;
            ebp = (lo + rnd(g, hi - lo + 1)) & (chance(g, 80) ? ~3u : ~0u);
            if (ebp < STACK_LO)
                ebp += 4;
            set_reg(g, EBP, ebp);
        }
        c_byte(&c, 0xc9);
        set_esp(&c, ebp + 4);
    }
    emit(g, &c);
}

/* --- branches --- */

/* Emit c (a branch whose displacement is the last `dsize` bytes), then a region of bundles,
 * and point the branch past it. Returns false (and rewinds) if rel8 cannot reach. */
static bool branch_over(struct gen *g, struct cand *c, int dsize, bool conditional)
{
    struct gen_mark m0;
    struct track taken;

    mark(g, &m0);
    c->no_seg = true;
    emit(g, c);
    uint32_t end = code_pos(g);
    taken = g->t;
    g->region++;
    gen_bundles(g, 1 + rnd(g, 4));
    g->region--;
    uint32_t dist = code_pos(g) - end;
    if (dsize == 1 && dist > 127) {
        rewind_to(g, &m0);
        return false;
    }
    if (dsize)
        patch(g, end - (uint32_t)dsize, dist, dsize);
    if (conditional)
        track_merge(&g->t, &taken);
    else
        g->t = taken; /* the region is dead code */
    return true;
}

static void jcc(struct gen *g)
{
    uint8_t cc = (uint8_t)rnd(g, 16);
    uint8_t hint = chance(g, 5) ? (chance(g, 50) ? 0x2e : 0x3e) : 0;
    struct cand c;

    for (int near = chance(g, 25); near < 2; near++) {
        c_init(&c);
        if (hint)
            c_byte(&c, hint); /* branch-not-taken / taken hints */
        if (near) {
            c_byte(&c, 0x0f);
            c_byte(&c, 0x80 + cc);
            c_imm(&c, 0, 4);
        } else {
            c_byte(&c, 0x70 + cc);
            c_byte(&c, 0);
        }
        if (branch_over(g, &c, near ? 4 : 1, true))
            return;
    }
}

static void loop(struct gen *g)
{
    struct cand c;

    if (chance(g, 30))
        set_reg(g, ECX, rnd(g, 3)); /* make the fall-through path likely */
    c_init(&c);
    if (chance(g, 15))
        c_byte(&c, 0x67); /* CX instead of ECX */
    c_byte(&c, (uint8_t)(0xe0 + rnd(g, 4))); /* loopnz loopz loop jecxz */
    c_byte(&c, 0);
    branch_over(g, &c, 1, true);
}

static void jmp_direct(struct gen *g)
{
    struct cand c;
    bool near = chance(g, 30);

    c_init(&c);
    c_byte(&c, near ? 0xe9 : 0xeb);
    c_imm(&c, 0, near ? 4 : 1);
    if (!branch_over(g, &c, near ? 4 : 1, false) && !near) {
        c_init(&c);
        c_byte(&c, 0xe9);
        c_imm(&c, 0, 4);
        branch_over(g, &c, 4, false);
    }
}

/* Put a 32-bit placeholder where a code address will go: in a register or in memory.
 * Returns the code offset of the placeholder. */
static uint32_t target_holder(struct gen *g, struct rm *o, int *reg)
{
    struct cand c;

    c_init(&c);
    if (chance(g, 50)) {
        *reg = pick_wreg(g, 32);
        rm_reg(o, *reg);
        c_byte(&c, (uint8_t)(0xb8 + *reg));
    } else {
        *reg = -1;
        pick_mem(g, o, 4, 0);
        c_byte(&c, 0xc7);
        c_modrm(&c, 0, o);
    }
    c_imm(&c, 0, 4);
    emit(g, &c);
    return code_pos(g) - 4;
}

static void jmp_indirect(struct gen *g)
{
    struct cand c;
    struct rm o;
    int reg;
    uint32_t at = target_holder(g, &o, &reg);

    c_init(&c);
    c_byte(&c, 0xff);
    c_modrm(&c, 4, &o);
    branch_over(g, &c, 0, false);
    patch(g, at, DIFF_CODE_BASE + code_pos(g), 4);
    if (reg >= 0) { /* the register now holds the landing address */
        g->t.known[reg] = ~0u;
        g->t.val[reg] = DIFF_CODE_BASE + code_pos(g);
    }
}

void op_branch(struct gen *g)
{
    uint32_t x = rnd(g, 10);

    if (x < 5)
        jcc(g);
    else if (x < 7)
        loop(g);
    else if (x < 9)
        jmp_direct(g);
    else
        jmp_indirect(g);
}

/*
 * call next; pop r -- or a subroutine: call it (direct, via a register or via
 * memory), jump over it on return, body, ret/ret imm16.
 */
void op_call(struct gen *g)
{
    uint32_t esp = g->t.val[ESP];
    struct cand c;
    struct rm o;
    int reg = -1;

    if (!can_push(g, 8))
        return;
    if (chance(g, 25)) {
        c_init(&c);
        c_byte(&c, 0xe8);
        c_imm(&c, 0, 4);
        set_esp(&c, esp - 4);
        emit(g, &c);
        uint32_t ret = DIFF_CODE_BASE + code_pos(g);
        int r = pick_wreg(g, 32);
        c_init(&c);
        c_byte(&c, (uint8_t)(0x58 + r));
        set_esp(&c, esp);
        c_known(&c, r, ~0u, ret);
        emit(g, &c);
        return;
    }

    uint32_t x = rnd(g, 3), at = 0;
    if (x)
        at = target_holder(g, &o, &reg);
    c_init(&c);
    if (x) {
        c_byte(&c, 0xff);
        c_modrm(&c, 2, &o);
    } else {
        c_byte(&c, 0xe8);
        c_imm(&c, 0, 4);
    }
    c.no_seg = true;
    set_esp(&c, esp - 4);
    emit(g, &c);
    uint32_t call_end = code_pos(g);

    c_init(&c);
    c_byte(&c, 0xe9);
    c_imm(&c, 0, 4);
    emit(g, &c);
    uint32_t jmp_end = code_pos(g), body = jmp_end;
    if (x)
        patch(g, at, DIFF_CODE_BASE + body, 4);
    else
        patch(g, call_end - 4, body - call_end, 4);

    g->prot_lo = esp - 4;
    g->prot_hi = esp;
    g->region++;
    gen_bundles(g, 1 + rnd(g, 4));
    g->region--;
    g->prot_lo = g->prot_hi = 0;

    uint32_t imm = chance(g, 70) ? 0 : 2 * rnd(g, 9);
    c_init(&c);
    if (imm || chance(g, 10)) {
        c_byte(&c, 0xc2);
        c_imm(&c, imm, 2);
    } else {
        c_byte(&c, 0xc3);
    }
    set_esp(&c, esp + imm);
    emit(g, &c);
    patch(g, jmp_end - 4, code_pos(g) - jmp_end, 4);
}
