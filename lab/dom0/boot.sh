#!/bin/sh
# dom0 start-up in the lab: mounts, Xen modules, xenstored, xenconsoled, network; prints phase marks on the console.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-4.17/bin
mark() { echo "LIGHTVM-LAB: $* uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/console; }
fail() { mark "FAILED: $*"; exit 1; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /run/xen /run/xenstored /run/lock /var/lib/xen/dump
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/xen /run/xenstored /run/lock /run/lightvm
mark "dom0 init"
# A process that crashes in the lab leaves a core to debug (the agent runs with no core size limit).
mkdir -p /var/lib/lightvm-cores
echo '/var/lib/lightvm-cores/core.%e.%p' > /proc/sys/kernel/core_pattern

while read -r mod; do
  insmod "$mod" 2>/tmp/insmod.err || grep -q 'File exists' /tmp/insmod.err || echo "insmod $mod: $(cat /tmp/insmod.err)" > /dev/console
done < /etc/lightvm/modules
mount -t xenfs xenfs /proc/xen || fail "cannot mount xenfs"
grep -q control_d /proc/xen/capabilities || fail "not running as Xen's control domain"
mark "modules loaded"

XENSTORED_ROOTDIR=/var/lib/xenstored oxenstored --pid-file /run/xen/xenstored.pid || fail "oxenstored did not start"
i=0
until xenstore-read -s / >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -gt 600 ] && fail "xenstored did not answer"
  sleep 0.1
done
xen-init-dom0 > /var/log/xen/xen-init-dom0.log 2>&1 || fail "xen-init-dom0: $(tail -1 /var/log/xen/xen-init-dom0.log)"
xenconsoled --pid-file=/run/xen/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console || fail "xenconsoled did not start"
mark "xenstored and xenconsoled up"

hostname lab
ip link set lo up
ifc=$(for d in /sys/class/net/*; do n=${d##*/}; [ "$n" != lo ] && [ -e "$d/device" ] && echo "$n"; done | head -1)
if [ -n "$ifc" ]; then
  ip link set "$ifc" up && ip addr add 10.0.2.15/24 dev "$ifc" && ip route add default via 10.0.2.2
  mark "network up on $ifc"
else
  mark "FAILED: no network interface (the host cannot reach the agent)"
fi

# The guests' network (docs/xendevd.md): bridge xenbr0, dom0 at 10.88.0.1/24; xendevd puts each vif on it.
if brctl addbr xenbr0 && ip addr add 10.88.0.1/24 dev xenbr0 && ip link set xenbr0 up; then
  mark "bridge xenbr0 up at 10.88.0.1/24"
else
  mark "FAILED: bridge xenbr0"
fi
# libxl 4.17 always runs a vif's hotplug script itself: xl's default becomes a no-op, and xendevd
# does vif-bridge's work (docs/xendevd.md).
printf '#!/bin/sh\n# xendevd (lightvm) bridges the vif and writes hotplug-status: nothing is left to do here.\nexit 0\n' > /etc/xen/scripts/vif-xendevd
chmod 755 /etc/xen/scripts/vif-xendevd
echo 'vif.default.script="vif-xendevd"' >> /etc/xen/xl.conf

mkdir -p /mnt/share /mnt/project
if grep -q lightvm.share /proc/cmdline; then
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /mnt/share && mark "share mounted"
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro project /mnt/project 2>/dev/null && mark "project mounted read-only"
fi
mkdir -p /var/log/lightvm
setsid node /opt/lightvm/dist/daemon/xendevd.js --log-file /var/log/lightvm/xendevd.log </dev/null >/dev/null 2>>/var/log/lightvm/xendevd.log &
mark "xendevd started (log: /var/log/lightvm/xendevd.log)"
# noxsd, the noxs back-end (docs/noxs.md): only grants and event channels, so it runs on the stock hypervisor too.
# In the background, as xendevd: whatever it does, the boot goes on.
# Each noxs device takes one of gntalloc's grants, and the module allows 1024 in all by default.
echo 65536 > /sys/module/xen_gntalloc/parameters/limit 2>/dev/null || mark "cannot raise gntalloc's grant limit (noxs devices stop at 1024)"
if [ -x /opt/lightvm/native/build/noxsd ]; then
  setsid /opt/lightvm/native/build/noxsd --foreground --log-file /var/log/lightvm/noxsd.log </dev/null >/dev/null 2>>/var/log/lightvm/noxsd.log &
  mark "noxsd started (socket: /run/lightvm/noxsd.sock, log: /var/log/lightvm/noxsd.log)"
else
  mark "noxsd is not in the image: not started"
fi
mark "boot done"
