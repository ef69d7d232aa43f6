// Replies that survive a closed tab, in headless Chromium against the real ashley-proxy and the
// fake upstream: a page reloaded in the middle of a slow reply comes back to it and reads it to
// its end, once, without the upstream being asked again; a second tab opens the same
// conversation while its reply is being written, follows it, and its Stop stops the reply in
// both tabs, with what had arrived kept. The page's transcript for screen readers (a `log`
// region beside the canvas) is read from Chromium's accessibility tree (Playwright's ARIA
// snapshot): the question while the reply is written, the reply once it has finished. The app
// is also read through its wasm test handle, and the proxy through its own API. Run through
// browser.sh.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  clickWidget,
  gotoApp,
  launchChromium,
  readTestState,
  screenshotCanvas,
  typeIntoComposer,
  watchConsole,
} from './lib/browser.mjs';
import {
  FAKE_KEY,
  requireEnv,
  startFakeUpstream,
  startProxy,
  stopAll,
  upstreamChatRequests,
  waitFor,
} from './lib/servers.mjs';

const artifacts = requireEnv('ASHLEY_E2E_ARTIFACTS');
const runDir = requireEnv('ASHLEY_E2E_RUN_DIR');
const webDir = requireEnv('ASHLEY_WEB_DIR');
const logDir = join(runDir, 'logs-live-replies');

/** The fake upstream's reply to a message with `[[words:N]]`: `w1 w2 … wN`. */
function words(count) {
  return Array.from({ length: count }, (_, index) => `w${index + 1}`).join(' ');
}

let upstream;
let proxy;
let browser;

