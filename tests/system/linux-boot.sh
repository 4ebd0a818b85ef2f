#!/bin/sh
# System test: Debian's i386 kernel (linux-image-686) boots under tachyon with the
# busybox initramfs that tools/mkinitramfs builds from Debian packages, runs a command
# given on the kernel command line (tachyon.run=...), and powers off. Passes when the
# command's marker appears on the serial console and tachyon exits with status 0.
#
# usage: linux-boot.sh TACHYON GUEST_DIR [extra tachyon args...]
set -eu
tachyon=$1 guest=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)

"$here/../../tools/mkinitramfs" "$guest" >/dev/null

out=$(mktemp "${TMPDIR:-/tmp}/linux-boot.XXXXXX")
trap 'rm -f "$out"' EXIT
start=$(date +%s)
set +e
timeout -k 5 600 "$tachyon" -m 256 -nographic -no-reboot "$@" \
    -kernel "$guest/vmlinuz" -initrd "$guest/initramfs.cpio.gz" \
    -append "console=ttyS0 panic=-1 tachyon.run=\"uname -a; grep -c processor /proc/cpuinfo; echo TACHYON-LINUX-OK\"" \
    </dev/null >"$out" 2>&1
rc=$?
set -e
end=$(date +%s)
cat "$out"
echo "linux-boot: tachyon exited with status $rc after $((end - start)) s"
grep -q "^TACHYON-LINUX-OK" "$out" || { echo "linux-boot: the command's marker never appeared"; exit 1; }
grep -q "Linux tachyon 6" "$out" || { echo "linux-boot: uname did not run"; exit 1; }
[ "$rc" -eq 0 ] || { echo "linux-boot: tachyon did not exit with status 0"; exit 1; }
echo "linux-boot: PASS"
