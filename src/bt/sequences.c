/*
 * The host code sequences of the block builder (translate.c): branch exits and callouts,
 * the stack instructions on R12 (store before the ESP update), LEA/INC/DEC re-encodings,
 * LOOP/JCXZ, inline string instructions, and CLI/PUSHF on the virtual flags. Each keeps
 * the guest's flags live across it (flag-free, or inside PUSHFQ/POPFQ) and orders its
 * host instructions so that a fault leaves the guest state of the instruction's start.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bt/internal.h"
#include "monitor/cpu.h"
#include "monitor/log.h"

#define OFF(f) ((int32_t)offsetof(struct vcpu, f))

/* With paging on, a direct branch may be chained only within the block's own page: the
 * same linear page maps the same physical page in every address space the block can
 * run in. Elsewhere the target is resolved by the per-address-space lookup. */
void add_exit(struct build *b, uint8_t *site, uint32_t target)
{
    struct pending_exit *x = &b->exits[b->nexits++];

    x->site = site;
    x->target = target;
    x->far = (b->x.mode & MODE_PG) &&
             ((b->x.cs_base + target) & ~0xfffu) != ((b->x.cs_base + b->d[0].eip) & ~0xfffu);
}

void emit_exit_jmp(struct build *b, uint32_t target)
{
    add_exit(b, emit_jmp(&b->x.e, b->x.e.p), target); /* aimed at its stub at the end */
}

void emit_exit_jcc(struct build *b, int cc, uint32_t target)
{
    add_exit(b, emit_jcc(&b->x.e, cc, b->x.e.p), target);
}

/* Exit to the monitor for instruction d; resume at the next host instruction if allowed. */
void emit_callout(struct build *b, const struct dinsn *d, enum callout what, bool resume)
{
    struct emitter *e = &b->x.e;
    uint8_t *imm;

    emit_store_imm(e, false, H_R15, OFF(eip), d->eip);
    emit_store_imm(e, false, H_R15, OFF(exit_reason), EXIT_CALLOUT);
    if (what == CALLOUT_INTERP && b->code32 && d->in.machine_mode == ZYDIS_MACHINE_MODE_LEGACY_32 &&
        d->in.length) {
        /* Hand the monitor the decoded instruction: no fetch and decode per execution. The
         * copy lives as long as the block, which dies when these bytes change. */
        struct callout_insn *ci = malloc(sizeof(*ci));
        if (!ci)
            die("out of memory");
        ci->in = d->in;
        memcpy(ci->ops, d->ops, sizeof(ci->ops));
        ci->block = NULL;
        ci->gpa = d->hot ? d->phys : 0;
        ci->quiet = 0;
        ci->next = b->callouts;
        b->callouts = ci;
        emit1(e, 0x49);
        emit1(e, 0xb8);                                   /* mov r8, imm64 */
        emit8(e, (uint64_t)ci);
        emit_store64(e, T_VAL, H_R15, OFF(exit_arg));
    } else {
        emit_store_imm(e, true, H_R15, OFF(exit_arg), what);
    }
    emit_store_imm(e, true, H_R15, OFF(exit_pc), 0);
    imm = e->p - 4;
    emit_jmp(e, b->x.bt->exit_common);
    /* (A self-checking block is never resumed in its middle: what the callout did may
     * have changed the bytes that follow.) */
    if (resume && !e->overflow && !b->selfcheck)
        memcpy(imm, &(uint32_t){(uint32_t)(uint64_t)e->p}, 4);
}

int esp_mask_stack16(const struct build *b)
{
    return !b->stack32;
}

/* ESP += delta, honouring a 16-bit stack (only SP changes). Flag-free. */
void emit_esp_add(struct build *b, int32_t delta)
{
    struct emitter *e = &b->x.e;

    if (!esp_mask_stack16(b)) {
        emit_lea32(e, H_R12, H_R12, -1, 1, delta);
        return;
    }
    emit_lea32(e, T_TMP, H_R12, -1, 1, delta);
    emit_bytes(e, (const uint8_t[]){0x66, 0x45, 0x89, 0xdc}, 4); /* mov r12w, r11w */
}

struct memref stack_ref(const struct build *b, int32_t disp)
{
    struct memref mr = {R_ESP, -1, 1, disp, SEG_SS, !b->stack32};
    return mr;
}

/* Store host register src (osz bytes) at SS:ESP-osz, then ESP -= osz. */
void emit_push_reg(struct build *b, int src, int osz)
{
    struct memref mr = stack_ref(b, -osz);
    static const uint8_t p66 = 0x66;

    ident__memop(&b->x, &p66, osz == 2, false, src, (const uint8_t[]){0x89}, 1, &mr, 0, NULL, 0);
    emit_esp_add(b, -osz);
}

void emit_push_imm(struct build *b, uint32_t imm, int osz)
{
    struct memref mr = stack_ref(b, -osz);
    static const uint8_t p66 = 0x66;

    ident__memop(&b->x, &p66, osz == 2, false, 0, (const uint8_t[]){0xc7}, 1, &mr, 0,
                 (const uint8_t *)&imm, osz);
    emit_esp_add(b, -osz);
}

/* Load an operand (register or memory, 16 or 32 bits) zero-extended into host reg dst. */
void emit_load_operand(struct build *b, const struct dinsn *d, const ZydisDecodedOperand *o,
                              int dst)
{
    struct emitter *e = &b->x.e;
    bool h;

    if (o->type == ZYDIS_OPERAND_TYPE_REGISTER) {
        int g = zreg_gpr(o->reg.value, &h);
        if (o->size == 16)
            emit_movzx16(e, dst, host_reg(g));
        else
            emit_mov_rr(e, false, dst, host_reg(g));
        return;
    }
    struct memref mr;
    memref_from(&mr, &d->in, o);
    if (o->size == 16)
        ident__memop(&b->x, NULL, 0, false, dst, (const uint8_t[]){0x0f, 0xb7}, 2, &mr, 0, NULL, 0);
    else
        ident__memop(&b->x, NULL, 0, false, dst, (const uint8_t[]){0x8b}, 1, &mr, 0, NULL, 0);
}

