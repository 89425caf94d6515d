// Figures a reliability test measured, appended to a JSON-lines file that `make soak` turns into RELIABILITY.md.

import { appendFileSync } from 'node:fs';

/** Appends `{ test, ...figures }` to $MESHCA_FIGURES when set (make soak sets it); otherwise does nothing. */
export function recordFigures(test: string, figures: Record<string, unknown>): void {
  const path = process.env.MESHCA_FIGURES;
  if (path) appendFileSync(path, `${JSON.stringify({ test, at: new Date().toISOString(), ...figures })}\n`);
}
