/*
 * The two Intel 8259A programmable interrupt controllers of the PC/AT, as
 * the PIIX4 integrates them: the master at 0x20/0x21 takes IRQ 0-7, the
 * slave at 0xa0/0xa1 takes IRQ 8-15 and drives master IR2 with its INT
 * output. Register and command names follow the 8259A datasheet (ICW1-4,
 * OCW1-3, IRR, ISR, IMR); the PIIX4's ELCR1/ELCR2 at 0x4d0/0x4d1 choose
 * edge or level sensing per line, replacing ICW1.LTIM, which the PIIX4
 * ignores.
 *
 * The pair is the machine's interrupt input. Devices drive lines with
 * m->irq(m, line, level), only on change. The run loop asks
 * m->intr_pending() (the master's INT) and runs the INTA cycle with
 * m->intr_ack(), which returns the vector; when INT rises the vCPU is kicked
 * so a busy guest takes the interrupt at its next block boundary. Line
 * changes are also handed to an optional hook (the I/O APIC), which sees
 * lines 0-23; the 8259s see 0-15 except 2, which is the cascade input and
 * not an ISA line.
 *
 * Edge sensing: a rising edge sets the IRR bit, and the bit stays set until
 * INTA even if the line falls again first. The datasheet asks the line to
 * stay high until then (else the chip answers with IR7, spurious); devices
 * here change their lines in zero time, and guests tested under QEMU rely
 * on the latched edge, so the request is kept. Level sensing: IRR follows
 * the line. After ICW1 an edge line that is already high must fall and
 * rise again before it requests, as the datasheet's initialization says.
 *
 * Priority: fully nested, with rotation (automatic and specific), special
 * mask mode, special fully nested mode on the master, auto-EOI, and poll
 * mode. A request with nothing left at INTA gives the spurious IR7 vector of
 * the chip that lost it, without setting ISR.
 */
#include "devices/i8259.h"

#include <stdio.h>
#include <stdlib.h>

#include "devices/bus.h"
#include "monitor/log.h"
#include "monitor/machine.h"

#define NLINES 24
#define CASCADE_IR 2

#define ICW1_IC4 0x01  /* ICW4 needed */
#define ICW1_SNGL 0x02 /* single (no ICW3) */
#define ICW1_ADI 0x04  /* call address interval: 8080 only */
#define ICW1_LTIM 0x08 /* level triggered: ignored on the PIIX4, ELCR rules */
#define ICW1_SEL 0x10  /* D4=1 on port 0 identifies ICW1 */

#define ICW4_UPM 0x01 /* 8086 mode */
#define ICW4_AEOI 0x02
#define ICW4_MS 0x04
#define ICW4_BUF 0x08
#define ICW4_SFNM 0x10

#define OCW2_L 0x07
#define OCW2_EOI 0x20
#define OCW2_SL 0x40
#define OCW2_R 0x80

#define OCW3_RIS 0x01
#define OCW3_RR 0x02
#define OCW3_P 0x04
#define OCW3_SEL 0x08 /* D4=0 D3=1 on port 0 identifies OCW3 */
#define OCW3_SMM 0x20
#define OCW3_ESMM 0x40

/* ELCR bits that exist: IRQ0, 1, 2, 8 and 13 are always edge on the PIIX4. */
#define ELCR1_MASK 0xf8
#define ELCR2_MASK 0xde

struct pic_chip {
    struct i8259 *pair;
    const char *name;
    bool slave;
    uint8_t irr, isr, imr;
    uint8_t lines; /* IR input levels */
    uint8_t elcr, elcr_mask;
    uint8_t icw1, icw2, icw3, icw4; /* icw2 holds the vector base T7-T3 */
    int init_step;                  /* 0: operational; 2, 3, 4: the next port-1 write is that ICW */
    uint8_t prio;                   /* the IR with the highest priority (rotation moves it) */
    bool read_isr;                  /* OCW3 RR/RIS: port 0 reads ISR instead of IRR */
    bool poll;                      /* OCW3 P: the next read is a poll */
    bool special_mask;              /* OCW3 SMM */
    bool rotate_aeoi;               /* OCW2 R=1 SL=0 EOI=0: rotate in auto-EOI mode */
};