uint32_t branch_target(const struct dinsn *d)
{
    uint32_t t = d->eip + d->len + (uint32_t)d->in.raw.imm[0].value.s;
    return d->in.operand_width == 16 ? t & 0xffff : t;
}

void emit_pop(struct build *b, const struct dinsn *d)
{
    const ZydisDecodedOperand *o = &d->ops[0];
    int osz = d->in.operand_width / 8;
    struct memref sr = stack_ref(b, 0);
    static const uint8_t p66 = 0x66;
    bool h;

    if (o->type == ZYDIS_OPERAND_TYPE_REGISTER) {
        int g = zreg_gpr(o->reg.value, &h);
        ident__memop(&b->x, &p66, osz == 2, false, host_reg(g), (const uint8_t[]){0x8b}, 1, &sr,
                     0, NULL, 0);
        if (g != R_ESP)
            emit_esp_add(b, osz);
        return;
    }
    /* POP m: read, write (addressed with the incremented ESP), then move ESP. */
    struct memref mr;
    memref_from(&mr, &d->in, o);
    ident__memop(&b->x, &p66, osz == 2, false, T_VAL, (const uint8_t[]){0x8b}, 1, &sr, 0, NULL, 0);
    ident__memop(&b->x, &p66, osz == 2, false, T_VAL, (const uint8_t[]){0x89}, 1, &mr, osz, NULL,
                 0);
    emit_esp_add(b, osz);
}

void emit_leave(struct build *b, const struct dinsn *d)
{
    struct emitter *e = &b->x.e;
    int osz = d->in.operand_width / 8;
    struct memref mr = {R_EBP, -1, 1, 0, SEG_SS, !b->stack32};

    if (osz == 2)
        ident__memop(&b->x, NULL, 0, false, T_VAL, (const uint8_t[]){0x0f, 0xb7}, 2, &mr, 0, NULL, 0);
    else
        ident__memop(&b->x, NULL, 0, false, T_VAL, (const uint8_t[]){0x8b}, 1, &mr, 0, NULL, 0);
    if (b->stack32) {
        emit_lea32(e, H_R12, H_RBP, -1, 1, osz);
    } else {
        emit_lea32(e, T_TMP, H_RBP, -1, 1, osz);
        emit_bytes(e, (const uint8_t[]){0x66, 0x45, 0x89, 0xdc}, 4); /* mov r12w, r11w */
    }
    if (osz == 2)
        emit_bytes(e, (const uint8_t[]){0x66, 0x44, 0x89, 0xc5}, 4); /* mov bp, r8w */
    else
        emit_mov_rr(e, false, H_RBP, T_VAL);
}

void emit_lea(struct build *b, const struct dinsn *d)
{
    struct emitter *e = &b->x.e;
    struct memref mr;
    bool h;
    int g = zreg_gpr(d->ops[0].reg.value, &h);

    memref_from(&mr, &d->in, &d->ops[1]);
    ident__addr(&b->x, &mr, T_ADDR, 0, true);
    if (d->ops[0].size == 16) {
        emit1(e, 0x66);
        emit_mov_rr(e, false, host_reg(g), T_ADDR);
    } else {
        emit_mov_rr(e, false, host_reg(g), T_ADDR);
    }
}

void emit_incdec(struct build *b, const struct dinsn *d)
{
    struct emitter *e = &b->x.e;
    bool h;
    int g = zreg_gpr(d->ops[0].reg.value, &h);
    int hr = host_reg(g);

    if (d->ops[0].size == 16)
        emit1(e, 0x66);
    emit_rex(e, false, 0, 0, hr);
    emit1(e, 0xff);
    emit1(e, (uint8_t)(0xc0 | (d->in.mnemonic == ZYDIS_MNEMONIC_DEC) << 3 | (hr & 7)));
}

/* rel32 forward jumps inside a sequence: emit now, aim later. */
static uint8_t *jcc_fwd(struct emitter *e, int cc)
{
    return emit_jcc(e, cc, e->p);
}

static uint8_t *jmp_fwd(struct emitter *e)
{
    return emit_jmp(e, e->p);
}

/* Go on when the high half of R10 is zero, else jump to the returned rel32 site. Uses
 * RCX; touches no flag. */
static uint8_t *emit_high_half_check(struct emitter *e)
{
    emit_bytes(e, (const uint8_t[]){0x49, 0x0f, 0xca}, 3); /* bswap r10 */
    emit_bytes(e, (const uint8_t[]){0x44, 0x89, 0xd1}, 3); /* mov ecx, r10d */
    emit_bytes(e, (const uint8_t[]){0xe3, 0x05}, 2);       /* jrcxz past the jmp */
    return jmp_fwd(e);
}

/*
 * A string instruction run by the host: guest ESI/EDI/ECX are RSI/RDI/RCX already. Both
 * pointers are made host addresses by adding the window base, and taken back after. (Not
 * a GS override on the source: a string instruction with a segment whose base is not zero
 * takes a slow microcode path, 146 cycles against 13 for a short REP MOVSD on the AMD
 * hosts here, and the guest kernel's memcpy is one.) A range that would run past 4 GiB
 * (the guest wraps, the host would not) goes to the interpreter instead, so nothing
 * outside the window and its guard is ever touched. A fault inside leaves RCX/RSI/RDI at
 * the iteration that faulted; the handler takes the window back off RSI and RDI
 * (fixup -2).
 */
