// GET /metrics, /healthz, /readyz with the real thing: Debian's Prometheus scrapes a running
// server (once with WASIMANCER_METRICS_TOKEN on the main port, once on the open --metrics-bind
// listener) and the figures are read back through Prometheus' query API; `promtool check
// metrics` accepts the exposition. Everything on 127.0.0.1; Prometheus and the server are
// stopped at the end whatever happens.
import assert from 'node:assert/strict';
import { after, describe } from 'node:test';

import fs from 'node:fs';

import { adminApi, descendants, guard, rawPost, rawSession, startServer, testPlugin } from '../node/server.mjs';
import { hasPrometheus, promtool, startPrometheus, waitFor } from './observe_helpers.mjs';

const METRICS_TOKEN = 'metrics-token-9d2f';

const PLUGINS = {
  plugins: [
    {
      name: 'echo', path: 'echo.wasm', version: '1.0.0', description: 'echo',
      functions: [
        { displayName: 'echo', function: 'echo', arguments: [{ name: 'text', type: 'string' }] },
        { displayName: 'fail', function: 'fail', arguments: [{ name: 'reason', type: 'string' }] },
      ],
    },
    {
      name: 'fetcher', path: 'observe.wasm', version: '0.1.0', allowedHosts: ['nothing.invalid'],
      functions: [{ displayName: 'fetch', function: 'fetch', arguments: [{ name: 'url', type: 'string' }] }],
    },
    // Calls that end badly in their sandbox worker: each outcome counted under its own label.
    {
      name: 'hostile', path: 'hostile.wasm', version: '0.3.0', timeoutMs: 400, maxPages: 16,
      functions: [
        { displayName: 'spin', function: 'infinite_loop' },
        { displayName: 'bomb', function: 'memory_bomb' },
      ],
    },
    { name: 'traps', path: 'traps.wasm', version: '0.5.0', functions: [{ displayName: 'trap', function: 'unreachable' }] },
    {
      name: 'victim', path: 'hostile.wasm', version: '0.4.0', timeoutMs: 60000,
      functions: [{ displayName: 'victim', function: 'infinite_loop' }],
    },
  ],
};

