/*
 * National Semiconductor PC16550D-compatible UARTs (the "16550A" every PC
 * OS knows): COM1 at 0x3f8 on IRQ 4 and COM2 at 0x2f8 on IRQ 3, with the
 * full register file, 16-byte receive FIFO, modem-control loopback and the
 * datasheet's interrupt priorities. Register and bit names follow the
 * datasheet.
 *
 * Time is not modelled: a transmitted byte leaves at once (written to the
 * backend with one unbuffered write(2)), so THR and the transmitter are
 * always empty when the guest looks, and the receiver's character timeout
 * counts as elapsed as soon as the guest could observe it (the FIFO holds
 * data below the trigger level). That keeps the device deterministic and
 * is what drivers written against real, slower chips accept.
 *
 * Host input arrives through uart__receive(); output goes to the backend
 * chosen by -serial. The IRQ output follows the interrupt-pending state
 * without gating by MCR.OUT2, as in QEMU, because guests tested there
 * (many test kernels) never set OUT2.
 */
#define _GNU_SOURCE /* posix_openpt, ptsname, accept4 */
#include "devices/uart16550.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/bus.h"
#include "monitor/log.h"
#include "monitor/machine.h"

/* Register offsets (DLAB selects DLL/DLM at 0 and 1). */
#define UART_RBR 0 /* read, DLAB=0 */
#define UART_THR 0 /* write, DLAB=0 */
#define UART_IER 1
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_ERBFI 0x01 /* received data available */
#define UART_IER_ETBEI 0x02 /* THR empty */
#define UART_IER_ELSI 0x04  /* receiver line status */
#define UART_IER_EDSSI 0x08 /* modem status */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI 0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_RLSI 0x06
#define UART_IIR_CTI 0x0c
#define UART_IIR_FIFO 0xc0

#define UART_FCR_ENABLE 0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04
#define UART_FCR_DMA 0x08
#define UART_FCR_TRIGGER 0xc0

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR 0x01
#define UART_LSR_OE 0x02
#define UART_LSR_PE 0x04
#define UART_LSR_FE 0x08
#define UART_LSR_BI 0x10
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_LSR_ERRORS (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_DELTAS 0x0f
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

#define FIFO_SIZE 16

enum backend { BE_NULL, BE_STDIO, BE_FILE, BE_PTY, BE_UNIX };

struct uart {
    struct machine *m;
    const char *name; /* "COM1" */
    int irq_line;
    int irq_level; /* what we last drove onto the line */

    uint8_t ier, lcr, mcr, msr, scr, fcr;
    uint8_t lsr_errors; /* OE PE FE BI: sticky until LSR is read */
    uint16_t divisor;   /* DLM:DLL */
    bool thr_ipending;  /* THRE interrupt latched: cleared by reading IIR or writing THR */
    uint8_t rbr_last;   /* what RBR reads when the receiver is empty */

    uint8_t rx[FIFO_SIZE];
    unsigned rx_head, rx_count;

    enum backend be;
    int out_fd, in_fd;
    bool own_fd;
};

static bool fifo_on(const struct uart *u)
{
    return u->fcr & UART_FCR_ENABLE;
}

static unsigned rx_trigger(const struct uart *u)
{
    static const unsigned level[4] = {1, 4, 8, 14};
    return level[u->fcr >> 6];
}

/* The highest-priority pending interrupt, as IIR bits 3:0 (datasheet table IV). */
static uint8_t iir_id(const struct uart *u)
{
    if ((u->ier & UART_IER_ELSI) && u->lsr_errors)
        return UART_IIR_RLSI;
    if ((u->ier & UART_IER_ERBFI) && u->rx_count) {
        if (!fifo_on(u) || u->rx_count >= rx_trigger(u))
            return UART_IIR_RDI;
        return UART_IIR_CTI;
    }
    if ((u->ier & UART_IER_ETBEI) && u->thr_ipending)
        return UART_IIR_THRI;
    if ((u->ier & UART_IER_EDSSI) && (u->msr & UART_MSR_DELTAS))
        return UART_IIR_MSI;
    return UART_IIR_NO_INT;
}

static void update_irq(struct uart *u)
{
    int level = iir_id(u) != UART_IIR_NO_INT;

    if (level != u->irq_level) {
        u->irq_level = level;
        u->m->irq(u->m, u->irq_line, level);
    }
}

static uint8_t lsr(const struct uart *u)
{
    return u->lsr_errors | (u->rx_count ? UART_LSR_DR : 0) | UART_LSR_THRE | UART_LSR_TEMT;
}

/* One character into the receiver: the FIFO keeps its contents on overrun (the character in
 * the shift register is lost); without FIFO the holding register is overwritten. */
static void rx_push(struct uart *u, uint8_t c)
{
    unsigned cap = fifo_on(u) ? FIFO_SIZE : 1;

    if (u->rx_count == cap) {
        u->lsr_errors |= UART_LSR_OE;
        if (!fifo_on(u))
            u->rx[u->rx_head] = c;
        return;
    }
    u->rx[(u->rx_head + u->rx_count++) % FIFO_SIZE] = c;
}

static void rx_clear(struct uart *u)
{
    u->rx_head = u->rx_count = 0;
}

/* Modem status inputs: in loopback they are wired to the modem outputs; otherwise the
 * backend looks like a connected null modem (DCD, DSR, CTS up, no ring). */
static void set_modem_inputs(struct uart *u)
{
    uint8_t in, old = u->msr, d = 0;

    if (u->mcr & UART_MCR_LOOP)
        in = ((u->mcr & UART_MCR_RTS) ? UART_MSR_CTS : 0) |
             ((u->mcr & UART_MCR_DTR) ? UART_MSR_DSR : 0) |
             ((u->mcr & UART_MCR_OUT1) ? UART_MSR_RI : 0) |
             ((u->mcr & UART_MCR_OUT2) ? UART_MSR_DCD : 0);
    else
        in = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
    if ((in ^ old) & UART_MSR_CTS)
        d |= UART_MSR_DCTS;
    if ((in ^ old) & UART_MSR_DSR)
        d |= UART_MSR_DDSR;
    if ((old & UART_MSR_RI) && !(in & UART_MSR_RI)) /* trailing edge only */
        d |= UART_MSR_TERI;
    if ((in ^ old) & UART_MSR_DCD)
        d |= UART_MSR_DDCD;
    u->msr = in | (old & UART_MSR_DELTAS) | d;
}

static void backend_put(struct uart *u, uint8_t c)
{
    while (u->out_fd >= 0) {
        ssize_t n = write(u->out_fd, &c, 1);

        if (n == 1)
            return;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* stdout may share a non-blocking file description with stdin. */
            struct pollfd p = {.fd = u->out_fd, .events = POLLOUT};
            poll(&p, 1, -1);
            continue;
        }
        LOG(DEV, 1, "%s: output failed (%s); later output is dropped", u->name,
            n < 0 ? strerror(errno) : "short write");
        if (u->own_fd)
            close(u->out_fd);
        u->out_fd = -1;
    }
}

