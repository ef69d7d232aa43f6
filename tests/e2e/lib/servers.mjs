// Starts the fake upstream and the real proxy on loopback, records their pids for the shell
// wrapper's cleanup trap, and stops them again.
import { spawn } from 'node:child_process';
import { appendFileSync, createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** The recognizable fake key (set by lib/common.sh): it must never show up in anything the page or a log receives. */
export const FAKE_KEY = process.env.ASHLEY_E2E_FAKE_KEY || 'sk-ashley-e2e-NEVER-LEAK-7f3a9c1e5b';

/** Every process this run started, so `stopAll` and the shell trap can end exactly those. */
const children = new Set();

/** Appends a pid to the file the shell wrapper's trap reads (ASHLEY_E2E_PIDFILE). */
export function recordPid(pid) {
  const pidFile = process.env.ASHLEY_E2E_PIDFILE;
  if (pidFile && pid) appendFileSync(pidFile, `${pid}\n`);
}

export function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this test through its tests/e2e/*.sh script`);
  return value;
}

/** Polls `probe` until it returns a truthy value or the deadline passes. */
export async function waitFor(what, probe, { timeoutMs = 15000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const cause = lastError ? ` (last error: ${lastError.message ?? lastError})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A port that was free a moment ago on 127.0.0.1 (the proxy takes its port from PORT). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `bin`, tees its output to `logPath`, and keeps the last output in memory so a
 * failure can show it. Resolves once it is spawned; `exited` settles when it ends.
 */
export function startProcess(name, bin, args, { env = {}, logPath, cwd } = {}) {
  const child = spawn(bin, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  recordPid(child.pid);
  const log = logPath ? createWriteStream(logPath) : null;
  const handle = {
    name,
    child,
    output: '',
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        children.delete(child);
        resolve({ code, signal });
      });
    }),
    isRunning: () => child.exitCode === null && child.signalCode === null,
    tail: (chars = 3000) => handle.output.slice(-chars),
  };
  const collect = (chunk) => {
    handle.output += chunk.toString();
    if (handle.output.length > 200000) handle.output = handle.output.slice(-100000);
    log?.write(chunk);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  child.once('error', (err) => collect(`\n[${name}] failed to start: ${err.message}\n`));
  return handle;
}

/** Starts the fake OpenAI upstream and waits for its "listening on http://..." line. */
export async function startFakeUpstream({ bin, logDir, args = [] }) {
  mkdirSync(logDir, { recursive: true });
  const proc = startProcess('fake-upstream', bin, args, { logPath: join(logDir, 'fake-upstream.log') });
  const match = await waitFor(
    'the fake upstream to print "listening on http://127.0.0.1:PORT"',
    () => {
      if (!proc.isRunning()) throw new Error(`it exited:\n${proc.tail()}`);
      return proc.output.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    },
    { timeoutMs: 20000 },
  );
  return { ...proc, url: match[1] };
}

/**
 * Starts the real ashley-proxy on a free loopback port and waits until /healthz answers.
 * `upstreamUrl` (the fake's root URL) becomes OPENAI_BASE_URL with `/v1`; leave it out to
 * run the proxy in its offline demo mode.
 */
export async function startProxy({ bin, webDir, dataDir, logDir, upstreamUrl, extraEnv = {}, port: fixedPort }) {
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  let lastFailure = '';
  // The chosen port can be taken between probing and binding; try a few before giving up.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    // A fixed port (a sign-in's redirect URI names it) gets one attempt.
    const port = fixedPort ?? (await freePort());
    const env = {
      PORT: String(port),
      ASHLEY_HOST: '127.0.0.1',
      ASHLEY_WEB_DIR: webDir,
      ASHLEY_DATA_DIR: dataDir,
      RUST_LOG: process.env.RUST_LOG ?? 'info',
      ASHLEY_V1: 'open',
      ASHLEY_GUEST_DAILY_MESSAGES: '0',
      ASHLEY_GUEST_DAILY_TOKENS: '0',
      ...extraEnv,
    };
    if (upstreamUrl) {
      env.OPENAI_API_KEY = FAKE_KEY;
      env.OPENAI_BASE_URL = `${upstreamUrl}/v1`;
    } else {
      env.OPENAI_API_KEY = '';
    }
    const proc = startProcess('ashley-proxy', bin, [], {
      env,
      logPath: join(logDir, `ashley-proxy${attempt ? `-${attempt}` : ''}.log`),
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(
        `ashley-proxy to answer ${url}/healthz`,
        async () => {
          if (!proc.isRunning()) throw new Error(`it exited:\n${proc.tail()}`);
          const response = await fetch(`${url}/healthz`);
          return response.ok;
        },
        { timeoutMs: 20000 },
      );
      return { ...proc, url, port };
    } catch (err) {
      lastFailure = err.message;
      await stopProcess(proc);
      if (fixedPort || !/address|in use|cannot listen/i.test(proc.output)) break;
    }
  }
  throw new Error(`ashley-proxy did not start: ${lastFailure}`);
}

/** SIGTERM, then SIGKILL if it has not ended within `graceMs`. */
export async function stopProcess(proc, graceMs = 3000) {
  if (!proc || !proc.isRunning()) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

export async function stopAll() {
  await Promise.all(
    [...children].map((child) =>
      stopProcess({
        child,
        isRunning: () => child.exitCode === null && child.signalCode === null,
        exited: new Promise((resolve) => child.once('exit', resolve)),
      }),
    ),
  );
}

process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Whether `needle` occurs in a file that exists; missing files count as not containing it. */
export function fileContains(path, needle) {
  try {
    return readFileSync(path, 'latin1').includes(needle);
  } catch {
    return false;
  }
}

/**
 * The chat requests a fake upstream received, oldest first: the replies people asked for. The
 * proxy's own short calls that name a new conversation (their system prompt starts "You name
 * conversations") are left out.
 */
export async function upstreamChatRequests(upstreamUrl) {
  const response = await fetch(`${upstreamUrl}/control/requests`);
  if (response.status !== 200) throw new Error(`the fake upstream answered /control/requests with ${response.status}`);
  const all = await response.json();
  return all.filter((request) => request.path === '/v1/chat/completions' && !namesAConversation(request));
}

function namesAConversation(request) {
  const [first] = request.body?.messages ?? [];
  return first?.role === 'system' && String(first.content).startsWith('You name conversations');
}
