/*
 * Building and tearing down a machine: the vCPU (64-byte aligned, reset to
 * its power-on state), guest RAM as one memfd mapped shared (the windows
 * of mmu-shadow map the same memfd), the firmware ROM in a memfd of its
 * own, and the devices from the one machine table below. A device is in
 * the machine because it is listed here, never because a constructor ran.
 *
 * machine__create() either returns a complete machine or prints
 * "tachyon: <what failed>" and returns NULL with everything undone, so a
 * failed setup leaves nothing half-built. The run loop (machine__run) is
 * in run.c.
 */
#define _GNU_SOURCE /* memfd_create */
#include "monitor/machine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bt/bt.h"
#include "devices/debugexit.h"
#include "devices/fwcfg.h"
#include "devices/i440bx.h"
#include "devices/i8042.h"
#include "devices/i8254.h"
#include "devices/i8259.h"
#include "devices/ioapic.h"
#include "devices/lapic.h"
#include "devices/lsi53c895a.h"
#include "devices/mc146818.h"
#include "devices/pci.h"
#include "devices/piix4.h"
#include "devices/port92.h"
#include "devices/testdev.h"
#include "devices/uart16550.h"
#include "mmu-shadow/window.h"
#include "monitor/log.h"
#include "monitor/timer.h"

#define DEFAULT_BIOS "/usr/share/seabios/bios-256k.bin"
#define RAM_MAX_MB 3584 /* the rest of 4 GiB is PCI, APIC and firmware space */
#define ROM_MAX (16u << 20)
#define ROM_ALIGN (64u << 10)

/* The machine table: every device of the PC, in creation order. A create function reads
 * m->opt, decides whether its device is present, claims its ranges, and on failure writes a
 * message to err (destroy functions then run for everything, so they must cope with a
 * partly-built device). */
static const struct machine_device {
    const char *name;
    int (*create)(struct machine *m, char *err, size_t errlen);
    void (*destroy)(struct machine *m); /* NULL: nothing to free */
} machine_devices[] = {
    {"i8259", i8259__create, i8259__destroy},
    {"lapic", lapic__create, lapic__destroy},
    {"ioapic", ioapic__create, ioapic__destroy},
    {"i8254", i8254__create, i8254__destroy},
    {"mc146818", mc146818__create, mc146818__destroy},
    {"port92", port92__create, port92__destroy},
    {"i8042", i8042__create, i8042__destroy},
    {"uart16550", uart16550__create, uart16550__destroy},
    {"isa-debug-exit", debugexit__create, NULL},
    {"pc-testdev", testdev__create, testdev__destroy},
    {"fw_cfg", fwcfg__create, fwcfg__destroy},
    {"pci", pci__create, pci__destroy},
    {"i440bx", i440bx__create, i440bx__destroy},
    {"piix4", piix4__create, piix4__destroy},
    {"lsi53c895a", lsi53c895a__create, lsi53c895a__destroy}, /* only with -device lsi53c895a */
};

#define NDEVICES (sizeof(machine_devices) / sizeof(machine_devices[0]))

static void irq_none(struct machine *m, int line, int level)
{
    (void)m, (void)line, (void)level;
}

static int create_ram(struct machine *m, char *err, size_t errlen)
{
    m->ram_size = m->opt.ram_mb << 20;
    m->ram_fd = memfd_create("tachyon-ram", MFD_CLOEXEC);
    if (m->ram_fd < 0 || ftruncate(m->ram_fd, (off_t)m->ram_size)) {
        snprintf(err, errlen, "cannot create %llu MiB of guest RAM: %s",
                 (unsigned long long)m->opt.ram_mb, strerror(errno));
        return -1;
    }
    m->ram =
        mmap(NULL, m->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, m->ram_fd, 0);
    if (m->ram == MAP_FAILED) {
        m->ram = NULL;
        snprintf(err, errlen, "cannot map %llu MiB of guest RAM: %s",
                 (unsigned long long)m->opt.ram_mb, strerror(errno));
        return -1;
    }
    return 0;
}