void emit_string(struct build *b, const struct dinsn *d)
{
    struct emitter *e = &b->x.e;
    const ZydisDecodedInstruction *in = &d->in;
    bool rep = in->attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE |
                                 ZYDIS_ATTRIB_HAS_REPNE);
    bool src = string_src_seg(d) >= 0, dst = in->opcode != 0xac && in->opcode != 0xad;
    unsigned size = in->operand_width / 8, shift = size == 4 ? 2 : size == 2 ? 1 : 0;
    uint8_t *up, *ok, *slow[4], *done;
    int nslow = 0;

    /* Bounds check, flag-free: the guest's flags stay in the host's (a POPF afterwards
     * would cost more than a short string instruction). DF comes from a PUSHF image through
     * a table (bt->df_table); a pointer is in range when the high half of its 64-bit end
     * is zero, which BSWAP brings down for JRCXZ. R9 keeps the guest's RCX meanwhile. */
    emit_mov_rr(e, true, T_SAVE, H_RCX);
    if (rep)
        emit_mov_rr(e, false, T_TMP, H_RCX);          /* r11 = ECX (zero-extended) */
    else
        emit_mov_ri(e, T_TMP, 1);
    if (shift)                                        /* lea r11, [r11 * size] */
        emit_bytes(e, (const uint8_t[]){0x4e, 0x8d, 0x1c, (uint8_t)(shift << 6 | 0x1d), 0, 0, 0, 0},
                   8);
    emit_pushfq(e);
    emit_bytes(e, (const uint8_t[]){0x0f, 0xb6, 0x4c, 0x24, 0x01}, 5); /* movzx ecx, [rsp+1] */
    emit_bytes(e, (const uint8_t[]){0x48, 0x8d, 0x64, 0x24, 0x08}, 5); /* lea rsp, [rsp+8] */
    emit_bytes(e, (const uint8_t[]){0x0f, 0xb6, 0x89}, 3);             /* movzx ecx, [rcx+tab] */
    emit4(e, (uint32_t)(uint64_t)b->x.bt->df_table);
    emit_bytes(e, (const uint8_t[]){0xe3, 0}, 2);                      /* jrcxz up */
    up = e->p - 1;
    /* DF set: [ptr - count*size + size, ptr + size) must not go below 0. */
    emit_bytes(e, (const uint8_t[]){0x49, 0xf7, 0xd3}, 3);             /* not r11 */
    for (int pass = 0; pass < 2; pass++) {
        int reg = pass ? H_RSI : H_RDI;
        if ((pass == 0 && !dst) || (pass == 1 && !src))
            continue;
        emit_mov_rr(e, false, T_ADDR, reg);
        emit_bytes(e, (const uint8_t[]){0x4f, 0x8d, 0x54, 0x1a, (uint8_t)(size + 1)},
                   5);                                /* lea r10, [r10 + ~r11 + size + 1] */
        slow[nslow++] = emit_high_half_check(e);
    }
    ok = jmp_fwd(e);
    *up = (uint8_t)(e->p - (up + 1));
    /* DF clear: [ptr, ptr + count*size) must end by 4 GiB. */
    for (int pass = 0; pass < 2; pass++) {
        int reg = pass ? H_RSI : H_RDI;
        if ((pass == 0 && !dst) || (pass == 1 && !src))
            continue;
        emit_mov_rr(e, false, T_ADDR, reg);
        emit_bytes(e, (const uint8_t[]){0x4f, 0x8d, 0x14, 0x1a}, 4); /* lea r10, [r10 + r11] */
        slow[nslow++] = emit_high_half_check(e);
    }
    patch_rel32(ok, e->p);
    emit_mov_rr(e, true, H_RCX, T_SAVE);

    /* The instruction itself. */
    emit_mov_rr(e, false, H_RSI, H_RSI);              /* zero-extend: the host uses RSI/RDI/RCX */
    emit_mov_rr(e, false, H_RDI, H_RDI);
    if (rep)
        emit_mov_rr(e, false, H_RCX, H_RCX);
    emit_load64(e, T_ADDR, H_R15, OFF(window));
    emit_bytes(e, (const uint8_t[]){0x4a, 0x8d, 0x3c, 0x17}, 4); /* lea rdi, [rdi + r10] */
    emit_bytes(e, (const uint8_t[]){0x4a, 0x8d, 0x34, 0x16}, 4); /* lea rsi, [rsi + r10] */
    b->x.fixup_reg = -2;
    for (int i = 0; i < in->raw.prefix_count; i++) {
        uint8_t p = in->raw.prefixes[i].value;
        if (in->raw.prefixes[i].type != ZYDIS_PREFIX_TYPE_IGNORED &&
            (p == 0x66 || p == 0xf2 || p == 0xf3))
            emit1(e, p);
    }
    emit1(e, in->opcode);
    emit_load64(e, T_ADDR, H_R15, OFF(window_neg));
    emit_bytes(e, (const uint8_t[]){0x4a, 0x8d, 0x3c, 0x17}, 4); /* lea rdi, [rdi + r10] */
    emit_bytes(e, (const uint8_t[]){0x4a, 0x8d, 0x34, 0x16}, 4); /* lea rsi, [rsi + r10] */
    emit_mov_rr(e, false, H_RDI, H_RDI);
    emit_mov_rr(e, false, H_RSI, H_RSI);
    emit1(e, 0xe9);
    done = e->p;
    emit4(e, 0);

    /* Slow path: the interpreter. */
    for (int i = 0; i < nslow; i++)
        patch_rel32(slow[i], e->p);
    emit_mov_rr(e, true, H_RCX, T_SAVE);
    emit_callout(b, d, CALLOUT_INTERP, true);
    patch_rel32(done, e->p);
}

