/*
 * The generator's core: randomness, the x86 encoder helpers, memory operands
 * that always land in the data area, the bookkeeping that makes a snippet
 * safe, and the snippet driver. Instruction families live in gen_ops.c.
 *
 * Safety rests on `struct track`: the generator knows each register bit it
 * has set (mov/lea with known inputs) and forgets every bit an instruction
 * writes otherwise. Which registers an instruction writes and which flags it
 * tests, defines or leaves undefined is read back from Zydis' decoding of the
 * very bytes emitted (so the encoder tables cannot drift from the
 * bookkeeping); the families override the flag effect only where it depends
 * on a shift count Zydis cannot see. Memory operands are built backwards from
 * a target address inside the data area, using any fully known registers as
 * base and index (the displacement absorbs the rest, with 32-bit wrap). ESP is
 * always known: only the stack families change it, and they say how.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

/* --- randomness (xoshiro256**, seeded through splitmix64) --- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ull);

    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

uint32_t rnd(struct gen *g, uint32_t n)
{
    return n ? (uint32_t)((rng_next(&g->rng) >> 32) % n) : 0;
}

bool chance(struct gen *g, unsigned pct)
{
    return rnd(g, 100) < pct;
}

uint32_t rand32(struct gen *g)
{
    return (uint32_t)(rng_next(&g->rng) >> 16);
}

uint32_t rand_val(struct gen *g, int size)
{
    uint32_t mask = size == 32 ? ~0u : (1u << size) - 1, v;

    switch (rnd(g, 12)) {
    case 0: v = 0; break;
    case 1: v = 1; break;
    case 2: v = ~0u; break;
    case 3: v = 1u << (size - 1); break;          /* most negative */
    case 4: v = (1u << (size - 1)) - 1; break;    /* most positive */
    case 5: v = rnd(g, 16); break;
    case 6: v = (1u << rnd(g, size)) + rnd(g, 3) - 1; break;
    case 7: v = 0x80u | rnd(g, 0x80); break;       /* bytes with the sign set */
    default: v = rand32(g); break;
    }
    return v & mask;
}

/* --- encoding --- */

void c_init(struct cand *c)
{
    memset(c, 0, sizeof(*c));
    c->alu_pos = -1;
}

void c_byte(struct cand *c, uint8_t b)
{
    if (c->n >= 15) {
        fprintf(stderr, "diff gen: instruction longer than 15 bytes\n");
        abort();
    }
    c->b[c->n++] = b;
}

void c_opsize(struct cand *c, int size)
{
    if (size == 16)
        c_byte(c, 0x66);
}

void c_imm(struct cand *c, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        c_byte(c, (uint8_t)(v >> (8 * i)));
}

void c_modrm(struct cand *c, int regf, const struct rm *o)
{
    if (o->is_reg) {
        c_byte(c, (uint8_t)(0xc0 | (regf & 7) << 3 | (o->reg & 7)));
        return;
    }
    c_byte(c, (uint8_t)(o->mod << 6 | (regf & 7) << 3 | o->rmf));
    if (o->has_sib)
        c_byte(c, o->sib);
    c_imm(c, o->disp, o->dsize);
}

/* LOCK is legal only with a memory destination; there, use it sometimes. */
void maybe_lock(struct gen *g, struct cand *c, const struct rm *o)
{
    if (!o->is_reg && chance(g, 15))
        c_byte(c, 0xf0);
}

void c_known(struct cand *c, int reg, uint32_t mask, uint32_t val)
{
    if (c->nkn >= 4)
        abort();
    c->kn[c->nkn].reg = reg;
    c->kn[c->nkn].mask = mask;
    c->kn[c->nkn].val = val;
    c->nkn++;
}

/* --- operands --- */

bool reg_known(const struct gen *g, int r)
{
    return g->t.known[r] == ~0u && !(g->reserved & (1u << r));
}

int pick_size(struct gen *g)
{
    uint32_t x = rnd(g, 100);

    return x < 55 ? 32 : x < 75 ? 16 : 8;
}

int pick_wreg(struct gen *g, int size)
{
    for (;;) {
        int r = (int)rnd(g, 8);
        int gpr = size == 8 ? (r & 3) : r;

        if (size != 8 && r == ESP)
            continue;
        if (g->reserved & (1u << gpr))
            continue;
        return r;
    }
}

int pick_rreg(struct gen *g)
{
    return (int)rnd(g, 8);
}

