/*
 * Segmentation (seg.h): reading descriptors from the GDT and LDT, the hidden
 * descriptor caches, the checks of data and stack segment loads, and the
 * stack accessor that far transfers and interrupt delivery push and pop
 * through.
 *
 * The descriptor tables are read with linear accesses (mem.h), so a GDT in
 * paged memory works once the page walker exists. The cache keeps descriptor
 * bits 40..55 verbatim as flags (type, S, DPL, P, AVL, D/B, G; the limit's
 * high nibble sits in bits 8..11 and is ignored), with the limit already
 * scaled by G, so every check below reads the same bit positions as the SDM.
 *
 * Loads are ordered as the SDM orders its checks (table limit, type,
 * privilege, present) so that a guest sees the same exception as on the
 * hardware when several checks would fail; the accessed bit is written last,
 * only when it is clear, because writing a descriptor invalidates any
 * translation sharing its page and GDTs in ROM (SeaBIOS) drop the write.
 */
#include "monitor/seg.h"

#include "mmu-shadow/mem.h"
#include "monitor/exception.h"
#include "monitor/machine.h"

#define SEL_INDEX(sel) ((uint32_t)(sel) & ~7u)
#define SEL_TI 4u
#define SEL_ERR(sel) ((uint32_t)(sel) & 0xfffcu) /* error codes carry index and TI, not RPL */

int seg__fault(struct interp_exc *exc, int vector, uint32_t error_code)
{
    exc->vector = vector;
    exc->has_error = cpu__vector_has_error(vector);
    exc->error_code = exc->has_error ? error_code : 0;
    exc->cr2 = 0;
    return -1;
}

int seg__mem_fault(struct interp_exc *exc, const struct mem_fault *f)
{
    seg__fault(exc, f->vector, f->error_code);
    if (f->vector == 14)
        exc->cr2 = f->cr2;
    return -1;
}

/* Where the table sel points into lives, or false when it cannot be used. */
static bool table_of(const struct vcpu *c, uint16_t sel, uint32_t *base, uint32_t *limit)
{
    if (sel & SEL_TI) {
        /* A null LDTR (reset, or LLDT 0) makes every LDT selector invalid. */
        if (!(c->ldtr.sel & 0xfffc) || !(c->ldtr.flags & SEGF_P))
            return false;
        *base = c->ldtr.base;
        *limit = c->ldtr.limit;
    } else {
        *base = c->gdtr.base;
        *limit = c->gdtr.limit;
    }
    return true;
}

int seg__read_desc(struct machine *m, uint16_t sel, uint64_t *desc, struct mem_fault *f)
{
    uint32_t base, limit;
    uint64_t v;

    if (!table_of(m->cpu, sel, &base, &limit) || SEL_INDEX(sel) + 7 > limit)
        return 1;
    if (mem__sys_read(m, base + SEL_INDEX(sel), 8, &v, f))
        return -1;
    *desc = v;
    return 0;
}

int seg__load_desc(struct machine *m, uint16_t sel, uint64_t *desc, struct interp_exc *exc)
{
    struct mem_fault f;
    int rc = seg__read_desc(m, sel, desc, &f);

    if (rc > 0)
        return seg__fault(exc, EXC_GP, SEL_ERR(sel));
    if (rc < 0)
        return seg__mem_fault(exc, &f);
    return 0;
}

int seg__set_desc_bits(struct machine *m, uint16_t sel, uint64_t *desc, uint64_t bits,
                       struct interp_exc *exc)
{
    uint32_t base, limit;
    struct mem_fault f;

    if ((*desc & bits) == bits)
        return 0;
    if (!table_of(m->cpu, sel, &base, &limit))
        return seg__fault(exc, EXC_GP, SEL_ERR(sel)); /* the caller read it a moment ago */
    /* Byte 5 holds type, S, DPL and P: the only byte the processor writes back. */
    if (mem__sys_write(m, base + SEL_INDEX(sel) + 5, 1, (uint8_t)((*desc | bits) >> 40), &f))
        return seg__mem_fault(exc, &f);
    *desc |= bits;
    return 0;
}

