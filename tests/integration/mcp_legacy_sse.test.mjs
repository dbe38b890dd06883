// requires: third-party plugins (WASImancer's samples, through tests/node/fixtures.mjs; see scripts/run-tests.sh)
// The SDK's legacy HTTP+SSE client transport (protocol 2024-11-05 style: GET opens the stream, the
// first event names the POST endpoint, every answer comes back on the stream) against the real
// server, on /sse and on /mcp (a GET on /mcp without a session id is the legacy stream, as in
// WASImancer).
import assert from 'node:assert/strict';
import { after, describe } from 'node:test';

import { PLUGINS, PROMPTS, RESOURCES, WASM, rejectsWith, text } from '../node/fixtures.mjs';
import { Notifications, connectSse, guard, isSdkProgressRace, rawPost, startServer } from '../node/server.mjs';
import { ErrorCode, LoggingMessageNotificationSchema, SSEClientTransport, Client } from '../node/sdk.mjs';

const { before, it } = guard();

let server;
before(async () => {
  server = await startServer({ wasm: WASM, plugins: PLUGINS, resources: RESOURCES, prompts: PROMPTS });
});
after(async () => {
  await server?.stop();
});

for (const ssePath of ['/sse', '/mcp']) {
  describe(`legacy HTTP+SSE on GET ${ssePath}`, () => {
    let conn;
    let client;
    before(async () => {
      conn = await connectSse(server, { path: ssePath });
      client = conn.client;
    });
    after(async () => {
      await conn?.client.close().catch(() => {});
    });

    it('initializes and posts to the endpoint the stream announced', () => {
      const endpoint = conn.transport._endpoint;
      assert.ok(endpoint instanceof URL, 'the endpoint event was received');
      assert.equal(endpoint.origin, server.base);
      assert.equal(endpoint.pathname, '/messages');
      assert.ok(endpoint.searchParams.get('sessionId'));
      assert.ok(client.getServerCapabilities().tools);
    });

    it('lists tools', async () => {
      const { tools } = await client.listTools();
      assert.ok(tools.length >= 5);
      const dice = tools.find((t) => t.name === 'rollDice');
      assert.equal(dice.description, 'a function to roll dice');
      assert.deepEqual(Object.keys(dice.inputSchema.properties), ['numFaces', 'numDice']);
    });

    it('calls tools backed by real plugins', async () => {
      const dice = await client.callTool({ name: 'rollDice', arguments: { numFaces: 6, numDice: 2 } });
      const n = Number(text(dice).trim());
      assert.ok(Number.isInteger(n) && n >= 2 && n <= 12, `2d6 gave ${text(dice)}`);
      const sum = await client.callTool({ name: 'add', arguments: { left: 30, right: 12 } });
      assert.deepEqual(JSON.parse(text(sum)), { value: 42 });
      const hello = await client.callTool({ name: 'sayHello', arguments: { name: 'Jane' } });
      assert.ok(text(hello).includes('Jane'));
      const failed = await client.callTool({ name: 'fail', arguments: { reason: 'nope' } });
      assert.equal(failed.isError, true);
      await rejectsWith(client.callTool({ name: 'missing', arguments: {} }), ErrorCode.InvalidParams);
    });

    it('answers concurrent requests, each to its own id', async () => {
      const calls = [];
      for (let i = 0; i < 10; i++) calls.push(client.callTool({ name: 'add', arguments: { left: i, right: 100 } }));
      const results = await Promise.all(calls);
      results.forEach((r, i) => assert.deepEqual(JSON.parse(text(r)), { value: i + 100 }));
    });

    it('reads resources and templates', async () => {
      const { resources } = await client.listResources();
      assert.ok(resources.some((r) => r.uri === 'config://server'));
      const { resourceTemplates } = await client.listResourceTemplates();
      assert.equal(resourceTemplates[0].uriTemplate, 'greet-user://{firstName}/{lastName}');
      const stat = await client.readResource({ uri: 'config://server' });
      assert.equal(stat.contents[0].text, 'This is WASImancer, running on MCP!');
      const dyn = await client.readResource({ uri: 'greet-user://Ada/Lovelace' });
      assert.equal(dyn.contents[0].text, 'Say hello to Ada Lovelace!');
      assert.equal(dyn.contents[0].uri, 'greet-user://Ada/Lovelace');
      await rejectsWith(client.readResource({ uri: 'greet-user://only-one' }), -32002);
    });

    it('gets prompts', async () => {
      const { prompts } = await client.listPrompts();
      assert.ok(prompts.some((p) => p.name === 'code-analyst'));
      const r = await client.getPrompt({ name: 'code-analyst', arguments: { code: 'fn main() {}', language: 'rust' } });
      assert.equal(r.messages[0].content.text, 'Analyze my rust source code: fn main() {}');
      await rejectsWith(client.getPrompt({ name: 'code-analyst', arguments: {} }), ErrorCode.InvalidParams);
    });

    it('sends log notifications on the stream', async () => {
      const notes = new Notifications(client, [LoggingMessageNotificationSchema]);
      await client.setLoggingLevel('info');
      const logged = notes.next('notifications/message', { pred: (n) => n.params.data === 'error msg' });
      await client.callTool({ name: 'log_all', arguments: {} });
      const n = await logged;
      assert.equal(n.params.level, 'error');
    });

    it('sends progress notifications on the stream, before the response', async () => {
      // Checked on the raw messages: the SDK may drop progress that shares a chunk with the
      // response (typescript-sdk#2580).
      const from = conn.messages.length;
      const r = await client.callTool({ name: 'progress_steps', arguments: {} }, undefined, { onprogress: () => {} });
      assert.equal(text(r), 'done');
      const seen = conn.messages.slice(from);
      const response = seen.findIndex((m) => m.result?.content?.[0]?.text === 'done');
      assert.ok(response >= 0);
      const progress = seen.slice(0, response).filter((m) => m.method === 'notifications/progress');
      assert.deepEqual(progress.map((m) => m.params.progress), [1, 2, 3]);
      const token = progress[0].params.progressToken;
      assert.ok(progress.every((m) => m.params.progressToken === token && m.params.total === 3));
      assert.equal(progress[0].params.message, 'step 1');
    });

    it('the client saw no transport errors', () => {
      assert.deepEqual(conn.errors.filter((e) => !isSdkProgressRace(e)).map(String), []);
    });
  });
}

