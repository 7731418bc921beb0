// Unit tests of vifspecs (xl-network-configuration(5)): every key and flag, and each malformed value.
import t from 'tap';
import { parseVifSpec } from '../../../../toolstack/config/vif-spec.js';
import { reject, rejection } from './spec-reject.js';

const vif = (s: string) => parseVifSpec(s, reject);

t.test('the empty vifspec means every default', async (tt) => {
  tt.same(vif(''), {});
  tt.same(vif(' , ,'), {}, 'empty items are skipped');
});

t.test('the examples of xl-network-configuration(5)', async (tt) => {
  tt.same(vif('mac=00:16:3E:74:3d:76,model=rtl8139,bridge=xenbr0'), { mac: '00:16:3e:74:3d:76', model: 'rtl8139', bridge: 'xenbr0' });
  tt.same(vif('mac=00:16:3E:74:34:32'), { mac: '00:16:3e:74:34:32' }, 'MACs are kept in lower case');
});

t.test('every key and flag', async (tt) => {
  tt.same(vif([
    'mac=02:00:00:00:00:01', 'bridge=br-lan', 'gatewaydev=eth0', 'type=vif', 'model=e1000', 'vifname=web1-eth0',
    'script=/etc/xen/scripts/vif-route', 'ip=10.0.0.2 fd00::2/64', 'backend=netdom', 'rate=10Mb/s', 'devid=3', 'mtu=9000', 'untrusted',
  ].join(',')), {
    mac: '02:00:00:00:00:01', bridge: 'br-lan', gatewaydev: 'eth0', type: 'vif', model: 'e1000', vifname: 'web1-eth0',
    script: '/etc/xen/scripts/vif-route', ip: '10.0.0.2 fd00::2/64', backend: 'netdom', rate: { bytesPerSecond: 1_250_000, intervalUs: 50_000 },
    devid: 3, mtu: 9000, trusted: false,
  });
  tt.same(vif('trusted'), { trusted: true });
  tt.same(vif('netdev=eth1'), { gatewaydev: 'eth1' }, 'netdev is the deprecated name of gatewaydev');
  tt.same(vif('type=ioemu'), { type: 'ioemu' });
  tt.same(vif('backend=0'), { backend: '0' }, 'a backend by domain id');
  tt.same(vif(' mac = 00:16:3e:00:00:01 , bridge=xenbr0 '), { mac: '00:16:3e:00:00:01', bridge: 'xenbr0' }, 'spaces around items and "="');
  tt.same(vif('bridge=,ip='), {}, 'an empty value means the default');
  tt.same(vif('ip=  10.0.0.1   10.0.0.2 '), { ip: '10.0.0.1 10.0.0.2' });
  tt.same(vif('mtu=68'), { mtu: 68 });
  tt.same(vif('devid=0'), { devid: 0 });
});

t.test('rates, as xl-network-configuration(5) writes them', async (tt) => {
  const rate = (r: string) => vif(`rate=${r}`).rate;
  tt.same(rate('10Mb/s'), { bytesPerSecond: 1_250_000, intervalUs: 50_000 }, 'megabits, the default 50ms interval');
  tt.same(rate('250KB/s'), { bytesPerSecond: 250_000, intervalUs: 50_000 });
  tt.same(rate('1MB/s@20ms'), { bytesPerSecond: 1_000_000, intervalUs: 20_000 }, '20,000 bytes every 20,000us, as the page says');
  tt.same(rate('1GB/s@1s'), { bytesPerSecond: 1e9, intervalUs: 1_000_000 });
  tt.same(rate('100B/s@500us'), { bytesPerSecond: 100, intervalUs: 500 });
  tt.same(rate('100/s@500'), { bytesPerSecond: 100, intervalUs: 500 }, 'bytes and microseconds without units');
  tt.same(rate('1Gb/s'), { bytesPerSecond: 125_000_000, intervalUs: 50_000 });
  tt.same(rate('12b/s'), { bytesPerSecond: 1.5, intervalUs: 50_000 }, 'bits that are not whole bytes');
  tt.same(rate('1Kb/s'), { bytesPerSecond: 125, intervalUs: 50_000 });
});

