// requires: third-party plugins (WASImancer's samples, through tests/node/fixtures.mjs; see scripts/run-tests.sh)
// Raw HTTP against /mcp: every malformed or refused request gets the right status and a clear
// message (tokens, JSON, content types, Accept, sessions, methods, Host/Origin, protocol
// versions), and the lenient paths WASImancer's users rely on keep working (stateless POST with
// an SSE answer, JSON when only JSON is accepted, 2025-03-26 batches).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe } from 'node:test';

import { PLUGINS, PROMPTS, RESOURCES, WASM } from '../node/fixtures.mjs';
import {
  ADMIN_TOKEN, AUTH_TOKEN, adminApi, connectStreamable, guard, httpRequest, initializeRequest, rawPost, rawSession, startServer,
  killProcesses, processesUnder, testPlugin, waitForOutput, wasimancerPlugin, withCustomSection,
} from '../node/server.mjs';
import { Client, StreamableHTTPClientTransport, StreamableHTTPError } from '../node/sdk.mjs';

const { before, it } = guard();

const toolsList = (id = 1) => ({ jsonrpc: '2.0', id, method: 'tools/list', params: {} });

// A JSON-RPC error body as the SDK's own server sends it: {"jsonrpc":"2.0","error":{code,message},"id":null}.
function assertRpcErrorBody(res, code, pattern) {
  assert.ok(res.json, `a JSON body: ${res.text}`);
  assert.equal(res.json.jsonrpc, '2.0', res.text);
  assert.equal(res.json.error?.code, code, res.text);
  assert.equal(typeof res.json.error.message, 'string');
  if (pattern) assert.match(res.json.error.message, pattern);
}

function assertNoToken(res) {
  for (const [k, v] of Object.entries(res.headers instanceof Headers ? Object.fromEntries(res.headers) : res.headers)) {
    assert.ok(!String(v).includes(AUTH_TOKEN) && !String(v).includes(ADMIN_TOKEN), `header ${k} carries a token`);
  }
  assert.ok(!res.text.includes(AUTH_TOKEN) && !res.text.includes(ADMIN_TOKEN), `the body carries a token: ${res.text}`);
}

let server;
before(async () => {
  server = await startServer({
    wasm: WASM, plugins: PLUGINS, resources: RESOURCES, prompts: PROMPTS,
    env: { WASIMANCER_MAX_BODY_BYTES: 65536 },
  });
});
after(async () => {
  await server?.stop();
});

