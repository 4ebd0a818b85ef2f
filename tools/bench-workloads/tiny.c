/*
 * tiny: the program the exec workload runs. No C library: _start makes the exit system call
 * at once, so an exec measures the kernel's (and the VMM's) cost of building and tearing
 * down a process, not libc start-up. Build: gcc -m32 -static -nostdlib -O2.
 */
void _start(void)
{
    __asm__ volatile("int $0x80" : : "a"(1), "b"(0)); /* exit(0) */
    for (;;)
        ;
}
