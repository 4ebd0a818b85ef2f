/*
 * bt/interp: the instruction interpreter, one test per instruction family.
 * Each test writes guest bytes at CS:0x1000 of a fresh flat 32-bit machine
 * (or a real-mode one), runs interp__step() and checks registers, flags,
 * memory and EIP against values worked out by hand from the Intel SDM.
 * Flags the SDM leaves undefined are checked where tachyon defines them (the
 * BCD vectors were recorded on a real CPU; see docs/internals-interp.md).
 */
#include <check.h>
#include <string.h>

#include "bt/interp.h"
#include "devices/bus.h"
#include "fixture.h"
#include "mmu-shadow/mem.h"
#include "monitor/cpuid.h"
#include "monitor/vtime.h"

#define CODE 0x1000u
#define STACK 0x9000u
#define C (fx->cpu)
#define R(r) ((uint32_t)C->gpr[r])
#define EIP_IS(off) ck_assert_uint_eq(C->eip, CODE + (off))
#define FLAGS_ARE(f) ck_assert_uint_eq(flags(), (f))

static struct interp_exc exc;

static void setup(void)
{
    fixture_machine_setup();
    C->gpr[R_ESP] = STACK;
    memset(&exc, 0, sizeof(exc));
}

static int run_at(uint32_t eip, const char *hex)
{
    uint8_t b[16];
    unsigned n = 0, v;

    while (*hex && sscanf(hex, "%2x", &v) == 1) {
        b[n++] = (uint8_t)v;
        hex += 2;
        while (*hex == ' ')
            hex++;
    }
    mem__phys_write_buf(fx, C->seg[SEG_CS].base + eip, b, n);
    C->eip = eip;
    return interp__step(fx, &exc);
}

static int run(const char *hex)
{
    return run_at(CODE, hex);
}

static uint32_t flags(void)
{
    return vcpu_eflags(C) & EFL_STATUS;
}

static void set_flags(uint32_t f)
{
    vcpu_set_eflags(C, (vcpu_eflags(C) & ~EFL_STATUS) | f);
}

static uint32_t rd(uint32_t a, unsigned size)
{
    return (uint32_t)mem__phys_read(fx, a, size);
}

static void wr(uint32_t a, unsigned size, uint32_t v)
{
    mem__phys_write(fx, a, size, v);
}

static void set_seg(int s, uint16_t sel, uint32_t base, uint32_t limit, uint16_t flags)
{
    C->seg[s] = (struct segment){.base = base, .limit = limit, .sel = sel, .flags = flags};
    C->seg_base[s] = base;
}

/* Real mode, CS=0, DS=ES=SS=0 unless a test moves them. */
static void real_mode(void)
{
    C->cr0 &= ~CR0_PE;
    for (int s = 0; s < SEG_NR; s++)
        set_seg(s, 0, 0, 0xffff, 0x93);
    set_seg(SEG_CS, 0, 0, 0xffff, 0x9b);
}

static void user_mode(unsigned iopl)
{
    C->seg[SEG_SS].flags |= 3 << 5;
    C->eflags_sys = (C->eflags_sys & ~EFL_IOPL) | iopl << 12;
}

/* ---- data instructions (the MMIO-emulation set) ------------------------------------------- */

START_TEST(mov_forms)
{
    C->gpr[R_EAX] = 0x2000;
    C->gpr[R_EBX] = 0x12345678;
    ck_assert_int_eq(run("89 18"), INTERP_OK); /* mov [eax], ebx */
    ck_assert_uint_eq(rd(0x2000, 4), 0x12345678);
    EIP_IS(2);
    ck_assert_int_eq(run("8b 0d 00 20 00 00"), INTERP_OK); /* mov ecx, [0x2000] */
    ck_assert_uint_eq(R(R_ECX), 0x12345678);
    ck_assert_int_eq(run("a2 10 20 00 00"), INTERP_OK); /* mov [0x2010], al */
    ck_assert_uint_eq(rd(0x2010, 1), 0x00);
    ck_assert_int_eq(run("a1 01 20 00 00"), INTERP_OK); /* mov eax, [0x2001] */
    ck_assert_uint_eq(R(R_EAX), 0x00123456);
    C->gpr[R_EAX] = 0x2000;
    ck_assert_int_eq(run("66 c7 05 20 20 00 00 34 12"), INTERP_OK); /* mov word [0x2020], 0x1234 */
    ck_assert_uint_eq(rd(0x2020, 4), 0x1234);
    ck_assert_int_eq(run("c6 40 05 ab"), INTERP_OK); /* mov byte [eax+5], 0xab */
    ck_assert_uint_eq(rd(0x2005, 1), 0xab);
    ck_assert_int_eq(run("0f b6 48 05"), INTERP_OK); /* movzx ecx, byte [eax+5] */
    ck_assert_uint_eq(R(R_ECX), 0xab);
    ck_assert_int_eq(run("0f be 48 05"), INTERP_OK); /* movsx ecx, byte [eax+5] */
    ck_assert_uint_eq(R(R_ECX), 0xffffffab);
    ck_assert_int_eq(run("66 0f be 48 05"), INTERP_OK); /* movsx cx, byte [eax+5] */
    ck_assert_uint_eq(R(R_ECX), 0xffffffab);
    ck_assert_int_eq(run("8c d9"), INTERP_OK); /* mov ecx, ds: zero-extended */
    ck_assert_uint_eq(R(R_ECX), C->seg[SEG_DS].sel);
}
END_TEST

START_TEST(sixteen_bit_writes_keep_the_upper_half)
{
    C->gpr[R_EAX] = 0xaaaaaaaa;
    ck_assert_int_eq(run("66 b8 34 12"), INTERP_OK); /* mov ax, 0x1234 */
    ck_assert_uint_eq(R(R_EAX), 0xaaaa1234);
    ck_assert_int_eq(run("b4 56"), INTERP_OK); /* mov ah, 0x56 */
    ck_assert_uint_eq(R(R_EAX), 0xaaaa5634);
    wr(0x2000, 4, 0xffff);
    C->gpr[R_EBX] = 0x2000;
    ck_assert_int_eq(run("66 03 03"), INTERP_OK); /* add ax, [ebx] */
    ck_assert_uint_eq(R(R_EAX), 0xaaaa5633);
    FLAGS_ARE(EFL_CF | EFL_AF | EFL_PF);
}
END_TEST

