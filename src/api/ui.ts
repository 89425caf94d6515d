// /ui/: the operator dashboard's files (HTML, one script, one stylesheet), under a strict Content-Security-Policy; its data comes from /v1.

import { readFileSync } from 'node:fs';
import type { Request, Response, Router } from 'express';
import express from 'express';
import { CaError } from '../errors.js';

/** Where the built dashboard lives: dist/src/ui next to this module's dist/src/api (the Makefile copies src/ui there). */
const UI_DIR = new URL('../ui/', import.meta.url);

const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml' };

/** Scripts and styles from this origin only, no inline code, no framing, data only from this origin. */
export const UI_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function uiRoutes(): Router {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of ['index.html', 'app.js', 'app.css', 'icon.svg']) {
    try {
      files.set(name, { body: readFileSync(new URL(name, UI_DIR)), type: TYPES[name.split('.').pop()!]! });
    } catch {
      // A build without the dashboard (the files were not copied): /ui/ says so.
    }
  }
  const router = express.Router();
  router.get(/^\/ui$/, (_req, res) => res.redirect(301, '/ui/'));
  router.get(/^\/ui\/(.*)$/, (req: Request, res: Response) => {
    const name = (req.params as Record<string, string>)[0] || 'index.html';
    const file = files.get(name);
    if (!file) throw new CaError('ERR_NOT_FOUND', files.size === 0 ? 'api: the dashboard is not built (make build copies src/ui to dist/src/ui)' : `api: no dashboard file ${name.slice(0, 64)}`);
    res.set({ 'content-type': file.type, 'content-security-policy': UI_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache', 'cross-origin-opener-policy': 'same-origin', 'x-frame-options': 'DENY' }).send(file.body);
  });
  return router;
}
