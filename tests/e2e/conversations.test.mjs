// Many conversations in headless Chromium, against the real ashley-proxy and the fake upstream:
// New chat keeps the old conversation in the list; rename, pin, delete and undo work from the
// list's menu and reach the proxy; search finds a word from an old conversation and opens it at
// that message; a reload comes back to the open conversation. Everything is read through the
// app's wasm test handle (the bundle built with the `testing` feature) and the proxy's own API;
// screenshots are kept for people. Run through browser.sh.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  clickSettledWidget,
  clickWidget,
  gotoApp,
  hasTestHandle,
  launchChromium,
  readTestState,
  screenshotCanvas,
  typeIntoComposer,
  waitForWasmStarted,
  watchConsole,
} from './lib/browser.mjs';
import { FAKE_KEY, requireEnv, startFakeUpstream, startProxy, stopAll, waitFor } from './lib/servers.mjs';

const FAKE_REPLY = 'Certainly: here is what I know about that.';
const OLD_MESSAGE = 'tell me about quokkas and their famous smiles';
const NEW_MESSAGE = 'how do I descale a teapot';
const RENAMED = 'Quokka notes';

const artifacts = requireEnv('ASHLEY_E2E_ARTIFACTS');
const runDir = requireEnv('ASHLEY_E2E_RUN_DIR');
const webDir = requireEnv('ASHLEY_WEB_DIR');
const logDir = join(runDir, 'logs-conversations');

let upstream;
let proxy;
let browser;
let page;
let consoleLog;
/** The two conversations' ids, once made. */
const ids = {};

before(async () => {
  upstream = await startFakeUpstream({
    bin: requireEnv('ASHLEY_FAKE_UPSTREAM_BIN'),
    logDir,
    args: ['--reply', FAKE_REPLY, '--chunk-delay-ms', '5', '--expected-key', FAKE_KEY],
  });
  proxy = await startProxy({
    bin: requireEnv('ASHLEY_PROXY_BIN'),
    webDir,
    dataDir: join(runDir, 'data-conversations'),
    logDir,
    upstreamUrl: upstream.url,
  });
  browser = await launchChromium();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  consoleLog = watchConsole(page);
});

after(async () => {
  await browser?.close();
  await stopAll();
});

/** The proxy's own list, asked with the page's cookie (what is stored, not what is drawn). */
async function storedConversations() {
  return page.evaluate(async () => {
    const response = await fetch('/api/conversations');
    if (!response.ok) throw new Error(`GET /api/conversations answered ${response.status}`);
    return (await response.json()).conversations;
  });
}

async function state() {
  return readTestState(page);
}

/** Types `text` into the focused field with real key presses. */
async function type(text) {
  await page.keyboard.type(text, { delay: 10 });
}

/** Sends `text` from the composer and waits until its reply has finished streaming. */
async function send(text) {
  await typeIntoComposer(page, text);
  await page.keyboard.press('Enter');
  return waitFor(
    `the reply to "${text}"`,
    async () => {
      const current = await state();
      const last = current.messages.at(-1);
      const answered = last?.role === 'assistant' && !last.partial && last.content.trim() === FAKE_REPLY;
      return answered && !current.sending ? current : null;
    },
    { timeoutMs: 20000, intervalMs: 25 },
  );
}

/** Opens the ⋯ menu of conversation `id` and clicks its item `item` (rename, pin, delete). */
async function menu(id, item) {
  await clickWidget(page, `conversation_menu:${id}`);
  await clickSettledWidget(page, `menu:${item}`);
}

