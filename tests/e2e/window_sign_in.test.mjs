// The desktop sign-in through the loopback redirect (RFC 8252), driven in the real window: the
// native `ashley` window under Xvfb, against the real ashley-proxy configured for a real OpenID
// Connect provider (lib/oidc.mjs, as the web sign-in test uses) and the fake upstream. A guest
// chats; "Sign in with Test Provider", pressed through AT-SPI, makes the app listen on a loopback
// port and open the proxy's login page in the "system browser": $BROWSER, here
// lib/desktop-browser.mjs, which logs in on the provider's pages in headless Chromium and follows
// the redirects back to http://127.0.0.1:PORT/callback. The window then reads "Signed in as …"
// with the guest's conversation still shown; Sign out makes it a guest again. The window is read
// and driven only through its accessibility tree. Run through window.sh, after window.test.mjs.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { describeTree, enableAccessibility, waitForTree } from './lib/atspi.mjs';
import { PROVIDER_NAME, personName, startProviderAndProxy } from './lib/oidc.mjs';
import { FAKE_KEY, requireEnv, startFakeUpstream, stopAll, upstreamChatRequests, waitFor } from './lib/servers.mjs';
import {
  buttonNamed,
  composerOf,
  labelMatching,
  run,
  sendAndFollowReply,
  showsMessage,
  startApp,
  startXvfb,
} from './lib/window.mjs';

const DESKTOP_BROWSER = fileURLToPath(new URL('./lib/desktop-browser.mjs', import.meta.url));
const GUEST_MESSAGE = 'a desktop plan worth keeping';
const REPLY = 'Kept in the window, and soon in your account.';
const LOGIN = 'grace';
const SIGN_IN = `Sign in with ${PROVIDER_NAME}`;
const GUEST_LABEL = /^You are chatting as a guest\.$/;
const SIGNED_IN_LABEL = /^Signed in as /;

const artifacts = requireEnv('ASHLEY_E2E_ARTIFACTS');
const runDir = requireEnv('ASHLEY_E2E_RUN_DIR');
// Under logs/, which window.sh keeps in the artifacts.
const logDir = join(runDir, 'logs', 'window-sign-in');
// What the desktop browser reports, kept with the logs.
const reportPath = join(logDir, 'desktop-browser.jsonl');

let upstream;
let proxy;
let issuer;
let closeProvider;
let xvfb;
let app;
let bridge;