t.test('malformed vifspecs, each with a reason', async (tt) => {
  const cases: Array<[string, 'CONFIG_INVALID' | 'CONFIG_UNKNOWN_KEY', RegExp]> = [
    ['mac=00:16:3e:zz:00:01', 'CONFIG_INVALID', /^the MAC address "00:16:3e:zz:00:01" is not six pairs of hex digits separated by ":" \(e\.g\. 00:16:3e:12:34:56\)$/],
    ['mac=00:16:3e:00:01', 'CONFIG_INVALID', /is not six pairs/],
    ['mac=00-16-3e-00-00-01', 'CONFIG_INVALID', /is not six pairs/],
    ['mac=0:16:3e:0:0:1', 'CONFIG_INVALID', /is not six pairs/],
    ['mac=00:16:3e:00:00:01:02', 'CONFIG_INVALID', /is not six pairs/],
    ['mac=01:00:5e:00:00:01', 'CONFIG_INVALID', /^the MAC address 01:00:5e:00:00:01 is a multicast address \(its first byte is odd\)/],
    ['mac=ff:ff:ff:ff:ff:ff', 'CONFIG_INVALID', /is a multicast address/],
    ['mac=00:00:00:00:00:00', 'CONFIG_INVALID', /is not a usable address$/],
    ['macaddr=00:16:3e:00:00:01', 'CONFIG_UNKNOWN_KEY', /^"macaddr" is not a vif key \(keys: mac, bridge,/],
    ['brige=xenbr0', 'CONFIG_UNKNOWN_KEY', /^"brige" is not a vif key; did you mean "bridge"\?/],
    ['accel=x', 'CONFIG_UNKNOWN_KEY', /"accel" is not a vif key/],
    ['xenbr0', 'CONFIG_UNKNOWN_KEY', /^"xenbr0" is not a vif key or flag/],
    ['untrustd', 'CONFIG_UNKNOWN_KEY', /did you mean "untrusted"\?/],
    ['bridge', 'CONFIG_INVALID', /^"bridge" needs a value: write bridge=VALUE$/],
    ['trusted=1', 'CONFIG_INVALID', /^"trusted" is a flag and takes no value: write just trusted$/],
    ['mac=00:16:3e:00:00:01,mac=00:16:3e:00:00:02', 'CONFIG_INVALID', /^mac is given twice$/],
    ['trusted,untrusted', 'CONFIG_INVALID', /^trusted\/untrusted is given twice$/],
    ['netdev=eth0,gatewaydev=eth1', 'CONFIG_INVALID', /^gatewaydev is given twice$/],
    ['bridge=a very long bridge name', 'CONFIG_INVALID', /^bridge "a very long bridge name" is not a usable network interface name/],
    ['vifname=0123456789abcdef', 'CONFIG_INVALID', /^vifname "0123456789abcdef" is not a usable network interface name: at most 15/],
    ['vifname=a/b', 'CONFIG_INVALID', /is not a usable network interface name/],
    ['vifname=..', 'CONFIG_INVALID', /is not a usable network interface name/],
    ['type=netfront', 'CONFIG_INVALID', /^type must be "vif" or "ioemu", not "netfront"$/],
    ['model=e1000;rm', 'CONFIG_INVALID', /^model "e1000;rm" is not a device model name/],
    ['ip=10.0.0.300', 'CONFIG_INVALID', /^ip "10\.0\.0\.300" is not an IPv4 or IPv6 address/],
    ['ip=10.0.0.1/33', 'CONFIG_INVALID', /^ip "10\.0\.0\.1\/33" is not/],
    ['ip=fd00::1/129', 'CONFIG_INVALID', /is not an IPv4 or IPv6 address/],
    ['ip=10.0.0.1/24/1', 'CONFIG_INVALID', /is not an IPv4 or IPv6 address/],
    ['ip=host.example', 'CONFIG_INVALID', /is not an IPv4 or IPv6 address/],
    ['backend=dom 1', 'CONFIG_INVALID', /^backend "dom 1" is neither a domain id nor a domain name$/],
    ['rate=fast', 'CONFIG_INVALID', /^rate "fast" is not RATE\/s or RATE\/s@INTERVAL/],
    ['rate=10MB', 'CONFIG_INVALID', /is not RATE\/s/],
    ['rate=10mb/s', 'CONFIG_INVALID', /is not RATE\/s/],
    ['rate=1.5MB/s', 'CONFIG_INVALID', /is not RATE\/s/],
    ['rate=10MB/s@5m', 'CONFIG_INVALID', /is not RATE\/s/],
    ['rate=0MB/s', 'CONFIG_INVALID', /^rate "0MB\/s" must be more than zero/],
    ['rate=1MB/s@0ms', 'CONFIG_INVALID', /has an interval outside 1us to 4294967295us$/],
    ['rate=1MB/s@4295s', 'CONFIG_INVALID', /has an interval outside/],
    ['rate=99999999999GB/s', 'CONFIG_INVALID', /must be more than zero and less than/],
    ['devid=-1', 'CONFIG_INVALID', /^devid must be a whole number from 0 to 2147483647, not "-1"$/],
    ['devid=x', 'CONFIG_INVALID', /^devid must be a whole number/],
    ['mtu=67', 'CONFIG_INVALID', /^mtu must be a whole number from 68 to 65535, not "67"$/],
    ['mtu=65536', 'CONFIG_INVALID', /^mtu must be a whole number from 68 to 65535/],
    ['script=a\0b', 'CONFIG_INVALID', /^script contains a NUL character$/],
  ];
  for (const [spec, code, says] of cases) {
    const r = rejection(() => vif(spec));
    tt.equal(r?.code, code, `${JSON.stringify(spec)}: ${code}`);
    tt.match(r?.reason, says, `${JSON.stringify(spec)}: says why`);
  }
});
