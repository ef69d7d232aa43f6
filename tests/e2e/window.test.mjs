// The native `ashley` window under Xvfb, against the real ashley-proxy and the fake upstream,
// read and driven through its accessibility tree (AT-SPI 2, what a screen reader uses): the
// composer, Send, the streamed reply, the persona picker and the proxy's health are found and read
// by role, name and text; text is typed with real key presses (xdotool). Screenshots are kept for
// people, nothing is read off them. Run through window.sh (a private D-Bus session around it).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { enableAccessibility, startBridge, waitForTree } from './lib/atspi.mjs';
import { imageIsNonUniform } from './lib/images.mjs';
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

// Streamed one word per chunk, slowly enough that polls of the tree see the reply grow.
const FAKE_REPLY = 'Marmalade telescope: the desktop window reached the fake upstream through the proxy.';
const CHUNK_DELAY_MS = 120;
const FIRST_MESSAGE = 'hello from the window test';
const SECOND_MESSAGE = 'now as the technical persona';
const COMPOSER_HINT = /^Type your message/;

const artifacts = requireEnv('ASHLEY_E2E_ARTIFACTS');
const runDir = requireEnv('ASHLEY_E2E_RUN_DIR');
const logDir = join(runDir, 'logs');

let upstream;
let proxy;
let xvfb;
let app;
let bridge;
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

const xdotool = (...args) => run('xdotool', args, { env: xEnv() });

// --- Finding things in the tree the way a screen reader names them ------------------------------
// The composer: the entry whose hint (AT-SPI's placeholder-text, present while it is empty) asks
// for a message; once it holds text, the window's only multi-line entry.
const composerOf = (nodes) => {
  const entries = nodes.filter((node) => node.role === 'entry');
  const hinted = entries.find((node) => COMPOSER_HINT.test(node.attributes['placeholder-text'] ?? ''));
  const multiLine = entries.filter((node) => node.states.includes('multi-line'));
  return hinted ?? (multiLine.length === 1 ? multiLine[0] : undefined);
};
const hintOf = (node) => node.attributes['placeholder-text'] ?? '';
const buttonNamed = (nodes, name) =>
  nodes.find((node) => node.role.includes('button') && node.name.replace(/^\W+/u, '') === name);
const textOf = (node) => node.text ?? node.name;
const labelMatching = (nodes, pattern) => nodes.find((node) => node.role === 'label' && pattern.test(node.name));
/** The persona picker's choices: toggle buttons (egui's selectable labels). */
const personasOf = (nodes) => nodes.filter((node) => node.role === 'toggle button');
/** Whether a persona button reads as the chosen one (AccessKit's toggled or selected state). */
const isChosen = (node) => ['checked', 'pressed', 'selected'].some((state) => node.states.includes(state));

/** Every chat request the fake upstream received. */
async function upstreamChats() {
  const response = await fetch(`${upstream.url}/control/requests`);
  return (await response.json()).filter((request) => request.path === '/v1/chat/completions');
}

/**
 * Presses Send through the accessibility tree, then follows the reply to `message` as it streams
 * in (the first reply-like text after the sent message in the conversation): returns the distinct
 * texts the reply showed on the way and whether the Stop button was offered meanwhile.
 */
async function sendAndFollowReply(message) {
  const send = await waitForTree(bridge, 'an enabled Send button', (nodes) => {
    const button = buttonNamed(nodes, 'Send');
    return button?.states.includes('enabled') ? button : null;
  });
  await bridge.act(send, 'click');
  const seen = [];
  let stopOffered = false;
  await waitForTree(
    bridge,
    `the whole reply to "${message}" to show in the window`,
    (nodes) => {
      if (buttonNamed(nodes, 'Stop')) stopOffered = true;
      const sent = nodes.findLastIndex((node) => node.role !== 'entry' && textOf(node) === message);
      if (sent < 0) return false;
      const reply = nodes
        .slice(sent + 1)
        .map((node) => textOf(node)?.trim())
        .find((text) => text && FAKE_REPLY.startsWith(text));
      if (reply && seen.at(-1) !== reply) seen.push(reply);
      return seen.at(-1) === FAKE_REPLY && !buttonNamed(nodes, 'Stop');
    },
    { timeoutMs: 30000, intervalMs: 50 },
  );
  return { seen, stopOffered };
}

/** The app's X window: by process id (winit sets _NET_WM_PID), else by its title. */
async function appWindow() {
  for (const args of [['--pid', String(app.child.pid)], ['--name', 'Ashley AI']]) {
    try {
      const { stdout } = await xdotool('search', ...args);
      const id = stdout.trim().split('\n').at(-1);
      if (id) return id;
    } catch {
      // xdotool exits 1 when it finds nothing: try the next way.
    }
  }
  return null;
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
    args: ['--reply', FAKE_REPLY, '--chunk-delay-ms', String(CHUNK_DELAY_MS), '--expected-key', FAKE_KEY],
  });
  // The window test needs no web bundle: an empty directory keeps the proxy's static route valid.
  proxy = await startProxy({
    bin: requireEnv('ASHLEY_PROXY_BIN'),
    webDir: mkdtempSync(join(runDir, 'web-')),
    dataDir: join(runDir, 'data'),
    logDir,
    upstreamUrl: upstream.url,
  });
  // Before the app starts: AccessKit registers only on a bus that says accessibility is on.
  await enableAccessibility(run);
  // Fresh XDG directories (window.sh made XDG_RUNTIME_DIR and XDG_CONFIG_HOME private): the
  // window starts with no remembered conversation.
  const home = join(runDir, 'home');
  for (const dir of ['data', 'cache']) mkdirSync(join(home, dir), { recursive: true });
  app = startProcess('ashley', requireEnv('ASHLEY_APP_BIN'), ['--server', proxy.url], {
    logPath: join(logDir, 'ashley-app.log'),
    env: {
      ...xEnv(),
      LIBGL_ALWAYS_SOFTWARE: '1',
      XDG_DATA_HOME: join(home, 'data'),
      XDG_CACHE_HOME: join(home, 'cache'),
      RUST_LOG: 'info',
    },
  });
  bridge = startBridge(app.child.pid);
});

