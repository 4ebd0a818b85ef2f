#!/bin/sh
# System test of the LSI 53C895A and SCSI disks (issue 7): Debian's i386 kernel loads
# sym53c8xx and sd_mod from the initramfs, finds the disk, and
#   1. mounts an ext2 image built on the host (mkfs.ext2 -d, no loop mounts), reads a known
#      file, writes and syncs a new one, unmounts; the host then checks the image with
#      e2fsck and reads the new file back with debugfs;
#   2. writes a larger file (several SCSI transfers) and syncs, then tachyon is killed with
#      SIGKILL: the image must still be clean and hold the file exactly;
#   3. boots again with readonly=on: the kernel sees the write protection, the write is
#      refused cleanly, and the image is unchanged.
#
# usage: scsi-disk.sh TACHYON GUEST_DIR
set -eu
tachyon=$1 guest=$2
here=$(cd "$(dirname "$0")" && pwd)
for tool in mkfs.ext2 e2fsck debugfs; do
    command -v "$tool" >/dev/null || PATH=$PATH:/sbin:/usr/sbin
    command -v "$tool" >/dev/null || { echo "scsi-disk: $tool missing (tools/install-deps)"; exit 1; }
done

"$here/../../tools/mkinitramfs" "$guest" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/scsi-disk.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
mkdir "$work/root"
echo "known contents from the host" >"$work/root/known.txt"
truncate -s 64M "$work/disk.img"
mkfs.ext2 -q -F -d "$work/root" "$work/disk.img"

# run LOG CMD [drive options]: boot with the disk and run CMD in the guest.
run() {
    log=$1 cmd=$2 extra=${3:-}
    timeout -k 5 600 "$tachyon" -m 256 -nographic -no-reboot \
        -kernel "$guest/vmlinuz" -initrd "$guest/initramfs.cpio.gz" \
        -append "console=ttyS0 panic=-1 tachyon.run=\"$cmd\"" \
        -device lsi53c895a,id=scsi0 \
        -drive "if=none,id=d0,file=$work/disk.img,format=raw$extra" \
        -device scsi-hd,drive=d0,bus=scsi0.0,scsi-id=0 </dev/null >"$log" 2>&1
}

fail() {
    echo "scsi-disk: FAIL: $*"
    exit 1
}

# ---- 1. read a known file, write a new one ----
set +e
run "$work/rw.log" "mount /dev/sda /mnt && cat /mnt/known.txt && echo written-by-guest >/mnt/new.txt && sync && umount /mnt && echo SCSI-RW-DONE"
rc=$?
set -e
cat "$work/rw.log"
[ "$rc" -eq 0 ] || fail "tachyon exited with status $rc"
grep -q "sd 0:0:0:0: \[sda\] Attached SCSI disk" "$work/rw.log" || fail "the kernel did not attach the disk"
grep -q "^known contents from the host" "$work/rw.log" || fail "the known file was not read"
grep -q "^SCSI-RW-DONE" "$work/rw.log" || fail "the guest command did not finish"
e2fsck -fn "$work/disk.img" >"$work/fsck.log" 2>&1 || { cat "$work/fsck.log"; fail "e2fsck after the write"; }
[ "$(debugfs -R 'cat /new.txt' "$work/disk.img" 2>/dev/null)" = written-by-guest ] ||
    fail "the guest's file is not in the image"
echo "scsi-disk: read/write: PASS"

# ---- 2. sync, then kill -9: nothing is lost ----
"$tachyon" -m 256 -nographic -no-reboot \
    -kernel "$guest/vmlinuz" -initrd "$guest/initramfs.cpio.gz" \
    -append "console=ttyS0 panic=-1 tachyon.run=\"mount /dev/sda /mnt && seq 1 200000 >/mnt/big.txt && echo second >/mnt/second.txt && sync && echo SCSI-SYNCED && sleep 600\"" \
    -device lsi53c895a,id=scsi0 -drive "if=none,id=d0,file=$work/disk.img,format=raw" \
    -device scsi-hd,drive=d0,bus=scsi0.0,scsi-id=0 </dev/null >"$work/kill.log" 2>&1 &
pid=$!
i=0
until grep -q "^SCSI-SYNCED" "$work/kill.log" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -lt 1200 ] || { cat "$work/kill.log"; fail "the guest never synced"; }
    kill -0 "$pid" 2>/dev/null || { cat "$work/kill.log"; fail "tachyon ended before the sync"; }
    sleep 0.5
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pid=
seq 1 200000 >"$work/big.expected"
# The guest did not unmount, so the file system is not marked clean: check, do not fix.
e2fsck -fn "$work/disk.img" >"$work/fsck2.log" 2>&1 || { cat "$work/fsck2.log"; fail "e2fsck after kill -9"; }
debugfs -R "dump /big.txt $work/big.got" "$work/disk.img" 2>/dev/null
cmp "$work/big.expected" "$work/big.got" || fail "big.txt differs after kill -9"
[ "$(debugfs -R 'cat /second.txt' "$work/disk.img" 2>/dev/null)" = second ] || fail "second.txt lost"
echo "scsi-disk: kill -9 after sync: PASS"

# ---- 3. readonly=on ----
sum=$(md5sum <"$work/disk.img")
set +e
run "$work/ro.log" "mount /dev/sda /mnt; cat /mnt/known.txt; echo x >/mnt/ro.txt || echo SCSI-WRITE-REFUSED" ",readonly=on"
rc=$?
set -e
cat "$work/ro.log"
[ "$rc" -eq 0 ] || fail "tachyon exited with status $rc (readonly)"
grep -q "\[sda\] Write Protect is on" "$work/ro.log" || fail "the kernel did not see the write protection"
grep -q "^known contents from the host" "$work/ro.log" || fail "the known file was not read (readonly)"
grep -q "^SCSI-WRITE-REFUSED" "$work/ro.log" || fail "the write was not refused"
[ "$(md5sum <"$work/disk.img")" = "$sum" ] || fail "the read-only image changed"
echo "scsi-disk: readonly: PASS"
echo "scsi-disk: PASS"
