// requires: third-party plugins (WASImancer's samples, through tests/node/fixtures.mjs; see scripts/run-tests.sh)
// `wasimancer serve --stdio` driven by the SDK's StdioClientTransport (which spawns it), and by
// hand for the cases the SDK cannot express. stdout must carry only MCP messages, one per line;
// every log, and every byte a plugin writes to its own stdout, goes to stderr.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, describe } from 'node:test';

import { PLUGINS, PROMPTS, RESOURCES, WASM, rejectsWith, text } from '../node/fixtures.mjs';
import {
  AUTH_TOKEN, CLIENT_INFO, Notifications, binary, cleanEnv, endProcess, guard, isSdkProgressRace, killGroup, killProcesses, makeWorkDir, processesUnder, spawnServer, trackGroup,
  testPlugin, wasimancerPlugin, withTimeout,
} from '../node/server.mjs';
import { Client, ErrorCode, LoggingMessageNotificationSchema, StdioClientTransport } from '../node/sdk.mjs';

const { before, it } = guard();

const STDIO_PLUGINS = {
  plugins: [
    ...PLUGINS.plugins,
    { name: 'wasi', path: 'wasi.wasm', description: 'writes to its stdout and stderr',
      functions: [{ displayName: 'print', function: 'print', description: 'prints its input on stdout' },
        { displayName: 'print_stderr', function: 'print_stderr', description: 'prints its input on stderr' }] },
  ],
};

function workDir() {
  return makeWorkDir({ wasm: [...WASM, testPlugin('wasi')], plugins: STDIO_PLUGINS, resources: RESOURCES, prompts: PROMPTS });
}

// The environment of a stdio server: folders by WASImancer's variables; an auth token that must
// not matter on stdio.
const stdioEnv = (work, extra = {}) => cleanEnv({ ...work.env, WASIMANCER_AUTHENTICATION_TOKEN: AUTH_TOKEN, ...extra });

describe('stdio with the SDK client', () => {
  let work;
  let transport;
  let client;
  let stderr = '';
  const messages = [];
  const errors = [];

  let pid;
  let untrack = () => {};

  before(async () => {
    work = workDir();
    // The SDK spawns the command itself. Through setsid (which execs in place: same pid, same
    // stdio) the server leads its own process group, so whatever it leaves running can be ended.
    const viaSetsid = fs.existsSync('/usr/bin/setsid');
    transport = new StdioClientTransport({
      command: viaSetsid ? '/usr/bin/setsid' : binary,
      args: viaSetsid ? [binary, 'serve', '--stdio'] : ['serve', '--stdio'],
      env: stdioEnv(work), cwd: work.dir, stderr: 'pipe',
    });
    transport.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    client = new Client(CLIENT_INFO, { capabilities: {} });
    client.onerror = (e) => errors.push(e);
    await client.connect(transport);
    pid = transport.pid;
    if (viaSetsid && pid) untrack = trackGroup(pid);
    const inner = transport.onmessage;
    transport.onmessage = (m, extra) => { messages.push(m); inner?.(m, extra); };
  });

  after(async () => {
    // Goodbye as the SDK says it (stdin EOF), but with the whole process tree ended afterwards:
    // SDK's close() would SIGTERM the server after 2 s and leave what it started running.
    const child = transport?._process;  // the SDK's ChildProcess (private field)
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
      await endProcess(child, exited, () => child.stdin.end(), 2000);
    }
    await client?.close().catch(() => {});
    if (pid) killGroup(pid);
    untrack();
    work?.remove();
  });

  it('initializes', () => {
    assert.ok(client.getServerCapabilities().tools);
    assert.equal(typeof client.getServerVersion().name, 'string');
    assert.ok(!JSON.stringify(client.getServerVersion()).includes(AUTH_TOKEN));
  });

  it('lists tools from the folders named by PLUGINS_PATH', async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.slice(0, 3).map((t) => t.name), ['rollDice', 'sayHello', 'add']);
    assert.ok(tools.some((t) => t.name === 'print'));
  });

  it('calls tools backed by real plugins', async () => {
    const dice = await client.callTool({ name: 'rollDice', arguments: { numFaces: 20, numDice: 1 } });
    const n = Number(text(dice).trim());
    assert.ok(Number.isInteger(n) && n >= 1 && n <= 20, text(dice));
    const sum = await client.callTool({ name: 'add', arguments: { left: 40, right: 2 } });
    assert.deepEqual(JSON.parse(text(sum)), { value: 42 });
    const timeout = await client.callTool({ name: 'spin', arguments: {} });
    assert.equal(timeout.isError, true);
    await rejectsWith(client.callTool({ name: 'nope', arguments: {} }), ErrorCode.InvalidParams);
  });

  it('reads resources and gets prompts', async () => {
    const r = await client.readResource({ uri: 'greet-user://Bob/Morane' });
    assert.equal(r.contents[0].text, 'Say hello to Bob Morane!');
    const p = await client.getPrompt({ name: 'code-analyst', arguments: { code: 'x', language: 'go' } });
    assert.equal(p.messages[0].content.text, 'Analyze my go source code: x');
  });

  it('a plugin writing to its stdout does not corrupt the protocol: the text goes to stderr', async () => {
    const r = await client.callTool({ name: 'print', arguments: {} });
    assert.ok(!r.isError, text(r));
    const e = await client.callTool({ name: 'print_stderr', arguments: {} });
    assert.ok(!e.isError, text(e));
    // A TinyGo panic writes "panic: ..." to the plugin's stdout before trapping.
    const panic = await client.callTool({ name: 'rollDice', arguments: { numFaces: 0, numDice: 1 } });
    assert.equal(panic.isError, true);
    assert.ok((await client.listTools()).tools.length > 0, 'the connection is still usable');
    await withTimeout((async () => {
      while (!stderr.includes('printed: {}')) await once(transport.stderr, 'data');
    })(), 5000, `the plugin's stdout did not reach stderr:\n${stderr}`);
  });

  it('logs and progress arrive as notifications on stdout', async () => {
    const notes = new Notifications(client, [LoggingMessageNotificationSchema]);
    await client.setLoggingLevel('warning');
    const warn = notes.next('notifications/message', { pred: (n) => n.params.data === 'warn msg' });
    await client.callTool({ name: 'log_all', arguments: {} });
    assert.equal((await warn).params.level, 'warning');
    const from = messages.length;
    const r = await client.callTool({ name: 'progress_steps', arguments: {} }, undefined, { onprogress: () => {} });
    assert.equal(text(r), 'done');
    const progress = messages.slice(from).filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress);
    assert.deepEqual(progress, [1, 2, 3]);
  });

  it('server logs go to stderr', () => {
    assert.match(stderr, /loaded/, `stderr: ${stderr}`);
    assert.ok(stderr.includes('info msg') || stderr.includes('error msg'), 'plugin logs are on stderr');
  });

  it('stdout carried only protocol messages (the SDK reported no parse errors)', () => {
    assert.deepEqual(errors.filter((e) => !isSdkProgressRace(e)).map(String), []);
  });
});

