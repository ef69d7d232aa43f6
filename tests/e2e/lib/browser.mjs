// Headless Chromium with software WebGL, plus helpers to read the egui canvas: the app's
// wasm test handle, canvas screenshots and the console.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { recordPid, waitFor } from './servers.mjs';

export const CHROMIUM = process.env.ASHLEY_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Chromium as TOOLCHAIN.md found works here: swiftshader WebGL (with --disable-gpu the canvas
 * stays blank), no background traffic, a fresh profile directory.
 */
/** Headless Chromium with software WebGL (swiftshader; with --disable-gpu the canvas stays
 * blank); the network flags keep it from calling out of this closed machine. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium() {
  // Inside the run directory, so the shell wrapper's trap removes it even after a kill.
  const profileDir = mkdtempSync(join(process.env.ASHLEY_E2E_RUN_DIR ?? tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: CHROMIUM_ARGS,
    timeout: 30000,
  });
  recordPid(context.browser()?.process?.()?.pid);
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profileDir, { recursive: true, force: true });
  };
  return { context, close, profileDir };
}

/**
 * Records everything a page says that a person would call an error: console errors, uncaught
 * exceptions (a Rust panic reaches the console through eframe's panic hook), failed requests
 * and any message mentioning "panicked".
 */
/**
 * Refuses every request off loopback in `context`: the tests' servers are all on loopback, and
 * a page (the provider's @imports a web font) must not wait on the network of the machine.
 */
export async function keepOnLoopback(context) {
  await context.route(
    (at) => !['127.0.0.1', 'localhost', '[::1]'].includes(at.hostname),
    (route) => route.abort('blockedbyclient'),
  );
}

export function watchConsole(page) {
  const messages = [];
  const problems = [];
  page.on('console', (message) => {
    const line = `[console.${message.type()}] ${message.text()}`;
    messages.push(line);
    if (message.type() === 'error' || /panicked|RuntimeError|unreachable/i.test(message.text())) {
      problems.push(line);
    }
  });
  page.on('pageerror', (error) => {
    const line = `[pageerror] ${error.stack ?? error.message}`;
    messages.push(line);
    problems.push(line);
  });
  page.on('requestfailed', (request) => {
    const failure = request.failure()?.errorText ?? 'failed';
    // A stream the test itself ends by reloading is aborted on purpose; anything else is real.
    if (failure === 'net::ERR_ABORTED') return;
    const line = `[requestfailed] ${request.method()} ${request.url()}: ${failure}`;
    messages.push(line);
    problems.push(line);
  });
  return { messages, problems };
}

/**
 * The app's wasm test handle, parsed, or null while the app has not started or drawn its first
 * frame. Trunk 0.21 puts the module's exports on `window.wasmBindings` (its `no-modules` glue
 * uses `window.wasm_bindgen`).
 */
export async function readTestState(page) {
  return page.evaluate(() => {
    const handle = window.wasmBindings?.ashley_test_state ?? window.wasm_bindgen?.ashley_test_state;
    if (typeof handle !== 'function') return null;
    const state = JSON.parse(handle());
    return Array.isArray(state.messages) ? state : null;
  });
}

/** Whether the page exposes the test handle at all (checked after the app has started). */
export async function hasTestHandle(page) {
  return page.evaluate(
    () => typeof (window.wasmBindings?.ashley_test_state ?? window.wasm_bindgen?.ashley_test_state) === 'function',
  );
}

/** Waits until trunk's loader has started the wasm module (window.wasmBindings is set). */
export async function waitForWasmStarted(page, timeoutMs = 30000) {
  await page.waitForFunction(() => window.wasmBindings !== undefined || window.wasm_bindgen !== undefined, null, {
    timeout: timeoutMs,
  });
}

/** A PNG of the canvas, written to `path`. */
export async function screenshotCanvas(page, path) {
  return page.locator('#ashley_canvas').screenshot({ path });
}

/**
 * Whether the canvas has drawn something: its screenshot has more than a handful of distinct
 * colours (a blank or cleared WebGL canvas is one flat colour).
 */
export async function canvasIsPainted(page) {
  const png = await page.locator('#ashley_canvas').screenshot();
  return distinctColourCount(page, png).then((count) => count > 8);
}

/** Distinct colours in a PNG, counted by decoding it in the page (no image library needed). */
async function distinctColourCount(page, png) {
  return page.evaluate(async (base64) => {
    // Decoded by hand: the page's Content-Security-Policy lets it fetch nothing but its origin.
    const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d');
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    const colours = new Set();
    for (let i = 0; i < data.length && colours.size < 1000; i += 4) {
      colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    }
    return colours.size;
  }, png.toString('base64'));
}

/**
 * Pixels of the canvas in the saturated yellow of colour emoji faces (🙂 🥳 in Noto Color Emoji).
 * The app's own palette (slate, blue, violet, green) has none, and a missing glyph is drawn as an
 * outlined box in the text colour, so this counts emoji that really rendered.
 */
export async function emojiYellowPixels(page) {
  const png = await page.locator('#ashley_canvas').screenshot();
  return page.evaluate(async (base64) => {
    // Decoded by hand: the page's Content-Security-Policy lets it fetch nothing but its origin.
    const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d');
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
      if (r > 200 && g > 150 && b < 90) count += 1;
    }
    return count;
  }, png.toString('base64'));
}

