/*
 * Internals shared by the generator's core (gen.c: bookkeeping, encoding,
 * memory operands, flag safety, branch regions) and its instruction families
 * (gen_ops.c, gen_bits.c, gen_flow.c). Nothing outside gen*.c includes this.
 */
#ifndef TACHYON_DIFF_GEN_INT_H
#define TACHYON_DIFF_GEN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <Zydis/Zydis.h>

#include "gen.h"

enum { EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI };

#define DATA_END (DIFF_DATA_BASE + DIFF_DATA_SIZE)
/* ESP stays in [STACK_LO, STACK_HI]: room for pusha/enter below, for pops above. */
#define STACK_LO (DIFF_DATA_BASE + 0x9000u)
#define STACK_HI (DIFF_DATA_BASE + 0xf000u)

#define F_CF 0x001u
#define F_PF 0x004u
#define F_AF 0x010u
#define F_ZF 0x040u
#define F_SF 0x080u
#define F_DF 0x400u
#define F_OF 0x800u
#define F_STATUS (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

/* What the generator knows at the current point of the snippet. ESP is always known. */
struct track {
    uint32_t val[8];
    uint32_t known[8]; /* mask of the bits of val[] that are right */
    uint32_t undef;    /* status flags an executed instruction left undefined */
    int df;            /* 0, 1, or -1 when the paths that meet here disagree */
};

struct gen {
    struct rng rng;
    struct snippet *s;
    ZydisDecoder dec;
    struct track t;
    int region;        /* > 0 inside a branch region: no ESP change, no nested branch */
    uint8_t reserved;  /* GPRs the bundle being built needs unchanged: not bases, not set */
    uint32_t prot_lo, prot_hi; /* no operand may touch [lo, hi): a live return address */
};

/* An r/m operand, register or memory, as it will be encoded. */
struct rm {
    bool is_reg;
    int reg;           /* register number (is_reg) */
    uint8_t mod, rmf;  /* ModRM mod and r/m fields (memory) */
    bool has_sib;
    uint8_t sib;
    int dsize;         /* displacement bytes: 0, 1, 2 (16-bit addressing) or 4 */
    uint32_t disp;
    bool a16;          /* 16-bit addressing: needs the 0x67 prefix */
    uint32_t addr;     /* effective address (memory, 32-bit forms) */
};

/* One instruction about to be emitted, with what the generator must learn from it. */
struct cand {
    uint8_t b[15];
    int n;
    bool esp_write;    /* the instruction may write ESP; it becomes esp_new */
    uint32_t esp_new;
    uint8_t clobber;   /* GPRs written that Zydis does not list (its CMPS/SCAS omit ESI/EDI) */
    int nkn;           /* register bits whose value is known afterwards */
    struct {
        int reg;
        uint32_t mask, val;
    } kn[4];
    bool fl_override;  /* flag effect given here (count-dependent shifts), not by Zydis */
    uint32_t fl_def, fl_undef;
    bool no_seg;       /* never add a segment-override prefix */
    int alu_pos;       /* offset of a swappable ALU opcode byte in b[], or -1 */
    bool df_known;     /* DF afterwards is df_new (popf) */
    int df_new;
};

/* Randomness. */
uint32_t rnd(struct gen *g, uint32_t n);  /* uniform in [0, n) */
bool chance(struct gen *g, unsigned pct);
uint32_t rand32(struct gen *g);
uint32_t rand_val(struct gen *g, int size); /* biased towards edge values; size in bits */

/* Encoding. */
void c_init(struct cand *c);
void c_byte(struct cand *c, uint8_t b);
void c_opsize(struct cand *c, int size); /* 0x66 for 16-bit operands */
void c_modrm(struct cand *c, int regf, const struct rm *o);
void c_imm(struct cand *c, uint32_t v, int bytes);
void c_known(struct cand *c, int reg, uint32_t mask, uint32_t val);
void maybe_lock(struct gen *g, struct cand *c, const struct rm *o);

/* Operands. */
bool reg_known(const struct gen *g, int r); /* fully known and not reserved */
int pick_size(struct gen *g);               /* 8, 16 or 32 */
int pick_wreg(struct gen *g, int size);     /* a register the bundle may write */
int pick_rreg(struct gen *g);
void pick_mem(struct gen *g, struct rm *o, unsigned size, int32_t esp_adj);
void pick_mem_at(struct gen *g, struct rm *o, uint32_t target, int32_t esp_adj);
void pick_rm(struct gen *g, struct rm *o, int size, bool write);
void rm_reg(struct rm *o, int reg);
bool rm_offset(struct rm *o, int32_t delta); /* the same operand `delta` bytes further */
uint32_t data_addr(struct gen *g, unsigned size); /* a random address with size bytes in data */
bool addr_ok(const struct gen *g, uint32_t addr, uint32_t size); /* in data, not protected */

/* Emission: appends c (after flag definers if c reads an undefined flag). */
void emit(struct gen *g, struct cand *c);
void set_reg(struct gen *g, int r, uint32_t v);             /* flag-free: mov or lea */
void set_part(struct gen *g, int r, int part, uint32_t v); /* part: 8 (low), 9 (high), 16 */
void define_flags(struct gen *g, uint32_t need);

/* Control flow. */
uint32_t code_pos(const struct gen *g);
void patch(struct gen *g, uint32_t at, uint32_t v, int bytes);
struct gen_mark {
    struct track t;
    uint32_t code_len, ninsns, nalu_sites;
};
void mark(const struct gen *g, struct gen_mark *m);
void rewind_to(struct gen *g, const struct gen_mark *m);
void track_merge(struct track *a, const struct track *b);
void gen_bundles(struct gen *g, unsigned n); /* n random bundles (in a region: region-safe) */

/* Families (gen_ops.c, gen_bits.c, gen_flow.c). */
void gen_bundle(struct gen *g);
void op_cmp_definer(struct gen *g, bool allow_test);

#endif
