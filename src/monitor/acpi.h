/*
 * ACPI tables for boots that run no firmware (the Linux loader): RSDP, RSDT, FADT, FACS, a
 * DSDT assembled by hand, and a MADT, describing the i440BX/PIIX4 machine. See acpi.c.
 */
#ifndef TACHYON_ACPI_H
#define TACHYON_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct machine;

#define ACPI_REGION_SIZE 0x4000u /* RAM the tables own, at the top of guest RAM */
#define ACPI_IOAPIC_ID 0         /* the I/O APIC's ID register at reset (and SeaBIOS's MP table) */
#define ACPI_IOAPIC_ADDR 0xfec00000u
#define ACPI_LAPIC_ADDR 0xfee00000u
#define ACPI_PCI_HOLE_END 0xfebfffffu /* the PCI memory window ends below the I/O APIC */

/*
 * Program the PIIX4 as firmware would (piix4__firmware_setup(): PM block at 0x600, PIRQ
 * routing, IDE decode) and write the tables into the last ACPI_REGION_SIZE bytes of guest
 * RAM. *rsdp_addr gets the RSDP's guest-physical address, for boot_params.acpi_rsdp_addr.
 * Returns 0, or -1 with a message in err (too little RAM, no PIIX4).
 */
int acpi__build(struct machine *m, uint32_t *rsdp_addr, char *err, size_t errlen);

/* The span of RAM the tables occupy (whether built yet or not): the e820 map must mark it
 * reserved and loaders must keep other data out of it. */
void acpi__e820_reserved(struct machine *m, uint32_t *base, uint32_t *len);

/* The DSDT's AML (definition block header included), assembled for m into buf; returns its
 * length, or 0 if cap is too small. For acpi__build() and the tests. */
size_t acpi__dsdt(struct machine *m, uint8_t *buf, size_t cap);

#endif
