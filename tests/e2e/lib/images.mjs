// Checks on screenshots that need no OCR (imagemagick).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Whether the image is more than one flat colour (imagemagick's standard deviation > 0). */
export async function imageIsNonUniform(pngPath) {
  const { stdout } = await run('convert', [pngPath, '-format', '%[fx:standard_deviation]', 'info:']);
  return Number(stdout.trim()) > 0.001;
}