void rm_reg(struct rm *o, int reg)
{
    memset(o, 0, sizeof(*o));
    o->is_reg = true;
    o->reg = reg;
}

static bool in_data(uint32_t addr, uint32_t size)
{
    return addr >= DIFF_DATA_BASE && addr <= DATA_END - size;
}

bool addr_ok(const struct gen *g, uint32_t addr, uint32_t size)
{
    return in_data(addr, size) && (addr + size <= g->prot_lo || addr >= g->prot_hi);
}

uint32_t data_addr(struct gen *g, unsigned size)
{
    uint32_t span = DIFF_DATA_SIZE - size + 1, off;
    uint32_t esp_off = g->t.val[ESP] - DIFF_DATA_BASE;

    switch (rnd(g, 10)) {
    case 0: case 1: /* around the stack pointer, where pushes and pops meet */
        off = esp_off + rnd(g, 256) - 96;
        break;
    case 2: /* the edges of the data area */
        off = chance(g, 50) ? rnd(g, 16) : span - 1 - rnd(g, 16);
        break;
    default:
        off = rnd(g, span);
        break;
    }
    for (;;) {
        if (off >= span)
            off = rnd(g, span);
        if (size > 1 && chance(g, 60))
            off &= ~(size - 1);
        if (addr_ok(g, DIFF_DATA_BASE + off, size))
            return DIFF_DATA_BASE + off;
        off = span;
    }
}

static uint32_t reg_addr_val(const struct gen *g, int r, int32_t esp_adj)
{
    return g->t.val[r] + (r == ESP ? (uint32_t)esp_adj : 0);
}

/*
 * Encode [base + index*2^scale + disp] (base/index -1 when absent). Picks the
 * shortest displacement that fits unless want_d32, and sometimes the redundant
 * SIB-without-index form, which decoders must treat like the plain one.
 */
static void build_mem(struct gen *g, struct rm *o, int base, int index, int scale, uint32_t disp,
                      bool want_d32)
{
    int32_t sd = (int32_t)disp;
    bool sib = index >= 0 || base == ESP || (base >= 0 && chance(g, 8)) ||
               (base < 0 && chance(g, 5));

    o->is_reg = false;
    o->a16 = false;
    if (base < 0) {
        o->mod = 0;
        o->dsize = 4;
    } else if (!want_d32 && disp == 0 && base != EBP) {
        o->mod = 0;
        o->dsize = 0;
    } else if (!want_d32 && sd >= -128 && sd <= 127) {
        o->mod = 1;
        o->dsize = 1;
    } else {
        o->mod = 2;
        o->dsize = 4;
    }
    o->disp = o->dsize == 1 ? (uint32_t)(uint8_t)disp : disp;
    if (sib) {
        o->rmf = 4;
        o->has_sib = true;
        o->sib = (uint8_t)(scale << 6 | (index < 0 ? 4 : index) << 3 | (base < 0 ? 5 : base));
    } else {
        o->has_sib = false;
        o->rmf = base < 0 ? 5 : (uint8_t)base;
    }
}

static int pick_base(struct gen *g, bool index)
{
    int cand[8], n = 0;

    for (int r = 0; r < 8; r++)
        if (reg_known(g, r) && !(index && r == ESP))
            cand[n++] = r;
    return n ? cand[rnd(g, n)] : -1;
}

void pick_mem_at(struct gen *g, struct rm *o, uint32_t target, int32_t esp_adj)
{
    int base = -1, index = -1, scale = 0;
    uint32_t x = rnd(g, 10);

    memset(o, 0, sizeof(*o));
    if (x >= 2)
        base = pick_base(g, false);
    if (x >= 6)
        index = pick_base(g, true);
    if (index >= 0)
        scale = (int)rnd(g, 4);
    if (x == 9)
        base = -1; /* [index*scale + disp32] */
    uint32_t v = (base >= 0 ? reg_addr_val(g, base, esp_adj) : 0) +
                 (index >= 0 ? reg_addr_val(g, index, esp_adj) << scale : 0);
    build_mem(g, o, base, index, scale, target - v, chance(g, 10));
    o->addr = target;
}

