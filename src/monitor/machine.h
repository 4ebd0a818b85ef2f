/*
 * The machine: options from the command line, guest RAM, the vCPU, the bus
 * tables and the device instances. One per process in the monitor; tests
 * make fresh ones with machine__create()/machine__destroy().
 */
#ifndef TACHYON_MACHINE_H
#define TACHYON_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "monitor/cpu.h"

#define MAX_PIO_RANGES 64
#define MAX_MMIO_RANGES 32
#define MAX_DRIVES 8
#define MAX_DEVICE_OPTS 16

/* What the command line asked for (qemu-system-i386 spelling). */
struct options {
    uint64_t ram_mb;            /* -m, default 128 */
    const char *kernel;         /* -kernel */
    const char *initrd;         /* -initrd (comma-separated Multiboot modules) */
    const char *append;         /* -append */
    const char *bios;           /* -bios */
    const char *drive[MAX_DRIVES];       /* -drive specs, unparsed */
    int ndrives;
    const char *device[MAX_DEVICE_OPTS]; /* -device specs, unparsed */
    int ndevices;
    const char *serial[4];      /* -serial backends: stdio, file:PATH, pty, unix:PATH, null */
    int nserial;
    const char *monitor;        /* -monitor */
    const char *machine;        /* -machine, only "pc" */
    bool nographic;
    bool no_reboot;
    const char *debug;          /* -d */
    const char *logfile;        /* -D */
    const char *stats_json;     /* --stats-json FILE */
    bool want_stats;            /* -d stats */
    bool debug_exit;            /* -device isa-debug-exit,... seen */
    uint16_t debug_exit_port;
    uint16_t debug_exit_size;
};

struct pio_range {
    uint16_t base;
    uint32_t len;
    const struct device_ops *ops;
    void *opaque;
};

struct mmio_range {
    uint32_t base, len;
    const struct device_ops *ops;
    void *opaque;
};

enum machine_request {
    REQ_NONE,
    REQ_EXIT,      /* leave with exit_status (isa-debug-exit, power off) */
    REQ_RESET,     /* system reset (8042, port 0x92, 0xcf9, triple fault) */
    REQ_STOP,      /* stop with an error already reported (unsupported instruction, ...) */
};

struct machine {
    struct options opt;
    struct vcpu *cpu;

    /* Guest RAM: one memfd, also mapped here for the monitor's own accesses. */
    int ram_fd;
    uint8_t *ram;
    uint64_t ram_size;

    /* Firmware ROM (mapped at the top of 4 GiB and, its last 128 KiB, below 1 MiB). */
    int rom_fd;
    uint8_t *rom;
    uint32_t rom_size;

    struct pio_range pio[MAX_PIO_RANGES];
    int npio;
    struct mmio_range mmio[MAX_MMIO_RANGES];
    int nmmio;

    volatile int request;      /* enum machine_request */
    int exit_status;

    void *serial[2];           /* UART instances (COM1, COM2) */
    /* Drive ISA IRQ `line` to `level` (0/1). machine__create() points it at a no-op; the
     * interrupt controller replaces it. Devices call it only when their line changes. */
    void (*irq)(struct machine *m, int line, int level);

    /* The CPU's interrupt input (the 8259 pair, or the local APIC once enabled). The run
     * loop asks intr_pending() at instruction boundaries when EFLAGS.IF allows and then
     * intr_ack() (INTA) for the vector. NULL: nothing can interrupt. */
    bool (*intr_pending)(struct machine *m);
    int (*intr_ack)(struct machine *m);
    void *pic;                 /* devices that other devices need to find */
    void *ioapic;
    void *lapic;
    void *pci;                 /* struct pci_bus (src/devices/pci.c): bus 0 and its functions */
    struct timers *timers;     /* src/monitor/timer.c */
    struct events *events;     /* src/monitor/events.c: the event-loop thread */

    struct mmu *mmu;           /* address-space windows (src/mmu-shadow) */
    uint64_t monitor_accesses; /* accesses only the monitor could make: MMIO, ROM, stores to
                                  traced or code pages (adaptive retranslation watches it) */
    struct bt *bt;             /* translation cache (src/bt) */
};

/* Why machine__run() returned. */
enum run_result {
    RUN_EXIT,     /* the guest asked to leave (isa-debug-exit, ACPI power off): m->exit_status */
    RUN_HALTED,   /* HLT with interrupts off and nothing that could wake the CPU */
    RUN_RESET,    /* the guest reset the machine (triple fault, 8042, port 0x92/0xcf9) */
    RUN_ERROR,    /* stopped on something tachyon does not support; the message is printed */
};

struct machine *machine__create(const struct options *opt);
void machine__destroy(struct machine *m);
/* Ask the run loop to stop: from devices (debug exit, reset) and other threads. */
void machine__request(struct machine *m, enum machine_request req, int status);
int machine__run(struct machine *m); /* enum run_result */

/* Tell the vCPU something happened (interrupt line, timer, input): it leaves translated
 * code at the next block boundary and looks. Safe from any thread. */
static inline void machine__kick(struct machine *m)
{
    __atomic_store_n(&m->cpu->pending_irq, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&m->cpu->budget, -1, __ATOMIC_RELEASE);
}

/* Guest-physical access for the monitor and devices (RAM only; returns NULL outside RAM). */
static inline void *machine__gpa(struct machine *m, uint64_t gpa, uint64_t len)
{
    if (gpa >= m->ram_size || len > m->ram_size - gpa)
        return 0;
    return m->ram + gpa;
}

#endif
