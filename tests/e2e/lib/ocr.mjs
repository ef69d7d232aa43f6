// Reads text off screenshots with tesseract (scaled up first: egui's 13-14 px text is small for
// OCR). Only the browser test uses it, as a secondary check that never decides pass or fail (the
// wasm test handle does).
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCALE = 2;
// One thread: on a busy 2-core machine OpenMP's spinning threads make each read ~6x slower.
const TESSERACT = { env: { ...process.env, OMP_THREAD_LIMIT: '1' }, maxBuffer: 8 << 20 };

/** The image tesseract reads, kept out of the artifacts folder (in the run's temp directory). */
async function scaled(pngPath) {
  const dir = join(process.env.ASHLEY_E2E_RUN_DIR ?? '/tmp', 'ocr');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, basename(pngPath));
  // Grey, scaled up and inverted: tesseract reads dark-on-light text best, egui draws light-on-dark.
  await run('convert', [pngPath, '-colorspace', 'Gray', '-resize', `${SCALE * 100}%`, '-negate', out]);
  return out;
}

/** All text tesseract reads in the image, as one string. */
export async function ocrText(pngPath) {
  const { stdout } = await run('tesseract', [await scaled(pngPath), 'stdout', '--psm', '11'], TESSERACT);
  return stdout;
}
