/*
 * The fixed code at the start of the translation cache: the entry trampoline
 * that loads guest state into host registers, the common exit that stores it
 * back, and the inline indirect-branch lookup. All are generated with the
 * emitter so their vCPU offsets come from offsetof() and cannot drift.
 *
 * Of the guest's FPU state only what C code clobbers crosses an exit: XMM0-7
 * (caller-saved in the host ABI, and glibc's string functions use them) and
 * MXCSR (the monitor runs with the default one, every SSE exception masked).
 * The x87/MMX registers stay live in the host FPU while the monitor runs,
 * since nothing in it executes x87 code; cpu.c reads them with FXSAVE when it
 * needs them. FXSAVE + FNINIT + FXRSTOR at every exit and entry was a quarter
 * of the system-call loop's time (about 270 cycles against 20 for this).
 *
 * The lookup is flag-free (guest flags are live across indirect branches):
 * the table holds -eip, so `lea ecx, [rcx + r8]` is zero exactly on a hit and
 * JRCXZ tests it without touching RFLAGS.
 */
#include <stddef.h>

#include "bt/internal.h"
#include "monitor/cpu.h"

#define OFF(f) ((int32_t)offsetof(struct vcpu, f))
#define GPR(i) ((int32_t)(offsetof(struct vcpu, gpr) + 8 * (i)))
#define FX_MXCSR (OFF(fxsave) + FXSAVE_MXCSR)
#define FX_XMM(i) (OFF(fxsave) + FXSAVE_XMM + 16 * (i))

static void emit_exit_common(struct emitter *e)
{
    for (int i = 0; i < 8; i++)
        emit_store64(e, host_reg(i), H_R15, GPR(i));
    emit_pushfq(e);
    emit_op_mem(e, false, (const uint8_t[]){0x8f}, 1, 0, H_R15, OFF(rflags)); /* pop [r15+rflags] */
    for (int i = 0; i < 8; i++)
        emit_op_mem(e, false, (const uint8_t[]){0x0f, 0x29}, 2, i, H_R15, FX_XMM(i)); /* movaps */
    emit_op_mem(e, false, (const uint8_t[]){0x0f, 0xae}, 2, 3, H_R15, FX_MXCSR); /* stmxcsr */
    emit_store_imm(e, false, H_R15, OFF(scratch), MXCSR_DEFAULT);
    emit_op_mem(e, false, (const uint8_t[]){0x0f, 0xae}, 2, 2, H_R15, OFF(scratch)); /* ldmxcsr */
    emit1(e, 0xfc);                                                             /* cld */
    emit_load64(e, H_RSP, H_R15, OFF(host_rsp));
    emit_bytes(e, (const uint8_t[]){0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, 0xc3},
               11);
}

static void emit_enter(struct emitter *e)
{
    emit_bytes(e, (const uint8_t[]){0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57}, 10);
    emit_mov_rr(e, true, H_R15, H_RDI);
    emit_store64(e, H_RSP, H_R15, OFF(host_rsp));
    emit_mov_rr(e, true, H_R11, H_RSI);
    emit_op_mem(e, false, (const uint8_t[]){0x0f, 0xae}, 2, 2, H_R15, FX_MXCSR); /* ldmxcsr */
    for (int i = 0; i < 8; i++)
        emit_op_mem(e, false, (const uint8_t[]){0x0f, 0x28}, 2, i, H_R15, FX_XMM(i)); /* movaps */
    emit_op_mem(e, false, (const uint8_t[]){0xff}, 1, 6, H_R15, OFF(rflags));    /* push [..] */
    emit_popfq(e);
    for (int i = 0; i < 8; i++)
        emit_load64(e, host_reg(i), H_R15, GPR(i));
    emit_bytes(e, (const uint8_t[]){0x41, 0xff, 0xe3}, 3); /* jmp r11 */
}

/* Exit for a translation miss: R8D holds the target EIP; nothing to chain. */
static void emit_miss(struct emitter *e, struct bt *bt)
{
    emit_store32(e, T_VAL, H_R15, OFF(eip));
    emit_store_imm(e, true, H_R15, OFF(exit_pc), 0);
    emit_jmp(e, bt->exit_translate);
}

/* Probe both entries of the set in the table whose base is at [r15 + off] for the target
 * in R8D; on a hit jump to *hit's target (patched by the caller) with R11 at the entry.
 * R10 holds the set's offset / 8. */
