// Scenario: stock xl alone, create to ready mark with N guests running (the baseline every other configuration is read against).
import { createScenario } from './create.js';

export default createScenario('xl-create', ['xl'], 'stock xl: time from `xl create` of a noop guest to its ready mark, with N guests already running');