void pick_mem(struct gen *g, struct rm *o, unsigned size, int32_t esp_adj)
{
    /* Mostly from a known pointer with a short displacement, as compilers write it. */
    for (int tries = 0; tries < 3; tries++) {
        int base = pick_base(g, false), index = -1, scale = 0;
        if (base < 0)
            break;
        if (chance(g, 30)) {
            index = pick_base(g, true);
            scale = index >= 0 ? (int)rnd(g, 4) : 0;
        }
        uint32_t v = reg_addr_val(g, base, esp_adj) +
                     (index >= 0 ? reg_addr_val(g, index, esp_adj) << scale : 0);
        uint32_t d = chance(g, 30) ? 0 : (uint32_t)(int32_t)(int8_t)rnd(g, 256);
        if (addr_ok(g, v + d, size)) {
            memset(o, 0, sizeof(*o));
            build_mem(g, o, base, index, scale, d, chance(g, 5));
            o->addr = v + d;
            return;
        }
    }
    pick_mem_at(g, o, data_addr(g, size), esp_adj);
}

void pick_rm(struct gen *g, struct rm *o, int size, bool write)
{
    if (chance(g, 50))
        rm_reg(o, write ? pick_wreg(g, size) : pick_rreg(g));
    else
        pick_mem(g, o, (unsigned)size / 8, 0);
}

bool rm_offset(struct rm *o, int32_t delta)
{
    if (o->is_reg || o->a16)
        return false;
    int32_t d = o->dsize == 1 ? (int8_t)o->disp : o->dsize == 4 ? (int32_t)o->disp : 0;
    uint32_t nd = (uint32_t)(d + delta);
    if (o->dsize == 4) {
        o->disp = nd;
    } else if ((int32_t)nd >= -128 && (int32_t)nd <= 127) {
        o->mod = 1;
        o->dsize = 1;
        o->disp = (uint8_t)nd;
    } else {
        o->mod = 2;
        o->dsize = 4;
        o->disp = nd;
    }
    o->addr += (uint32_t)delta;
    return true;
}

/* --- emission --- */

static void die_insn(const char *why, const uint8_t *b, int n)
{
    fprintf(stderr, "diff gen: %s:", why);
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %02x", b[i]);
    fprintf(stderr, "\n");
    abort();
}

static bool decode(struct gen *g, const struct cand *c, ZydisDecodedInstruction *in,
                   ZydisDecodedOperand *ops)
{
    return ZYAN_SUCCESS(ZydisDecoderDecodeFull(&g->dec, c->b, (ZyanUSize)c->n, in, ops)) &&
           in->length == c->n;
}

/* The GPR and bits a Zydis register names, or -1 for anything else (flags, EIP, segments). */
static int gpr_of(ZydisRegister r, uint32_t *mask)
{
    switch (r) {
    case ZYDIS_REGISTER_AL: *mask = 0xff; return EAX;
    case ZYDIS_REGISTER_CL: *mask = 0xff; return ECX;
    case ZYDIS_REGISTER_DL: *mask = 0xff; return EDX;
    case ZYDIS_REGISTER_BL: *mask = 0xff; return EBX;
    case ZYDIS_REGISTER_AH: *mask = 0xff00; return EAX;
    case ZYDIS_REGISTER_CH: *mask = 0xff00; return ECX;
    case ZYDIS_REGISTER_DH: *mask = 0xff00; return EDX;
    case ZYDIS_REGISTER_BH: *mask = 0xff00; return EBX;
    default: break;
    }
    if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_DI) {
        *mask = 0xffff;
        return (int)(r - ZYDIS_REGISTER_AX);
    }
    if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_EDI) {
        *mask = ~0u;
        return (int)(r - ZYDIS_REGISTER_EAX);
    }
    return -1;
}

static void append(struct gen *g, const struct cand *c)
{
    struct snippet *s = g->s;

    if (s->code_len + (uint32_t)c->n > DIFF_MAX_CODE || s->ninsns >= GEN_MAX_INSNS) {
        fprintf(stderr, "diff gen: snippet overflow (code %u, insns %u)\n", s->code_len,
                s->ninsns);
        abort();
    }
    if (c->alu_pos >= 0)
        s->alu_site[s->nalu_sites++] = (uint16_t)(s->code_len + (uint32_t)c->alu_pos);
    s->insn_off[s->ninsns++] = (uint16_t)s->code_len;
    memcpy(s->code + s->code_len, c->b, (size_t)c->n);
    s->code_len += (uint32_t)c->n;
}

static bool has_explicit_mem(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *ops,
                             bool *written)
{
    for (int i = 0; i < in->operand_count_visible; i++) {
        if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && ops[i].mem.type == ZYDIS_MEMOP_TYPE_MEM) {
            *written = (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0;
            return true;
        }
    }
    return false;
}

