// Web first-load benchmark: bytes over the wire and time to the app's first painted frame, in
// headless Chromium against the real ashley-proxy on loopback. Run through bench-web.sh.
//
// Definitions (printed with the results):
// - bytes over the wire: the sum of CDP `Network.loadingFinished.encodedDataLength` (response
//   headers + body as received, i.e. compressed as the proxy serves it) for every request the
//   page made from navigation until the first frame was painted and the network was quiet for
//   QUIET_MS. Browser cache disabled, fresh browser context for each run.
// - first frame: ms from navigation start (performance.timeOrigin) to the first
//   requestAnimationFrame callback after the one in which the app issued its first WebGL draw
//   call on the page, i.e. egui's first frame has been handed to the compositor.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './lib/browser.mjs';
import { recordPid, requireEnv, startProxy, stopAll, waitFor } from './lib/servers.mjs';

const RUNS = Number(process.env.ASHLEY_BENCH_RUNS ?? 5);
const QUIET_MS = 500;
const TARGET_BYTES = 1_200_000;
const TARGET_FIRST_FRAME_MS = 1000;

const runDir = requireEnv('ASHLEY_E2E_RUN_DIR');
const artifacts = requireEnv('ASHLEY_E2E_ARTIFACTS');
const webDir = requireEnv('ASHLEY_WEB_DIR');
const logDir = join(runDir, 'logs');

// Installed before any page script: timestamps for the first WebGL draw call, the frame after
// it, and trunk's "application started" event.
const INIT_SCRIPT = `(() => {
  const marks = (window.__ashleyBench = { firstDrawCall: null, firstFrame: null, wasmStarted: null });
  addEventListener('TrunkApplicationStarted', () => { marks.wasmStarted ??= performance.now(); });
  const wrap = (proto, name) => {
    const original = proto && proto[name];
    if (typeof original !== 'function') return;
    proto[name] = function (...args) {
      if (marks.firstDrawCall === null) {
        marks.firstDrawCall = performance.now();
        requestAnimationFrame(() => { marks.firstFrame = performance.now(); });
      }
      return original.apply(this, args);
    };
  };
  for (const proto of [globalThis.WebGL2RenderingContext?.prototype, globalThis.WebGLRenderingContext?.prototype]) {
    for (const name of ['drawElements', 'drawArrays', 'drawElementsInstanced', 'drawArraysInstanced', 'drawRangeElements']) {
      wrap(proto, name);
    }
  }
})();`;

async function measureOnce(browser, url, index) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript({ content: INIT_SCRIPT });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
  const cdp = await context.newCDPSession(page);
  const requests = new Map();
  let lastNetworkEvent = Date.now();
  cdp.on('Network.requestWillBeSent', ({ requestId, request }) => {
    lastNetworkEvent = Date.now();
    requests.set(requestId, { url: request.url, encoding: '', status: 0, bytes: 0, done: false });
  });
  cdp.on('Network.responseReceived', ({ requestId, response }) => {
    const entry = requests.get(requestId);
    if (!entry) return;
    const headers = Object.fromEntries(Object.entries(response.headers).map(([k, v]) => [k.toLowerCase(), v]));
    entry.encoding = headers['content-encoding'] ?? 'identity';
    entry.status = response.status;
  });
  cdp.on('Network.dataReceived', ({ requestId, dataLength }) => {
    const entry = requests.get(requestId);
    if (entry) entry.decoded = (entry.decoded ?? 0) + dataLength;
  });
  cdp.on('Network.loadingFinished', ({ requestId, encodedDataLength }) => {
    lastNetworkEvent = Date.now();
    const entry = requests.get(requestId);
    if (entry) Object.assign(entry, { bytes: encodedDataLength, done: true });
  });
  cdp.on('Network.loadingFailed', ({ requestId, errorText }) => {
    lastNetworkEvent = Date.now();
    const entry = requests.get(requestId);
    if (entry) Object.assign(entry, { failed: errorText, done: true });
  });
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });

  await page.goto(url, { waitUntil: 'commit' });
  const marks = await waitFor(
    'the app to paint its first frame',
    () => page.evaluate(() => (window.__ashleyBench?.firstFrame != null ? window.__ashleyBench : null)),
    { timeoutMs: 30000, intervalMs: 20 },
  );
  // What that first frame looked like (taken after the measurement, so it costs the figure nothing).
  if (index === 0) await page.locator('#ashley_canvas').screenshot({ path: join(artifacts, 'first-frame.png') });
  // Everything the page asks for while coming up counts, including its first API calls.
  await waitFor(
    'the network to be quiet',
    () => Date.now() - lastNetworkEvent > QUIET_MS && [...requests.values()].every((r) => r.done),
    { timeoutMs: 30000, intervalMs: 50 },
  );
  const timing = await page.evaluate(() => {
    const [navigation] = performance.getEntriesByType('navigation');
    const wasm = performance.getEntriesByType('resource').find((entry) => entry.name.endsWith('.wasm'));
    return {
      htmlResponseEnd: navigation?.responseEnd ?? null,
      domContentLoaded: navigation?.domContentLoadedEventEnd ?? null,
      wasmResponseEnd: wasm?.responseEnd ?? null,
    };
  });
  await page.locator('#ashley_canvas').screenshot({ path: join(artifacts, `loaded-${index + 1}.png`) });
  await context.close();
  const list = [...requests.values()].filter((r) => !r.url.startsWith('data:'));
  return {
    bytes: list.reduce((sum, r) => sum + r.bytes, 0),
    requests: list,
    firstFrame: marks.firstFrame,
    firstDrawCall: marks.firstDrawCall,
    wasmStarted: marks.wasmStarted,
    ...timing,
    errors,
  };
}

