/*
 * The LSI53C895A's SCRIPTS processor (Technical Manual chapter 6): it fetches two- or
 * three-dword instructions at DSP over the PCI bus and executes block moves, I/O
 * instructions (select, wait disconnect, wait reselect, set/clear, register moves and
 * read-modify-write), transfer control (jump, call, return, interrupt, with carry, phase
 * and data conditions) and memory moves (memory to memory, load and store).
 *
 * DMA: the chip reaches guest RAM and its own SCRIPTS RAM and registers (it decodes its
 * own BARs before going to the bus, which is how sym53c8xx runs SCRIPTS from on-chip RAM
 * and copies values into chip registers with memory moves). Anything else, including
 * an access that runs past the end of guest RAM or wraps at 4 GiB, is a bus fault:
 * DSTAT.BF and the processor halts. Data phases (block moves) reach guest RAM and SCRIPTS
 * RAM only, so data from a disk can never land in the register file; memory moves that do
 * write registers cannot start a second SCRIPTS run (a write to DSP just moves the next
 * fetch, as on the chip).
 *
 * Time: instructions run on the vCPU thread when the host starts the processor (a DSP
 * write, DCNTL.STD, ISTAT.SIGP during WAIT RESELECT) or when a target becomes ready. A run
 * ends when the processor halts (interrupt), waits for the bus, or has executed LSI_SLICE
 * instructions; then a virtual-time timer continues it a little later, so a SCRIPTS program
 * that loops forever costs the guest a share of the CPU but never stops it, and the host
 * can still abort it (ISTAT.ABRT) or reset the chip, as on the hardware.
 *
 * An instruction that needs the bus (a block move; a transfer control that tests the
 * phase or waits for it) while the target is connected but busy waits for REQ: the
 * processor stops with DSP at the instruction and runs it again when the target is ready.
 * After a selection timeout the first such instruction halts with SIST1.STO, DSP past it.
 */
#include <string.h>

#include "devices/lsi53c895a-internal.h"
#include "mmu-shadow/mem.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/timer.h"

#define LSI_SLICE 2000          /* instructions per run */
#define LSI_SLICE_GAP_NS 50000  /* virtual time between runs of a long program */
#define COPY_CHUNK 4096

static int32_t sext24(uint32_t v)
{
    return (int32_t)(v << 8) >> 8;
}

static bool master(const struct lsi *s)
{
    return s->f.config[PCI_COMMAND] & PCI_COMMAND_MASTER;
}

static bool in_bar(const struct lsi *s, int bar, uint32_t addr, uint32_t len, uint32_t *off)
{
    uint32_t base = s->f.bar[bar].mapped;

    if (base == PCI_BAR_UNMAPPED || addr < base || addr - base >= s->f.bar[bar].size ||
        len > s->f.bar[bar].size - (addr - base))
        return false;
    *off = addr - base;
    return true;
}

static bool in_ram(const struct lsi *s, uint32_t addr, uint32_t len)
{
    return master(s) && (uint64_t)addr + len <= s->m->ram_size;
}

/* Guest RAM and SCRIPTS RAM; registers too when regs is set. */
static int dma(struct lsi *s, uint32_t addr, void *buf, uint32_t len, bool write, bool regs)
{
    uint32_t off;

    if (!len)
        return 0;
    if ((uint64_t)addr + len > 1ull << 32)
        return -1;
    if (in_bar(s, 2, addr, len, &off)) {
        if (write)
            memcpy(s->ram + off, buf, len);
        else
            memcpy(buf, s->ram + off, len);
        return 0;
    }
    if (regs && in_bar(s, 1, addr, len, &off)) {
        for (uint32_t i = 0; i < len; i++) {
            if (write)
                lsi__reg_write(s, (off + i) & 0xff, ((uint8_t *)buf)[i]);
            else
                ((uint8_t *)buf)[i] = lsi__reg_read(s, (off + i) & 0xff);
        }
        return 0;
    }
    if (!in_ram(s, addr, len)) {
        guest_error("lsi53c895a: DMA %s of %u bytes at 0x%08x is not RAM: bus fault",
                    write ? "write" : "read", len, addr);
        return -1;
    }
    if (write)
        mem__phys_write_buf(s->m, addr, buf, len);
    else
        mem__phys_read_buf(s->m, addr, buf, len);
    return 0;
}

int lsi__dma_read(struct lsi *s, uint32_t addr, void *buf, uint32_t len)
{
    return dma(s, addr, buf, len, false, false);
}