describe('authentication (WASIMANCER_AUTHENTICATION_TOKEN)', () => {
  it('a missing token gets 401 with WWW-Authenticate and a JSON body', async () => {
    const res = await rawPost(server, toolsList(), { auth: false });
    assert.equal(res.status, 401, res.text);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b.*error="invalid_token"/);
    assert.equal(res.json?.error, 'invalid_token', res.text);
    assert.match(res.json.error_description, /token/i);
    assertNoToken(res);
  });

  it('a wrong token gets 401, and neither token is echoed back', async () => {
    const wrong = 'Bearer not-the-token-9f8e7d';
    const res = await rawPost(server, toolsList(), { headers: { Authorization: wrong } });
    assert.equal(res.status, 401, res.text);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/);
    assert.equal(res.json?.error, 'invalid_token');
    assert.ok(!res.text.includes('not-the-token-9f8e7d'));
    assertNoToken(res);
    for (const bad of ['Basic dXNlcjpwYXNz', AUTH_TOKEN, `Bearer ${AUTH_TOKEN}x`, `Bearer ${AUTH_TOKEN.slice(0, -1)}`, 'Bearer ']) {
      const r = await rawPost(server, toolsList(), { headers: { Authorization: bad } });
      assert.equal(r.status, 401, `Authorization: ${bad}`);
    }
  });

  it('the token protects GET, DELETE, /sse and /messages too', async () => {
    for (const [method, p] of [['GET', '/mcp'], ['DELETE', '/mcp'], ['GET', '/sse'], ['POST', '/messages?sessionId=x']]) {
      const res = await httpRequest(server, { method, path: p, headers: { Accept: 'text/event-stream', 'Content-Type': 'application/json' },
        body: method === 'POST' ? '{}' : undefined });
      assert.equal(res.status, 401, `${method} ${p}: ${res.text}`);
    }
  });

  it('the SDK client fails to connect without the token', async () => {
    const client = new Client({ name: 't', version: '1' });
    const transport = new StreamableHTTPClientTransport(server.mcpUrl);
    await assert.rejects(client.connect(transport), (e) => {
      assert.ok(e instanceof StreamableHTTPError, String(e));
      assert.equal(e.code, 401, String(e));
      assert.match(e.message, /bearer token/i);
      return true;
    });
    await client.close().catch(() => {});
  });

  it('initialize never echoes the token (serverInfo and everything else)', async () => {
    const res = await rawPost(server, initializeRequest(1));
    assert.equal(res.status, 200, res.text);
    assert.ok(res.json.result.serverInfo.name);
    assert.equal(res.json.result.serverInfo.auth, undefined);
    assertNoToken(res);
    // Tokens set by the environment are not written to the log either (only generated ones are).
    assert.ok(!server.stderr.includes(AUTH_TOKEN) && !server.stderr.includes(ADMIN_TOKEN), 'the server log carries a token');
  });

  it('the admin API refuses the MCP token and a missing token with 403', async () => {
    for (const auth of [undefined, `Bearer ${AUTH_TOKEN}`]) {
      const res = await fetch(`${server.base}/remove-prompt/code-analyst`, { method: 'DELETE', headers: auth ? { Authorization: auth } : {} });
      const text = await res.text();
      assert.equal(res.status, 403, text);
      assert.equal(typeof JSON.parse(text).error, 'string');
    }
  });
});

describe('NO_AUTHENTICATION', () => {
  let open;
  before(async () => {
    open = await startServer({ wasm: WASM, plugins: PLUGINS, authToken: 'NO_AUTHENTICATION' });
  });
  after(async () => open?.stop());

  it('disables authentication: requests without a token are served', async () => {
    const res = await rawPost(open, toolsList(), { auth: false });
    assert.equal(res.status, 200, res.text);
    assert.ok(res.json.result.tools.length > 0);
    const withAny = await rawPost(open, toolsList(), { headers: { Authorization: 'Bearer whatever' } });
    assert.equal(withAny.status, 200, withAny.text);
  });

  it('the SDK client connects without headers', async () => {
    const conn = await connectStreamable(open, { headers: {} });
    try {
      assert.ok((await conn.client.listTools()).tools.length > 0);
    } finally {
      await conn.client.close();
    }
  });
});

