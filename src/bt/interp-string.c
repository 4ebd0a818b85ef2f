/*
 * String instructions and port I/O for the interpreter: MOVS, CMPS, STOS,
 * LODS, SCAS, INS, OUTS in byte, word and dword forms with REP, REPE and
 * REPNE, and IN/OUT with an immediate or DX port.
 *
 * The source is seg:(E)SI, where seg is DS or the override (Zydis resolves
 * it into the source operand); the destination is always ES:(E)DI. The
 * address size picks SI/DI/CX or ESI/EDI/ECX, and the 16-bit registers wrap
 * at 64 KiB without touching their upper halves. DF picks the direction.
 *
 * REP is restartable the way the hardware makes it: every iteration commits
 * (ECX, ESI, EDI and flags become the state a later fault restores), so a
 * fault in iteration k reports the instruction's own EIP with k-1 elements
 * done. After INTERP_REP_BATCH iterations the instruction yields with EIP
 * unchanged and reports INTERP_OK; the caller runs it again (after taking any
 * interrupt) and it resumes where it stopped. An F2 prefix on the
 * non-comparing forms acts as REP, as on the hardware.
 *
 * Port accesses have no I/O-permission check: guests run at CPL 0 for now;
 * IOPL and the TSS I/O bitmap arrive with the system-state issue, together
 * with the same check for IN/OUT.
 */
#include "bt/interp-internal.h"
#include "mmu-shadow/mem.h"

#include "devices/bus.h"
#include "monitor/machine.h"
#include "monitor/stats.h"

enum str_op { S_INS, S_OUTS, S_MOVS, S_CMPS, S_STOS, S_LODS, S_SCAS };

struct str {
    enum str_op op;
    unsigned size;  /* element: 1, 2 or 4 bytes */
    int src_seg;    /* DS unless overridden */
    uint32_t delta; /* +size, or -size with DF set */
};

static bool str_decode(const struct ix *x, struct str *s)
{
    uint8_t opc = x->in->opcode;

    if (x->in->opcode_map != ZYDIS_OPCODE_MAP_DEFAULT)
        return false;
    switch (opc & ~1) {
    case 0x6c: s->op = S_INS; break;
    case 0x6e: s->op = S_OUTS; break;
    case 0xa4: s->op = S_MOVS; break;
    case 0xa6: s->op = S_CMPS; break;
    case 0xaa: s->op = S_STOS; break;
    case 0xac: s->op = S_LODS; break;
    case 0xae: s->op = S_SCAS; break;
    default: return false;
    }
    s->size = (opc & 1) ? x->osize : 1;
    s->src_seg = SEG_DS;
    for (unsigned i = 0; i < x->in->operand_count; i++) {
        const ZydisDecodedOperand *op = &x->ops[i];
        if (op->type == ZYDIS_OPERAND_TYPE_MEMORY &&
            (op->mem.base == ZYDIS_REGISTER_ESI || op->mem.base == ZYDIS_REGISTER_SI))
            s->src_seg = ix_op_seg(op);
    }
    s->delta = (ix_flags(x) & EFL_DF) ? 0u - s->size : s->size;
    return true;
}

/* One element; on a fault nothing of this element is visible in registers. */
static int str_one(struct ix *x, const struct str *s)
{
    uint32_t si = ix_areg(x, R_ESI), di = ix_areg(x, R_EDI);
    uint16_t port = (uint16_t)ix_gpr(x, R_EDX, 2);
    uint32_t a, b;
    int rc;

    switch (s->op) {
    case S_MOVS:
        if ((rc = ix_read(x, s->src_seg, si, s->size, &a)) ||
            (rc = ix_write(x, SEG_ES, di, s->size, a)))
            return rc;
        break;
    case S_CMPS:
        if ((rc = ix_read(x, s->src_seg, si, s->size, &a)) ||
            (rc = ix_read(x, SEG_ES, di, s->size, &b)))
            return rc;
        alu(ALU_CMP, s->size, a, b, &x->c->rflags);
        break;
    case S_STOS:
        if ((rc = ix_write(x, SEG_ES, di, s->size, ix_gpr(x, R_EAX, s->size))))
            return rc;
        break;
    case S_LODS:
        if ((rc = ix_read(x, s->src_seg, si, s->size, &a)))
            return rc;
        ix_set_gpr(x, R_EAX, s->size, a);
        break;
    case S_SCAS:
        if ((rc = ix_read(x, SEG_ES, di, s->size, &b)))
            return rc;
        alu(ALU_CMP, s->size, ix_gpr(x, R_EAX, s->size), b, &x->c->rflags);
        break;
    case S_INS:
        /* Check the store before the device sees a read it cannot take back. */
        if ((rc = ix_probe_write(x, SEG_ES, di, s->size)))
            return rc;
        STAT_INC(cpu_pio);
        a = bus__pio_read(x->m, port, s->size);
        if ((rc = ix_write(x, SEG_ES, di, s->size, a)))
            return rc;
        break;
    case S_OUTS:
        if ((rc = ix_read(x, s->src_seg, si, s->size, &a)))
            return rc;
        STAT_INC(cpu_pio);
        bus__pio_write(x->m, port, s->size, a);
        break;
    }
    if (s->op == S_MOVS || s->op == S_CMPS || s->op == S_LODS || s->op == S_OUTS)
        ix_set_areg(x, R_ESI, si + s->delta);
    if (s->op != S_LODS && s->op != S_OUTS)
        ix_set_areg(x, R_EDI, di + s->delta);
    return INTERP_OK;
}