START_TEST(alu_flags)
{
    C->gpr[R_EAX] = 0x2000;
    wr(0x2000, 4, 0xffffffff);
    ck_assert_int_eq(run("83 00 01"), INTERP_OK); /* add dword [eax], 1 */
    ck_assert_uint_eq(rd(0x2000, 4), 0);
    FLAGS_ARE(EFL_CF | EFL_ZF | EFL_PF | EFL_AF);

    wr(0x2000, 4, 0x7fffffff);
    C->gpr[R_EBX] = 1;
    ck_assert_int_eq(run("01 18"), INTERP_OK); /* add [eax], ebx */
    ck_assert_uint_eq(rd(0x2000, 4), 0x80000000);
    FLAGS_ARE(EFL_OF | EFL_SF | EFL_AF | EFL_PF);

    wr(0x2000, 4, 5);
    C->gpr[R_EBX] = 6;
    set_flags(EFL_CF);
    ck_assert_int_eq(run("11 18"), INTERP_OK); /* adc [eax], ebx */
    ck_assert_uint_eq(rd(0x2000, 4), 12);
    FLAGS_ARE(EFL_PF);

    wr(0x2000, 4, 5);
    C->gpr[R_EBX] = 5;
    set_flags(EFL_CF);
    ck_assert_int_eq(run("19 18"), INTERP_OK); /* sbb [eax], ebx */
    ck_assert_uint_eq(rd(0x2000, 4), 0xffffffff);
    FLAGS_ARE(EFL_CF | EFL_SF | EFL_PF | EFL_AF);

    wr(0x2000, 4, 3);
    ck_assert_int_eq(run("39 18"), INTERP_OK); /* cmp [eax], ebx: 3 - 5 */
    ck_assert_uint_eq(rd(0x2000, 4), 3);
    FLAGS_ARE(EFL_CF | EFL_SF | EFL_AF);

    wr(0x2000, 1, 0xff);
    C->gpr[R_EBX] = 1;
    ck_assert_int_eq(run("00 18"), INTERP_OK); /* add [eax], bl */
    ck_assert_uint_eq(rd(0x2000, 4), 0);
    FLAGS_ARE(EFL_CF | EFL_ZF | EFL_PF | EFL_AF);

    wr(0x2000, 4, 0xf0f0);
    ck_assert_int_eq(run("81 20 ff 00 00 00"), INTERP_OK); /* and dword [eax], 0xff */
    ck_assert_uint_eq(rd(0x2000, 4), 0xf0);
    FLAGS_ARE(EFL_PF);
    ck_assert_int_eq(run("80 08 0f"), INTERP_OK); /* or byte [eax], 0x0f */
    ck_assert_uint_eq(rd(0x2000, 4), 0xff);
    FLAGS_ARE(EFL_SF | EFL_PF);
    ck_assert_int_eq(run("80 30 ff"), INTERP_OK); /* xor byte [eax], 0xff */
    ck_assert_uint_eq(rd(0x2000, 4), 0);
    FLAGS_ARE(EFL_ZF | EFL_PF);
    wr(0x2000, 4, 0x80000000);
    ck_assert_int_eq(run("f7 00 00 00 00 80"), INTERP_OK); /* test dword [eax], 0x80000000 */
    ck_assert_uint_eq(rd(0x2000, 4), 0x80000000);
    FLAGS_ARE(EFL_SF | EFL_PF);
}
END_TEST

START_TEST(unary_and_shifts)
{
    C->gpr[R_EAX] = 0x2000;
    wr(0x2000, 4, 0xffffffff);
    set_flags(EFL_CF);
    ck_assert_int_eq(run("ff 00"), INTERP_OK); /* inc dword [eax]: CF survives */
    ck_assert_uint_eq(rd(0x2000, 4), 0);
    FLAGS_ARE(EFL_CF | EFL_ZF | EFL_PF | EFL_AF);
    wr(0x2000, 1, 0x80);
    ck_assert_int_eq(run("fe 08"), INTERP_OK); /* dec byte [eax] */
    ck_assert_uint_eq(rd(0x2000, 1), 0x7f);
    FLAGS_ARE(EFL_CF | EFL_OF | EFL_AF);
    wr(0x2000, 4, 5);
    ck_assert_int_eq(run("f7 18"), INTERP_OK); /* neg dword [eax] */
    ck_assert_uint_eq(rd(0x2000, 4), 0xfffffffb);
    FLAGS_ARE(EFL_CF | EFL_SF | EFL_AF);
    ck_assert_int_eq(run("f7 10"), INTERP_OK); /* not dword [eax]: no flags */
    ck_assert_uint_eq(rd(0x2000, 4), 4);
    FLAGS_ARE(EFL_CF | EFL_SF | EFL_AF);
    wr(0x2000, 4, 0x18000001);
    ck_assert_int_eq(run("c1 20 04"), INTERP_OK); /* shl dword [eax], 4 */
    ck_assert_uint_eq(rd(0x2000, 4), 0x80000010);
    ck_assert_uint_eq(flags() & (EFL_CF | EFL_SF | EFL_ZF), EFL_CF | EFL_SF);
    ck_assert_int_eq(run("d1 38"), INTERP_OK); /* sar dword [eax], 1 */
    ck_assert_uint_eq(rd(0x2000, 4), 0xc0000008);
    C->gpr[R_ECX] = 36; /* counts are masked to 5 bits: 4 */
    ck_assert_int_eq(run("d3 00"), INTERP_OK); /* rol dword [eax], cl */
    ck_assert_uint_eq(rd(0x2000, 4), 0x0000008c);
    set_flags(0);
    C->gpr[R_ECX] = 0;
    ck_assert_int_eq(run("d3 20"), INTERP_OK); /* shl by 0 leaves flags alone */
    FLAGS_ARE(0);
}
END_TEST

START_TEST(mul_div)
{
    C->gpr[R_ESI] = 0x2000;
    wr(0x2000, 4, 0x10000);
    C->gpr[R_EAX] = 0x10000;
    ck_assert_int_eq(run("f7 26"), INTERP_OK); /* mul dword [esi] */
    ck_assert_uint_eq(R(R_EDX), 1);
    ck_assert_uint_eq(R(R_EAX), 0);
    ck_assert_uint_eq(flags() & (EFL_CF | EFL_OF), EFL_CF | EFL_OF);
    wr(0x2000, 4, 0x10);
    C->gpr[R_EAX] = 5;
    ck_assert_int_eq(run("f7 36"), INTERP_OK); /* div dword [esi]: 0x1_00000005 / 16 */
    ck_assert_uint_eq(R(R_EAX), 0x10000000);
    ck_assert_uint_eq(R(R_EDX), 5);
    C->gpr[R_EDX] = 0x20;
    ck_assert_int_eq(run("f7 36"), INTERP_EXCEPTION); /* quotient too big */
    ck_assert_int_eq(exc.vector, 0);
    ck_assert_uint_eq(R(R_EDX), 0x20);
    EIP_IS(0);
    wr(0x2000, 4, 0);
    ck_assert_int_eq(run("f7 36"), INTERP_EXCEPTION);
    ck_assert_int_eq(exc.vector, 0);
    wr(0x2000, 1, 2);
    C->gpr[R_EAX] = 0xfff9; /* -7 */
    ck_assert_int_eq(run("f6 3e"), INTERP_OK); /* idiv byte [esi] */
    ck_assert_uint_eq(R(R_EAX) & 0xffff, 0xfffd); /* AL = -3, AH = -1 */
    wr(0x2000, 4, 7);
    ck_assert_int_eq(run("6b 0e 03"), INTERP_OK); /* imul ecx, [esi], 3 */
    ck_assert_uint_eq(R(R_ECX), 21);
    C->gpr[R_ECX] = 0x40000000;
    ck_assert_int_eq(run("0f af 0e"), INTERP_OK); /* imul ecx, [esi] */
    ck_assert_uint_eq(R(R_ECX), 0xc0000000);
    ck_assert_uint_eq(flags() & (EFL_CF | EFL_OF), EFL_CF | EFL_OF);
}
END_TEST