describe('request format', () => {
  it('malformed JSON gets 400 with a -32700 parse error', async () => {
    const res = await rawPost(server, '{"jsonrpc": "2.0", "id": 1, "method": "tools/list"');
    assert.equal(res.status, 400, res.text);
    assertRpcErrorBody(res, -32700, /parse/i);
    assert.equal(res.json.id, null);
  });

  it('a body that is not a JSON-RPC message gets 400 with -32600', async () => {
    for (const body of [{ hello: 'world' }, { jsonrpc: '1.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', id: 1, method: 42 }, 42, []]) {
      const res = await rawPost(server, body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status} ${res.text}`);
      assertRpcErrorBody(res, -32600);
    }
  });

  it('a batch of invalid entries is refused with an error, not accepted silently (202)', async () => {
    const headers = { 'MCP-Protocol-Version': '2025-03-26', Accept: 'application/json' };
    const res = await rawPost(server, [1, 2, 3], { headers });
    // Either the whole body is refused (400, as the SDK's server does), or each entry gets its
    // own -32600 error (JSON-RPC 2.0 §6).
    if (res.status === 400) {
      assertRpcErrorBody(res, res.json?.error?.code === -32700 ? -32700 : -32600);
    } else {
      assert.equal(res.status, 200, `[1,2,3] got ${res.status} ${JSON.stringify(res.text)}`);
      assert.ok(Array.isArray(res.json) && res.json.length === 3 && res.json.every((m) => m.error?.code === -32600 && m.id === null), res.text);
    }
  });

  it('an invalid entry inside a batch gets its own -32600 error next to the valid answers', async () => {
    const headers = { 'MCP-Protocol-Version': '2025-03-26', Accept: 'application/json' };
    const res = await rawPost(server, [{ jsonrpc: '2.0', id: 1, method: 'ping' }, 5], { headers });
    if (res.status === 400) {
      assertRpcErrorBody(res, -32600);
    } else {
      assert.equal(res.status, 200, res.text);
      assert.ok(Array.isArray(res.json), res.text);
      assert.deepEqual(res.json.find((m) => m.id === 1)?.result, {}, res.text);
      assert.ok(res.json.some((m) => m.id === null && m.error?.code === -32600), `no error for the invalid entry: ${res.text}`);
    }
  });

  it('a wrong Content-Type gets 415', async () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded']) {
      const res = await rawPost(server, toolsList(), { headers: { 'Content-Type': ct } });
      assert.equal(res.status, 415, `${ct}: ${res.text}`);
      assertRpcErrorBody(res, -32000, /Content-Type/i);
    }
    const charset = await rawPost(server, toolsList(), { headers: { 'Content-Type': 'application/json; charset=utf-8' } });
    assert.equal(charset.status, 200, charset.text);
  });

  it('an Accept the server cannot satisfy gets 406', async () => {
    const res = await rawPost(server, toolsList(), { headers: { Accept: 'text/html' } });
    assert.equal(res.status, 406, res.text);
    assertRpcErrorBody(res, -32000, /accept/i);
  });

  it('a body over WASIMANCER_MAX_BODY_BYTES (64 KiB here) gets 413', async () => {
    const big = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(100000) } } };
    const res = await rawPost(server, big);
    assert.equal(res.status, 413, res.text);
    assert.match(res.text, /limit/);
    const args = { text: 'y'.repeat(60000), count: 1, flag: true, tags: [], extra: {} };
    const ok = await rawPost(server, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: args } });
    assert.equal(ok.status, 200, ok.text.slice(0, 200));
    assert.ok(ok.json.result, ok.text.slice(0, 300));
    assert.equal(JSON.parse(ok.json.result.content[0].text).text.length, 60000);
  });

  it('a plugin upload over the MCP body limit but under the 10 MB upload limit is accepted', async () => {
    // echo.wasm plus a 5 MB custom section: a valid module larger than WASIMANCER_MAX_BODY_BYTES
    // (64 KiB here; 4 MiB by default).
    const wasm = withCustomSection(fs.readFileSync(testPlugin('echo')), 'padding', 5 * 1024 * 1024);
    const file = path.join(server.dir, 'big-echo.wasm');
    fs.writeFileSync(file, wasm);
    const res = await adminApi(server).uploadPlugin(file, {
      name: 'big-echo', path: './big-echo.wasm', version: '1.0.0', description: 'echo with padding',
      functions: [{ displayName: 'big_upper', function: 'upper', description: 'upper-cases', arguments: [{ name: 's', type: 'string' }] }],
    });
    assert.equal(res.status, 200, res.text);
    const call = await rawPost(server, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'big_upper', arguments: { s: 'abc' } } });
    assert.equal(call.json.result?.content?.[0]?.text, '{"S":"ABC"}', call.text);
  });

  it('a plugin upload over the upload limit gets 413', async () => {
    const file = path.join(server.dir, 'huge.wasm');
    fs.writeFileSync(file, withCustomSection(fs.readFileSync(testPlugin('echo')), 'padding', 11 * 1024 * 1024));
    const res = await adminApi(server).uploadPlugin(file, { name: 'huge', path: './huge.wasm', functions: [{ function: 'echo' }] });
    assert.equal(res.status, 413, res.text);
    assert.equal(typeof res.body?.error, 'string', res.text);
  });

  it('other HTTP methods on /mcp get 405 with Allow', async () => {
    for (const method of ['PUT', 'PATCH']) {
      const res = await httpRequest(server, { method, headers: { Authorization: `Bearer ${AUTH_TOKEN}`, 'Content-Type': 'application/json' }, body: '{}' });
      assert.equal(res.status, 405, `${method}: ${res.text}`);
      const allow = (res.headers.allow ?? '').split(/\s*,\s*/).sort();
      assert.deepEqual(allow, ['DELETE', 'GET', 'POST']);
      assert.equal(res.json?.error?.code, -32000, res.text);
    }
  });

  it('an unknown path gets 404 with a JSON body', async () => {
    const res = await httpRequest(server, { path: '/nope', headers: { Authorization: `Bearer ${AUTH_TOKEN}` } });
    assert.equal(res.status, 404);
    assert.equal(typeof res.json?.error, 'string');
  });
});

describe('JSON-RPC errors inside a 200 answer', () => {
  it('an unknown method gets -32601', async () => {
    const res = await rawPost(server, { jsonrpc: '2.0', id: 'x', method: 'tools/destroy', params: {} });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.id, 'x');
    assert.equal(res.json.error.code, -32601);
    assert.match(res.json.error.message, /tools\/destroy/);
  });

  it('wrong parameter types get -32602 with a message naming the field', async () => {
    const cases = [
      [{ name: 42 }, /name/],
      [{ name: 'add', arguments: 'left=1' }, /arguments/],
    ];
    for (const [params, pattern] of cases) {
      const res = await rawPost(server, { jsonrpc: '2.0', id: 7, method: 'tools/call', params });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.error?.code, -32602, res.text);
      assert.match(res.json.error.message, pattern);
    }
    const read = await rawPost(server, { jsonrpc: '2.0', id: 8, method: 'resources/read', params: { uri: 5 } });
    assert.equal(read.json.error?.code, -32602, read.text);
    const level = await rawPost(server, { jsonrpc: '2.0', id: 9, method: 'logging/setLevel', params: { level: 'loud' } });
    assert.equal(level.json.error?.code, -32602, level.text);
    const cursor = await rawPost(server, { jsonrpc: '2.0', id: 10, method: 'tools/list', params: { cursor: 'not-a-cursor' } });
    assert.equal(cursor.json.error?.code, -32602, cursor.text);
  });

  it('a wrong argument type is an isError tool result on 2025-11-25, a -32602 error before', async () => {
    const call = (v) => rawPost(server, { jsonrpc: '2.0', id: 11, method: 'tools/call', params: { name: 'add', arguments: { left: 'one', right: 2 } } },
      { headers: { 'MCP-Protocol-Version': v } });
    const now = await call('2025-11-25');
    assert.equal(now.json.result?.isError, true, now.text);
    assert.match(now.json.result.content[0].text, /left/);
    const before = await call('2025-06-18');
    assert.equal(before.json.error?.code, -32602, before.text);
  });

  it('server/discover (2026-07-28) gets an ordinary -32601, never a -3202x code', async () => {
    const res = await rawPost(server, { jsonrpc: '2.0', id: 1, method: 'server/discover', params: {} });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.error?.code, -32601, res.text);
  });
});

describe('protocol version header', () => {
  it('an unsupported MCP-Protocol-Version gets a plain 400 (dual-era clients fall back)', async () => {
    for (const v of ['2026-07-29', '1999-01-01', 'banana']) {
      const res = await rawPost(server, toolsList(), { headers: { 'MCP-Protocol-Version': v } });
      assert.equal(res.status, 400, `${v}: ${res.text}`);
      assertRpcErrorBody(res, -32000, /version/i);
      assert.ok(!(res.json.error.code <= -32020 && res.json.error.code >= -32022));
    }
  });

  it('2026-07-28 without its _meta is a stateless request missing its params: 400 and -32602', async () => {
    const res = await rawPost(server, toolsList(), { headers: { 'MCP-Protocol-Version': '2026-07-28' } });
    assert.equal(res.status, 400, res.text);
    assertRpcErrorBody(res, -32602, /_meta/);
  });

  it('every supported version is accepted', async () => {
    for (const v of ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25']) {
      const res = await rawPost(server, toolsList(), { headers: { 'MCP-Protocol-Version': v } });
      assert.equal(res.status, 200, `${v}: ${res.text}`);
    }
  });

  it('initialize with an unknown version is answered with the latest supported one', async () => {
    const res = await rawPost(server, initializeRequest(1, '2099-01-01'));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.result.protocolVersion, '2025-11-25');
  });
});

describe('Host and Origin (DNS rebinding)', () => {
  const auth = { Authorization: `Bearer ${AUTH_TOKEN}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
  const body = JSON.stringify(toolsList());

  it('Host evil.example.com gets 403', async () => {
    const res = await httpRequest(server, { method: 'POST', headers: { ...auth, Host: 'evil.example.com' }, body });
    assert.equal(res.status, 403, res.text);
    assert.match(res.json?.error?.message ?? '', /Host/);
  });

  it('Origin http://evil.example.com gets 403', async () => {
    const res = await httpRequest(server, { method: 'POST', headers: { ...auth, Origin: 'http://evil.example.com' }, body });
    assert.equal(res.status, 403, res.text);
    assert.match(res.json?.error?.message ?? '', /Origin/);
  });

  it('local Host and Origin values are served', async () => {
    for (const headers of [{ Host: `localhost:${server.port}` }, { Host: `127.0.0.1:${server.port}` },
      { Origin: `http://localhost:${server.port}` }, { Origin: `http://127.0.0.1:${server.port}` }]) {
      const res = await httpRequest(server, { method: 'POST', headers: { ...auth, ...headers }, body });
      assert.equal(res.status, 200, `${JSON.stringify(headers)}: ${res.text}`);
    }
  });
});

describe('sessions', () => {
  it('an unknown session id gets 404 -32001 on POST, GET and DELETE', async () => {
    const sid = 'no-such-session-0123456789';
    const post = await rawPost(server, toolsList(), { headers: { 'Mcp-Session-Id': sid } });
    assert.equal(post.status, 404, post.text);
    assertRpcErrorBody(post, -32001, /session/i);
    for (const method of ['GET', 'DELETE']) {
      const res = await httpRequest(server, { method, headers: { Authorization: `Bearer ${AUTH_TOKEN}`, Accept: 'text/event-stream', 'Mcp-Session-Id': sid } });
      assert.equal(res.status, 404, `${method}: ${res.text}`);
      assert.equal(res.json?.error?.code, -32001);
    }
  });

  it('DELETE without a session id gets 400', async () => {
    const res = await httpRequest(server, { method: 'DELETE', headers: { Authorization: `Bearer ${AUTH_TOKEN}` } });
    assert.equal(res.status, 400, res.text);
    assert.match(res.json?.error?.message ?? '', /Mcp-Session-Id/i);
  });

  it('initialize issues a session; DELETE ends it (200), then it is 404', async () => {
    const { sessionId, headers } = await rawSession(server);
    assert.match(sessionId, /^[\x21-\x7e]{16,}$/);
    const list = await rawPost(server, toolsList(2), { headers });
    assert.equal(list.status, 200, list.text);
    const del = await httpRequest(server, { method: 'DELETE', headers: { Authorization: `Bearer ${AUTH_TOKEN}`, 'Mcp-Session-Id': sessionId } });
    assert.equal(del.status, 200, del.text);
    const after = await rawPost(server, toolsList(3), { headers });
    assert.equal(after.status, 404, after.text);
  });

  it('initialize carrying a stale session id starts a new session (docs/mcp.md §2.2, OmniRoute#5957)', async () => {
    const stale = 'stale-session-id-from-a-restarted-server';
    const res = await rawPost(server, initializeRequest(1), { headers: { 'Mcp-Session-Id': stale } });
    assert.equal(res.status, 200, res.text);
    const sid = res.headers.get('mcp-session-id');
    assert.ok(sid && sid !== stale, `a new session id: ${sid}`);
    assert.equal(res.json.result.protocolVersion, '2025-11-25');
  });

  it('initialize twice on one session gets 400 -32600', async () => {
    const { headers } = await rawSession(server);
    const again = await rawPost(server, initializeRequest(2), { headers });
    assert.equal(again.status, 400, again.text);
    assertRpcErrorBody(again, -32600, /initializ/);
  });

  it('initialize inside a batch with other messages gets 400 -32600', async () => {
    const res = await rawPost(server, [initializeRequest(1, '2025-03-26'), { jsonrpc: '2.0', id: 2, method: 'ping' }]);
    assert.equal(res.status, 400, res.text);
    assertRpcErrorBody(res, -32600);
  });

  it('notifications/cancelled stops a running call: its SSE answer ends with no response', async () => {
    const { headers } = await rawSession(server);
    const call = rawPost(server, { jsonrpc: '2.0', id: 'spin-1', method: 'tools/call', params: { name: 'spin', arguments: {} } }, { headers });
    // The cancel may reach the server before the call: then the call is still answered (a
    // cancel for an unknown id is ignored). Send it until the call's stream has ended.
    let res;
    const poll = (async () => { res = await call; })();
    while (res === undefined) {
      const c = await rawPost(server, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'spin-1', reason: 'test' } }, { headers });
      assert.equal(c.status, 202, c.text);
      await Promise.race([poll, new Promise((resolve) => setImmediate(resolve))]);
    }
    assert.equal(res.status, 200, res.text);
    // Cancels keep coming until the stream ends, so one lands long before the 500 ms timeoutMs;
    // an uncancelled call would end with a timeout answer.
    assert.deepEqual(res.messages.filter((m) => m.id === 'spin-1'), [], `a cancelled call was answered: ${res.text}`);
    const after = await rawPost(server, toolsList(2), { headers });
    assert.equal(after.status, 200, after.text);
  });

  it('sampling needs a session: a stateless call that samples is an isError result', async () => {
    const res = await rawPost(server, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'ask_model', arguments: { question: 'hi' } } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.result?.isError, true, res.text);
    assert.match(res.json.result.content[0].text, /sampling/);
  });

  it('GET stream: Accept without text/event-stream gets 406; a second stream gets 409', async () => {
    const { headers } = await rawSession(server);
    const base = { Authorization: `Bearer ${AUTH_TOKEN}`, ...headers };
    const bad = await httpRequest(server, { headers: { ...base, Accept: 'application/json' } });
    assert.equal(bad.status, 406, bad.text);
    const abort = new AbortController();
    const first = await fetch(server.mcpUrl, { headers: { ...base, Accept: 'text/event-stream' }, signal: abort.signal });
    try {
      assert.equal(first.status, 200);
      assert.match(first.headers.get('content-type'), /^text\/event-stream/);
      const second = await httpRequest(server, { headers: { ...base, Accept: 'text/event-stream' } });
      assert.equal(second.status, 409, second.text);
    } finally {
      abort.abort();
      await first.body?.cancel().catch(() => {});
    }
  });
});

