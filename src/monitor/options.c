/*
 * Command-line parsing with qemu-system-i386's spelling, so a user switches
 * by changing the program name. One table lists every option with its
 * handler and its --help line; `-opt` and `--opt` are the same, and `--opt=value`
 * works for options that take a value. Handlers check the value's syntax and
 * store it in struct options; what a value means at run time (can a serial
 * backend be opened, is the RAM size in range) is checked where it is used.
 *
 * Nothing here exits: options__parse() returns OPTIONS_ERROR after printing
 * "tachyon: <what>; try 'tachyon --help'", and main() turns that into exit
 * status 2. The message stays readable through options__error() for tests.
 */
#include "monitor/options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "devices/blockdev.h"
#include "devices/lsi53c895a.h"
#include "monitor/log.h"

#ifndef TACHYON_VERSION
#define TACHYON_VERSION "unknown"
#endif

/* Handler results besides 0 (stored, go on). */
#define H_ERROR -1
#define H_EXIT 1

static char errbuf[512];
static const char *accel_ignored; /* noted once -d has set the log levels */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
    va_end(ap);
    return H_ERROR;
}

const char *options__error(void)
{
    return errbuf;
}

/* A whole unsigned number (decimal, 0x hex, 0 octal) in [0, max]. */
static int parse_uint(const char *s, unsigned long max, unsigned long *v)
{
    char *end;

    if (!*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    *v = strtoul(s, &end, 0);
    return (errno || *end || *v > max) ? -1 : 0;
}

/* -m: "128", "128M", "1G", "1.5G", "size=512M"; a bare number is MiB, as in QEMU. */
static int opt_m(struct options *o, const char *arg)
{
    const char *s = arg, *p;
    static const char suffixes[] = "bkmgt"; /* powers of 1024 */
    const char *sfx;
    double v, mib;
    char *end;

    if (!strncmp(s, "size=", 5))
        s += 5;
    if (strchr(s, ','))
        return fail("-m %s: only a size is supported (no slots= or maxmem=)", arg);
    for (p = s; (*p >= '0' && *p <= '9') || *p == '.'; p++)
        ;
    v = strtod(s, &end);
    if (p == s || end != p)
        return fail("-m %s: expected a size such as 128, 128M or 1G", arg);
    sfx = *p ? strchr(suffixes, *p | 0x20) : suffixes + 2;
    if (!sfx || (*p && p[1]))
        return fail("-m %s: unknown size suffix '%s' (use K, M, G or T)", arg, p);
    mib = v * (double)(1ull << (10 * (sfx - suffixes))) / (1024.0 * 1024.0);
    if (mib > 1024.0 * 1024.0)
        return fail("-m %s: size too large", arg);
    if (mib != (double)(uint64_t)mib)
        return fail("-m %s: the size must be a whole number of MiB", arg);
    o->ram_mb = (uint64_t)mib;
    return 0;
}

static int nonempty(const char *opt, const char *arg)
{
    return *arg ? 0 : fail("%s needs a non-empty value", opt);
}

static int opt_kernel(struct options *o, const char *arg)
{
    o->kernel = arg;
    return nonempty("-kernel", arg);
}

static int opt_initrd(struct options *o, const char *arg)
{
    o->initrd = arg;
    return nonempty("-initrd", arg);
}

static int opt_append(struct options *o, const char *arg)
{
    o->append = arg;
    return 0;
}

static int opt_bios(struct options *o, const char *arg)
{
    o->bios = arg;
    return nonempty("-bios", arg);
}

static int opt_drive(struct options *o, const char *arg)
{
    struct drive_spec spec;
    char why[256];

    if (nonempty("-drive", arg))
        return H_ERROR;
    if (blockdev__parse_spec(arg, &spec, why, sizeof(why)))
        return fail("-drive %s: %s", arg, why);
    if (o->ndrives == MAX_DRIVES)
        return fail("-drive given more than %d times", MAX_DRIVES);
    o->drive[o->ndrives++] = arg;
    return 0;
}

/* Character-device backends (for -serial and -monitor) whose syntax we know. Whether the
 * backend is implemented is the device's business: it names the unsupported ones. */
static int check_chardev(const char *opt, const char *arg)
{
    static const char *const exact[] = {"stdio", "mon:stdio", "null", "none", "pty", "vc"};
    static const char *const prefix[] = {
        "file:", "unix:", "tcp:", "telnet:", "udp:", "pipe:", "vc:", "chardev:"};

    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (!strcmp(arg, exact[i]))
            return 0;
    for (size_t i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++) {
        size_t n = strlen(prefix[i]);
        if (!strncmp(arg, prefix[i], n)) {
            if (!arg[n])
                return fail("%s %s: the backend needs a value after ':'", opt, arg);
            return 0;
        }
    }
    return fail("%s %s: unknown backend (use stdio, file:PATH, null or none)", opt, arg);
}

static int opt_serial(struct options *o, const char *arg)
{
    if (check_chardev("-serial", arg))
        return H_ERROR;
    if (o->nserial == 4)
        return fail("-serial given more than 4 times");
    o->serial[o->nserial++] = arg;
    return 0;
}

static int opt_monitor(struct options *o, const char *arg)
{
    o->monitor = arg;
    return check_chardev("-monitor", arg);
}

/* Device drivers -device accepts. Only isa-debug-exit is parsed here; the others are kept as
 * written for the device that implements them. */
static const struct {
    const char *name, *what;
} device_list[] = {
    {"isa-debug-exit", "exit with status (value << 1) | 1 on a port write (iobase=, iosize=)"},
    {"pc-testdev", "QEMU's test device (scratch ports, IRQ lines, scratch MMIO)"},
    {"lsi53c895a", "LSI 53C895A SCSI host adapter (alias: lsi)"},
    {"lsi", NULL},
    {"scsi-hd", "SCSI disk"},
    {"scsi-cd", "SCSI CD-ROM"},
    {"ide-hd", "IDE disk"},
    {"ide-cd", "IDE CD-ROM"},
};

static int debug_exit_props(struct options *o, const char *arg, const char *props)
{
    char buf[256], *tok, *save = NULL;
    unsigned long base = DEBUG_EXIT_DEFAULT_PORT, size = DEBUG_EXIT_DEFAULT_SIZE;

    if (o->debug_exit)
        return fail("-device %s: only one isa-debug-exit is supported", arg);
    if (strlen(props) >= sizeof(buf))
        return fail("-device %s: too long", arg);
    strcpy(buf, props);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');

        if (!eq)
            return fail("-device %s: expected property=value, not '%s'", arg, tok);
        *eq++ = 0;
        if (!strcmp(tok, "iobase")) {
            if (parse_uint(eq, 0xffff, &base))
                return fail("-device %s: iobase must be a port number 0..0xffff", arg);
        } else if (!strcmp(tok, "iosize")) {
            if (parse_uint(eq, 4, &size) || size == 0)
                return fail("-device %s: iosize must be 1, 2, 3 or 4", arg);
        } else if (strcmp(tok, "id")) {
            return fail("-device %s: unknown property '%s' (isa-debug-exit has iobase and "
                        "iosize)",
                        arg, tok);
        }
    }
    if (base + size > 0x10000)
        return fail("-device %s: the port range ends past 0xffff", arg);
    o->debug_exit = true;
    o->debug_exit_port = (uint16_t)base;
    o->debug_exit_size = (uint16_t)size;
    return 0;
}