void emit_loop(struct build *b, const struct dinsn *d)
{
    struct emitter *e = &b->x.e;
    uint32_t taken = branch_target(d), fall = d->eip + d->len;
    ZydisMnemonic mn = d->in.mnemonic;
    bool is_jcxz = mn == ZYDIS_MNEMONIC_JCXZ || mn == ZYDIS_MNEMONIC_JECXZ;

    if (d->in.address_width == 32) {
        uint8_t op = is_jcxz ? 0xe3 : mn == ZYDIS_MNEMONIC_LOOP ? 0xe2
                                    : mn == ZYDIS_MNEMONIC_LOOPE ? 0xe1 : 0xe0;
        emit_bytes(e, (const uint8_t[]){0x67, op, 0x05}, 3);
        emit_exit_jmp(b, fall);
        emit_exit_jmp(b, taken);
        return;
    }
    /* CX forms: 64-bit mode has no 16-bit LOOP/JCXZ, so test CX with JRCXZ on a copy. */
    uint8_t *jz, *jcc = NULL;
    if (!is_jcxz) {
        emit_lea32(e, T_VAL, H_RCX, -1, 1, -1);
        emit_bytes(e, (const uint8_t[]){0x66, 0x44, 0x89, 0xc1}, 4); /* mov cx, r8w */
    }
    emit_mov_rr(e, true, T_SAVE, H_RCX);
    emit_bytes(e, (const uint8_t[]){0x0f, 0xb7, 0xc9}, 3); /* movzx ecx, cx */
    emit1(e, 0xe3);
    jz = e->p;
    emit1(e, 0);
    emit_mov_rr(e, true, H_RCX, T_SAVE);
    if (is_jcxz) {
        emit_exit_jmp(b, fall);
        *jz = (uint8_t)(e->p - (jz + 1));
        emit_mov_rr(e, true, H_RCX, T_SAVE);
        emit_exit_jmp(b, taken);
        return;
    }
    if (mn != ZYDIS_MNEMONIC_LOOP) {
        emit1(e, mn == ZYDIS_MNEMONIC_LOOPE ? 0x75 : 0x74); /* not taken if the ZF test fails */
        jcc = e->p;
        emit1(e, 0);
    }
    /* taken path needs its own exit; the fall path is shared. */
    uint8_t *skip;
    emit1(e, 0xe9);
    skip = e->p;
    emit4(e, 0);
    *jz = (uint8_t)(e->p - (jz + 1));
    emit_mov_rr(e, true, H_RCX, T_SAVE);
    if (jcc)
        *jcc = (uint8_t)(e->p - (jcc + 1));
    emit_exit_jmp(b, fall);
    patch_rel32(skip, e->p);
    emit_exit_jmp(b, taken);
}

/* Is an execution breakpoint (DR7 L/G enabled, R/W = 00) set at linear address lin? */
bool exec_breakpoint(const struct vcpu *c, uint32_t lin)
{
    for (int i = 0; i < 4; i++)
        if ((c->dr[7] >> (2 * i)) & 3 && !((c->dr[7] >> (16 + 4 * i)) & 3) && c->dr[i] == lin)
            return true;
    return false;
}

/*
 * CLI and PUSHF on the virtual flags, inline (DESIGN.md §1): both touch host flags only
 * inside PUSHFQ/POPFQ. PUSHF builds the image from the guest's arithmetic flags (saved on
 * the host stack) and the virtual system flags; if its stack store faults, the handler
 * takes the guest flags back from the host stack (fixup -3).
 */
void emit_cli(struct build *b)
{
    struct emitter *e = &b->x.e;

    emit_pushfq(e);
    emit_op_mem(e, false, (const uint8_t[]){0x81}, 1, 4, H_R15, OFF(eflags_sys)); /* and */
    emit4(e, ~EFL_IF);
    emit_popfq(e);
}


/* STI at CPL 0: set the virtual IF and note the shadow (an exit at sti_next is inside it:
 * the run loop then lets that instruction run first). With an interrupt waiting (and IF
 * clear, or the run loop would have delivered it) the callout does it all. */
void emit_sti(struct build *b, const struct dinsn *d)
{
    struct emitter *e = &b->x.e;
    uint8_t *slow, *done;

    emit_pushfq(e);
    emit_op_mem(e, false, (const uint8_t[]){0x80}, 1, 7, H_R15, OFF(irq_waiting)); /* cmp */
    emit1(e, 0);
    slow = jcc_fwd(e, 0x5); /* jne */
    emit_op_mem(e, false, (const uint8_t[]){0x81}, 1, 1, H_R15, OFF(eflags_sys)); /* or */
    emit4(e, EFL_IF);
    emit_store_imm(e, false, H_R15, OFF(sti_next), d->eip + d->len);
    emit_popfq(e);
    done = jmp_fwd(e);
    patch_rel32(slow, e->p);
    emit_popfq(e);
    emit_callout(b, d, CALLOUT_INTERP, false);
    patch_rel32(done, e->p);
}

/* POPFD at CPL 0: the popped status flags and DF go to the host flags, IF to the virtual
 * one. The slow path (the callout) takes what this does not do: a change of TF, IOPL, NT,
 * AC or ID, RF to clear, or IF rising with an interrupt waiting. */