struct i8259 {
    struct machine *m;
    struct pic_chip chip[2];
    uint32_t levels; /* lines 0..23 as last driven */
    bool out;        /* master INT */
    void (*hook)(struct machine *m, int line, int level);
};

static struct i8259 *pic_of(struct machine *m)
{
    return m->pic;
}

/* ---- priority resolution ---- */

/* The highest-priority IR set in mask, or -1. */
static int highest(const struct pic_chip *c, uint8_t mask)
{
    for (int i = 0; i < 8; i++) {
        int ir = (c->prio + i) & 7;

        if (mask & (1u << ir))
            return ir;
    }
    return -1;
}

static int rank(const struct pic_chip *c, int ir)
{
    return (ir - c->prio) & 7;
}

/* The IR this chip would present at INTA, or -1. */
static int chip_request(const struct pic_chip *c)
{
    uint8_t in_service = c->isr;
    int ir = highest(c, c->irr & ~c->imr), cur;

    if (ir < 0)
        return -1;
    if (c->special_mask)
        in_service &= ~c->imr; /* a masked level in service blocks nothing */
    if (!c->slave && (c->icw4 & ICW4_SFNM))
        in_service &= ~(1u << CASCADE_IR); /* the slave may nest above its own level */
    cur = highest(c, in_service);
    if (cur >= 0 && rank(c, ir) >= rank(c, cur))
        return -1;
    return ir;
}

static bool cascaded(const struct pic_chip *master)
{
    return !(master->icw1 & ICW1_SNGL);
}

static void chip_input(struct pic_chip *c, int ir, int level)
{
    uint8_t bit = (uint8_t)(1u << ir);

    if (c->elcr & bit) {
        if (level)
            c->irr |= bit;
        else
            c->irr &= ~bit;
    } else if (level && !(c->lines & bit)) {
        c->irr |= bit;
    }
    if (level)
        c->lines |= bit;
    else
        c->lines &= ~bit;
}

/* The master's IR2 request is the slave's INT as it is now: the cascade is wired inside the
 * PIIX4, so there is no pulse to latch, and a slave request that vanishes before INTA
 * leaves the master nothing to give but its own IR7, as on the chips. Then the master's
 * INT goes to the CPU. */
static void update(struct i8259 *p)
{
    struct pic_chip *master = &p->chip[0];
    uint8_t bit = 1u << CASCADE_IR;
    bool out;

    if (cascaded(master) && chip_request(&p->chip[1]) >= 0) {
        master->irr |= bit;
        master->lines |= bit;
    } else {
        master->irr &= (uint8_t)~bit;
        master->lines &= (uint8_t)~bit;
    }
    out = chip_request(master) >= 0;
    if (out && !p->out)
        machine__kick(p->m);
    p->out = out;
}

/* INTA (or a poll) for IR ir of chip c. */
static void chip_ack(struct pic_chip *c, int ir)
{
    uint8_t bit = (uint8_t)(1u << ir);

    if (!(c->elcr & bit))
        c->irr &= ~bit; /* the edge is consumed; a level request stays while the line is high */
    if (c->icw4 & ICW4_AEOI) {
        if (c->rotate_aeoi)
            c->prio = (uint8_t)((ir + 1) & 7);
    } else {
        c->isr |= bit;
    }
}

/* ---- the CPU side ---- */

bool i8259__pending(struct machine *m)
{
    struct i8259 *p = pic_of(m);

    return p && p->out;
}

int i8259__ack(struct machine *m)
{
    struct i8259 *p = pic_of(m);
    struct pic_chip *master = &p->chip[0], *slave = &p->chip[1];
    int ir = chip_request(master), vector;

    if (ir < 0) {
        LOG(DEV, 2, "i8259: INTA with no request: spurious IRQ7");
        vector = (master->icw2 & 0xf8) | 7;
    } else {
        chip_ack(master, ir);
        if (ir == CASCADE_IR && cascaded(master)) {
            int sir = chip_request(slave);

            if (sir < 0) {
                LOG(DEV, 2, "i8259: slave INTA with no request: spurious IRQ15");
                vector = (slave->icw2 & 0xf8) | 7;
            } else {
                chip_ack(slave, sir);
                vector = (slave->icw2 & 0xf8) | sir;
            }
        } else {
            vector = (master->icw2 & 0xf8) | ir;
        }
    }
    update(p);
    return vector;
}