static void transmit(struct uart *u, uint8_t c)
{
    /* THR empties at once. Drop the THRE interrupt first, then raise it again, so an
     * edge-triggered PIC sees a new edge even when the guest never read IIR. */
    u->thr_ipending = false;
    update_irq(u);
    if (u->mcr & UART_MCR_LOOP)
        rx_push(u, c);
    else
        backend_put(u, c);
    u->thr_ipending = true;
}

static uint8_t read_reg(struct uart *u, uint32_t off)
{
    uint8_t v;

    switch (off) {
    case UART_RBR: /* or DLL */
        if (u->lcr & UART_LCR_DLAB)
            return u->divisor & 0xff;
        if (u->rx_count) {
            u->rbr_last = u->rx[u->rx_head];
            u->rx_head = (u->rx_head + 1) % FIFO_SIZE;
            u->rx_count--;
        }
        return u->rbr_last;
    case UART_IER: /* or DLM */
        if (u->lcr & UART_LCR_DLAB)
            return u->divisor >> 8;
        return u->ier;
    case UART_IIR:
        v = iir_id(u);
        if (v == UART_IIR_THRI) /* reading IIR is how THRE is acknowledged */
            u->thr_ipending = false;
        return v | (fifo_on(u) ? UART_IIR_FIFO : 0);
    case UART_LCR:
        return u->lcr;
    case UART_MCR:
        return u->mcr;
    case UART_LSR:
        v = lsr(u);
        u->lsr_errors = 0;
        return v;
    case UART_MSR:
        v = u->msr;
        u->msr &= ~UART_MSR_DELTAS;
        return v;
    case UART_SCR:
        return u->scr;
    }
    return 0xff;
}