START_TEST(exchange_family)
{
    C->gpr[R_ECX] = 0x2000;
    wr(0x2000, 4, 1);
    C->gpr[R_EBX] = 2;
    ck_assert_int_eq(run("87 19"), INTERP_OK); /* xchg [ecx], ebx */
    ck_assert_uint_eq(rd(0x2000, 4), 2);
    ck_assert_uint_eq(R(R_EBX), 1);
    ck_assert_int_eq(run("0f c1 19"), INTERP_OK); /* xadd [ecx], ebx */
    ck_assert_uint_eq(rd(0x2000, 4), 3);
    ck_assert_uint_eq(R(R_EBX), 2);
    C->gpr[R_EAX] = 3;
    C->gpr[R_EBX] = 9;
    ck_assert_int_eq(run("0f b1 19"), INTERP_OK); /* cmpxchg [ecx], ebx: equal */
    ck_assert_uint_eq(rd(0x2000, 4), 9);
    ck_assert_uint_eq(flags() & EFL_ZF, EFL_ZF);
    C->gpr[R_EAX] = 4;
    ck_assert_int_eq(run("0f b1 19"), INTERP_OK); /* not equal: EAX gets the memory value */
    ck_assert_uint_eq(rd(0x2000, 4), 9);
    ck_assert_uint_eq(R(R_EAX), 9);
    ck_assert_uint_eq(flags() & EFL_ZF, 0);
    C->gpr[R_EAX] = 7;
    ck_assert_int_eq(run("0f c1 c0"), INTERP_OK); /* xadd eax, eax: the sum wins */
    ck_assert_uint_eq(R(R_EAX), 14);

    C->gpr[R_ESI] = 0x2100;
    wr(0x2100, 4, 0x11111111);
    wr(0x2104, 4, 0x22222222);
    C->gpr[R_EAX] = 0x11111111;
    C->gpr[R_EDX] = 0x22222222;
    C->gpr[R_EBX] = 0xaaaaaaaa;
    C->gpr[R_ECX] = 0xbbbbbbbb;
    ck_assert_int_eq(run("0f c7 0e"), INTERP_OK); /* cmpxchg8b [esi] */
    ck_assert_uint_eq(rd(0x2100, 4), 0xaaaaaaaa);
    ck_assert_uint_eq(rd(0x2104, 4), 0xbbbbbbbb);
    ck_assert_uint_eq(flags() & EFL_ZF, EFL_ZF);
    ck_assert_int_eq(run("0f c7 0e"), INTERP_OK);
    ck_assert_uint_eq(R(R_EAX), 0xaaaaaaaa);
    ck_assert_uint_eq(R(R_EDX), 0xbbbbbbbb);
    ck_assert_uint_eq(flags() & EFL_ZF, 0);
}
END_TEST

START_TEST(bit_tests)
{
    C->gpr[R_EAX] = 0x2000;
    wr(0x1ffc, 4, 0);
    wr(0x2000, 4, 0);
    wr(0x2004, 4, 0x8);
    C->gpr[R_EBX] = 35; /* bit 3 of the dword after [eax] */
    ck_assert_int_eq(run("0f a3 18"), INTERP_OK); /* bt [eax], ebx */
    ck_assert_uint_eq(flags() & EFL_CF, EFL_CF);
    C->gpr[R_EBX] = (uint32_t)-1; /* bit 31 of the dword before */
    ck_assert_int_eq(run("0f ab 18"), INTERP_OK); /* bts [eax], ebx */
    ck_assert_uint_eq(flags() & EFL_CF, 0);
    ck_assert_uint_eq(rd(0x1ffc, 4), 0x80000000);
    ck_assert_int_eq(run("0f ba 28 23"), INTERP_OK); /* bts dword [eax], 35: imm is masked */
    ck_assert_uint_eq(rd(0x2000, 4), 0x8);
    ck_assert_int_eq(run("0f ba 30 03"), INTERP_OK); /* btr dword [eax], 3 */
    ck_assert_uint_eq(flags() & EFL_CF, EFL_CF);
    ck_assert_uint_eq(rd(0x2000, 4), 0);
    ck_assert_int_eq(run("0f ba 38 00"), INTERP_OK); /* btc dword [eax], 0 */
    ck_assert_uint_eq(rd(0x2000, 4), 1);
    C->gpr[R_ECX] = 0x10;
    C->gpr[R_EBX] = 4;
    ck_assert_int_eq(run("0f a3 d9"), INTERP_OK); /* bt ecx, ebx */
    ck_assert_uint_eq(flags() & EFL_CF, EFL_CF);
    wr(0x2000, 4, 0x00f00000);
    ck_assert_int_eq(run("0f bc 08"), INTERP_OK); /* bsf ecx, [eax] */
    ck_assert_uint_eq(R(R_ECX), 20);
    ck_assert_int_eq(run("0f bd 08"), INTERP_OK); /* bsr ecx, [eax] */
    ck_assert_uint_eq(R(R_ECX), 23);
    ck_assert_uint_eq(flags() & EFL_ZF, 0);
    wr(0x2000, 4, 0);
    ck_assert_int_eq(run("0f bc 08"), INTERP_OK); /* bsf of zero: ZF, destination kept */
    ck_assert_uint_eq(flags() & EFL_ZF, EFL_ZF);
    ck_assert_uint_eq(R(R_ECX), 23);
    wr(0x2000, 4, 0x12345678);
    C->gpr[R_EBX] = 0x9abcdef0;
    ck_assert_int_eq(run("0f a4 18 08"), INTERP_OK); /* shld [eax], ebx, 8 */
    ck_assert_uint_eq(rd(0x2000, 4), 0x3456789a);
    C->gpr[R_ECX] = 4;
    ck_assert_int_eq(run("0f ad 18"), INTERP_OK); /* shrd [eax], ebx, cl */
    ck_assert_uint_eq(rd(0x2000, 4), 0x03456789);
    C->gpr[R_EDX] = 0x11223344;
    ck_assert_int_eq(run("0f ca"), INTERP_OK); /* bswap edx */
    ck_assert_uint_eq(R(R_EDX), 0x44332211);
}
END_TEST

START_TEST(push_pop_memory)
{
    C->gpr[R_EAX] = 0x2000;
    wr(0x2000, 4, 0xcafebabe);
    ck_assert_int_eq(run("ff 30"), INTERP_OK); /* push dword [eax] */
    ck_assert_uint_eq(R(R_ESP), STACK - 4);
    ck_assert_uint_eq(rd(STACK - 4, 4), 0xcafebabe);
    ck_assert_int_eq(run("8f 40 08"), INTERP_OK); /* pop dword [eax+8] */
    ck_assert_uint_eq(R(R_ESP), STACK);
    ck_assert_uint_eq(rd(0x2008, 4), 0xcafebabe);
    /* pop [esp+4] addresses with the incremented ESP */
    C->gpr[R_ESP] = STACK - 8;
    wr(STACK - 8, 4, 0x1234);
    ck_assert_int_eq(run("8f 44 24 04"), INTERP_OK);
    ck_assert_uint_eq(rd(STACK, 4), 0x1234);
    ck_assert_uint_eq(R(R_ESP), STACK - 4);
    C->gpr[R_ESP] = STACK;
    ck_assert_int_eq(run("6a ff"), INTERP_OK); /* push -1 */
    ck_assert_uint_eq(rd(STACK - 4, 4), 0xffffffff);
    ck_assert_int_eq(run("66 6a fe"), INTERP_OK); /* push word -2 */
    ck_assert_uint_eq(R(R_ESP), STACK - 6);
    ck_assert_uint_eq(rd(STACK - 6, 2), 0xfffe);
    wr(STACK - 10, 4, 0x55555555);
    ck_assert_int_eq(run("06"), INTERP_OK); /* push es: a 16-bit store into a 4-byte slot */
    ck_assert_uint_eq(R(R_ESP), STACK - 10);
    ck_assert_uint_eq(rd(STACK - 10, 4), 0x55550000u | C->seg[SEG_ES].sel);
}
END_TEST