static bool pic_intr_pending(struct machine *m)
{
    return i8259__pending(m);
}

static int pic_intr_ack(struct machine *m)
{
    return i8259__ack(m);
}

static void pic_set_irq(struct machine *m, int line, int level)
{
    struct i8259 *p = pic_of(m);

    if (line < 0 || line >= NLINES) {
        LOG(DEV, 1, "i8259: a device drove IRQ line %d, which does not exist", line);
        return;
    }
    level = level ? 1 : 0;
    if (level)
        p->levels |= 1u << line;
    else
        p->levels &= ~(1u << line);
    if (p->hook)
        p->hook(m, line, level);
    if (line >= 16 || line == CASCADE_IR)
        return;
    chip_input(&p->chip[line >> 3], line & 7, level);
    update(p);
}

void i8259__set_ioapic_hook(struct machine *m, void (*hook)(struct machine *m, int line, int level))
{
    struct i8259 *p = pic_of(m);

    if (!p)
        return;
    p->hook = hook;
    for (int line = 0; hook && line < NLINES; line++)
        if (p->levels & (1u << line))
            hook(m, line, 1);
}

int i8259__line(struct machine *m, int line)
{
    struct i8259 *p = pic_of(m);

    if (!p || line < 0 || line >= NLINES)
        return 0;
    return (p->levels >> line) & 1;
}

/* ---- registers ---- */

/* ICW1: the datasheet's initialization: edge sense reset, IMR cleared, IR7 lowest, special
 * mask mode off, status read set to IRR, and without IC4 every ICW4 function cleared. ISR
 * is cleared too, so a re-initialization never leaves a level stuck in service. */
static void write_icw1(struct pic_chip *c, uint8_t v)
{
    if (v & ICW1_LTIM)
        LOG(DEV, 2, "i8259 %s: ICW1.LTIM ignored (ELCR selects level sensing)", c->name);
    c->icw1 = v;
    c->irr &= c->elcr & c->lines;
    c->isr = 0;
    c->imr = 0;
    c->prio = 0;
    c->read_isr = false;
    c->poll = false;
    c->special_mask = false;
    c->rotate_aeoi = false;
    c->icw3 = 0;
    if (!(v & ICW1_IC4))
        c->icw4 = 0;
    c->init_step = 2;
}

static void write_ocw2(struct pic_chip *c, uint8_t v)
{
    int ir = v & OCW2_L, top;
    uint8_t in_service = c->special_mask ? (uint8_t)(c->isr & ~c->imr) : c->isr;

    switch (v & (OCW2_R | OCW2_SL | OCW2_EOI)) {
    case OCW2_EOI:          /* non-specific EOI */
    case OCW2_R | OCW2_EOI: /* rotate on non-specific EOI */
        /* In special mask mode a masked in-service level is not the one ended. */
        top = highest(c, in_service);
        if (top < 0)
            break;
        c->isr &= (uint8_t) ~(1u << top);
        if (v & OCW2_R)
            c->prio = (uint8_t)((top + 1) & 7);
        break;
    case OCW2_SL | OCW2_EOI:          /* specific EOI */
    case OCW2_R | OCW2_SL | OCW2_EOI: /* rotate on specific EOI */
        c->isr &= (uint8_t) ~(1u << ir);
        if (v & OCW2_R)
            c->prio = (uint8_t)((ir + 1) & 7);
        break;
    case OCW2_R | OCW2_SL: /* set priority: IR L becomes the lowest */
        c->prio = (uint8_t)((ir + 1) & 7);
        break;
    case OCW2_R: /* rotate in automatic EOI mode (set) */
        c->rotate_aeoi = true;
        break;
    case 0: /* rotate in automatic EOI mode (clear) */
        c->rotate_aeoi = false;
        break;
    case OCW2_SL: /* no operation */
        break;
    }
}

