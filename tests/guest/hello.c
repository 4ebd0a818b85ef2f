/*
 * hello: the smallest guest test. It proves the kit's path end to end (the
 * Multiboot load, the kit's GDT/IDT setup, COM1 output and the isa-debug-exit
 * verdict) and is the default guest of `make demo`.
 */
#include "kit.h"

void test_main(void)
{
    t_printf("Hello from the tachyon guest test kit!\n");
    t_printf("printf check: %d %u %x %08x %s %c %hhx %hx [%5d]\n", -42, 42u, 0xbeefu, 0x1234u,
             "str", 'c', 0x1ffu, 0x12345u, 7);
    t_assert_eq("one plus one", 1 + 1, 2);
}
