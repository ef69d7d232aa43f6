// Reads and drives the native window through its accessibility tree (AT-SPI 2), the way a screen
// reader does, via lib/atspi_bridge.py running under the system python3 on the test's session bus.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { recordPid, waitFor } from './servers.mjs';

const BRIDGE = fileURLToPath(new URL('./atspi_bridge.py', import.meta.url));
// Debian's python3 has gi and the Atspi typelib; a pyenv or venv python on PATH has neither.
const SYSTEM_PYTHON = '/usr/bin/python3';

/**
 * Switches accessibility on for the session bus in DBUS_SESSION_BUS_ADDRESS. AccessKit (egui's
 * screen-reader support) registers an app on the AT-SPI bus only once this says so, so it must
 * run before the app starts. It also starts the AT-SPI bus launcher (D-Bus activation).
 */
export async function enableAccessibility(run) {
  await run('dbus-send', [
    '--session',
    '--print-reply',
    '--dest=org.a11y.Bus',
    '/org/a11y/bus',
    'org.freedesktop.DBus.Properties.Set',
    'string:org.a11y.Status',
    'string:IsEnabled',
    'variant:boolean:true',
  ]);
}

/** A running bridge: `tree()`, `act(node, action)`, `setText(node, text)` on the app with `pid`. */
export function startBridge(pid, { env = process.env } = {}) {
  const child = spawn(SYSTEM_PYTHON, [BRIDGE], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  recordPid(child.pid);
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const pending = [];
  createInterface({ input: child.stdout }).on('line', (line) => pending.shift()?.resolve(line));
  child.once('exit', (code) => {
    for (const waiter of pending.splice(0)) {
      waiter.reject(new Error(`the AT-SPI bridge exited (${code}): ${stderr}`));
    }
  });
  // One request at a time, answered in order.
  let queue = Promise.resolve();
  const request = (body) => {
    const reply = queue.then(
      () =>
        new Promise((resolve, reject) => {
          pending.push({ resolve, reject });
          child.stdin.write(`${JSON.stringify({ pid, ...body })}\n`);
        }),
    );
    queue = reply.catch(() => {});
    return reply.then((line) => {
      const answer = JSON.parse(line);
      if (!answer.ok) throw new Error(`AT-SPI ${body.op}: ${answer.error}`);
      return answer;
    });
  };
  const expectOf = (node) => ({ role: node.role, name: node.name });
  return {
    /** Every node of the app's tree (depth first), [] until the app has registered. */
    tree: async () => (await request({ op: 'tree' })).nodes,
    /** Performs a named action (buttons: "click") on a node from `tree()`. */
    act: (node, action) => request({ op: 'action', path: node.path, expect: expectOf(node), action }),
    /** Replaces an editable text's contents. */
    setText: (node, text) => request({ op: 'set_text', path: node.path, expect: expectOf(node), text }),
    close: () => {
      child.stdin.end();
      return new Promise((resolve) => {
        if (child.exitCode !== null) resolve();
        else child.once('exit', resolve);
      });
    },
  };
}

/**
 * Polls the tree until `pick(nodes)` returns something truthy, within a bounded deadline; the
 * error then lists what the tree held, so a failure shows what a screen reader would have read.
 */
export async function waitForTree(bridge, what, pick, { timeoutMs = 15000, intervalMs = 100 } = {}) {
  let last = [];
  try {
    return await waitFor(
      what,
      async () => {
        last = await bridge.tree();
        return pick(last);
      },
      { timeoutMs, intervalMs },
    );
  } catch (error) {
    error.message += `\nthe accessibility tree held:\n${describeTree(last)}`;
    throw error;
  }
}

/** One line per node: indentation by depth, role, name, text and states. */
export function describeTree(nodes) {
  if (nodes.length === 0) return '  (nothing: the application has not registered on the accessibility bus)';
  return nodes
    .slice(0, 300)
    .map((node) => {
      const text = node.text && node.text !== node.name ? ` text=${JSON.stringify(node.text.slice(0, 80))}` : '';
      const hint = node.attributes['placeholder-text'] ? ` placeholder=${JSON.stringify(node.attributes['placeholder-text'])}` : '';
      return `${'  '.repeat(node.path.length)}${node.role} ${JSON.stringify(node.name)}${text}${hint} [${node.states.join(',')}]`;
    })
    .join('\n');
}
