/*
 * The block builder: decode guest instructions from CS:EIP up to a control
 * transfer (or 64 instructions, or the end of a page), re-emit each one, and
 * close the block with exit stubs that the run loop later chains.
 *
 * Per instruction, one of:
 *   IDENT        ident.c re-emits it (most of the ISA, x87/MMX/SSE included);
 *   stack        PUSH/POP/CALL/RET/LEAVE as MOV/LEA on R12 (guest ESP), with
 *                the store before the ESP update so a fault leaves ESP intact;
 *   branch       Jcc/JMP/LOOP/JECXZ end the block in patchable jumps;
 *                indirect targets go to the flag-free inline lookup in R8D;
 *   callout      everything else (sensitive, I/O, ES-string, BCD, ...) exits
 *                to the monitor, which runs it in the interpreter and resumes
 *                at the next instruction's host code.
 *
 * Each block has one budget check, placed before the first instruction at
 * which no guest flag is live, so it needs no flag save; failing that, where
 * only CF is (SETC/ADD keep it); only blocks that never kill the flags pay for
 * PUSHFQ/POPFQ around it.
 *
 * 16-bit code is first normalized: its bytes are rewritten with the operand-
 * and address-size prefixes toggled and decoded again as 32-bit code, which
 * Zydis confirms has the same operands. Everything after works on 32-bit
 * encodings.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bt/internal.h"
#include "mmu-shadow/mem.h"
#include "mmu-shadow/window.h"
#include "monitor/cpu.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/stats.h"
#include "monitor/vtime.h"

#define OFF(f) ((int32_t)offsetof(struct vcpu, f))
#define FLAGS_ALL (EFL_STATUS)

uint32_t bt__mode(const struct vcpu *c)
{
    uint32_t m = 0;

    if (c->seg[SEG_CS].flags & SEGF_DB)
        m |= MODE_CODE32;
    if (c->seg[SEG_SS].flags & SEGF_DB)
        m |= MODE_STACK32;
    m |= vcpu_cpl(c) << MODE_CPL_SHIFT;
    /* FS and GS are never taken as flat: their bases change with every system call (the
     * kernel's per-CPU segment, user TLS), and code through them is rare enough to read the
     * base at run time rather than translate again for each. */
    for (int i = 0; i < SEG_NR; i++)
        if (c->seg[i].base == 0 && i != SEG_FS && i != SEG_GS)
            m |= 1u << (MODE_FLAT_SHIFT + i);
    if (c->cr0 & CR0_PE)
        m |= MODE_PE;
    if (c->eflags_sys & EFL_VM)
        m |= MODE_VM86;
    if (c->cr0 & CR0_TS)
        m |= MODE_TS;
    if (c->cr0 & CR0_EM)
        m |= MODE_EM;
    if (c->cr0 & CR0_MP)
        m |= MODE_MP;
    if (c->cr4 & CR4_OSFXSR)
        m |= MODE_OSFXSR;
    if (c->cr0 & CR0_PG)
        m |= MODE_PG;
    if (c->eflags_sys & EFL_TF)
        m |= MODE_TF;
    return m;
}

/* ---------------------------------------------------------------- decoding */

static bool same_shape(const ZydisDecodedInstruction *a, const ZydisDecodedOperand *ao,
                       const ZydisDecodedInstruction *b, const ZydisDecodedOperand *bo)
{
    if (a->mnemonic != b->mnemonic || a->operand_width != b->operand_width ||
        a->address_width != b->address_width || a->operand_count != b->operand_count)
        return false;
    for (int i = 0; i < a->operand_count; i++)
        if (ao[i].type != bo[i].type || ao[i].size != bo[i].size)
            return false;
    return true;
}

/* Rebuild 16-bit-mode bytes as 32-bit-mode bytes with the same meaning. */
static bool normalize16(struct bt *bt, struct dinsn *d, const uint8_t *raw,
                        const ZydisDecodedInstruction *in16, const ZydisDecodedOperand *ops16)
{
    static const int toggles[4][2] = {{1, 1}, {0, 1}, {1, 0}, {0, 0}};
    bool has66 = false, has67 = false;
    int np = in16->raw.prefix_count;

    for (int i = 0; i < np; i++) {
        if (raw[i] == 0x66 && in16->raw.prefixes[i].type != ZYDIS_PREFIX_TYPE_IGNORED)
            has66 = true;
        if (raw[i] == 0x67)
            has67 = true;
    }
    for (int t = 0; t < 4; t++) {
        uint8_t buf[20];
        int n = 0;
        bool want66 = has66 ^ toggles[t][0], want67 = has67 ^ toggles[t][1];

        if (want66 && toggles[t][0])
            buf[n++] = 0x66;
        if (want67 && toggles[t][1])
            buf[n++] = 0x67;
        for (int i = 0; i < np; i++) {
            if ((raw[i] == 0x66 && toggles[t][0]) || (raw[i] == 0x67 && toggles[t][1]))
                continue;
            buf[n++] = raw[i];
        }
        memcpy(buf + n, raw + np, in16->length - np);
        n += in16->length - np;
        if (n > 15)
            continue;
        if (ZYAN_FAILED(ZydisDecoderDecodeFull(&bt->dec32, buf, n, &d->in, d->ops)))
            continue;
        if (d->in.length != n || !same_shape(&d->in, d->ops, in16, ops16))
            continue;
        memcpy(d->bytes, buf, n);
        return true;
    }
    return false;
}

