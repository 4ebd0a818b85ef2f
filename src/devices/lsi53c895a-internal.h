/*
 * The LSI53C895A's state, shared by its three files: lsi53c895a.c (PCI function, register
 * file, interrupts), lsi53c895a-scripts.c (the SCRIPTS processor and its DMA) and
 * lsi53c895a-bus.c (the SCSI bus as the initiator sees it: selection, phases, messages).
 * Register and bit names are the LSI53C895A Technical Manual's.
 */
#ifndef TACHYON_LSI53C895A_INTERNAL_H
#define TACHYON_LSI53C895A_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"
#include "devices/scsi.h"

struct scsi_disk;
struct timer;

#define LSI_RAM_SIZE 8192 /* SCRIPTS RAM, BAR2 */
#define LSI_MMIO_SIZE 1024 /* BAR1; the 256 register bytes repeat */
#define LSI_IO_SIZE 256    /* BAR0 */
#define LSI_MSGIN_MAX 8

#define LSI_SCNTL0_TRG 0x01
#define LSI_SCNTL1_IARB 0x02
#define LSI_SCNTL1_RST 0x08
#define LSI_SCNTL1_CON 0x10
#define LSI_SCNTL2_WSR 0x01
#define LSI_SCNTL2_WSS 0x08
#define LSI_SCID_RRE 0x40
#define LSI_ISTAT_DIP 0x01
#define LSI_ISTAT_SIP 0x02
#define LSI_ISTAT_INTF 0x04
#define LSI_ISTAT_CON 0x08
#define LSI_ISTAT_SEM 0x10
#define LSI_ISTAT_SIGP 0x20
#define LSI_ISTAT_SRST 0x40
#define LSI_ISTAT_ABRT 0x80
#define LSI_DSTAT_IID 0x01
#define LSI_DSTAT_SIR 0x04
#define LSI_DSTAT_SSI 0x08
#define LSI_DSTAT_ABRT 0x10
#define LSI_DSTAT_BF 0x20
#define LSI_DSTAT_MDPE 0x40
#define LSI_DSTAT_DFE 0x80
#define LSI_SSTAT0_RST 0x02
#define LSI_SSTAT0_WOA 0x04
#define LSI_SIST0_PAR 0x01
#define LSI_SIST0_RST 0x02
#define LSI_SIST0_UDC 0x04
#define LSI_SIST0_SGE 0x08
#define LSI_SIST0_RSL 0x10
#define LSI_SIST0_SEL 0x20
#define LSI_SIST0_CMP 0x40
#define LSI_SIST0_MA 0x80
#define LSI_SIST1_HTH 0x01
#define LSI_SIST1_GEN 0x02
#define LSI_SIST1_STO 0x04
#define LSI_SIST1_SBMC 0x10
#define LSI_SOCL_ATN 0x08
#define LSI_SBCL_ATN 0x08
#define LSI_SBCL_BSY 0x20
#define LSI_SBCL_ACK 0x40
#define LSI_SBCL_REQ 0x80
#define LSI_CTEST2_DACK 0x01
#define LSI_CTEST2_CM 0x10
#define LSI_CTEST2_SIGP 0x40
#define LSI_CTEST3_CLF 0x04
#define LSI_CTEST3_FLF 0x08
#define LSI_DMODE_MAN 0x01
#define LSI_DCNTL_COM 0x01
#define LSI_DCNTL_IRQD 0x02
#define LSI_DCNTL_STD 0x04
#define LSI_DCNTL_SSM 0x10
#define LSI_DCNTL_PFF 0x40
#define LSI_STEST1_DBLSEL 0x04
#define LSI_STEST1_DBLEN 0x08
#define LSI_STEST3_CSF 0x02
#define LSI_STEST4_LCKFRQ 0x20
#define LSI_STEST4_SMODE_LVD 0xc0
#define LSI_CCNTL1_EN64DBMV 0x01
#define LSI_CCNTL1_EN64TIBMV 0x02
#define LSI_CCNTL1_64TIMOD 0x04

/* Why the SCRIPTS processor is not fetching. */
enum lsi_wait {
    LSI_IDLE,         /* halted (after reset, an interrupt, or before DSP is written) */
    LSI_RUNNING,      /* fetching; continued from a timer when a slice runs out */
    LSI_WAIT_REQ,     /* an instruction needs the bus and the target is busy */
    LSI_WAIT_RESEL,   /* WAIT RESELECT: until a target reselects or SIGP is set */
};

/* What the target does after the bytes in msgin have been read. */
enum lsi_msg_after { LSI_AFTER_NONE, LSI_AFTER_PHASE, LSI_AFTER_DISCONNECT };

