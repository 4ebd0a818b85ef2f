/*
 * The Intel 8042 keyboard controller of the PC/AT (the PS/2 version, with
 * an auxiliary port), with an MF2 keyboard on its first port (IRQ 1) and a
 * PS/2 mouse on the auxiliary port (IRQ 12). Port 0x60 is the data port,
 * 0x64 the status register (read) and command register (write). Names
 * follow the usual 8042 documentation: the controller command byte (CCB,
 * RAM byte 0: INT, INT2, SYS, EN, EN2, XLAT), the status register (OBF,
 * IBF, SYS, A2, INH, AUXB), the output port (system reset, A20 gate).
 *
 * Bytes for the host wait in three small queues: the controller's own
 * answers (command results and the 0xd2/0xd3 echoes, each tagged keyboard
 * or auxiliary), the keyboard's and the mouse's. Whenever the output buffer
 * is empty the next byte moves in, controller answers first, device bytes
 * only while that port's clock is enabled (CCB EN/EN2 clear), and IRQ 1 or
 * IRQ 12 follows "output buffer full with data from that port" gated by
 * CCB INT/INT2. Reading port 0x60 empties the buffer, which drops the line
 * before the next byte raises it again: an edge per byte.
 *
 * Nothing is typed: no host keyboard or mouse input is wired yet, so the
 * devices only answer commands, enough for BIOS POST, Linux's i8042 probe
 * (self-test, CCB, the 0xd3 loopback and its IRQ 12 test) and the atkbd and
 * psmouse drivers (reset, identify, LEDs, scancode set, typematic, enable).
 * As in QEMU, sending a byte to a device re-enables its port.
 *
 * The output port: bit 0 low resets the system (also the 0xfe pulse), and
 * bit 1 is the A20 gate, combined with port 0x92 by port92.c.
 */
#include "devices/i8042.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "devices/bus.h"
#include "devices/port92.h"
#include "monitor/log.h"
#include "monitor/machine.h"

/* Status register. */
#define STAT_OBF 0x01
#define STAT_IBF 0x02
#define STAT_SYS 0x04
#define STAT_A2 0x08  /* last write went to the command register */
#define STAT_INH 0x10 /* 1: keyboard not inhibited (keylock open) */
#define STAT_AUXB 0x20

/* Controller command byte. */
#define CCB_INT 0x01
#define CCB_INT2 0x02
#define CCB_SYS 0x04
#define CCB_EN 0x10  /* 1: keyboard clock disabled */
#define CCB_EN2 0x20 /* 1: auxiliary clock disabled */
#define CCB_XLAT 0x40

/* Output port. */
#define OUT_SYSRESET 0x01 /* active low */
#define OUT_A20 0x02
#define OUT_OBF 0x10
#define OUT_AUXOBF 0x20

/* Controller commands. */
#define CMD_READ_RAM 0x20  /* 0x20-0x3f */
#define CMD_WRITE_RAM 0x60 /* 0x60-0x7f */
#define CMD_PASSWORD_TEST 0xa4
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_AUX_TEST 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_INPUT 0xc0
#define CMD_READ_OUTPUT 0xd0
#define CMD_WRITE_OUTPUT 0xd1
#define CMD_WRITE_KBD_OBUF 0xd2
#define CMD_WRITE_AUX_OBUF 0xd3
#define CMD_WRITE_AUX 0xd4
#define CMD_A20_OFF 0xdd
#define CMD_A20_ON 0xdf
#define CMD_READ_TEST 0xe0
#define CMD_PULSE 0xf0 /* 0xf0-0xff: pulse output port bits 3-0 that are 0 */

/* Keyboard and mouse answers. */
#define DEV_ACK 0xfa
#define DEV_RESEND 0xfe
#define DEV_BAT_OK 0xaa

#define QSIZE 16
#define Q_AUX 0x100 /* controller queue entries: this byte is from the auxiliary port */

struct queue {
    uint16_t b[QSIZE];
    unsigned head, n;
};

struct i8042 {
    struct machine *m;
    uint8_t ram[32]; /* ram[0] is the CCB */
    uint8_t status;  /* SYS and A2; OBF, AUXB, INH are computed */
    uint8_t outport;
    uint8_t cmd; /* controller command waiting for its data byte, 0 if none */
    bool obf;
    uint8_t obuf;
    bool obuf_aux;
    struct queue ctrl, kbd, aux;
    int irq1, irq12;