/* Decode one instruction at lin. Returns 1 on success, 0 if the bytes are not a valid
 * instruction, -1 if fetching them faults (*f). Bytes past the end of the page are read
 * only when the instruction needs them, so a short instruction at the end of a page
 * never touches the next one. */
static int decode_at(struct build *b, uint32_t lin, uint32_t eip, struct dinsn *d,
                     struct mem_fault *f)
{
    struct machine *m = b->x.m;
    ZydisDecoder *dec = b->code32 ? &b->x.bt->dec32 : &b->x.bt->dec16;
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    uint8_t raw[16];
    uint32_t avail = 0x1000 - (lin & 0xfff);
    ZyanStatus st;

    memset(raw, 0, sizeof(raw));
    if (avail > 15)
        avail = 15;
    if (mem__lin_read_buf(m, lin, raw, avail, f) < 0)
        return -1;
    st = ZydisDecoderDecodeFull(dec, raw, avail, &in, ops);
    if (st == ZYDIS_STATUS_NO_MORE_DATA && avail < 15) {
        if (mem__lin_read_buf(m, lin + avail, raw + avail, 15 - avail, f) < 0)
            return -1;
        st = ZydisDecoderDecodeFull(dec, raw, 15, &in, ops);
    }
    if (ZYAN_FAILED(st))
        return 0;
    if (in.mnemonic == ZYDIS_MNEMONIC_TZCNT || in.mnemonic == ZYDIS_MNEMONIC_LZCNT) {
        /* Without BMI1/LZCNT (we advertise neither) F3 0F BC/BD is REP BSF/BSR and the
         * prefix is ignored: compilers emit it as a TZCNT that also works on old CPUs. The
         * host has the new instructions, so drop the F3 rather than copy it. */
        int np = in.raw.prefix_count, k = 0;
        uint8_t tmp[16];
        for (int i = 0; i < in.length; i++)
            if (!(i < np && raw[i] == 0xf3))
                tmp[k++] = raw[i];
        memset(raw, 0, sizeof(raw));
        memcpy(raw, tmp, (size_t)k);
        if (ZYAN_FAILED(ZydisDecoderDecodeFull(dec, raw, (ZyanUSize)k, &in, ops)))
            return 0;
        d->eip = eip;
        d->len = (uint8_t)(in.length + (np - in.raw.prefix_count));
    } else {
        d->eip = eip;
        d->len = in.length;
    }
    if (b->code32) {
        d->in = in;
        memcpy(d->ops, ops, sizeof(ops));
        memcpy(d->bytes, raw, in.length);
        return 1;
    }
    d->len = in.length; /* 16-bit: normalize16 works from the bytes as decoded */
    if (!normalize16(b->x.bt, d, raw, &in, ops)) {
        /* No 32-bit twin (e.g. a far pointer operand): the interpreter runs it. */
        d->in = in;
        memcpy(d->ops, ops, sizeof(ops));
        memcpy(d->bytes, raw, in.length);
    }
    return 1;
}

/* --------------------------------------------------------- classification */

enum kind {
    K_IDENT, K_NOP, K_LEA, K_INCDEC, K_PUSH, K_POP, K_LEAVE, K_CALL, K_CALL_IND, K_RET,
    K_JMP, K_JMP_IND, K_JCC, K_LOOP, K_CALLOUT, K_CALLOUT_END, K_UD, K_NM, K_STRING,
    K_CLI, K_PUSHF, K_RDTSC, K_STI, K_POPF, K_SEGLOAD, K_SEGREAD, K_VERW, K_CRREAD,
};

static bool isa_allowed(const ZydisDecodedInstruction *in)
{
    switch (in->meta.isa_set) {
    case ZYDIS_ISA_SET_I86: case ZYDIS_ISA_SET_I186: case ZYDIS_ISA_SET_I286REAL:
    case ZYDIS_ISA_SET_I286PROTECTED: case ZYDIS_ISA_SET_I386: case ZYDIS_ISA_SET_I486:
    case ZYDIS_ISA_SET_I486REAL: case ZYDIS_ISA_SET_PENTIUMREAL: case ZYDIS_ISA_SET_PPRO:
    case ZYDIS_ISA_SET_CMOV: case ZYDIS_ISA_SET_FCMOV: case ZYDIS_ISA_SET_X87:
    case ZYDIS_ISA_SET_PENTIUMMMX: case ZYDIS_ISA_SET_SSE: case ZYDIS_ISA_SET_SSE2:
    case ZYDIS_ISA_SET_SSE2MMX: case ZYDIS_ISA_SET_SSEMXCSR: case ZYDIS_ISA_SET_SSE_PREFETCH:
    case ZYDIS_ISA_SET_FXSAVE: case ZYDIS_ISA_SET_FAT_NOP: case ZYDIS_ISA_SET_PAUSE:
    case ZYDIS_ISA_SET_LAHF: case ZYDIS_ISA_SET_PREFETCH_NOP: case ZYDIS_ISA_SET_RDPMC:
        return true;
    default:
        return false;
    }
}

/* x87/MMX/SSE under CR0.EM/TS and CR4.OSFXSR (Intel SDM vol. 3, 2.5 and 13.1). */
static bool touches_xmm(const struct dinsn *d)
{
    for (int i = 0; i < d->in.operand_count; i++)
        if (d->ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER &&
            ZydisRegisterGetClass(d->ops[i].reg.value) == ZYDIS_REGCLASS_XMM)
            return true;
    return false;
}

