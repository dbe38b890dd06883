// tests/soak/soak.mjs: the soak run (`make soak`, SOAK_SECONDS, default 600; a 60-second version
// runs in `make test` through tests/soak/smoke.sh). One server, for the whole time:
//   - tool calls (echo, and a plugin that is updated every few seconds), stateless POSTs;
//   - resource reads (static, and through a URI template) and prompt gets;
//   - MCP sessions over Streamable HTTP and legacy SSE that open, make calls and close;
//   - a plugin update every few seconds (alternating two modules).
// At the end:
//   - zero failed calls that should have succeeded (every call, read, get, session and update);
//   - memory: the server's RSS once the load has stopped is at most the start-of-run RSS plus
//     max(48 MiB, half the start-of-run RSS) (start of run: after one warm-up round of every
//     workload, with the server idle again); the run also reports the peak;
//   - no leaked descriptors or threads: once the clients are gone and the server is idle, the
//     counts of /proc/PID/fd and /proc/PID/task come back to (at most) the start-of-run counts.
// Output: PASS/FAIL lines as the shell suites print them (scripts/run-tests.sh counts them).
import fs from 'node:fs';
import http from 'node:http';

import { adminApi, buildDir, connectSse, connectStreamable, startServer, testPlugin } from '../node/server.mjs';

const SECONDS = Number(process.env.SOAK_SECONDS || 600);
const UPDATE_EVERY_MS = Number(process.env.SOAK_UPDATE_MS || 3000);

let failures = 0;
const pass = (name) => console.log(`PASS soak/${name}`);
const fail = (name, why) => {
  failures += 1;
  console.log(`FAIL soak/${name}: ${why}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the server's resources, from /proc -------------------------------------------------------------
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
const taskCount = (pid) => fs.readdirSync(`/proc/${pid}/task`).length;
const children = (pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).length;
  } catch {
    return 0;
  }
};

// ---- requests over our own keep-alive agent (destroyed at the end, so its sockets go too) -----------
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
let server;

function post(path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.request({
      host: '127.0.0.1', port: server.port, path, method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(data), ...server.authHeaders, ...headers },
      timeout: 60000,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(data);
  });
}

let nextId = 1;
async function rpc(method, params) {
  const id = nextId++;
  const res = await post('/mcp', { jsonrpc: '2.0', id, method, params });
  if (res.status !== 200) throw new Error(`${method}: HTTP ${res.status} ${res.text.slice(0, 200)}`);
  const msg = JSON.parse(res.text);
  if (msg.error) throw new Error(`${method}: ${JSON.stringify(msg.error).slice(0, 200)}`);
  return msg.result;
}

// ---- the workloads ---------------------------------------------------------------------------------
const stats = {};
const problems = [];
function count(name, ok, why) {
  stats[name] ??= { ok: 0, failed: 0 };
  if (ok) stats[name].ok += 1;
  else {
    stats[name].failed += 1;
    if (problems.length < 20) problems.push(`${name}: ${why}`);
  }
}
async function attempt(name, fn) {
  try {
    await fn();
    count(name, true);
  } catch (e) {
    count(name, false, e.message);
  }
}

const VERSIONS = ['{"version":"a"}', '{"version":"b"}'];
const workloads = {
  async toolEcho(i) {
    const text = `soak ${i} ${'x'.repeat(i % 200)}`;
    const r = await rpc('tools/call', { name: 'echo', arguments: { text } });
    if (r.isError || r.content?.[0]?.text !== JSON.stringify({ text })) throw new Error(`echo answered ${JSON.stringify(r).slice(0, 200)}`);
  },
  async toolSwapped() {
    const r = await rpc('tools/call', { name: 'whoami', arguments: {} });
    if (r.isError || !VERSIONS.includes(r.content?.[0]?.text)) throw new Error(`whoami answered ${JSON.stringify(r).slice(0, 200)}`);
  },
  async readStatic() {
    const r = await rpc('resources/read', { uri: 'config://soak' });
    if (r.contents?.[0]?.text !== 'soak server') throw new Error(JSON.stringify(r).slice(0, 200));
  },
  async readTemplate(i) {
    const r = await rpc('resources/read', { uri: `greet-user://Bob${i}/Morane` });
    if (r.contents?.[0]?.text !== `Hello Bob${i} Morane!`) throw new Error(JSON.stringify(r).slice(0, 200));
  },
  async promptGet(i) {
    const r = await rpc('prompts/get', { name: 'analyst', arguments: { code: `x = ${i}` } });
    if (!r.messages?.[0]?.content?.text?.includes(`x = ${i}`)) throw new Error(JSON.stringify(r).slice(0, 200));
  },
  async streamableSession(i) {
    const c = await connectStreamable(server);
    try {
      const r = await c.client.callTool({ name: 'echo', arguments: { text: `s${i}` } });
      if (r.isError || r.content?.[0]?.text !== JSON.stringify({ text: `s${i}` })) throw new Error(JSON.stringify(r).slice(0, 200));
      await c.client.listTools();
      await c.client.readResource({ uri: 'config://soak' });
    } finally {
      await c.transport.terminateSession().catch(() => {});
      await c.client.close();
    }
    if (c.errors.length) throw new Error(`client errors: ${c.errors.map(String).join('; ').slice(0, 200)}`);
  },
  async legacySession(i) {
    const c = await connectSse(server);
    try {
      const r = await c.client.callTool({ name: 'echo', arguments: { text: `l${i}` } });
      if (r.isError || r.content?.[0]?.text !== JSON.stringify({ text: `l${i}` })) throw new Error(JSON.stringify(r).slice(0, 200));
      await c.client.getPrompt({ name: 'analyst', arguments: { code: 'y' } });
    } finally {
      await c.client.close();
    }
  },
};

