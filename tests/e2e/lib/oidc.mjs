// A real OpenID Connect provider for the sign-in tests (panva's certified `oidc-provider`, with
// its development login and consent pages), the ashley-proxy configured for it, and the steps a
// person takes through the provider's pages. Shared by sign_in.test.mjs (the web app in Chromium)
// and window_sign_in.test.mjs (the native window, whose "system browser" is
// lib/desktop-browser.mjs).
import { freePort, startProxy } from './servers.mjs';

export const CLIENT_ID = 'ashley-e2e';
export const CLIENT_SECRET = 'ashley-e2e-client-secret';
/** What the proxy calls the provider: the app's button reads "Sign in with Test Provider". */
export const PROVIDER_NAME = 'Test Provider';

/** The name the provider gives the person who logs in as `login` (its `name` claim). */
export const personName = (login) => `Person ${login}`;

/**
 * Starts the provider on `localhost` and the real proxy on 127.0.0.1 configured for it (their
 * cookies stay apart). `proxyOptions` are startProxy's (bin, webDir, dataDir, logDir,
 * upstreamUrl). Resolves to `{ proxy, issuer, close }`; `close()` stops the provider (stopAll
 * stops the proxy).
 */
export async function startProviderAndProxy(proxyOptions) {
  const proxyPort = await freePort();
  const oidcPort = await freePort();
  const issuer = `http://localhost:${oidcPort}`;
  // Loaded here, not at the top: lib/desktop-browser.mjs needs only the page steps below.
  const { default: Provider } = await import('oidc-provider');
  const oidc = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [`http://127.0.0.1:${proxyPort}/auth/callback`],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return { sub: id, name: personName(id), email: `${id}@example.com`, email_verified: true };
        },
      };
    },
    cookies: { keys: ['ashley-e2e-cookie-key'] },
  });
  const server = oidc.listen(oidcPort);
  await new Promise((resolve, reject) => {
    if (server.listening) resolve();
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const proxy = await startProxy({
    ...proxyOptions,
    port: proxyPort,
    extraEnv: {
      OPENID_PROVIDER_URL: issuer,
      OAUTH_CLIENT_ID: CLIENT_ID,
      OAUTH_CLIENT_SECRET: CLIENT_SECRET,
      OAUTH_SCOPES: 'openid profile email',
      ASHLEY_SIGN_IN_NAME: PROVIDER_NAME,
      ASHLEY_PUBLIC_URL: `http://127.0.0.1:${proxyPort}`,
      ...proxyOptions.extraEnv,
    },
  });
  const close = () => {
    server.closeAllConnections?.();
    server.close();
  };
  return { proxy, issuer, close };
}

/**
 * On a page the proxy just sent to the provider: waits for the provider's login page, logs in as
 * `login` (the development pages take any password) and gives consent when the provider asks for
 * it (a browser session with no grant for Ashley yet). Returns once the consent (or login) form
 * was submitted: where the browser goes next is the caller's to wait for.
 */
export async function completeProviderLogin(page, { issuer, login, timeoutMs = 15000 }) {
  await page.waitForURL((url) => url.origin === new URL(issuer).origin, { timeout: timeoutMs });
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any password');
  await Promise.all([page.waitForNavigation({ timeout: timeoutMs }), page.click('button[type=submit]')]);
  // The consent step, when this browser's session has no grant for Ashley yet.
  const consent = await page.$('input[name=prompt][value=consent]');
  if (consent) {
    await Promise.all([page.waitForNavigation({ timeout: timeoutMs }), page.click('button[type=submit]')]);
  }
}
