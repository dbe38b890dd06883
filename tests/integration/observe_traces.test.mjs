// Traces and logs: a traceparent from the HTTP header or MCP _meta (or a new trace) goes on
// every log line of the request, into the plugin's log records and onto its outgoing
// http_request; spans (the MCP request, the plugin call, each host HTTP request) are exported
// with OTLP/HTTP JSON to a receiver written here; --log-format json writes one object per line
// with one info line per tool call (tool, version, tier, outcome, ms). All on 127.0.0.1.
import assert from 'node:assert/strict';
import { after, describe } from 'node:test';

import { guard, rawPost, startServer, testPlugin } from '../node/server.mjs';
import { startHttpTarget, startOtlpReceiver, waitFor } from './observe_helpers.mjs';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

const plugins = {
  plugins: [
    {
      name: 'fetcher', path: 'observe.wasm', version: '0.2.0', allowedHosts: ['127.0.0.1'],
      functions: [{ displayName: 'fetch', function: 'fetch', arguments: [{ name: 'url', type: 'string' }] }],
    },
    { name: 'echo', path: 'echo.wasm', version: '1.0.0', functions: [{ displayName: 'echo', function: 'echo' }] },
  ],
};

for (const isolation of ['process', 'none']) {
  describe(`observe: traces and logs (isolation ${isolation})`, () => {
    const { before, it } = guard({ timeout: 60000 });
    let server, otlp, target;
    const call = (name, args, { headers = {}, meta } = {}) => rawPost(server,
      { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) } },
      { headers: { Accept: 'application/json', ...headers } });

    before(async () => {
      otlp = await startOtlpReceiver();
      target = await startHttpTarget();
      server = await startServer({
        wasm: [testPlugin('observe'), testPlugin('echo')],
        plugins,
        env: { WASIMANCER_OTLP_ENDPOINT: otlp.endpoint, WASIMANCER_ISOLATION: isolation },
        args: ['--log-format', 'json'],
      });
    });
    after(async () => {
      await server?.stop();
      await otlp?.close();
      await target?.close();
    });

    it('carries the HTTP traceparent to logs, the plugin\'s request and the spans', async () => {
      const r = await call('fetch', { url: `${target.url}/ping` }, { headers: { traceparent: `00-${TRACE}-${CALLER_SPAN}-01` } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.result.content[0].text, 'pong');
      // The plugin's outgoing request carried a traceparent of the same trace (a new span).
      assert.equal(target.requests.length, 1);
      const sent = target.requests[0].headers.traceparent;
      assert.match(sent, new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
      const httpSpanId = sent.split('-')[2];
      assert.notEqual(httpSpanId, CALLER_SPAN);

      // Spans: MCP request (server, child of the caller) -> plugin call -> HTTP GET (client).
      await waitFor(() => otlp.spans.filter((s) => s.traceId === TRACE).length >= 3, { what: 'three spans of the trace' });
      const spans = otlp.spans.filter((s) => s.traceId === TRACE);
      const request = spans.find((s) => s.kind === 2);
      const pluginCall = spans.find((s) => s.name === 'plugin call');
      const httpSpan = spans.find((s) => s.kind === 3);
      assert.ok(request && pluginCall && httpSpan, JSON.stringify(spans, null, 1));
      assert.equal(request.name, 'tools/call');
      assert.equal(request.parentSpanId, CALLER_SPAN);
      assert.equal(request.attributes['mcp.tool'], 'fetch');
      assert.equal(pluginCall.parentSpanId, request.spanId);
      assert.equal(pluginCall.attributes['wasimancer.plugin'], 'fetcher');
      assert.equal(pluginCall.attributes['wasimancer.outcome'], 'ok');
      assert.equal(httpSpan.parentSpanId, pluginCall.spanId);
      assert.equal(httpSpan.spanId, httpSpanId);
      assert.equal(httpSpan.name, 'HTTP GET');
      assert.equal(httpSpan.attributes['http.response.status_code'], '200');
      assert.equal(httpSpan.resource['service.name'], 'wasimancer');
      for (const s of spans) assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano));
      assert.ok(otlp.requests.every((q) => q.contentType === 'application/json'));

      // Logs: JSON lines; the plugin's own log record and the call's info line carry the trace.
      await waitFor(() => /"outcome":"ok"/.test(server.stderr), { what: 'the tool call log line' });
      const lines = server.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      const mine = lines.filter((l) => l.trace_id === TRACE);
      const pluginLog = mine.find((l) => l.msg.includes(`fetching ${target.url}/ping`));
      assert.ok(pluginLog, `no plugin log line with the trace:\n${server.stderr}`);
      const callLine = mine.find((l) => l.tool === 'fetch');
      assert.ok(callLine, `no call line with the trace:\n${server.stderr}`);
      assert.equal(callLine.level, 'info');
      assert.equal(callLine.plugin, 'fetcher');
      assert.equal(callLine.version, '0.2.0');
      assert.equal(callLine.outcome, 'ok');
      assert.equal(typeof callLine.ms, 'number');
      assert.match(callLine.tier, /interpreter|native/);
      // One info line per tool call, not two.
      assert.equal(lines.filter((l) => l.tool === 'fetch').length, 1);
      // Every JSON line is an object with time, level and msg.
      for (const l of lines) assert.ok(l.time && l.level && typeof l.msg === 'string', JSON.stringify(l));
    });

    it('takes the trace from _meta.traceparent, or starts a new one', async () => {
      const metaTrace = 'abcdef0123456789abcdef0123456789';
      let r = await call('echo', {}, { meta: { traceparent: `00-${metaTrace}-1111111111111111-01` } });
      assert.equal(r.status, 200, r.text);
      await waitFor(() => otlp.spans.some((s) => s.traceId === metaTrace && s.kind === 2), { what: 'the _meta trace span' });
      const span = otlp.spans.find((s) => s.traceId === metaTrace && s.kind === 2);
      assert.equal(span.parentSpanId, '1111111111111111');

      const before = new Set(otlp.spans.map((s) => s.traceId));
      r = await call('echo', {}, { headers: { traceparent: 'not a traceparent' } });
      assert.equal(r.status, 200, r.text);
      await waitFor(() => otlp.spans.some((s) => !before.has(s.traceId) && s.kind === 2 && s.attributes['mcp.tool'] === 'echo'),
        { what: 'a span of a new trace' });
      const fresh = otlp.spans.find((s) => !before.has(s.traceId) && s.kind === 2);
      assert.equal(fresh.parentSpanId ?? '', '');
      assert.match(fresh.traceId, /^[0-9a-f]{32}$/);
      const lines = server.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      assert.ok(lines.some((l) => l.trace_id === fresh.traceId && l.tool === 'echo'), 'the new trace is on the call line');
    });

    it('takes the trace from the _meta of a stateless 2026-07-28 request', async () => {
      const trace = 'fedcba9876543210fedcba9876543210';
      const r = await rawPost(server, {
        jsonrpc: '2.0', id: 9, method: 'tools/call',
        params: {
          name: 'fetch', arguments: { url: `${target.url}/stateless` },
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {},
            traceparent: `00-${trace}-3333333333333333-01`,
          },
        },
      }, { headers: { Accept: 'application/json', 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/call', 'Mcp-Name': 'fetch' } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.result.content[0].text, 'pong');
      const sent = target.requests.find((q) => q.url === '/stateless');
      assert.match(sent.headers.traceparent, new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`));
      await waitFor(() => otlp.spans.filter((s) => s.traceId === trace).length >= 3, { what: 'the stateless request\'s spans' });
      const request = otlp.spans.find((s) => s.traceId === trace && s.kind === 2);
      assert.equal(request.parentSpanId, '3333333333333333');
      await waitFor(() => server.stderr.split('\n').some((l) => l.includes(`"trace_id":"${trace}"`) && l.includes('"tool":"fetch"')),
        { what: 'the call line with the stateless request\'s trace' });
      const lines = server.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      assert.ok(lines.some((l) => l.trace_id === trace && l.msg.includes(`fetching ${target.url}/stateless`)), 'the plugin\'s log line');
    });

    it('marks failed calls and denied hosts in the spans', async () => {
      const r = await call('fetch', { url: 'http://192.0.2.1/' }, { headers: { traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` } });
      assert.equal(r.json.result.isError, true);
      await waitFor(() => otlp.spans.filter((s) => s.traceId === '1'.repeat(32)).length >= 3, { what: 'the failed call spans' });
      const spans = otlp.spans.filter((s) => s.traceId === '1'.repeat(32));
      const httpSpan = spans.find((s) => s.kind === 3);
      assert.equal(httpSpan.status.code, 2);
      assert.match(httpSpan.status.message, /not allowed/);
      assert.equal(spans.find((s) => s.name === 'plugin call').attributes['wasimancer.outcome'], 'denied_host');
      assert.equal(spans.find((s) => s.kind === 2).status.code, 2);
    });
  });
}

describe('observe: text logs', () => {
  const { before, it } = guard({ timeout: 60000 });
  let server;
  before(async () => {
    server = await startServer({ wasm: [testPlugin('echo')], plugins: { plugins: [plugins.plugins[1]] } });
  });
  after(async () => { await server?.stop(); });

  it('puts the trace id on the tool call line', async () => {
    const r = await rawPost(server, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: {} } },
      { headers: { Accept: 'application/json', traceparent: `00-${TRACE}-${CALLER_SPAN}-01` } });
    assert.equal(r.status, 200, r.text);
    await waitFor(() => server.stderr.includes('tool echo (plugin echo 1.0.0'), { what: 'the call line' });
    const line = server.stderr.split('\n').find((l) => l.includes('tool echo (plugin echo 1.0.0'));
    assert.match(line, new RegExp(`info +\\[trace=${TRACE}\\] tool echo \\(plugin echo 1\\.0\\.0, .+\\): ok in \\d+ ms`));
  });
});
