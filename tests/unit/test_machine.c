/*
 * monitor/machine and monitor/cpu: machine creation and its failures (RAM
 * size, firmware file), requests, the vCPU power-on and Multiboot states,
 * and the QEMU-style register dump.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "monitor/cpuid.h"

/* Run machine__create() with stderr captured into msg. */
static struct machine *create_quiet(struct options *opt, char *msg, size_t len)
{
    char path[] = "/tmp/tachyon-err-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    struct machine *m;
    ssize_t n;

    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    dup2(fd, 2);
    m = machine__create(opt);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    n = pread(fd, msg, len - 1, 0);
    msg[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    return m;
}

static struct options small(void)
{
    struct options o = {0};

    o.ram_mb = 2;
    o.machine = "pc";
    return o;
}

START_TEST(ram_and_rom)
{
    ck_assert_uint_eq(fx->ram_size, 32u << 20);
    ck_assert_ptr_nonnull(machine__gpa(fx, 0, fx->ram_size));
    ck_assert_ptr_null(machine__gpa(fx, fx->ram_size - 1, 2));
    ck_assert_ptr_null(machine__gpa(fx, ~0ull, 1));
    /* RAM is the memfd: a write through the mapping is in the file. */
    fx->ram[0x1234] = 0x5a;
    {
        uint8_t b = 0;
        ck_assert_int_eq(pread(fx->ram_fd, &b, 1, 0x1234), 1);
        ck_assert_uint_eq(b, 0x5a);
    }
    /* SeaBIOS 256K: its reset vector is a far jump in the last 16 bytes. */
    ck_assert_uint_eq(fx->rom_size, 256u << 10);
    ck_assert_uint_eq(fx->rom[fx->rom_size - 16], 0xea);
    ck_assert_uint_eq((uintptr_t)fx->cpu % 64, 0);
}
END_TEST

START_TEST(ram_size_limits)
{
    struct options o = small();
    char msg[512];

    o.ram_mb = 0;
    ck_assert_ptr_null(create_quiet(&o, msg, sizeof(msg)));
    ck_assert_ptr_nonnull(strstr(msg, "between 1 and 3584 MiB"));
    o.ram_mb = 3585;
    ck_assert_ptr_null(create_quiet(&o, msg, sizeof(msg)));
    ck_assert_ptr_nonnull(strstr(msg, "-m 3585"));
}
END_TEST

START_TEST(firmware_errors_name_the_file)
{
    char path[] = "/tmp/tachyon-bios-XXXXXX", msg[512];
    struct options o = small();
    int fd = mkstemp(path);
    static uint8_t buf[65536 + 1];
    struct machine *m;

    o.bios = "/nonexistent/bios.bin";
    ck_assert_ptr_null(create_quiet(&o, msg, sizeof(msg)));
    ck_assert_ptr_nonnull(strstr(msg, "cannot open firmware '/nonexistent/bios.bin'"));

    o.bios = path;
    ck_assert_ptr_null(create_quiet(&o, msg, sizeof(msg))); /* empty */
    ck_assert_ptr_nonnull(strstr(msg, path));
    ck_assert_ptr_nonnull(strstr(msg, "multiple of 64 KiB"));
    ck_assert_int_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    ck_assert_ptr_null(create_quiet(&o, msg, sizeof(msg))); /* 64 KiB + 1 */
    ck_assert_ptr_nonnull(strstr(msg, "65537 bytes"));

    ck_assert_int_eq(ftruncate(fd, 65536), 0);
    buf[65535] = 0x77;
    ck_assert_int_eq(pwrite(fd, buf, 65536, 0), 65536);
    m = create_quiet(&o, msg, sizeof(msg));
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->rom_size, 65536);
    ck_assert_uint_eq(m->rom[65535], 0x77);
    machine__destroy(m);
    close(fd);
    unlink(path);
}
END_TEST

START_TEST(irq_hook_is_safe_by_default)
{
    ck_assert_ptr_nonnull(fx->irq);
    fx->irq(fx, 4, 1); /* a no-op until an interrupt controller replaces it */
}
END_TEST