START_TEST(setcc_cmov_lea_convert)
{
    C->gpr[R_EAX] = 0x2000;
    wr(0x2000, 4, 0x42);
    set_flags(EFL_ZF);
    ck_assert_int_eq(run("0f 94 40 04"), INTERP_OK); /* sete [eax+4] */
    ck_assert_uint_eq(rd(0x2004, 1), 1);
    ck_assert_int_eq(run("0f 44 08"), INTERP_OK); /* cmove ecx, [eax] */
    ck_assert_uint_eq(R(R_ECX), 0x42);
    C->gpr[R_EBX] = 3;
    ck_assert_int_eq(run("8d 54 98 08"), INTERP_OK); /* lea edx, [eax+ebx*4+8] */
    ck_assert_uint_eq(R(R_EDX), 0x2014);
    C->gpr[R_EAX] = 0x8000;
    ck_assert_int_eq(run("98"), INTERP_OK); /* cwde */
    ck_assert_uint_eq(R(R_EAX), 0xffff8000);
    ck_assert_int_eq(run("99"), INTERP_OK); /* cdq */
    ck_assert_uint_eq(R(R_EDX), 0xffffffff);
}
END_TEST

/* ---- string instructions -------------------------------------------------------------------- */

START_TEST(rep_movs)
{
    for (int i = 0; i < 16; i++)
        wr(0x3000 + i, 1, 0x10 + i);
    C->gpr[R_ESI] = 0x3000;
    C->gpr[R_EDI] = 0x5000;
    C->gpr[R_ECX] = 10;
    ck_assert_int_eq(run("f3 a4"), INTERP_OK); /* rep movsb */
    EIP_IS(2);
    ck_assert_uint_eq(R(R_ECX), 0);
    ck_assert_uint_eq(R(R_ESI), 0x300a);
    ck_assert_uint_eq(R(R_EDI), 0x500a);
    ck_assert_uint_eq(rd(0x5009, 1), 0x19);
    ck_assert_uint_eq(rd(0x500a, 1), 0);
    /* Backwards, dwords. */
    set_flags(0);
    vcpu_set_eflags(C, vcpu_eflags(C) | EFL_DF);
    C->gpr[R_ESI] = 0x3008;
    C->gpr[R_EDI] = 0x6008;
    C->gpr[R_ECX] = 3;
    ck_assert_int_eq(run("f3 a5"), INTERP_OK); /* rep movsd */
    ck_assert_uint_eq(R(R_ESI), 0x2ffc);
    ck_assert_uint_eq(R(R_EDI), 0x5ffc);
    ck_assert_uint_eq(rd(0x6000, 4), rd(0x3000, 4));
    ck_assert_uint_eq(rd(0x6008, 4), rd(0x3008, 4));
    /* F2 on MOVS is a plain REP. */
    vcpu_set_eflags(C, vcpu_eflags(C) & ~EFL_DF);
    C->gpr[R_ESI] = 0x3000;
    C->gpr[R_EDI] = 0x7000;
    C->gpr[R_ECX] = 4;
    ck_assert_int_eq(run("f2 a4"), INTERP_OK);
    ck_assert_uint_eq(R(R_ECX), 0);
    ck_assert_uint_eq(rd(0x7000, 4), rd(0x3000, 4));
}
END_TEST

START_TEST(source_override_and_16bit_addresses)
{
    wr(0x3100, 1, 0x77);
    set_seg(SEG_FS, 0x18, 0x100, 0xffffffff, 0x93 | SEGF_DB | SEGF_G);
    C->gpr[R_ESI] = 0x3000;
    C->gpr[R_EDI] = 0x5000;
    ck_assert_int_eq(run("64 a4"), INTERP_OK); /* movsb fs:[esi] -> es:[edi] */
    ck_assert_uint_eq(rd(0x5000, 1), 0x77);
    /* 16-bit addressing wraps SI and DI inside 64 KiB and keeps their upper halves. */
    wr(0xffff, 1, 0x66);
    C->gpr[R_ESI] = 0x1234ffff;
    C->gpr[R_EDI] = 0x5678fffe;
    ck_assert_int_eq(run("67 a4"), INTERP_OK);
    ck_assert_uint_eq(rd(0xfffe, 1), 0x66);
    ck_assert_uint_eq(R(R_ESI), 0x12340000);
    ck_assert_uint_eq(R(R_EDI), 0x5678ffff);
    C->gpr[R_ECX] = 0xabcd0002;
    ck_assert_int_eq(run("67 f3 a4"), INTERP_OK); /* rep movsb counting in CX */
    ck_assert_uint_eq(R(R_ECX), 0xabcd0000);
}
END_TEST

START_TEST(stos_lods)
{
    C->gpr[R_EAX] = 0x5a;
    C->gpr[R_EDI] = 0x5000;
    C->gpr[R_ECX] = 100;
    ck_assert_int_eq(run("f3 aa"), INTERP_OK); /* rep stosb */
    ck_assert_uint_eq(rd(0x5063, 1), 0x5a);
    ck_assert_uint_eq(rd(0x5064, 1), 0);
    C->gpr[R_EAX] = 0xbeef;
    C->gpr[R_ECX] = 2;
    ck_assert_int_eq(run("66 f3 ab"), INTERP_OK); /* rep stosw */
    ck_assert_uint_eq(rd(0x5064, 4), 0xbeefbeef);
    ck_assert_uint_eq(R(R_EDI), 0x5068);
    C->gpr[R_ESI] = 0x5064;
    ck_assert_int_eq(run("ad"), INTERP_OK); /* lodsd */
    ck_assert_uint_eq(R(R_EAX), 0xbeefbeef);
    ck_assert_uint_eq(R(R_ESI), 0x5068);
}
END_TEST

START_TEST(cmps_scas)
{
    mem__phys_write_buf(fx, 0x3000, "abcdef", 6);
    mem__phys_write_buf(fx, 0x5000, "abcxef", 6);
    C->gpr[R_ESI] = 0x3000;
    C->gpr[R_EDI] = 0x5000;
    C->gpr[R_ECX] = 6;
    ck_assert_int_eq(run("f3 a6"), INTERP_OK); /* repe cmpsb: stops after 'd' vs 'x' */
    ck_assert_uint_eq(R(R_ECX), 2);
    ck_assert_uint_eq(R(R_ESI), 0x3004);
    FLAGS_ARE(EFL_CF | EFL_SF | EFL_AF); /* 'd' - 'x' = 0xec */
    C->gpr[R_EAX] = 'e';
    C->gpr[R_EDI] = 0x3000;
    C->gpr[R_ECX] = 6;
    ck_assert_int_eq(run("f2 ae"), INTERP_OK); /* repne scasb */
    ck_assert_uint_eq(R(R_ECX), 1);
    ck_assert_uint_eq(R(R_EDI), 0x3005);
    ck_assert_uint_eq(flags() & EFL_ZF, EFL_ZF);
    C->gpr[R_ECX] = 0;
    set_flags(0);
    ck_assert_int_eq(run("f2 ae"), INTERP_OK); /* ECX = 0: nothing, not even flags */
    FLAGS_ARE(0);
    EIP_IS(2);
}
END_TEST

