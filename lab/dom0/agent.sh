#!/bin/sh
# Runs dom0's command agent (respawned by init); the host reaches it through QEMU's forwarded port.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-4.17/bin
export HOME=/root
cd /opt/lightvm || exit 1
ulimit -c unlimited
echo "LIGHTVM-LAB: agent starting uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/console
exec node /opt/lightvm/dist/lab/agent/server.js --port 7000 --token-file /etc/lightvm/agent-token >> /var/log/lightvm-agent.log 2>&1
