/*
 * devices/bus, devices/uart16550 and devices/debugexit, through the bus as
 * the guest sees them: unclaimed ports, access splitting, the UART register
 * file (DLAB, LSR, loopback, IIR priorities, FIFO), its IRQ line and its
 * backends, and the debug-exit port.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/bus.h"
#include "devices/uart16550.h"
#include "fixture.h"

#define COM1 0x3f8
#define COM2 0x2f8
#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

static uint8_t in(uint16_t port)
{
    return (uint8_t)bus__pio_read(fx, port, 1);
}

static void out(uint16_t port, uint8_t v)
{
    bus__pio_write(fx, port, 1, v);
}

/* ---- a probe device that records how it was accessed ---- */

static struct probe {
    uint32_t offset;
    unsigned size, reads, writes, resets;
    uint32_t value;
} probe;

static uint32_t probe_read(void *opaque, uint32_t offset, unsigned size)
{
    struct probe *p = opaque;

    p->offset = offset, p->size = size, p->reads++;
    return 0x44332211u >> (8 * (offset & 3));
}

static void probe_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct probe *p = opaque;

    p->offset = offset, p->size = size, p->value = value, p->writes++;
}

static void probe_reset(void *opaque)
{
    ((struct probe *)opaque)->resets++;
}

static const struct device_ops probe_ops = {
    .name = "probe", .reset = probe_reset, .read = probe_read, .write = probe_write};

START_TEST(unclaimed_ports_read_all_ones)
{
    ck_assert_uint_eq(bus__pio_read(fx, 0x1234, 1), 0xff);
    ck_assert_uint_eq(bus__pio_read(fx, 0x1234, 2), 0xffff);
    ck_assert_uint_eq(bus__pio_read(fx, 0x1234, 4), 0xffffffff);
    ck_assert_uint_eq(bus__pio_read(fx, 0xffff, 4), 0xffffffff); /* past the top: no wrap */
    bus__pio_write(fx, 0x1234, 4, 0xdeadbeef);                   /* dropped, no crash */
    bus__pio_write(fx, 0xfffe, 4, 0xdeadbeef);
}
END_TEST

START_TEST(claims_are_checked)
{
    ck_assert_int_eq(bus__claim_pio(fx, 0x100, 8, &probe_ops, &probe), 0);
    ck_assert_int_lt(bus__claim_pio(fx, 0x107, 1, &probe_ops, &probe), 0); /* overlap */
    ck_assert_int_lt(bus__claim_pio(fx, 0x0fc, 8, &probe_ops, &probe), 0);
    ck_assert_int_lt(bus__claim_pio(fx, 0xfff0, 0x20, &probe_ops, &probe), 0); /* past 64K */
    ck_assert_int_lt(bus__claim_pio(fx, 0x200, 0, &probe_ops, &probe), 0);
    ck_assert_int_lt(bus__claim_pio(fx, COM1, 1, &probe_ops, &probe), 0);  /* the UART has it */
    ck_assert_int_eq(bus__claim_pio(fx, 0x108, 8, &probe_ops, &probe), 0); /* adjacent is fine */
    ck_assert_int_eq(bus__claim_mmio(fx, 0xfed00000, 0x1000, &probe_ops, &probe), 0);
    ck_assert_int_lt(bus__claim_mmio(fx, 0xfed00800, 0x1000, &probe_ops, &probe), 0);
    ck_assert_int_lt(bus__claim_mmio(fx, 0xfffff000, 0x2000, &probe_ops, &probe), 0);
}
END_TEST

START_TEST(wide_access_passes_through_with_its_size)
{
    memset(&probe, 0, sizeof(probe));
    ck_assert_int_eq(bus__claim_pio(fx, 0x100, 4, &probe_ops, &probe), 0);
    ck_assert_uint_eq(bus__pio_read(fx, 0x100, 4), 0x44332211u);
    ck_assert_uint_eq(probe.size, 4);
    ck_assert_uint_eq(probe.reads, 1);
    bus__pio_write(fx, 0x102, 2, 0x12345678); /* cut to the access size */
    ck_assert_uint_eq(probe.size, 2);
    ck_assert_uint_eq(probe.offset, 2);
    ck_assert_uint_eq(probe.value, 0x5678);
}
END_TEST