    uint8_t kbd_cmd; /* keyboard command waiting for its argument */
    uint8_t kbd_last;
    uint8_t kbd_set; /* scancode set 1-3 */
    bool kbd_scanning;
    uint8_t kbd_leds, kbd_typematic;

    uint8_t aux_cmd;
    uint8_t aux_last;
    uint8_t aux_rate, aux_resolution;
    bool aux_scaling21, aux_enabled, aux_remote, aux_wrap;
};

static void push(struct queue *q, uint16_t v)
{
    if (q->n == QSIZE) {
        LOG(DEV, 1, "i8042: output queue full; byte 0x%02x dropped", v & 0xff);
        return;
    }
    q->b[(q->head + q->n++) % QSIZE] = v;
}

static uint16_t pop(struct queue *q)
{
    uint16_t v = q->b[q->head];

    q->head = (q->head + 1) % QSIZE;
    q->n--;
    return v;
}

static void update_irq(struct i8042 *k)
{
    uint8_t ccb = k->ram[0];
    int irq1 = k->obf && !k->obuf_aux && (ccb & CCB_INT);
    int irq12 = k->obf && k->obuf_aux && (ccb & CCB_INT2);

    if (irq1 != k->irq1) {
        k->irq1 = irq1;
        k->m->irq(k->m, 1, irq1);
    }
    if (irq12 != k->irq12) {
        k->irq12 = irq12;
        k->m->irq(k->m, 12, irq12);
    }
}

/* Move the next byte into an empty output buffer. */
static void refill(struct i8042 *k)
{
    uint16_t v;

    if (k->obf)
        return;
    if (k->ctrl.n)
        v = pop(&k->ctrl);
    else if (k->kbd.n && !(k->ram[0] & CCB_EN))
        v = pop(&k->kbd);
    else if (k->aux.n && !(k->ram[0] & CCB_EN2))
        v = pop(&k->aux) | Q_AUX;
    else
        return;
    k->obf = true;
    k->obuf = (uint8_t)v;
    k->obuf_aux = v & Q_AUX;
    update_irq(k);
}

static void answer(struct i8042 *k, uint8_t v)
{
    push(&k->ctrl, v);
    refill(k);
}

static void kbd_send(struct i8042 *k, uint8_t v)
{
    k->kbd_last = v;
    push(&k->kbd, v);
}

static void aux_send(struct i8042 *k, uint8_t v)
{
    k->aux_last = v;
    push(&k->aux, v);
}

static void write_outport(struct i8042 *k, uint8_t v)
{
    k->outport = v;
    port92__kbc_a20(k->m, v & OUT_A20);
    if (!(v & OUT_SYSRESET)) {
        LOG(DEV, 1, "i8042: system reset through the output port");
        machine__request(k->m, REQ_RESET, 0);
    }
}

/* ---- the keyboard ---- */

static void kbd_defaults(struct i8042 *k)
{
    k->kbd_typematic = 0x2b; /* 10.9 characters/s after 500 ms */
    k->kbd_leds = 0;
}

