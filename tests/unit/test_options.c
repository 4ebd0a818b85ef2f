/*
 * monitor/options: good and bad command lines in qemu-system-i386 spelling.
 * Bad ones must give OPTIONS_ERROR (main turns it into exit status 2) and a
 * message that says what is wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "monitor/log.h"
#include "monitor/options.h"

static struct options o;

static int parse_v(const char *const *args)
{
    char *argv[64];
    int argc = 0;

    argv[argc++] = "tachyon";
    while (*args)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    return options__parse(argc, argv, &o);
}

#define PARSE(...) parse_v((const char *const[]){__VA_ARGS__, NULL})
#define PARSE_NONE() parse_v((const char *const[]){NULL})

/* A bad command line: OPTIONS_ERROR, and the message contains `what`. */
#define BAD(what, ...)                                                                             \
    do {                                                                                           \
        ck_assert_int_eq(PARSE(__VA_ARGS__), OPTIONS_ERROR);                                       \
        ck_assert_msg(strstr(options__error(), what), "message '%s' lacks '%s'", options__error(), \
                      what);                                                                       \
    } while (0)

START_TEST(defaults)
{
    ck_assert_int_eq(PARSE_NONE(), OPTIONS_OK);
    ck_assert_uint_eq(o.ram_mb, 128);
    ck_assert_str_eq(o.machine, "pc");
    ck_assert_ptr_null(o.kernel);
    ck_assert(!o.debug_exit && !o.nographic && !o.no_reboot && !o.want_stats);
    ck_assert_int_eq(o.nserial, 0);
}
END_TEST

START_TEST(memory_sizes)
{
    static const struct {
        const char *arg;
        uint64_t mb;
    } good[] = {{"128", 128},   {"128M", 128}, {"128m", 128},   {"1G", 1024},  {"size=256M", 256},
                {"1.5G", 1536}, {"2048k", 2},  {"size=64", 64}, {"3584", 3584}};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_int_eq(PARSE("-m", good[i].arg), OPTIONS_OK);
        ck_assert_uint_eq(o.ram_mb, good[i].mb);
    }
    ck_assert_int_eq(PARSE("--m=64"), OPTIONS_OK);
    ck_assert_uint_eq(o.ram_mb, 64);
    BAD("expected a size", "-m", "abc");
    BAD("expected a size", "-m", "");
    BAD("unknown size suffix", "-m", "12X");
    BAD("unknown size suffix", "-m", "12MB");
    BAD("whole number of MiB", "-m", "1500K");
    BAD("only a size", "-m", "size=1G,slots=2");
    BAD("too large", "-m", "9999T");
    BAD("needs a value", "-m");
}
END_TEST

START_TEST(kernel_and_friends)
{
    ck_assert_int_eq(PARSE("-kernel", "k.elf", "-initrd", "a arg,b", "-append", "console=ttyS0",
                           "-bios", "my.bin"),
                     OPTIONS_OK);
    ck_assert_str_eq(o.kernel, "k.elf");
    ck_assert_str_eq(o.initrd, "a arg,b");
    ck_assert_str_eq(o.append, "console=ttyS0");
    ck_assert_str_eq(o.bios, "my.bin");
    /* Both spellings, and --opt=value. */
    ck_assert_int_eq(PARSE("--kernel", "a", "--append=x y"), OPTIONS_OK);
    ck_assert_str_eq(o.kernel, "a");
    ck_assert_str_eq(o.append, "x y");
    /* A value that looks like an option is still the value. */
    ck_assert_int_eq(PARSE("-append", "-v"), OPTIONS_OK);
    ck_assert_str_eq(o.append, "-v");
    BAD("non-empty", "-kernel", "");
    BAD("needs a value", "-append");
}
END_TEST