START_TEST(requests)
{
    fx->cpu->budget = 1000;
    machine__request(fx, REQ_NONE, 0);
    ck_assert_int_eq(fx->request, REQ_NONE);
    ck_assert_int_eq(fx->cpu->budget, 1000);
    machine__request(fx, REQ_RESET, 0);
    ck_assert_int_eq(fx->request, REQ_RESET);
    ck_assert_int_lt(fx->cpu->budget, 0);
    machine__request(fx, REQ_EXIT, 7); /* the pending reset wins */
    ck_assert_int_eq(fx->request, REQ_RESET);
    fx->request = REQ_NONE; /* the run loop took it */
    machine__request(fx, REQ_EXIT, 7);
    ck_assert_int_eq(fx->request, REQ_EXIT);
    ck_assert_int_eq(fx->exit_status, 7);
}
END_TEST

START_TEST(reset_state)
{
    struct vcpu *c = fx->cpu;

    c->gpr[R_EAX] = 5;
    c->budget = 99; /* monitor plumbing survives a guest reset */
    vcpu_reset(c);
    ck_assert_uint_eq(c->budget, 99);
    ck_assert_uint_eq(c->gpr[R_EAX], 0);
    ck_assert_uint_eq(c->gpr[R_EDX], CPUID_SIGNATURE);
    ck_assert_uint_eq((c->gpr[R_EDX] >> 8) & 0xf, 6); /* family 6 */
    ck_assert_uint_eq(c->eip, 0xfff0);
    ck_assert_uint_eq(vcpu_eflags(c), 0x2);
    ck_assert_uint_eq(c->rflags, 0x202);
    ck_assert_uint_eq(c->seg[SEG_CS].sel, 0xf000);
    ck_assert_uint_eq(c->seg[SEG_CS].base, 0xffff0000);
    ck_assert_uint_eq(c->seg[SEG_CS].limit, 0xffff);
    ck_assert_uint_eq(c->seg_base[SEG_CS], 0xffff0000);
    for (int s = 0; s < SEG_NR; s++) {
        ck_assert_uint_eq(c->seg_base[s], c->seg[s].base);
        ck_assert(c->seg[s].flags & SEGF_P);
        if (s != SEG_CS)
            ck_assert_uint_eq(c->seg[s].base, 0);
    }
    ck_assert_uint_eq(c->cr0, 0x60000010);
    ck_assert_uint_eq(c->cr4, 0);
    ck_assert_uint_eq(c->dr[6], 0xffff0ff0);
    ck_assert_uint_eq(c->dr[7], 0x400);
    ck_assert_uint_eq(c->gdtr.limit, 0xffff);
    ck_assert_uint_eq(c->idtr.limit, 0xffff);
    ck_assert_uint_eq(c->a20_mask, 0xffffffff);
    ck_assert_uint_eq(c->apic_base, 0xfee00900);
    ck_assert_uint_eq(vcpu_cpl(c), 0);
    ck_assert_uint_eq(c->fxsave[24] | c->fxsave[25] << 8, 0x1f80); /* MXCSR */
}
END_TEST

START_TEST(flat32_state)
{
    struct vcpu *c = fx->cpu;

    vcpu_reset(c);
    vcpu_set_eflags(c, 0x202 | EFL_DF);
    vcpu_load_flat32(c);
    ck_assert_uint_eq(c->cr0 & (CR0_PE | CR0_PG), CR0_PE);
    ck_assert_uint_eq(c->seg[SEG_CS].sel, 0x08);
    ck_assert(c->seg[SEG_CS].flags & SEGF_DB);
    ck_assert(c->seg[SEG_CS].flags & SEGF_G);
    ck_assert_uint_eq(c->seg[SEG_CS].flags & 0x1f, 0x1b); /* code, readable, accessed */
    for (int s = 0; s < SEG_NR; s++) {
        ck_assert_uint_eq(c->seg[s].base, 0);
        ck_assert_uint_eq(c->seg_base[s], 0);
        ck_assert_uint_eq(c->seg[s].limit, 0xffffffff);
        if (s != SEG_CS) {
            ck_assert_uint_eq(c->seg[s].sel, 0x10);
            ck_assert_uint_eq(c->seg[s].flags & 0x1f, 0x13); /* data, writable, accessed */
        }
    }
    ck_assert_uint_eq(vcpu_eflags(c), 0x2); /* IF and DF clear */
    ck_assert_uint_eq(vcpu_cpl(c), 0);
}
END_TEST

