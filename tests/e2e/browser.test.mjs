// The served web app in headless Chromium, against the real ashley-proxy and the fake upstream:
// it renders without console errors, a typed message gets a streamed reply, a persona switch
// changes the system prompt upstream, a reload restores the conversation, emoji and code in a
// reply render (the monospace font fetched only then), and the API key never reaches the page.
// The app is read through its wasm test handle (the bundle built with the `testing` feature);
// screenshots are kept for people, and OCR of them is only a secondary note that never decides a
// result. Run through browser.sh, which builds and passes the binaries and bundle.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import {
  canvasIsPainted,
  clickWidget,
  emojiYellowPixels,
  hasTestHandle,
  launchChromium,
  readTestState,
  recordEventStreams,
  screenshotCanvas,
  typeIntoComposer,
  waitForWasmStarted,
  watchConsole,
} from './lib/browser.mjs';
import { ocrText } from './lib/ocr.mjs';
import {
  FAKE_KEY,
  fileContains,
  upstreamChatRequests as upstreamChats,
  requireEnv,
  startFakeUpstream,
  startProxy,
  stopAll,
  waitFor,
} from './lib/servers.mjs';

// The fake's reply, streamed one word per chunk (distinctive words, for the secondary OCR note).
const REPLY_WORD = 'Pineapple';
const FAKE_REPLY = `${REPLY_WORD} lighthouse here: your message reached the fake upstream safely.`;
const CHUNK_DELAY_MS = 60;
const FIRST_MESSAGE = 'hello from the browser test';
const SECOND_MESSAGE = 'now as the technical persona';

const artifacts = requireEnv('ASHLEY_E2E_ARTIFACTS');
const runDir = requireEnv('ASHLEY_E2E_RUN_DIR');
const webDir = requireEnv('ASHLEY_WEB_DIR');
const logDir = join(runDir, 'logs');

let upstream;
let proxy;
let browser;
let page;
let consoleLog;
/** Every response the page received: url, status, headers and body text. */
const received = [];
/** Each chat stream (text/event-stream) the page received, chunk by chunk (see recordEventStreams). */
let streams = [];

before(async () => {
  upstream = await startFakeUpstream({
    bin: requireEnv('ASHLEY_FAKE_UPSTREAM_BIN'),
    logDir,
    args: ['--reply', FAKE_REPLY, '--chunk-delay-ms', String(CHUNK_DELAY_MS), '--expected-key', FAKE_KEY],
  });
  proxy = await startProxy({
    bin: requireEnv('ASHLEY_PROXY_BIN'),
    webDir,
    dataDir: join(runDir, 'data'),
    logDir,
    upstreamUrl: upstream.url,
  });
  browser = await launchChromium();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  consoleLog = watchConsole(page);
  streams = await recordEventStreams(page);
  page.on('response', (response) => {
    const entry = { url: response.url(), status: response.status(), headers: response.headers(), body: '' };
    received.push(entry);
    // Chat streams are read through recordEventStreams; Chromium keeps no body for them.
    if ((entry.headers['content-type'] ?? '').startsWith('text/event-stream')) {
      entry.loaded = Promise.resolve();
      return;
    }
    entry.loaded = response.body().then(
      (body) => {
        entry.body = body.toString('latin1');
      },
      () => {
        // Redirects and responses of a page that was navigated away from keep no body.
      },
    );
  });
});

after(async () => {
  if (consoleLog) {
    writeFileSync(join(artifacts, 'console.log'), `${consoleLog.messages.join('\n')}\n`);
  }
  await browser?.close();
  await stopAll();
});

/**
 * The secondary OCR check: reads the screenshot once and notes whether `pattern` was read, with
 * the text kept next to it. It never fails a test (OCR misses egui's small text on a busy
 * machine); what the test asserts comes from the test handle.
 */
async function ocrNote(shot, pattern) {
  try {
    const text = await ocrText(shot);
    writeFileSync(`${shot}.ocr.txt`, text);
    const found = pattern.test(text);
    console.log(`secondary OCR of ${basename(shot)}: ${found ? 'read' : 'did NOT read'} ${pattern} (not a pass/fail check)`);
  } catch (error) {
    console.log(`secondary OCR of ${basename(shot)} could not run: ${error.message} (not a pass/fail check)`);
  }
}

/** Fails with the handle's absence spelled out, so a missing feature reads as such. */
async function requireHandle() {
  assert.ok(
    await hasTestHandle(page),
    'the app exposes no window.wasmBindings.ashley_test_state(): the bundle must be built with the ' +
      'cargo feature `testing` (scripts/build-web.sh e2e, dist-e2e/)',
  );
}

async function upstreamChatRequests() {
  return upstreamChats(upstream.url);
}

function systemPrompt(request) {
  const messages = request.body?.messages ?? [];
  return messages
    .filter((message) => message.role === 'system')
    .map((message) => message.content)
    .join('\n');
}

/** The user and assistant rows (notices left out), as {role, content}. */
function conversationOf(state) {
  return state.messages
    .filter((message) => message.role === 'user' || message.role === 'assistant')
    .map(({ role, content }) => ({ role, content: content.trim() }));
}