after(async () => {
  await bridge?.close();
  await stopAll();
});

test('the window registers an accessibility tree with the composer, Send, personas and health', { timeout: 60000 }, async () => {
  const started = Date.now();
  const nodes = await waitForTree(
    bridge,
    'the window to expose the composer, the Send button, three personas and the proxy health',
    (tree) => {
      if (!app.isRunning()) throw new Error(`the app exited:\n${app.tail()}`);
      const ready =
        composerOf(tree) &&
        buttonNamed(tree, 'Send') &&
        personasOf(tree).length === 3 &&
        ['Ashley', 'Technical Expert'].every((name) => buttonNamed(tree, name)) &&
        // Drawn only from the proxy's /api/status answer.
        labelMatching(tree, /Healthy|Degraded/);
      return ready ? tree : null;
    },
    { timeoutMs: 45000 },
  );
  console.log(`accessibility tree complete ${Date.now() - started} ms after the app started (${nodes.length} nodes)`);
  assert.match(labelMatching(nodes, /Healthy|Degraded/).name, /Healthy/, 'the proxy reports itself healthy');
  assert.deepEqual(
    personasOf(nodes).filter(isChosen).map((node) => node.name),
    ['Ashley'],
    'the Ashley persona, and only it, is the chosen one at start',
  );
  const composer = composerOf(nodes);
  assert.match(hintOf(composer), COMPOSER_HINT, 'the composer tells what to type (its placeholder-text)');
  assert.ok(composer.states.includes('editable'), 'the composer is editable');
  assert.equal(composer.text, '', 'the composer starts empty');
  // For people: what the window looked like (not read by the test).
  assert.ok(await imageIsNonUniform(await screenshot('01-window.png')), 'the screen is not one flat colour');
});

test('a message typed into the composer reaches the upstream and the streamed reply is read back', { timeout: 60000 }, async () => {
  const windowId = await appWindow();
  assert.ok(windowId, 'xdotool finds the app window');
  // Without a window manager the window takes the keyboard only when given the focus.
  await xdotool('windowfocus', '--sync', windowId);
  const composer = composerOf(await bridge.tree());
  const [x, y, width, height] = composer.extents;
  await xdotool('mousemove', '--sync', String(Math.round(x + width / 2)), String(Math.round(y + height / 2)));
  await xdotool('click', '1');
  await xdotool('type', '--delay', '20', FIRST_MESSAGE);
  await waitForTree(bridge, `the composer to hold "${FIRST_MESSAGE}"`, (nodes) => composerOf(nodes)?.text === FIRST_MESSAGE);
  await screenshot('02-typed.png');

  const { seen, stopOffered } = await sendAndFollowReply(FIRST_MESSAGE);
  await screenshot('03-reply.png');
  assert.ok(stopOffered, 'a Stop button was offered while the reply streamed');
  assert.ok(seen.length >= 2, `the reply grew while it streamed (read ${seen.length} texts: ${JSON.stringify(seen)})`);
  const nodes = await bridge.tree();
  assert.equal(composerOf(nodes).text, '', 'the composer is emptied after sending');
  assert.ok(
    nodes.some((node) => textOf(node) === FIRST_MESSAGE),
    'the sent message is in the conversation',
  );
  const chats = await upstreamChats();
  assert.equal(chats.length, 1, 'the upstream got one chat request');
  assert.equal(chats[0].body.messages.at(-1).content, FIRST_MESSAGE, 'the upstream got the typed message');
  assert.equal(chats[0].authorization, `Bearer ${FAKE_KEY}`);
});

test('choosing a persona in the picker changes the system prompt the upstream receives', { timeout: 60000 }, async () => {
  const technical = buttonNamed(await bridge.tree(), 'Technical Expert');
  await bridge.act(technical, 'click');
  await waitForTree(bridge, 'the Technical Expert persona to read as chosen', (nodes) => {
    const chosen = personasOf(nodes).filter(isChosen).map((node) => node.name);
    return chosen.length === 1 && chosen[0] === 'Technical Expert';
  });
  // This time the text goes in through AT-SPI's EditableText, as assistive tools enter it.
  await bridge.setText(composerOf(await bridge.tree()), SECOND_MESSAGE);
  await waitForTree(bridge, `the composer to hold "${SECOND_MESSAGE}"`, (nodes) => composerOf(nodes)?.text === SECOND_MESSAGE);
  await sendAndFollowReply(SECOND_MESSAGE);
  await screenshot('04-technical-persona.png');
  const chats = await upstreamChats();
  assert.equal(chats.length, 2, 'the upstream got a second chat request');
  const system = (request) => request.body.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n');
  assert.ok(system(chats[0]).length > 0 && system(chats[1]).length > 0, 'both requests carry a system prompt');
  assert.notEqual(system(chats[1]), system(chats[0]), 'the technical persona sends another system prompt');
  assert.equal(chats[1].body.messages.at(-1).content, SECOND_MESSAGE);
  assert.ok(!app.output.includes(FAKE_KEY), 'the key is not in the app log');
  assert.ok(!proxy.output.includes(FAKE_KEY), 'the key is not in the proxy log');
});
