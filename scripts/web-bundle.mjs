// scripts/web-bundle.mjs: precompresses the web bundle and reports its size (node, no packages).
//
//   node scripts/web-bundle.mjs precompress dist   writes .gz and .br next to .wasm/.js/.html/.css
//                                                  (and fonts/*.ttf),
//                                                  which the proxy serves as they are (no work per
//                                                  request, and better ratios than on-the-fly)
//   node scripts/web-bundle.mjs sizes dist         raw, gzip and brotli bytes of what the page loads
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const [mode, dir] = process.argv.slice(2);
if (!["precompress", "sizes"].includes(mode) || !dir) {
  console.error("usage: node scripts/web-bundle.mjs precompress|sizes DIR");
  process.exit(2);
}

const compressible = /\.(wasm|js|html|css|svg|json)$/;
const files = readdirSync(dir).filter((name) => compressible.test(name)).sort();
// The font the app fetches when it first shows code (Hack, src/fonts.rs): precompressed, but
// not part of the first load, so `sizes` lists it on its own.
const fontDir = join(dir, "fonts");
const fonts = existsSync(fontDir)
  ? readdirSync(fontDir).filter((name) => name.endsWith(".ttf")).sort().map((name) => join("fonts", name))
  : [];
if (!files.some((name) => name.endsWith(".wasm"))) {
  console.error(`no .wasm in ${dir}: build the bundle first (make web)`);
  process.exit(1);
}

const gzip = (bytes) => gzipSync(bytes, { level: 9 });
const brotli = (bytes) =>
  brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });

if (mode === "precompress") {
  for (const name of [...files, ...fonts]) {
    const bytes = readFileSync(join(dir, name));
    writeFileSync(join(dir, `${name}.gz`), gzip(bytes));
    writeFileSync(join(dir, `${name}.br`), brotli(bytes));
  }
  console.error(`precompressed ${files.length + fonts.length} files in ${dir} (.gz, .br)`);
} else {
  const measure = (name) => {
    const bytes = readFileSync(join(dir, name));
    return { name, raw: bytes.length, gzip: gzip(bytes).length, brotli: brotli(bytes).length };
  };
  const rows = files.map(measure);
  const total = rows.reduce(
    (sum, row) => ({ name: "total", raw: sum.raw + row.raw, gzip: sum.gzip + row.gzip, brotli: sum.brotli + row.brotli }),
    { name: "total", raw: 0, gzip: 0, brotli: 0 },
  );
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`.padStart(12);
  console.log(`${"file".padEnd(34)}${"raw".padStart(12)}${"gzip -9".padStart(12)}${"brotli 11".padStart(12)}`);
  for (const row of [...rows, total]) {
    console.log(`${row.name.padEnd(34)}${kib(row.raw)}${kib(row.gzip)}${kib(row.brotli)}`);
  }
  console.log(`bytes: raw ${total.raw}, gzip ${total.gzip}, brotli ${total.brotli}`);
  if (fonts.length > 0) {
    console.log("fetched after start-up (not in the total):");
    for (const row of fonts.map(measure)) {
      console.log(`${row.name.padEnd(34)}${kib(row.raw)}${kib(row.gzip)}${kib(row.brotli)}`);
    }
  }
}