/** What lib/desktop-browser.mjs reported so far, one object per event. */
function browserEvents() {
  if (!existsSync(reportPath)) return [];
  return readFileSync(reportPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

const describeBrowser = () => {
  const events = browserEvents();
  return events.length === 0
    ? '(the app never ran $BROWSER: no report was written)'
    : events.map((event) => JSON.stringify(event)).join('\n');
};

/**
 * Polls the tree until `pick(nodes)` is truthy; stops at once, with what the browser reported,
 * when the browser script failed or the app exited (those cannot get better by waiting).
 */
async function waitForWindow(what, pick, options) {
  let outcome;
  try {
    outcome = await waitForTree(
      bridge,
      what,
      (nodes) => {
        if (!app.isRunning()) return { failure: `the app exited:\n${app.tail()}` };
        const failed = browserEvents().find((event) => event.event === 'failed');
        if (failed) return { failure: `the desktop browser failed:\n${describeBrowser()}` };
        const picked = pick(nodes);
        return picked ? { picked, nodes } : null;
      },
      options,
    );
  } catch (error) {
    error.message += `\nthe desktop browser reported:\n${describeBrowser()}`;
    throw error;
  }
  if (outcome.failure) {
    throw new Error(`${outcome.failure}\nwhile waiting for ${what}; the tree held:\n${describeTree(await bridge.tree())}`);
  }
  return outcome;
}

/** The Account panel reads as a guest's: the guest line, and Sign in offered and enabled. */
const guestPanel = (nodes) => {
  const signIn = buttonNamed(nodes, SIGN_IN);
  return (
    labelMatching(nodes, GUEST_LABEL) &&
    !labelMatching(nodes, SIGNED_IN_LABEL) &&
    signIn?.states.includes('enabled') &&
    signIn
  );
};

before(async () => {
  mkdirSync(logDir, { recursive: true });
  // The hook the app's browser is opened through: $BROWSER is split on ':' and whitespace.
  for (const path of [process.execPath, DESKTOP_BROWSER]) {
    assert.doesNotMatch(path, /[:\s]/, `${path} cannot be part of $BROWSER (it holds a ':' or a space)`);
  }
  xvfb = await startXvfb({ logDir, artifacts });
  upstream = await startFakeUpstream({
    bin: requireEnv('ASHLEY_FAKE_UPSTREAM_BIN'),
    logDir,
    args: ['--reply', REPLY, '--expected-key', FAKE_KEY],
  });
  // No web bundle is needed: an empty directory keeps the proxy's static route valid.
  ({ proxy, issuer, close: closeProvider } = await startProviderAndProxy({
    bin: requireEnv('ASHLEY_PROXY_BIN'),
    webDir: mkdtempSync(join(runDir, 'web-sign-in-')),
    dataDir: join(runDir, 'data-window-sign-in'),
    logDir,
    upstreamUrl: upstream.url,
  }));
  await enableAccessibility(run);
  ({ app, bridge } = startApp({
    bin: requireEnv('ASHLEY_APP_BIN'),
    xvfb,
    serverUrl: proxy.url,
    home: join(runDir, 'home-sign-in'),
    logDir,
    env: {
      // zbus logs every AT-SPI call at info: without it, a failure's log tail shows the app.
      RUST_LOG: 'info,zbus=warn,tracing::span=warn',
      BROWSER: `${process.execPath} ${DESKTOP_BROWSER}`,
      ASHLEY_E2E_DESKTOP_BROWSER_REPORT: reportPath,
      ASHLEY_E2E_DESKTOP_BROWSER_ISSUER: issuer,
      ASHLEY_E2E_DESKTOP_BROWSER_LOGIN: LOGIN,
    },
  }));
});

after(async () => {
  // The desktop browser is the app's child, not this process's: let it close Chromium itself
  // (window.sh's trap ends it, by pid, if it does not).
  if (browserEvents().some((event) => event.event === 'opened')) {
    await waitFor('the desktop browser to close Chromium', () => browserEvents().some((event) => event.event === 'closed'), {
      timeoutMs: 20000,
    }).catch((error) => console.log(`${error.message}; window.sh's trap ends it`));
  }
  await bridge?.close();
  closeProvider?.();
  await stopAll();
});

test('a guest chats in the window, with Sign in offered in the Account panel', { timeout: 60000 }, async () => {
  await waitForWindow('the composer, Send and the Account panel of a guest with Sign in offered', (nodes) => (
    composerOf(nodes) && buttonNamed(nodes, 'Send') && guestPanel(nodes)
  ), { timeoutMs: 45000 });
  await bridge.setText(composerOf(await bridge.tree()), GUEST_MESSAGE);
  await waitForTree(bridge, `the composer to hold "${GUEST_MESSAGE}"`, (nodes) => composerOf(nodes)?.text === GUEST_MESSAGE);
  await sendAndFollowReply(bridge, GUEST_MESSAGE, REPLY);
  // A guest the proxy knows (it offers "Delete my data…" to guests and users, not to nobody).
  await waitForWindow('the Account panel to read as a guest the proxy knows', (nodes) =>
    guestPanel(nodes) && buttonNamed(nodes, 'Delete my data…'),
  );
  await xvfb.screenshot('sign-in-01-guest.png');
  const chats = await upstreamChatRequests(upstream.url);
  assert.equal(chats.length, 1, 'the upstream got one chat request');
  assert.equal(chats[0].body.messages.at(-1).content, GUEST_MESSAGE);
});

test('Sign in opens the browser, the provider signs the person in and the window says so', { timeout: 90000 }, async () => {
  const signIn = guestPanel(await bridge.tree());
  assert.ok(signIn, `the "${SIGN_IN}" button is offered and enabled`);
  const started = Date.now();
  await bridge.act(signIn, 'click');
  const name = personName(LOGIN);
  const { nodes } = await waitForWindow(
    `"Signed in as ${name}" in the Account panel`,
    (tree) => labelMatching(tree, SIGNED_IN_LABEL)?.name === `Signed in as ${name}`,
    { timeoutMs: 60000 },
  );
  console.log(`signed in ${Date.now() - started} ms after Sign in was pressed`);
  await xvfb.screenshot('sign-in-02-signed-in.png');

  // The browser went where the app sent it, and came back to the app's own loopback page. The
  // app has its code once the browser's request arrives, so the browser may still be reading the
  // page the app answered with: wait for its own word.
  const done = await waitFor(
    'the desktop browser to report how its visit ended',
    () => browserEvents().find((event) => event.event === 'done' || event.event === 'failed'),
    { timeoutMs: 20000 },
  ).catch((error) => {
    throw new Error(`${error.message}\nthe desktop browser reported:\n${describeBrowser()}`);
  });
  assert.equal(done.event, 'done', `the desktop browser finished its visit:\n${describeBrowser()}`);
  const events = browserEvents();
  const opened = events.find((event) => event.event === 'opened');
  assert.ok(opened, `the desktop browser reported the page it opened:\n${describeBrowser()}`);
  const login = new URL(opened.url);
  assert.equal(`${login.origin}${login.pathname}`, `${proxy.url}/auth/login`, 'the app opened the proxy\'s login page');
  assert.equal(login.searchParams.get('client'), 'desktop');
  assert.match(login.searchParams.get('state') ?? '', /^[0-9a-f]{32}$/, 'with a state of the app\'s making');
  const port = Number(login.searchParams.get('port'));
  assert.ok(port > 1023, `on a loopback port the app listens on (${port})`);
  const landed = new URL(done.url);
  assert.equal(landed.origin, `http://127.0.0.1:${port}`, 'the provider\'s answer came back to the app\'s port');
  assert.equal(landed.pathname, '/callback');
  assert.equal(landed.searchParams.get('state'), login.searchParams.get('state'), 'with the app\'s own state');
  assert.equal(done.heading, 'Signed in to Ashley', 'the browser was told the sign-in worked');
  assert.equal(events.filter((event) => event.event === 'opened').length, 1, 'the browser was opened once');
  console.log(
    `desktop browser, ms after Sign in was pressed: ${events
      .map((event) => `${event.what ?? event.event} +${Date.parse(event.at) - started}`)
      .join(', ')}`,
  );

  // The conversation the guest had stays in the window, and the panel is now a user's.
  assert.ok(showsMessage(nodes, GUEST_MESSAGE), 'the guest\'s message is still shown');
  assert.ok(showsMessage(nodes, REPLY), 'and so is its reply');
  assert.ok(!labelMatching(nodes, GUEST_LABEL), 'the guest line is gone');
  assert.ok(!buttonNamed(nodes, SIGN_IN), 'Sign in is no longer offered');
  const { nodes: later } = await waitForWindow('an enabled Sign out button', (tree) =>
    buttonNamed(tree, 'Sign out')?.states.includes('enabled'),
  );
  assert.ok(showsMessage(later, GUEST_MESSAGE), 'the guest\'s message is still shown once the browser is done');
  assert.ok(labelMatching(later, SIGNED_IN_LABEL), 'and the window still reads as signed in');
  assert.ok(!app.output.includes(FAKE_KEY), 'the key is not in the app log');
  assert.ok(!proxy.output.includes(FAKE_KEY), 'the key is not in the proxy log');
});

test('Sign out makes the window a guest again', { timeout: 60000 }, async () => {
  const signOut = buttonNamed(await bridge.tree(), 'Sign out');
  assert.ok(signOut, 'Sign out is offered');
  await bridge.act(signOut, 'click');
  const { nodes } = await waitForWindow('the Account panel of a guest again, with Sign in offered', guestPanel, {
    timeoutMs: 30000,
  });
  await xvfb.screenshot('sign-in-03-signed-out.png');
  assert.ok(!buttonNamed(nodes, 'Sign out'), 'Sign out is no longer offered');
  assert.ok(!showsMessage(nodes, GUEST_MESSAGE), 'the account\'s conversation is no longer shown');
});