static void emit_probe(struct emitter *e, int32_t off, uint8_t **hit)
{
    emit_load64(e, T_TMP, H_R15, off);
    emit_bytes(e, (const uint8_t[]){0x4f, 0x8d, 0x1c, 0xd3}, 4); /* lea r11, [r11 + r10*8] */
    for (int way = 0; way < 2; way++) {
        if (way)
            emit_bytes(e, (const uint8_t[]){0x4d, 0x8d, 0x5b, 0x10}, 4); /* lea r11, [r11+16] */
        emit_load32(e, H_RCX, T_TMP, 0);              /* ecx = -entry eip */
        emit_lea32(e, H_RCX, H_RCX, T_VAL, 1, 0);     /* ecx = target - entry eip */
        emit1(e, 0xe3);                               /* jrcxz hit */
        hit[way] = e->p;
        emit1(e, 0);
    }
}

static void emit_lookup(struct emitter *e, struct bt *bt)
{
    uint8_t *hit1[2], *hit2[2], *none;

    /* r10d = lookup_set(eip) (internal.h), without touching the flags: BSWAP brings bits
     * 16-31 down (no flag-free shift does; a store and a byte load did, at the price of a
     * store-to-load forward on every lookup) */
    emit_mov_rr(e, false, T_TMP, T_VAL);
    emit_bytes(e, (const uint8_t[]){0x41, 0x0f, 0xcb}, 3);       /* bswap r11d */
    emit_movzx16(e, T_TMP, T_TMP);                    /* r11d = bits 16-23 << 8 | bits 24-31 */
    emit_lea32(e, T_TMP, T_TMP, T_TMP, 8, 0);         /* r11d *= 9 */
    emit_movzx16(e, T_ADDR, T_VAL);
    emit_lea32(e, T_ADDR, T_ADDR, T_TMP, 1, 0);       /* r10d = low half + 9 * bits 16-23 */
    emit_movzx16(e, T_ADDR, T_ADDR);
    emit_lea32(e, T_ADDR, -1, T_ADDR, 4, 0);          /* r10d *= 4 (32-byte sets) */
    emit_mov_rr(e, true, T_SAVE, H_RCX);
    emit_probe(e, OFF(lookup), hit1);
    /* Not there: the table of global pages, if there is one (tested flag-free). */
    emit_load64(e, H_RCX, H_R15, OFF(lookup_global));
    emit1(e, 0xe3);                                   /* jrcxz none */
    none = e->p;
    emit1(e, 0);
    emit_probe(e, OFF(lookup_global), hit2);
    *none = (uint8_t)(e->p - (none + 1));
    emit_mov_rr(e, true, H_RCX, T_SAVE);
    emit_miss(e, bt);
    for (int way = 0; way < 2; way++) {
        *hit1[way] = (uint8_t)(e->p - (hit1[way] + 1));
        *hit2[way] = (uint8_t)(e->p - (hit2[way] + 1));
    }
    emit_mov_rr(e, true, H_RCX, T_SAVE);
    emit_bytes(e, (const uint8_t[]){0x41, 0xff, 0x63, 0x08}, 4); /* jmp [r11 + 8] */
}

void stubs__emit(struct bt *bt)
{
    struct emitter e = {bt->tc, bt->tc + TC_STUB_SIZE, false};

    bt->enter = (void (*)(struct vcpu *, void *))(void *)e.p;
    emit_enter(&e);

    bt->exit_translate = e.p;
    emit_store_imm(&e, false, H_R15, OFF(exit_reason), EXIT_TRANSLATE);
    bt->exit_common = e.p;
    emit_exit_common(&e);

    bt->lookup_miss = e.p;
    emit_miss(&e, bt);

    bt->lookup = e.p;
    emit_lookup(&e, bt);

    /* Data, not code: inline string instructions read DF through it without touching the
     * flags (sequences.c). Below 2 GiB like the rest of the TC, so a disp32 reaches it. */
    bt->df_table = e.p;
    for (int i = 0; i < 256; i++)
        emit1(&e, (uint8_t)((i >> 2) & 1)); /* RFLAGS bit 10 is bit 2 of its second byte */

    if (e.overflow)
        __builtin_trap(); /* TC_STUB_SIZE is far larger than the stubs */
    bt->tc_free = bt->tc + TC_STUB_SIZE;
}