/* Copy the firmware file into a memfd; the monitor keeps a read-only view of it. */
static int load_rom(struct machine *m, char *err, size_t errlen)
{
    const char *path = m->opt.bios ? m->opt.bios : DEFAULT_BIOS;
    const char *fix = m->opt.bios ? "check the -bios argument"
                                  : "install Debian's seabios "
                                    "package or give -bios FILE";
    struct stat st;
    uint8_t *p;
    int fd, rc = -1;
    size_t done = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open firmware '%s': %s (%s)", path, strerror(errno), fix);
        return -1;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "firmware '%s' is not a regular file (%s)", path, fix);
        goto out;
    }
    if (st.st_size == 0 || st.st_size % ROM_ALIGN || st.st_size > ROM_MAX) {
        snprintf(err, errlen,
                 "firmware '%s' is %lld bytes; a firmware image must be a non-zero "
                 "multiple of 64 KiB and at most 16 MiB (%s)",
                 path, (long long)st.st_size, fix);
        goto out;
    }
    m->rom_size = (uint32_t)st.st_size;
    m->rom_fd = memfd_create("tachyon-rom", MFD_CLOEXEC);
    if (m->rom_fd < 0 || ftruncate(m->rom_fd, m->rom_size)) {
        snprintf(err, errlen, "cannot create the firmware ROM: %s", strerror(errno));
        goto out;
    }
    p = mmap(NULL, m->rom_size, PROT_READ | PROT_WRITE, MAP_SHARED, m->rom_fd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "cannot map the firmware ROM: %s", strerror(errno));
        goto out;
    }
    m->rom = p;
    while (done < m->rom_size) {
        ssize_t n = read(fd, p + done, m->rom_size - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "cannot read firmware '%s': %s", path,
                     n < 0 ? strerror(errno) : "file shorter than its size");
            goto out;
        }
        done += (size_t)n;
    }
    /* The monitor never writes ROM; a stray write should fault here, not corrupt it. */
    mprotect(p, m->rom_size, PROT_READ);
    rc = 0;
out:
    close(fd);
    return rc;
}

struct machine *machine__create(const struct options *opt)
{
    struct machine *m;
    char err[512] = "";
    void *cpu = NULL;
    size_t i;

    if (opt->ram_mb == 0 || opt->ram_mb > RAM_MAX_MB) {
        fprintf(stderr, "tachyon: -m %llu: guest RAM must be between 1 and %d MiB\n",
                (unsigned long long)opt->ram_mb, RAM_MAX_MB);
        return NULL;
    }
    m = calloc(1, sizeof(*m));
    if (!m) {
        fprintf(stderr, "tachyon: out of memory creating the machine\n");
        return NULL;
    }
    m->opt = *opt;
    m->ram_fd = m->rom_fd = -1;
    m->irq = irq_none;

    if (posix_memalign(&cpu, 64, sizeof(struct vcpu))) {
        snprintf(err, sizeof(err), "out of memory creating the vCPU");
        goto fail;
    }
    memset(cpu, 0, sizeof(struct vcpu));
    m->cpu = cpu;
    vcpu_reset(m->cpu);

    if (create_ram(m, err, sizeof(err)) || load_rom(m, err, sizeof(err)))
        goto fail;
    if (timers__init(m)) {
        snprintf(err, sizeof(err), "out of memory creating the timers");
        goto fail;
    }
    for (i = 0; i < NDEVICES; i++) {
        if (machine_devices[i].create(m, err, sizeof(err))) {
            if (!err[0])
                snprintf(err, sizeof(err), "cannot create device %s", machine_devices[i].name);
            goto fail;
        }
    }
    return m;

fail:
    fprintf(stderr, "tachyon: %s\n", err);
    machine__destroy(m);
    return NULL;
}

void machine__destroy(struct machine *m)
{
    if (!m)
        return;
    /* Both are no-ops when the run loop never set them up. */
    bt__destroy(m);
    mmu__destroy(m);
    for (size_t i = NDEVICES; i-- > 0;)
        if (machine_devices[i].destroy)
            machine_devices[i].destroy(m);
    timers__destroy(m);
    if (m->rom)
        munmap(m->rom, m->rom_size);
    if (m->rom_fd >= 0)
        close(m->rom_fd);
    if (m->ram)
        munmap(m->ram, m->ram_size);
    if (m->ram_fd >= 0)
        close(m->ram_fd);
    free(m->cpu);
    free(m);
}

/*
 * The first request wins until the run loop takes it (sets m->request back to REQ_NONE):
 * a guest that writes the debug-exit port and then triple-faults exits with its status.
 * The negative budget makes translated code leave at its next block boundary.
 */
void machine__request(struct machine *m, enum machine_request req, int status)
{
    int none = REQ_NONE;

    if (req == REQ_NONE)
        return;
    if (!__atomic_compare_exchange_n((int *)&m->request, &none, (int)req, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST))
        return;
    if (req == REQ_EXIT)
        m->exit_status = status;
    __atomic_store_n(&m->cpu->budget, -1, __ATOMIC_SEQ_CST);
}