static void kbd_command(struct i8042 *k, uint8_t v)
{
    /* The set 2 codes 1, 2, 3 as the controller's translation presents them. */
    static const uint8_t xlat_set[4] = {0, 0x43, 0x41, 0x3f};
    uint8_t arg_of = k->kbd_cmd;

    k->kbd_cmd = 0;
    switch (arg_of) {
    case 0xed: /* set LEDs: the argument */
        k->kbd_leds = v & 7;
        kbd_send(k, DEV_ACK);
        return;
    case 0xf3: /* set typematic rate/delay: the argument */
        k->kbd_typematic = v & 0x7f;
        kbd_send(k, DEV_ACK);
        return;
    case 0xf0: /* select scancode set: the argument */
        if (v > 3) {
            kbd_send(k, DEV_RESEND);
            return;
        }
        kbd_send(k, DEV_ACK);
        if (v == 0)
            kbd_send(k, (k->ram[0] & CCB_XLAT) ? xlat_set[k->kbd_set] : k->kbd_set);
        else
            k->kbd_set = v;
        return;
    }
    switch (v) {
    case 0xed: /* set LEDs */
    case 0xf3: /* set typematic rate/delay */
    case 0xf0: /* select scancode set */
        kbd_send(k, DEV_ACK);
        k->kbd_cmd = v;
        break;
    case 0xee: /* echo */
        kbd_send(k, 0xee);
        break;
    case 0xf2: /* identify: MF2 keyboard */
        kbd_send(k, DEV_ACK);
        kbd_send(k, 0xab);
        kbd_send(k, (k->ram[0] & CCB_XLAT) ? 0x41 : 0x83);
        break;
    case 0xf4: /* enable scanning */
        k->kbd_scanning = true;
        kbd_send(k, DEV_ACK);
        break;
    case 0xf5: /* disable scanning and set defaults */
        k->kbd_scanning = false;
        kbd_defaults(k);
        kbd_send(k, DEV_ACK);
        break;
    case 0xf6: /* set defaults */
        kbd_defaults(k);
        kbd_send(k, DEV_ACK);
        break;
    case 0xf7: /* set 3 key modes: all typematic, make/break, make only, all */
    case 0xf8:
    case 0xf9:
    case 0xfa:
    case 0xfb:
    case 0xfc:
    case 0xfd:
        kbd_send(k, DEV_ACK);
        break;
    case 0xfe: /* resend */
        push(&k->kbd, k->kbd_last);
        break;
    case 0xff: /* reset and basic assurance test */
        k->kbd_set = 2;
        k->kbd_scanning = true;
        kbd_defaults(k);
        kbd_send(k, DEV_ACK);
        kbd_send(k, DEV_BAT_OK);
        break;
    default:
        guest_error("i8042: unknown keyboard command 0x%02x", v);
        kbd_send(k, DEV_RESEND);
        break;
    }
}

/* ---- the mouse ---- */

static void aux_defaults(struct i8042 *k)
{
    k->aux_rate = 100;
    k->aux_resolution = 2; /* 4 counts/mm */
    k->aux_scaling21 = false;
    k->aux_enabled = false;
    k->aux_remote = false;
}

static void aux_command(struct i8042 *k, uint8_t v)
{
    uint8_t arg_of = k->aux_cmd;

    k->aux_cmd = 0;
    if (k->aux_wrap && v != 0xec && v != 0xff) {
        aux_send(k, v); /* wrap mode echoes everything but "reset wrap" and "reset" */
        return;
    }
    switch (arg_of) {
    case 0xe8: /* set resolution: the argument */
        k->aux_resolution = v & 3;
        aux_send(k, DEV_ACK);
        return;
    case 0xf3: /* set sample rate: the argument */
        k->aux_rate = v;
        aux_send(k, DEV_ACK);
        return;
    }
    switch (v) {
    case 0xe6: /* scaling 1:1 */
    case 0xe7: /* scaling 2:1 */
        k->aux_scaling21 = v == 0xe7;
        aux_send(k, DEV_ACK);
        break;
    case 0xe8: /* set resolution */
    case 0xf3: /* set sample rate */
        aux_send(k, DEV_ACK);
        k->aux_cmd = v;
        break;
    case 0xe9: /* status request */
        aux_send(k, DEV_ACK);
        aux_send(k, (uint8_t)((k->aux_remote ? 0x40 : 0) | (k->aux_enabled ? 0x20 : 0) |
                              (k->aux_scaling21 ? 0x10 : 0)));
        aux_send(k, k->aux_resolution);
        aux_send(k, k->aux_rate);
        break;
    case 0xea: /* set stream mode */
    case 0xf0: /* set remote mode */
        k->aux_remote = v == 0xf0;
        aux_send(k, DEV_ACK);
        break;
    case 0xeb: /* read data: no movement, no buttons */
        aux_send(k, DEV_ACK);
        aux_send(k, 0x08);
        aux_send(k, 0);
        aux_send(k, 0);
        break;
    case 0xec: /* reset wrap mode */
    case 0xee: /* set wrap mode */
        k->aux_wrap = v == 0xee;
        aux_send(k, DEV_ACK);
        break;
    case 0xf2: /* get device ID: a standard PS/2 mouse */
        aux_send(k, DEV_ACK);
        aux_send(k, 0x00);
        break;
    case 0xf4: /* enable data reporting */
    case 0xf5: /* disable data reporting */
        k->aux_enabled = v == 0xf4;
        aux_send(k, DEV_ACK);
        break;
    case 0xf6: /* set defaults */
        aux_defaults(k);
        aux_send(k, DEV_ACK);
        break;
    case 0xfe: /* resend */
        push(&k->aux, k->aux_last);
        break;
    case 0xff: /* reset: self-test passed, device ID 0 */
        aux_defaults(k);
        k->aux_wrap = false;
        aux_send(k, DEV_ACK);
        aux_send(k, DEV_BAT_OK);
        aux_send(k, 0x00);
        break;
    default:
        guest_error("i8042: unknown mouse command 0x%02x", v);
        aux_send(k, DEV_RESEND);
        break;
    }
}

