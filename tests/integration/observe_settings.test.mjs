// GET/PUT /observe: the log level, metrics and trace sampling of a running server, changed without
// a restart. Checks that each change takes effect on the next call (log lines, /metrics, spans
// at the OTLP receiver written in observe_helpers.mjs), that a bad body changes nothing, that the
// route needs the admin token, and that `wasimancer observe` drives it. All on 127.0.0.1.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { after, describe } from 'node:test';
import { promisify } from 'node:util';

import { ADMIN_TOKEN, binary, descendants, guard, httpRequest, rawPost, startServer, testPlugin } from '../node/server.mjs';
import { startOtlpReceiver, waitFor } from './observe_helpers.mjs';

const run = promisify(execFile);
const plugins = { plugins: [{ name: 'echo', path: 'echo.wasm', version: '1.0.0', functions: [{ displayName: 'echo', function: 'echo' }] }] };

describe('observe: settings changed at run time (GET/PUT /observe)', () => {
  const { before, it } = guard({ timeout: 60000 });
  let server, otlp;
  const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
  const getSettings = (headers = admin) => httpRequest(server, { path: '/observe', headers });
  const put = (body, headers = admin) => httpRequest(server, {
    method: 'PUT', path: '/observe', headers: { ...headers, 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const call = (headers = {}) => rawPost(server, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: {} } },
    { headers: { Accept: 'application/json', ...headers } });
  // Whole lines only (the last one may still be arriving).
  const lines = () => server.stderr.split('\n').slice(0, -1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const metric = async (re) => {
    const r = await httpRequest(server, { path: '/metrics', headers: admin });
    assert.equal(r.status, 200, r.text);
    const m = r.text.split('\n').find((l) => re.test(l));
    return m ? Number(m.split(' ').pop()) : 0;
  };
  const echoCalls = () => metric(/^wasimancer_tool_calls_total\{tool="echo",plugin="echo",version="1\.0\.0",outcome="ok"\}/);

  before(async () => {
    otlp = await startOtlpReceiver();
    server = await startServer({
      wasm: [testPlugin('echo')], plugins,
      env: { WASIMANCER_OTLP_ENDPOINT: otlp.endpoint },
      args: ['--log-format', 'json'],
    });
  });
  after(async () => {
    await server?.stop();
    await otlp?.close();
  });

  it('needs the admin token and accepts GET and PUT only', async () => {
    let r = await getSettings({});
    assert.equal(r.status, 403);
    assert.match(r.json.error, /needs Authorization: Bearer/);
    r = await getSettings({ Authorization: 'Bearer wrong' });
    assert.equal(r.status, 403);
    r = await put({ logLevel: 'debug' }, { Authorization: 'Bearer wrong' });
    assert.equal(r.status, 403);
    r = await httpRequest(server, { method: 'POST', path: '/observe', headers: admin, body: '{}' });
    assert.equal(r.status, 405);
    r = await httpRequest(server, { method: 'DELETE', path: '/observe', headers: admin });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'GET, PUT');
    r = await httpRequest(server, { method: 'HEAD', path: '/observe', headers: admin });
    assert.equal(r.status, 405);
    r = await getSettings();
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { logLevel: 'info', logFormat: 'json', metrics: true, traceExport: true, traceSampleRatio: 1 });
  });

  it('refuses a bad body with a clear error and changes nothing', async () => {
    const cases = [
      ['not json', /JSON object/],
      ['[]', /JSON object/],
      ['{}', /nothing to change/],
      [{ logLevel: 'loud' }, /"logLevel" must be one of/],
      [{ logLevel: 3 }, /"logLevel" must be one of/],
      [{ metrics: 'off' }, /"metrics" must be true or false/],
      [{ traceSampleRatio: 1.5 }, /from 0 to 1/],
      [{ traceSampleRatio: -0.1 }, /from 0 to 1/],
      [{ traceSampleRatio: '0.5' }, /from 0 to 1/],
      [{ logFormat: 'text' }, /set at start/],
      [{ verbose: true }, /unknown setting "verbose"/],
      // The good field before the bad one is not applied either.
      [{ logLevel: 'debug', metrics: false, traceSampleRatio: 0.5, colour: 'red' }, /unknown setting "colour"/],
    ];
    for (const [body, re] of cases) {
      const r = await put(body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.match(r.json.error, re, JSON.stringify(body));
    }
    const r = await getSettings();
    assert.deepEqual(r.json, { logLevel: 'info', logFormat: 'json', metrics: true, traceExport: true, traceSampleRatio: 1 });
    assert.ok(!/observe settings changed/.test(server.stderr), 'no change was logged');
    // Refused changes are counted as such.
    assert.equal(await metric(/^wasimancer_admin_changes_total\{object="observe",action="update",result="error"\}/), cases.length);
  });

  it('switches the per-call info line off and on', async () => {
    let r = await put({ logLevel: 'warn' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.logLevel, 'warn');
    const quiet = 'a'.repeat(32);
    assert.equal((await call({ traceparent: `00-${quiet}-${'1'.repeat(16)}-01` })).status, 200);
    r = await put({ logLevel: 'info' });
    assert.equal(r.status, 200, r.text);
    const loud = 'b'.repeat(32);
    assert.equal((await call({ traceparent: `00-${loud}-${'1'.repeat(16)}-01` })).status, 200);
    await waitFor(() => lines().some((l) => l.trace_id === loud && l.tool === 'echo'), { what: 'the call line at info level' });
    assert.ok(!lines().some((l) => l.trace_id === quiet && l.tool === 'echo'), 'no call line at warn level');
    // Both changes were logged at warn level, with what changed.
    const changes = lines().filter((l) => /observe settings changed/.test(l.msg));
    assert.equal(changes.length, 2, server.stderr);
    assert.match(changes[0].msg, /log level info -> warn/);
    assert.match(changes[1].msg, /log level warn -> info/);
    assert.equal(changes[0].level, 'warning');
  });

  it('stops and restarts recording metrics', async () => {
    const okChanges = () => metric(/^wasimancer_admin_changes_total\{object="observe",action="update",result="ok"\}/);
    const changesBefore = await okChanges();
    const first = await echoCalls();
    assert.equal((await call()).status, 200);
    await waitFor(async () => (await echoCalls()) === first + 1, { what: 'the echo call counted' });
    let r = await put({ metrics: false });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.metrics, false);
    const before = await echoCalls();
    for (let i = 0; i < 3; ++i) assert.equal((await call()).status, 200);
    assert.equal(await echoCalls(), before, 'calls made with metrics off are not counted');
    r = await put({ metrics: true });
    assert.equal(r.status, 200, r.text);
    assert.equal((await call()).status, 200);
    await waitFor(async () => (await echoCalls()) === before + 1, { what: 'the call made with metrics on again counted' });
    // Both changes are counted (admin changes are, whatever the setting).
    assert.equal(await okChanges(), changesBefore + 2);
  });

  it('changes the share of new traces exported, keeping the caller\'s decision', async () => {
    let r = await put({ traceSampleRatio: 0 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.traceSampleRatio, 0);
    // The change's warn line is written with every line logged before it: once it is here, so
    // are the earlier calls' lines.
    await waitFor(() => lines().some((l) => /trace sample ratio 1 -> 0/.test(l.msg)), { what: 'the change\'s line' });
    // A new trace is not sampled: its call line has a trace id, but no span is exported.
    const seen = new Set(lines().map((l) => l.trace_id));
    assert.equal((await call()).status, 200);
    await waitFor(() => lines().some((l) => l.tool === 'echo' && !seen.has(l.trace_id)), { what: 'the unsampled call line' });
    const unsampled = lines().find((l) => l.tool === 'echo' && !seen.has(l.trace_id)).trace_id;
    // A caller that sampled its trace still gets its spans; once they are in, the unsampled
    // call's would be too (the exporter sends every thread's spans in each round).
    const kept = 'c'.repeat(32);
    assert.equal((await call({ traceparent: `00-${kept}-${'2'.repeat(16)}-01` })).status, 200);
    await waitFor(() => otlp.spans.some((s) => s.traceId === kept && s.kind === 2), { what: 'the caller-sampled span' });
    assert.ok(!otlp.spans.some((s) => s.traceId === unsampled), 'no span of the unsampled trace');

    r = await put({ traceSampleRatio: 1 });
    assert.equal(r.status, 200, r.text);
    await waitFor(() => lines().some((l) => /trace sample ratio 0 -> 1/.test(l.msg)), { what: 'the change\'s line' });
    const seen2 = new Set(lines().map((l) => l.trace_id));
    assert.equal((await call()).status, 200);
    await waitFor(() => lines().some((l) => l.tool === 'echo' && !seen2.has(l.trace_id)), { what: 'the sampled call line' });
    const sampled = lines().find((l) => l.tool === 'echo' && !seen2.has(l.trace_id)).trace_id;
    await waitFor(() => otlp.spans.some((s) => s.traceId === sampled && s.kind === 2), { what: 'the new trace\'s span' });
  });

  it('logs a change made from a level that hides warnings, once the new level shows them', async () => {
    let r = await put({ logLevel: 'error' });
    assert.equal(r.status, 200, r.text);
    r = await put({ logLevel: 'info' });
    assert.equal(r.status, 200, r.text);
    await waitFor(() => lines().some((l) => /log level error -> info/.test(l.msg)), { what: 'the line of the change from error' });
    assert.ok(lines().some((l) => /log level info -> error/.test(l.msg)), 'the change to error was logged before it took effect');
    r = await put('{"traceSampleRatio":-0}');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.traceSampleRatio, 0);
    assert.ok(!r.text.includes('-0'), r.text);
    assert.equal((await put({ traceSampleRatio: 1 })).status, 200);
  });

  it('names its threads, so that `top -H` tells which is busy', async () => {
    assert.equal((await call()).status, 200);  // the sandbox worker and its watchdog are running
    const names = (pid) => fs.readdirSync(`/proc/${pid}/task`).map((t) => {
      try { return fs.readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim(); } catch { return ''; }
    });
    const count = (list, name) => list.filter((n) => n === name).length;
    const own = names(server.proc.pid);
    assert.equal(count(own, 'wm-net'), 2, own.join(', '));  // --network-threads: 2 by default
    assert.ok(count(own, 'wm-worker') >= 2, own.join(', '));
    for (const one of ['wm-log', 'wm-otlp', 'wm-spawner', 'wm-notify']) assert.equal(count(own, one), 1, `${one}: ${own.join(', ')}`);
    // The sandbox worker process: its main thread carries the program's name, its watchdog its own.
    const worker = descendants(server.proc.pid).find((d) => {
      try { return fs.readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').includes('__worker\0echo'); } catch { return false; }
    });
    assert.ok(worker, 'no sandbox worker for echo');
    assert.ok(names(worker.pid).includes('wm-watchdog'), names(worker.pid).join(', '));
  });

  it('is driven by `wasimancer observe`', async () => {
    const env = { ...process.env, WASIMANCER_URL: `http://127.0.0.1:${server.port}`, WASIMANCER_ADMIN_TOKEN: ADMIN_TOKEN };
    let out = await run(binary, ['observe', '--log-level', 'debug', '--metrics', 'off', '--trace-sample-ratio', '0.25'], { env });
    assert.deepEqual(JSON.parse(out.stdout), { logLevel: 'debug', logFormat: 'json', metrics: false, traceExport: true, traceSampleRatio: 0.25 });
    out = await run(binary, ['observe'], { env });
    assert.equal(JSON.parse(out.stdout).logLevel, 'debug');
    // The server's refusal is shown, with a non-zero exit.
    // Values out of range are refused before anything is sent (usage error).
    await assert.rejects(run(binary, ['observe', '--trace-sample-ratio', '2'], { env }), (e) => e.code !== 0);
    await assert.rejects(run(binary, ['observe', '--log-level', 'loud'], { env }), (e) => e.code !== 0);
    assert.equal(JSON.parse((await run(binary, ['observe'], { env })).stdout).traceSampleRatio, 0.25);
    out = await run(binary, ['observe', '--log-level', 'info', '--metrics', 'on', '--trace-sample-ratio', '1'], { env });
    assert.equal(JSON.parse(out.stdout).metrics, true);
  });
});

describe('observe: settings without an OTLP endpoint', () => {
  const { before, it } = guard({ timeout: 60000 });
  let server;
  before(async () => {
    server = await startServer({ wasm: [testPlugin('echo')], plugins });
  });
  after(async () => { await server?.stop(); });

  it('says that no spans are exported and refuses a sample ratio', async () => {
    const headers = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    let r = await httpRequest(server, { path: '/observe', headers });
    assert.deepEqual(r.json, { logLevel: 'info', logFormat: 'text', metrics: true, traceExport: false, traceSampleRatio: null });
    r = await httpRequest(server, { method: 'PUT', path: '/observe', headers, body: JSON.stringify({ traceSampleRatio: 0.5, logLevel: 'debug' }) });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /WASIMANCER_OTLP_ENDPOINT/);
    r = await httpRequest(server, { path: '/observe', headers });
    assert.equal(r.json.logLevel, 'info');
  });
});