static int opt_device(struct options *o, const char *arg)
{
    size_t n = strcspn(arg, ",");

    if (!strcmp(arg, "help")) {
        printf("Devices for -device:\n");
        for (size_t i = 0; i < sizeof(device_list) / sizeof(device_list[0]); i++)
            if (device_list[i].what)
                printf("  %-16s %s\n", device_list[i].name, device_list[i].what);
        return H_EXIT;
    }
    if (n == strlen("isa-debug-exit") && !strncmp(arg, "isa-debug-exit", n))
        return debug_exit_props(o, arg, arg + n);
    for (size_t i = 0; i < sizeof(device_list) / sizeof(device_list[0]); i++) {
        if (strlen(device_list[i].name) == n && !strncmp(arg, device_list[i].name, n)) {
            char why[256], name[32];

            snprintf(name, sizeof(name), "%.*s", (int)n, arg);
            bool scsi = !strcmp(name, "lsi53c895a") || !strcmp(name, "lsi") ||
                        !strcmp(name, "scsi-hd");

            if (scsi && lsi53c895a__check_device(name, arg[n] ? arg + n + 1 : "", why,
                                                 sizeof(why)))
                return fail("-device %s: %s", arg, why);
            if (o->ndevices == MAX_DEVICE_OPTS)
                return fail("-device given more than %d times", MAX_DEVICE_OPTS);
            o->device[o->ndevices++] = arg;
            return 0;
        }
    }
    return fail("-device %s: unknown device '%.*s' (see -device help)", arg, (int)n, arg);
}

static int opt_flag_nographic(struct options *o, const char *arg)
{
    (void)arg;
    o->nographic = true;
    return 0;
}