void emit_popf(struct build *b, const struct dinsn *d)
{
    struct emitter *e = &b->x.e;
    struct memref sr = stack_ref(b, 0);
    uint8_t *slow[4], *apply, *done;

    ident__memop(&b->x, NULL, 0, false, T_VAL, (const uint8_t[]){0x8b}, 1, &sr, 0, NULL, 0);
    emit_pushfq(e);
    emit_mov_rr(e, false, T_SAVE, T_VAL);
    emit_op_mem(e, false, (const uint8_t[]){0x33}, 1, T_SAVE, H_R15, OFF(eflags_sys)); /* xor */
    emit_bytes(e, (const uint8_t[]){0x41, 0xf7, 0xc1}, 3);          /* test r9d, imm32 */
    emit4(e, EFL_TF | EFL_IOPL | EFL_NT | EFL_AC | EFL_ID);
    slow[0] = jcc_fwd(e, 0x5);                                      /* jne */
    emit_op_mem(e, false, (const uint8_t[]){0xf7}, 1, 0, H_R15, OFF(eflags_sys)); /* test */
    emit4(e, EFL_RF);
    slow[1] = jcc_fwd(e, 0x5);
    emit_bytes(e, (const uint8_t[]){0x41, 0xf7, 0xc0}, 3);          /* test r8d, IF */
    emit4(e, EFL_IF);
    apply = jcc_fwd(e, 0x4);                                        /* je: IF stays or falls */
    emit_op_mem(e, false, (const uint8_t[]){0xf7}, 1, 0, H_R15, OFF(eflags_sys)); /* test */
    emit4(e, EFL_IF);
    slow[2] = NULL;
    uint8_t *was_set = jcc_fwd(e, 0x5);                             /* jne: IF was set */
    emit_op_mem(e, false, (const uint8_t[]){0x80}, 1, 7, H_R15, OFF(irq_waiting)); /* cmp */
    emit1(e, 0);
    slow[3] = jcc_fwd(e, 0x5);
    patch_rel32(apply, e->p);
    patch_rel32(was_set, e->p);
    /* eflags_sys.IF = popped IF; host flags = popped status flags and DF. */
    emit_op_mem(e, false, (const uint8_t[]){0x81}, 1, 4, H_R15, OFF(eflags_sys)); /* and */
    emit4(e, ~EFL_IF);
    emit_mov_rr(e, false, T_SAVE, T_VAL);
    emit_bytes(e, (const uint8_t[]){0x41, 0x81, 0xe1}, 3);          /* and r9d, IF */
    emit4(e, EFL_IF);
    emit_op_mem(e, false, (const uint8_t[]){0x09}, 1, T_SAVE, H_R15, OFF(eflags_sys)); /* or */
    emit_bytes(e, (const uint8_t[]){0x41, 0x81, 0xe0}, 3);          /* and r8d, imm32 */
    emit4(e, EFL_HOST);
    emit_bytes(e, (const uint8_t[]){0x41, 0x83, 0xc8, 0x02}, 4);    /* or r8d, 2 */
    emit_bytes(e, (const uint8_t[]){0x4c, 0x89, 0x04, 0x24}, 4);    /* mov [rsp], r8 */
    emit_popfq(e);
    emit_esp_add(b, 4);
    done = jmp_fwd(e);
    for (int i = 0; i < 4; i++)
        if (slow[i])
            patch_rel32(slow[i], e->p);
    emit_popfq(e);
    emit_callout(b, d, CALLOUT_INTERP, false);
    patch_rel32(done, e->p);
}

/* RDTSC where the guest's TSC is the host's plus tsc_offset (monitor/vtime.c): EDX:EAX =
 * host TSC + offset, flags kept on the host stack. Above CPL 0, CR4.TSD sends it to the
 * callout, which raises #GP. */
void emit_rdtsc(struct build *b, const struct dinsn *d)
{
    struct emitter *e = &b->x.e;
    uint8_t *slow = NULL, *done;

    emit_pushfq(e);
    if ((b->x.mode >> MODE_CPL_SHIFT) & 3) {
        emit_op_mem(e, false, (const uint8_t[]){0xf7}, 1, 0, H_R15, OFF(cr4)); /* test */
        emit4(e, CR4_TSD);
        slow = jcc_fwd(e, 0x5); /* jne */
    }
    emit_bytes(e, (const uint8_t[]){0x0f, 0x31}, 2);             /* rdtsc */
    emit_bytes(e, (const uint8_t[]){0x48, 0xc1, 0xe2, 0x20}, 4); /* shl rdx, 32 */
    emit_bytes(e, (const uint8_t[]){0x48, 0x09, 0xd0}, 3);       /* or rax, rdx */
    emit_op_mem(e, true, (const uint8_t[]){0x03}, 1, H_RAX, H_R15, OFF(tsc_offset)); /* add */
    emit_bytes(e, (const uint8_t[]){0x48, 0x89, 0xc2}, 3);       /* mov rdx, rax */
    emit_bytes(e, (const uint8_t[]){0x48, 0xc1, 0xea, 0x20}, 4); /* shr rdx, 32 */
    emit_bytes(e, (const uint8_t[]){0x89, 0xc0}, 2);             /* mov eax, eax */
    emit_popfq(e);
    if (!slow)
        return;
    done = jmp_fwd(e);
    patch_rel32(slow, e->p);
    emit_popfq(e);
    emit_callout(b, d, CALLOUT_RDTSC, true);
    patch_rel32(done, e->p);
}

#define MEMO(f) ((int32_t)(offsetof(struct vcpu, seg_memo) + offsetof(struct seg_memo, f)))

/* R8D = the 16-bit selector operand op (a register or memory), zero-extended. */
static void emit_selector_operand(struct build *b, const struct dinsn *d,
                                  const ZydisDecodedOperand *op)
{
    if (op->type == ZYDIS_OPERAND_TYPE_MEMORY) {
        struct memref mr;
        memref_from(&mr, &d->in, op);
        ident__memop(&b->x, NULL, 0, false, T_VAL, (const uint8_t[]){0x0f, 0xb7}, 2, &mr, 0,
                     NULL, 0);
    } else {
        bool h;
        emit_movzx16(&b->x.e, T_VAL, host_reg(zreg_gpr(op->reg.value, &h)));
    }
}