static enum kind fpu_check(const struct build *b, const struct dinsn *d)
{
    const ZydisDecodedInstruction *in = &d->in;
    uint32_t mode = b->x.mode;

    switch (in->meta.isa_ext) {
    case ZYDIS_ISA_EXT_X87:
        if (in->mnemonic == ZYDIS_MNEMONIC_FWAIT)
            return (mode & MODE_TS) && (mode & MODE_MP) ? K_NM : K_IDENT;
        return mode & (MODE_EM | MODE_TS) ? K_NM : K_IDENT;
    case ZYDIS_ISA_EXT_MMX:
        if (mode & MODE_EM)
            return K_UD;
        return mode & MODE_TS ? K_NM : K_IDENT;
    case ZYDIS_ISA_EXT_SSE:
    case ZYDIS_ISA_EXT_SSE2:
        if (in->meta.isa_set == ZYDIS_ISA_SET_SSE_PREFETCH)
            return K_IDENT;
        if (mode & MODE_EM)
            return K_UD;
        if (!(mode & MODE_OSFXSR) && (touches_xmm(d) || in->meta.isa_set == ZYDIS_ISA_SET_SSEMXCSR))
            return K_UD;
        return mode & MODE_TS ? K_NM : K_IDENT;
    default:
        if (in->meta.isa_set == ZYDIS_ISA_SET_FXSAVE)
            return mode & (MODE_EM | MODE_TS) ? K_NM : K_IDENT;
        return K_IDENT;
    }
}

static bool has_seg_operand(const struct dinsn *d)
{
    for (int i = 0; i < d->in.operand_count; i++) {
        const ZydisDecodedOperand *o = &d->ops[i];
        /* PUSH DS and friends name the register implicitly, in the opcode. */
        if (o->type == ZYDIS_OPERAND_TYPE_REGISTER && zreg_seg(o->reg.value) >= 0 &&
            o->visibility != ZYDIS_OPERAND_VISIBILITY_HIDDEN)
            return true;
        if (o->type == ZYDIS_OPERAND_TYPE_REGISTER &&
            (ZydisRegisterGetClass(o->reg.value) == ZYDIS_REGCLASS_CONTROL ||
             ZydisRegisterGetClass(o->reg.value) == ZYDIS_REGCLASS_DEBUG ||
             ZydisRegisterGetClass(o->reg.value) == ZYDIS_REGCLASS_TEST))
            return true;
    }
    return false;
}

/* The segment of a string instruction's source operand (DS:ESI, overridable), or -1. */
int string_src_seg(const struct dinsn *d)
{
    for (int i = 0; i < d->in.operand_count; i++) {
        const ZydisDecodedOperand *o = &d->ops[i];
        if (o->type == ZYDIS_OPERAND_TYPE_MEMORY &&
            (o->mem.base == ZYDIS_REGISTER_ESI || o->mem.base == ZYDIS_REGISTER_SI))
            return zreg_seg(o->mem.segment);
    }
    return -1;
}

/* MOVS/CMPS/STOS/LODS/SCAS run inline when their segments are flat and addressing is
 * 32-bit: the host string instruction with RDI rebased into the window (ES:EDI cannot
 * take a GS override). Everything else goes to the interpreter. */
static enum kind string_kind(const struct build *b, const struct dinsn *d)
{
    int src = string_src_seg(d);
    bool has_dst = d->in.opcode != 0xac && d->in.opcode != 0xad; /* not LODS */

    if (d->in.address_width != 32)
        return K_CALLOUT;
    if (has_dst && !(b->x.flat & (1u << SEG_ES)))
        return K_CALLOUT;
    if (src >= 0 && !(b->x.flat & (1u << src)))
        return K_CALLOUT;
    return K_STRING;
}

/* Data-segment loads inline (a memo of the last load of the selector, checked against
 * the GDT's bytes): at CPL 0 in protected mode, outside virtual-8086 mode. */
static bool seg_inline(const struct build *b)
{
    return (b->x.mode & MODE_PE) && !(b->x.mode & MODE_VM86) &&
           !(b->x.mode & (3u << MODE_CPL_SHIFT)) && !(b->x.mode & MODE_TF);
}

/* Where the vCPU keeps a control register that reads need nothing else for, or -1. */
static int32_t cr_offset(ZydisRegister r)
{
    switch (r) {
    case ZYDIS_REGISTER_CR0: return (int32_t)offsetof(struct vcpu, cr0);
    case ZYDIS_REGISTER_CR2: return (int32_t)offsetof(struct vcpu, cr2);
    case ZYDIS_REGISTER_CR3: return (int32_t)offsetof(struct vcpu, cr3);
    case ZYDIS_REGISTER_CR4: return (int32_t)offsetof(struct vcpu, cr4);
    default: return -1;
    }
}

static enum kind classify(const struct build *b, const struct dinsn *d)
{
    const ZydisDecodedInstruction *in = &d->in;
    bool def = in->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT;
    enum kind k;