static void write_reg(struct uart *u, uint32_t off, uint8_t v)
{
    switch (off) {
    case UART_THR: /* or DLL */
        if (u->lcr & UART_LCR_DLAB)
            u->divisor = (u->divisor & 0xff00) | v;
        else
            transmit(u, v);
        break;
    case UART_IER: /* or DLM */
        if (u->lcr & UART_LCR_DLAB) {
            u->divisor = (u->divisor & 0x00ff) | v << 8;
            break;
        }
        /* Enabling ETBEI with THR empty raises THRE at once; drivers probe for that. */
        if ((v & UART_IER_ETBEI) && !(u->ier & UART_IER_ETBEI))
            u->thr_ipending = true;
        u->ier = v & 0x0f;
        break;
    case UART_FCR:
        if ((v ^ u->fcr) & UART_FCR_ENABLE)
            rx_clear(u); /* switching FIFO mode resets both FIFOs */
        if (!(v & UART_FCR_ENABLE)) {
            u->fcr = 0; /* the other bits take effect only with FIFOs enabled */
            break;
        }
        if (v & UART_FCR_CLEAR_RX)
            rx_clear(u);
        /* The transmitter FIFO is always empty here: nothing to clear. */
        u->fcr = v & (UART_FCR_ENABLE | UART_FCR_DMA | UART_FCR_TRIGGER);
        break;
    case UART_LCR:
        u->lcr = v;
        break;
    case UART_MCR:
        u->mcr = v & 0x1f;
        set_modem_inputs(u);
        break;
    case UART_LSR:
    case UART_MSR:
        guest_error("%s: write 0x%02x to read-only %s ignored", u->name, v,
                    off == UART_LSR ? "LSR" : "MSR");
        break;
    case UART_SCR:
        u->scr = v;
        break;
    }
    update_irq(u);
}

/* An 8-bit ISA device: a wider access is a run of byte accesses at consecutive offsets. */
static uint32_t uart_read(void *opaque, uint32_t offset, unsigned size)
{
    struct uart *u = opaque;
    uint32_t v = 0;

    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)read_reg(u, offset + i) << (8 * i);
    update_irq(u);
    return v;
}

static void uart_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct uart *u = opaque;

    for (unsigned i = 0; i < size; i++)
        write_reg(u, offset + i, (uint8_t)(value >> (8 * i)));
}

static void uart_reset(void *opaque)
{
    struct uart *u = opaque;

    u->ier = 0;
    u->lcr = 0;
    u->mcr = 0;
    u->scr = 0;
    u->fcr = 0;
    u->lsr_errors = 0;
    u->divisor = 0;
    u->thr_ipending = false;
    u->rbr_last = 0;
    rx_clear(u);
    u->msr = 0;
    set_modem_inputs(u);
    u->msr &= ~UART_MSR_DELTAS;
    update_irq(u);
}

static void uart_dump(void *opaque, FILE *f)
{
    struct uart *u = opaque;

    fprintf(f,
            "%s: IER=%02x IIR=%02x LCR=%02x MCR=%02x LSR=%02x MSR=%02x SCR=%02x FCR=%02x "
            "DL=%04x rx=%u irq%d=%d\n",
            u->name, u->ier, iir_id(u) | (fifo_on(u) ? UART_IIR_FIFO : 0), u->lcr, u->mcr, lsr(u),
            u->msr, u->scr, u->fcr, u->divisor, u->rx_count, u->irq_line, u->irq_level);
}

static const struct device_ops uart_ops = {
    .name = "uart16550",
    .reset = uart_reset,
    .read = uart_read,
    .write = uart_write,
    .dump = uart_dump,
};

void uart__receive(void *uart, const uint8_t *buf, size_t n)
{
    struct uart *u = uart;

    /* In loopback the receiver is cut off from the outside, as on the chip. */
    if (u->mcr & UART_MCR_LOOP)
        return;
    for (size_t i = 0; i < n; i++)
        rx_push(u, buf[i]);
    update_irq(u);
}

size_t uart__rx_space(void *uart)
{
    struct uart *u = uart;

    return (fifo_on(u) ? FIFO_SIZE : 1) - u->rx_count;
}

int uart__input_fd(void *uart)
{
    return ((struct uart *)uart)->in_fd;
}

static const struct {
    const char *name;
    uint16_t base;
    int irq;
} com[2] = {{"COM1", 0x3f8, 4}, {"COM2", 0x2f8, 3}};