describe('stateless POST (WASImancer style) and answer formats', () => {
  it('a notification-only POST gets 202 with no body', async () => {
    const res = await rawPost(server, { jsonrpc: '2.0', method: 'notifications/initialized' });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.text, '');
    const many = await rawPost(server, [{ jsonrpc: '2.0', method: 'notifications/initialized' }, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 99 } }],
      { headers: { 'MCP-Protocol-Version': '2025-03-26' } });
    assert.equal(many.status, 202, many.text);
  });

  it('tools/list without a session works and answers with SSE when both types are accepted', async () => {
    const res = await rawPost(server, toolsList('1'));
    assert.equal(res.status, 200, res.text);
    assert.match(res.contentType, /^text\/event-stream/);
    assert.equal(res.headers.get('mcp-session-id'), null, 'stateless: no session is created');
    assert.match(res.text, /^event: message\ndata: \{/m);
    assert.equal(res.messages.length, 1);
    assert.equal(res.json.id, '1');
    assert.ok(res.json.result.tools.some((t) => t.name === 'rollDice'));
  });

  it('answers with application/json when only JSON is accepted', async () => {
    for (const accept of ['application/json', '*/*']) {
      const res = await rawPost(server, toolsList(2), { headers: { Accept: accept } });
      assert.equal(res.status, 200, res.text);
      assert.match(res.contentType, /^application\/json/, accept);
      assert.equal(res.json.id, 2);
      assert.ok(Array.isArray(res.json.result.tools));
    }
    const sseOnly = await rawPost(server, toolsList(3), { headers: { Accept: 'text/event-stream' } });
    assert.match(sseOnly.contentType, /^text\/event-stream/);
    assert.equal(sseOnly.json.id, 3);
  });

  it('a stateless tools/call runs the plugin', async () => {
    const res = await rawPost(server, { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'add', arguments: { left: 30, right: 12 } } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(JSON.parse(res.json.result.content[0].text), { value: 42 });
  });

  it('a 2025-03-26 batch is answered, one response per request', async () => {
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'add', arguments: { left: 2, right: 3 } } },
      { jsonrpc: '2.0', id: 3, method: 'no/such' },
    ];
    const headers = { 'MCP-Protocol-Version': '2025-03-26' };
    const json = await rawPost(server, batch, { headers: { ...headers, Accept: 'application/json' } });
    assert.equal(json.status, 200, json.text);
    assert.ok(Array.isArray(json.json), json.text);
    const byId = Object.fromEntries(json.json.map((m) => [m.id, m]));
    assert.deepEqual(Object.keys(byId).sort(), ['1', '2', '3']);
    assert.deepEqual(byId[1].result, {});
    assert.deepEqual(JSON.parse(byId[2].result.content[0].text), { value: 5 });
    assert.equal(byId[3].error.code, -32601);
    const sse = await rawPost(server, batch, { headers });
    assert.equal(sse.status, 200, sse.text);
    assert.deepEqual(sse.messages.map((m) => m.id).sort(), [1, 2, 3]);
  });

  it('a batch in a session negotiated at 2025-03-26 works', async () => {
    const { headers } = await rawSession(server, '2025-03-26');
    assert.equal(headers['MCP-Protocol-Version'], '2025-03-26');
    const res = await rawPost(server, [toolsList(1), { jsonrpc: '2.0', id: 2, method: 'resources/list' }], { headers });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.messages.map((m) => m.id).sort(), [1, 2]);
  });
});