START_TEST(straddling_access_is_split)
{
    memset(&probe, 0, sizeof(probe));
    ck_assert_int_eq(bus__claim_pio(fx, 0x100, 4, &probe_ops, &probe), 0);
    /* 0x103 is the probe's last byte; 0x104 is nobody's. */
    ck_assert_uint_eq(bus__pio_read(fx, 0x103, 2), 0xff44);
    ck_assert_uint_eq(probe.size, 1);
    ck_assert_uint_eq(probe.offset, 3);
    /* Starting in unclaimed space: the claimed bytes still reach the device. */
    ck_assert_uint_eq(bus__pio_read(fx, 0x0ff, 2), 0x11ff);
    probe.writes = 0;
    bus__pio_write(fx, 0x0fe, 4, 0xaabbccdd);
    ck_assert_uint_eq(probe.writes, 2);
    ck_assert_uint_eq(probe.offset, 1);
    ck_assert_uint_eq(probe.value, 0xaa);
}
END_TEST

START_TEST(mmio_dispatch)
{
    uint32_t v;

    memset(&probe, 0, sizeof(probe));
    ck_assert_int_eq(bus__claim_mmio(fx, 0xfed00000, 0x20, &probe_ops, &probe), 0);
    ck_assert_int_eq(bus__mmio_read(fx, 0xfed00010, 4, &v), 0);
    ck_assert_uint_eq(probe.offset, 0x10);
    ck_assert_uint_eq(probe.size, 4);
    ck_assert_int_eq(bus__mmio_write(fx, 0xfed00004, 4, 7), 0);
    ck_assert_uint_eq(probe.value, 7);
    ck_assert_int_eq(bus__mmio_read(fx, 0xfed10000, 4, &v), -1);
    ck_assert_uint_eq(v, 0xffffffff);
    ck_assert_int_eq(bus__mmio_write(fx, 0xfed10000, 4, 7), -1);
    ck_assert_int_eq(bus__mmio_claimed(fx, 0xfed0001f), 1);
    ck_assert_int_eq(bus__mmio_claimed(fx, 0xfed00020), 0);
    /* Straddling the end: the claimed byte is dispatched alone, the rest reads all ones. */
    ck_assert_int_eq(bus__mmio_read(fx, 0xfed0001f, 2, &v), 0);
    ck_assert_uint_eq(probe.size, 1);
    ck_assert_uint_eq(v >> 8, 0xff);
}
END_TEST

START_TEST(reset_all_resets_each_device_once)
{
    memset(&probe, 0, sizeof(probe));
    ck_assert_int_eq(bus__claim_pio(fx, 0x100, 4, &probe_ops, &probe), 0);
    ck_assert_int_eq(bus__claim_pio(fx, 0x200, 4, &probe_ops, &probe), 0);
    ck_assert_int_eq(bus__claim_mmio(fx, 0xfed00000, 0x20, &probe_ops, &probe), 0);
    out(COM1 + SCR, 0x5a);
    bus__reset_all(fx);
    ck_assert_uint_eq(probe.resets, 1);
    ck_assert_uint_eq(in(COM1 + SCR), 0); /* the UART was reset too */
}
END_TEST

/* ---- UART ---- */

static int irq_level[16], irq_calls;

static void record_irq(struct machine *m, int line, int level)
{
    (void)m;
    irq_level[line] = level;
    irq_calls++;
}

