/** Every attack of the adversarial suite, for the coverage check. */
import type { Attack } from '../attack.js';
import { ESCAPE_ATTACKS } from './escapes.js';
import { HOST_MEMORY_ATTACKS } from './host-memory.js';
import { KERNEL_ATTACKS } from './kernel.js';
import { FILESYSTEM_ATTACKS } from './filesystem.js';
import { NETWORK_ATTACKS } from './network.js';
import { RESOURCE_ATTACKS } from './resources.js';
import { ALL_SCENARIOS } from './scenarios.js';

export const ALL_ATTACKS: Attack[] = [...RESOURCE_ATTACKS, ...ESCAPE_ATTACKS, ...NETWORK_ATTACKS, ...KERNEL_ATTACKS, ...HOST_MEMORY_ATTACKS, ...FILESYSTEM_ATTACKS, ...ALL_SCENARIOS];