// Runs `fn` in a loop until `until()` says stop.
async function loop(name, fn, until, pauseMs = 0) {
  for (let i = 0; !until(); i += 1) {
    await attempt(name, () => fn(i));
    if (pauseMs) await sleep(pauseMs);
  }
}

async function oneRoundOfEverything() {
  for (const [name, fn] of Object.entries(workloads)) await attempt(name, () => fn(0));
}

// Waits until the server is quiet: no compiler running (the native tier), descriptors and threads
// at or below `limit` (when given). Returns the counts it ended with.
async function settle(pid, limit, timeoutMs) {
  const t0 = Date.now();
  let fds, tasks;
  for (;;) {
    fds = fdCount(pid);
    tasks = taskCount(pid);
    const quiet = children(pid) === 0 && (!limit || (fds <= limit.fds && tasks <= limit.tasks));
    if (quiet || Date.now() - t0 > timeoutMs) return { fds, tasks, quiet };
    await sleep(250);
  }
}

// ---- the run ---------------------------------------------------------------------------------------
async function main() {
  server = await startServer({
    wasm: [testPlugin('echo'), { src: testPlugin('version_a'), as: 'swap.wasm' }],
    plugins: {
      plugins: [
        { name: 'echo', path: './echo.wasm', functions: [{ displayName: 'echo', function: 'echo', arguments: [{ name: 'text', type: 'string' }] }] },
        { name: 'swap', path: './swap.wasm', functions: [{ displayName: 'whoami', function: 'whoami' }] },
      ],
    },
    resources: {
      resources: {
        static: [{ name: 'soak-info', uri: 'config://soak', contents: [{ text: 'soak server' }] }],
        dynamic: [{ name: 'greet-user', uri: 'greet-user://{firstName}/{lastName}', arguments: [{ name: 'firstName', type: 'string' }],
          contents: [{ text: 'Hello ${firstName} ${lastName}!' }] }],
      },
    },
    prompts: { prompts: { predefined: [{ name: 'analyst', arguments: [{ name: 'code', type: 'string' }], messages: [{ role: 'user', text: 'Analyze ${code}' }] }] } },
    // Idle keep-alive connections closed after 2 s, so that the descriptor count can settle.
    env: { WASIMANCER_IDLE_TIMEOUT: '2' },
  });
  const pid = server.proc.pid;
  const admin = adminApi(server);
  try {
    // Warm up: every workload once, and an update, then wait for the server to be idle.
    await oneRoundOfEverything();
    const up = await admin.updatePlugin(testPlugin('version_b'), { name: 'swap', functions: [{ displayName: 'whoami', function: 'whoami' }] }, { filename: 'swap.wasm' });
    count('update', up.status === 200, `HTTP ${up.status} ${JSON.stringify(up.body).slice(0, 200)}`);
    await oneRoundOfEverything();
    agent.destroy();
    await sleep(2500);  // the SDK clients' keep-alive connections close (idle timeout)
    const base = await settle(pid, null, 60000);
    const baseRss = rssKiB(pid);
    console.log(`start of run: RSS ${(baseRss / 1024).toFixed(1)} MiB, ${base.fds} descriptors, ${base.tasks} threads`);

    // The load.
    const t0 = Date.now();
    const end = t0 + SECONDS * 1000;
    const until = () => Date.now() >= end;
    let peakRss = baseRss;
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssKiB(pid)); }, 1000);
    let updates = 0;
    const updater = (async () => {
      while (!until()) {
        await sleep(UPDATE_EVERY_MS);
        if (until()) break;
        const file = updates % 2 === 0 ? 'version_a' : 'version_b';
        await attempt('update', async () => {
          const r = await admin.updatePlugin(testPlugin(file), { name: 'swap', version: String(updates), functions: [{ displayName: 'whoami', function: 'whoami' }] },
            { filename: 'swap.wasm' });
          if (r.status !== 200) throw new Error(`HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        });
        updates += 1;
      }
    })();
    await Promise.all([
      loop('toolEcho', workloads.toolEcho, until),
      loop('toolEcho', workloads.toolEcho, until),
      loop('toolSwapped', workloads.toolSwapped, until),
      loop('readStatic', workloads.readStatic, until, 5),
      loop('readTemplate', workloads.readTemplate, until, 5),
      loop('promptGet', workloads.promptGet, until, 5),
      loop('streamableSession', workloads.streamableSession, until, 50),
      loop('legacySession', workloads.legacySession, until, 50),
      updater,
    ]);
    clearInterval(sampler);
    const secs = (Date.now() - t0) / 1000;
    agent.destroy();

    // Failed calls.
    const summary = Object.entries(stats).map(([k, v]) => `${k} ${v.ok}${v.failed ? `/${v.failed} failed` : ''}`).join(', ');
    console.log(`${secs.toFixed(0)} s: ${summary}`);
    const failed = Object.values(stats).reduce((n, v) => n + v.failed, 0);
    if (failed === 0) pass('zero-failed-calls');
    else fail('zero-failed-calls', `${failed} failed: ${problems.slice(0, 5).join(' | ')}`);
    for (const w of ['toolEcho', 'toolSwapped', 'readStatic', 'readTemplate', 'promptGet', 'streamableSession', 'legacySession', 'update']) {
      if ((stats[w]?.ok ?? 0) > 0) pass(`ran/${w}`);
      else fail(`ran/${w}`, 'no successful run');
    }
    const minUpdates = Math.max(1, Math.floor(SECONDS * 1000 / UPDATE_EVERY_MS / 2));
    if ((stats.update?.ok ?? 0) >= minUpdates) pass('updates-every-few-seconds');
    else fail('updates-every-few-seconds', `${stats.update?.ok ?? 0} updates in ${secs.toFixed(0)} s`);

    // Descriptors and threads back to the start-of-run counts, memory within its bound.
    await sleep(2500);
    const after = await settle(pid, base, 60000);
    const rss = rssKiB(pid);
    const bound = baseRss + Math.max(48 * 1024, baseRss / 2);
    console.log(`end of run: RSS ${(rss / 1024).toFixed(1)} MiB (peak ${(peakRss / 1024).toFixed(1)}, bound ${(bound / 1024).toFixed(1)}), ` +
                `${after.fds} descriptors, ${after.tasks} threads`);
    if (after.fds <= base.fds) pass('descriptors-back-to-start');
    else fail('descriptors-back-to-start', `${after.fds} open, ${base.fds} at the start: ${fs.readdirSync(`/proc/${pid}/fd`).map((f) => { try { return fs.readlinkSync(`/proc/${pid}/fd/${f}`); } catch { return '?'; } }).join(' ').slice(0, 400)}`);
    if (after.tasks <= base.tasks) pass('threads-back-to-start');
    else fail('threads-back-to-start', `${after.tasks} threads, ${base.tasks} at the start`);
    // A sanitizer build (make sanitize, make tsan) keeps freed memory in quarantine on purpose.
    if (/asan|tsan|sanit/.test(buildDir)) console.log('memory bound not checked: sanitizer build');
    else if (rss <= bound) pass('memory-within-bound');
    else fail('memory-within-bound', `RSS ${rss} KiB at the end, ${baseRss} KiB at the start (bound ${bound.toFixed(0)} KiB)`);
    if (server.proc.exitCode === null && server.proc.signalCode === null) pass('server-alive');
    else fail('server-alive', `exited ${server.proc.exitCode ?? server.proc.signalCode}`);
  } finally {
    agent.destroy();
    await server.stop();
  }
}

main().then(
  () => process.exit(failures > 0 ? 1 : 0),
  (e) => {
    fail('run', e.stack ?? String(e));
    process.exit(1);
  },
);