START_TEST(uart_reset_state)
{
    for (uint16_t base = COM2; base; base = base == COM2 ? COM1 : 0) {
        ck_assert_uint_eq(in(base + IER), 0);
        ck_assert_uint_eq(in(base + IIR), 0x01);
        ck_assert_uint_eq(in(base + LCR), 0);
        ck_assert_uint_eq(in(base + MCR), 0);
        ck_assert_uint_eq(in(base + LSR), 0x60); /* THRE | TEMT */
        ck_assert_uint_eq(in(base + MSR), 0xb0); /* DCD DSR CTS, no deltas */
        ck_assert_uint_eq(in(base + SCR), 0);
    }
    /* No COM3/COM4. */
    ck_assert_uint_eq(in(0x3e8 + LSR), 0xff);
}
END_TEST

START_TEST(uart_dlab_and_scratch)
{
    out(COM2 + LCR, 0x83);
    out(COM2 + DLL, 0x0c);
    out(COM2 + DLM, 0x01);
    ck_assert_uint_eq(in(COM2 + DLL), 0x0c);
    ck_assert_uint_eq(in(COM2 + DLM), 0x01);
    ck_assert_uint_eq(in(COM2 + LCR), 0x83);
    out(COM2 + LCR, 0x03);
    ck_assert_uint_eq(in(COM2 + IER), 0); /* DLM is hidden again */
    out(COM2 + IER, 0xff);
    ck_assert_uint_eq(in(COM2 + IER), 0x0f); /* only the low nibble exists */
    out(COM2 + LCR, 0x83);
    ck_assert_uint_eq(in(COM2 + DLM), 0x01); /* the divisor survived */
    out(COM2 + SCR, 0xa5);
    ck_assert_uint_eq(in(COM2 + SCR), 0xa5);
    /* A 2-byte read of LCR:MCR is two byte reads. */
    ck_assert_uint_eq(bus__pio_read(fx, COM2 + LCR, 2), 0x0083);
}
END_TEST

START_TEST(uart_loopback)
{
    out(COM1 + MCR, 0x10); /* loopback, all modem outputs off */
    ck_assert_uint_eq(in(COM1 + MSR) & 0xf0, 0x00);
    out(COM1 + MCR, 0x10 | 0x02); /* RTS -> CTS */
    ck_assert_uint_eq(in(COM1 + MSR), 0x10 | 0x01);
    out(COM1 + MCR, 0x10 | 0x01); /* DTR -> DSR, CTS drops */
    ck_assert_uint_eq(in(COM1 + MSR), 0x20 | 0x03);
    out(COM1 + MCR, 0x10 | 0x04); /* OUT1 -> RI (no delta on the leading edge) */
    ck_assert_uint_eq(in(COM1 + MSR), 0x40 | 0x02);
    out(COM1 + MCR, 0x10 | 0x08); /* OUT2 -> DCD; RI's trailing edge sets TERI */
    ck_assert_uint_eq(in(COM1 + MSR), 0x80 | 0x08 | 0x04);
    ck_assert_uint_eq(in(COM1 + MSR), 0x80); /* deltas clear on read */

    out(COM1 + THR, 'A'); /* goes to our own receiver, not stdout */
    ck_assert_uint_eq(in(COM1 + LSR), 0x61);
    ck_assert_uint_eq(in(COM1 + RBR), 'A');
    ck_assert_uint_eq(in(COM1 + LSR), 0x60);
    /* Host input does not reach a receiver in loopback. */
    uart__receive(fx->serial[0], (const uint8_t *)"x", 1);
    ck_assert_uint_eq(in(COM1 + LSR) & 1, 0);
    out(COM1 + MCR, 0x00);
    ck_assert_uint_eq(in(COM1 + MSR), 0xb0 | 0x02 | 0x01); /* DCD was already up */
}
END_TEST

START_TEST(uart_overrun_without_fifo)
{
    out(COM1 + MCR, 0x10);
    out(COM1 + THR, '1');
    out(COM1 + THR, '2'); /* overruns the holding register: the newest wins */
    ck_assert_uint_eq(in(COM1 + LSR), 0x63);
    ck_assert_uint_eq(in(COM1 + LSR), 0x61); /* OE clears on read */
    ck_assert_uint_eq(in(COM1 + RBR), '2');
    ck_assert_uint_eq(in(COM1 + RBR), '2'); /* empty: RBR keeps its last value */
}
END_TEST