void seg__set_cache(struct vcpu *c, int segreg, uint16_t sel, uint64_t desc)
{
    c->seg[segreg] = (struct segment){
        .base = desc_base(desc), .limit = desc_limit(desc), .sel = sel, .flags = desc_flags(desc)};
    c->seg_base[segreg] = c->seg[segreg].base;
}

void seg__set_null(struct vcpu *c, int segreg, uint16_t sel)
{
    c->seg[segreg] = (struct segment){.sel = sel};
    c->seg_base[segreg] = 0;
}

void seg__load_real(struct vcpu *c, int segreg, uint16_t sel)
{
    struct segment *s = &c->seg[segreg];

    s->sel = sel;
    s->base = (uint32_t)sel << 4;
    if (c->eflags_sys & EFL_VM) {
        /* Virtual-8086 segments are always 64 KiB, DPL 3, present, accessed. */
        s->limit = 0xffff;
        s->flags = SEGF_P | SEGF_S | 3 << 5 | SEGF_RW | SEGF_ACCESSED |
                   (segreg == SEG_CS ? SEGF_CODE : 0);
    }
    c->seg_base[segreg] = s->base;
}

void seg__load_cs_raw(struct vcpu *c, uint16_t sel, uint64_t desc, unsigned cpl)
{
    seg__set_cache(c, SEG_CS, (uint16_t)((sel & ~3u) | cpl), desc);
}

int seg__load(struct machine *m, int segreg, uint16_t sel, struct interp_exc *exc)
{
    struct vcpu *c = m->cpu;
    unsigned cpl = vcpu_cpl(c), rpl = sel & 3, dpl;
    uint64_t d;
    uint16_t fl;

    if (segreg == SEG_CS)
        return seg__fault(exc, EXC_UD, 0);
    if (!(c->cr0 & CR0_PE) || (c->eflags_sys & EFL_VM)) {
        seg__load_real(c, segreg, sel);
        return 0;
    }
    if (segreg == SEG_SS) {
        if (seg__check_stack(m, sel, cpl, EXC_GP, 0, &d, exc))
            return -1;
    } else {
        if (!(sel & 0xfffc)) {
            /* Loading null is fine; using it faults (the RPL is kept, as on the hardware). */
            seg__set_null(c, segreg, sel);
            return 0;
        }
        if (seg__load_desc(m, sel, &d, exc))
            return -1;
        fl = desc_flags(d);
        dpl = desc_dpl(d);
        if (!(fl & SEGF_S) || ((fl & SEGF_CODE) && !(fl & SEGF_RW)))
            return seg__fault(exc, EXC_GP, SEL_ERR(sel));
        /* Conforming code is usable from any privilege; everything else needs DPL >= max. */
        if (!((fl & SEGF_CODE) && (fl & SEGF_DC)) && (rpl > dpl || cpl > dpl))
            return seg__fault(exc, EXC_GP, SEL_ERR(sel));
        if (!(fl & SEGF_P))
            return seg__fault(exc, EXC_NP, SEL_ERR(sel));
    }
    if (seg__set_desc_bits(m, sel, &d, DESC_ACCESSED, exc))
        return -1;
    seg__set_cache(c, segreg, sel, d);
    if (segreg != SEG_SS && cpl == 0 && !(sel & SEL_TI)) {
        /* What translated code may reuse for this selector while the bytes stay. */
        struct seg_memo *mo = &c->seg_memo[(sel >> 3) & 7];
        *mo = (struct seg_memo){.desc = d, .base = c->seg[segreg].base,
                                .limit = c->seg[segreg].limit, .sel = sel,
                                .flags = c->seg[segreg].flags};
    }
    return 0;
}

int seg__check_stack(struct machine *m, uint16_t sel, unsigned cpl, int vector, uint32_t ext,
                     uint64_t *desc, struct interp_exc *exc)
{
    struct mem_fault f;
    uint16_t fl;
    int rc;

    if (!(sel & 0xfffc))
        return seg__fault(exc, vector, ext);
    rc = seg__read_desc(m, sel, desc, &f);
    if (rc < 0)
        return seg__mem_fault(exc, &f);
    if (rc > 0)
        return seg__fault(exc, vector, SEL_ERR(sel) | ext);
    fl = desc_flags(*desc);
    if ((sel & 3) != cpl || desc_dpl(*desc) != cpl || !(fl & SEGF_S) || (fl & SEGF_CODE) ||
        !(fl & SEGF_RW))
        return seg__fault(exc, vector, SEL_ERR(sel) | ext);
    if (!(fl & SEGF_P))
        return seg__fault(exc, EXC_SS, SEL_ERR(sel) | ext);
    return 0;
}

