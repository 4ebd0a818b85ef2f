/*
 * Translator internals shared by tc.c (the cache and its maps), stubs.c (the
 * fixed entry/exit/lookup code) and translate.c/ident.c (the code generator).
 */
#ifndef TACHYON_BT_INTERNAL_H
#define TACHYON_BT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <Zydis/Zydis.h>

#include "bt/bt.h"
#include "bt/emit.h"

#define TC_SIZE (64u << 20)          /* bytes of translated code before a flush */
#define TC_STUB_SIZE (4u << 10)      /* fixed stubs at the start of the TC */
#define BLOCK_MAX_INSNS 64
#define BLOCK_MAX_HOST 8192          /* worst case per block; checked before each block */
#define BLOCK_HASH_BITS 16
#define LOOKUP_BITS 16               /* inline indirect-branch table sets: 64 Ki of 2 entries */
#define HOT_SLOTS 4096               /* adaptively retranslated instructions remembered */
#define ADAPTIVE_COOL 64              /* quiet runs before an adaptive callout is undone */
#define LOOKUP_TABLES 16             /* tables kept for distinct (mode, CS base, CR3) */

/* Host scratch registers (DESIGN.md §1: R8-R11 are the translator's). */
#define T_VAL H_R8   /* values, indirect-branch targets */
#define T_SAVE H_R9  /* a guest register swapped out (fixups) */
#define T_ADDR H_R10 /* computed guest addresses */
#define T_TMP H_R11  /* segment bases and other short-lived values */

/* One guest instruction of a block: where its host code starts. */
struct insn_map {
    uint16_t host_off;
    int8_t fixup_reg;   /* host reg saved in R9 while this instruction runs, -2 for an inline
                           string instruction (RDI holds window + EDI), or -1 */
    uint8_t len;        /* guest length */
    uint32_t eip;
};

/* A patchable jump in a block, and where it is linked to. */
struct exit_site {
    uint8_t *site;       /* the rel32 field */
    uint8_t *stub;       /* its unlinked target (the exit stub) */
    struct block *to;    /* block it is chained to, or NULL */
    struct exit_site *next_in; /* next site linked into the same block */
};

/* A callout's instruction, decoded once at translation (exit_arg points at it). */
struct callout_insn {
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    struct callout_insn *next;   /* the block's list, freed with it */
    struct block *block;         /* adaptive (made a callout because hot): its block, */
    uint32_t gpa;                /* the instruction's guest-physical address */
    uint32_t quiet;              /* and executions in a row that needed no emulation */
};

struct block {
    uint32_t lin;          /* linear address of the first instruction (CS base + EIP) */
    uint32_t eip;
    uint32_t cs_base;
    uint32_t mode;
    uint32_t phys;         /* guest-physical address of the first byte (part of the key) */
    uint32_t pages[2];     /* guest-physical pages the guest bytes come from (~0 = none) */
    uint8_t *host;         /* entry point in the TC */
    uint32_t host_len;
    uint16_t ninsn;
    uint16_t check_len;    /* host bytes of the self-check before the first instruction */
    uint16_t nexits;
    bool dead;
    struct block *hash_next;
    struct block *page_next[2];
    struct exit_site *incoming;  /* sites in other blocks that jump straight here */
    struct exit_site exits[2];
    struct callout_insn *callouts;
    struct insn_map map[];
};

struct lookup_entry {
    uint32_t neg_eip;      /* -eip: the inline check adds the target and tests for zero */
    uint32_t pad;
    uint64_t host;         /* block entry, or the miss stub */
};

/* The set of eip in a lookup table (two entries each): its low 16 bits plus 9 times the
 * 16-bit value bits 16-23 << 8 | bits 24-31 (what BSWAP leaves in the low half), as the
 * inline sequence in stubs.c computes it. The low bits alone made targets 64 KiB apart
 * with the same alignment share a slot: in a kernel the size of Linux's, whose functions
 * start 16-byte aligned, nearly every lookup miss of a fork was two hot targets evicting
 * each other. Two ways absorb the pairs any hash leaves (with a randomized kernel base, a
 * different pair every boot). */
static inline uint32_t lookup_set(uint32_t eip)
{
    uint32_t high = ((eip >> 8) & 0xff00u) | eip >> 24;

    return (eip + high * 9u) & ((1u << LOOKUP_BITS) - 1);
}

/* The offsets within one linear page that a lookup table has entries for. */
struct target_page {
    uint32_t pg;
    struct target_page *next;
    uint64_t offs[64];     /* bit per byte offset */
    uint32_t *cross;       /* EIPs of blocks that start on the page before and run into this */
    uint32_t ncross, capcross;
};