static void write_ocw3(struct pic_chip *c, uint8_t v)
{
    if (v & 0x80)
        guest_error("i8259 %s: OCW3 0x%02x has reserved bit 7 set", c->name, v);
    if (v & OCW3_ESMM)
        c->special_mask = (v & OCW3_SMM) != 0;
    if (v & OCW3_P)
        c->poll = true;
    if (v & OCW3_RR)
        c->read_isr = (v & OCW3_RIS) != 0;
}

static void write_data(struct pic_chip *c, uint8_t v)
{
    switch (c->init_step) {
    case 2: /* ICW2: vector base T7-T3 (A10-A8 matter only to an 8080) */
        c->icw2 = v & 0xf8;
        c->init_step = (c->icw1 & ICW1_SNGL) ? ((c->icw1 & ICW1_IC4) ? 4 : 0) : 3;
        break;
    case 3: /* ICW3: master: which IRs have slaves; slave: its ID */
        c->icw3 = v;
        if (c->slave ? (v & 7) != CASCADE_IR : !(v & (1u << CASCADE_IR)))
            guest_error("i8259 %s: ICW3 0x%02x does not match the PC's cascade on IR2", c->name, v);
        c->init_step = (c->icw1 & ICW1_IC4) ? 4 : 0;
        break;
    case 4: /* ICW4 */
        c->icw4 = v & 0x1f;
        if (!(v & ICW4_UPM))
            guest_error("i8259 %s: ICW4 selects 8080 mode; the PC only has 8086 mode", c->name);
        c->init_step = 0;
        break;
    default: /* OCW1 */
        c->imr = v;
        break;
    }
}

/* A poll read: the INTA cycle without the vector, as the datasheet's poll command. */
static uint8_t poll_read(struct pic_chip *c)
{
    int ir = chip_request(c);

    c->poll = false;
    if (ir < 0)
        return 0;
    chip_ack(c, ir);
    return (uint8_t)(0x80 | ir);
}

static uint8_t read_reg(struct pic_chip *c, uint32_t offset)
{
    uint8_t v;

    if (c->poll) {
        v = poll_read(c);
        update(c->pair);
        return v;
    }
    if (offset & 1)
        return c->imr;                    /* OCW1 */
    return c->read_isr ? c->isr : c->irr; /* OCW3-selected status */
}

static void write_reg(struct pic_chip *c, uint32_t offset, uint8_t v)
{
    if (offset & 1)
        write_data(c, v);
    else if (v & ICW1_SEL)
        write_icw1(c, v);
    else if (v & OCW3_SEL)
        write_ocw3(c, v);
    else
        write_ocw2(c, v);
    update(c->pair);
}

/* 8-bit ISA registers: a wider access is a run of byte accesses, as the bus splits it. */
static uint32_t pic_read(void *opaque, uint32_t offset, unsigned size)
{
    uint32_t v = 0;

    for (unsigned i = 0; i < size && offset + i < 2; i++)
        v |= (uint32_t)read_reg(opaque, offset + i) << (8 * i);
    return v;
}

static void pic_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    for (unsigned i = 0; i < size && offset + i < 2; i++)
        write_reg(opaque, offset + i, (uint8_t)(value >> (8 * i)));
}

/* ELCR1 (0x4d0) and ELCR2 (0x4d1). */
static uint32_t elcr_read(void *opaque, uint32_t offset, unsigned size)
{
    struct i8259 *p = opaque;
    uint32_t v = 0;

    for (unsigned i = 0; i < size && offset + i < 2; i++)
        v |= (uint32_t)p->chip[offset + i].elcr << (8 * i);
    return v;
}

static void elcr_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct i8259 *p = opaque;

    for (unsigned i = 0; i < size && offset + i < 2; i++) {
        struct pic_chip *c = &p->chip[offset + i];
        uint8_t v = (uint8_t)(value >> (8 * i));

        if (v & ~c->elcr_mask)
            guest_error("i8259: ELCR%u 0x%02x sets reserved bits (IRQ 0-2, 8, 13 are edge)",
                        offset + i + 1, v);
        c->elcr = v & c->elcr_mask;
        /* A line that becomes level-sensed requests exactly while it is high. */
        c->irr = (uint8_t)((c->irr & ~c->elcr) | (c->lines & c->elcr));
    }
    update(p);
}