START_TEST(rep_yields_after_a_batch)
{
    uint32_t n = 2 * INTERP_REP_BATCH + 100;

    C->gpr[R_EAX] = 0xcc;
    C->gpr[R_EDI] = 0x10000;
    C->gpr[R_ECX] = n;
    ck_assert_int_eq(run("f3 aa"), INTERP_OK);
    EIP_IS(0); /* run me again */
    ck_assert_uint_eq(R(R_ECX), n - INTERP_REP_BATCH);
    ck_assert_uint_eq(R(R_EDI), 0x10000 + INTERP_REP_BATCH);
    ck_assert_int_eq(interp__step(fx, &exc), INTERP_OK);
    EIP_IS(0);
    ck_assert_int_eq(interp__step(fx, &exc), INTERP_OK);
    EIP_IS(2);
    ck_assert_uint_eq(R(R_ECX), 0);
    ck_assert_uint_eq(rd(0x10000 + n - 1, 1), 0xcc);
    ck_assert_uint_eq(rd(0x10000 + n, 1), 0);
}
END_TEST

START_TEST(rep_fault_is_precise)
{
    /* ES ends at 0x5fff: dword 0x40 of the copy is the first that does not fit. */
    set_seg(SEG_ES, 0x10, 0, 0x5fff, 0x93 | SEGF_DB);
    C->gpr[R_ESI] = 0x3000;
    C->gpr[R_EDI] = 0x5f00;
    C->gpr[R_ECX] = 0x100;
    ck_assert_int_eq(run("f3 a5"), INTERP_EXCEPTION);
    ck_assert_int_eq(exc.vector, 13);
    ck_assert(exc.has_error);
    ck_assert_uint_eq(exc.error_code, 0);
    EIP_IS(0);
    ck_assert_uint_eq(R(R_ECX), 0xc0);
    ck_assert_uint_eq(R(R_ESI), 0x3100);
    ck_assert_uint_eq(R(R_EDI), 0x6000);
}
END_TEST

/* ---- port I/O ------------------------------------------------------------------------------- */

struct pio_probe {
    uint32_t last_port, last_size, last_val, n, next_read;
};

static uint32_t pio_read(void *opaque, uint32_t off, unsigned size)
{
    struct pio_probe *p = opaque;

    p->last_port = off;
    p->last_size = size;
    p->n++;
    return p->next_read++;
}

static void pio_write(void *opaque, uint32_t off, unsigned size, uint32_t v)
{
    struct pio_probe *p = opaque;

    p->last_port = off;
    p->last_size = size;
    p->last_val = v;
    p->n++;
}

static const struct device_ops pio_ops = {
    .name = "pio-probe", .read = pio_read, .write = pio_write,
};

START_TEST(in_out)
{
    struct pio_probe p = {.next_read = 0x11223344};

    ck_assert_int_eq(bus__claim_pio(fx, 0x6f0, 8, &pio_ops, &p), 0);
    ck_assert_int_eq(bus__claim_pio(fx, 0xe0, 4, &pio_ops, &p), 0);
    C->gpr[R_EDX] = 0x6f2;
    C->gpr[R_EAX] = 0xaabbccdd;
    ck_assert_int_eq(run("ef"), INTERP_OK); /* out dx, eax */
    ck_assert_uint_eq(p.last_port, 2);
    ck_assert_uint_eq(p.last_size, 4);
    ck_assert_uint_eq(p.last_val, 0xaabbccdd);
    ck_assert_int_eq(run("66 ed"), INTERP_OK); /* in ax, dx */
    ck_assert_uint_eq(R(R_EAX), 0xaabb3344);
    ck_assert_uint_eq(p.last_size, 2);
    ck_assert_int_eq(run("e6 e1"), INTERP_OK); /* out 0xe1, al */
    ck_assert_uint_eq(p.last_port, 1);
    ck_assert_uint_eq(p.last_val, 0x44);
    ck_assert_int_eq(run("e4 e3"), INTERP_OK); /* in al, 0xe3 */
    ck_assert_uint_eq(R(R_EAX), 0xaabb3345);
    /* rep outsb and rep insw */
    mem__phys_write_buf(fx, 0x3000, "\x01\x02\x03", 3);
    C->gpr[R_ESI] = 0x3000;
    C->gpr[R_ECX] = 3;
    p.n = 0;
    ck_assert_int_eq(run("f3 6e"), INTERP_OK);
    ck_assert_uint_eq(p.n, 3);
    ck_assert_uint_eq(p.last_val, 3);
    C->gpr[R_EDI] = 0x5000;
    C->gpr[R_ECX] = 2;
    p.next_read = 0xa1a2;
    ck_assert_int_eq(run("66 f3 6d"), INTERP_OK);
    ck_assert_uint_eq(rd(0x5000, 4), 0xa1a3a1a2);
    ck_assert_uint_eq(R(R_EDI), 0x5004);
}
END_TEST

/* ---- CPUID and the TSC ---------------------------------------------------------------------- */

static void cpuid(uint32_t leaf, uint32_t out[4])
{
    C->gpr[R_EAX] = leaf;
    C->gpr[R_ECX] = 0;
    ck_assert_int_eq(run("0f a2"), INTERP_OK);
    out[0] = R(R_EAX);
    out[1] = R(R_EBX);
    out[2] = R(R_ECX);
    out[3] = R(R_EDX);
}

START_TEST(cpuid_model)
{
    uint32_t r[4], l2[4];
    char s[49];

    cpuid(0, r);
    ck_assert_uint_eq(r[0], 2);
    memcpy(s, &r[1], 4);
    memcpy(s + 4, &r[3], 4);
    memcpy(s + 8, &r[2], 4);
    s[12] = 0;
    ck_assert_str_eq(s, "GenuineIntel");
    cpuid(1, r);
    ck_assert_uint_eq(r[0], 0x6d8); /* family 6 */
    ck_assert_uint_eq(r[2], 0);
    ck_assert_uint_eq(r[3] & (CPUID_1_EDX_SSE2 | CPUID_1_EDX_FXSR | CPUID_1_EDX_CX8 |
                              CPUID_1_EDX_TSC | CPUID_1_EDX_CMOV | CPUID_1_EDX_SEP),
                      CPUID_1_EDX_SSE2 | CPUID_1_EDX_FXSR | CPUID_1_EDX_CX8 | CPUID_1_EDX_TSC |
                          CPUID_1_EDX_CMOV | CPUID_1_EDX_SEP);
    ck_assert_uint_eq(r[3] & (CPUID_1_EDX_PAE | CPUID_1_EDX_VME), 0);
    ck_assert_uint_eq(r[3] & CPUID_1_EDX_APIC, CPUID_1_EDX_APIC); /* the machine has a LAPIC */
    cpuid(2, l2);
    ck_assert_uint_eq(l2[0] & 0xff, 1);
    cpuid(0x80000000u, r);
    ck_assert_uint_eq(r[0], 0x80000004u);
    for (uint32_t i = 0; i < 3; i++) {
        cpuid(0x80000002u + i, r);
        memcpy(s + 16 * i, r, 16);
    }
    s[48] = 0;
    ck_assert_str_eq(s, "tachyon virtual CPU");
    /* Past the last leaf: the last basic leaf again, as Intel parts answer. */
    cpuid(7, r);
    ck_assert_mem_eq(r, l2, sizeof(r));
    cpuid(0x80000008u, r);
    ck_assert_mem_eq(r, l2, sizeof(r));
}
END_TEST

