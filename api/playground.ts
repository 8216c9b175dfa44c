/**
 * The web playground at `/`: a static page (api/playground/) that talks to
 * /v1 like any client, and the editor bundle built from npm at setup
 * (scripts/playground-build.mjs). Served before authentication: the page
 * holds nothing secret, and sends the key the user types with each call.
 * Nothing here is on the job path.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';

export const PLAYGROUND_DIR = join(import.meta.dirname, 'playground');

export function playgroundRoutes(logger?: { info(object: object, message?: string): void }): express.Router {
  const router = express.Router();
  if (!existsSync(join(PLAYGROUND_DIR, 'dist', 'editor.js'))) {
    // The page still works (a plain textarea stands in); said once, with the fix.
    logger?.info({ dir: PLAYGROUND_DIR }, 'the playground editor bundle is missing (run `node scripts/setup.js` or `node scripts/playground-build.mjs`): serving a plain textarea');
  }
  const page = join(PLAYGROUND_DIR, 'index.html');
  router.get('/', (req, res, next) => {
    res.set('Cache-Control', 'no-cache').set('Content-Security-Policy', CSP).sendFile(page, (error) => {
      if (!error) return;
      // A client gone mid-answer (it hung up, or sent garbage after a Connection: close) is no fault of ours.
      if (req.socket.destroyed || res.headersSent) {
        logger?.info({ err: error.message }, 'the playground page was not sent: the client went');
        return;
      }
      next(error);
    });
  });
  // Only the page's own files: the editor's entry source and anything else in the folder stay unserved.
  const files = express.static(PLAYGROUND_DIR, { index: false, fallthrough: true, maxAge: '1h' });
  router.use('/playground', (req, res, next) => (SERVED.test(req.path) ? files(req, res, next) : next()));
  return router;
}

const SERVED = /^\/(app\.js|style\.css|dist\/editor\.js|dist\/editor\.js\.LEGAL\.txt)$/;
/** Everything from this origin only: the page loads nothing from elsewhere, and must not. */
const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
