// What the native-window tests (window.test.mjs, window_sign_in.test.mjs) share: Xvfb, the app
// started under it with accessibility, the X tools, and finding things in the app's
// accessibility tree the way a screen reader names them. Run through window.sh (a private D-Bus
// session around the tests, private XDG_RUNTIME_DIR and XDG_CONFIG_HOME).
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startBridge, waitForTree } from './atspi.mjs';
import { startProcess, waitFor } from './servers.mjs';

export const run = promisify(execFile);

/**
 * Xvfb on a display it picks itself (-displayfd prints the number). Returns the display, the
 * environment the app and the X tools run in (`env()`), `screenshot(name)` of the whole screen
 * into `artifacts` (for people: nothing is read off it), and `xdotool(...args)`.
 */
export async function startXvfb({ logDir, artifacts }) {
  const proc = startProcess('Xvfb', 'Xvfb', ['-displayfd', '1', '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], {
    logPath: join(logDir, 'xvfb.log'),
  });
  const number = await waitFor('Xvfb to print its display number', () => {
    if (!proc.isRunning()) throw new Error(`Xvfb exited:\n${proc.tail()}`);
    return proc.output.match(/^(\d+)\s*$/m)?.[1];
  });
  const display = `:${number}`;
  const env = () => {
    const vars = { ...process.env, DISPLAY: display };
    delete vars.WAYLAND_DISPLAY;
    return vars;
  };
  return {
    proc,
    display,
    env,
    async screenshot(name) {
      const path = join(artifacts, name);
      await run('import', ['-window', 'root', path], { env: env() });
      return path;
    },
    xdotool: (...args) => run('xdotool', args, { env: env() }),
  };
}

/**
 * The native app on `xvfb`'s display against the proxy at `serverUrl`, with fresh XDG data and
 * cache directories under `home` (no remembered conversation or credential), and the AT-SPI
 * bridge that reads its tree. Accessibility must be switched on for the bus before this
 * (enableAccessibility): AccessKit registers only on a bus that says it is on.
 */
export function startApp({ bin, xvfb, serverUrl, home, logDir, logName = 'ashley-app.log', env = {} }) {
  for (const dir of ['data', 'cache']) mkdirSync(join(home, dir), { recursive: true });
  const app = startProcess('ashley', bin, ['--server', serverUrl], {
    logPath: join(logDir, logName),
    env: {
      ...xvfb.env(),
      LIBGL_ALWAYS_SOFTWARE: '1',
      XDG_DATA_HOME: join(home, 'data'),
      XDG_CACHE_HOME: join(home, 'cache'),
      RUST_LOG: 'info',
      ...env,
    },
  });
  const bridge = startBridge(app.child.pid);
  return { app, bridge };
}

/** The app's X window: by process id (winit sets _NET_WM_PID), else by its title. */
export async function appWindow(xvfb, app) {
  for (const args of [['--pid', String(app.child.pid)], ['--name', 'Ashley AI']]) {
    try {
      const { stdout } = await xvfb.xdotool('search', ...args);
      const id = stdout.trim().split('\n').at(-1);
      if (id) return id;
    } catch {
      // xdotool exits 1 when it finds nothing: try the next way.
    }
  }
  return null;
}

// --- Finding things in the tree the way a screen reader names them ------------------------------
export const COMPOSER_HINT = /^Type your message/;
// The composer: the entry whose hint (AT-SPI's placeholder-text, present while it is empty) asks
// for a message; once it holds text, the window's only multi-line entry.
export const composerOf = (nodes) => {
  const entries = nodes.filter((node) => node.role === 'entry');
  const hinted = entries.find((node) => COMPOSER_HINT.test(node.attributes['placeholder-text'] ?? ''));
  const multiLine = entries.filter((node) => node.states.includes('multi-line'));
  return hinted ?? (multiLine.length === 1 ? multiLine[0] : undefined);
};
export const hintOf = (node) => node.attributes['placeholder-text'] ?? '';
/** A button by its name, a leading icon (emoji, arrows) left out. */
export const buttonNamed = (nodes, name) =>
  nodes.find((node) => node.role.includes('button') && node.name.replace(/^\W+/u, '') === name);
export const textOf = (node) => node.text ?? node.name;
export const labelMatching = (nodes, pattern) => nodes.find((node) => node.role === 'label' && pattern.test(node.name));
/** The persona picker's choices: the radio buttons of the "Persona" radio group. */
export const personasOf = (nodes) => nodes.filter((node) => node.role === 'radio button');
/** Whether a persona reads as the chosen one (AccessKit's toggled state: AT-SPI's checked). */
export const isChosen = (node) => ['checked', 'pressed', 'selected'].some((state) => node.states.includes(state));
/** Whether `message` is shown in the conversation (not merely typed in the composer). */
export const showsMessage = (nodes, message) => nodes.some((node) => node.role !== 'entry' && textOf(node) === message);

/**
 * Presses Send through the accessibility tree, then follows the reply to `message` as it streams
 * in (the first reply-like text after the sent message in the conversation) until it reads
 * `reply`: returns the distinct texts the reply showed on the way and whether the Stop button was
 * offered meanwhile.
 */
export async function sendAndFollowReply(bridge, message, reply) {
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
      const shown = nodes
        .slice(sent + 1)
        .map((node) => textOf(node)?.trim())
        .find((text) => text && reply.startsWith(text));
      if (shown && seen.at(-1) !== shown) seen.push(shown);
      return seen.at(-1) === reply && !buttonNamed(nodes, 'Stop');
    },
    { timeoutMs: 30000, intervalMs: 50 },
  );
  return { seen, stopOffered };
}