static uint32_t apic_read(void *o, uint32_t off, unsigned size)
{
    (void)o, (void)off, (void)size;
    return 0;
}

static void apic_write(void *o, uint32_t off, unsigned size, uint32_t v)
{
    (void)o, (void)off, (void)size, (void)v;
}

static const struct device_ops apic_ops = {.name = "apic", .read = apic_read, .write = apic_write};

START_TEST(cpuid_apic_bit_follows_the_machine)
{
    uint32_t r[4];

    /* The machine's own local APIC claims 0xfee00000; a second claim is refused. */
    ck_assert_int_lt(bus__claim_mmio(fx, 0xfee00000u, 0x1000, &apic_ops, NULL), 0);
    cpuid(1, r);
    ck_assert_uint_eq(r[3] & CPUID_1_EDX_APIC, CPUID_1_EDX_APIC);
    C->apic_base &= ~0x800ull; /* software-disabled APIC: the bit goes away */
    cpuid(1, r);
    ck_assert_uint_eq(r[3] & CPUID_1_EDX_APIC, 0);
}
END_TEST

START_TEST(rdtsc)
{
    uint64_t a, b;

    vtime__set_tsc(fx, 1ull << 40);
    ck_assert_int_eq(run("0f 31"), INTERP_OK);
    a = (uint64_t)R(R_EDX) << 32 | R(R_EAX);
    ck_assert_int_eq(run("0f 31"), INTERP_OK);
    b = (uint64_t)R(R_EDX) << 32 | R(R_EAX);
    ck_assert_uint_ge(a, 1ull << 40);
    ck_assert_uint_lt(a, (1ull << 40) + 10000000000ull);
    ck_assert_uint_gt(b, a);
    /* CR4.TSD: user mode may not read it. */
    C->cr4 |= CR4_TSD;
    user_mode(0);
    C->gpr[R_EAX] = 0x1234;
    ck_assert_int_eq(run("0f 31"), INTERP_EXCEPTION);
    ck_assert_int_eq(exc.vector, 13);
    ck_assert_uint_eq(R(R_EAX), 0x1234);
}
END_TEST

/* ---- BCD -- */

START_TEST(daa_after_add)
{
    /* The SDM's example: 79 + 35 = AE, DAA makes it 14 with a decimal carry. */
    C->gpr[R_EAX] = 0x79;
    ck_assert_int_eq(run("04 35"), INTERP_OK);
    ck_assert_uint_eq(R(R_EAX), 0xae);
    ck_assert_int_eq(run("27"), INTERP_OK);
    ck_assert_uint_eq(R(R_EAX), 0x14);
    FLAGS_ARE(EFL_CF | EFL_AF | EFL_PF);
}
END_TEST

/* Input AX and flags, output AX and flags, as a real CPU produced them (undefined flags too). */
static const struct bcd_vector {
    const char *code;
    uint16_t ax;
    uint32_t fl;
    uint16_t ax_out;
    uint32_t fl_out;
} bcd_vectors[] = {
    {"27", 0x00ae, 0x000, 0x0014, 0x015},    {"27", 0x009a, 0x001, 0x0000, 0x055},
    {"27", 0x0079, 0x8d5, 0x00df, 0x891},    {"2f", 0x0080, 0x010, 0x007a, 0x810},
    {"2f", 0x0005, 0x001, 0x00a5, 0x085},    {"2f", 0x00ff, 0x8d5, 0x0099, 0x095},
    {"37", 0x7a7a, 0x000, 0x7b00, 0x011},    {"37", 0xfafa, 0x000, 0xfc00, 0x095},
    {"37", 0x0005, 0x010, 0x010b, 0x011},    {"37", 0x0080, 0x000, 0x0000, 0x000},
    {"3f", 0x000a, 0x000, 0xff04, 0x091},    {"3f", 0x0606, 0x8d5, 0x0500, 0x015},
    {"d4 0a", 0x0011, 0x000, 0x0107, 0x000}, {"d4 0a", 0x00ff, 0x000, 0x1905, 0x004},
    {"d5 0a", 0x02fd, 0x000, 0x0011, 0x015}, {"d5 0a", 0x0770, 0x001, 0x00b6, 0x880},
};

START_TEST(bcd_vectors_from_hardware)
{
    const struct bcd_vector *v = &bcd_vectors[_i];

    C->gpr[R_EAX] = 0x12340000u | v->ax;
    set_flags(v->fl);
    ck_assert_int_eq(run(v->code), INTERP_OK);
    ck_assert_uint_eq(R(R_EAX), 0x12340000u | v->ax_out);
    FLAGS_ARE(v->fl_out);
}
END_TEST

START_TEST(aam_zero_divides)
{
    C->gpr[R_EAX] = 0x55;
    ck_assert_int_eq(run("d4 00"), INTERP_EXCEPTION);
    ck_assert_int_eq(exc.vector, 0);
    ck_assert(!exc.has_error);
    ck_assert_uint_eq(R(R_EAX), 0x55);
    EIP_IS(0);
}
END_TEST

/* ---- stack, flags, and the rest -- */

START_TEST(pusha_popa)
{
    for (int r = 0; r < 8; r++)
        if (r != R_ESP)
            C->gpr[r] = 0x1000u * (r + 1) + r;
    ck_assert_int_eq(run("60"), INTERP_OK);
    ck_assert_uint_eq(R(R_ESP), STACK - 32);
    ck_assert_uint_eq(rd(STACK - 4, 4), R(R_EAX));
    ck_assert_uint_eq(rd(STACK - 20, 4), STACK); /* the original ESP */
    ck_assert_uint_eq(rd(STACK - 32, 4), R(R_EDI));
    for (int r = 0; r < 8; r++)
        if (r != R_ESP)
            C->gpr[r] = 0;
    wr(STACK - 20, 4, 0xdeadbeef); /* POPA ignores the saved ESP */
    ck_assert_int_eq(run("61"), INTERP_OK);
    ck_assert_uint_eq(R(R_ESP), STACK);
    ck_assert_uint_eq(R(R_EAX), 0x1000);
    ck_assert_uint_eq(R(R_EDI), 0x8007);
    C->gpr[R_EAX] = 0xffff0001;
    ck_assert_int_eq(run("66 60"), INTERP_OK); /* pushaw */
    ck_assert_uint_eq(R(R_ESP), STACK - 16);
    ck_assert_uint_eq(rd(STACK - 2, 2), 0x0001);
    C->gpr[R_EAX] = 0x77770000;
    ck_assert_int_eq(run("66 61"), INTERP_OK); /* popaw: only the low halves */
    ck_assert_uint_eq(R(R_EAX), 0x77770001);
    ck_assert_uint_eq(R(R_ESP), STACK);
}
END_TEST

