// Prints the OpenAPI document (the same one GET /openapi.json serves) for docs/openapi.json.
import { buildOpenApi } from '../api/openapi.js';
import { DEFAULT_BOUNDS } from '../api/schemas.js';
import { LIMIT_TABLE } from '../sandbox/limits.js';

process.stdout.write(`${JSON.stringify(buildOpenApi(LIMIT_TABLE, DEFAULT_BOUNDS), null, 2)}\n`);
