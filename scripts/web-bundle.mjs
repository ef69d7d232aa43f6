// scripts/web-bundle.mjs: precompresses the web bundle and reports its size (node, no packages).
//
//   node scripts/web-bundle.mjs precompress dist   writes .gz and .br next to .wasm/.js/.html/.css
//                                                  (and fonts/*.ttf),
//                                                  which the proxy serves as they are (no work per
//                                                  request, and better ratios than on-the-fly)
//   node scripts/web-bundle.mjs sizes dist         raw, gzip and brotli bytes of what the page loads
//   node scripts/web-bundle.mjs no-test-handle dist dist-e2e
//                                                  fails when the release bundle (dist) holds any
//                                                  name the test bundle's wasm exports beyond the
//                                                  release one's: the test handle (cargo feature
//                                                  `testing`) must be in the test bundle only
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const [mode, dir, testDir] = process.argv.slice(2);
if (!["precompress", "sizes", "no-test-handle"].includes(mode) || !dir || (mode === "no-test-handle") !== Boolean(testDir)) {
  console.error("usage: node scripts/web-bundle.mjs precompress|sizes DIR | no-test-handle RELEASE_DIR TEST_DIR");
  process.exit(2);
}
if (mode === "no-test-handle") {
  process.exit(checkNoTestHandle(dir, testDir));
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

/** The names in a wasm module's export section (section id 7), read straight from the bytes. */
function wasmExports(bytes) {
  let at = 8; // magic and version
  const leb = () => {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = bytes[at++];
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if (byte < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const id = bytes[at++];
    const size = leb();
    const end = at + size;
    if (id === 7) {
      const names = [];
      for (let count = leb(); count > 0; count -= 1) {
        const length = leb();
        names.push(bytes.subarray(at, at + length).toString("utf8"));
        at += length;
        at += 1; // export kind
        leb(); // index
      }
      return names;
    }
    at = end;
  }
  return [];
}

function bundleWasm(bundleDir) {
  const name = readdirSync(bundleDir).find((file) => file.endsWith(".wasm"));
  if (!name) throw new Error(`no .wasm in ${bundleDir}: build it first (scripts/build-web.sh)`);
  return readFileSync(join(bundleDir, name));
}

function checkNoTestHandle(releaseDir, testBundleDir) {
  const released = new Set(wasmExports(bundleWasm(releaseDir)));
  const handle = wasmExports(bundleWasm(testBundleDir)).filter((name) => !released.has(name));
  if (handle.length === 0) {
    console.error(
      `the test bundle ${testBundleDir} exports nothing the release bundle ${releaseDir} does not: ` +
        "either the test handle is in the release bundle too or it is missing from the test bundle " +
        "(it belongs behind the cargo feature `testing` of the ashley crate)",
    );
    return 1;
  }
  const leaks = [];
  for (const file of readdirSync(releaseDir).filter((name) => /\.(wasm|js)$/.test(name))) {
    const text = readFileSync(join(releaseDir, file)).toString("latin1");
    for (const name of handle) if (text.includes(name)) leaks.push(`${file}: ${name}`);
  }
  if (leaks.length > 0) {
    console.error(`the release bundle holds test-handle names (build it without the feature \`testing\`):\n  ${leaks.join("\n  ")}`);
    return 1;
  }
  console.error(`release bundle ${releaseDir}: none of the test handle's exports (${handle.join(", ")})`);
  return 0;
}
