// tests/node/server.mjs: helpers for the integration tests in tests/integration/mcp_*.test.mjs.
//
//   startServer({...})     a real wasimancer on 127.0.0.1 with a free port, in a temporary folder
//                          holding plugins/, resources/ and prompts/ (stopped with server.stop())
//   listeningServer(...)   the same process on folders of the caller's (admin_helpers.mjs)
//   spawnServer(...)       any wasimancer command in a process group of its own, ended with all
//                          it started (stdio servers, SIGTERM tests)
//   cleanEnv(...)          the runner's environment without what would change the server
//   adminApi(server)       the admin REST API (upload/update/remove plugins, resources, prompts)
//   connectStreamable(...) an SDK Client over Streamable HTTP (resolves once the GET stream is open)
//   connectSse(...)        an SDK Client over the legacy HTTP+SSE transport
//   rawPost(...)           a raw POST to /mcp, with the SSE or JSON body decoded
//   rawSession(...)        initialize + initialized by hand; the headers of the new session
//   httpRequest(...)       node:http, for what fetch will not send (Host, Expect: 100-continue)
//   Notifications          collects a Client's notifications and awaits them without sleeping
//   tapMessages(...)       every message a transport receives, in arrival order
//   guard()                before/it under which a failed setup fails every test (not "cancelled")
//
// The SDK itself is re-exported by ./sdk.mjs, and the shared YAML fixtures live in ./fixtures.mjs.
// Nothing here talks to anything but 127.0.0.1.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import * as nodeTest from 'node:test';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..', '..');
export const buildDir = path.resolve(process.env.WASIMANCER_BUILD || path.join(root, 'build'));
export const binary = path.join(buildDir, 'wasimancer');
export const testPluginsDir = path.join(buildDir, 'plugins');
export const sharedPluginsDir = path.resolve(process.env.WASIMANCER_SHARED_PLUGINS || path.join(root, '..', 'shared', 'plugins'));

// Our test plugins (tests/plugins) and the third-party ones (../shared/plugins).
export const testPlugin = (name) => path.join(testPluginsDir, name.endsWith('.wasm') ? name : `${name}.wasm`);
export const sharedPlugin = (rel) => path.join(sharedPluginsDir, rel);
export const wasimancerPlugin = (file) => sharedPlugin(path.join('sea-monkeys-WASImancer', file));

export const AUTH_TOKEN = 'test-mcp-token-4f1c9a';
export const ADMIN_TOKEN = 'test-admin-token-77b2e0';

// The runner's environment must not change what the tests expect of the server: its settings
// (serve_command.cpp), the other WASIMANCER_* variables and WASM_* (plugin config) are dropped.
// The native tier's (WASIMANCER_NATIVE*, WASIMANCER_TIER) pass through, so the suites run on the
// tier the runner chose; unset, they default to scripts/run-tests.sh's (quick -O0 builds, cached
// in the build folder). `extra` is applied last; an undefined or null value removes a variable.
const SERVER_ENV = /^(WASM_|WASIMANCER_(?!NATIVE|TIER))|^(HTTP_PORT|PORT|DEBUG|PLUGINS_PATH|PLUGINS_DEFINITION_FILE|UPLOAD_PATH|RESOURCES_PATH|RESOURCES_DEFINITION_FILE|PROMPTS_PATH|PROMPTS_DEFINITION_FILE)$/;

export function cleanEnv(extra = {}) {
  const env = {
    WASIMANCER_NATIVE: 'quick',
    WASIMANCER_NATIVE_OPT: '-O0',
    WASIMANCER_NATIVE_CACHE: path.join(buildDir, 'native-cache'),
  };
  for (const [k, v] of Object.entries(process.env)) if (!SERVER_ENV.test(k)) env[k] = v;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined || v === null) delete env[k];
    else env[k] = String(v);
  }
  return env;
}

