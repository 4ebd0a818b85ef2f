/*
 * bt/ident: the IDENT re-emitter, one case per encoding class. Each guest
 * instruction is decoded with Zydis (32-bit), re-emitted, and the host bytes
 * are disassembled with Capstone in 64-bit mode, so the expectation is stated
 * as host assembly and checked by a decoder independent of the emitter.
 */
#include <capstone/capstone.h>
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "bt/internal.h"
#include "fixture.h"
#include "monitor/cpu.h"

#define ALL_FLAT 0x3fu

static char out[1024];

/* Re-emit the guest bytes (hex string) with the given flat-segment mask; return the host code
 * as "insn; insn; ...". */
static const char *xl(const char *hex, unsigned flat)
{
    uint8_t guest[16], host[256];
    size_t n = 0;
    struct dinsn d;
    ZydisDecoder dec;
    struct xlate x;
    csh cs;
    cs_insn *insn;
    size_t count;
    unsigned v;

    while (*hex && sscanf(hex, "%2x", &v) == 1) {
        guest[n++] = (uint8_t)v;
        hex += 2;
        while (*hex == ' ')
            hex++;
    }
    memset(&d, 0, sizeof(d));
    ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
    ck_assert(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, guest, n, &d.in, d.ops)));
    memcpy(d.bytes, guest, n);
    d.len = d.in.length;
    memset(&x, 0, sizeof(x));
    x.e.p = host;
    x.e.end = host + sizeof(host);
    x.flat = flat;
    x.fixup_reg = -1;
    if (!ident__emit(&x, &d))
        return "(not ident)";
    ck_assert(cs_open(CS_ARCH_X86, CS_MODE_64, &cs) == CS_ERR_OK);
    count = cs_disasm(cs, host, (size_t)(x.e.p - host), 0, 0, &insn);
    out[0] = 0;
    for (size_t i = 0; i < count; i++) {
        char one[400];
        snprintf(one, sizeof(one), "%s%s%s%s", i ? "; " : "", insn[i].mnemonic,
                 insn[i].op_str[0] ? " " : "", insn[i].op_str);
        strncat(out, one, sizeof(out) - strlen(out) - 1);
    }
    /* Every emitted byte must belong to a decoded instruction. */
    size_t used = count ? insn[count - 1].address + insn[count - 1].size : 0;
    ck_assert_uint_eq(used, (size_t)(x.e.p - host));
    cs_free(insn, count);
    cs_close(&cs);
    return out;
}

#define CHECK(hex, flat, want) ck_assert_str_eq(xl(hex, flat), want)

START_TEST(modrm_register_forms)
{
    CHECK("01 d8", ALL_FLAT, "add eax, ebx");
    CHECK("89 c4", ALL_FLAT, "mov r12d, eax");   /* mov esp, eax */
    CHECK("89 e0", ALL_FLAT, "mov eax, r12d");   /* mov eax, esp */
    CHECK("83 c4 08", ALL_FLAT, "add r12d, 8");  /* add esp, 8 */
    CHECK("66 89 e5", ALL_FLAT, "mov bp, r12w"); /* mov bp, sp */
    CHECK("88 e0", ALL_FLAT, "mov al, ah");
}
END_TEST

START_TEST(modrm_memory_forms)
{
    CHECK("8b 03", ALL_FLAT, "mov eax, dword ptr gs:[ebx]");
    CHECK("8b 43 08", ALL_FLAT, "mov eax, dword ptr gs:[ebx + 8]");
    CHECK("8b 83 00 10 00 00", ALL_FLAT, "mov eax, dword ptr gs:[ebx + 0x1000]");
    CHECK("8b 45 00", ALL_FLAT, "mov eax, dword ptr gs:[ebp]");
    CHECK("8b 44 b3 08", ALL_FLAT, "mov eax, dword ptr gs:[ebx + esi*4 + 8]");
    CHECK("8b 04 85 00 01 00 00", ALL_FLAT, "mov eax, dword ptr gs:[eax*4 + 0x100]");
}
END_TEST

START_TEST(absolute_disp32_is_not_rip_relative)
{
    CHECK("8b 05 34 12 00 00", ALL_FLAT, "mov eax, dword ptr gs:[0x1234]");
    CHECK("a1 78 56 34 12", ALL_FLAT, "mov eax, dword ptr gs:[0x12345678]");
    CHECK("a2 00 80 0b 00", ALL_FLAT, "mov byte ptr gs:[0xb8000], al");
    /* Capstone prints the disp32 sign-extended; with 0x67 the CPU wraps it to 0x80000000. */
    CHECK("c7 05 00 00 00 80 01 00 00 00", ALL_FLAT, "mov dword ptr gs:[0xffffffff80000000], 1");
}
END_TEST

START_TEST(esp_base_uses_r12)
{
    CHECK("8b 44 24 04", ALL_FLAT, "mov eax, dword ptr gs:[r12d + 4]");
    CHECK("8b 04 44", ALL_FLAT, "mov eax, dword ptr gs:[r12d + eax*2]");
    CHECK("89 24 24", ALL_FLAT, "mov dword ptr gs:[r12d], r12d"); /* mov [esp], esp */
}
END_TEST