/* R11 = the eight bytes of the GDT descriptor selector R8D names, read through the window
 * with 32-bit addressing (an entry past 0xffffffff wraps, as on the hardware). Returns the
 * jump taken when the selector is past the GDT's limit. */
static uint8_t *emit_gdt_read(struct emitter *e)
{
    uint8_t *past;

    emit_mov_rr(e, false, T_ADDR, T_VAL);
    emit_bytes(e, (const uint8_t[]){0x41, 0x83, 0xca, 0x07}, 4);    /* or r10d, 7 */
    emit_bytes(e, (const uint8_t[]){0x66, 0x45, 0x3b, 0x97}, 4);    /* cmp r10w, gdtr.limit */
    emit4(e, (uint32_t)OFF(gdtr.limit));
    past = jcc_fwd(e, 0x7);                                         /* ja */
    emit_mov_rr(e, false, T_ADDR, T_VAL);
    emit_bytes(e, (const uint8_t[]){0x41, 0x83, 0xe2, 0xf8}, 4);    /* and r10d, ~7 */
    emit_bytes(e, (const uint8_t[]){0x45, 0x03, 0x97}, 3);          /* add r10d, gdtr.base */
    emit4(e, (uint32_t)OFF(gdtr.base));
    emit_bytes(e, (const uint8_t[]){0x65, 0x67, 0x4d, 0x8b, 0x1a}, 5); /* mov r11, gs:[r10d] */
    return past;
}

/* MOV DS/ES/FS/GS, r16 and POP DS/ES/FS/GS at CPL 0. A null selector loads inline; a GDT
 * selector whose memo (the last load of it that succeeded, seg.c) still matches the eight
 * descriptor bytes in the GDT, read through the window, loads the memo's segment; anything
 * else is the callout. When the segment's flatness differs from what the block was made
 * for, the load completes and the block is left for a lookup in the new mode. Guest flags
 * stay on the host stack throughout: a fault reading the stack or the GDT is precise
 * (fixup -3), and ESP moves last. */
void emit_segload(struct build *b, const struct dinsn *d)
{
    struct emitter *e = &b->x.e;
    int s = zreg_seg(d->ops[0].reg.value);
    bool pop = d->in.mnemonic == ZYDIS_MNEMONIC_POP;
    int osz = d->in.operand_width / 8;
    bool flat = b->x.flat & (1u << s);
    bool keyed = s != SEG_FS && s != SEG_GS; /* (bt__mode: FS and GS are never flat) */
    int32_t seg_off = (int32_t)(offsetof(struct vcpu, seg) + s * sizeof(struct segment));
    int32_t base_off = (int32_t)(offsetof(struct vcpu, seg_base) + 4 * s);
    uint8_t *slow[4], *null_path, *moved[2], *done[2];
    uint32_t next = d->eip + d->len;

    if (!b->code32)
        next &= 0xffff;
    emit_pushfq(e);
    if (pop) {
        struct memref sr = stack_ref(b, 0);
        ident__memop(&b->x, NULL, 0, false, T_VAL, (const uint8_t[]){0x0f, 0xb7}, 2, &sr, 0,
                     NULL, 0);
    } else {
        emit_selector_operand(b, d, &d->ops[1]);
    }
    b->x.fixup_reg = -3;
    emit_bytes(e, (const uint8_t[]){0x41, 0xf7, 0xc0}, 3);          /* test r8d, 0xfffc */
    emit4(e, 0xfffc);
    null_path = jcc_fwd(e, 0x4);                                    /* jz */
    emit_bytes(e, (const uint8_t[]){0x41, 0xf7, 0xc0}, 3);          /* test r8d, 4 (LDT) */
    emit4(e, 4);
    slow[0] = jcc_fwd(e, 0x5);
    emit_mov_rr(e, false, T_SAVE, T_VAL);
    emit_bytes(e, (const uint8_t[]){0x41, 0xc1, 0xe9, 0x03}, 4);    /* shr r9d, 3 */
    emit_bytes(e, (const uint8_t[]){0x41, 0x83, 0xe1, 0x07}, 4);    /* and r9d, 7 */
    emit_bytes(e, (const uint8_t[]){0x41, 0xc1, 0xe1, 0x05}, 4);    /* shl r9d, 5 */
    emit_bytes(e, (const uint8_t[]){0x66, 0x47, 0x3b, 0x84, 0x0f}, 5); /* cmp r8w, memo.sel */
    emit4(e, (uint32_t)MEMO(sel));
    slow[1] = jcc_fwd(e, 0x5);
    slow[2] = emit_gdt_read(e);
    emit_bytes(e, (const uint8_t[]){0x4f, 0x3b, 0x9c, 0x0f}, 4);    /* cmp r11, memo.desc */
    emit4(e, (uint32_t)MEMO(desc));
    slow[3] = jcc_fwd(e, 0x5);
    /* Hit: base and limit, then selector and flags, then the base copy. */
    emit_bytes(e, (const uint8_t[]){0x4f, 0x8b, 0x94, 0x0f}, 4);    /* mov r10, memo.base */
    emit4(e, (uint32_t)MEMO(base));
    emit_store64(e, T_ADDR, H_R15, seg_off);
    emit_bytes(e, (const uint8_t[]){0x47, 0x8b, 0x94, 0x0f}, 4);    /* mov r10d, memo.sel */
    emit4(e, (uint32_t)MEMO(sel));
    emit_store32(e, T_ADDR, H_R15, seg_off + (int32_t)offsetof(struct segment, sel));
    emit_bytes(e, (const uint8_t[]){0x47, 0x8b, 0x94, 0x0f}, 4);    /* mov r10d, memo.base */
    emit4(e, (uint32_t)MEMO(base));
    emit_store32(e, T_ADDR, H_R15, base_off);
    moved[0] = NULL;
    if (keyed) {
        emit_bytes(e, (const uint8_t[]){0x45, 0x85, 0xd2}, 3);      /* test r10d, r10d */
        moved[0] = jcc_fwd(e, flat ? 0x5 : 0x4);                    /* flatness changed */
    }
    done[0] = jmp_fwd(e);
    /* Null: base 0, limit 0, no flags (using it faults), the selector kept with its RPL. */
    patch_rel32(null_path, e->p);
    emit_store_imm(e, true, H_R15, seg_off, 0);
    emit_store32(e, T_VAL, H_R15, seg_off + (int32_t)offsetof(struct segment, sel));
    emit_store_imm(e, false, H_R15, base_off, 0);
    if (keyed && !flat) {
        moved[1] = jmp_fwd(e);
        done[1] = NULL;
    } else {
        moved[1] = NULL;
        done[1] = jmp_fwd(e);
    }
    /* Flatness changed: the load is done; the rest of the block assumed the old mode.
     * (Never for FS and GS, which are not keyed by flatness.) */
    if (keyed) {
        if (moved[0])
            patch_rel32(moved[0], e->p);
        if (moved[1])
            patch_rel32(moved[1], e->p);
        emit_popfq(e);
        if (pop)
            emit_esp_add(b, osz);
        emit_store_imm(e, false, H_R15, OFF(eip), next);
        emit_store_imm(e, true, H_R15, OFF(exit_pc), 0);
        emit_jmp(e, b->x.bt->exit_translate);
    }
    /* Slow: the callout does it all. */
    uint8_t *slow_at = e->p;
    for (int i = 0; i < 4; i++)
        patch_rel32(slow[i], slow_at);
    emit_popfq(e);
    emit_callout(b, d, CALLOUT_INTERP, true);
    uint8_t *over = jmp_fwd(e);
    /* Done inline. */
    patch_rel32(done[0], e->p);
    if (done[1])
        patch_rel32(done[1], e->p);
    emit_popfq(e);
    if (pop)
        emit_esp_add(b, osz);
    patch_rel32(over, e->p);
}

