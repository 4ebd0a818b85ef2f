/*
 * compute: CPU-bound integer work, about 1 s natively at the default count. Each repetition
 * mixes the three shapes of code a binary translator treats differently: straight-line
 * loops with table loads (a table-driven CRC-32 over 16 KiB), calls and returns through a
 * function pointer (qsort of 256 integers with a comparator), and a dense switch compiled to
 * an indirect jump (a tiny bytecode interpreter). No system calls inside the timed loop.
 * usage: compute [REPS]      Output: BENCH-RESULT name=compute iters=REPS seconds=S
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t crc_table[256];
static unsigned char buf[16384];
static int keys[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;

        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32(const unsigned char *p, size_t n, uint32_t c)
{
    c = ~c;
    while (n--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

static int cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x > y) - (x < y);
}

/* A stack machine with eight opcodes; the program is fixed but the compiler cannot know it. */
static uint32_t interp(const unsigned char *code, size_t len, uint32_t seed)
{
    uint32_t st[16], sp = 0, acc = seed;

    for (int rep = 0; rep < 16; rep++) {
        for (size_t pc = 0; pc < len; pc++) {
            switch (code[pc] & 7) {
            case 0: st[sp++ & 15] = acc; break;
            case 1: acc = st[--sp & 15] + acc; break;
            case 2: acc ^= acc << 13; break;
            case 3: acc ^= acc >> 17; break;
            case 4: acc ^= acc << 5; break;
            case 5: acc = acc * 2654435761u; break;
            case 6: acc = acc ? acc - 1 : 7; break;
            case 7: acc += code[pc]; break;
            }
        }
    }
    return acc;
}

int main(int argc, char **argv)
{
    long reps = argc > 1 ? atol(argv[1]) : 20000;
    unsigned char code[64];
    uint32_t x = 2463534242u, sum = 0;
    double t0, t1;

    crc_init();
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    for (size_t i = 0; i < sizeof(code); i++)
        code[i] = (unsigned char)(i * 37 + 11);
    printf("BENCH-START name=compute\n");
    fflush(stdout);
    t0 = now();
    for (long r = 0; r < reps; r++) {
        sum += crc32(buf, sizeof(buf), (uint32_t)r);
        for (int i = 0; i < 256; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            keys[i] = (int)(x >> 1);
        }
        qsort(keys, 256, sizeof(keys[0]), cmp);
        sum += (uint32_t)keys[r & 255];
        sum += interp(code, sizeof(code), sum);
    }
    t1 = now();
    printf("BENCH-RESULT name=compute iters=%ld seconds=%.6f check=%08x\n", reps, t1 - t0, sum);
    return 0;
}