static void chip_reset(struct pic_chip *c)
{
    c->irr = c->elcr & c->lines;
    c->isr = 0;
    /* Until the first ICW1 the chip has no vector base to give: requests stay masked (ICW1
     * clears the mask), so a guest that enables interrupts before programming the PIC —
     * a Multiboot kernel started without firmware — sees none rather than vector 0. */
    c->imr = 0xff;
    c->icw1 = 0;
    c->icw2 = 0;
    c->icw3 = 0;
    c->icw4 = 0;
    c->init_step = 0;
    c->prio = 0;
    c->read_isr = false;
    c->poll = false;
    c->special_mask = false;
    c->rotate_aeoi = false;
}

/* The input levels are wires, not registers: they survive reset. */
static void pic_reset(void *opaque)
{
    struct i8259 *p = opaque;

    for (int i = 0; i < 2; i++) {
        p->chip[i].elcr = 0;
        chip_reset(&p->chip[i]);
    }
    update(p);
}

static void chip_dump(const struct pic_chip *c, FILE *f)
{
    fprintf(f,
            "i8259 %s: IRR=%02x ISR=%02x IMR=%02x ELCR=%02x lines=%02x base=%02x ICW1=%02x "
            "ICW3=%02x ICW4=%02x init=%d prio=%d%s%s%s\n",
            c->name, c->irr, c->isr, c->imr, c->elcr, c->lines, c->icw2, c->icw1, c->icw3, c->icw4,
            c->init_step, c->prio, c->read_isr ? " read-ISR" : "", c->special_mask ? " SMM" : "",
            c->poll ? " poll" : "");
}

static void pic_dump(void *opaque, FILE *f)
{
    struct i8259 *p = opaque;

    chip_dump(&p->chip[0], f);
    chip_dump(&p->chip[1], f);
    fprintf(f, "i8259: INT=%d lines=%06x\n", p->out, p->levels);
}

/* The chip ranges carry the chip as opaque; reset and dump go through the ELCR range,
 * whose opaque is the pair. */
static const struct device_ops pic_chip_ops = {
    .name = "i8259",
    .read = pic_read,
    .write = pic_write,
};

static const struct device_ops pic_elcr_ops = {
    .name = "i8259-elcr",
    .reset = pic_reset,
    .read = elcr_read,
    .write = elcr_write,
    .dump = pic_dump,
};

int i8259__create(struct machine *m, char *err, size_t errlen)
{
    struct i8259 *p = calloc(1, sizeof(*p));

    if (!p) {
        snprintf(err, errlen, "out of memory creating the 8259 interrupt controllers");
        return -1;
    }
    p->m = m;
    p->chip[0].pair = p->chip[1].pair = p;
    p->chip[0].name = "master";
    p->chip[0].elcr_mask = ELCR1_MASK;
    p->chip[1].name = "slave";
    p->chip[1].slave = true;
    p->chip[1].elcr_mask = ELCR2_MASK;
    m->pic = p;
    if (bus__claim_pio(m, 0x20, 2, &pic_chip_ops, &p->chip[0]) ||
        bus__claim_pio(m, 0xa0, 2, &pic_chip_ops, &p->chip[1]) ||
        bus__claim_pio(m, 0x4d0, 2, &pic_elcr_ops, p)) {
        snprintf(err, errlen, "i8259: ports 0x20-0x21, 0xa0-0xa1 or 0x4d0-0x4d1 are taken");
        return -1;
    }
    pic_reset(p);
    m->irq = pic_set_irq;
    m->intr_pending = pic_intr_pending;
    m->intr_ack = pic_intr_ack;
    return 0;
}

static void irq_none(struct machine *m, int line, int level)
{
    (void)m, (void)line, (void)level;
}

void i8259__destroy(struct machine *m)
{
    if (!m->pic)
        return;
    if (m->irq == pic_set_irq)
        m->irq = irq_none; /* devices destroyed after us may still drop their lines */
    if (m->intr_pending == pic_intr_pending) {
        m->intr_pending = NULL;
        m->intr_ack = NULL;
    }
    free(m->pic);
    m->pic = NULL;
}