static char *dump(struct vcpu *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    vcpu_dump(c, f);
    fclose(f);
    return text;
}

START_TEST(dump_layout_is_qemus)
{
    struct vcpu *c = fx->cpu;
    char *t;

    vcpu_reset(c);
    t = dump(c);
    ck_assert_ptr_nonnull(strstr(t, "EAX=00000000 EBX=00000000 ECX=00000000 EDX=000006d8\n"));
    ck_assert_ptr_nonnull(
        strstr(t, "EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n"));
    ck_assert_ptr_nonnull(strstr(t, "CS =f000 ffff0000 0000ffff 00009b00\n"));
    ck_assert_ptr_nonnull(strstr(t, "SS =0000 00000000 0000ffff 00009300\n"));
    ck_assert_ptr_nonnull(strstr(t, "LDT=0000 00000000 0000ffff 00008200\n"));
    ck_assert_ptr_nonnull(strstr(t, "TR =0000 00000000 0000ffff 00008b00\n"));
    ck_assert_ptr_nonnull(strstr(t, "GDT=     00000000 0000ffff\n"));
    ck_assert_ptr_nonnull(strstr(t, "CR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000\n"));
    ck_assert_ptr_nonnull(strstr(t, "DR6=ffff0ff0 DR7=00000400\n"));
    ck_assert_ptr_nonnull(strstr(t, "FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80\n"));
    free(t);

    vcpu_load_flat32(c);
    vcpu_set_eflags(c, 0x2 | EFL_ZF | EFL_CF);
    c->eip = 0x100000;
    t = dump(c);
    ck_assert_ptr_nonnull(strstr(t, "EIP=00100000 EFL=00000043 [---Z--C] CPL=0"));
    ck_assert_ptr_nonnull(strstr(t, "CS =0008 00000000 ffffffff 00cf9b00 DPL=0 CS32 [-RA]\n"));
    ck_assert_ptr_nonnull(strstr(t, "DS =0010 00000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\n"));
    ck_assert_ptr_nonnull(strstr(t, "TR =0000 00000000 0000ffff 00008b00 DPL=0 TSS32-busy\n"));
    free(t);
}
END_TEST

START_TEST(exit_reason_names)
{
    ck_assert_str_eq(exit_reason_name(EXIT_HLT), "hlt");
    ck_assert_str_eq(exit_reason_name(EXIT_TRANSLATE), "translate");
    ck_assert_str_eq(exit_reason_name(EXIT_UNSUPPORTED), "unsupported");
    ck_assert_str_eq(exit_reason_name(EXIT_NR), "unknown");
    ck_assert_str_eq(exit_reason_name(-1), "unknown");
    for (int i = 0; i < EXIT_NR; i++)
        ck_assert_str_ne(exit_reason_name(i), "unknown");
}
END_TEST

static Suite *machine_suite(void)
{
    Suite *s = suite_create("monitor/machine");
    TCase *m = tcase_create("machine");
    TCase *c = tcase_create("cpu");

    tcase_add_checked_fixture(m, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(m, ram_and_rom);
    tcase_add_test(m, ram_size_limits);
    tcase_add_test(m, firmware_errors_name_the_file);
    tcase_add_test(m, irq_hook_is_safe_by_default);
    tcase_add_test(m, requests);
    suite_add_tcase(s, m);

    tcase_add_checked_fixture(c, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(c, reset_state);
    tcase_add_test(c, flat32_state);
    tcase_add_test(c, dump_layout_is_qemus);
    tcase_add_test(c, exit_reason_names);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    return fixture_run_suite(machine_suite());
}