START_TEST(pushf_popf)
{
    C->eflags_sys |= EFL_RF;
    set_flags(EFL_CF);
    ck_assert_int_eq(run("9c"), INTERP_OK);
    ck_assert_uint_eq(rd(STACK - 4, 4), EFL_CF | 0x2); /* RF never shows */
    /* CPL 0: IF and IOPL change; VM and RF are never set by POPF. */
    wr(STACK - 4, 4, EFL_IF | EFL_IOPL | EFL_VM | EFL_RF | EFL_ZF | EFL_AC);
    ck_assert_int_eq(run("9d"), INTERP_OK);
    ck_assert_uint_eq(vcpu_eflags(C), EFL_IF | EFL_IOPL | EFL_ZF | EFL_AC | 0x2);
    /* A 16-bit POPF leaves the upper half (AC) alone. */
    C->gpr[R_ESP] = STACK - 2;
    wr(STACK - 2, 2, EFL_CF);
    ck_assert_int_eq(run("66 9d"), INTERP_OK);
    ck_assert_uint_eq(vcpu_eflags(C), EFL_AC | EFL_CF | 0x2);
    /* CPL 3 with IOPL 0: IF and IOPL unchanged, no fault. */
    C->gpr[R_ESP] = STACK - 4;
    user_mode(0);
    wr(STACK - 4, 4, EFL_IF | EFL_IOPL | EFL_SF);
    ck_assert_int_eq(run("9d"), INTERP_OK);
    ck_assert_uint_eq(vcpu_eflags(C), EFL_SF | 0x2);
}
END_TEST

START_TEST(lahf_sahf_and_flag_ops)
{
    set_flags(EFL_SF | EFL_CF | EFL_OF);
    C->gpr[R_EAX] = 0;
    ck_assert_int_eq(run("9f"), INTERP_OK); /* lahf */
    ck_assert_uint_eq(R(R_EAX), (EFL_SF | EFL_CF | 0x2) << 8);
    C->gpr[R_EAX] = (EFL_ZF | EFL_PF) << 8;
    ck_assert_int_eq(run("9e"), INTERP_OK); /* sahf: OF untouched */
    FLAGS_ARE(EFL_ZF | EFL_PF | EFL_OF);
    ck_assert_int_eq(run("f9"), INTERP_OK); /* stc */
    ck_assert_int_eq(run("f5"), INTERP_OK); /* cmc */
    ck_assert_int_eq(run("f5"), INTERP_OK); /* cmc */
    FLAGS_ARE(EFL_ZF | EFL_PF | EFL_OF | EFL_CF);
    ck_assert_int_eq(run("f8"), INTERP_OK); /* clc */
    FLAGS_ARE(EFL_ZF | EFL_PF | EFL_OF);
    ck_assert_int_eq(run("fd"), INTERP_OK); /* std */
    ck_assert_uint_eq(vcpu_eflags(C) & EFL_DF, EFL_DF);
    ck_assert_int_eq(run("fc"), INTERP_OK); /* cld */
    ck_assert_uint_eq(vcpu_eflags(C) & EFL_DF, 0);
}
END_TEST

START_TEST(cli_sti_hlt_privilege)
{
    ck_assert_int_eq(run("fb"), INTERP_OK);
    ck_assert_uint_eq(C->eflags_sys & EFL_IF, EFL_IF);
    ck_assert_int_eq(run("fa"), INTERP_OK);
    ck_assert_uint_eq(C->eflags_sys & EFL_IF, 0);
    ck_assert_int_eq(run("f4"), INTERP_HALT);
    EIP_IS(1);
    user_mode(0);
    ck_assert_int_eq(run("fb"), INTERP_EXCEPTION);
    ck_assert_int_eq(exc.vector, 13);
    ck_assert_uint_eq(C->eflags_sys & EFL_IF, 0);
    ck_assert_int_eq(run("f4"), INTERP_EXCEPTION);
    ck_assert_int_eq(exc.vector, 13);
    EIP_IS(0);
    user_mode(3);
    ck_assert_int_eq(run("fb"), INTERP_OK);
    ck_assert_uint_eq(C->eflags_sys & EFL_IF, EFL_IF);
}
END_TEST

START_TEST(enter_leave)
{
    C->gpr[R_EBP] = 0x9100;
    wr(0x90fc, 4, 0xaaaa);
    wr(0x90f8, 4, 0xbbbb);
    ck_assert_int_eq(run("c8 08 00 03"), INTERP_OK); /* enter 8, 3 */
    ck_assert_uint_eq(rd(0x8ffc, 4), 0x9100);
    ck_assert_uint_eq(rd(0x8ff8, 4), 0xaaaa);
    ck_assert_uint_eq(rd(0x8ff4, 4), 0xbbbb);
    ck_assert_uint_eq(rd(0x8ff0, 4), 0x8ffc);
    ck_assert_uint_eq(R(R_EBP), 0x8ffc);
    ck_assert_uint_eq(R(R_ESP), 0x8fe8);
    ck_assert_int_eq(run("c9"), INTERP_OK); /* leave */
    ck_assert_uint_eq(R(R_EBP), 0x9100);
    ck_assert_uint_eq(R(R_ESP), STACK);
    ck_assert_int_eq(run("c8 10 00 00"), INTERP_OK); /* enter 16, 0 */
    ck_assert_uint_eq(R(R_EBP), STACK - 4);
    ck_assert_uint_eq(R(R_ESP), STACK - 20);
    ck_assert_int_eq(run("c8 00 00 01"), INTERP_OK); /* enter 0, 1: pushes the frame pointer */
    ck_assert_uint_eq(R(R_ESP), STACK - 28);
    ck_assert_uint_eq(rd(STACK - 28, 4), STACK - 24);
}
END_TEST

START_TEST(bound_into_xlat)
{
    C->gpr[R_EBX] = 0x2000;
    wr(0x2000, 4, (uint32_t)-5);
    wr(0x2004, 4, 20);
    C->gpr[R_EAX] = (uint32_t)-5;
    ck_assert_int_eq(run("62 03"), INTERP_OK); /* bound eax, [ebx] */
    C->gpr[R_EAX] = 21;
    ck_assert_int_eq(run("62 03"), INTERP_EXCEPTION);
    ck_assert_int_eq(exc.vector, 5);
    EIP_IS(0); /* #BR is a fault */
    set_flags(0);
    ck_assert_int_eq(run("ce"), INTERP_OK); /* into, OF clear */
    EIP_IS(1);
    set_flags(EFL_OF);
    ck_assert_int_eq(run("ce"), INTERP_EXCEPTION);
    ck_assert_int_eq(exc.vector, 4);
    EIP_IS(1); /* #OF is a trap */
    wr(0x3005, 1, 0x99);
    wr(0x3105, 1, 0x98);
    C->gpr[R_EBX] = 0x3000;
    C->gpr[R_EAX] = 0xffffff05;
    ck_assert_int_eq(run("d7"), INTERP_OK); /* xlat */
    ck_assert_uint_eq(R(R_EAX), 0xffffff99);
    set_seg(SEG_FS, 0x18, 0x100, 0xffffffff, 0x93 | SEGF_DB);
    C->gpr[R_EAX] = 5;
    ck_assert_int_eq(run("64 d7"), INTERP_OK); /* xlat fs: */
    ck_assert_uint_eq(R(R_EAX), 0x98);
}
END_TEST

