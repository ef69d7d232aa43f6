// The native `ashley` window under Xvfb, against the real ashley-proxy and the fake upstream,
// read and driven through its accessibility tree (AT-SPI 2, what a screen reader uses): the
// composer, Send, the streamed reply, the persona picker and the proxy's health are found and read
// by role, name and text; text is typed with real key presses (xdotool). Screenshots are kept for
// people, nothing is read off them. Run through window.sh (a private D-Bus session around it).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enableAccessibility, waitForTree } from './lib/atspi.mjs';
import { imageIsNonUniform } from './lib/images.mjs';
import { FAKE_KEY, requireEnv, startFakeUpstream, startProxy, stopAll, upstreamChatRequests } from './lib/servers.mjs';
import {
  COMPOSER_HINT,
  appWindow,
  buttonNamed,
  composerOf,
  hintOf,
  isChosen,
  labelMatching,
  personasOf,
  run,
  sendAndFollowReply,
  startApp,
  startXvfb,
  textOf,
} from './lib/window.mjs';

// Streamed one word per chunk, slowly enough that polls of the tree see the reply grow.
const FAKE_REPLY = 'Marmalade telescope: the desktop window reached the fake upstream through the proxy.';
const CHUNK_DELAY_MS = 120;
const FIRST_MESSAGE = 'hello from the window test';
const SECOND_MESSAGE = 'now as the technical persona';

const artifacts = requireEnv('ASHLEY_E2E_ARTIFACTS');
const runDir = requireEnv('ASHLEY_E2E_RUN_DIR');
const logDir = join(runDir, 'logs');

let upstream;
let proxy;
let xvfb;
let app;
let bridge;

const screenshot = (name) => xvfb.screenshot(name);
const xdotool = (...args) => xvfb.xdotool(...args);

/** Every chat request the fake upstream received. */
async function upstreamChats() {
  return upstreamChatRequests(upstream.url);
}

before(async () => {
  mkdirSync(logDir, { recursive: true });
  xvfb = await startXvfb({ logDir, artifacts });
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
  ({ app, bridge } = startApp({
    bin: requireEnv('ASHLEY_APP_BIN'),
    xvfb,
    serverUrl: proxy.url,
    home: join(runDir, 'home'),
    logDir,
  }));
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
  const windowId = await appWindow(xvfb, app);
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

  const { seen, stopOffered } = await sendAndFollowReply(bridge, FIRST_MESSAGE, FAKE_REPLY);
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
  await sendAndFollowReply(bridge, SECOND_MESSAGE, FAKE_REPLY);
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
