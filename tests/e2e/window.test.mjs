// The native `ashley` window under Xvfb, against the real ashley-proxy and the fake upstream:
// it renders (screenshot not flat, OCR reads "Ashley"), and a message typed into it with xdotool
// reaches the upstream and the reply shows in the window. Run through window.sh.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { imageIsNonUniform, ocrFindWord, ocrText } from './lib/ocr.mjs';
import {
  FAKE_KEY,
  requireEnv,
  startFakeUpstream,
  startProcess,
  startProxy,
  stopAll,
  waitFor,
} from './lib/servers.mjs';

const run = promisify(execFile);

// A distinctive word OCR can find, in a reply streamed one word per chunk.
const REPLY_WORD = 'Marmalade';
const FAKE_REPLY = `${REPLY_WORD} telescope: the desktop window reached the fake upstream.`;
const MESSAGE = 'hello from the window test';

const artifacts = requireEnv('ASHLEY_E2E_ARTIFACTS');
const runDir = requireEnv('ASHLEY_E2E_RUN_DIR');
const logDir = join(runDir, 'logs');

let upstream;
let proxy;
let xvfb;
let app;
let display;

/** The X environment the app and the X tools run in. */
function xEnv() {
  const env = { ...process.env, DISPLAY: display };
  delete env.WAYLAND_DISPLAY;
  return env;
}

async function screenshot(name) {
  const path = join(artifacts, name);
  await run('import', ['-window', 'root', path], { env: xEnv() });
  return path;
}

async function xdotool(...args) {
  return run('xdotool', args, { env: xEnv() });
}

before(async () => {
  mkdirSync(logDir, { recursive: true });
  // -displayfd: Xvfb picks a free display number itself and prints it on stdout.
  xvfb = startProcess('Xvfb', 'Xvfb', ['-displayfd', '1', '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], {
    logPath: join(logDir, 'xvfb.log'),
  });
  const number = await waitFor('Xvfb to print its display number', () => {
    if (!xvfb.isRunning()) throw new Error(`Xvfb exited:\n${xvfb.tail()}`);
    return xvfb.output.match(/^(\d+)\s*$/m)?.[1];
  });
  display = `:${number}`;
  upstream = await startFakeUpstream({
    bin: requireEnv('ASHLEY_FAKE_UPSTREAM_BIN'),
    logDir,
    args: ['--reply', FAKE_REPLY, '--chunk-delay-ms', '20', '--expected-key', FAKE_KEY],
  });
  // The window test needs no web bundle: an empty directory keeps the proxy's static route valid.
  const emptyWebDir = mkdtempSync(join(runDir, 'web-'));
  proxy = await startProxy({
    bin: requireEnv('ASHLEY_PROXY_BIN'),
    webDir: process.env.ASHLEY_WEB_DIR || emptyWebDir,
    dataDir: join(runDir, 'data'),
    logDir,
    upstreamUrl: upstream.url,
  });
  // Fresh XDG directories: the window starts with no remembered conversation.
  const home = join(runDir, 'home');
  for (const dir of ['data', 'config', 'cache']) mkdirSync(join(home, dir), { recursive: true });
  app = startProcess('ashley', requireEnv('ASHLEY_APP_BIN'), ['--server', proxy.url], {
    logPath: join(logDir, 'ashley-app.log'),
    env: {
      ...xEnv(),
      LIBGL_ALWAYS_SOFTWARE: '1',
      XDG_DATA_HOME: join(home, 'data'),
      XDG_CONFIG_HOME: join(home, 'config'),
      XDG_CACHE_HOME: join(home, 'cache'),
      RUST_LOG: 'info',
    },
  });
});

after(async () => {
  await stopAll();
});

test('the native window renders under Xvfb and shows the Ashley header', { timeout: 90000 }, async () => {
  const text = await waitFor(
    'the window to render and OCR to read "Ashley"',
    async () => {
      if (!app.isRunning()) throw new Error(`the app exited:\n${app.tail()}`);
      const shot = await screenshot('01-window.png');
      if (!(await imageIsNonUniform(shot))) return null;
      const read = await ocrText(shot);
      return /Ashley/.test(read) ? read : null;
    },
    { timeoutMs: 60000, intervalMs: 300 },
  );
  assert.match(text, /Ashley/);
  // The status panel draws "Healthy" / "Degraded" only from the proxy's /api/status answer.
  await waitFor(
    'the window to show the health it fetched from the proxy',
    async () => /Healthy|Degraded/.test(await ocrText(await screenshot('01-window.png'))),
    { timeoutMs: 20000, intervalMs: 300 },
  );
});

test('a message typed into the window reaches the upstream and the reply is shown', { timeout: 90000 }, async () => {
  const { stdout } = await xdotool('search', '--name', 'Ashley');
  const windowId = stdout.trim().split('\n')[0];
  assert.ok(windowId, 'xdotool finds the window named "Ashley AI"');
  // Without a window manager the window takes the keyboard only when given the focus.
  await xdotool('windowfocus', '--sync', windowId);
  const hint = await waitFor(
    'OCR to find the composer hint "Type your message…"',
    async () => {
      const shot = await screenshot('02-before-typing.png');
      return ocrFindWord(shot, 'Type');
    },
    { timeoutMs: 15000, intervalMs: 300 },
  );
  await xdotool('mousemove', '--sync', String(Math.round(hint.x)), String(Math.round(hint.y)));
  await xdotool('click', '1');
  await xdotool('type', '--delay', '30', MESSAGE);
  await waitFor(
    'the typed message to show in the composer',
    async () => (await ocrText(await screenshot('03-typed.png'))).includes('window test'),
    { timeoutMs: 15000, intervalMs: 300 },
  );
  await xdotool('key', 'Return');
  await waitFor(
    `the reply word "${REPLY_WORD}" to show in the window`,
    async () => (await ocrText(await screenshot('04-reply.png'))).includes(REPLY_WORD),
    { timeoutMs: 30000, intervalMs: 300 },
  );
  const response = await fetch(`${upstream.url}/control/requests`);
  const chats = (await response.json()).filter((request) => request.path === '/v1/chat/completions');
  assert.equal(chats.length, 1, 'the upstream got one chat request');
  assert.equal(chats[0].body.messages.at(-1).content, MESSAGE, 'the upstream got the typed message');
  assert.equal(chats[0].authorization, `Bearer ${FAKE_KEY}`);
  assert.ok(!app.output.includes(FAKE_KEY), 'the key is not in the app log');
  assert.ok(!proxy.output.includes(FAKE_KEY), 'the key is not in the proxy log');
});
