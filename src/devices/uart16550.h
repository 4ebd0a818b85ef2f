/*
 * 16550A UARTs at COM1 (0x3f8, IRQ 4) and COM2 (0x2f8, IRQ 3), with their
 * host backends from -serial.
 */
#ifndef TACHYON_UART16550_H
#define TACHYON_UART16550_H

#include <stddef.h>
#include <stdint.h>

struct machine;

/* Create COM1 and COM2 from m->opt.serial[] (a "none" slot leaves that port absent) and claim
 * their ports. Returns 0, or -1 with a message naming the port and the backend in err. */
int uart16550__create(struct machine *m, char *err, size_t errlen);
void uart16550__destroy(struct machine *m);

/* Bytes from the backend (host input) into the receiver FIFO. Call on the vCPU thread, which
 * owns device state; bytes beyond uart__rx_space() are lost with an overrun, as on the chip. */
void uart__receive(void *uart, const uint8_t *buf, size_t n);
size_t uart__rx_space(void *uart);

/* The host fd input for this port comes from (-1: none): the event loop watches it. */
int uart__input_fd(void *uart);

#endif