    /* ENDBR32/64 (F3 0F 1E FA/FB) are hint NOPs on a CPU without CET, as on every P6. */
    if (in->mnemonic == ZYDIS_MNEMONIC_ENDBR32 || in->mnemonic == ZYDIS_MNEMONIC_ENDBR64)
        return K_NOP;
    if (!isa_allowed(in))
        return K_UD;
    if (in->machine_mode != ZYDIS_MACHINE_MODE_LEGACY_32)
        return K_CALLOUT_END; /* 16-bit instruction without a 32-bit twin */
    k = fpu_check(b, d);
    if (k != K_IDENT)
        return k;

    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_NOP:
        return K_NOP;
    case ZYDIS_MNEMONIC_LEA:
        return K_LEA;
    case ZYDIS_MNEMONIC_INC:
    case ZYDIS_MNEMONIC_DEC:
        return def && in->opcode >= 0x40 && in->opcode <= 0x4f ? K_INCDEC : K_IDENT;
    case ZYDIS_MNEMONIC_PUSH:
        return K_PUSH; /* a segment register too: its selector */
    case ZYDIS_MNEMONIC_POP:
        /* A data segment register: run in C, then resume in the block if the mode (which
         * holds which segments are flat) is unchanged. SS ends the block (its shadow). */
        if (has_seg_operand(d))
            return d->ops[0].reg.value == ZYDIS_REGISTER_SS ? K_CALLOUT_END
                   : seg_inline(b)                          ? K_SEGLOAD
                                                            : K_CALLOUT;
        return K_POP;
    case ZYDIS_MNEMONIC_LEAVE:
        return K_LEAVE;
    case ZYDIS_MNEMONIC_CALL:
        if (in->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
            return K_CALLOUT_END;
        return d->ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE ? K_CALL : K_CALL_IND;
    case ZYDIS_MNEMONIC_JMP:
        if (in->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
            return K_CALLOUT_END;
        return d->ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE ? K_JMP : K_JMP_IND;
    case ZYDIS_MNEMONIC_RET:
        return in->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR || (def && (in->opcode & 0xfe) == 0xca)
                   ? K_CALLOUT_END : K_RET;
    case ZYDIS_MNEMONIC_LOOP:
    case ZYDIS_MNEMONIC_LOOPE:
    case ZYDIS_MNEMONIC_LOOPNE:
    case ZYDIS_MNEMONIC_JCXZ:
    case ZYDIS_MNEMONIC_JECXZ:
        return K_LOOP;
    case ZYDIS_MNEMONIC_UD0:
    case ZYDIS_MNEMONIC_UD1:
    case ZYDIS_MNEMONIC_UD2:
        return K_UD;
    case ZYDIS_MNEMONIC_CLI:
        /* Inline on the virtual IF where it cannot fault: CPL 0 outside virtual-8086 mode. */
        return !(b->x.mode & MODE_VM86) && !(b->x.mode & (3u << MODE_CPL_SHIFT)) ? K_CLI
                                                                               : K_CALLOUT;
    case ZYDIS_MNEMONIC_PUSHF: case ZYDIS_MNEMONIC_PUSHFD:
        return b->x.mode & MODE_VM86 ? K_CALLOUT : K_PUSHF; /* IOPL matters only in v8086 */
    /* STI and 32-bit POPF at CPL 0 inline, for the common case: the slow path (the callout
     * they always were) when IF would rise with an interrupt waiting, or POPF changes TF,
     * IOPL, NT, AC, ID or finds RF set. */
    case ZYDIS_MNEMONIC_STI:
        return !(b->x.mode & MODE_VM86) && !(b->x.mode & (3u << MODE_CPL_SHIFT)) ? K_STI
                                                                               : K_CALLOUT_END;
    case ZYDIS_MNEMONIC_POPFD:
        return !(b->x.mode & MODE_VM86) && !(b->x.mode & (3u << MODE_CPL_SHIFT)) &&
                       in->operand_width == 32
                   ? K_POPF
                   : K_CALLOUT_END;

    /* Sensitive or not valid in 64-bit mode, but harmless to continue after. */
    case ZYDIS_MNEMONIC_RDTSC:
        return d->len == 2 ? K_RDTSC : K_CALLOUT; /* the fast callout assumes a bare 0F 31 */
    case ZYDIS_MNEMONIC_CPUID: case ZYDIS_MNEMONIC_RDPMC:
    case ZYDIS_MNEMONIC_DAA: case ZYDIS_MNEMONIC_DAS: case ZYDIS_MNEMONIC_AAA:
    case ZYDIS_MNEMONIC_AAS: case ZYDIS_MNEMONIC_AAM: case ZYDIS_MNEMONIC_AAD:
    case ZYDIS_MNEMONIC_PUSHA: case ZYDIS_MNEMONIC_PUSHAD: case ZYDIS_MNEMONIC_POPA:
    case ZYDIS_MNEMONIC_POPAD:
    case ZYDIS_MNEMONIC_LAHF: case ZYDIS_MNEMONIC_SAHF: case ZYDIS_MNEMONIC_SALC:
    case ZYDIS_MNEMONIC_ENTER: case ZYDIS_MNEMONIC_BOUND: case ZYDIS_MNEMONIC_IN:
    case ZYDIS_MNEMONIC_OUT: case ZYDIS_MNEMONIC_XLAT:
    case ZYDIS_MNEMONIC_SGDT: case ZYDIS_MNEMONIC_SIDT: case ZYDIS_MNEMONIC_SLDT:
    case ZYDIS_MNEMONIC_STR: case ZYDIS_MNEMONIC_SMSW: case ZYDIS_MNEMONIC_LAR:
    case ZYDIS_MNEMONIC_VERW:
        return seg_inline(b) ? K_VERW : K_CALLOUT;
    case ZYDIS_MNEMONIC_LSL: case ZYDIS_MNEMONIC_VERR:
    case ZYDIS_MNEMONIC_INVD: case ZYDIS_MNEMONIC_WBINVD: case ZYDIS_MNEMONIC_RDMSR:
    case ZYDIS_MNEMONIC_CLTS:
        return K_CALLOUT;
    /* Everything that may change control flow, the mode or the interrupt state. */
    case ZYDIS_MNEMONIC_POPF:
    case ZYDIS_MNEMONIC_HLT: case ZYDIS_MNEMONIC_INT: case ZYDIS_MNEMONIC_INT1:
    case ZYDIS_MNEMONIC_INT3: case ZYDIS_MNEMONIC_INTO: case ZYDIS_MNEMONIC_IRET:
    case ZYDIS_MNEMONIC_IRETD: case ZYDIS_MNEMONIC_LDS: case ZYDIS_MNEMONIC_LES:
    case ZYDIS_MNEMONIC_LFS: case ZYDIS_MNEMONIC_LGS: case ZYDIS_MNEMONIC_LSS:
    case ZYDIS_MNEMONIC_LGDT: case ZYDIS_MNEMONIC_LIDT: case ZYDIS_MNEMONIC_LLDT:
    case ZYDIS_MNEMONIC_LTR: case ZYDIS_MNEMONIC_LMSW: case ZYDIS_MNEMONIC_INVLPG:
    case ZYDIS_MNEMONIC_WRMSR: case ZYDIS_MNEMONIC_SYSENTER: case ZYDIS_MNEMONIC_SYSEXIT:
    case ZYDIS_MNEMONIC_ARPL: case ZYDIS_MNEMONIC_RSM:
        return K_CALLOUT_END;
    default:
        break;
    }
    if (def && ((in->opcode >= 0xa4 && in->opcode <= 0xa7) || (in->opcode >= 0xaa && in->opcode <= 0xaf)))
        return string_kind(b, d);
    if (def && in->opcode >= 0x6c && in->opcode <= 0x6f)
        return K_CALLOUT; /* INS/OUTS: port I/O */
    if (in->mnemonic == ZYDIS_MNEMONIC_MOV && d->ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER &&
        cr_offset(d->ops[1].reg.value) >= 0 && d->len == 3 && seg_inline(b))
        return K_CRREAD; /* MOV r32, CR0/2/3/4 at CPL 0 (a #PF handler reads CR2 first) */
    if (in->attributes & ZYDIS_ATTRIB_IS_PRIVILEGED)
        return K_CALLOUT_END;
    if (in->mnemonic == ZYDIS_MNEMONIC_MOV && d->ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
        d->ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER && zreg_seg(d->ops[1].reg.value) >= 0 &&
        (d->ops[0].size == 32 || d->ops[0].size == 16))
        return K_SEGREAD; /* MOV r, sreg: the selector, read from the vCPU */
    if (in->mnemonic == ZYDIS_MNEMONIC_MOV && has_seg_operand(d) &&
        d->ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
        (d->ops[0].reg.value == ZYDIS_REGISTER_DS || d->ops[0].reg.value == ZYDIS_REGISTER_ES ||
         d->ops[0].reg.value == ZYDIS_REGISTER_FS || d->ops[0].reg.value == ZYDIS_REGISTER_GS))
        return seg_inline(b) ? K_SEGLOAD : K_CALLOUT; /* as POP: resumed when the mode stays */
    if (has_seg_operand(d))
        return K_CALLOUT_END;
    if (in->meta.category == ZYDIS_CATEGORY_COND_BR)
        return K_JCC;
    return K_IDENT;
}

/* Instructions the interpreter runs completely, so that adaptive retranslation may turn
 * them into callouts (bt__emulated_at): the data-moving and arithmetic instructions that
 * write page tables and device registers. */
static bool interp_handles(ZydisMnemonic mn)
{
    switch (mn) {
    case ZYDIS_MNEMONIC_MOV: case ZYDIS_MNEMONIC_MOVZX: case ZYDIS_MNEMONIC_MOVSX:
    case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_OR: case ZYDIS_MNEMONIC_ADC:
    case ZYDIS_MNEMONIC_SBB: case ZYDIS_MNEMONIC_AND: case ZYDIS_MNEMONIC_SUB:
    case ZYDIS_MNEMONIC_XOR: case ZYDIS_MNEMONIC_CMP: case ZYDIS_MNEMONIC_TEST:
    case ZYDIS_MNEMONIC_INC: case ZYDIS_MNEMONIC_DEC: case ZYDIS_MNEMONIC_NOT:
    case ZYDIS_MNEMONIC_NEG: case ZYDIS_MNEMONIC_XCHG: case ZYDIS_MNEMONIC_CMPXCHG:
    case ZYDIS_MNEMONIC_XADD: case ZYDIS_MNEMONIC_BTS: case ZYDIS_MNEMONIC_BTR:
    case ZYDIS_MNEMONIC_BTC: case ZYDIS_MNEMONIC_BT: case ZYDIS_MNEMONIC_PUSH:
    case ZYDIS_MNEMONIC_POP:
        return true;
    /* Not string instructions: one REP STOS (clear_page) serves every page the guest
     * clears, so making it a callout after two page-table pages would send all of them
     * through the interpreter one element at a time. The inline path faults at most once
     * per protected page instead. */
    default:
        return false;
    }
}

static bool ends_block(enum kind k)
{
    switch (k) {
    case K_CALL: case K_CALL_IND: case K_RET: case K_JMP: case K_JMP_IND: case K_JCC:
    case K_LOOP: case K_CALLOUT_END: case K_UD: case K_NM:
        return true;
    default:
        return false;
    }
}

/* Emit one instruction; returns false if the block must end after it. */
static bool emit_insn(struct build *b, const struct dinsn *d, enum kind k)
{
    struct emitter *e = &b->x.e;
    int osz = d->in.operand_width / 8;

    switch (k) {
    case K_NOP:
        return true;
    case K_LEA:
        emit_lea(b, d);
        return true;
    case K_INCDEC:
        emit_incdec(b, d);
        return true;
    case K_IDENT:
        if (!ident__emit(&b->x, d))
            emit_callout(b, d, CALLOUT_INTERP, true);
        return true;
    case K_STI:
        emit_sti(b, d);
        return true;
    case K_SEGLOAD:
        emit_segload(b, d);
        return true;
    case K_VERW:
        emit_verw(b, d);
        return true;
    case K_CRREAD: {
        bool h;
        emit_load32(&b->x.e, host_reg(zreg_gpr(d->ops[0].reg.value, &h)), H_R15,
                    cr_offset(d->ops[1].reg.value));
        return true;
    }
    case K_SEGREAD: {
        /* 32-bit destination: zero-extended (P6 and later); 16-bit: the low word only. */
        bool h;
        int dst = host_reg(zreg_gpr(d->ops[0].reg.value, &h));
        int32_t off = (int32_t)(offsetof(struct vcpu, seg) +
                                zreg_seg(d->ops[1].reg.value) * sizeof(struct segment) +
                                offsetof(struct segment, sel));
        if (d->ops[0].size == 32)
            emit_op_mem(&b->x.e, false, (const uint8_t[]){0x0f, 0xb7}, 2, dst, H_R15, off);
        else {
            emit1(&b->x.e, 0x66);
            emit_op_mem(&b->x.e, false, (const uint8_t[]){0x8b}, 1, dst, H_R15, off);
        }
        return true;
    }
    case K_POPF:
        emit_popf(b, d);
        return true;
    case K_PUSH:
        if (d->ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
            emit_push_imm(b, (uint32_t)d->ops[0].imm.value.u, osz);
        } else if (d->ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
                   zreg_seg(d->ops[0].reg.value) >= 0) {
            /* The selector, zero-extended to the operand size (as the callout did). */
            int s = zreg_seg(d->ops[0].reg.value);
            emit_op_mem(&b->x.e, false, (const uint8_t[]){0x0f, 0xb7}, 2, T_VAL, H_R15,
                        (int32_t)(offsetof(struct vcpu, seg) + s * sizeof(struct segment) +
                                  offsetof(struct segment, sel)));
            emit_push_reg(b, T_VAL, osz);
        } else if (d->ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER) {
            bool h;
            emit_push_reg(b, host_reg(zreg_gpr(d->ops[0].reg.value, &h)), osz);
        } else {
            emit_load_operand(b, d, &d->ops[0], T_VAL);
            emit_push_reg(b, T_VAL, osz);
        }
        return true;
    case K_POP:
        emit_pop(b, d);
        return true;
    case K_LEAVE:
        emit_leave(b, d);
        return true;
    case K_CALL:
        emit_push_imm(b, d->eip + d->len, osz);
        emit_exit_jmp(b, branch_target(d));
        return false;
    case K_CALL_IND:
        emit_load_operand(b, d, &d->ops[0], T_VAL);
        emit_push_imm(b, d->eip + d->len, osz);
        emit_jmp(e, b->x.bt->lookup);
        return false;
    case K_RET: {
        struct memref sr = stack_ref(b, 0);
        int32_t extra = d->ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE ? (int32_t)d->ops[0].imm.value.u : 0;
        if (osz == 2)
            ident__memop(&b->x, NULL, 0, false, T_VAL, (const uint8_t[]){0x0f, 0xb7}, 2, &sr, 0,
                         NULL, 0);
        else
            ident__memop(&b->x, NULL, 0, false, T_VAL, (const uint8_t[]){0x8b}, 1, &sr, 0, NULL, 0);
        emit_esp_add(b, osz + extra);
        emit_jmp(e, b->x.bt->lookup);
        return false;
    }
    case K_JMP:
        emit_exit_jmp(b, branch_target(d));
        return false;
    case K_JMP_IND:
        emit_load_operand(b, d, &d->ops[0], T_VAL);
        emit_jmp(e, b->x.bt->lookup);
        return false;
    case K_JCC:
        emit_exit_jcc(b, d->in.opcode & 0xf, branch_target(d));
        emit_exit_jmp(b, d->eip + d->len);
        return false;
    case K_LOOP:
        emit_loop(b, d);
        return false;
    case K_CALLOUT:
        emit_callout(b, d, CALLOUT_INTERP, true);
        return true;
    case K_STRING:
        emit_string(b, d);
        return true;
    case K_CLI:
        emit_cli(b);
        return true;
    case K_RDTSC:
        if (vtime__tsc_is_host())
            emit_rdtsc(b, d);
        else
            emit_callout(b, d, CALLOUT_RDTSC, true);
        return true;
    case K_PUSHF:
        emit_pushf(b, d);
        return true;
    case K_CALLOUT_END:
        emit_callout(b, d, CALLOUT_INTERP, false);
        return false;
    case K_UD:
        emit_callout(b, d, CALLOUT_UD, false);
        return false;
    case K_NM:
        emit_callout(b, d, CALLOUT_NM, false);
        return false;
    }
    return false;
}

/* Flags (CF PF AF ZF SF OF) an instruction reads and surely writes. */
static void flag_use(const struct dinsn *d, enum kind k, uint32_t *rd, uint32_t *wr)
{
    const ZydisAccessedFlags *f = d->in.cpu_flags;

    *rd = 0;
    *wr = 0;
    if (k == K_CALLOUT || k == K_CALLOUT_END || k == K_UD || k == K_NM || k == K_STRING ||
        k == K_PUSHF || k == K_CLI || k == K_RDTSC || k == K_STI || k == K_POPF ||
        k == K_SEGLOAD || k == K_VERW || k == K_CRREAD ||
        (k == K_IDENT && !f)) {
        *rd = FLAGS_ALL;
        return;
    }
    if (!f)
        return;
    *rd = f->tested & FLAGS_ALL;
    switch (d->in.mnemonic) {
    case ZYDIS_MNEMONIC_SHL: case ZYDIS_MNEMONIC_SHR: case ZYDIS_MNEMONIC_SAR:
    case ZYDIS_MNEMONIC_ROL: case ZYDIS_MNEMONIC_ROR: case ZYDIS_MNEMONIC_RCL:
    case ZYDIS_MNEMONIC_RCR: case ZYDIS_MNEMONIC_SHLD: case ZYDIS_MNEMONIC_SHRD:
        return; /* a zero count leaves every flag alone */
    default:
        *wr = (f->modified | f->set_0 | f->set_1 | f->undefined) & FLAGS_ALL;
    }
}

/* Does the instruction write memory (explicitly or, as PUSH and CALL do, implicitly)? */
static bool writes_memory(const struct dinsn *d)
{
    for (int i = 0; i < d->in.operand_count; i++)
        if (d->ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY &&
            (d->ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
            return true;
    return false;
}

struct block *translate__block(struct machine *m, struct bt *bt, uint32_t phys,
                               struct mem_fault *f)
{
    struct vcpu *c = m->cpu;
    struct build *b = calloc(1, sizeof(*b));
    enum kind kinds[BLOCK_MAX_INSNS];
    uint32_t rd[BLOCK_MAX_INSNS], wr[BLOCK_MAX_INSNS], live;
    uint32_t eip = c->eip, cs_base = c->seg[SEG_CS].base;
    uint32_t start = cs_base + eip, page0 = start & ~0xfffu, guest_bytes = 0;
    uint32_t lastpage = page0;
    int check_at = -1;
    uint8_t *budget_jcc = NULL;
    struct block *blk;

    if (!b)
        die("out of memory");
    b->x.m = m;
    b->x.bt = bt;
    b->x.c = c;
    b->x.mode = bt__mode(c);
    b->x.cs_base = cs_base;
    b->x.flat = (b->x.mode >> MODE_FLAT_SHIFT) & 0x3f;
    b->code32 = b->x.mode & MODE_CODE32;
    b->stack32 = b->x.mode & MODE_STACK32;
    b->selfcheck = mmu__selfcheck(m, phys) && !(b->x.mode & MODE_TF);

    /* Decode. Under single-step every instruction is a block: the run loop traps after it. */
    int max_insns = (b->x.mode & MODE_TF) ? 1 : b->selfcheck ? 16 : BLOCK_MAX_INSNS;
    for (b->n = 0; b->n < max_insns;) {
        struct dinsn *d = &b->d[b->n];
        uint32_t lin = cs_base + eip;

        if (b->n > 0 && (lin & ~0xfffu) != page0)
            break; /* start the next page in a block of its own */
        int got = decode_at(b, lin, eip, d, f);
        if (got < 0 && b->n == 0) {
            free(b);
            return NULL; /* the first instruction cannot be fetched: the caller raises *f */
        }
        if (got <= 0) {
            if (b->n > 0)
                break;
            memset(d, 0, sizeof(*d));
            d->eip = eip;
            d->len = 1;
            kinds[b->n++] = K_UD;
            break;
        }
        kinds[b->n] = classify(b, d);
        d->hot = false;
        if ((kinds[b->n] == K_IDENT || kinds[b->n] == K_PUSH || kinds[b->n] == K_POP) &&
            interp_handles(d->in.mnemonic) && d->in.machine_mode == ZYDIS_MACHINE_MODE_LEGACY_32 &&
            tc__hot(bt, phys + (eip - c->eip))) {
            kinds[b->n] = K_CALLOUT; /* its accesses keep being emulated: skip the signal */
            d->hot = true;
            d->phys = phys + (eip - c->eip);
        }
        lastpage = (lin + d->len - 1) & ~0xfffu;
        guest_bytes += d->len;
        eip += d->len;
        if (!b->code32)
            eip &= 0xffff;
        if (ends_block(kinds[b->n++]))
            break;
        /* A store may change the bytes that follow: let the next block check them. */
        if (b->selfcheck && writes_memory(d))
            break;
    }
    if (lastpage != page0 && !b->selfcheck) {
        uint32_t p2;
        struct mem_fault f2;
        if (mmu__fetch_phys(m, lastpage, &p2, NULL, &f2) == 0 && mmu__selfcheck(m, p2))
            b->selfcheck = true;
    }
    /* The guest bytes, as the self-check will compare them. */
    uint8_t check_bytes[BLOCK_MAX_INSNS * 15];
    uint32_t check_lins[BLOCK_MAX_INSNS * 15];
    int ncheck = 0;
    for (int i = 0; b->selfcheck && i < b->n; i++) {
        for (int k = 0; k < b->d[i].len; k++) {
            struct mem_fault f2;
            uint32_t at = b->code32 ? cs_base + b->d[i].eip + (uint32_t)k
                                    : cs_base + ((b->d[i].eip + (uint32_t)k) & 0xffff);
            if (mem__lin_read_buf(m, at, &check_bytes[ncheck], 1, &f2) < 0) {
                b->selfcheck = false; /* (cannot happen: the bytes were just decoded) */
                break;
            }
            check_lins[ncheck++] = at;
        }
    }

    /* Budget check: before the first instruction where no flag is live; else before the
     * first where only CF is (a loop closed by DEC/JNZ); else at the start, saving all. */
    int cf_at = -1;
    live = FLAGS_ALL;
    for (int i = b->n - 1; i >= 0; i--) {
        flag_use(&b->d[i], kinds[i], &rd[i], &wr[i]);
        live = (live & ~wr[i]) | rd[i];
        if (live == 0)
            check_at = i;
        else if (live == EFL_CF)
            cf_at = i;
    }
    enum budget_save save = SAVE_NONE;
    if (check_at < 0 && cf_at >= 0) {
        check_at = cf_at;
        save = SAVE_CF;
    } else if (check_at < 0) {
        check_at = 0;
        save = SAVE_ALL;
    }

    /* Emit. */
    if ((size_t)(bt->tc_end - bt->tc_free) < BLOCK_MAX_HOST)
        bt__flush(m);
    b->x.e.p = bt->tc_free;
    b->x.e.end = bt->tc_free + BLOCK_MAX_HOST;
    uint8_t *host = b->x.e.p;
    bool fell_through = true;
    uint8_t *stale_sites[BLOCK_MAX_INSNS * 15];
    int nstale = 0;
    uint16_t check_len = 0;
    if (b->selfcheck && ncheck) {
        check_len = (uint16_t)(emit_selfcheck(b, check_bytes, check_lins, ncheck, stale_sites,
                                              &nstale) - host);
        STAT_INC(bt_selfcheck_blocks);
    }
    for (int i = 0; i < b->n; i++) {
        struct dinsn *d = &b->d[i];
        b->map[i].host_off = (uint16_t)(b->x.e.p - host);
        b->map[i].eip = d->eip;
        b->map[i].len = d->len;
        b->x.fixup_reg = -1;
        if (i == check_at)
            emit_budget(b, save, &budget_jcc);
        if ((c->dr[7] & 0xff) && exec_breakpoint(c, cs_base + d->eip))
            emit_callout(b, d, CALLOUT_DB, true); /* a fault: before the instruction runs */
        fell_through = emit_insn(b, d, kinds[i]);
        b->map[i].fixup_reg = (int8_t)b->x.fixup_reg;
    }
    if (fell_through)
        emit_exit_jmp(b, eip);
    /* Stubs: the budget exit, the self-check's, then one per branch exit. */
    emit_budget_stub(b, budget_jcc, b->d[check_at].eip, save);
    if (nstale)
        emit_stale_stub(b, stale_sites, nstale, c->eip);
    for (int i = 0; i < b->nexits; i++) {
        struct emitter *e = &b->x.e;
        patch_rel32(b->exits[i].site, e->p);
        if (b->exits[i].far) {
            emit_mov_ri(e, T_VAL, b->exits[i].target);
            emit_jmp(e, bt->lookup);
            continue;
        }
        emit_store_imm(e, false, H_R15, OFF(eip), b->exits[i].target);
        emit_store_imm(e, true, H_R15, OFF(exit_pc), (uint32_t)(uint64_t)b->exits[i].site);
        emit_jmp(e, bt->exit_translate);
    }
    if (b->x.e.overflow)
        die("internal error: a block at %08x needs more than %u bytes of host code", start,
            BLOCK_MAX_HOST);

    blk = calloc(1, sizeof(*blk) + b->n * sizeof(struct insn_map));
    if (!blk)
        die("out of memory");
    blk->lin = start;
    blk->eip = c->eip;
    blk->cs_base = cs_base;
    blk->mode = b->x.mode;
    blk->phys = phys;
    blk->pages[0] = phys & ~0xfffu;
    blk->pages[1] = ~0u;
    if (lastpage != page0) {
        uint32_t p2;
        struct mem_fault f2;
        if (mmu__fetch_phys(m, lastpage, &p2, NULL, &f2) == 0)
            blk->pages[1] = p2 & ~0xfffu;
    }
    blk->host = host;
    blk->host_len = (uint32_t)(b->x.e.p - host);
    blk->ninsn = (uint16_t)b->n;
    blk->check_len = check_len;
    blk->nexits = 0;
    for (int i = 0; i < b->nexits; i++) {
        if (b->exits[i].far)
            continue;
        blk->exits[blk->nexits].site = b->exits[i].site;
        blk->exits[blk->nexits].stub = b->exits[i].site + 4 + read_rel32(b->exits[i].site);
        blk->nexits++;
    }
    memcpy(blk->map, b->map, b->n * sizeof(struct insn_map));
    blk->callouts = b->callouts;
    for (struct callout_insn *ci = blk->callouts; ci; ci = ci->next)
        ci->block = blk;
    bt->tc_free = b->x.e.p;
    tc__insert(bt, blk);

    STAT_INC(bt_blocks);
    STAT_ADD(bt_guest_insns, b->n);
    STAT_ADD(bt_guest_bytes, guest_bytes);
    STAT_ADD(bt_tc_bytes, blk->host_len);
    LOG(BT, 2, "block %08x (+%u bytes, %d insns) -> %p (%u bytes)", start, guest_bytes, b->n,
        (void *)host, blk->host_len);
    free(b);
    return blk;
}