// A hand-driven `serve --stdio`: write lines, read lines.
class RawStdio {
  constructor(work, extraEnv = {}) {
    this.server = spawnServer(['serve', '--stdio'], { cwd: work.dir, env: stdioEnv(work, extraEnv), stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = this.server.proc;
    this.lines = [];
    this.waiters = [];
    this.stderr = '';
    this.proc.stderr.setEncoding('utf8').on('data', (d) => { this.stderr += d; });
    this.proc.stdin.on('error', (e) => { this.stderr += `stdin: ${e.message}\n`; });
    this.proc.on('error', (e) => { this.stderr += `spawn failed: ${e.message}\n`; });
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      this.lines.push(line);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  send(msg) {
    this.proc.stdin.write(`${typeof msg === 'string' ? msg : JSON.stringify(msg)}\n`);
  }

  // The next line (parsed) whose message matches `pred`.
  async next(pred = () => true, timeoutMs = 10000) {
    let seen = 0;
    return withTimeout((async () => {
      for (;;) {
        while (seen < this.lines.length) {
          const line = this.lines[seen++];
          const m = JSON.parse(line);
          if (pred(m)) return m;
        }
        await new Promise((resolve) => this.waiters.push(resolve));
      }
    })(), timeoutMs, () => `no matching line on stdout within ${timeoutMs} ms; got:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`);
  }

  // Resolves once the server's stderr matches `re`.
  stderrMatch(re, timeoutMs = 10000) {
    return withTimeout((async () => {
      while (!re.test(this.stderr)) await once(this.proc.stderr, 'data');
    })(), timeoutMs, `stderr never matched ${re}`);
  }

  // Ends stdin (how an MCP client says goodbye) and waits for the exit; past graceMs the server
  // and everything it started are killed. Resolves with { code, signal, ms, killed?, orphans }.
  close(graceMs = 2000) {
    this.proc.stdin.end();
    return this.server.wait(graceMs);
  }
}

describe('stdio by hand', () => {
  let work;
  before(() => { work = workDir(); });
  after(() => work?.remove());

  it('server/discover before initialize gets -32601 (so dual-era clients fall back to initialize)', async () => {
    const s = new RawStdio(work);
    try {
      s.send({ jsonrpc: '2.0', id: 'd1', method: 'server/discover', params: {} });
      const r = await s.next((m) => m.id === 'd1');
      assert.ok(r.error, JSON.stringify(r));
      assert.ok(!(r.error.code <= -32020 && r.error.code >= -32022), 'not a 2026-07-28 error code');
      assert.equal(r.error.code, ErrorCode.MethodNotFound, JSON.stringify(r));
      // The session then initializes normally.
      s.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: CLIENT_INFO } });
      const init = await s.next((m) => m.id === 1);
      assert.equal(init.result.protocolVersion, '2025-06-18');
    } finally {
      await s.close();
    }
  });

  it('every stdout line is one JSON-RPC message; parse errors get -32700; batches are answered', async () => {
    const s = new RawStdio(work);
    try {
      s.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: CLIENT_INFO } });
      await s.next((m) => m.id === 1);
      s.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      s.send('{"jsonrpc":"2.0","id":2,"method":');
      const parse = await s.next((m) => m.error?.code === -32700);
      assert.equal(parse.id, null);
      s.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'print', arguments: {} } });
      const printed = await s.next((m) => m.id === 3);
      assert.ok(!printed.result.isError);
      s.send({ jsonrpc: '2.0', id: 4, method: 'no/such/method', params: {} });
      assert.equal((await s.next((m) => m.id === 4)).error.code, ErrorCode.MethodNotFound);
      // A batch (2025-03-26 style) on stdio: each request answered.
      s.send([{ jsonrpc: '2.0', id: 5, method: 'ping' }, { jsonrpc: '2.0', id: 6, method: 'tools/list' }]);
      await s.next((m) => m.id === 5);
      await s.next((m) => m.id === 6);
    } finally {
      await s.close();
    }
    for (const line of s.lines) {
      const m = JSON.parse(line);
      assert.equal(m.jsonrpc, '2.0', line);
    }
    assert.ok(!s.lines.some((l) => l.includes('printed:')), 'plugin stdout stayed off the protocol stream');
  });

  it('EOF on stdin ends the server (exit 0) without waiting for a native build in progress', async () => {
    // A C compiler that never finishes (CC: a script that sleeps for 10 minutes in the build
    // folder) and an empty native-tier cache: a build is certainly running when the client
    // leaves. A server that waited for it would not exit by itself within the 60 s allowed, so no
    // wall-clock figure is needed (the SDK's own SIGTERM after 2 s is a client's choice, and the
    // machine may be busy).
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'wasimancer-it-cache-'));
    const cc = path.join(cache, 'stuck-cc');
    fs.writeFileSync(cc, '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
    const own = makeWorkDir({
      wasm: [wasimancerPlugin('wasimancer-plugin-roll-dice.wasm')],
      plugins: { plugins: [PLUGINS.plugins.find((p) => p.name === 'roll dice')] },
    });
    const s = new RawStdio(own, { WASIMANCER_NATIVE: 'on', WASIMANCER_NATIVE_CACHE: cache, CC: cc });
    try {
      s.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: CLIENT_INFO } });
      await s.next((m) => m.id === 1);
      s.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      // Wait for the stuck compiler to run; a machine without wasm2c never gets there: go on anyway.
      for (let i = 0; i < 600 && !processesUnder(cache).some((p) => p.pid); i += 1) await new Promise((r) => setTimeout(r, 100));
      s.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'rollDice', arguments: { numFaces: 6, numDice: 1 } } });
      assert.ok(!(await s.next((m) => m.id === 2)).result.isError);
      const exit = await s.close(60000);
      const left = processesUnder(cache);
      killProcesses(left);
      const log = s.stderr.split('\n').filter((l) => /native|tier|closed|signal/i.test(l)).join('\n') || s.stderr;
      assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}; server log:\n${log}`);
      assert.deepEqual(left.map((p) => p.pid), [], `processes the server started outlived it (cwd in ${cache})`);
    } finally {
      await s.close(0);
      killProcesses(processesUnder(cache));
      own.remove();
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });

  it('requests before initialize (other than ping) are refused with an error, not ignored', async () => {
    const s = new RawStdio(work);
    try {
      s.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
      assert.deepEqual((await s.next((m) => m.id === 1)).result, {});
      s.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
      const r = await s.next((m) => m.id === 2);
      assert.ok(r.error, JSON.stringify(r));
      assert.match(r.error.message, /initializ/);
    } finally {
      await s.close();
    }
  });
});
