// Copies a trunk bundle into a private directory and checks the copy is whole: every file
// index.html references exists, and every .br/.gz variant decodes to its file. dist/ is shared,
// and a build running elsewhere can swap it mid-copy or under a running test; a test serving its
// own checked copy is immune to that. Usage: node snapshot-bundle.mjs FROM TO (exit 1: retry).
import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';

const [from, to] = process.argv.slice(2);
rmSync(to, { recursive: true, force: true });
// Dot-directories (trunk's .stage) are a build in progress, not part of the bundle.
cpSync(from, to, { recursive: true, filter: (path) => !/(^|\/)\.[^/]+$/.test(path.slice(from.length)) });

const problems = [];
const names = readdirSync(to);
const index = readFileSync(join(to, 'index.html'), 'utf8');
for (const [, ref] of index.matchAll(/(?:href|src|from|module_or_path:)\s*=?\s*['"]\/([^'"?#]+)['"]/g)) {
  if (!existsSync(join(to, ref))) problems.push(`index.html refers to /${ref}, which is missing`);
}
for (const name of names) {
  const decode = name.endsWith('.br') ? brotliDecompressSync : name.endsWith('.gz') ? gunzipSync : null;
  if (!decode) continue;
  const plain = join(to, name.slice(0, -3));
  try {
    if (!existsSync(plain) || !decode(readFileSync(join(to, name))).equals(readFileSync(plain))) {
      problems.push(`${name} does not match ${name.slice(0, -3)}`);
    }
  } catch (error) {
    problems.push(`${name} does not decode: ${error.message}`);
  }
}
// The compression pass writes .gz and .br for the same files; one without the other means it is
// still running (and serving the half-compressed bundle would skew the byte counts).
const bases = (suffix) => new Set(names.filter((n) => n.endsWith(suffix)).map((n) => n.slice(0, -suffix.length)));
const [gz, br] = [bases('.gz'), bases('.br')];
for (const base of gz) if (br.size > 0 && !br.has(base)) problems.push(`${base}.gz has no ${base}.br beside it`);
for (const base of br) if (gz.size > 0 && !gz.has(base)) problems.push(`${base}.br has no ${base}.gz beside it`);
if (problems.length > 0) {
  console.error(`the bundle in ${from} is not whole (a build may be writing it): ${problems.join('; ')}`);
  process.exit(1);
}
