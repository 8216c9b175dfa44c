// Prints the OpenAPI document (the same one GET /openapi.json serves) for docs/openapi.json.
import { DEFAULT_BOUNDS } from '../contract/job-request.js';
import { buildOpenApi } from '../contract/openapi.js';
import { LANGUAGES } from '../rootfs/languages.js';
import { LIMIT_TABLE } from '../sandbox/limits.js';

process.stdout.write(`${JSON.stringify(buildOpenApi({ limits: LIMIT_TABLE, languages: LANGUAGES.map((l) => l.id) }, DEFAULT_BOUNDS), null, 2)}\n`);