START_TEST(debug_exit_device)
{
    ck_assert_int_eq(PARSE("-device", "isa-debug-exit,iobase=0xf4,iosize=1"), OPTIONS_OK);
    ck_assert(o.debug_exit);
    ck_assert_uint_eq(o.debug_exit_port, 0xf4);
    ck_assert_uint_eq(o.debug_exit_size, 1);
    ck_assert_int_eq(o.ndevices, 0);

    ck_assert_int_eq(PARSE("-device", "isa-debug-exit"), OPTIONS_OK);
    ck_assert(o.debug_exit);
    ck_assert_uint_eq(o.debug_exit_port, DEBUG_EXIT_DEFAULT_PORT);
    ck_assert_uint_eq(o.debug_exit_size, DEBUG_EXIT_DEFAULT_SIZE);

    ck_assert_int_eq(PARSE("--device", "isa-debug-exit,id=x,iosize=4,iobase=244"), OPTIONS_OK);
    ck_assert_uint_eq(o.debug_exit_port, 244);
    ck_assert_uint_eq(o.debug_exit_size, 4);

    BAD("iosize", "-device", "isa-debug-exit,iosize=0");
    BAD("iosize", "-device", "isa-debug-exit,iosize=8");
    BAD("iobase", "-device", "isa-debug-exit,iobase=0x10000");
    BAD("iobase", "-device", "isa-debug-exit,iobase=-1");
    BAD("past 0xffff", "-device", "isa-debug-exit,iobase=0xffff,iosize=2");
    BAD("unknown property 'port'", "-device", "isa-debug-exit,port=1");
    BAD("expected property=value", "-device", "isa-debug-exit,iobase");
    BAD("only one", "-device", "isa-debug-exit", "-device", "isa-debug-exit");
}
END_TEST

START_TEST(other_devices)
{
    ck_assert_int_eq(PARSE("-device", "pc-testdev", "-device", "lsi53c895a,id=scsi0", "-device",
                           "scsi-hd,drive=d0"),
                     OPTIONS_OK);
    ck_assert_int_eq(o.ndevices, 3);
    ck_assert_str_eq(o.device[1], "lsi53c895a,id=scsi0");
    ck_assert(!o.debug_exit);
    BAD("unknown device 'e1000'", "-device", "e1000,netdev=n0");
    BAD("unknown device 'isa-debug-exitx'", "-device", "isa-debug-exitx");
}
END_TEST

START_TEST(help_version_and_lists)
{
    ck_assert_int_eq(PARSE("--help"), OPTIONS_EXIT);
    ck_assert_int_eq(PARSE("-h"), OPTIONS_EXIT);
    ck_assert_int_eq(PARSE("-help"), OPTIONS_EXIT);
    ck_assert_int_eq(PARSE("--version"), OPTIONS_EXIT);
    ck_assert_int_eq(PARSE("-device", "help"), OPTIONS_EXIT);
    ck_assert_int_eq(PARSE("-machine", "help"), OPTIONS_EXIT);
}
END_TEST

START_TEST(help_lists_every_option)
{
    static const char *const names[] = {
        "-m SIZE",   "-kernel ",     "-initrd ",  "-append ",   "-bios ",     "-drive ",
        "-device ",  "-serial ",     "-monitor ", "-nographic", "-no-reboot", "-no-shutdown",
        "-machine ", "-accel ",      "-smp ",     "-display ",  "-vga ",      "-d ",
        "-D ",       "-stats-json ", "-help",     "-version",
    };
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    options__usage(f);
    fclose(f);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        ck_assert_msg(strstr(text, names[i]), "--help does not list '%s'", names[i]);
    /* One line per option, none wider than 100 columns. */
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        ck_assert_msg(strlen(line) <= 100, "help line too long: %s", line);
    free(text);
}
END_TEST

START_TEST(unknown_and_malformed)
{
    ck_assert_int_eq(OPTIONS_ERROR, 2); /* the exit status main() uses */
    BAD("unknown option '--bogus'", "--bogus");
    BAD("unknown option '-bogus'", "-bogus");
    BAD("unknown option '-enable-kvm'", "-enable-kvm");
    BAD("unexpected argument 'disk.img'", "disk.img");
    BAD("unexpected argument '-'", "-");
    BAD("takes no value", "-nographic=1");
    BAD("unknown option", "-kernel", "k", "--");
}
END_TEST