START_TEST(prefixes_kept_and_added)
{
    CHECK("66 c7 03 34 12", ALL_FLAT, "mov word ptr gs:[ebx], 0x1234");
    CHECK("f0 0f b1 0b", ALL_FLAT, "lock cmpxchg dword ptr gs:[ebx], ecx");
    CHECK("3e 8b 03", ALL_FLAT, "mov eax, dword ptr gs:[ebx]"); /* DS override dropped */
    CHECK("0f 28 44 24 10", ALL_FLAT, "movaps xmm0, xmmword ptr gs:[r12d + 0x10]");
    CHECK("f3 0f 10 03", ALL_FLAT, "movss xmm0, dword ptr gs:[ebx]");
    CHECK("66 0f fe 03", ALL_FLAT, "paddd xmm0, xmmword ptr gs:[ebx]");
    CHECK("dd 45 f8", ALL_FLAT, "fld qword ptr gs:[ebp - 8]");
    CHECK("0f c7 0e", ALL_FLAT, "cmpxchg8b qword ptr gs:[esi]");
}
END_TEST

START_TEST(addr16_forms_are_computed)
{
    CHECK("67 8b 00", ALL_FLAT,
          "lea r10d, [rbx + rsi]; movzx r10d, r10w; mov eax, dword ptr gs:[r10d]");
    CHECK("67 8b 46 02", ALL_FLAT,
          "lea r10d, [rbp + 2]; movzx r10d, r10w; mov eax, dword ptr gs:[r10d]");
    CHECK("67 a1 34 12", ALL_FLAT,
          "mov r10d, 0x1234; movzx r10d, r10w; mov eax, dword ptr gs:[r10d]");
}
END_TEST

START_TEST(segment_base_added_flag_free)
{
    /* DS not flat: its base comes from the vCPU, added with LEA. */
    char want[256];
    snprintf(want, sizeof(want),
             "lea r10d, [rbx]; mov r11d, dword ptr [r15 + 0x%zx]; lea r10d, [r10 + r11]; "
             "mov eax, dword ptr gs:[r10d]",
             offsetof(struct vcpu, seg_base) + 4 * SEG_DS);
    CHECK("8b 03", ALL_FLAT & ~(1u << SEG_DS), want);
    /* FS override while DS is flat. */
    snprintf(want, sizeof(want),
             "mov r10d, 0x10; mov r11d, dword ptr [r15 + 0x%zx]; lea r10d, [r10 + r11]; "
             "mov eax, dword ptr gs:[r10d]",
             offsetof(struct vcpu, seg_base) + 4 * SEG_FS);
    CHECK("64 a1 10 00 00 00", ALL_FLAT & ~(1u << SEG_FS), want);
}
END_TEST

START_TEST(ah_rex_conflict)
{
    /* mov ah, [esp]: AH forbids REX, R12 needs it: ESI stands in, parked in R9. */
    CHECK("8a 24 24", ALL_FLAT,
          "mov r9, rsi; lea esi, [r12]; mov ah, byte ptr gs:[esi]; mov rsi, r9");
    /* movzx esp, ah */
    CHECK("0f b6 e4", ALL_FLAT,
          "mov r9, rsi; mov esi, r12d; movzx esi, ah; mov r12d, esi; mov rsi, r9");
    /* 16-bit addressing with a high byte register: the address goes to a stand-in. */
    CHECK("67 8a 20", ALL_FLAT,
          "mov r9, rdi; lea edi, [rbx + rsi]; movzx edi, di; mov ah, byte ptr gs:[edi]; "
          "mov rdi, r9");
}
END_TEST

START_TEST(opcode_embedded_registers)
{
    CHECK("94", ALL_FLAT, "xchg eax, r12d");       /* xchg eax, esp */
    CHECK("0f cc", ALL_FLAT, "bswap r12d");        /* bswap esp */
    CHECK("bc 00 00 01 00", ALL_FLAT, "mov r12d, 0x10000");
    CHECK("b4 12", ALL_FLAT, "mov ah, 0x12");
}
END_TEST

START_TEST(opcode_82_is_80)
{
    /* Found by diff/random: 0x82 is invalid in 64-bit mode (SIGILL). */
    CHECK("82 c4 05", ALL_FLAT, "add ah, 5");
    CHECK("82 6c 24 80 01", ALL_FLAT, "sub byte ptr gs:[r12d - 0x80], 1");
}
END_TEST

START_TEST(stack_instructions_are_not_ident)
{
    CHECK("50", ALL_FLAT, "(not ident)");
    CHECK("ff 34 24", ALL_FLAT, "(not ident)");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bt/ident");
    TCase *tc = tcase_create("encodings");

    tcase_add_test(tc, modrm_register_forms);
    tcase_add_test(tc, modrm_memory_forms);
    tcase_add_test(tc, absolute_disp32_is_not_rip_relative);
    tcase_add_test(tc, esp_base_uses_r12);
    tcase_add_test(tc, prefixes_kept_and_added);
    tcase_add_test(tc, addr16_forms_are_computed);
    tcase_add_test(tc, segment_base_added_flag_free);
    tcase_add_test(tc, ah_rex_conflict);
    tcase_add_test(tc, opcode_embedded_registers);
    tcase_add_test(tc, opcode_82_is_80);
    tcase_add_test(tc, stack_instructions_are_not_ident);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(suite());
}