START_TEST(uart_iir_priorities)
{
    fx->irq = record_irq;
    out(COM1 + MCR, 0x10); /* loopback: CTS/DSR/DCD drop, so modem-status deltas are set */
    ck_assert_uint_eq(in(COM1 + IIR), 0x01);
    ck_assert_int_eq(irq_level[4], 0);

    out(COM1 + IER, 0x0f);
    ck_assert_int_eq(irq_level[4], 1);
    ck_assert_uint_eq(in(COM1 + IIR), 0x02); /* THRE, above modem status; reading acks it */
    ck_assert_uint_eq(in(COM1 + IIR), 0x00); /* modem status */
    in(COM1 + MSR);
    ck_assert_uint_eq(in(COM1 + IIR), 0x01);
    ck_assert_int_eq(irq_level[4], 0);

    out(COM1 + THR, 'a');
    out(COM1 + THR, 'b');                    /* overrun */
    ck_assert_uint_eq(in(COM1 + IIR), 0x06); /* receiver line status first */
    in(COM1 + LSR);
    ck_assert_uint_eq(in(COM1 + IIR), 0x04); /* then received data, above THRE */
    ck_assert_uint_eq(in(COM1 + RBR), 'b');
    ck_assert_uint_eq(in(COM1 + IIR), 0x02); /* the transmit re-armed THRE */
    ck_assert_uint_eq(in(COM1 + IIR), 0x01);
    ck_assert_int_eq(irq_level[4], 0);
    ck_assert_int_eq(irq_level[3], 0); /* COM2 untouched */
}
END_TEST

START_TEST(uart_thre_edge_on_each_write)
{
    int calls;

    fx->irq = record_irq;
    out(COM2 + IER, 0x02);
    ck_assert_int_eq(irq_level[3], 1);
    calls = irq_calls;
    out(COM2 + THR, 'x'); /* null backend; the line must drop and rise again */
    ck_assert_int_eq(irq_calls, calls + 2);
    ck_assert_int_eq(irq_level[3], 1);
    ck_assert_uint_eq(in(COM2 + IIR), 0x02);
    ck_assert_int_eq(irq_level[3], 0);
}
END_TEST

START_TEST(uart_fifo)
{
    out(COM1 + MCR, 0x10);
    out(COM1 + FCR, 0xc7); /* enable, clear both, trigger at 14 */
    ck_assert_uint_eq(in(COM1 + IIR), 0xc1);
    for (int i = 0; i < 17; i++)
        out(COM1 + THR, (uint8_t)('a' + i));
    ck_assert_uint_eq(in(COM1 + LSR), 0x63); /* the 17th byte overran */
    for (int i = 0; i < 16; i++)
        ck_assert_uint_eq(in(COM1 + RBR), 'a' + i); /* the FIFO kept the first 16 */
    ck_assert_uint_eq(in(COM1 + LSR), 0x60);

    out(COM1 + IER, 0x01);
    for (int i = 0; i < 13; i++)
        out(COM1 + THR, 'x');
    ck_assert_uint_eq(in(COM1 + IIR), 0xcc); /* below the trigger: character timeout */
    out(COM1 + THR, 'x');
    ck_assert_uint_eq(in(COM1 + IIR), 0xc4); /* at the trigger: data available */
    out(COM1 + FCR, 0xc3);                   /* clear the receiver FIFO */
    ck_assert_uint_eq(in(COM1 + LSR), 0x60);
    ck_assert_uint_eq(in(COM1 + IIR), 0xc1);

    out(COM1 + FCR, 0x41); /* trigger 4 */
    for (int i = 0; i < 4; i++)
        out(COM1 + THR, 'y');
    ck_assert_uint_eq(in(COM1 + IIR), 0xc4);
    out(COM1 + FCR, 0x00); /* FIFOs off: contents dropped, IIR bits 7:6 clear */
    ck_assert_uint_eq(in(COM1 + LSR), 0x60);
    ck_assert_uint_eq(in(COM1 + IIR), 0x01);
}
END_TEST