test('New chat keeps the first conversation in the list, titled after its first exchange', { timeout: 60000 }, async () => {
  await gotoApp(page, `${proxy.url}/`);
  assert.ok(await hasTestHandle(page), 'the bundle must be built with the `testing` feature (dist-e2e/)');
  await waitFor('the app to start', async () => (await state())?.widgets?.composer);
  const first = await send(OLD_MESSAGE);
  ids.old = first.conversation_id;
  assert.ok(ids.old, 'the open conversation has an id');
  const titled = await waitFor(
    'the first conversation to be listed with a title',
    async () => {
      const row = (await state()).conversations.find((c) => c.id === ids.old);
      return row && row.title && row.title !== 'New chat' ? row : null;
    },
    { timeoutMs: 15000 },
  );
  assert.equal(titled.group, 'today');

  await clickWidget(page, 'new_chat');
  const fresh = await waitFor('a new, empty conversation to open', async () => {
    const current = await state();
    return current.conversation_id !== ids.old && current.message_count === 0 ? current : null;
  });
  assert.ok(fresh.conversations.some((c) => c.id === ids.old), 'the old conversation stays in the list');
  const second = await send(NEW_MESSAGE);
  ids.new = second.conversation_id;
  assert.notEqual(ids.new, ids.old);
  const stored = await storedConversations();
  assert.deepEqual(
    stored.map((c) => c.id).sort(),
    [ids.old, ids.new].sort(),
    'the proxy keeps both conversations',
  );
  await screenshotCanvas(page, join(artifacts, 'conversations-01-two.png'));
});

test('rename and pin from the list reach the proxy', { timeout: 60000 }, async () => {
  await menu(ids.old, 'rename');
  await clickWidget(page, 'rename_field');
  await page.keyboard.press('Control+A');
  await type(RENAMED);
  await page.keyboard.press('Enter');
  await waitFor('the list to show the new name', async () =>
    (await state()).conversations.some((c) => c.id === ids.old && c.title === RENAMED),
  );
  await waitFor('the proxy to store the new name', async () =>
    (await storedConversations()).some((c) => c.id === ids.old && c.title === RENAMED),
  );

  await menu(ids.old, 'pin');
  const pinned = await waitFor('the renamed conversation to move to Pinned, first', async () => {
    const [top] = (await state()).conversations;
    return top?.id === ids.old && top.pinned && top.group === 'pinned' ? top : null;
  });
  assert.equal(pinned.title, RENAMED);
  const stored = await storedConversations();
  assert.equal(stored[0].id, ids.old, 'the proxy lists the pinned conversation first');
  assert.equal(stored[0].pinned, true);
  await screenshotCanvas(page, join(artifacts, 'conversations-02-pinned.png'));
});

test('delete hides a conversation at once and Undo brings it back', { timeout: 60000 }, async () => {
  await menu(ids.new, 'delete');
  const deleted = await waitFor('the conversation to leave the list and the toast to offer Undo', async () => {
    const current = await state();
    return !current.conversations.some((c) => c.id === ids.new) && current.toast && current.widgets.undo
      ? current
      : null;
  });
  assert.match(deleted.toast, /deleted/i);
  await waitFor('the proxy to hide it', async () => !(await storedConversations()).some((c) => c.id === ids.new));
  await clickSettledWidget(page, 'undo');
  await waitFor('the conversation to come back to the list', async () =>
    (await state()).conversations.some((c) => c.id === ids.new),
  );
  assert.ok(
    (await storedConversations()).some((c) => c.id === ids.new),
    'the proxy restored it',
  );
});

test('search finds a word from the old conversation and opens it at that message', { timeout: 60000 }, async () => {
  // The new conversation is the open one: the hit has to switch.
  await clickWidget(page, `conversation:${ids.new}`);
  await waitFor('the new conversation to open', async () => (await state()).conversation_id === ids.new);
  await clickWidget(page, 'search');
  await type('quokka');
  const found = await waitFor(
    'a search hit in the old conversation',
    async () => {
      const current = await state();
      const hits = current.search?.hits ?? [];
      return hits.length > 0 ? current : null;
    },
    { timeoutMs: 10000 },
  );
  assert.equal(found.search.query, 'quokka');
  const index = found.search.hits.findIndex((hit) => hit.conversation_id === ids.old && hit.message_id);
  assert.ok(index >= 0, `a hit names a message of the old conversation: ${JSON.stringify(found.search.hits)}`);
  assert.ok(!found.search.hits.some((hit) => hit.conversation_id === ids.new), 'the teapot conversation does not match');
  assert.match(found.search.hits[index].snippet, /quokkas/i);
  await screenshotCanvas(page, join(artifacts, 'conversations-03-search.png'));
  await clickWidget(page, `search_hit:${index}`);
  const opened = await waitFor('the old conversation to open with its messages', async () => {
    const current = await state();
    return current.conversation_id === ids.old && current.message_count >= 2 ? current : null;
  });
  assert.equal(opened.messages.find((m) => m.role === 'user').content.trim(), OLD_MESSAGE);
});