START_TEST(flags)
{
    ck_assert_int_eq(PARSE("-nographic", "--no-reboot", "-no-shutdown"), OPTIONS_OK);
    ck_assert(o.nographic);
    ck_assert(o.no_reboot);
}
END_TEST

START_TEST(machine_types)
{
    static const char *const good[] = {"pc",           "pc-i440fx-8.2",
                                       "pc,accel=tcg", "accel=kvm:tcg",
                                       "type=pc",      "pc-i440fx-2.0,accel=tcg"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_int_eq(PARSE("-machine", good[i]), OPTIONS_OK);
        ck_assert_str_eq(o.machine, "pc");
    }
    ck_assert_int_eq(PARSE("-M", "pc"), OPTIONS_OK);
    ck_assert_int_eq(PARSE("-accel", "tcg"), OPTIONS_OK);
    BAD("machine type 'q35'", "-machine", "q35");
    BAD("machine type 'isapc'", "-M", "isapc");
    BAD("property 'usb=off'", "-machine", "pc,usb=off");
}
END_TEST

START_TEST(serial_and_monitor)
{
    ck_assert_int_eq(PARSE("-serial", "stdio", "-serial", "file:/tmp/x", "-serial", "null",
                           "-serial", "none", "-monitor", "none"),
                     OPTIONS_OK);
    ck_assert_int_eq(o.nserial, 4);
    ck_assert_str_eq(o.serial[1], "file:/tmp/x");
    ck_assert_str_eq(o.monitor, "none");
    ck_assert_int_eq(PARSE("-serial", "mon:stdio", "-serial", "pty"), OPTIONS_OK);
    BAD("unknown backend", "-serial", "bogus");
    BAD("needs a value after ':'", "-serial", "file:");
    BAD("more than 4", "-serial", "null", "-serial", "null", "-serial", "null", "-serial", "null",
        "-serial", "null");
    BAD("unknown backend", "-monitor", "qmp");
}
END_TEST

START_TEST(logging_and_stats)
{
    ck_assert_int_eq(
        PARSE("-d", "guest_errors,stats", "-D", "/tmp/log", "--stats-json", "/tmp/s.json"),
        OPTIONS_OK);
    ck_assert(o.want_stats);
    ck_assert_int_eq(log_level[LOG_GUEST], 1);
    ck_assert_str_eq(o.logfile, "/tmp/log");
    ck_assert_str_eq(o.stats_json, "/tmp/s.json");
    ck_assert_int_eq(PARSE("-d", "bt=3"), OPTIONS_OK);
    ck_assert_int_eq(log_level[LOG_BT], 3);
    ck_assert(!o.want_stats);
    BAD("unknown log item", "-d", "in_asm");
    BAD("non-empty", "-D", "");
}
END_TEST

START_TEST(display_vga_smp_drive)
{
    ck_assert_int_eq(
        PARSE("-display", "none", "-vga", "none", "-smp", "1", "-drive", "file=a.img,format=raw"),
        OPTIONS_OK);
    ck_assert_int_eq(o.ndrives, 1);
    ck_assert_str_eq(o.drive[0], "file=a.img,format=raw");
    ck_assert_int_eq(PARSE("-vga", "std", "-smp", "cpus=1,sockets=1"), OPTIONS_OK);
    BAD("no display", "-display", "gtk");
    BAD("-vga cirrus", "-vga", "cirrus");
    BAD("one CPU", "-smp", "2");
    BAD("CPU count", "-smp", "x");
}
END_TEST

static Suite *options_suite(void)
{
    Suite *s = suite_create("monitor/options");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, defaults);
    tcase_add_test(tc, memory_sizes);
    tcase_add_test(tc, kernel_and_friends);
    tcase_add_test(tc, debug_exit_device);
    tcase_add_test(tc, other_devices);
    tcase_add_test(tc, help_version_and_lists);
    tcase_add_test(tc, help_lists_every_option);
    tcase_add_test(tc, unknown_and_malformed);
    tcase_add_test(tc, flags);
    tcase_add_test(tc, machine_types);
    tcase_add_test(tc, serial_and_monitor);
    tcase_add_test(tc, logging_and_stats);
    tcase_add_test(tc, display_vga_smp_drive);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(options_suite());
}