START_TEST(near_flow)
{
    set_flags(EFL_ZF);
    ck_assert_int_eq(run("74 05"), INTERP_OK); /* jz +5 */
    EIP_IS(7);
    set_flags(0);
    ck_assert_int_eq(run("74 05"), INTERP_OK);
    EIP_IS(2);
    ck_assert_int_eq(run("e8 10 00 00 00"), INTERP_OK); /* call +0x10 */
    EIP_IS(0x15);
    ck_assert_uint_eq(rd(STACK - 4, 4), CODE + 5);
    ck_assert_int_eq(run_at(CODE + 0x15, "c2 08 00"), INTERP_OK); /* ret 8 */
    EIP_IS(5);
    ck_assert_uint_eq(R(R_ESP), STACK + 8);
    C->gpr[R_ECX] = 2;
    ck_assert_int_eq(run("e2 fe"), INTERP_OK); /* loop $ */
    EIP_IS(0);
    ck_assert_int_eq(run("e2 fe"), INTERP_OK);
    EIP_IS(2);
    ck_assert_uint_eq(R(R_ECX), 0);
    C->gpr[R_EAX] = 0x4000;
    ck_assert_int_eq(run("ff e0"), INTERP_OK); /* jmp eax */
    ck_assert_uint_eq(C->eip, 0x4000);
}
END_TEST

/* ---- precise faults and what is not ours ---------------------------------------------------- */

START_TEST(faults_leave_state_unchanged)
{
    /* An expand-down stack whose lowest valid offset is 0x9000. */
    set_seg(SEG_SS, 0x10, 0, 0x8fff, 0x97 | SEGF_DB);
    C->gpr[R_ESP] = 0x9010;
    C->gpr[R_EAX] = 0x1111;
    ck_assert_int_eq(run("60"), INTERP_EXCEPTION); /* pusha: the fifth push fails */
    ck_assert_int_eq(exc.vector, 12);
    ck_assert_uint_eq(R(R_ESP), 0x9010);
    EIP_IS(0);
    C->gpr[R_ESP] = 0x9004;
    ck_assert_int_eq(run("50"), INTERP_OK); /* push eax: fits */
    ck_assert_int_eq(run("50"), INTERP_EXCEPTION);
    ck_assert_uint_eq(R(R_ESP), 0x9000);
    /* pop into memory that faults: ESP is back where it was */
    set_seg(SEG_DS, 0x10, 0, 0x1fff, 0x93 | SEGF_DB);
    C->gpr[R_EBX] = 0x2000;
    ck_assert_int_eq(run("8f 03"), INTERP_EXCEPTION); /* pop dword [ebx] */
    ck_assert_int_eq(exc.vector, 13);
    ck_assert_uint_eq(R(R_ESP), 0x9000);
    /* a read-modify-write that cannot write leaves the flags alone too */
    set_flags(EFL_ZF);
    C->gpr[R_EBX] = 0x1ffe;
    ck_assert_int_eq(run("83 03 01"), INTERP_EXCEPTION); /* add dword [ebx], 1 */
    FLAGS_ARE(EFL_ZF);
}
END_TEST

START_TEST(unsupported_and_invalid)
{
    C->gpr[R_EAX] = 0x1234;
    ck_assert_int_eq(run("0f 01 10"), INTERP_UNSUPPORTED); /* lgdt [eax] */
    EIP_IS(0);
    ck_assert_int_eq(run("0f 20 c0"), INTERP_UNSUPPORTED); /* mov eax, cr0 */
    ck_assert_uint_eq(R(R_EAX), 0x1234);
    ck_assert_int_eq(run("8e d8"), INTERP_UNSUPPORTED); /* mov ds, ax in protected mode */
    ck_assert_int_eq(run("0f 0b"), INTERP_EXCEPTION); /* ud2 */
    ck_assert_int_eq(exc.vector, 6);
}
END_TEST

/* ---- real mode -- */

START_TEST(real_mode_basics)
{
    real_mode();
    set_seg(SEG_SS, 0x200, 0x2000, 0xffff, 0x93);
    C->gpr[R_EBP] = 0x10;
    wr(0x2012, 2, 0xbeef);
    C->gpr[R_EAX] = 0x12340000;
    ck_assert_int_eq(run("8b 46 02"), INTERP_OK); /* mov ax, [bp+2]: SS-relative */
    ck_assert_uint_eq(R(R_EAX), 0x1234beef);
    EIP_IS(3);
    C->gpr[R_ESP] = 0xdead0100;
    ck_assert_int_eq(run("50"), INTERP_OK); /* push ax on a 16-bit stack */
    ck_assert_uint_eq(R(R_ESP), 0xdead00fe);
    ck_assert_uint_eq(rd(0x20fe, 2), 0xbeef);
    C->gpr[R_EAX] = 0x0300;
    ck_assert_int_eq(run("8e d8"), INTERP_OK); /* mov ds, ax */
    ck_assert_uint_eq(C->seg[SEG_DS].base, 0x3000);
    ck_assert_uint_eq(C->seg_base[SEG_DS], 0x3000);
    wr(0x3010, 2, 0x4242);
    C->gpr[R_EBX] = 0x10;
    ck_assert_int_eq(run("8b 07"), INTERP_OK); /* mov ax, [bx] */
    ck_assert_uint_eq(R(R_EAX) & 0xffff, 0x4242);
    C->gpr[R_EBX] = 0xffff;
    ck_assert_int_eq(run("8b 07"), INTERP_EXCEPTION); /* a word at offset 0xffff: #GP */
    ck_assert_int_eq(exc.vector, 13);
    ck_assert_int_eq(run("eb fe"), INTERP_OK); /* jmp $ */
    EIP_IS(0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bt/interp");
    struct {
        const char *name;
        const TTest *tests[12];
    } groups[] = {
        {"data",
         {mov_forms, sixteen_bit_writes_keep_the_upper_half, alu_flags, unary_and_shifts, mul_div,
          exchange_family, bit_tests, push_pop_memory, setcc_cmov_lea_convert}},
        {"string",
         {rep_movs, source_override_and_16bit_addresses, stos_lods, cmps_scas,
          rep_yields_after_a_batch, rep_fault_is_precise, in_out}},
        {"cpu", {cpuid_model, cpuid_apic_bit_follows_the_machine, rdtsc}},
        {"bcd", {daa_after_add, aam_zero_divides}},
        {"stack-flags",
         {pusha_popa, pushf_popf, lahf_sahf_and_flag_ops, cli_sti_hlt_privilege, enter_leave,
          bound_into_xlat, near_flow}},
        {"faults", {faults_leave_state_unchanged, unsupported_and_invalid, real_mode_basics}},
    };

    for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
        TCase *tc = tcase_create(groups[g].name);
        tcase_add_checked_fixture(tc, setup, fixture_machine_teardown);
        for (int i = 0; groups[g].tests[i]; i++)
            tcase_add_test(tc, groups[g].tests[i]);
        if (!strcmp(groups[g].name, "bcd"))
            tcase_add_loop_test(tc, bcd_vectors_from_hardware, 0,
                                sizeof(bcd_vectors) / sizeof(bcd_vectors[0]));
        suite_add_tcase(s, tc);
    }
    return fixture_run_suite(s);
}