// A 2026-07-28 (stateless) request: its _meta and the headers that must repeat the body.
const stateless = (server, method, params = {}, { name, accept = 'application/json' } = {}) => rawPost(server,
  {
    jsonrpc: '2.0', id: 11, method,
    params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
  },
  { headers: { Accept: accept, 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': method, ...(name ? { 'Mcp-Name': name } : {}) } });

describe('observe: metrics', { skip: hasPrometheus ? false : 'prometheus/promtool not installed (scripts/install-deps.sh)' }, () => {
  const { before, it } = guard({ timeout: 120000 });
  let server;
  let prom;
  let metricsPort;
  const call = async (name, args) => {
    const r = await rawPost(server, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } },
      { headers: { Accept: 'application/json' } });
    assert.equal(r.status, 200, r.text);
    return r.json.result;
  };

  before(async () => {
    server = await startServer({
      wasm: [testPlugin('echo'), testPlugin('observe'), testPlugin('hostile'), testPlugin('traps')],
      plugins: PLUGINS,
      env: { WASIMANCER_METRICS_TOKEN: METRICS_TOKEN },
      args: ['--metrics-bind', '127.0.0.1:0'],
    });
    const m = /metrics served on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(server.stderr);
    assert.ok(m, `no metrics listener in the log:\n${server.stderr}`);
    metricsPort = Number(m[1]);
    for (let i = 0; i < 5; i++) assert.equal((await call('echo', { text: `hi ${i}` })).content[0].text, JSON.stringify({ text: `hi ${i}` }));
    for (let i = 0; i < 2; i++) assert.equal((await call('fail', { reason: 'no' })).isError, true);
    const denied = await call('fetch', { url: 'http://127.0.0.1:9/' });
    assert.equal(denied.isError, true);
    assert.match(denied.content[0].text, /not allowed/);
    // invalid arguments (a number for a string): refused before the plugin runs (-32602 before
    // protocol 2025-11-25, an isError result from it on)
    const bad = await rawPost(server, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 5 } } },
      { headers: { Accept: 'application/json' } });
    assert.ok(bad.json.error?.code === -32602 || bad.json.result?.isError === true, bad.text);
    // Limits broken inside the worker.
    assert.match((await call('spin', {})).content[0].text, /timeout|time limit|timed out/i);
    assert.equal((await call('trap', {})).isError, true);
    assert.equal((await call('bomb', {})).isError, true);
    // A worker killed in the middle of a call: that call fails with a crash.
    const pending = call('victim', {});
    const worker = await waitFor(() => descendants(server.proc.pid).find((d) => {
      try {
        return fs.readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').includes('__worker\0victim') &&
          fs.readFileSync(`/proc/${d.pid}/stat`, 'utf8').split(') ')[1].startsWith('R');
      } catch { return false; }
    }), { what: 'the victim worker running its call' });
    process.kill(worker.pid, 'SIGKILL');
    const crashed = await pending;
    assert.equal(crashed.isError, true);
    assert.match(crashed.content[0].text, /crash|signal|died|killed/i);
  });
  after(async () => {
    await prom?.stop();
    await server?.stop();
  });

  it('needs the admin token or the metrics token on the main port', async () => {
    const get = (headers = {}) => fetch(`${server.base}/metrics`, { headers });
    let r = await get();
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    r = await get({ Authorization: `Bearer ${server.authToken}` });  // the MCP token is not enough
    assert.equal(r.status, 401);
    for (const token of [server.adminToken, METRICS_TOKEN]) {
      r = await get({ Authorization: `Bearer ${token}` });
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    }
    // The metrics listener serves /metrics without a token, and no MCP and no admin API.
    r = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(r.status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/mcp`, { method: 'POST', body: '{}' })).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/plugins`, { headers: { Authorization: `Bearer ${server.adminToken}` } })).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/ui`)).status, 404);
  });

  it('exposes the tool calls by outcome, and promtool accepts the exposition', async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const line = (l) => assert.ok(text.includes(`${l}\n`), `missing "${l}" in:\n${text}`);
    line('wasimancer_tool_calls_total{tool="echo",plugin="echo",version="1.0.0",outcome="ok"} 5');
    line('wasimancer_tool_calls_total{tool="fail",plugin="echo",version="1.0.0",outcome="plugin_error"} 2');
    line('wasimancer_tool_calls_total{tool="fetch",plugin="fetcher",version="0.1.0",outcome="denied_host"} 1');
    line('wasimancer_tool_calls_total{tool="echo",plugin="echo",version="1.0.0",outcome="invalid_arguments"} 1');
    line('wasimancer_tool_call_duration_seconds_count{tool="echo",plugin="echo",version="1.0.0"} 5');
    line('wasimancer_host_http_requests_total{outcome="denied"} 1');
    // Calls run in sandbox worker processes, each way of failing under its own outcome.
    line('wasimancer_tool_calls_total{tool="spin",plugin="hostile",version="0.3.0",outcome="timeout"} 1');
    line('wasimancer_tool_calls_total{tool="trap",plugin="traps",version="0.5.0",outcome="trap"} 1');
    line('wasimancer_tool_calls_total{tool="bomb",plugin="hostile",version="0.3.0",outcome="oom"} 1');
    line('wasimancer_tool_calls_total{tool="victim",plugin="victim",version="0.4.0",outcome="crash"} 1');
    line('wasimancer_sandbox_worker_crashes_total{plugin="victim"} 1');
    assert.match(text, /wasimancer_sandbox_workers_started_total [1-9]/);
    assert.match(text, /wasimancer_plugin_info\{plugin="victim",version="0\.4\.0",tier="[^"]+",isolation="process",quarantined="false"\} 1/);
    assert.match(text, /wasimancer_plugin_info\{plugin="echo",version="1\.0\.0",tier="[^"]+",isolation="process",quarantined="false"\} 1/);
    assert.match(text, /# TYPE wasimancer_tool_call_duration_seconds histogram/);
    // Every series once (the metrics listener and the main port share one registry).
    const series = text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.slice(0, l.lastIndexOf(' ')));
    assert.deepEqual(series.filter((x, i) => series.indexOf(x) !== i), []);
    const check = promtool(text);
    assert.equal(check.code, 0, check.output);
    assert.equal(check.output.trim(), '', check.output);
  });

  it('counts sessions, streams and requests by transport and protocol revision, stateless ones too', async () => {
    const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const sample = (text, name, labels) => {
      const want = `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}} `;
      const l = text.split('\n').find((x) => x.startsWith(want));
      return l === undefined ? undefined : Number(l.slice(want.length));
    };
    const before = await metrics();
    const stateless0 = sample(before, 'wasimancer_mcp_requests_total', { transport: 'streamable', protocol: '2026-07-28', mode: 'stateless' }) ?? 0;
    // Two stateless 2026-07-28 requests: a tools/list and a tools/call (no session is made for them).
    let r = await stateless(server, 'tools/list');
    assert.equal(r.status, 200, r.text);
    r = await stateless(server, 'tools/call', { name: 'echo', arguments: { text: 'x' } }, { name: 'echo' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.result.content[0].text, '{"text":"x"}');
    let text = await metrics();
    assert.equal(sample(text, 'wasimancer_mcp_requests_total', { transport: 'streamable', protocol: '2026-07-28', mode: 'stateless' }), stateless0 + 2);
    assert.equal(sample(text, 'wasimancer_sessions', { transport: 'streamable', protocol: '2026-07-28' }), undefined, 'no session for them');
    // A session of the stateful era, and the legacy transport's session with its stream.
    const session = await rawSession(server, '2025-06-18');
    r = await rawPost(server, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { headers: { Accept: 'application/json', ...session.headers } });
    assert.equal(r.status, 200, r.text);
    const legacy = new AbortController();
    const sse = await fetch(`${server.base}/sse`, { headers: { ...server.authHeaders, Accept: 'text/event-stream' }, signal: legacy.signal });
    assert.equal(sse.status, 200);
    // A 2026-07-28 subscriptions/listen stream: an open stream that belongs to no session.
    const listen = new AbortController();
    const listenRes = await fetch(`${server.base}/mcp`, {
      method: 'POST', signal: listen.signal,
      headers: { ...server.authHeaders, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
        'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'subscriptions/listen' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 12, method: 'subscriptions/listen',
        params: { notifications: { toolsListChanged: true },
          _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } }),
    });
    assert.equal(listenRes.status, 200);
    try {
      await waitFor(async () => {
        text = await metrics();
        return sample(text, 'wasimancer_open_streams', { transport: 'streamable', protocol: '2026-07-28' }) === 1 &&
          sample(text, 'wasimancer_open_streams', { transport: 'legacy', protocol: 'uninitialized' }) === 1;
      }, { what: 'the listen and legacy streams in /metrics' });
      assert.equal(sample(text, 'wasimancer_sessions', { transport: 'streamable', protocol: '2025-06-18' }), 1);
      assert.equal(sample(text, 'wasimancer_sessions', { transport: 'legacy', protocol: 'uninitialized' }), 1);
      assert.equal(sample(text, 'wasimancer_mcp_requests_in_flight', { transport: 'streamable', protocol: '2026-07-28', mode: 'stateless' }), 1,
        'the listen request is in flight while its stream is open');
      // initialize (labelled with the version it negotiates) and tools/list
      assert.ok(sample(text, 'wasimancer_mcp_requests_total', { transport: 'streamable', protocol: '2025-06-18', mode: 'session' }) >= 2);
    } finally {
      listen.abort();
      legacy.abort();
    }
    // Closed streams leave the figures (the server notices when a write fails: its keep-alive
    // comments come every 15 s).
    await waitFor(async () => {
      text = await metrics();
      return sample(text, 'wasimancer_open_streams', { transport: 'streamable', protocol: '2026-07-28' }) === undefined &&
        sample(text, 'wasimancer_sessions', { transport: 'legacy', protocol: 'uninitialized' }) === undefined;
    }, { what: 'the closed streams to leave /metrics', timeoutMs: 60000 });
  });

  it('answers /healthz, /readyz and /health', async () => {
    for (const base of [server.base, `http://127.0.0.1:${metricsPort}`]) {
      let r = await fetch(`${base}/healthz`);
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { status: 'ok' });
      r = await fetch(`${base}/readyz`);
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { status: 'ready', checks: { plugins: 'ok' } });
    }
    const r = await fetch(`${server.base}/health`);
    assert.deepEqual(await r.json(), { status: 'ok' });
  });

  it('is scraped by Prometheus, which reads the same figures', async () => {
    // A session and an admin change, to see them counted too.
    await rawSession(server);
    const admin = adminApi(server);
    const removed = await admin.removePlugin('fetcher');
    assert.equal(removed.status, 200, removed.text);
    const failed = await admin.removePlugin('fetcher');
    assert.equal(failed.status, 404);

    prom = await startPrometheus([
      { name: 'open', port: metricsPort },
      { name: 'token', port: server.port, token: METRICS_TOKEN },
    ]);
    const value = async (expr) => {
      const r = await prom.query(expr);
      return r.length ? r[0].value : undefined;
    };
    const expect = async (expr, want) => {
      let last;
      try {
        await waitFor(async () => (last = await value(expr)) === want, { what: `${expr} == ${want} in Prometheus`, timeoutMs: 60000 });
      } catch (e) {
        throw new Error(`${e.message} (last value: ${last})`);
      }
    };
    await expect('up{job="open"}', 1);
    await expect('up{job="token"}', 1);
    for (const job of ['open', 'token']) {
      // 5 calls at the start, 1 stateless one since
      await expect(`wasimancer_tool_calls_total{job="${job}",tool="echo",outcome="ok"}`, 6);
      await expect(`wasimancer_tool_calls_total{job="${job}",tool="fail",outcome="plugin_error"}`, 2);
      await expect(`wasimancer_tool_calls_total{job="${job}",tool="fetch",outcome="denied_host"}`, 1);
      await expect(`wasimancer_tool_call_duration_seconds_count{job="${job}",tool="echo"}`, 6);
    }
    await expect('wasimancer_admin_changes_total{job="open",object="plugin",action="remove",result="ok"}', 1);
    await expect('wasimancer_admin_changes_total{job="open",object="plugin",action="remove",result="error"}', 1);
    await expect('wasimancer_sessions{job="open",transport="streamable",protocol="2025-11-25"}', 1);
    await expect('count(wasimancer_plugin_info{job="open"})', 4);  // fetcher is gone (echo, hostile, traps, victim remain)
    // HTTP answers by route and status: at least our 9 tools/call POSTs answered 200 on /mcp.
    const mcp200 = await value('wasimancer_http_responses_total{job="open",route="/mcp",status="200"}');
    assert.ok(mcp200 >= 9, `route="/mcp",status="200": ${mcp200}`);
    // A quantile from the histogram: the echo calls took less than a minute.
    const p99 = await value('histogram_quantile(0.99, sum by (le) (wasimancer_tool_call_duration_seconds_bucket{job="open",tool="echo"}))');
    assert.ok(p99 > 0 && p99 <= 60, `p99 ${p99}`);
  });
});