void seg__null_invalid(struct vcpu *c, unsigned cpl)
{
    static const int data_segs[] = {SEG_ES, SEG_DS, SEG_FS, SEG_GS};

    for (unsigned i = 0; i < sizeof(data_segs) / sizeof(data_segs[0]); i++) {
        const struct segment *s = &c->seg[data_segs[i]];
        bool conforming_code = (s->flags & SEGF_CODE) && (s->flags & SEGF_DC);

        /* A null register has S clear and stays as it is. */
        if ((s->flags & SEGF_S) && !conforming_code && SEGF_DPL(s->flags) < cpl)
            seg__set_null(c, data_segs[i], 0);
    }
}

bool seg__in_limit(const struct segment *s, uint32_t off, unsigned size)
{
    uint64_t last = (uint64_t)off + size - 1;

    if ((s->flags & SEGF_S) && !(s->flags & SEGF_CODE) && (s->flags & SEGF_DC)) {
        /* Expand-down: valid offsets are above the limit, up to 64 KiB or 4 GiB by B. */
        uint64_t top = (s->flags & SEGF_DB) ? 0xffffffffull : 0xffffull;
        return off > s->limit && last <= top;
    }
    return last <= s->limit;
}

void seg__stack_init(struct stack *st, const struct segment *ss, uint32_t esp, uint32_t error)
{
    st->ss = *ss;
    st->mask = (ss->flags & SEGF_DB) ? 0xffffffffu : 0xffffu;
    st->sp = esp & st->mask;
    st->error = error;
}

int seg__push(struct machine *m, struct stack *st, unsigned size, uint32_t v,
              struct interp_exc *exc)
{
    uint32_t sp = (st->sp - size) & st->mask;
    struct mem_fault f;

    if (!seg__in_limit(&st->ss, sp, size))
        return seg__fault(exc, EXC_SS, st->error);
    /* The stack of a more privileged level is an implicit supervisor access (SS.DPL = its CPL). */
    if ((SEGF_DPL(st->ss.flags) < 3 ? mem__sys_write : mem__lin_write)(m, st->ss.base + sp, size,
                                                                       v, &f))
        return seg__mem_fault(exc, &f);
    st->sp = sp;
    return 0;
}

int seg__pop(struct machine *m, struct stack *st, unsigned size, uint32_t *v,
             struct interp_exc *exc)
{
    struct mem_fault f;
    uint64_t val;

    if (!seg__in_limit(&st->ss, st->sp, size))
        return seg__fault(exc, EXC_SS, st->error);
    if ((SEGF_DPL(st->ss.flags) < 3 ? mem__sys_read : mem__lin_read)(m, st->ss.base + st->sp,
                                                                     size, &val, &f))
        return seg__mem_fault(exc, &f);
    *v = (uint32_t)val;
    st->sp = (st->sp + size) & st->mask;
    return 0;
}

int seg__tss_stack(struct machine *m, unsigned dpl, uint32_t ext, uint16_t *ss, uint32_t *esp,
                   struct interp_exc *exc)
{
    struct vcpu *c = m->cpu;
    unsigned type = c->tr.flags & SEGF_TYPE;
    bool tss32 = type == DESC_TSS32_AVAIL || type == DESC_TSS32_BUSY;
    unsigned width = tss32 ? 4 : 2;
    uint32_t off = tss32 ? 4 + 8 * dpl : 2 + 4 * dpl;
    struct mem_fault f;
    uint64_t sp, sel;

    if (off + 2 * width - 1 > c->tr.limit)
        return seg__fault(exc, EXC_TS, (c->tr.sel & 0xfffcu) | ext);
    if (mem__sys_read(m, c->tr.base + off, width, &sp, &f) ||
        mem__sys_read(m, c->tr.base + off + width, 2, &sel, &f))
        return seg__mem_fault(exc, &f);
    *esp = (uint32_t)sp;
    *ss = (uint16_t)sel;
    return 0;
}
