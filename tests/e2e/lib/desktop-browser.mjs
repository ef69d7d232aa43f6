#!/usr/bin/env node
// The "system browser" of the native app in window_sign_in.test.mjs. The app opens its sign-in
// page with eframe's `ctx.open_url`, which runs the `webbrowser` crate; on Linux that runs
// $BROWSER first: the test sets BROWSER="<node> <this file>" (no %s, so the crate appends the URL
// as the last argument; it splits $BROWSER on ':' and whitespace, without quoting) and the crate
// spawns it in the background with stdin, stdout and stderr on /dev/null.
//
// This opens the URL in headless Chromium (lib/browser.mjs), logs in on the provider's pages as
// a person would (lib/oidc.mjs, as the web sign-in test does) and follows the redirects to the
// app's loopback page http://127.0.0.1:PORT/callback. What happened goes, one JSON object per
// line, to the report file the test reads (ASHLEY_E2E_DESKTOP_BROWSER_REPORT): "opened", a
// "step" now and then, "done" (with the loopback page's heading) or "failed" (with the error and
// the page it was on), and "closed" once Chromium is shut down.
// Its pid and Chromium's go to the run's pid file (inherited through the app's environment), so
// the shell wrapper's trap ends them if the run is stopped.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { keepOnLoopback, launchChromium } from './browser.mjs';
import { completeProviderLogin } from './oidc.mjs';
import { recordPid, requireEnv } from './servers.mjs';

/** The whole visit, the provider's pages included, may take no longer than this. */
const DEADLINE_MS = 60000;

const reportPath = requireEnv('ASHLEY_E2E_DESKTOP_BROWSER_REPORT');
const report = (event, details = {}) =>
  appendFileSync(reportPath, `${JSON.stringify({ at: new Date().toISOString(), event, ...details })}\n`);

recordPid(process.pid);
const url = process.argv.at(-1);
let browser;
let page;
const watchdog = setTimeout(() => {
  report('failed', { error: `gave up after ${DEADLINE_MS} ms`, url: page?.url() });
  const exit = () => process.exit(2);
  (browser ? browser.close() : Promise.resolve()).then(() => {
    report('closed');
    exit();
  }, exit);
}, DEADLINE_MS);

try {
  report('opened', { url, argv: process.argv.slice(2) });
  const issuer = requireEnv('ASHLEY_E2E_DESKTOP_BROWSER_ISSUER');
  const login = requireEnv('ASHLEY_E2E_DESKTOP_BROWSER_LOGIN');
  // The loopback port the app listens on is in the URL it opened (…&port=P&state=S).
  const port = new URL(url).searchParams.get('port');
  if (!port) throw new Error(`the app opened ${url}, which names no loopback port`);
  browser = await launchChromium();
  await keepOnLoopback(browser.context);
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  report('step', { what: 'Chromium started' });
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  report('step', { what: 'the proxy sent it on', url: page.url() });
  await completeProviderLogin(page, { issuer, login });
  report('step', { what: 'logged in on the provider\'s pages' });
  await page.waitForURL(
    (at) => at.origin === `http://127.0.0.1:${port}` && at.pathname === '/callback',
    { timeout: 15000 },
  );
  const heading = (await page.textContent('h1', { timeout: 5000 }))?.trim();
  const artifacts = process.env.ASHLEY_E2E_ARTIFACTS;
  if (artifacts) await page.screenshot({ path: join(artifacts, 'sign-in-browser-callback.png') }).catch(() => {});
  // The one-time code is left out: it is the app's to swap, not the report's to keep.
  const landed = new URL(page.url());
  landed.searchParams.delete('code');
  report('done', { url: landed.toString(), heading });
} catch (error) {
  let body = '';
  try {
    body = (await page?.textContent('body', { timeout: 2000 }))?.trim().slice(0, 500) ?? '';
  } catch {
    // The page may be gone: the error says enough then.
  }
  report('failed', { error: error.stack ?? String(error), url: page?.url(), body });
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  await browser?.close();
  report('closed');
}