describe('shutdown', () => {
  it('SIGTERM ends the server (exit 0) and leaves no compiler running, even while a native build runs', async () => {
    // A C compiler that never finishes (CC: a script that sleeps for 10 minutes in the build
    // folder) and an empty native-tier cache: a build is certainly running when SIGTERM comes.
    // A server that waited for it would not exit by itself within the 60 s allowed, so no
    // wall-clock figure is needed (the machine may be busy).
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'wasimancer-it-cache-'));
    const cc = path.join(cache, 'stuck-cc');
    fs.writeFileSync(cc, '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
    let s;
    try {
      s = await startServer({
        wasm: [wasimancerPlugin('wasimancer-plugin-roll-dice.wasm')],
        plugins: { plugins: [PLUGINS.plugins.find((p) => p.name === 'roll dice')] },
        env: { WASIMANCER_NATIVE: 'on', WASIMANCER_NATIVE_CACHE: cache, CC: cc },
      });
      // Wait for the stuck compiler to run (its cwd is in the cache folder); a machine without
      // wasm2c never gets there: go on anyway.
      for (let i = 0; i < 600 && !processesUnder(cache).some((p) => p.pid); i += 1) await new Promise((r) => setTimeout(r, 100));
      const call = await rawPost(s, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'rollDice', arguments: { numFaces: 6, numDice: 1 } } });
      assert.equal(call.status, 200, call.text);
      const stderr = () => s.stderr.split('\n').filter((l) => /native|signal|shutting/i.test(l)).join('\n');
      const exit = await s.terminate(60000);
      const left = processesUnder(cache);
      killProcesses(left);
      assert.ok(!exit.killed && exit.code === 0, `exit ${JSON.stringify(exit)}; server log:\n${stderr()}`);
      assert.match(s.stderr, /signal 15 received: shutting down/, 'the server saw SIGTERM and shut down in order');
      assert.deepEqual(left.map((p) => p.pid), [], `processes the server started outlived it (cwd in ${cache}); server log:\n${stderr()}`);
    } finally {
      await s?.stop();
      killProcesses(processesUnder(cache));
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });
});