/**
 * Clicks the composer, types with real key presses and presses Enter; waits for the finished
 * reply to `text` and returns the state then, that exchange, and the partial reply texts the
 * handle showed while it streamed.
 */
async function sendAndAwaitReply(text, streamingShot = null) {
  await typeIntoComposer(page, text);
  await page.keyboard.press('Enter');
  const partials = [];
  const done = await waitFor(
    `the streamed reply to "${text}" to finish`,
    async () => {
      const state = await readTestState(page);
      const userIndex = state.messages.findLastIndex((m) => m.role === 'user' && m.content.trim() === text);
      if (userIndex < 0) return null;
      const reply = state.messages.slice(userIndex + 1).find((m) => m.role === 'assistant');
      if (reply && reply.content && (reply.partial || state.sending) && partials.at(-1) !== reply.content) {
        partials.push(reply.content);
        // One picture of the reply half-way, for people to look at.
        if (partials.length === 2 && streamingShot) await screenshotCanvas(page, streamingShot);
      }
      const finished = reply && !reply.partial && !state.sending && reply.content.includes(REPLY_WORD);
      return finished ? { state, user: state.messages[userIndex], reply } : null;
    },
    { timeoutMs: 20000, intervalMs: 10 },
  );
  return { ...done, partials };
}

test('the app renders in headless Chromium with no console errors or panics', { timeout: 60000 }, async () => {
  const statusLoaded = page.waitForResponse((r) => r.url().endsWith('/api/status') && r.status() === 200, {
    timeout: 30000,
  });
  await page.goto(`${proxy.url}/`, { waitUntil: 'load' });
  await waitForWasmStarted(page);
  await statusLoaded;
  await waitFor('the canvas to show more than a flat colour', () => canvasIsPainted(page), { timeoutMs: 20000 });
  await requireHandle();
  const state = await waitFor('the test handle to report the started app', () => readTestState(page), { timeoutMs: 20000 });
  assert.equal(state.persona, 'ashley', 'the app starts with the Ashley persona');
  assert.equal(state.sending, false, 'nothing is being sent at start');
  assert.ok(state.widgets.composer && state.widgets.send, 'the composer and Send are drawn');
  const shot = join(artifacts, '01-first-frame.png');
  await screenshotCanvas(page, shot);
  await ocrNote(shot, /Ashley/);
  assert.equal(
    await page.evaluate(() => document.getElementById('loading_text')),
    null,
    'the "Loading Ashley" text is removed once the app started',
  );
  assert.deepEqual(consoleLog.problems, [], 'no console errors, page errors or failed requests');
});

test('a message typed into the composer gets a streamed reply on the canvas', { timeout: 60000 }, async () => {
  await requireHandle();
  const { state, user, reply, partials } = await sendAndAwaitReply(FIRST_MESSAGE, join(artifacts, '02-streaming.png'));
  assert.equal(user.kind, 'user');
  assert.equal(reply.kind, 'reply');
  assert.equal(reply.content.trim(), FAKE_REPLY);
  assert.equal(state.composer_text, '', 'the composer is emptied after sending');
  // Streamed: the page saw the reply grow, and the wire carried it in several delta events.
  assert.ok(partials.length >= 2, `the reply grew while streaming (saw ${partials.length} partial texts)`);
  assert.ok(partials.every((partial) => FAKE_REPLY.startsWith(partial.trim())), 'each partial text is a prefix of the reply');
  // The wire itself is not asserted chunk by chunk here: CDP's stream recording starts only after
  // the response headers arrive, so a fast reply can finish before it is attached and the count
  // would depend on timing. The page-level proof above (the reply grew in the app over several
  // polls) is what a person sees; the proxy's own tests pin forwarding without buffering.
  const shot = join(artifacts, '03-reply.png');
  await screenshotCanvas(page, shot);
  await ocrNote(shot, new RegExp(REPLY_WORD));
  const chats = await upstreamChatRequests();
  assert.equal(chats.length, 1, 'the upstream got one chat request');
  assert.equal(chats[0].authorization, `Bearer ${FAKE_KEY}`, 'the proxy sent the key upstream, and only there');
  assert.equal(chats[0].body.messages.at(-1).content, FIRST_MESSAGE);
});

test('switching persona changes the system prompt the upstream receives', { timeout: 60000 }, async () => {
  await requireHandle();
  const initial = await readTestState(page);
  assert.equal(initial.persona, 'ashley', 'the default persona is Ashley');
  await clickWidget(page, 'persona:technical');
  await waitFor('the persona to become "technical"', async () => (await readTestState(page)).persona === 'technical');
  await sendAndAwaitReply(SECOND_MESSAGE);
  await screenshotCanvas(page, join(artifacts, '04-technical-persona.png'));
  const chats = await upstreamChatRequests();
  assert.equal(chats.length, 2, 'the upstream got a second chat request');
  const [first, second] = chats.map(systemPrompt);
  assert.ok(first.length > 0, 'the first request carries a system prompt');
  assert.ok(second.length > 0, 'the second request carries a system prompt');
  assert.notEqual(second, first, 'the technical persona sends another system prompt');
  assert.equal(chats[1].body.messages.at(-1).content, SECOND_MESSAGE);
  // The history goes along: the first exchange precedes the new message.
  const contents = chats[1].body.messages.map((message) => message.content);
  assert.ok(contents.includes(FIRST_MESSAGE), 'the second request carries the earlier user message');
});