describe('legacy HTTP+SSE errors', () => {
  it('the stream needs the token: 401', async () => {
    for (const p of ['/sse', '/mcp']) {
      const res = await fetch(`${server.base}${p}`, { headers: { Accept: 'text/event-stream' } });
      assert.equal(res.status, 401, p);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer /);
      await res.body?.cancel();
    }
    const client = new Client({ name: 't', version: '1' });
    const transport = new SSEClientTransport(new URL(`${server.base}/sse`), { requestInit: { headers: { Authorization: 'Bearer wrong' } } });
    await assert.rejects(client.connect(transport));
    await client.close().catch(() => {});
  });

  it('POST /messages: unknown session 404, missing session id 400, missing token 401', async () => {
    const req = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
    const unknown = await rawPost(server, req, { path: '/messages?sessionId=does-not-exist' });
    assert.equal(unknown.status, 404, unknown.text);
    const none = await rawPost(server, req, { path: '/messages' });
    assert.equal(none.status, 400, none.text);
    const noAuth = await rawPost(server, req, { path: '/messages?sessionId=x', auth: false });
    assert.equal(noAuth.status, 401, noAuth.text);
  });

  it('POST /messages of a live session: 202 for a good message, 400 for malformed JSON', async () => {
    const conn = await connectSse(server);
    try {
      const sessionPath = `/messages?sessionId=${conn.transport._endpoint.searchParams.get('sessionId')}`;
      const ok = await rawPost(server, { jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, { path: sessionPath });
      assert.equal(ok.status, 202, ok.text);
      const bad = await rawPost(server, '{"jsonrpc": "2.0", "id": 1, "method": ', { path: sessionPath });
      assert.equal(bad.status, 400, bad.text);
      assert.equal(bad.json?.error?.code, -32700, bad.text);
      const wrongType = await rawPost(server, { jsonrpc: '2.0', id: 1, method: 'ping' }, { path: sessionPath, headers: { 'Content-Type': 'text/plain' } });
      assert.equal(wrongType.status, 415, wrongType.text);
      // The session still works.
      assert.ok((await conn.client.listTools()).tools.length > 0);
    } finally {
      await conn.client.close();
    }
  });
});