static int open_backend(struct uart *u, const char *spec, bool *stdio_used, char *err,
                        size_t errlen)
{
    u->out_fd = u->in_fd = -1;
    if (!strcmp(spec, "stdio") || !strcmp(spec, "mon:stdio")) {
        if (*stdio_used) {
            snprintf(err, errlen, "-serial %s for %s: stdio is already used by another port", spec,
                     u->name);
            return -1;
        }
        *stdio_used = true;
        u->be = BE_STDIO;
        u->out_fd = STDOUT_FILENO;
        u->in_fd = STDIN_FILENO;
    } else if (!strcmp(spec, "null")) {
        u->be = BE_NULL;
    } else if (!strncmp(spec, "file:", 5)) {
        u->be = BE_FILE;
        u->out_fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (u->out_fd < 0) {
            snprintf(err, errlen, "-serial %s for %s: cannot open '%s': %s", spec, u->name,
                     spec + 5, strerror(errno));
            return -1;
        }
        u->own_fd = true;
    } else if (!strcmp(spec, "pty")) {
        /* A pseudo-terminal the user attaches to (screen, minicom): its name is printed, as
         * QEMU does ("char device redirected to /dev/pts/N"). */
        int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || grantpt(fd) || unlockpt(fd)) {
            snprintf(err, errlen, "-serial pty for %s: cannot open a pseudo-terminal: %s",
                     u->name, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        fprintf(stderr, "tachyon: %s redirected to %s\n", u->name, ptsname(fd));
        u->be = BE_PTY;
        u->out_fd = u->in_fd = fd;
        u->own_fd = true;
    } else if (!strncmp(spec, "unix:", 5)) {
        /* unix:PATH connects to a listening socket; unix:PATH,server[,wait|nowait] listens
         * and (QEMU's default "wait") accepts one connection before the guest starts. */
        char path[108];
        const char *opts = strchr(spec + 5, ',');
        size_t len = opts ? (size_t)(opts - (spec + 5)) : strlen(spec + 5);
        bool server = opts && strstr(opts, ",server");
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        if (!len || len >= sizeof(path)) {
            snprintf(err, errlen, "-serial %s for %s: bad socket path", spec, u->name);
            return -1;
        }
        memcpy(path, spec + 5, len);
        path[len] = 0;
        memcpy(sa.sun_path, path, len + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && server) {
            int lfd = fd;
            unlink(path);
            if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1)) {
                close(lfd);
                fd = -1;
            } else {
                fprintf(stderr, "tachyon: %s waiting for a connection on %s\n", u->name, path);
                fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                close(lfd);
            }
        } else if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
            close(fd);
            fd = -1;
        }
        if (fd < 0) {
            snprintf(err, errlen, "-serial %s for %s: cannot %s '%s': %s", spec, u->name,
                     server ? "listen on" : "connect to", path, strerror(errno));
            return -1;
        }
        u->be = BE_UNIX;
        u->out_fd = u->in_fd = fd;
        u->own_fd = true;
    } else {
        snprintf(err, errlen,
                 "-serial %s for %s: unknown backend; use stdio, mon:stdio, file:PATH, pty, "
                 "unix:PATH[,server], null or none",
                 spec, u->name);
        return -1;
    }
    return 0;
}

int uart16550__create(struct machine *m, char *err, size_t errlen)
{
    const struct options *o = &m->opt;
    bool stdio_used = false;

    for (int i = 2; i < o->nserial; i++)
        if (strcmp(o->serial[i], "none")) {
            snprintf(err, errlen, "-serial %s: only two serial ports (COM1, COM2) are emulated",
                     o->serial[i]);
            return -1;
        }
    for (int i = 0; i < 2; i++) {
        const char *spec = i < o->nserial ? o->serial[i] : i == 0 ? "stdio" : "null";
        struct uart *u;

        if (!strcmp(spec, "none"))
            continue;
        u = calloc(1, sizeof(*u));
        if (!u) {
            snprintf(err, errlen, "out of memory creating %s", com[i].name);
            return -1;
        }
        u->m = m;
        u->name = com[i].name;
        u->irq_line = com[i].irq;
        m->serial[i] = u;
        if (open_backend(u, spec, &stdio_used, err, errlen))
            return -1; /* uart16550__destroy() cleans up */
        if (bus__claim_pio(m, com[i].base, 8, &uart_ops, u)) {
            snprintf(err, errlen, "%s: ports 0x%x-0x%x are already taken", u->name, com[i].base,
                     com[i].base + 7);
            return -1;
        }
        uart_reset(u);
    }
    return 0;
}

void uart16550__destroy(struct machine *m)
{
    for (int i = 0; i < 2; i++) {
        struct uart *u = m->serial[i];

        if (!u)
            continue;
        if (u->own_fd && u->out_fd >= 0)
            close(u->out_fd);
        free(u);
        m->serial[i] = NULL;
    }
}
