// Sign-in in headless Chromium against a real OpenID Connect provider (panva's certified
// `oidc-provider`, its development login and consent pages) and the real ashley-proxy: a guest
// chats, signs in through the provider's pages and finds the conversation in the account; a
// second browser profile signs in as the same person and sees it; signing out makes the page a
// guest again; a callback with a forged state is refused with a page that says so. The app is
// read through its wasm test handle. Run through browser.sh, with browser.test.mjs.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  clickWidget,
  gotoApp,
  keepOnLoopback,
  launchChromium,
  readTestState,
  typeIntoComposer,
  waitForWasmStarted,
  watchConsole,
} from './lib/browser.mjs';
import { completeProviderLogin, personName, startProviderAndProxy } from './lib/oidc.mjs';
import { requireEnv, startFakeUpstream, stopAll, waitFor } from './lib/servers.mjs';

const GUEST_MESSAGE = 'a plan worth keeping';
const REPLY = 'Kept safely in your account.';

const runDir = requireEnv('ASHLEY_E2E_RUN_DIR');
const webDir = requireEnv('ASHLEY_WEB_DIR');
const logDir = join(runDir, 'logs-sign-in');

let upstream;
let proxy;
let issuer;
let closeProvider;
const browsers = [];

before(async () => {
  upstream = await startFakeUpstream({
    bin: requireEnv('ASHLEY_FAKE_UPSTREAM_BIN'),
    logDir,
    args: ['--reply', REPLY],
  });
  // The provider on `localhost`, the proxy on 127.0.0.1: their cookies stay apart.
  ({ proxy, issuer, close: closeProvider } = await startProviderAndProxy({
    bin: requireEnv('ASHLEY_PROXY_BIN'),
    webDir,
    dataDir: join(runDir, 'data-sign-in'),
    logDir,
    upstreamUrl: upstream.url,
  }));
});

after(async () => {
  for (const browser of browsers) await browser.close();
  closeProvider?.();
  await stopAll();
});

async function openApp() {
  const browser = await launchChromium();
  browsers.push(browser);
  await keepOnLoopback(browser.context);
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  const consoleLog = watchConsole(page);
  await gotoApp(page, proxy.url);
  return { page, consoleLog };
}

function chatOf(state) {
  return state.messages.filter((m) => m.role === 'user' || m.role === 'assistant').map((m) => m.content.trim());
}

async function identityOf(page, identity) {
  return waitFor(
    `the app to know it is ${identity}`,
    async () => {
      const state = await readTestState(page).catch(() => null);
      return state?.identity === identity ? state : null;
    },
    { timeoutMs: 20000 },
  );
}

/** From the app's Sign in button through the provider's login and consent pages, and back. */
async function signInAs(page, login) {
  await clickWidget(page, 'sign_in');
  await completeProviderLogin(page, { issuer, login });
  await page.waitForURL((url) => url.origin === proxy.url, { timeout: 15000 });
  await waitForWasmStarted(page);
}

test('a guest signs in with the provider and finds the conversation in the account', { timeout: 90000 }, async () => {
  const { page, consoleLog } = await openApp();
  await typeIntoComposer(page, GUEST_MESSAGE);
  await page.keyboard.press('Enter');
  await waitFor(
    'the reply',
    async () => {
      const state = await readTestState(page);
      return !state.sending && chatOf(state).includes(REPLY) ? state : null;
    },
    { timeoutMs: 30000 },
  );
  await identityOf(page, 'guest');
  assert.deepEqual(consoleLog.problems, [], 'no console errors as a guest');

  await signInAs(page, 'ada');
  // The provider's own pages load what they like (web fonts it cannot reach here); from the
  // app's page, after the return, nothing may fail.
  const sinceReturn = consoleLog.problems.length;
  const signedIn = await identityOf(page, 'user');
  assert.equal(signedIn.account_name, personName('ada'));
  const restored = await waitFor('the guest conversation, now the account\'s', async () => {
    const state = await readTestState(page);
    return chatOf(state).includes(GUEST_MESSAGE) ? state : null;
  });
  assert.deepEqual(chatOf(restored), [GUEST_MESSAGE, REPLY]);
  assert.deepEqual(consoleLog.problems.slice(sinceReturn), [], 'no console errors back in the app');
});

test('a second browser profile signed in as the same person sees the same conversation', { timeout: 90000 }, async () => {
  const { page } = await openApp();
  await signInAs(page, 'ada');
  await identityOf(page, 'user');
  const seen = await waitFor('the account\'s conversation on the second profile', async () => {
    const state = await readTestState(page);
    return chatOf(state).includes(GUEST_MESSAGE) ? state : null;
  });
  assert.deepEqual(chatOf(seen), [GUEST_MESSAGE, REPLY]);

  await clickWidget(page, 'sign_out');
  const guest = await identityOf(page, 'guest');
  assert.deepEqual(chatOf(guest), [], 'signed out: the account\'s conversation is no longer shown');
  const again = await (await fetch(`${proxy.url}/api/me`)).json();
  assert.equal(again.identity, 'anonymous', 'a request without the cookie is nobody');
});

test('a callback with a state this browser never started is refused with a clear page', { timeout: 30000 }, async () => {
  const { page } = await openApp();
  const answer = await page.goto(`${proxy.url}/auth/callback?code=stolen&state=forged-state`);
  assert.equal(answer.status(), 400);
  assert.equal(await page.textContent('h1'), 'This sign-in has expired');
  assert.match(await page.textContent('main'), /Start again from Ashley/);
  // The page allows no scripts or requests (its CSP): ask with the browser's cookies instead.
  const cookies = await page.context().cookies(proxy.url);
  const cookie = cookies.map(({ name, value }) => `${name}=${value}`).join('; ');
  const me = await (await fetch(`${proxy.url}/api/me`, { headers: { cookie } })).json();
  assert.notEqual(me.identity, 'user', 'nobody was signed in');
  assert.ok(!cookies.some(({ name }) => name === 'ashley_sign_in'), 'the failed attempt left no sign-in cookie');
});