static int opt_flag_no_reboot(struct options *o, const char *arg)
{
    (void)arg;
    o->no_reboot = true;
    return 0;
}

static int opt_ignored_flag(struct options *o, const char *arg)
{
    (void)o, (void)arg;
    return 0;
}

/* -machine / -M: the i440FX "pc" in any version, plus accel=, which we note and ignore. */
static int opt_machine(struct options *o, const char *arg)
{
    char buf[256], *tok, *save = NULL;

    if (!strcmp(arg, "help")) {
        printf("Supported machines:\npc                   Standard PC (i440FX + PIIX), also "
               "pc-i440fx-*\n");
        return H_EXIT;
    }
    if (strlen(arg) >= sizeof(buf))
        return fail("-machine %s: too long", arg);
    strcpy(buf, arg);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const char *type = NULL;

        if (!strchr(tok, '='))
            type = tok;
        else if (!strncmp(tok, "type=", 5))
            type = tok + 5;
        else if (!strncmp(tok, "accel=", 6))
            accel_ignored = arg;
        else
            return fail("-machine %s: property '%s' is not supported (only accel= is accepted)",
                        arg, tok);
        if (type && strcmp(type, "pc") && strncmp(type, "pc-i440fx-", 10))
            return fail("-machine %s: machine type '%s' is not supported; tachyon emulates "
                        "only 'pc' (i440FX + PIIX)",
                        arg, type);
    }
    o->machine = "pc";
    return 0;
}

static int opt_accel(struct options *o, const char *arg)
{
    (void)o;
    accel_ignored = arg;
    return 0;
}

static int opt_smp(struct options *o, const char *arg)
{
    unsigned long n;
    char buf[32];
    size_t len = strcspn(arg, ",");

    (void)o;
    if (!strncmp(arg, "cpus=", 5))
        arg += 5, len -= 5;
    if (len >= sizeof(buf))
        return fail("-smp %s: expected a CPU count", arg);
    memcpy(buf, arg, len);
    buf[len] = 0;
    if (parse_uint(buf, 255, &n) || n == 0)
        return fail("-smp %s: expected a CPU count", arg);
    if (n != 1)
        return fail("-smp %s: tachyon emulates one CPU", arg);
    return 0;
}

static int opt_d(struct options *o, const char *arg)
{
    int want_stats = o->want_stats;

    if (log_parse(arg, &want_stats))
        return fail("-d %s: unknown log item (known: bt, mmu, dev, cpu, guest, guest_errors, "
                    "stats; NAME=LEVEL sets a level)",
                    arg);
    o->debug = arg;
    o->want_stats = want_stats;
    return 0;
}

static int opt_D(struct options *o, const char *arg)
{
    o->logfile = arg;
    return nonempty("-D", arg);
}

static int opt_stats_json(struct options *o, const char *arg)
{
    o->stats_json = arg;
    return nonempty("--stats-json", arg);
}

static int opt_display(struct options *o, const char *arg)
{
    (void)o;
    if (strcmp(arg, "none"))
        return fail("-display %s: tachyon has no display (use -display none or -nographic)", arg);
    return 0;
}

static int opt_vga(struct options *o, const char *arg)
{
    (void)o;
    if (strcmp(arg, "none") && strcmp(arg, "std"))
        return fail("-vga %s: only 'std' (text mode) and 'none' are supported", arg);
    return 0;
}

static int opt_help(struct options *o, const char *arg)
{
    (void)o, (void)arg;
    options__usage(stdout);
    return H_EXIT;
}

static int opt_version(struct options *o, const char *arg)
{
    (void)o, (void)arg;
    printf("tachyon version %s, a binary-translating VMM for 32-bit x86 guests\n", TACHYON_VERSION);
    return H_EXIT;
}