/*
 * I/O permission (SDM 19.5): in protected mode with CPL > IOPL, and always in virtual-8086
 * mode, every port of the access must be allowed by the TSS I/O bitmap: a 32-bit TSS, the
 * bitmap's offset at 0x66, one bit per port, clear = allowed, and the bytes read must lie
 * within the TSS limit.
 */
static bool io_allowed(struct ix *x, uint16_t port, unsigned size)
{
    struct vcpu *c = x->c;
    unsigned type = c->tr.flags & SEGF_TYPE;
    struct mem_fault f;
    uint64_t v;
    uint32_t base;

    if (!(c->cr0 & CR0_PE))
        return true;
    if (!(c->eflags_sys & EFL_VM) && vcpu_cpl(c) <= ((c->eflags_sys & EFL_IOPL) >> 12))
        return true;
    if ((type != 9 && type != 11) || c->tr.limit < 0x67)
        return false;
    if (mem__sys_read(x->m, c->tr.base + 0x66, 2, &v, &f))
        return false;
    base = (uint32_t)v + port / 8;
    if (base + 1 > c->tr.limit)
        return false;
    if (mem__sys_read(x->m, c->tr.base + base, 2, &v, &f))
        return false;
    return ((v >> (port % 8)) & ((1u << size) - 1)) == 0;
}

static int string_insn(struct ix *x, const struct str *s)
{
    ZydisInstructionAttributes a = x->in->attributes;
    bool cmp = s->op == S_CMPS || s->op == S_SCAS;

    if ((s->op == S_INS || s->op == S_OUTS) &&
        !io_allowed(x, (uint16_t)ix_gpr(x, R_EDX, 2), s->size))
        return ix_gp0(x);

    if (!(a & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE)))
        return str_one(x, s);
    for (unsigned n = 0;; n++) {
        uint32_t count = ix_areg(x, R_ECX);
        int rc;

        if (!count)
            return INTERP_OK;
        if (n == INTERP_REP_BATCH) {
            x->next_eip = x->c->eip; /* yield: run me again to continue */
            return INTERP_OK;
        }
        if ((rc = str_one(x, s)) != INTERP_OK)
            return rc;
        ix_set_areg(x, R_ECX, count - 1);
        ix_commit(x);
        if (cmp && (a & ZYDIS_ATTRIB_HAS_REPNE) && (ix_flags(x) & EFL_ZF))
            return INTERP_OK;
        if (cmp && !(a & ZYDIS_ATTRIB_HAS_REPNE) && !(ix_flags(x) & EFL_ZF))
            return INTERP_OK;
    }
}

/* IN acc, imm8/DX and OUT imm8/DX, acc. */
static int port_io(struct ix *x, bool in)
{
    const ZydisDecodedOperand *acc = &x->ops[in ? 0 : 1], *port = &x->ops[in ? 1 : 0];
    unsigned size = acc->size / 8;
    uint16_t p = port->type == ZYDIS_OPERAND_TYPE_IMMEDIATE ? (uint16_t)(port->imm.value.u & 0xff)
                                                             : (uint16_t)ix_gpr(x, R_EDX, 2);

    if (!io_allowed(x, p, size))
        return ix_gp0(x);
    STAT_INC(cpu_pio);
    if (in)
        ix_set_gpr(x, R_EAX, size, bus__pio_read(x->m, p, size));
    else
        bus__pio_write(x->m, p, size, ix_gpr(x, R_EAX, size));
    return INTERP_OK;
}

int ix_string(struct ix *x)
{
    struct str s;

    if (x->in->mnemonic == ZYDIS_MNEMONIC_IN)
        return port_io(x, true);
    if (x->in->mnemonic == ZYDIS_MNEMONIC_OUT)
        return port_io(x, false);
    if (x->in->meta.category != ZYDIS_CATEGORY_STRINGOP &&
        x->in->meta.category != ZYDIS_CATEGORY_IOSTRINGOP)
        return IX_NOT_MINE;
    if (!str_decode(x, &s))
        return IX_NOT_MINE;
    return string_insn(x, &s);
}