// A YAML document from a JSON-able value (YAML 1.2 is a superset of JSON), or a string as is.
const yamlText = (v) => (typeof v === 'string' ? v : `${JSON.stringify(v, null, 2)}\n`);

/**
 * Creates a temporary folder with the server's files:
 *   plugins/   the copied wasm files ({src, as?} or a path) and plugins.yml
 *   resources/resources.yml, prompts/prompts.yml
 * Returns the paths and the environment that points a server at them.
 */
export function makeWorkDir({ wasm = [], plugins = { plugins: [] }, resources = { resources: { static: [], dynamic: [] } },
  prompts = { prompts: { predefined: [] } } } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasimancer-it-'));
  const pluginsDir = path.join(dir, 'plugins');
  const resourcesDir = path.join(dir, 'resources');
  const promptsDir = path.join(dir, 'prompts');
  try {
    for (const d of [pluginsDir, resourcesDir, promptsDir]) fs.mkdirSync(d, { recursive: true });
    for (const w of wasm) {
      const src = typeof w === 'string' ? w : w.src;
      const dest = path.join(pluginsDir, typeof w === 'string' ? path.basename(w) : (w.as ?? path.basename(w.src)));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(src, dest);
    }
    if (plugins !== null) fs.writeFileSync(path.join(pluginsDir, 'plugins.yml'), yamlText(plugins));
    if (resources !== null) fs.writeFileSync(path.join(resourcesDir, 'resources.yml'), yamlText(resources));
    if (prompts !== null) fs.writeFileSync(path.join(promptsDir, 'prompts.yml'), yamlText(prompts));
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  workDirs.add(dir);
  return {
    dir, pluginsDir, resourcesDir, promptsDir,
    env: { PLUGINS_PATH: pluginsDir, UPLOAD_PATH: pluginsDir, RESOURCES_PATH: resourcesDir, PROMPTS_PATH: promptsDir },
    remove: () => {
      fs.rmSync(dir, { recursive: true, force: true });
      workDirs.delete(dir);
    },
  };
}

// Every server runs in its own process group (spawned detached). Servers still alive when the
// test process exits (a crash, a missed stop(), an interrupt) are killed with all they started.
const groups = new Set();
export function killGroup(pid, signal = 'SIGKILL') {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone
  }
}
export function trackGroup(pid) {
  groups.add(pid);
  return () => groups.delete(pid);
}
const workDirs = new Set();  // makeWorkDir's folders not yet removed
const killAll = () => {
  for (const pid of groups) killTree(pid);
  groups.clear();
  for (const dir of workDirs) fs.rmSync(dir, { recursive: true, force: true });
  workDirs.clear();
};
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal);
  });
}

// ---- process trees ------------------------------------------------------------------------------
// The server starts helper processes (the C compiler of its native tier) in process groups of
// their own, so killing the server's group does not reach them. These helpers find a server's
// descendants through /proc and end them with it. Only descendants of servers the tests started
// are ever signalled.

function procStat(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(f[1]), pgrp: Number(f[2]), start: f[19] };
  } catch {
    return null;
  }
}