static const struct optdef {
    const char *name; /* without the leading dashes */
    const char *arg;  /* value placeholder for --help, NULL for a flag */
    int (*handle)(struct options *o, const char *arg);
    const char *help; /* NULL: an alias, not listed separately */
} optdefs[] = {
    {"m", "SIZE", opt_m, "guest RAM: 128, 128M, 1G or size=128M (a bare number is MiB)"},
    {"kernel", "FILE", opt_kernel, "boot this Multiboot kernel (ELF32 or a.out kludge)"},
    {"initrd", "FILES", opt_initrd, "Multiboot modules: 'file args,file args' (,, for a comma)"},
    {"append", "TEXT", opt_append, "kernel command line (after the kernel's path, as in QEMU)"},
    {"bios", "FILE", opt_bios, "firmware image (default /usr/share/seabios/bios-256k.bin)"},
    {"drive", "SPEC", opt_drive, "add a drive: file=PATH,if=...,format=raw,..."},
    {"device", "DRIVER[,PROP=V...]", opt_device, "add a device; -device help lists them"},
    {"serial", "BACKEND", opt_serial, "next serial port (COM1, COM2): stdio, file:PATH, null"},
    {"monitor", "BACKEND", opt_monitor, "control console backend"},
    {"nographic", NULL, opt_flag_nographic, "no display; COM1 on stdio"},
    {"no-reboot", NULL, opt_flag_no_reboot, "exit (status 0) when the guest resets"},
    {"no-shutdown", NULL, opt_ignored_flag, "accepted for QEMU compatibility; no effect"},
    {"machine", "TYPE[,accel=A]", opt_machine, "machine type: pc or pc-i440fx-*; accel= ignored"},
    {"M", "TYPE", opt_machine, NULL},
    {"accel", "NAME", opt_accel, "accepted and ignored: tachyon always translates"},
    {"smp", "1", opt_smp, "CPU count: only 1"},
    {"display", "none", opt_display, "display backend: only none"},
    {"vga", "std|none", opt_vga, "graphics card: std (VGA text) or none"},
    {"d", "ITEMS", opt_d, "log: bt,mmu,dev,cpu,guest (=LEVEL), guest_errors, stats"},
    {"D", "FILE", opt_D, "write the log to FILE instead of stderr"},
    {"stats-json", "FILE", opt_stats_json, "write statistics as JSON to FILE at exit"},
    {"help", NULL, opt_help, "print this help and exit"},
    {"h", NULL, opt_help, NULL},
    {"version", NULL, opt_version, "print the version and exit"},
};

#define NOPTDEFS (sizeof(optdefs) / sizeof(optdefs[0]))

/* Options QEMU does not have are shown in GNU style (both spellings work for all). */
static bool gnu_style(const char *name)
{
    return !strcmp(name, "stats-json") || !strcmp(name, "help") || !strcmp(name, "version");
}

void options__usage(FILE *f)
{
    fprintf(f, "usage: tachyon [options] -kernel FILE\n"
               "Options (spelled as in qemu-system-i386; -opt and --opt are the same):\n");
    for (size_t i = 0; i < NOPTDEFS; i++) {
        char left[64];

        if (!optdefs[i].help)
            continue;
        snprintf(left, sizeof(left), "%s%s%s%s", gnu_style(optdefs[i].name) ? "--" : "-",
                 optdefs[i].name, optdefs[i].arg ? " " : "", optdefs[i].arg ? optdefs[i].arg : "");
        fprintf(f, "  %-26s %s\n", left, optdefs[i].help);
    }
}

static const struct optdef *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTDEFS; i++)
        if (strlen(optdefs[i].name) == len && !strncmp(optdefs[i].name, name, len))
            return &optdefs[i];
    return NULL;
}

static int parse(int argc, char **argv, struct options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *name, *val = NULL;
        const struct optdef *d;
        size_t len;
        int r;

        if (a[0] != '-' || !a[1])
            return fail("unexpected argument '%s' (disk images go with -drive file=PATH)", a);
        name = a + (a[1] == '-' ? 2 : 1);
        len = strcspn(name, "=");
        d = find_opt(name, len);
        if (!d)
            return fail("unknown option '%s'", a);
        if (name[len] == '=') {
            if (!d->arg)
                return fail("option '-%s' takes no value", d->name);
            val = name + len + 1;
        } else if (d->arg) {
            if (i + 1 == argc)
                return fail("option '%s' needs a value (%s)", a, d->arg);
            val = argv[++i];
        }
        r = d->handle(o, val);
        if (r)
            return r;
    }
    return 0;
}

int options__parse(int argc, char **argv, struct options *o)
{
    int r;

    memset(o, 0, sizeof(*o));
    o->ram_mb = 128;
    o->machine = "pc";
    errbuf[0] = 0;
    accel_ignored = NULL;

    r = parse(argc, argv, o);
    if (r == H_EXIT)
        return OPTIONS_EXIT;
    if (r) {
        fflush(stdout);
        fprintf(stderr, "tachyon: %s; try 'tachyon --help'\n", errbuf);
        return OPTIONS_ERROR;
    }
    if (accel_ignored)
        LOG(CPU, 1, "accelerator setting '%s' ignored: tachyon always uses binary translation",
            accel_ignored);
    return OPTIONS_OK;
}