before(async () => {
  upstream = await startFakeUpstream({
    bin: requireEnv('ASHLEY_FAKE_UPSTREAM_BIN'),
    logDir,
    args: ['--reply', 'A short answer.', '--expected-key', FAKE_KEY],
  });
  proxy = await startProxy({
    bin: requireEnv('ASHLEY_PROXY_BIN'),
    webDir,
    dataDir: join(runDir, 'data-live-replies'),
    logDir,
    upstreamUrl: upstream.url,
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stopAll();
});

/** The stored conversation `id` as the proxy answers it to the page's cookie. */
async function storedConversation(page, id) {
  return page.evaluate(async (conversationId) => {
    const response = await fetch(`/api/conversations/${conversationId}`);
    if (!response.ok) throw new Error(`GET /api/conversations/${conversationId} answered ${response.status}`);
    return response.json();
  }, id);
}

/** The page's transcript region as its accessibility tree reads, and its paragraphs. */
async function transcript(page) {
  const tree = await page.locator('#transcript').ariaSnapshot();
  return { tree, paragraphs: (tree.match(/- paragraph/g) ?? []).length };
}

/** The last row of `page`'s conversation once it is a reply holding at least `min` words. */
async function replyGrown(page, what, min) {
  return waitFor(
    what,
    async () => {
      const state = await readTestState(page);
      const last = state?.messages?.at(-1);
      const count = last?.role === 'assistant' ? last.content.split(' ').filter(Boolean).length : 0;
      return count >= min ? state : null;
    },
    { timeoutMs: 20000, intervalMs: 25 },
  );
}

test('a page reloaded in the middle of a reply comes back to it and reads it to its end, once', { timeout: 90000 }, async () => {
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  const consoleLog = watchConsole(page);
  await gotoApp(page, `${proxy.url}/`);
  const message = 'tell me a long story [[words:60]] [[slow:100]]';
  await typeIntoComposer(page, message);
  await page.keyboard.press('Enter');
  const before = await replyGrown(page, 'the reply to start streaming', 5);
  const conversationId = before.conversation_id;
  assert.ok(conversationId, 'the message opened a conversation');
  assert.ok(before.sending, 'the reply is still being written when the page reloads');

  await page.reload({ waitUntil: 'load' });
  // The transcript is read first: the state read after it, still writing, shows it was read
  // while the reply was being written.
  let whileWriting;
  const back = await waitFor(
    'the reloaded page to follow the reply being written',
    async () => {
      whileWriting = await transcript(page).catch(() => null);
      const state = await readTestState(page).catch(() => null);
      const last = state?.messages?.at(-1);
      const following = state?.conversation_id === conversationId && state.sending && last?.role === 'assistant';
      return following && whileWriting?.paragraphs > 0 ? state : null;
    },
    { timeoutMs: 20000, intervalMs: 25 },
  );
  assert.equal(back.messages.filter((m) => m.role === 'user').length, 1, 'the question shows once');
  assert.equal(whileWriting.paragraphs, 1, `only the question is in the transcript while the reply is written:\n${whileWriting.tree}`);
  assert.match(whileWriting.tree, /- log "Conversation"/, whileWriting.tree);
  assert.ok(whileWriting.tree.includes('You:') && whileWriting.tree.includes(message), whileWriting.tree);
  await screenshotCanvas(page, join(artifacts, 'live-01-after-reload.png'));

  const done = await waitFor(
    'the reply to finish after the reload',
    async () => {
      const state = await readTestState(page);
      const last = state.messages.at(-1);
      return !state.sending && last?.role === 'assistant' && !last.partial ? state : null;
    },
    { timeoutMs: 30000 },
  );
  const chat = done.messages.filter((m) => m.role !== 'notice');
  assert.deepEqual(
    chat.map((m) => [m.role, m.content.trim()]),
    [
      ['user', message],
      ['assistant', words(60)],
    ],
    'the whole reply, each word once',
  );
  const finished = await waitFor('the finished reply in the transcript', async () => {
    const read = await transcript(page);
    return read.paragraphs === 2 ? read : null;
  });
  writeFileSync(join(artifacts, 'live-transcript.aria.yml'), finished.tree);
  assert.ok(finished.tree.includes('Ashley:') && finished.tree.includes(words(60)), finished.tree);
  const link = page.locator('#transcript_page');
  assert.equal(await link.getAttribute('href'), `/c/${conversationId}`, 'the transcript links to the page of the conversation');
  assert.match(
    await page.locator('section').ariaSnapshot(),
    /- link "Read this conversation as a web page"/,
    'the link is in the accessibility tree',
  );
  const stored = await storedConversation(page, conversationId);
  assert.equal(stored.live_reply, undefined, 'no reply is being written any more');
  assert.deepEqual(
    stored.messages.map((m) => [m.role, m.content, m.partial]),
    [
      ['user', message, false],
      ['assistant', words(60), false],
    ],
  );
  const asked = (await upstreamChatRequests(upstream.url)).filter((request) =>
    JSON.stringify(request.body.messages.at(-1)).includes('[[words:60]]'),
  );
  assert.equal(asked.length, 1, 'the reload did not ask the upstream again');
  assert.deepEqual(consoleLog.problems, [], 'no console errors, page errors or failed requests');
});

test('a second tab follows the reply being written, and its Stop stops it in both tabs', { timeout: 90000 }, async () => {
  const first = browser.context.pages()[0];
  await clickWidget(first, 'new_chat');
  await waitFor('a new, empty conversation', async () => (await readTestState(first)).message_count === 0);
  const message = 'an endless list [[words:400]] [[slow:100]]';
  await typeIntoComposer(first, message);
  await first.keyboard.press('Enter');
  const started = await replyGrown(first, 'the reply to start in the first tab', 3);
  const conversationId = started.conversation_id;

  // Same browser, same cookie and storage: the second tab resumes the open conversation.
  const second = await browser.context.newPage();
  const secondLog = watchConsole(second);
  await gotoApp(second, `${proxy.url}/`);
  await waitFor(
    'the second tab to follow the same reply',
    async () => {
      const state = await readTestState(second).catch(() => null);
      return state?.conversation_id === conversationId && state.sending && state.widgets?.stop ? state : null;
    },
    { timeoutMs: 20000, intervalMs: 25 },
  );
  await replyGrown(second, 'the second tab to read the reply', 6);

  await clickWidget(second, 'stop');
  const stopped = async (page) =>
    waitFor(
      'the reply to stop',
      async () => {
        const state = await readTestState(page);
        const last = state.messages.at(-1);
        return !state.sending && last?.role === 'assistant' ? state : null;
      },
      { timeoutMs: 20000, intervalMs: 25 },
    );
  const [inFirst, inSecond] = await Promise.all([stopped(first), stopped(second)]);
  const full = words(400);
  const kept = await waitFor('the proxy to store what arrived', async () => {
    const stored = await storedConversation(second, conversationId);
    return stored.live_reply === undefined && stored.messages.length === 2 ? stored : null;
  });
  const reply = kept.messages[1];
  assert.equal(reply.role, 'assistant');
  assert.equal(reply.partial, true, 'stored as cut short');
  assert.ok(reply.content.length > 0 && full.startsWith(reply.content.trim()), 'what arrived is kept');
  assert.ok(reply.content.trim().length < full.length, 'the reply stopped before its end');
  for (const [name, state] of [
    ['first', inFirst],
    ['second', inSecond],
  ]) {
    const last = state.messages.at(-1).content.trim();
    assert.ok(full.startsWith(last) && last.length < full.length, `the ${name} tab shows a stopped reply`);
  }
  const read = await waitFor('the stopped reply in the second tab\'s transcript', async () => {
    const current = await transcript(second);
    return current.paragraphs === 2 ? current : null;
  });
  assert.ok(read.tree.includes('(cut short)'), `a stopped reply reads as cut short:\n${read.tree}`);
  await screenshotCanvas(second, join(artifacts, 'live-02-stopped-from-second-tab.png'));
  assert.deepEqual(secondLog.problems, [], 'no console errors in the second tab');
  await second.close();
});