// Every live descendant of `pid`: [{pid, ppid, pgrp, start}].
export function descendants(pid) {
  let entries = [];
  try { entries = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)); } catch { return []; }
  const children = new Map();
  for (const n of entries) {
    const st = procStat(Number(n));
    if (!st) continue;
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(st);
  }
  const out = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of children.get(queue.shift()) ?? []) {
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

// Kills processes recorded by descendants() or processesUnder() that are still the same
// processes (with their groups, when they lead one).
export function killProcesses(list) {
  for (const d of list) {
    const now = procStat(d.pid);
    if (!now || now.start !== d.start) continue;  // gone, or the pid was reused
    if (now.pgrp === d.pid) killGroup(d.pid);
    try { process.kill(d.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

// Processes whose working directory is `dir` or below (e.g. compilers building in a native-tier
// cache that a test created): [{pid, pgrp, start}].
export function processesUnder(dir) {
  const out = [];
  let entries = [];
  try { entries = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)); } catch { return out; }
  for (const n of entries) {
    try {
      const cwd = fs.readlinkSync(`/proc/${n}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) {
        const st = procStat(Number(n));
        if (st) out.push(st);
      }
    } catch { /* gone, or not ours to read */ }
  }
  return out;
}

// Freezes `pid` (so it starts nothing more), then kills it, its group and all its descendants.
export function killTree(pid) {
  try { process.kill(pid, 'SIGSTOP'); } catch { /* gone */ }
  const list = descendants(pid);
  for (const d of list) { try { process.kill(d.pid, 'SIGSTOP'); } catch { /* gone */ } }
  killProcesses(list);
  killGroup(pid);
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/**
 * Ends a server process: `begin()` asks it to go (SIGTERM, or closing stdin), then it has
 * graceMs to exit. Past that, it and its descendants are killed (killTree). Descendants that
 * outlive a server which did exit (orphans) are killed too. Resolves with
 * { code, signal, ms, killed?, orphans }.
 */
export async function endProcess(proc, exited, begin, graceMs) {
  const started = Date.now();
  const before = proc.pid ? descendants(proc.pid) : [];
  begin();
  let timer;
  let result = await Promise.race([exited, new Promise((resolve) => { timer = setTimeout(() => resolve(null), graceMs); })]);
  clearTimeout(timer);
  const ms = Date.now() - started;
  if (!result) {
    killTree(proc.pid);
    result = { ...(await exited), killed: true };
  }
  const orphans = before.filter((d) => { const now = procStat(d.pid); return now && now.start === d.start; }).length;
  killProcesses(before);
  if (proc.pid) killGroup(proc.pid);
  return { ...result, ms, orphans };
}

/**
 * Spawns `args` of the wasimancer binary in a new process group. stop() sends SIGTERM and wait()
 * waits for an exit of the server's own accord (e.g. after stdin EOF); both end everything after
 * graceMs (endProcess).
 */
export function spawnServer(args, { env, cwd, stdio = ['ignore', 'pipe', 'pipe'] } = {}) {
  const proc = spawn(binary, args, { cwd, env, stdio, detached: true });
  const untrack = proc.pid ? trackGroup(proc.pid) : () => {};
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    proc.once('error', (error) => resolve({ code: null, signal: null, error }));
  });
  const alive = () => proc.pid && proc.exitCode === null && proc.signalCode === null;
  const end = async (begin, graceMs) => {
    const r = await endProcess(proc, exited, () => { if (alive()) begin(); }, graceMs);
    untrack();
    return r;
  };
  return {
    proc,
    exited,
    stop: (graceMs = 5000) => end(() => proc.kill('SIGTERM'), graceMs),
    wait: (graceMs = 5000) => end(() => {}, graceMs),
    // At once: freeze, then kill the server and everything it started (killTree).
    kill: async () => {
      if (alive()) killTree(proc.pid);
      const r = await exited;
      if (proc.pid) killGroup(proc.pid);
      untrack();
      return r;
    },
  };
}

/**
 * Spawns `wasimancer serve --bind 127.0.0.1 --port 0 ...args` (spawnServer) and resolves once it
 * reports "listening on http://127.0.0.1:PORT" on stderr, with spawnServer's handle plus port,
 * stderr() and stdout() (all output so far). If the server exits first or takes more than 20 s,
 * it is killed and the promise rejects with its stderr.
 */
export async function listeningServer(args = [], { env, cwd } = {}) {
  const child = spawnServer(['serve', '--bind', '127.0.0.1', '--port', '0', ...args], { cwd, env });
  const { proc } = child;
  let stderr = '';
  let stdout = '';
  proc.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  proc.stderr.setEncoding('utf8');
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('the server did not report its port within 20 s')), 20000);
    const onData = (d) => {
      stderr += d;
      const m = /listening on http:\/\/[^\s:]+:(\d+)/.exec(stderr);
      if (m) {
        cleanup();
        resolve(Number(m[1]));
      }
    };
    const onExit = (code, signal) => fail(new Error(`the server exited (code ${code}, signal ${signal}) before listening`));
    const onError = (e) => fail(e);
    function cleanup() {
      clearTimeout(timer);
      proc.stderr.off('data', onData);
      proc.off('exit', onExit);
      proc.off('error', onError);
    }
    function fail(e) {
      cleanup();
      e.message += `\n--- server stderr ---\n${stderr}`;
      child.kill().finally(() => reject(e));
    }
    proc.stderr.on('data', onData);
    proc.on('exit', onExit);
    proc.on('error', onError);
  });
  proc.stderr.on('data', (d) => { stderr += d; });
  return { ...child, port, stderr: () => stderr, stdout: () => stdout };
}

/**
 * Starts `wasimancer serve --bind 127.0.0.1 --port 0` (listeningServer) on a new work folder (see
 * makeWorkDir), removed when the server is stopped or fails to start.
 * Options: the makeWorkDir ones, env (extra variables; null removes one), args (extra flags),
 * authToken (default AUTH_TOKEN; 'NO_AUTHENTICATION' disables auth), adminToken.
 */
export async function startServer(options = {}) {
  const work = makeWorkDir(options);
  const authToken = options.authToken ?? AUTH_TOKEN;
  const adminToken = options.adminToken ?? ADMIN_TOKEN;
  const env = cleanEnv({
    ...work.env,
    WASIMANCER_AUTHENTICATION_TOKEN: authToken,
    WASIMANCER_ADMIN_TOKEN: adminToken,
    ...(options.env ?? {}),
  });
  let child;
  try {
    child = await listeningServer(options.args ?? [], { cwd: work.dir, env });
  } catch (e) {
    work.remove();
    throw e;
  }
  const { proc, port } = child;
  const base = `http://127.0.0.1:${port}`;
  let stopped;
  return {
    ...work,
    proc, port, base,
    mcpUrl: new URL(`${base}/mcp`),
    sseUrl: new URL(`${base}/sse`),
    authToken, adminToken,
    authHeaders: authToken === 'NO_AUTHENTICATION' ? {} : { Authorization: `Bearer ${authToken}` },
    get stderr() { return child.stderr(); },
    get stdout() { return child.stdout(); },
    // Teardown: the server and everything it started are killed at once (killTree), so that
    // nothing is left behind whatever state it is in; removes the work folder. Safe to call
    // twice. (How the server itself handles SIGTERM is tested on its own, with spawnServer.)
    async stop() {
      if (stopped) return stopped;
      stopped = child.kill().finally(() => work.remove());
      return stopped;
    },
    // SIGTERM, as `docker stop` or a service manager ends it; resolves with
    // { code, signal, ms, killed?, orphans } after at most graceMs (then everything is killed).
    async terminate(graceMs = 5000) {
      if (stopped) return stopped;
      stopped = child.stop(graceMs).finally(() => work.remove());
      return stopped;
    },
  };
}

// ---- the admin API --------------------------------------------------------------------------------

async function adminCall(server, method, route, { json, form, token } = {}) {
  const headers = { Authorization: `Bearer ${token ?? server.adminToken}` };
  if (form) {
    // Serialized as fetch would, then sent like curl -F sends it: above 1 MB with
    // "Expect: 100-continue", so that a refusal arrives as an answer, not as a broken pipe.
    const request = new Request(`${server.base}${route}`, { method, body: form });
    const bytes = Buffer.from(await request.arrayBuffer());
    headers['Content-Type'] = request.headers.get('content-type');
    const res = await httpRequest(server, { method, path: route, headers, body: bytes, expectContinue: bytes.length > 1024 * 1024 });
    return { status: res.status, body: res.json, text: res.text, headers: res.headers };
  }
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  const res = await fetch(`${server.base}${route}`, { method, headers, body });
  const text = await res.text();
  let parsed;
  try { parsed = JSON.parse(text); } catch { parsed = undefined; }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

function pluginForm(wasmPath, pluginData, filename) {
  const form = new FormData();
  form.append('wasmFile', new Blob([fs.readFileSync(wasmPath)], { type: 'application/wasm' }), filename ?? path.basename(wasmPath));
  form.append('pluginData', typeof pluginData === 'string' ? pluginData : JSON.stringify(pluginData));
  return form;
}

const enc = encodeURIComponent;
const dirQuery = (dir) => (dir === undefined ? '' : `?dir=${enc(dir)}`);

export function adminApi(server, { token } = {}) {
  return {
    uploadPlugin: (wasmPath, pluginData, { dir, filename } = {}) =>
      adminCall(server, 'POST', `/upload-plugin${dirQuery(dir)}`, { form: pluginForm(wasmPath, pluginData, filename), token }),
    updatePlugin: (wasmPath, pluginData, { dir, filename } = {}) =>
      adminCall(server, 'PUT', `/update-plugin${dirQuery(dir)}`, { form: pluginForm(wasmPath, pluginData, filename), token }),
    removePlugin: (name) => adminCall(server, 'DELETE', `/remove-plugin/${enc(name)}`, { token }),
    addResource: (resource) => adminCall(server, 'POST', '/add-resource', { json: resource, token }),
    updateResource: (name, resource) => adminCall(server, 'PUT', `/update-resource/${enc(name)}`, { json: resource, token }),
    removeResource: (name) => adminCall(server, 'DELETE', `/remove-resource/${enc(name)}`, { token }),
    addPrompt: (prompt) => adminCall(server, 'POST', '/add-prompt', { json: prompt, token }),
    updatePrompt: (name, prompt) => adminCall(server, 'PUT', `/update-prompt/${enc(name)}`, { json: prompt, token }),
    removePrompt: (name) => adminCall(server, 'DELETE', `/remove-prompt/${enc(name)}`, { token }),
  };
}

// ---- SDK clients ------------------------------------------------------------------------------------

export const CLIENT_INFO = { name: 'wasimancer-integration-tests', version: '1.0.0' };

/**
 * Connects an SDK Client over Streamable HTTP. Resolves after initialize and, unless
 * waitForStream is false, after the server answered the GET that opens the standalone SSE stream
 * (the SDK opens it by itself once notifications/initialized is sent), so that server-initiated
 * notifications have somewhere to go.
 * Options: capabilities, headers (default: the bearer token), url, waitForStream, setup(client)
 * (called before connect, e.g. to register request handlers).
 */
export async function connectStreamable(server, { capabilities = {}, headers, url, waitForStream = true, setup } = {}) {
  const client = new Client(CLIENT_INFO, { capabilities });
  const errors = [];
  client.onerror = (e) => errors.push(e);
  let streamOpened;
  const streamOpen = new Promise((resolve) => { streamOpened = resolve; });
  const trackingFetch = async (input, init) => {
    const res = await fetch(input, init);
    if ((init?.method ?? 'GET').toUpperCase() === 'GET') streamOpened(res.status);
    return res;
  };
  const transport = new StreamableHTTPClientTransport(url ?? server.mcpUrl, {
    requestInit: { headers: headers ?? server.authHeaders },
    fetch: trackingFetch,
  });
  if (setup) setup(client);
  await client.connect(transport);
  const messages = tapMessages(transport);
  if (waitForStream) {
    const status = await withTimeout(streamOpen, 10000, 'the SDK did not open the GET stream');
    if (status !== 200) throw new Error(`the GET stream was answered with ${status}`);
  }
  return { client, transport, errors, messages };
}

/** Connects an SDK Client over the legacy HTTP+SSE transport (GET `path`, then POST /messages). */
export async function connectSse(server, { path: ssePath = '/sse', capabilities = {}, headers, setup } = {}) {
  const client = new Client(CLIENT_INFO, { capabilities });
  const errors = [];
  client.onerror = (e) => errors.push(e);
  const transport = new SSEClientTransport(new URL(`${server.base}${ssePath}`), {
    requestInit: { headers: headers ?? server.authHeaders },
  });
  if (setup) setup(client);
  await client.connect(transport);
  return { client, transport, errors, messages: tapMessages(transport) };
}

/**
 * Records every message a connected transport receives, in arrival order, below the SDK's
 * Protocol layer. (The SDK dispatches notifications a microtask later than responses, so a
 * progress notification that arrives in the same chunk as its response reaches onprogress after
 * the handler is gone: typescript-sdk#2580. The raw order is what the server controls.)
 */
export function tapMessages(transport) {
  const messages = [];
  const inner = transport.onmessage;
  transport.onmessage = (message, extra) => {
    messages.push(message);
    inner?.(message, extra);
  };
  return messages;
}

// SDK client errors that are not the server's doing (see tapMessages).
export const isSdkProgressRace = (e) => /progress notification for an unknown token/.test(String(e));

// ---- notifications -----------------------------------------------------------------------------------

/**
 * Collects the notifications of some schemas (e.g. ToolListChangedNotificationSchema) that a
 * Client receives, and lets a test await the next one that matches, with a timeout.
 */
export class Notifications {
  constructor(client, schemas) {
    this.received = [];
    this.waiters = [];
    for (const schema of schemas) {
      client.setNotificationHandler(schema, (n) => {
        this.received.push(n);
        this.waiters = this.waiters.filter((w) => {
          if (!w.match(n)) return true;
          w.resolve(n);
          return false;
        });
      });
    }
  }

  // Resolves with the first notification of `method` (and matching `pred`) received from now on,
  // or, with { past: true }, already received.
  next(method, { pred = () => true, timeoutMs = 10000, past = false } = {}) {
    const match = (n) => n.method === method && pred(n);
    if (past) {
      const found = this.received.find(match);
      if (found) return Promise.resolve(found);
    }
    let entry;
    const p = new Promise((resolve) => {
      entry = { match, resolve };
      this.waiters.push(entry);
    });
    return withTimeout(p, timeoutMs, `no ${method} notification within ${timeoutMs} ms`).finally(() => {
      this.waiters = this.waiters.filter((w) => w !== entry);
    });
  }

  count(method) {
    return this.received.filter((n) => n.method === method).length;
  }
}

// Rejects after `ms` unless `promise` settles first. `message` may be a function, called then.
export function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error((typeof message === 'function' ? message() : message) ?? `timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- raw HTTP ------------------------------------------------------------------------------------------

// The JSON messages of an SSE body (one per `data:` line; empty priming data is skipped).
export function sseMessages(text) {
  const out = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
    if (data.trim()) out.push(JSON.parse(data));
  }
  return out;
}

export const ACCEPT_BOTH = 'application/json, text/event-stream';

/**
 * POSTs `body` (an object, or a string sent as is) to /mcp. Returns { status, headers, text,
 * contentType, json } where json is the parsed body: the single JSON answer, or for an SSE body
 * the list of its messages (`messages`) with `json` the last one.
 */
export async function rawPost(server, body, { headers = {}, path: p = '/mcp', auth = true, method = 'POST' } = {}) {
  const h = {
    'Content-Type': 'application/json',
    Accept: ACCEPT_BOTH,
    ...(auth ? server.authHeaders : {}),
    ...headers,
  };
  for (const k of Object.keys(h)) if (h[k] === undefined || h[k] === null) delete h[k];
  const res = await fetch(`${server.base}${p}`, {
    method,
    headers: h,
    body: method === 'GET' || method === 'HEAD' ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const text = await res.text();
  const contentType = res.headers.get('content-type') ?? '';
  let json;
  let messages;
  if (contentType.startsWith('text/event-stream')) {
    messages = sseMessages(text);
    json = messages[messages.length - 1];
  } else if (text) {
    try { json = JSON.parse(text); } catch { json = undefined; }
  }
  return { status: res.status, headers: res.headers, text, contentType, json, messages };
}

export const initializeRequest = (id = 1, protocolVersion = '2025-11-25', capabilities = {}) => ({
  jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion, capabilities, clientInfo: CLIENT_INFO },
});

/**
 * Initializes a session with raw requests (initialize + notifications/initialized) and returns
 * { sessionId, result, headers } where headers carry the session id and protocol version.
 */
export async function rawSession(server, protocolVersion = '2025-11-25') {
  const init = await rawPost(server, initializeRequest(1, protocolVersion));
  if (init.status !== 200) throw new Error(`initialize answered ${init.status}: ${init.text}`);
  const sessionId = init.headers.get('mcp-session-id');
  if (!sessionId) throw new Error('initialize returned no Mcp-Session-Id');
  const headers = { 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': init.json.result.protocolVersion };
  const note = await rawPost(server, { jsonrpc: '2.0', method: 'notifications/initialized' }, { headers });
  if (note.status !== 202) throw new Error(`notifications/initialized answered ${note.status}: ${note.text}`);
  return { sessionId, result: init.json.result, headers };
}

/**
 * A raw HTTP/1.1 request through node:http, for headers fetch will not send as given (Host).
 * Resolves with { status, headers, text, json }.
 */
export function httpRequest(server, { method = 'GET', path: p = '/mcp', headers = {}, body, expectContinue = false } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (expectContinue) h.Expect = '100-continue';
    if (body !== undefined && h['Content-Length'] === undefined) h['Content-Length'] = Buffer.byteLength(body);
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path: p, headers: h, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.setTimeout(20000, () => req.destroy(new Error(`${method} ${p}: no answer within 20 s`)));
    if (expectContinue) {
      // Like curl with a large body: send it only once the server said 100 Continue (a server
      // that refuses the request answers before reading it).
      req.on('continue', () => req.end(body));
      req.flushHeaders();
    } else {
      if (body !== undefined) req.write(body);
      req.end();
    }
  });
}

// A wasm module with a custom section of `size` zero bytes appended (still a valid module).
export function withCustomSection(wasm, name, size) {
  const leb = (n) => {
    const out = [];
    do {
      let b = n & 0x7f;
      n = Math.floor(n / 128);
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return Buffer.from(out);
  };
  const nameBytes = Buffer.from(name, 'utf8');
  const payload = Buffer.concat([leb(nameBytes.length), nameBytes, Buffer.alloc(size)]);
  return Buffer.concat([wasm, Buffer.from([0]), leb(payload.length), payload]);
}

/**
 * before/it that make a failed setup count as failures. (When a node:test `before` hook throws,
 * its tests are only "cancelled", which a runner counting "# pass"/"# fail" would miss: a missing
 * binary would look like an empty, green suite.) A setup error is recorded, and every test
 * registered through this guard then fails with it. Tests and hooks time out after `timeout` ms,
 * so a hung server fails the suite instead of stalling it.
 *   const { before, it } = guard();
 */
export function guard({ timeout = 30000 } = {}) {
  let setupError;
  return {
    before: (fn, options) => nodeTest.before(async (...args) => {
      try {
        await withTimeout(Promise.resolve().then(() => fn(...args)), timeout, `a before hook took more than ${timeout} ms`);
      } catch (e) {
        setupError ??= e;
      }
    }, options),
    it: (name, fn, options) => nodeTest.it(name, { timeout, ...options }, async (...args) => {
      if (setupError) throw new Error(`setup failed: ${setupError.message}`, { cause: setupError });
      return fn(...args);
    }),
  };
}

// Resolves once the output of `proc` (stdout or stderr stream) matches `re`; `text()` returns
// what was collected so far.
export function waitForOutput(stream, text, re, timeoutMs = 10000) {
  return withTimeout((async () => {
    while (!re.test(text())) await once(stream, 'data');
  })(), timeoutMs, `the output never matched ${re}`);
}
