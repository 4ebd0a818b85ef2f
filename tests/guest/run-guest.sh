#!/bin/sh
# Runs one guest test kernel and turns its result into a ctest verdict. The
# kit exits through isa-debug-exit with status 1 on pass ((0 << 1) | 1) and 3
# on fail, but 1 is also what many programs return for an ordinary error (a
# bad option, a missing file: qemu-x86_64 does exactly that), so a pass needs
# both status 1 and the kit's "PASS <name>:" line on the serial console.
#
# usage: run-guest.sh SECONDS ELF VMM [VMM-ARGS...]
# The VMM command gets qemu-system-i386's flags appended; stdin is /dev/null
# so that -nographic's stdio multiplexer never waits on (or changes) a
# terminal.
secs=$1 elf=$2
shift 2
name=$(basename "$elf" .elf)
out=$(mktemp "${TMPDIR:-/tmp}/run-guest.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT
timeout -k 5 "$secs" "$@" -machine pc -nographic -no-reboot \
    -device isa-debug-exit,iobase=0xf4,iosize=1 -kernel "$elf" </dev/null >"$out" 2>&1
rc=$?
cat "$out"
case $rc in
1)
    if grep -q "PASS $name:" "$out"; then
        exit 0
    fi
    echo "run-guest: status 1 but no \"PASS $name:\" line: the VMM failed before the guest ran"
    ;;
3) echo "run-guest: the guest reported failure (status 3)" ;;
124|137) echo "run-guest: timed out after ${secs}s" ;;
*) echo "run-guest: VMM exited with status $rc" ;;
esac
exit 1