#define TARGET_BUCKETS 256
#define LOOKUP_GLOBAL 2u  /* the cr3 of tables for targets in global pages (never a CR3) */

struct lookup_table {
    uint32_t mode, cs_base;
    uint32_t cr3;          /* address space (0 with paging off): entries are linear */
    uint64_t stamp;        /* last use, for replacement */
    struct lookup_entry *tab;
    uint8_t *pages;        /* bit per linear 4 KiB page that some entry points into, so a
                              remapped page costs nothing unless it held branch targets */
    uint8_t pages4m[128];  /* bit per 4 MiB region with any bit set in pages */
    struct target_page *targets[TARGET_BUCKETS]; /* so a page's entries are found directly */
};

struct page_list {
    uint32_t gpa;
    struct block *head;
    struct page_list *next;
};

struct bt {
    struct machine *m;
    uint8_t *tc;           /* RWX, below 2 GiB so host addresses fit in imm32 */
    uint8_t *tc_free;      /* bump pointer */
    uint8_t *tc_end;

    /* fixed stubs */
    void (*enter)(struct vcpu *c, void *pc);
    uint8_t *exit_common;    /* saves the guest state and returns from enter() */
    uint8_t *exit_translate; /* sets EXIT_TRANSLATE, then exit_common */
    uint8_t *lookup;         /* inline indirect-branch lookup, target in R8D */
    uint8_t *lookup_miss;    /* table entries that are empty point here */
    uint8_t *df_table;       /* 256 bytes: DF (0/1) of bits 8-15 of an RFLAGS image */

    struct block *hash[1u << BLOCK_HASH_BITS];
    struct block **blocks;   /* all blocks in TC order, for host PC -> block */
    size_t nblocks, cap_blocks;

    struct page_list *pages[1024]; /* guest-physical page -> blocks, hashed */

    struct lookup_table tables[LOOKUP_TABLES];
    struct lookup_table *recent[4]; /* the tables tc__table() returned last, newest first */
    uint64_t stamp;
    uint64_t generation;     /* flushes so far */

    /* Adaptive retranslation: guest-physical addresses of instructions whose accesses are
     * emulated (open addressing; value: 1 = seen once, 2 = translate as a callout). */
    uint32_t hot_key[HOT_SLOTS];
    uint8_t hot_state[HOT_SLOTS];

    ZydisDecoder dec32, dec16;
};

/* tc.c */
bool tc__hot(struct bt *bt, uint32_t gpa); /* instruction at gpa is to be a callout */
struct block *tc__find(struct bt *bt, uint32_t lin, uint32_t cs_base, uint32_t mode, uint32_t phys);
void tc__insert(struct bt *bt, struct block *b);
struct lookup_table *tc__table(struct bt *bt, uint32_t mode, uint32_t cs_base, uint32_t cr3);
void tc__table_clear(struct bt *bt, struct lookup_table *t);

/* stubs.c */
void stubs__emit(struct bt *bt);

/* translate.c */
/* Translate the block at the vCPU's CS:EIP whose first byte is at guest-physical phys.
 * NULL if fetching its first instruction faults (*f). */
struct block *translate__block(struct machine *m, struct bt *bt, uint32_t phys,
                               struct mem_fault *f);

#endif

/* ---- code generation (translate.c, ident.c) ---- */

/* One decoded guest instruction, normalized to 32-bit-mode encoding. */
struct dinsn {
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    uint8_t bytes[16];   /* the bytes `in` was decoded from (32-bit mode) */
    uint32_t eip;        /* guest EIP of the instruction */
    uint8_t len;         /* guest length (of the original bytes) */
    bool hot;            /* a callout because its accesses kept being emulated */
    uint32_t phys;       /* guest-physical address (set when hot) */
};

/* A guest memory operand: guest register numbers (-1 = none). */
struct memref {
    int base, index, scale;
    int32_t disp;
    int seg;             /* SEG_* */
    bool addr16;
};

struct xlate {
    struct machine *m;
    struct bt *bt;
    struct vcpu *c;
    struct emitter e;
    uint32_t mode, cs_base;
    unsigned flat;       /* bit i: segment i has base 0 */
    int fixup_reg;       /* host register saved in R9 by the current instruction, or -1 */
};

