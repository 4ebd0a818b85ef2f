/*
 * A tiny x86-64 byte emitter for the translation cache: the handful of host
 * instruction shapes the translator and its stubs need (moves between guest
 * registers, scratch registers and the vCPU struct at R15, LEA, jumps with
 * patchable rel32, PUSHFQ/POPFQ). Guest instructions themselves are re-emitted
 * by ident.c from their own bytes; this file only builds the glue.
 *
 * Host register numbers are the hardware encodings (0 = RAX ... 15 = R15).
 */
#ifndef TACHYON_BT_EMIT_H
#define TACHYON_BT_EMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum {
    H_RAX, H_RCX, H_RDX, H_RBX, H_RSP, H_RBP, H_RSI, H_RDI,
    H_R8, H_R9, H_R10, H_R11, H_R12, H_R13, H_R14, H_R15,
};

/* Where guest register g lives on the host (ESP lives in R12). */
static inline int host_reg(int g)
{
    return g == 4 ? H_R12 : g;
}

struct emitter {
    uint8_t *p;     /* next byte */
    uint8_t *end;   /* hard end of the buffer */
    bool overflow;  /* set when a write would pass end; the caller retries after a flush */
};

static inline void emit1(struct emitter *e, uint8_t b)
{
    if (e->p >= e->end) {
        e->overflow = true;
        return;
    }
    *e->p++ = b;
}

static inline void emit_bytes(struct emitter *e, const void *src, size_t n)
{
    if (!n)
        return; /* src may be NULL for "no prefixes" */
    if ((size_t)(e->end - e->p) < n) {
        e->overflow = true;
        e->p = e->end;
        return;
    }
    memcpy(e->p, src, n);
    e->p += n;
}

static inline void emit4(struct emitter *e, uint32_t v)
{
    emit_bytes(e, &v, 4);
}

static inline void emit8(struct emitter *e, uint64_t v)
{
    emit_bytes(e, &v, 8);
}

/* REX prefix if any bit is needed (or `force`, for SPL/BPL/SIL/DIL byte access). */
static inline void emit_rex(struct emitter *e, bool w, int reg, int index, int base)
{
    uint8_t rex = 0x40 | (w << 3) | ((reg >> 3) & 1) << 2 | ((index >> 3) & 1) << 1 |
                  ((base >> 3) & 1);
    if (rex != 0x40)
        emit1(e, rex);
}

/* ModRM for [base + disp32] (base is a host register; RSP/R12 need a SIB). */
static inline void emit_modrm_base_disp(struct emitter *e, int reg, int base, int32_t disp)
{
    int mod = disp == 0 && (base & 7) != 5 ? 0 : (disp >= -128 && disp <= 127 ? 1 : 2);

    emit1(e, (uint8_t)(mod << 6 | (reg & 7) << 3 | (base & 7)));
    if ((base & 7) == 4)
        emit1(e, 0x24);
    if (mod == 1)
        emit1(e, (uint8_t)disp);
    else if (mod == 2)
        emit4(e, (uint32_t)disp);
}

/* op reg, [base + disp] with optional REX.W: the common "vCPU field" access. */
static inline void emit_op_mem(struct emitter *e, bool w, const uint8_t *op, int oplen, int reg,
                               int base, int32_t disp)
{
    emit_rex(e, w, reg, 0, base);
    emit_bytes(e, op, oplen);
    emit_modrm_base_disp(e, reg, base, disp);
}

/* mov r32, [r15 + off] / mov [r15 + off], r32 (and 64-bit forms). */
static inline void emit_load32(struct emitter *e, int reg, int base, int32_t disp)
{
    emit_op_mem(e, false, (const uint8_t[]){0x8b}, 1, reg, base, disp);
}
static inline void emit_store32(struct emitter *e, int reg, int base, int32_t disp)
{
    emit_op_mem(e, false, (const uint8_t[]){0x89}, 1, reg, base, disp);
}
static inline void emit_load64(struct emitter *e, int reg, int base, int32_t disp)
{
    emit_op_mem(e, true, (const uint8_t[]){0x8b}, 1, reg, base, disp);
}
static inline void emit_store64(struct emitter *e, int reg, int base, int32_t disp)
{
    emit_op_mem(e, true, (const uint8_t[]){0x89}, 1, reg, base, disp);
}

/* mov dword [base + disp], imm32 (w: qword, sign-extended). */
static inline void emit_store_imm(struct emitter *e, bool w, int base, int32_t disp, uint32_t imm)
{
    emit_op_mem(e, w, (const uint8_t[]){0xc7}, 1, 0, base, disp);
    emit4(e, imm);
}

/* mov r32, r32 / mov r64, r64 */
static inline void emit_mov_rr(struct emitter *e, bool w, int dst, int src)
{
    emit_rex(e, w, src, 0, dst);
    emit1(e, 0x89);
    emit1(e, (uint8_t)(0xc0 | (src & 7) << 3 | (dst & 7)));
}

/* mov r32, imm32 */
static inline void emit_mov_ri(struct emitter *e, int dst, uint32_t imm)
{
    emit_rex(e, false, 0, 0, dst);
    emit1(e, (uint8_t)(0xb8 | (dst & 7)));
    emit4(e, imm);
}

/* lea r32, [base + index*scale + disp] (32-bit result; index < 0: none, base < 0: none). */
void emit_lea32(struct emitter *e, int dst, int base, int index, int scale, int32_t disp);

/* movzx r32, r16 */
static inline void emit_movzx16(struct emitter *e, int dst, int src)
{
    emit_rex(e, false, dst, 0, src);
    emit1(e, 0x0f);
    emit1(e, 0xb7);
    emit1(e, (uint8_t)(0xc0 | (dst & 7) << 3 | (src & 7)));
}

/* jmp rel32 to target; returns the address of the rel32 field (for patching). */
static inline uint8_t *emit_jmp(struct emitter *e, const void *target)
{
    uint8_t *site;

    emit1(e, 0xe9);
    site = e->p;
    emit4(e, (uint32_t)((const uint8_t *)target - (e->p + 4)));
    return site;
}

/* jcc rel32 (cc = low nibble of the condition). */
static inline uint8_t *emit_jcc(struct emitter *e, int cc, const void *target)
{
    uint8_t *site;

    emit1(e, 0x0f);
    emit1(e, (uint8_t)(0x80 | cc));
    site = e->p;
    emit4(e, (uint32_t)((const uint8_t *)target - (e->p + 4)));
    return site;
}

/* Patched only while the vCPU is outside the TC, so a plain (possibly unaligned) store does. */
static inline void patch_rel32(uint8_t *site, const void *target)
{
    int32_t rel = (int32_t)((const uint8_t *)target - (site + 4));
    memcpy(site, &rel, 4);
}

static inline int32_t read_rel32(const uint8_t *site)
{
    int32_t rel;
    memcpy(&rel, site, 4);
    return rel;
}

static inline void emit_pushfq(struct emitter *e)
{
    emit1(e, 0x9c);
}
static inline void emit_popfq(struct emitter *e)
{
    emit1(e, 0x9d);
}

#endif