#define VERW(f) ((int32_t)(offsetof(struct vcpu, verw_memo) + offsetof(struct verw_memo, f)))

/* VERW at CPL 0 (Linux clears the CPU buffers with one on every return to user mode): a
 * GDT selector equal to the memo's whose eight descriptor bytes in the GDT, read through
 * the window, are still the memo's gets the memo's ZF; anything else is the callout (which
 * fills the memo). Only ZF changes. Faults are precise as for the segment loads. */
void emit_verw(struct build *b, const struct dinsn *d)
{
    struct emitter *e = &b->x.e;
    uint8_t *slow[5], *done;

    emit_pushfq(e);
    emit_selector_operand(b, d, &d->ops[0]);
    b->x.fixup_reg = -3;
    emit_bytes(e, (const uint8_t[]){0x41, 0xf7, 0xc0}, 3);          /* test r8d, 0xfffc */
    emit4(e, 0xfffc);
    slow[0] = jcc_fwd(e, 0x4);                                      /* null: jz */
    emit_bytes(e, (const uint8_t[]){0x41, 0xf7, 0xc0}, 3);          /* test r8d, 4 (LDT) */
    emit4(e, 4);
    slow[1] = jcc_fwd(e, 0x5);
    emit1(e, 0x66);
    emit_op_mem(e, false, (const uint8_t[]){0x3b}, 1, T_VAL, H_R15, VERW(sel)); /* cmp r8w */
    slow[2] = jcc_fwd(e, 0x5);
    slow[3] = emit_gdt_read(e);
    emit_op_mem(e, true, (const uint8_t[]){0x3b}, 1, T_TMP, H_R15, VERW(desc)); /* cmp r11 */
    slow[4] = jcc_fwd(e, 0x5);
    /* Hit: ZF from the memo into the saved flags. */
    emit_bytes(e, (const uint8_t[]){0x4c, 0x8b, 0x04, 0x24}, 4);    /* mov r8, [rsp] */
    emit_bytes(e, (const uint8_t[]){0x49, 0x83, 0xe0, 0xbf}, 4);    /* and r8, ~0x40 */
    emit_op_mem(e, false, (const uint8_t[]){0x0b}, 1, T_VAL, H_R15, VERW(zf)); /* or r8d */
    emit_bytes(e, (const uint8_t[]){0x4c, 0x89, 0x04, 0x24}, 4);    /* mov [rsp], r8 */
    emit_popfq(e);
    done = jmp_fwd(e);
    for (int i = 0; i < 5; i++)
        patch_rel32(slow[i], e->p);
    emit_popfq(e);
    emit_callout(b, d, CALLOUT_INTERP, true);
    patch_rel32(done, e->p);
}

