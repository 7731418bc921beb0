// Unit: choosing the device method once: the config key in xl and JSON, --dev-method as the override that wins, chaosd's default for configs that do not say.
import t from 'tap';
import { parseJsonConfig, parseXlConfig } from '../../../toolstack/config/index.js';
import { parseBatch, parseCreate } from '../../../daemon/requests.js';
import { settingsFrom, type RawArgs } from '../../../daemon/options.js';

const XL = 'name = "d1"\ntype = "pv"\nkernel = "/k"\nmemory = 4\n';
const JSON_CFG = { name: 'd1', type: 'pv', kernel: '/k', memory: 4 };

t.test('dev_method in an xl or JSON config; xenstore when absent; anything else refused', async (t) => {
  t.equal(parseXlConfig(XL, 'a.cfg').devMethod, 'xenstore', 'the default');
  t.equal(parseXlConfig(`${XL}dev_method = "noxs"\n`, 'a.cfg').devMethod, 'noxs');
  t.equal(parseJsonConfig(JSON.stringify({ ...JSON_CFG, dev_method: 'noxs' }), 'a.json').devMethod, 'noxs');
  t.throws(() => parseXlConfig(`${XL}dev_method = "xs"\n`, 'a.cfg'), { code: 'CONFIG_INVALID', key: 'dev_method' });
  t.throws(() => parseJsonConfig(JSON.stringify({ ...JSON_CFG, dev_method: 1 }), 'a.json'), { code: 'CONFIG_INVALID', key: 'dev_method' });
});

t.test('chaos create --dev-method is the last override: it wins over the file', async (t) => {
  // create.ts turns --dev-method X into the override dev_method="X", after the user's own.
  t.equal(parseXlConfig(`${XL}dev_method = "xenstore"\n`, 'a.cfg', ['dev_method="noxs"']).devMethod, 'noxs');
  t.equal(parseXlConfig(`${XL}dev_method = "noxs"\n`, 'a.cfg', ['memory=8', 'dev_method="xenstore"']).devMethod, 'xenstore');
});

t.test("chaosd: --dev-method is checked, xenstore by default, and is the default of a request's config that does not say", async (t) => {
  const base: RawArgs = { socket: '/run/x.sock', group: '0', 'state-dir': '/tmp/x', 'margin-mib': 64, 'max-body': 4096, 'tcp-host': '127.0.0.1', workers: 0, 'no-pools': true };
  t.equal(settingsFrom(base).devMethod, 'xenstore');
  t.equal(settingsFrom({ ...base, 'dev-method': 'noxs' }).devMethod, 'noxs');
  t.throws(() => settingsFrom({ ...base, 'dev-method': 'none' }), /--dev-method "none": it is xenstore or noxs/);
  t.equal(parseCreate({ config: JSON_CFG }).config.devMethod, 'xenstore', 'no daemon default: xenstore');
  t.equal(parseCreate({ config: JSON_CFG }, 'noxs').config.devMethod, 'noxs', "the daemon's default");
  t.equal(parseCreate({ config: { ...JSON_CFG, dev_method: 'xenstore' } }, 'noxs').config.devMethod, 'xenstore', 'a config that says wins');
  t.same(parseBatch({ config: JSON_CFG, count: 2 }, 'noxs').configs.map((c) => c.devMethod), ['noxs', 'noxs']);
  t.same(parseBatch({ configs: [JSON_CFG, { ...JSON_CFG, name: 'd2', dev_method: 'xenstore' }] }, 'noxs').configs.map((c) => c.devMethod), ['noxs', 'xenstore']);
});