/* ---- the controller ---- */

static void write_ccb(struct i8042 *k, uint8_t v)
{
    k->ram[0] = v;
    k->status = (uint8_t)((k->status & ~STAT_SYS) | (v & CCB_SYS));
}

static void controller_command(struct i8042 *k, uint8_t v)
{
    if (v >= CMD_READ_RAM && v < CMD_READ_RAM + 32) {
        answer(k, k->ram[v - CMD_READ_RAM]);
        return;
    }
    if ((v >= CMD_WRITE_RAM && v < CMD_WRITE_RAM + 32) || v == CMD_WRITE_OUTPUT ||
        v == CMD_WRITE_KBD_OBUF || v == CMD_WRITE_AUX_OBUF || v == CMD_WRITE_AUX) {
        k->cmd = v; /* the data byte follows on port 0x60 */
        return;
    }
    if (v >= CMD_PULSE) {
        if (!(v & OUT_SYSRESET)) {
            LOG(DEV, 1, "i8042: system reset (command 0x%02x)", v);
            machine__request(k->m, REQ_RESET, 0);
        }
        return;
    }
    switch (v) {
    case CMD_PASSWORD_TEST:
        answer(k, 0xf1); /* no password installed */
        break;
    case CMD_AUX_DISABLE:
        k->ram[0] |= CCB_EN2;
        break;
    case CMD_AUX_ENABLE:
        k->ram[0] &= (uint8_t)~CCB_EN2;
        break;
    case CMD_AUX_TEST:
    case CMD_KBD_TEST:
        answer(k, 0x00); /* no clock or data line stuck */
        break;
    case CMD_SELF_TEST:
        k->status |= STAT_SYS;
        answer(k, 0x55);
        break;
    case CMD_KBD_DISABLE:
        k->ram[0] |= CCB_EN;
        break;
    case CMD_KBD_ENABLE:
        k->ram[0] &= (uint8_t)~CCB_EN;
        break;
    case CMD_READ_INPUT:
        answer(k, 0x80); /* keyboard not inhibited */
        break;
    case CMD_READ_OUTPUT:
        answer(k, (uint8_t)((k->outport & ~(OUT_OBF | OUT_AUXOBF)) |
                            (k->obf && !k->obuf_aux ? OUT_OBF : 0) |
                            (k->obf && k->obuf_aux ? OUT_AUXOBF : 0)));
        break;
    case CMD_A20_OFF:
        write_outport(k, k->outport & (uint8_t)~OUT_A20);
        break;
    case CMD_A20_ON:
        write_outport(k, k->outport | OUT_A20);
        break;
    case CMD_READ_TEST:
        answer(k, 0x00);
        break;
    default:
        guest_error("i8042: unknown controller command 0x%02x", v);
        break;
    }
}

static void write_data(struct i8042 *k, uint8_t v)
{
    uint8_t cmd = k->cmd;

    k->cmd = 0;
    if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + 32) {
        if (cmd == CMD_WRITE_RAM)
            write_ccb(k, v);
        else
            k->ram[cmd - CMD_WRITE_RAM] = v;
        return;
    }
    switch (cmd) {
    case CMD_WRITE_OUTPUT:
        write_outport(k, v);
        break;
    case CMD_WRITE_KBD_OBUF:
        answer(k, v);
        break;
    case CMD_WRITE_AUX_OBUF: /* as if the mouse sent it: AUXB and IRQ 12 */
        push(&k->ctrl, v | Q_AUX);
        break;
    case CMD_WRITE_AUX:
        k->ram[0] &= (uint8_t)~CCB_EN2;
        aux_command(k, v);
        break;
    default:
        k->ram[0] &= (uint8_t)~CCB_EN;
        kbd_command(k, v);
        break;
    }
}