/* Map a Zydis GPR to a guest register number; *high8 set for AH/CH/DH/BH. -1 if not a GPR. */
int zreg_gpr(ZydisRegister r, bool *high8);
int zreg_seg(ZydisRegister r);
void memref_from(struct memref *mr, const ZydisDecodedInstruction *in, const ZydisDecodedOperand *op);

/* Compute the guest address of mr into host register a: linear (segment base added
 * unless the segment is flat) or, for agen, the offset only. bias is added when the
 * base register is ESP (POP [ESP+x] addresses with the incremented ESP). */
void ident__addr(struct xlate *x, const struct memref *mr, int a, int32_t bias, bool agen);

/* Emit `prefixes gs addr32 [REX] opcode modrm(reg, mem) tail`: one instruction that
 * accesses guest memory mr. reg is a host register number (REX.R added when >= 8, or
 * when rex_r is set for guest ESP) or an opcode extension (/digit). */
void ident__memop(struct xlate *x, const uint8_t *pre, int npre, bool rex_w, int reg,
                  const uint8_t *op, int oplen, const struct memref *mr, int32_t bias,
                  const uint8_t *tail, int ntail);

/* The block under construction (translate.c, sequences.c). */
struct pending_exit {
    uint8_t *site;
    uint32_t target;
    bool far;      /* target on another page with paging on: no chaining, go through the lookup */
};

struct build {
    struct xlate x;
    struct callout_insn *callouts; /* decoded callout instructions, handed to the block */
    struct dinsn d[BLOCK_MAX_INSNS];
    struct insn_map map[BLOCK_MAX_INSNS];
    int n;
    struct pending_exit exits[2];
    int nexits;
    bool code32, stack32;
    bool selfcheck;      /* the page is written while executed: compare the bytes on entry */
};

/* What the budget check must keep of the guest's flags where it is placed. */
enum budget_save {
    SAVE_NONE,  /* no flag is live there */
    SAVE_CF,    /* only CF (INC and DEC leave it): SETC before, ADD 0xFF back after */
    SAVE_ALL,   /* PUSHFQ/POPFQ: POPFQ alone costs more than the rest of a short block */
};

/* sequences.c */
void emit_budget(struct build *b, enum budget_save save, uint8_t **stub_jcc);
void emit_budget_stub(struct build *b, uint8_t *jcc_site, uint32_t eip, enum budget_save save);
void add_exit(struct build *b, uint8_t *site, uint32_t target);
void emit_exit_jmp(struct build *b, uint32_t target);
void emit_exit_jcc(struct build *b, int cc, uint32_t target);
void emit_callout(struct build *b, const struct dinsn *d, enum callout what, bool resume);
int esp_mask_stack16(const struct build *b);
void emit_esp_add(struct build *b, int32_t delta);
struct memref stack_ref(const struct build *b, int32_t disp);
void emit_push_reg(struct build *b, int src, int osz);
void emit_push_imm(struct build *b, uint32_t imm, int osz);
void emit_load_operand(struct build *b, const struct dinsn *d, const ZydisDecodedOperand *o,                               int dst);
uint32_t branch_target(const struct dinsn *d);
void emit_pop(struct build *b, const struct dinsn *d);
void emit_leave(struct build *b, const struct dinsn *d);
void emit_lea(struct build *b, const struct dinsn *d);
void emit_incdec(struct build *b, const struct dinsn *d);
void emit_string(struct build *b, const struct dinsn *d);
void emit_loop(struct build *b, const struct dinsn *d);
bool exec_breakpoint(const struct vcpu *c, uint32_t lin);
void emit_cli(struct build *b);
void emit_sti(struct build *b, const struct dinsn *d);
void emit_segload(struct build *b, const struct dinsn *d);
void emit_verw(struct build *b, const struct dinsn *d);
/* A self-checking block's prologue (guest bytes compared with immediates; jumps to the
 * stale exit collected in sites) and that exit, emitted after the block's code. */
uint8_t *emit_selfcheck(struct build *b, const uint8_t *bytes, const uint32_t *lins, int n,
                        uint8_t **sites, int *nsites);
void emit_stale_stub(struct build *b, uint8_t **sites, int nsites, uint32_t eip);
void emit_popf(struct build *b, const struct dinsn *d);
void emit_pushf(struct build *b, const struct dinsn *d);
void emit_rdtsc(struct build *b, const struct dinsn *d);
int string_src_seg(const struct dinsn *d);

/* Re-emit d as the same host instruction (registers mapped, memory through the window).
 * Returns false when d cannot be re-emitted this way. */
bool ident__emit(struct xlate *x, const struct dinsn *d);