int lsi__dma_write(struct lsi *s, uint32_t addr, const void *buf, uint32_t len)
{
    return dma(s, addr, (void *)buf, len, true, false);
}

static int read32(struct lsi *s, uint32_t addr, uint32_t *v)
{
    uint8_t b[4];

    if (dma(s, addr, b, 4, false, true))
        return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

static void bus_fault(struct lsi *s)
{
    lsi__dma_interrupt(s, LSI_DSTAT_BF);
}

static void illegal(struct lsi *s, const char *why)
{
    guest_error("lsi53c895a: illegal instruction at 0x%08x (%s)", s->dsp - 8, why);
    lsi__dma_interrupt(s, LSI_DSTAT_IID);
}

/* Can an instruction that needs the bus go on? If not, the processor halts (selection
 * timeout) or waits for REQ with DSP back at the instruction. */
static bool need_bus(struct lsi *s, uint32_t at)
{
    if (s->sto) {
        s->sto = false;
        lsi__scsi_interrupt(s, 0, LSI_SIST1_STO);
        return false;
    }
    if (s->phase >= 0)
        return true;
    s->dsp = at;
    s->wait = LSI_WAIT_REQ;
    return false;
}

/* Report the DMA FIFO as empty: drivers compute FIFO residue as (DFIFO - DBC) mod 128 (or
 * mod 1024 with the large FIFO, CTEST5 bits 1:0 above DFIFO). */
static void fifo_empty(struct lsi *s)
{
    s->dfifo = (uint8_t)s->dbc;
    s->ctest5 = (uint8_t)((s->ctest5 & ~3u) | ((s->dbc >> 8) & 3));
}

static void continue_move(struct lsi *s)
{
    int r = lsi__bus_move(s);

    fifo_empty(s);
    s->sbc = s->dbc;
    s->ua = s->dnad;
    if (r == 1) {
        s->wait = LSI_WAIT_REQ;
        return;
    }
    s->in_move = false;
    if (r == -1)
        bus_fault(s);
    else if (r == -2)
        lsi__scsi_interrupt(s, LSI_SIST0_MA, 0);
    else if (r == -3)
        lsi__scsi_interrupt(s, LSI_SIST0_UDC, 0);
}

/* The upper address bits of a table-indirect entry (40-bit and selector modes); nonzero
 * means above 4 GiB, where a 32-bit guest has no RAM. */
static uint32_t table_high(struct lsi *s, uint32_t d0)
{
    unsigned sel = d0 >> 24 & 0x1f;

    if ((s->ccntl1 & (LSI_CCNTL1_EN64TIBMV | LSI_CCNTL1_64TIMOD)) ==
        (LSI_CCNTL1_EN64TIBMV | LSI_CCNTL1_64TIMOD))
        return d0 >> 24;
    if (!(s->ccntl1 & LSI_CCNTL1_EN64TIBMV))
        return 0;
    if (sel < 8)
        return s->scratch[2 + sel];
    switch (sel) {
    case 0x10: return s->mmrs;
    case 0x11: return s->mmws;
    case 0x12: return s->sfs;
    case 0x13: return s->drs;
    case 0x14: return s->sbms;
    case 0x15: return s->dbms;
    default: return 0;
    }
}

static void block_move(struct lsi *s, uint32_t insn, uint32_t addr, uint32_t at)
{
    uint32_t count = insn & 0xffffff, high = 0;
    unsigned phase = insn >> 24 & 7;

    if (insn & (1u << 28)) { /* table indirect: count and address at DSA + offset */
        uint32_t d0, d1, t = s->dsa + (uint32_t)sext24(addr);
        if (read32(s, t, &d0) || read32(s, t + 4, &d1)) {
            bus_fault(s);
            return;
        }
        count = d0 & 0xffffff;
        addr = d1;
        high = table_high(s, d0);
    } else if (insn & (1u << 29)) { /* indirect: the address is at addr */
        if (read32(s, addr, &addr)) {
            bus_fault(s);
            return;
        }
    } else if (s->ccntl1 & LSI_CCNTL1_EN64DBMV) { /* a third dword: address bits 63:32 */
        if (read32(s, s->dsp, &high)) {
            bus_fault(s);
            return;
        }
        s->dsp += 4;
        s->dbms = high;
    }
    s->dbc = count;
    s->dnad = addr;
    s->dnad64 = high;
    if (!count) {
        illegal(s, "block move of 0 bytes");
        return;
    }
    if (!need_bus(s, at))
        return;
    s->ia = at;
    if (high) {
        guest_error("lsi53c895a: block move above 4 GiB (0x%x%08x)", high, addr);
        bus_fault(s);
        return;
    }
    if (s->phase != (int)phase) {
        fifo_empty(s);
        lsi__scsi_interrupt(s, LSI_SIST0_MA, 0);
        return;
    }
    s->in_move = true;
    continue_move(s);
}

static void io_insn(struct lsi *s, uint32_t insn, uint32_t addr)
{
    unsigned op = insn >> 27 & 7;
    uint32_t alt = insn & (1u << 26) ? s->dsp + (uint32_t)sext24(addr) : addr;
    uint32_t id = insn;

    switch (op) {
    case 0: /* SELECT */
        if (insn & (1u << 25)) { /* table indirect: ID, SCNTL3 and SXFER at DSA + offset */
            if (read32(s, s->dsa + (uint32_t)sext24(insn), &id)) {
                bus_fault(s);
                return;
            }
            s->scntl3 = (uint8_t)(id >> 24);
            s->sxfer = (uint8_t)(id >> 8);
        }
        id = id >> 16 & 0xf;
        if (s->target >= 0) { /* already connected (reselected): the alternate address */
            s->dsp = alt;
            return;
        }
        s->sdid = (uint8_t)id;
        s->sstat0 |= LSI_SSTAT0_WOA;
        if (lsi__bus_select(s, id, insn & (1u << 24)))
            s->sto = true; /* reported when SCRIPTS next need the bus */
        return;
    case 1: /* WAIT DISCONNECT */
        lsi__bus_disconnect(s);
        return;
    case 2: /* WAIT RESELECT: targets here never disconnect, so only SIGP ends the wait */
        if (s->target >= 0 || (s->istat & LSI_ISTAT_SIGP)) {
            s->dsp = alt;
            return;
        }
        s->waddr = alt;
        s->wait = LSI_WAIT_RESEL;
        return;
    case 3: /* SET */
    case 4: /* CLEAR */
        if (insn & (1u << 10))
            s->carry = op == 3;
        if (insn & (1u << 6))
            s->sbcl = op == 3 ? (s->sbcl | LSI_SBCL_ACK) : (s->sbcl & ~LSI_SBCL_ACK);
        if (insn & (1u << 3)) {
            if (op == 3) {
                s->socl |= LSI_SOCL_ATN;
                s->sbcl |= LSI_SBCL_ATN;
                lsi__bus_set_atn(s);
            } else {
                s->socl &= (uint8_t)~LSI_SOCL_ATN;
                s->sbcl &= (uint8_t)~LSI_SBCL_ATN;
            }
        }
        if (insn & (1u << 9))
            s->scntl0 = op == 3 ? (s->scntl0 | LSI_SCNTL0_TRG) : (s->scntl0 & ~LSI_SCNTL0_TRG);
        return;
    default: { /* 5: SFBR to register, 6: register to SFBR, 7: read-modify-write */
        unsigned reg = (insn >> 16 & 0x7f) | (insn & 0x80), oper = insn >> 24 & 7;
        uint8_t data = (uint8_t)(insn >> 8), a = 0, b = data, r;

        if (op == 5)
            a = s->sfbr;
        else if (oper) /* a plain move does not read the register (no read side effect) */
            a = lsi__reg_read(s, reg);
        if (op == 7 && (insn & (1u << 23)))
            b = s->sfbr;
        switch (oper) {
        case 0: r = b; break;
        case 1: r = (uint8_t)(a << 1 | s->carry); s->carry = a >> 7; break; /* SHL */
        case 2: r = a | b; break;
        case 3: r = a ^ b; break;
        case 4: r = a & b; break;
        case 5: r = (uint8_t)(a >> 1 | s->carry << 7); s->carry = a & 1; break; /* SHR */
        case 6: r = (uint8_t)(a + b); s->carry = r < a; break;
        default: { /* ADD with carry */
            unsigned sum = (unsigned)a + b + s->carry;
            r = (uint8_t)sum;
            s->carry = sum > 0xff;
            break;
        }
        }
        if (op == 6)
            s->sfbr = r;
        else
            lsi__reg_write(s, reg, r);
        return;
    }
    }
}

static void transfer_control(struct lsi *s, uint32_t insn, uint32_t addr, uint32_t at)
{
    unsigned op = insn >> 27 & 7;
    bool carry = insn & (1u << 21), data = insn & (1u << 18), phase = insn & (1u << 17);
    bool when = insn & (1u << 16), if_true = insn & (1u << 19), cond = true;
    uint8_t mask = (uint8_t)(insn >> 8);

    if (op > 3) {
        illegal(s, "reserved transfer control opcode");
        return;
    }
    if (carry && (data || phase)) {
        illegal(s, "carry test combined with a phase or data compare");
        return;
    }
    if ((phase || when) && !need_bus(s, at))
        return;
    if (carry)
        cond = s->carry;
    if (phase)
        cond = cond && s->phase == (int)(insn >> 24 & 7);
    if (data)
        cond = cond && ((s->sfbr ^ (uint8_t)insn) & ~mask) == 0;
    if (cond != if_true)
        return;
    if (insn & (1u << 23))
        addr = s->adder = s->dsp + (uint32_t)sext24(addr);
    switch (op) {
    case 0: s->dsp = addr; break;                    /* JUMP */
    case 1: s->temp = s->dsp; s->dsp = addr; break;  /* CALL */
    case 2: s->dsp = s->temp; break;                 /* RETURN */
    default:                                         /* INT, INTFLY */
        if (insn & (1u << 20)) {
            s->istat |= LSI_ISTAT_INTF;
            lsi__update_irq(s);
        } else {
            lsi__dma_interrupt(s, LSI_DSTAT_SIR);
        }
        break;
    }
}

static void memory_move(struct lsi *s, uint32_t insn, uint32_t addr)
{
    uint8_t buf[COPY_CHUNK];

    if (!(insn & (1u << 29))) { /* memory to memory: source addr, destination in dword 3 */
        uint32_t count = insn & 0xffffff, dst;
        if (read32(s, s->dsp, &dst)) {
            bus_fault(s);
            return;
        }
        s->dsp += 4;
        s->dnad = dst;
        while (count) {
            uint32_t n = count < COPY_CHUNK ? count : COPY_CHUNK;
            if (dma(s, addr, buf, n, false, true) || dma(s, dst, buf, n, true, true)) {
                bus_fault(s);
                return;
            }
            addr += n, dst += n, count -= n;
            s->dbc = count;
        }
        return;
    }
    { /* LOAD / STORE: 1-4 bytes between memory and registers, never across a dword */
        unsigned reg = insn >> 16 & 0x7f, n = insn & 7;
        uint32_t a = insn & (1u << 28) ? s->dsa + (uint32_t)sext24(addr) : addr;

        if (!n || n > 4 || (reg & 3) + n > 4) {
            illegal(s, "load/store count");
            return;
        }
        if (insn & (1u << 24)) {
            if (dma(s, a, buf, n, false, true)) {
                bus_fault(s);
                return;
            }
            for (unsigned i = 0; i < n; i++)
                lsi__reg_write(s, reg + i, buf[i]);
        } else {
            for (unsigned i = 0; i < n; i++)
                buf[i] = lsi__reg_read(s, reg + i);
            if (dma(s, a, buf, n, true, true))
                bus_fault(s);
        }
    }
}

static void step(struct lsi *s)
{
    uint32_t insn, addr, at = s->dsp;

    if (s->in_move) {
        continue_move(s);
        return;
    }
    if (read32(s, at, &insn) || read32(s, at + 4, &addr)) {
        s->dsp = at + 8;
        bus_fault(s);
        return;
    }
    s->dcmd = (uint8_t)(insn >> 24);
    s->dbc = insn & 0xffffff;
    s->dsps = addr;
    s->dsp = at + 8;
    switch (insn >> 30) {
    case 0: block_move(s, insn, addr, at); break;
    case 1: io_insn(s, insn, addr); break;
    case 2: transfer_control(s, insn, addr, at); break;
    default: memory_move(s, insn, addr); break;
    }
}

void lsi__scripts_run(struct lsi *s)
{
    int n;

    if (s->depth) /* a register write made by these SCRIPTS: the running loop goes on */
        return;
    s->depth++;
    for (n = 0; s->wait == LSI_RUNNING; n++) {
        if (n == LSI_SLICE) {
            timer__mod(s->run_timer, timers__now(s->m) + LSI_SLICE_GAP_NS);
            break;
        }
        step(s);
        if (s->wait == LSI_RUNNING && (s->dcntl & LSI_DCNTL_SSM))
            lsi__dma_interrupt(s, LSI_DSTAT_SSI);
    }
    s->depth--;
}

void lsi__scripts_start(struct lsi *s)
{
    if (s->wait != LSI_IDLE)
        return; /* running already: the new DSP is where it fetches next */
    s->in_move = false;
    s->wait = LSI_RUNNING;
    lsi__scripts_run(s);
}

void lsi__scripts_timer(struct machine *m, void *opaque)
{
    (void)m;
    lsi__scripts_run(opaque);
}