static uint32_t status_read(void *opaque, uint32_t offset, unsigned size)
{
    struct i8042 *k = opaque;

    (void)offset, (void)size;
    return k->status | STAT_INH | (k->obf ? STAT_OBF : 0) | (k->obf && k->obuf_aux ? STAT_AUXB : 0);
}

static void command_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct i8042 *k = opaque;

    (void)offset, (void)size;
    k->status |= STAT_A2;
    controller_command(k, (uint8_t)value);
    refill(k);
    update_irq(k);
}

/* The data port: an empty buffer reads its last byte again, as the chip does. */
static uint32_t data_read(void *opaque, uint32_t offset, unsigned size)
{
    struct i8042 *k = opaque;
    uint8_t v = k->obuf;

    (void)offset, (void)size;
    k->obf = false;
    update_irq(k);
    refill(k);
    return v;
}

static void data_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct i8042 *k = opaque;

    (void)offset, (void)size;
    k->status &= (uint8_t)~STAT_A2;
    write_data(k, (uint8_t)value);
    refill(k);
    update_irq(k);
}

static void kbc_reset(void *opaque)
{
    struct i8042 *k = opaque;

    for (int i = 0; i < 32; i++)
        k->ram[i] = 0;
    k->ram[0] = CCB_INT | CCB_INT2;
    k->status = 0;
    k->cmd = 0;
    k->obf = false;
    k->obuf = 0;
    k->obuf_aux = false;
    k->ctrl.n = k->kbd.n = k->aux.n = 0;
    k->kbd_cmd = 0;
    k->kbd_last = 0;
    k->kbd_set = 2;
    k->kbd_scanning = true;
    kbd_defaults(k);
    k->aux_cmd = 0;
    k->aux_last = 0;
    k->aux_wrap = false;
    aux_defaults(k);
    /* Not through write_outport: the reset line must not fire at reset. */
    k->outport = OUT_SYSRESET | OUT_A20;
    port92__kbc_a20(k->m, true);
    update_irq(k);
}

static void kbc_dump(void *opaque, FILE *f)
{
    struct i8042 *k = opaque;

    fprintf(f,
            "i8042: CCB=%02x status=%02x outport=%02x obuf=%02x%s%s queued ctrl/kbd/aux "
            "%u/%u/%u pending cmd %02x kbd %02x aux %02x set %u irq1=%d irq12=%d\n",
            k->ram[0], (unsigned)status_read(k, 0, 1), k->outport, k->obuf, k->obf ? " full" : "",
            k->obuf_aux ? " aux" : "", k->ctrl.n, k->kbd.n, k->aux.n, k->cmd, k->kbd_cmd,
            k->aux_cmd, k->kbd_set, k->irq1, k->irq12);
}

/* 0x60 and 0x64 are separate claims: 0x61 is the PIT's port and 0x62-0x63 are
 * unassigned on the PIIX4. Reset and dump go with the data port. */
static const struct device_ops kbc_ops = {
    .name = "i8042",
    .reset = kbc_reset,
    .read = data_read,
    .write = data_write,
    .dump = kbc_dump,
};

static const struct device_ops kbc_cmd_ops = {
    .name = "i8042-cmd",
    .read = status_read,
    .write = command_write,
};

static struct i8042 *kbc_of(struct machine *m)
{
    for (int i = 0; i < m->npio; i++)
        if (m->pio[i].ops == &kbc_ops)
            return m->pio[i].opaque;
    return NULL;
}

int i8042__create(struct machine *m, char *err, size_t errlen)
{
    struct i8042 *k = calloc(1, sizeof(*k));

    if (!k) {
        snprintf(err, errlen, "out of memory creating the 8042 keyboard controller");
        return -1;
    }
    k->m = m;
    if (bus__claim_pio(m, 0x60, 1, &kbc_ops, k)) {
        snprintf(err, errlen, "i8042: port 0x60 is already taken");
        free(k);
        return -1;
    }
    if (bus__claim_pio(m, 0x64, 1, &kbc_cmd_ops, k)) {
        snprintf(err, errlen, "i8042: port 0x64 is already taken");
        return -1;
    }
    kbc_reset(k);
    return 0;
}

void i8042__destroy(struct machine *m)
{
    free(kbc_of(m));
}
