// Reads text off screenshots with tesseract (scaled up first: egui's 13-14 px text is small for
// OCR), and finds where a word is drawn.
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

/**
 * Where tesseract saw `word` (case-insensitive, as a prefix of a recognized word), as the centre
 * of its box in the original image's pixels, or null.
 */
export async function ocrFindWord(pngPath, word) {
  const { stdout } = await run('tesseract', [await scaled(pngPath), 'stdout', '--psm', '11', 'tsv'], TESSERACT);
  const wanted = word.toLowerCase();
  for (const line of stdout.split('\n').slice(1)) {
    const cells = line.split('\t');
    if (cells.length < 12) continue;
    const text = cells[11].trim().toLowerCase();
    if (!text.startsWith(wanted)) continue;
    const [left, top, width, height] = cells.slice(6, 10).map(Number);
    return { x: (left + width / 2) / SCALE, y: (top + height / 2) / SCALE, text: cells[11] };
  }
  return null;
}

/** Whether the image is more than one flat colour (imagemagick's standard deviation > 0). */
export async function imageIsNonUniform(pngPath) {
  const { stdout } = await run('convert', [pngPath, '-format', '%[fx:standard_deviation]', 'info:']);
  return Number(stdout.trim()) > 0.001;
}