struct lsi {
    struct pci_function f;
    struct machine *m;
    struct scsi_disk *disk[SCSI_MAX_TARGETS];
    struct timer *run_timer; /* continues SCRIPTS after a slice */
    struct timer *gen_timer; /* the general purpose timer (STIME1.GEN) */
    int irq_level;
    int depth; /* SCRIPTS runs active on the stack (a memory move may write DSP) */

    /* SCSI core registers. */
    uint8_t scntl0, scntl1, scntl2, scntl3, scid, sxfer, sdid, gpreg, sfbr, socl, ssid, sbcl;
    uint8_t dstat, sstat0, sstat1, sstat2;
    uint32_t dsa;
    uint8_t istat;
    uint8_t ctest0, ctest2, ctest3, ctest4, ctest5, ctest6;
    uint32_t temp;
    uint8_t dfifo;
    uint32_t dbc; /* 24 bits */
    uint8_t dcmd;
    uint32_t dnad, dsp, dsps;
    uint32_t scratch[10]; /* SCRATCHA..SCRATCHJ (A at 0x34, B at 0x5c, C..J at 0x60..0x7f) */
    uint8_t dmode, dien, sbr, dcntl;
    uint32_t adder;
    uint8_t sien0, sien1, sist0, sist1, slpar, swide, macntl, gpcntl, stime0, stime1;
    uint8_t respid0, respid1, stest0, stest1, stest2, stest3;
    uint16_t sidl, sodl, sbdl;
    uint8_t ccntl0, ccntl1;
    uint32_t mmrs, mmws, sfs, drs, sbms, dbms, dnad64, pmjad1, pmjad2, rbc, ua, esa, ia, sbc,
        csbc;

    uint8_t ram[LSI_RAM_SIZE];

    /* SCRIPTS processor. */
    enum lsi_wait wait;
    bool carry;
    bool in_move;    /* a block move waits for the target with DBC bytes left */
    uint32_t waddr;  /* WAIT RESELECT / SELECT alternate address */

    /* The bus as the initiator sees it. */
    int target;      /* connected target, -1 when the bus is free */
    unsigned lun;
    int phase;       /* what the target asserts; -1: no REQ (busy or bus free) */
    bool sto;        /* selection timed out: halt at the next instruction that needs the bus */
    bool atn;        /* ATN asserted: the target goes to MESSAGE OUT */
    bool cmd_started; /* the CDB went to the disk; its state decides the phase */
    uint8_t cdb[SCSI_MAX_CDB];
    unsigned cdb_len;
    uint8_t msgin[LSI_MSGIN_MAX];
    unsigned msgin_len;
    enum lsi_msg_after msg_after;
    uint8_t msgout[8]; /* an extended message being received */
    unsigned msgout_len;
};

/* lsi53c895a.c */
uint8_t lsi__reg_read(struct lsi *s, unsigned reg);
void lsi__reg_write(struct lsi *s, unsigned reg, uint8_t v);
void lsi__update_irq(struct lsi *s);
/* Latch SCSI interrupt bits; halt SCRIPTS when one is fatal or enabled. */
void lsi__scsi_interrupt(struct lsi *s, uint8_t sist0, uint8_t sist1);
/* Latch DMA interrupt bits and halt SCRIPTS. */
void lsi__dma_interrupt(struct lsi *s, uint8_t dstat);

/* lsi53c895a-scripts.c */
void lsi__scripts_run(struct lsi *s);   /* fetch from DSP until halted, waiting or a slice ends */
void lsi__scripts_start(struct lsi *s); /* DSP written / STD: start if halted */
void lsi__scripts_timer(struct machine *m, void *opaque);
/* DMA between the chip and the PCI bus: guest RAM, or the chip's own RAM and registers.
 * 0, or -1 when the address is not RAM (the caller raises DSTAT.BF). */
int lsi__dma_read(struct lsi *s, uint32_t addr, void *buf, uint32_t len);
int lsi__dma_write(struct lsi *s, uint32_t addr, const void *buf, uint32_t len);

/* lsi53c895a-bus.c */
void lsi__bus_reset(struct lsi *s);           /* SCNTL1.RST, chip reset */
int lsi__bus_select(struct lsi *s, unsigned id, bool atn); /* 0, or -1: no such target */
void lsi__bus_set_atn(struct lsi *s);
void lsi__bus_disconnect(struct lsi *s);
/* One block move in the current phase: moves up to s->dbc bytes at s->dnad, updating both.
 * Returns 0 when done (DBC 0), 1 when it must wait for the target, -1 on a bus fault, -2
 * when the phase changed with bytes left (phase mismatch), -3 when the target went bus
 * free with bytes left (unexpected disconnect). */
int lsi__bus_move(struct lsi *s);
void lsi__bus_wake(void *opaque); /* a busy target is ready */

#endif
