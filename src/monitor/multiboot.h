/*
 * Multiboot v1 kernel loading (-kernel, -initrd, -append), as qemu-system-i386 does it.
 */
#ifndef TACHYON_MULTIBOOT_H
#define TACHYON_MULTIBOOT_H

#include <stddef.h>

struct machine;

#define MULTIBOOT_HEADER_MAGIC 0x1badb002u
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002u

/* Where the info structure and the memory map go when the kernel leaves that memory free
 * (the addresses QEMU uses); otherwise they follow the kernel and the modules. */
#define MULTIBOOT_MMAP_ADDR 0x9000u
#define MULTIBOOT_INFO_ADDR 0x9500u

/* Load `kernel` and the comma-separated `modules` ("path args,path args"; NULL for none) into
 * guest RAM, build the Multiboot information structure with `cmdline` (NULL for none), and
 * set the vCPU to the Multiboot entry state. Returns 0, or -1 with a message in err; never
 * writes outside guest RAM. */
int multiboot__load(struct machine *m, const char *kernel, const char *modules, const char *cmdline,
                    char *err, size_t errlen);

#endif