/** The summary line goes to the file bench-web.sh prints last (stdout when run by hand). */
function writeSummary(line) {
  if (process.env.ASHLEY_E2E_SUMMARY) writeFileSync(process.env.ASHLEY_E2E_SUMMARY, `${line}\n`);
  else console.log(line);
}

const pad = (value, width) => String(value).padStart(width);
const padEnd = (value, width) => String(value).padEnd(width);
const ms = (value) => (value == null ? '-' : value.toFixed(0));
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function main() {
  const proxy = await startProxy({
    bin: requireEnv('ASHLEY_PROXY_BIN'),
    webDir,
    dataDir: join(runDir, 'data'),
    logDir,
  });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  recordPid(browser.process?.()?.pid);
  const results = [];
  try {
    for (let index = 0; index < RUNS; index += 1) results.push(await measureOnce(browser, `${proxy.url}/`, index));
  } finally {
    await browser.close();
    await stopAll();
  }

  const first = results[0];
  console.log(`\nWeb first load: ${proxy.url}/ served by ashley-proxy from ${webDir}`);
  console.log(`Chromium ${browser.version()} headless, swiftshader WebGL, cache disabled, ${RUNS} runs, fresh context each\n`);
  console.log('Requests of the first run (bytes over the wire = headers + body as received):');
  console.log(`  ${padEnd('resource', 48)} ${padEnd('encoding', 9)} ${pad('status', 6)} ${pad('wire bytes', 11)} ${pad('decoded', 10)}`);
  for (const request of first.requests) {
    const name = new URL(request.url).pathname;
    console.log(
      `  ${padEnd(name.length > 48 ? `…${name.slice(-47)}` : name, 48)} ${padEnd(request.encoding || '-', 9)} ${pad(request.failed ? 'fail' : request.status, 6)} ${pad(request.bytes, 11)} ${pad(request.decoded ?? 0, 10)}`,
    );
  }
  const decodedTotal = first.requests.reduce((sum, r) => sum + (r.decoded ?? 0), 0);
  console.log(`  ${padEnd('total', 48)} ${padEnd('', 9)} ${pad('', 6)} ${pad(first.bytes, 11)} ${pad(decodedTotal, 10)}\n`);

  console.log('Per run (ms since navigation start):');
  console.log(`  ${pad('run', 3)} ${pad('html', 6)} ${pad('DCL', 6)} ${pad('wasm', 6)} ${pad('started', 8)} ${pad('1st draw', 9)} ${pad('1st frame', 10)} ${pad('bytes', 10)}`);
  results.forEach((r, i) => {
    console.log(
      `  ${pad(i + 1, 3)} ${pad(ms(r.htmlResponseEnd), 6)} ${pad(ms(r.domContentLoaded), 6)} ${pad(ms(r.wasmResponseEnd), 6)} ${pad(ms(r.wasmStarted), 8)} ${pad(ms(r.firstDrawCall), 9)} ${pad(ms(r.firstFrame), 10)} ${pad(r.bytes, 10)}`,
    );
  });
  console.log('  (html: index.html received; DCL: DOMContentLoaded done; wasm: .wasm received;');
  console.log('   started: trunk\'s TrunkApplicationStarted; 1st draw: first WebGL draw call;');
  console.log('   1st frame: the animation frame after it, i.e. the first frame handed to the compositor)\n');

  const bytes = median(results.map((r) => r.bytes));
  const firstFrame = median(results.map((r) => r.firstFrame));
  const worstFrame = Math.max(...results.map((r) => r.firstFrame));
  const checks = [
    {
      name: 'first-load bytes over the wire (median)',
      value: `${bytes} B (${(bytes / 1e6).toFixed(3)} MB)`,
      target: `<= ${(TARGET_BYTES / 1e6).toFixed(1)} MB`,
      ok: bytes <= TARGET_BYTES,
    },
    {
      name: 'time to first painted frame (median)',
      value: `${ms(firstFrame)} ms (worst ${ms(worstFrame)} ms)`,
      target: `<= ${TARGET_FIRST_FRAME_MS} ms`,
      ok: firstFrame <= TARGET_FIRST_FRAME_MS,
    },
    {
      name: 'no console errors during the loads',
      value: `${results.reduce((n, r) => n + r.errors.length, 0)} errors`,
      target: '0',
      ok: results.every((r) => r.errors.length === 0),
    },
  ];
  console.log(`  ${padEnd('figure', 42)} ${padEnd('measured', 30)} ${padEnd('target', 10)} result`);
  for (const check of checks) {
    console.log(`  ${padEnd(check.name, 42)} ${padEnd(check.value, 30)} ${padEnd(check.target, 10)} ${check.ok ? 'PASS' : 'FAIL'}`);
  }
  for (const r of results) for (const error of r.errors) console.log(`  console error: ${error}`);
  const failed = checks.filter((check) => !check.ok).length;
  console.log(`\nScreenshots (first-frame.png: run 1 shortly after its first frame; loaded-N.png: each run once loaded): ${artifacts}`);
  writeSummary(`${checks.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch(async (error) => {
  console.error(error.stack ?? error.message);
  await stopAll();
  writeSummary('0 passed, 1 failed (the benchmark could not run)');
  process.exitCode = 1;
});