void emit(struct gen *g, struct cand *c)
{
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    bool written;

    if (!decode(g, c, &in, ops))
        die_insn("does not decode as encoded", c->b, c->n);

    /* A segment override on an explicit memory operand: flat in both worlds, but the
     * translator must still see and honour it (CS only for reads: CS is not writable). */
    if (!c->no_seg && c->n < 15 && has_explicit_mem(&in, ops, &written) && chance(g, 8)) {
        static const uint8_t pfx[] = { 0x26, 0x36, 0x3e, 0x2e };
        uint8_t p = pfx[rnd(g, written ? 3 : 4)];
        memmove(c->b + 1, c->b, (size_t)c->n);
        c->b[0] = p;
        c->n++;
        if (c->alu_pos >= 0)
            c->alu_pos++;
        if (!decode(g, c, &in, ops))
            die_insn("does not decode with a segment prefix", c->b, c->n);
    }

    uint32_t need = in.cpu_flags->tested & F_STATUS & g->t.undef;
    if (need)
        define_flags(g, need);

    append(g, c);

    /* Flags. */
    uint32_t def, und;
    if (c->fl_override) {
        def = c->fl_def;
        und = c->fl_undef;
    } else {
        und = in.cpu_flags->undefined & F_STATUS;
        def = (in.cpu_flags->modified | in.cpu_flags->set_0 | in.cpu_flags->set_1) & F_STATUS &
              ~und;
    }
    g->t.undef = (g->t.undef & ~def) | und;
    if (in.cpu_flags->set_0 & F_DF)
        g->t.df = 0;
    if (in.cpu_flags->set_1 & F_DF)
        g->t.df = 1;
    if (in.cpu_flags->modified & F_DF)
        g->t.df = -1;
    if (c->df_known)
        g->t.df = c->df_new;

    /* Registers: forget every bit written, except what the family says is known. */
    for (int i = 0; i < in.operand_count; i++) {
        uint32_t mask;
        int r;
        if (ops[i].type != ZYDIS_OPERAND_TYPE_REGISTER ||
            !(ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
            continue;
        r = gpr_of(ops[i].reg.value, &mask);
        if (r < 0)
            continue;
        if (r == ESP && !c->esp_write)
            die_insn("writes ESP without saying how", c->b, c->n);
        g->t.known[r] &= ~mask;
    }
    for (int r = 0; r < 8; r++)
        if (c->clobber & (1u << r))
            g->t.known[r] = 0;
    if (c->esp_write) {
        if (!in_data(c->esp_new, 4))
            die_insn("moves ESP out of the data area", c->b, c->n);
        g->t.val[ESP] = c->esp_new;
        g->t.known[ESP] = ~0u;
    }
    for (int i = 0; i < c->nkn; i++) {
        int r = c->kn[i].reg;
        g->t.val[r] = (g->t.val[r] & ~c->kn[i].mask) | (c->kn[i].val & c->kn[i].mask);
        g->t.known[r] |= c->kn[i].mask;
    }
}

void set_reg(struct gen *g, int r, uint32_t v)
{
    struct cand c;
    int base = chance(g, 30) ? pick_base(g, false) : -1;

    c_init(&c);
    if (base >= 0) {
        struct rm o;
        memset(&o, 0, sizeof(o));
        build_mem(g, &o, base, -1, 0, v - g->t.val[base], false);
        c_byte(&c, 0x8d); /* lea r, [base + disp] */
        c_modrm(&c, r, &o);
    } else if (chance(g, 70)) {
        c_byte(&c, (uint8_t)(0xb8 + r));
        c_imm(&c, v, 4);
    } else {
        struct rm o;
        rm_reg(&o, r);
        c_byte(&c, 0xc7);
        c_modrm(&c, 0, &o);
        c_imm(&c, v, 4);
    }
    c_known(&c, r, ~0u, v);
    emit(g, &c);
}

void set_part(struct gen *g, int r, int part, uint32_t v)
{
    struct cand c;

    c_init(&c);
    if (part == 16) {
        c_byte(&c, 0x66);
        c_byte(&c, (uint8_t)(0xb8 + r));
        c_imm(&c, v, 2);
        c_known(&c, r, 0xffff, v);
    } else if (part == 8) {
        c_byte(&c, (uint8_t)(0xb0 + r));
        c_imm(&c, v, 1);
        c_known(&c, r, 0xff, v);
    } else {
        c_byte(&c, (uint8_t)(0xb4 + r));
        c_imm(&c, v, 1);
        c_known(&c, r, 0xff00, v << 8);
    }
    emit(g, &c);
}

/* Make the flags in `need` defined again, without writing any register. */
void define_flags(struct gen *g, uint32_t need)
{
    struct cand c;

    c_init(&c);
    if (!(need & ~F_CF) && chance(g, 30)) {
        c_byte(&c, chance(g, 50) ? 0xf8 : 0xf9); /* clc / stc */
        emit(g, &c);
    } else if (!(need & F_OF) && chance(g, 25)) {
        c_byte(&c, 0x9e); /* sahf */
        emit(g, &c);
    } else {
        op_cmp_definer(g, !(need & F_AF));
    }
    if (g->t.undef & need) {
        fprintf(stderr, "diff gen: flag definer left %#x undefined\n", g->t.undef & need);
        abort();
    }
}

/* --- control flow --- */

uint32_t code_pos(const struct gen *g)
{
    return g->s->code_len;
}

void patch(struct gen *g, uint32_t at, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        g->s->code[at + (uint32_t)i] = (uint8_t)(v >> (8 * i));
}

void mark(const struct gen *g, struct gen_mark *m)
{
    m->t = g->t;
    m->code_len = g->s->code_len;
    m->ninsns = g->s->ninsns;
    m->nalu_sites = g->s->nalu_sites;
}

void rewind_to(struct gen *g, const struct gen_mark *m)
{
    g->t = m->t;
    g->s->code_len = m->code_len;
    g->s->ninsns = m->ninsns;
    g->s->nalu_sites = m->nalu_sites;
}

/* Where two paths meet, keep only what holds on both. */
void track_merge(struct track *a, const struct track *b)
{
    for (int r = 0; r < 8; r++)
        a->known[r] &= b->known[r] & ~(a->val[r] ^ b->val[r]);
    if (a->val[ESP] != b->val[ESP] || a->known[ESP] != ~0u) {
        fprintf(stderr, "diff gen: paths meet with different ESP\n");
        abort();
    }
    a->undef |= b->undef;
    if (a->df != b->df)
        a->df = -1;
}

void gen_bundles(struct gen *g, unsigned n)
{
    while (n--)
        gen_bundle(g);
}

/* --- snippets --- */

static uint32_t initial_reg(struct gen *g)
{
    switch (rnd(g, 8)) {
    case 0: return rand_val(g, 32);
    case 1: return rnd(g, 256);
    case 2: return DIFF_DATA_BASE + rnd(g, DIFF_DATA_SIZE);
    default: return rand32(g);
    }
}

void gen_snippet(struct snippet *s, uint64_t seed, uint32_t index, const struct gen_params *p)
{
    struct gen g;

    memset(&g, 0, sizeof(g));
    s->seed = seed;
    s->index = index;
    s->code_len = 0;
    s->ninsns = 0;
    s->nalu_sites = 0;
    g.s = s;
    rng_seed(&g.rng, seed, index);
    ZydisDecoderInit(&g.dec, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);

    for (uint32_t i = 0; i < DIFF_DATA_SIZE; i += 8) {
        uint64_t x = rng_next(&g.rng);
        if ((x & 0xf) == 0)
            x = (x >> 8) & 0x0101010101010101ull; /* some runs of small values */
        memcpy(s->data + i, &x, 8);
    }
    for (int r = 0; r < 8; r++) {
        s->in.gpr[r] = initial_reg(&g);
        g.t.val[r] = s->in.gpr[r];
        g.t.known[r] = ~0u;
    }
    s->in.gpr[EBX] = g.t.val[EBX] = DIFF_DATA_BASE + 0x1000 + rnd(&g, 0x6000);
    s->in.gpr[ESP] = g.t.val[ESP] = (DIFF_DATA_BASE + 0xb000 + rnd(&g, 0x2000)) &
                                   (chance(&g, 90) ? ~3u : ~0u);
    s->in.eflags = (rand32(&g) & (F_STATUS | F_DF)) | 0x202;
    g.t.df = (s->in.eflags & F_DF) != 0;
    g.t.undef = 0;

    while (s->ninsns < p->ninsns && s->code_len < DIFF_MAX_CODE - 1024 &&
           s->ninsns < GEN_MAX_INSNS - 160)
        gen_bundle(&g);

    s->undef_flags = g.t.undef;
    for (int r = 0; r < 8; r++) {
        s->known_mask[r] = g.t.known[r];
        s->known_val[r] = g.t.val[r] & g.t.known[r];
    }
    s->known_df = g.t.df;
}