START_TEST(uart_host_input)
{
    fx->irq = record_irq;
    ck_assert_uint_eq(uart__rx_space(fx->serial[1]), 1);
    out(COM2 + FCR, 0x01);
    ck_assert_uint_eq(uart__rx_space(fx->serial[1]), 16);
    out(COM2 + IER, 0x01);
    uart__receive(fx->serial[1], (const uint8_t *)"hi", 2);
    ck_assert_int_eq(irq_level[3], 1);
    ck_assert_uint_eq(uart__rx_space(fx->serial[1]), 14);
    ck_assert_uint_eq(in(COM2 + IIR), 0xc4); /* trigger level 1 */
    ck_assert_uint_eq(in(COM2 + RBR), 'h');
    ck_assert_uint_eq(in(COM2 + RBR), 'i');
    ck_assert_int_eq(irq_level[3], 0);
    ck_assert_int_eq(uart__input_fd(fx->serial[0]), 0); /* COM1 reads stdin by default */
    ck_assert_int_eq(uart__input_fd(fx->serial[1]), -1);
}
END_TEST

/* ---- machines built for one test ---- */

static struct machine *make(struct options *opt)
{
    opt->ram_mb = 2;
    opt->machine = "pc";
    return machine__create(opt);
}

START_TEST(uart_file_backend_gets_bytes_at_once)
{
    char path[] = "/tmp/tachyon-uart-XXXXXX", spec[64], buf[16];
    struct options opt = {0};
    struct machine *m;
    int fd = mkstemp(path);
    ssize_t n;

    ck_assert_int_ge(fd, 0);
    snprintf(spec, sizeof(spec), "file:%s", path);
    opt.serial[0] = spec;
    opt.nserial = 1;
    m = make(&opt);
    ck_assert_ptr_nonnull(m);
    bus__pio_write(m, COM1 + THR, 1, 'o');
    bus__pio_write(m, COM1 + THR, 1, 'k');
    n = pread(fd, buf, sizeof(buf), 0); /* before destroy: nothing is buffered */
    ck_assert_int_eq(n, 2);
    ck_assert_mem_eq(buf, "ok", 2);
    machine__destroy(m);
    close(fd);
    unlink(path);
}
END_TEST

START_TEST(uart_backends)
{
    struct options opt = {0};
    struct machine *m;

    opt.serial[0] = "null";
    opt.serial[1] = "none";
    opt.nserial = 2;
    m = make(&opt);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(m->serial[0]);
    ck_assert_ptr_null(m->serial[1]);
    ck_assert_uint_eq(bus__pio_read(m, COM2 + LSR, 1), 0xff); /* absent */
    machine__destroy(m);

    opt.serial[0] = "pty";
    opt.nserial = 1;
    m = make(&opt);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_ge(uart__input_fd(m->serial[0]), 0);
    machine__destroy(m);
    opt.serial[0] = "tcp:localhost:4444";
    ck_assert_ptr_null(make(&opt)); /* unknown backend */
    opt.serial[0] = "unix:/nonexistent-dir/sock";
    ck_assert_ptr_null(make(&opt)); /* nothing listens there */
    opt.serial[0] = "file:/nonexistent-dir/x";
    ck_assert_ptr_null(make(&opt));
    opt.serial[0] = "stdio";
    opt.serial[1] = "stdio";
    opt.nserial = 2;
    ck_assert_ptr_null(make(&opt));
    opt.serial[1] = "null";
    opt.serial[2] = "null";
    opt.nserial = 3;
    ck_assert_ptr_null(make(&opt)); /* no COM3 */
}
END_TEST