test('a shared link is a page that reads as headings and articles in the accessibility tree, until sharing stops', { timeout: 60000 }, async () => {
  // Back from the search hits to the list.
  await clickWidget(page, 'search');
  await page.keyboard.press('Escape');
  await waitFor('the list to come back', async () => (await state()).search === null);
  // Made with the page's own credential, as the Share window does (the window itself is covered
  // by the app's unit tests).
  const share = (method) =>
    page.evaluate(
      async ([id, method]) => {
        const response = await fetch(`/api/conversations/${id}/share`, { method });
        return { status: response.status, body: response.status === 204 ? null : await response.json() };
      },
      [ids.old, method],
    );
  const made = await share('POST');
  assert.equal(made.status, 201);
  const link = `${proxy.url}${made.body.path}`;
  assert.match(link, /\/s\/[0-9a-f]{64}$/);

  // Anyone with the link reads it: no cookie, no token.
  const anonymous = await fetch(link);
  assert.equal(anonymous.status, 200, 'the link works without any credential');
  const reader = await browser.context.newPage();
  try {
    const response = await reader.goto(link, { waitUntil: 'load' });
    assert.equal(response.status(), 200);
    assert.equal(await reader.evaluate(() => document.scripts.length), 0, 'the page has no script');
    const tree = await reader.locator('body').ariaSnapshot();
    writeFileSync(join(artifacts, 'conversations-share-page.aria.yml'), tree);
    assert.match(tree, new RegExp(`- heading "${RENAMED}" \\[level=1\\]`), tree);
    assert.equal((tree.match(/- article/g) ?? []).length, 2, `one article per message:\n${tree}`);
    assert.match(tree, /- heading "You · [^"]+" \[level=2\]/, tree);
    assert.match(tree, /- heading "Ashley · [^"]+" \[level=2\]/, tree);
    assert.ok(tree.includes(OLD_MESSAGE), 'the message is readable text');
    assert.ok(tree.includes(FAKE_REPLY), 'the reply is readable text');
    await reader.screenshot({ path: join(artifacts, 'conversations-04-share-page.png'), fullPage: true });

    assert.equal((await share('DELETE')).status, 204);
    const ended = await reader.goto(link, { waitUntil: 'load' });
    assert.equal(ended.status(), 404, 'a stopped link shows nothing');
    assert.match(await reader.locator('h1').innerText(), /This link does not work/);
  } finally {
    await reader.close();
  }
});

test('a reload comes back to the open conversation and the whole list', { timeout: 60000 }, async () => {
  const before = await state();
  await page.reload({ waitUntil: 'load' });
  await waitForWasmStarted(page);
  const after = await waitFor(
    'the app to come back',
    async () => {
      const current = await state();
      return current?.conversation_id && current.message_count >= 2 && current.conversations.length >= 2
        ? current
        : null;
    },
    { timeoutMs: 20000 },
  );
  assert.equal(after.conversation_id, before.conversation_id);
  assert.deepEqual(
    after.conversations.map((c) => [c.id, c.title, c.pinned]),
    before.conversations.map((c) => [c.id, c.title, c.pinned]),
  );
  assert.deepEqual(consoleLog.problems, [], 'no console errors, page errors or failed requests');
});