/** Page coordinates of the centre of a widget rect [x, y, w, h] given relative to the canvas. */
export async function widgetCentre(page, rect) {
  const box = await page.locator('#ashley_canvas').boundingBox();
  if (!box) throw new Error('the canvas #ashley_canvas is not on the page');
  const [x, y, w, h] = rect;
  return { x: box.x + x + w / 2, y: box.y + y + h / 2 };
}

/** Clicks the named widget from the test handle's `widgets` map, where it is drawn now. */
export async function clickWidget(page, name) {
  const { x, y } = await settledCentre(page, name);
  await page.mouse.click(x, y);
}

/**
 * Clicks the named widget once it has settled. Kept for the callers that name the wait: every
 * click now waits as {@link settledCentre} does.
 */
export async function clickSettledWidget(page, name) {
  return clickWidget(page, name);
}

/**
 * The centre of widget `name` as drawn in a frame that began after the pointer reached it, and
 * unchanged from the frame before. A state read can be older than what is about to be drawn
 * (an answer that moves the layout has arrived, a popup menu is in its invisible sizing frame):
 * the pointer is moved onto the widget, which makes egui draw a frame, and the rect that frame
 * reports must match; if the widget moved, it is followed. Frames are counted by the handle
 * (`frame`), so this waits on drawn frames, never on time.
 */
async function settledCentre(page, name) {
  let target = null;
  return waitFor(
    `the widget "${name}" to settle under the pointer`,
    async () => {
      const current = await readTestState(page);
      const rect = current?.widgets?.[name];
      if (!rect) return null;
      if (target && current.frame > target.frame && rect.every((value, index) => value === target.rect[index])) {
        return target.centre;
      }
      if (target && current.frame === target.frame) return null; // not drawn again yet
      const centre = await widgetCentre(page, rect);
      // Through a neighbouring point: a move to where the pointer already is sends no event.
      await page.mouse.move(centre.x, centre.y - 1);
      await page.mouse.move(centre.x, centre.y);
      target = { rect, frame: current.frame, centre };
      return null;
    },
    { intervalMs: 20 },
  );
}

/** What the app asks for at start; each answer can move the layout (the list's panel, the
 * Account panel's sign-in, the personas). */
const START_UP_REQUESTS = ['/api/conversations', '/api/me', '/api/personas'];

/**
 * Opens the app at `url` and waits until it stands still: the wasm started, and every start-up
 * request answered (a click aimed before the last of them moved the chat would miss).
 */
export async function gotoApp(page, url) {
  const answered = START_UP_REQUESTS.map((path) =>
    page.waitForResponse(
      (response) => new URL(response.url()).pathname === path && response.request().method() === 'GET',
      { timeout: 30000 },
    ),
  );
  await page.goto(url, { waitUntil: 'load' });
  await waitForWasmStarted(page);
  await Promise.all(answered);
}

/** Clicks the composer, waits for it to hold the keyboard, and types `text` with real key presses. */
export async function typeIntoComposer(page, text) {
  await clickSettledWidget(page, 'composer');
  await waitFor('the composer to take the keyboard focus', () =>
    page.evaluate(() => ['INPUT', 'TEXTAREA'].includes(document.activeElement?.tagName)),
  );
  await page.keyboard.type(text, { delay: 10 });
  await waitFor(`the composer to show "${text}"`, async () => (await readTestState(page))?.composer_text === text);
}

/**
 * Records every text/event-stream response the page receives, chunk by chunk as it arrives,
 * through CDP's `Network.streamResourceContent` (Chromium keeps no body for a response the page
 * reads as a stream, so Playwright's `response.body()` cannot give it). Each entry:
 * `{ url, text, chunks: [{ at, text }], finished }`, `at` in seconds on Chromium's clock.
 */
export async function recordEventStreams(page) {
  const streams = [];
  const byId = new Map();
  const cdp = await page.context().newCDPSession(page);
  const decode = (base64) => Buffer.from(base64, 'base64').toString('utf8');
  cdp.on('Network.responseReceived', async ({ requestId, response, timestamp }) => {
    const type = Object.entries(response.headers).find(([name]) => name.toLowerCase() === 'content-type')?.[1] ?? '';
    if (!type.startsWith('text/event-stream')) return;
    const entry = { url: response.url, text: '', chunks: [], finished: false, startedAt: timestamp };
    streams.push(entry);
    byId.set(requestId, entry);
    try {
      const { bufferedData } = await cdp.send('Network.streamResourceContent', { requestId });
      const text = decode(bufferedData);
      if (text) {
        // What arrived before streaming was switched on comes first.
        entry.text = text + entry.text;
        entry.chunks.unshift({ at: timestamp, text });
      }
    } catch (error) {
      entry.error = error.message;
    }
  });
  cdp.on('Network.dataReceived', ({ requestId, data, timestamp }) => {
    const entry = byId.get(requestId);
    if (!entry || !data) return;
    const text = decode(data);
    entry.text += text;
    entry.chunks.push({ at: timestamp, text });
  });
  cdp.on('Network.loadingFinished', ({ requestId }) => {
    const entry = byId.get(requestId);
    if (entry) entry.finished = true;
  });
  cdp.on('Network.loadingFailed', ({ requestId, errorText }) => {
    const entry = byId.get(requestId);
    if (entry) Object.assign(entry, { finished: true, failed: errorText });
  });
  await cdp.send('Network.enable');
  return streams;
}