START_TEST(debug_exit_port)
{
    struct options opt = {0};
    struct machine *m;

    ck_assert_uint_eq(in(0xf4), 0xff); /* absent unless asked for */
    ck_assert_uint_eq(in(0x501), 0xff);
    opt.debug_exit = true;
    opt.debug_exit_port = 0xf4;
    opt.debug_exit_size = 1;
    m = make(&opt);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(bus__pio_read(m, 0xf4, 1), 0);
    ck_assert_int_eq(m->request, REQ_NONE);
    bus__pio_write(m, 0xf4, 1, 0x10);
    ck_assert_int_eq(m->request, REQ_EXIT);
    ck_assert_int_eq(m->exit_status, 0x21);
    ck_assert_int_lt(m->cpu->budget, 0); /* translated code stops at the next block */
    bus__pio_write(m, 0xf4, 1, 0x00);    /* the first request wins */
    ck_assert_int_eq(m->exit_status, 0x21);
    machine__destroy(m);

    opt.debug_exit_port = 0x501;
    opt.debug_exit_size = 2;
    m = make(&opt);
    ck_assert_ptr_nonnull(m);
    bus__pio_write(m, 0x501, 2, 0x0102);
    ck_assert_int_eq(m->exit_status, 0x0205);
    machine__destroy(m);

    opt.debug_exit_port = COM1; /* collides with the UART */
    opt.debug_exit_size = 1;
    ck_assert_ptr_null(make(&opt));
}
END_TEST

START_TEST(uart_unix_socket_backend)
{
    /* -serial unix:PATH connects to a listening socket; what the guest transmits arrives
     * there, and what the peer sends is the port's host input. */
    char path[] = "/tmp/tachyon-uart-XXXXXX";
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct options opt = {0};
    char spec[128];
    struct machine *m;
    int lfd, cfd;
    char c = 0;

    ck_assert_ptr_nonnull(mkdtemp(path));
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", path);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    snprintf(spec, sizeof(spec), "unix:%s", sa.sun_path);
    opt.serial[0] = spec;
    opt.nserial = 1;
    m = make(&opt);
    ck_assert_ptr_nonnull(m);
    cfd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(cfd, 0);
    bus__pio_write(m, COM1, 1, 'Z'); /* THR */
    ck_assert_int_eq(read(cfd, &c, 1), 1);
    ck_assert_int_eq(c, 'Z');
    ck_assert_int_ge(uart__input_fd(m->serial[0]), 0);
    machine__destroy(m);
    close(cfd);
    close(lfd);
    unlink(sa.sun_path);
    rmdir(path);
}
END_TEST

static Suite *bus_uart_suite(void)
{
    Suite *s = suite_create("devices/bus_uart");
    TCase *bus = tcase_create("bus");
    TCase *uart = tcase_create("uart16550");
    TCase *own = tcase_create("own_machine");

    tcase_add_checked_fixture(bus, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(bus, unclaimed_ports_read_all_ones);
    tcase_add_test(bus, claims_are_checked);
    tcase_add_test(bus, wide_access_passes_through_with_its_size);
    tcase_add_test(bus, straddling_access_is_split);
    tcase_add_test(bus, mmio_dispatch);
    tcase_add_test(bus, reset_all_resets_each_device_once);
    suite_add_tcase(s, bus);

    tcase_add_checked_fixture(uart, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(uart, uart_reset_state);
    tcase_add_test(uart, uart_dlab_and_scratch);
    tcase_add_test(uart, uart_loopback);
    tcase_add_test(uart, uart_overrun_without_fifo);
    tcase_add_test(uart, uart_iir_priorities);
    tcase_add_test(uart, uart_thre_edge_on_each_write);
    tcase_add_test(uart, uart_fifo);
    tcase_add_test(uart, uart_host_input);
    suite_add_tcase(s, uart);

    tcase_add_checked_fixture(own, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(own, uart_file_backend_gets_bytes_at_once);
    tcase_add_test(own, uart_backends);
    tcase_add_test(own, uart_unix_socket_backend);
    tcase_add_test(own, debug_exit_port);
    suite_add_tcase(s, own);
    return s;
}

int main(void)
{
    return fixture_run_suite(bus_uart_suite());
}