void emit_pushf(struct build *b, const struct dinsn *d)
{
    struct emitter *e = &b->x.e;
    int osz = d->in.operand_width / 8;
    struct memref mr = stack_ref(b, -osz);
    static const uint8_t p66 = 0x66;

    emit_pushfq(e);
    emit_bytes(e, (const uint8_t[]){0x44, 0x8b, 0x04, 0x24}, 4);           /* mov r8d, [rsp] */
    emit_bytes(e, (const uint8_t[]){0x41, 0x81, 0xe0}, 3);                 /* and r8d, imm32 */
    emit4(e, EFL_HOST);
    emit_op_mem(e, false, (const uint8_t[]){0x0b}, 1, T_VAL, H_R15, OFF(eflags_sys)); /* or */
    emit_bytes(e, (const uint8_t[]){0x41, 0x81, 0xe0}, 3);                 /* and r8d, imm32 */
    emit4(e, ~(EFL_RF | EFL_VM));                                          /* never in the image */
    emit_bytes(e, (const uint8_t[]){0x41, 0x83, 0xc8, 0x02}, 4);           /* or r8d, 2 */
    b->x.fixup_reg = -3;
    ident__memop(&b->x, &p66, osz == 2, false, T_VAL, (const uint8_t[]){0x89}, 1, &mr, 0, NULL,
                 0);
    emit_popfq(e);
    emit_esp_add(b, -osz);
}

/* The self-check of a block from a page that is written while executed: compare the
 * guest bytes, read through the window as the guest sees them now, with those the block
 * was made from; on a difference leave through CALLOUT_STALE, which drops the page's
 * translations. Flags are kept on the host stack meanwhile (a fault here is precise: see
 * bt__pc_to_guest). Jumps to the returned site go to the stale exit. */
uint8_t *emit_selfcheck(struct build *b, const uint8_t *bytes, const uint32_t *lins,
                               int n, uint8_t **sites, int *nsites)
{
    struct emitter *e = &b->x.e;

    emit_pushfq(e);
    for (int i = 0; i < n;) {
        int sz = n - i >= 8 ? 8 : n - i >= 4 ? 4 : n - i >= 2 ? 2 : 1;
        uint64_t v = 0;
        /* Chunks must be contiguous in the linear space (16-bit code may wrap). */
        while (sz > 1 && lins[i + sz - 1] != lins[i] + (uint32_t)(sz - 1))
            sz /= 2;
        memcpy(&v, bytes + i, (size_t)sz);
        emit_bytes(e, (const uint8_t[]){0x65, 0x67}, 2);                 /* gs: addr32 */
        if (sz == 8)
            emit_bytes(e, (const uint8_t[]){0x4c, 0x8b}, 2);             /* mov r8, */
        else if (sz == 4)
            emit_bytes(e, (const uint8_t[]){0x44, 0x8b}, 2);             /* mov r8d, */
        else if (sz == 2)
            emit_bytes(e, (const uint8_t[]){0x44, 0x0f, 0xb7}, 3);       /* movzx r8d, word */
        else
            emit_bytes(e, (const uint8_t[]){0x44, 0x0f, 0xb6}, 3);       /* movzx r8d, byte */
        emit_bytes(e, (const uint8_t[]){0x04, 0x25}, 2);                 /* [disp32] */
        emit4(e, lins[i]);
        if (sz == 8) {
            emit_bytes(e, (const uint8_t[]){0x49, 0xb9}, 2);             /* mov r9, imm64 */
            emit8(e, v);
            emit_bytes(e, (const uint8_t[]){0x4d, 0x39, 0xc8}, 3);       /* cmp r8, r9 */
        } else {
            emit_bytes(e, (const uint8_t[]){0x41, 0x81, 0xf8}, 3);       /* cmp r8d, imm32 */
            emit4(e, (uint32_t)v);
        }
        sites[(*nsites)++] = emit_jcc(e, 0x5, e->p);                     /* jne stale */
        i += sz;
    }
    emit_popfq(e);
    return e->p;
}

void emit_stale_stub(struct build *b, uint8_t **sites, int nsites, uint32_t eip)
{
    struct emitter *e = &b->x.e;

    for (int i = 0; i < nsites; i++)
        patch_rel32(sites[i], e->p);
    emit_popfq(e);
    emit_store_imm(e, false, H_R15, OFF(eip), eip);
    emit_store_imm(e, false, H_R15, OFF(exit_reason), EXIT_CALLOUT);
    emit_store_imm(e, true, H_R15, OFF(exit_arg), CALLOUT_STALE);
    emit_store_imm(e, true, H_R15, OFF(exit_pc), 0);
    emit_jmp(e, b->x.bt->exit_common);
}

/* ---- The budget check (translate.c places it) ---- */

static void restore_flags(struct emitter *e, enum budget_save save)
{
    if (save == SAVE_ALL)
        emit_popfq(e);
    else if (save == SAVE_CF)
        emit_bytes(e, (const uint8_t[]){0x41, 0x80, 0xc2, 0xff}, 4); /* add r10b, 0xff */
}

void emit_budget(struct build *b, enum budget_save save, uint8_t **stub_jcc)
{
    struct emitter *e = &b->x.e;

    if (save == SAVE_ALL)
        emit_pushfq(e);
    else if (save == SAVE_CF)
        emit_bytes(e, (const uint8_t[]){0x41, 0x0f, 0x92, 0xc2}, 4); /* setc r10b */
    /* sub qword [r15 + budget], n */
    emit_op_mem(e, true, (const uint8_t[]){0x81}, 1, 5, H_R15, OFF(budget));
    emit4(e, (uint32_t)b->n);
    *stub_jcc = emit_jcc(e, 0x8, e->p); /* js stub */
    restore_flags(e, save);
}

void emit_budget_stub(struct build *b, uint8_t *jcc_site, uint32_t eip,
                             enum budget_save save)
{
    struct emitter *e = &b->x.e;

    patch_rel32(jcc_site, e->p);
    restore_flags(e, save);
    emit_store_imm(e, false, H_R15, OFF(eip), eip);
    emit_store_imm(e, false, H_R15, OFF(exit_reason), EXIT_BUDGET);
    emit_store_imm(e, true, H_R15, OFF(exit_pc), 0);
    emit_jmp(e, b->x.bt->exit_common);
}