test('reloading the page restores the conversation', { timeout: 60000 }, async () => {
  await requireHandle();
  const beforeReload = conversationOf(await readTestState(page));
  assert.equal(beforeReload.length, 4, 'two exchanges before the reload');
  await page.reload({ waitUntil: 'load' });
  await waitForWasmStarted(page);
  const restored = await waitFor(
    'the conversation to come back after the reload',
    async () => {
      const state = await readTestState(page);
      return state && conversationOf(state).length >= beforeReload.length ? state : null;
    },
    { timeoutMs: 20000 },
  );
  assert.deepEqual(conversationOf(restored), beforeReload);
  const shot = join(artifacts, '05-after-reload.png');
  await screenshotCanvas(page, shot);
  await ocrNote(shot, new RegExp(REPLY_WORD));
});

test('emoji and code in a reply render, and the code font is fetched only then', { timeout: 60000 }, async () => {
  await requireHandle();
  const fontRequests = () => received.filter((entry) => entry.url.includes('/fonts/')).map((entry) => entry.url);
  assert.deepEqual(fontRequests(), [], 'no font is downloaded before a message shows code');
  const yellowBefore = await emojiYellowPixels(page);
  // [[echo]]: the fake answers with this very text, so the reply holds the emoji and the code.
  const message = `[[echo]] ${REPLY_WORD} 🙂 🥳 with \`let code = 1;\``;
  const { reply } = await sendAndAwaitReply(message);
  assert.ok(reply.content.includes('🥳'), 'the reply carries the emoji');
  const shot = join(artifacts, '06-emoji-and-code.png');
  const added = await waitFor(
    'the emoji to be drawn in colour, not as boxes',
    async () => {
      await screenshotCanvas(page, shot);
      const added = (await emojiYellowPixels(page)) - yellowBefore;
      // Two faces in the message and two in the reply, roughly 10x10 yellow pixels each.
      return added > 150 ? added : null;
    },
    { timeoutMs: 15000, intervalMs: 250 },
  );
  assert.ok(added > 150, `emoji pixels drawn: ${added}`);
  await waitFor('the monospace font to be fetched once code is shown', () => fontRequests().length > 0 || null);
  assert.deepEqual(
    fontRequests().map((url) => url.split('/').pop()),
    ['Hack-Regular.ttf'],
    'only the monospace font is fetched, once',
  );
});

/** Every file of the bundle as text, compressed variants decompressed. */
function bundleTexts(dir) {
  const texts = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      texts.push(...bundleTexts(path));
      continue;
    }
    const raw = readFileSync(path);
    let text = raw.toString('latin1');
    if (name.endsWith('.gz')) text = gunzipSync(raw).toString('latin1');
    if (name.endsWith('.br')) text = brotliDecompressSync(raw).toString('latin1');
    texts.push({ path, text });
  }
  return texts;
}

test('the API key reaches no response, no bundle file and no proxy log line', { timeout: 30000 }, async () => {
  assert.ok(received.length > 0, 'the page received responses');
  await Promise.all(received.map((entry) => entry.loaded));
  for (const stream of streams) assert.ok(!stream.text.includes(FAKE_KEY), `the key is in the stream ${stream.url}`);
  for (const entry of received) {
    assert.ok(!entry.body.includes(FAKE_KEY), `the key is in the body of ${entry.url}`);
    assert.ok(!JSON.stringify(entry.headers).includes(FAKE_KEY), `the key is in the headers of ${entry.url}`);
  }
  const files = bundleTexts(webDir);
  assert.ok(files.some((file) => file.path.endsWith('.wasm')), 'the bundle has a .wasm file');
  // A key the developer running this has in the environment must not be baked in either (the
  // assertion names only the file, never the key).
  const realKey = process.env.OPENAI_API_KEY;
  for (const file of files) {
    assert.ok(!file.text.includes(FAKE_KEY), `the fake key is in ${file.path}`);
    assert.ok(!/sk-[A-Za-z0-9_-]{20,}/.test(file.text), `something shaped like an OpenAI key is in ${file.path}`);
    if (realKey) assert.ok(!file.text.includes(realKey), `$OPENAI_API_KEY's value is in ${file.path}`);
  }
  assert.ok(!proxy.output.includes(FAKE_KEY), 'the key is in the proxy log');
  assert.ok(!fileContains(join(logDir, 'ashley-proxy.log'), FAKE_KEY), 'the key is in the proxy log file');
});

test('the whole session logged no console errors, page errors or failed requests', async () => {
  assert.deepEqual(consoleLog.problems, []);
});
