// requires: third-party plugins (WASImancer's samples, through tests/node/fixtures.mjs; see scripts/run-tests.sh)
// The official TypeScript SDK client (tests/node, pinned) against the real server over Streamable
// HTTP, with real plugins: our test plugins (build/plugins) and WASImancer's own samples
// (../shared/plugins/sea-monkeys-WASImancer).
import assert from 'node:assert/strict';
import { after, describe } from 'node:test';

import { PLUGINS, PNG, PROMPTS, RESOURCES, WASM, rejectsWith, text } from '../node/fixtures.mjs';
import { ADMIN_TOKEN, AUTH_TOKEN, Notifications, connectStreamable, guard, rawPost, startServer } from '../node/server.mjs';
import {
  CreateMessageRequestSchema, ElicitRequestSchema, ErrorCode, LoggingMessageNotificationSchema,
} from '../node/sdk.mjs';

const { before, it } = guard();

describe('Streamable HTTP with the SDK client', () => {
  let server;
  let conn;
  let client;
  let notes;
  const samplingRequests = [];
  const elicitRequests = [];

  before(async () => {
    server = await startServer({ wasm: WASM, plugins: PLUGINS, resources: RESOURCES, prompts: PROMPTS });
    conn = await connectStreamable(server, {
      capabilities: { sampling: {}, elicitation: {} },
      setup: (c) => {
        c.setRequestHandler(CreateMessageRequestSchema, async (req) => {
          samplingRequests.push(req.params);
          return { model: 'test-model', role: 'assistant', content: { type: 'text', text: '4' }, stopReason: 'endTurn' };
        });
        c.setRequestHandler(ElicitRequestSchema, async (req) => {
          elicitRequests.push(req.params);
          return { action: 'accept', content: { name: 'Ada' } };
        });
      },
    });
    client = conn.client;
    notes = new Notifications(client, [LoggingMessageNotificationSchema]);
  });

  after(async () => {
    await conn?.client.close().catch(() => {});
    await server?.stop();
  });

  it('initializes: protocol 2025-11-25, capabilities, server info without the token', () => {
    assert.ok(conn.transport.sessionId, 'the server issued an Mcp-Session-Id');
    assert.match(conn.transport.sessionId, /^[\x21-\x7e]+$/);
    const caps = client.getServerCapabilities();
    assert.deepEqual(caps.tools, { listChanged: true });
    assert.equal(caps.resources.listChanged, true);
    assert.equal(caps.resources.subscribe, true);
    assert.deepEqual(caps.prompts, { listChanged: true });
    assert.ok(caps.logging);
    assert.ok(caps.completions);
    const info = client.getServerVersion();
    assert.equal(typeof info.name, 'string');
    assert.equal(typeof info.version, 'string');
    const dump = JSON.stringify(info);
    assert.ok(!dump.includes(AUTH_TOKEN) && !dump.includes(ADMIN_TOKEN), `serverInfo leaks a token: ${dump}`);
    assert.equal(conn.errors.length, 0, `client errors: ${conn.errors}`);
  });

  it('ping', async () => {
    assert.deepEqual(await client.ping(), {});
  });

  it('lists tools with descriptions, YAML-typed input schemas, in a stable order', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    assert.deepEqual(names, ['rollDice', 'sayHello', 'add', 'fail', 'echo', 'spin', 'log_all', 'progress_steps', 'notify',
      'ask_model', 'ask_user']);
    for (const t of tools) {
      assert.equal(typeof t.description, 'string', `${t.name} has a description`);
      assert.ok(t.description.length > 0, `${t.name} has a non-empty description`);
      assert.equal(t.inputSchema.type, 'object');
    }
    const dice = tools.find((t) => t.name === 'rollDice');
    assert.equal(dice.description, 'a function to roll dice');
    assert.deepEqual(dice.inputSchema.properties, {
      numFaces: { type: 'number', description: 'number of faces on the dice' },
      numDice: { type: 'number', description: 'number of dice to roll' },
    });
    assert.deepEqual([...dice.inputSchema.required].sort(), ['numDice', 'numFaces']);
    const echo = tools.find((t) => t.name === 'echo');
    assert.deepEqual(Object.fromEntries(Object.entries(echo.inputSchema.properties).map(([k, v]) => [k, v.type])),
      { text: 'string', count: 'integer', flag: 'boolean', tags: 'array', extra: 'object' });
    const spin = tools.find((t) => t.name === 'spin');
    assert.deepEqual(spin.inputSchema.properties ?? {}, {});
    assert.ok(!spin.inputSchema.required || spin.inputSchema.required.length === 0);
    const again = await client.listTools();
    assert.deepEqual(again.tools.map((t) => t.name), names, 'the order is stable');
  });

  it('calls the WASImancer roll-dice plugin: the result is in range', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await client.callTool({ name: 'rollDice', arguments: { numFaces: 6, numDice: 3 } });
      assert.ok(!r.isError, `rollDice failed: ${text(r)}`);
      assert.match(text(r).trim(), /^\d+$/);
      const n = Number(text(r).trim());
      assert.ok(n >= 3 && n <= 18, `3d6 gave ${n}`);
    }
  });

  it('calls the WASImancer hello plugin', async () => {
    const r = await client.callTool({ name: 'sayHello', arguments: { name: 'Bob Morane' } });
    assert.ok(!r.isError, text(r));
    assert.equal(r.content[0].type, 'text');
    assert.ok(text(r).startsWith('🎉 Extism is 💜, 🌍, by '), text(r));
    assert.ok(text(r).includes('Bob Morane'), text(r));
  });

  it('calls the WASImancer addition plugin: {"value":42}', async () => {
    const r = await client.callTool({ name: 'add', arguments: { left: 30, right: 12 } });
    assert.ok(!r.isError, text(r));
    assert.deepEqual(JSON.parse(text(r)), { value: 42 });
  });

  it('passes every argument type to the plugin as JSON', async () => {
    const args = { text: 'héllo "x"', count: 7, flag: true, tags: ['a', 'b'], extra: { k: [1, null] } };
    const r = await client.callTool({ name: 'echo', arguments: args });
    assert.ok(!r.isError, text(r));
    assert.deepEqual(JSON.parse(text(r)), args);
  });

  it('a plugin error becomes an isError result with the plugin\'s message', async () => {
    const r = await client.callTool({ name: 'fail', arguments: { reason: 'disk on fire' } });
    assert.equal(r.isError, true);
    assert.ok(text(r).includes('disk on fire'), text(r));
  });

  it('a plugin that runs past timeoutMs gives an isError result, and the server keeps serving', async () => {
    const started = Date.now();
    const r = await client.callTool({ name: 'spin', arguments: {} });
    assert.equal(r.isError, true);
    assert.match(text(r), /timeout|time limit/i);
    assert.ok(Date.now() - started < 60000, 'the timeout ended the call (the plugin loops forever)');
    const ok = await client.callTool({ name: 'add', arguments: { left: 1, right: 2 } });
    assert.deepEqual(JSON.parse(text(ok)), { value: 3 });
  });

  it('a wrong argument type is an isError result naming the problem (2025-11-25)', async () => {
    const r = await client.callTool({ name: 'rollDice', arguments: { numFaces: 'six', numDice: 2 } });
    assert.equal(r.isError, true);
    assert.match(text(r), /numFaces/);
    const missing = await client.callTool({ name: 'add', arguments: { left: 1 } });
    assert.equal(missing.isError, true);
    assert.match(text(missing), /right/);
  });

  it('an unknown tool is a JSON-RPC error -32602', async () => {
    await rejectsWith(client.callTool({ name: 'no_such_tool', arguments: {} }), ErrorCode.InvalidParams, /no_such_tool/);
  });

  it('lists resources and resource templates', async () => {
    const { resources } = await client.listResources();
    assert.deepEqual(resources.map((r) => r.uri), ['config://server', 'test://pixel.png']);
    assert.equal(resources[0].name, 'server-info');
    assert.equal(resources[0].mimeType, 'text/plain');
    assert.equal(resources[1].mimeType, 'image/png');
    const { resourceTemplates } = await client.listResourceTemplates();
    assert.equal(resourceTemplates.length, 1);
    assert.equal(resourceTemplates[0].uriTemplate, 'greet-user://{firstName}/{lastName}');
    assert.equal(resourceTemplates[0].name, 'greet-user');
  });

  it('reads a static text resource', async () => {
    const r = await client.readResource({ uri: 'config://server' });
    assert.equal(r.contents.length, 1);
    assert.equal(r.contents[0].uri, 'config://server');
    assert.equal(r.contents[0].text, 'This is WASImancer, running on MCP!');
    assert.equal(r.contents[0].mimeType, 'text/plain');
  });

  it('reads a blob resource', async () => {
    const r = await client.readResource({ uri: 'test://pixel.png' });
    assert.equal(r.contents[0].uri, 'test://pixel.png');
    assert.equal(r.contents[0].blob, PNG);
    assert.equal(r.contents[0].mimeType, 'image/png');
    assert.equal(r.contents[0].text, undefined);
  });

  it('reads a template resource with ${arg} substitution', async () => {
    const r = await client.readResource({ uri: 'greet-user://Bob/Morane' });
    assert.equal(r.contents.length, 1);
    assert.equal(r.contents[0].uri, 'greet-user://Bob/Morane');
    assert.equal(r.contents[0].text, 'Say hello to Bob Morane!');
  });

  it('an unknown resource URI is a JSON-RPC error -32002', async () => {
    await rejectsWith(client.readResource({ uri: 'config://nope' }), -32002, /config:\/\/nope/);
  });

  it('lists prompts and gets one with ${arg} substitution', async () => {
    const { prompts } = await client.listPrompts();
    assert.deepEqual(prompts.map((p) => p.name), ['code-analyst', 'image-prompt']);
    const analyst = prompts[0];
    assert.equal(analyst.description, 'analyses code');
    assert.deepEqual(analyst.arguments.map((a) => a.name), ['code', 'language']);
    assert.equal(analyst.arguments[0].description, 'the code');
    const r = await client.getPrompt({ name: 'code-analyst', arguments: { code: 'x := 1', language: 'go' } });
    assert.deepEqual(r.messages, [
      { role: 'user', content: { type: 'text', text: 'Analyze my go source code: x := 1' } },
      { role: 'assistant', content: { type: 'text', text: 'Sure, here is my analysis of x := 1.' } },
    ]);
  });

  it('gets a prompt with image and embedded resource content', async () => {
    const r = await client.getPrompt({ name: 'image-prompt', arguments: {} });
    assert.deepEqual(r.messages[0].content, { type: 'image', data: PNG, mimeType: 'image/png' });
    assert.equal(r.messages[1].content.type, 'resource');
    assert.equal(r.messages[1].content.resource.uri, 'config://server');
  });

  it('a missing prompt argument and an unknown prompt are -32602 errors', async () => {
    await rejectsWith(client.getPrompt({ name: 'code-analyst', arguments: { language: 'go' } }), ErrorCode.InvalidParams, /code/);
    await rejectsWith(client.getPrompt({ name: 'nope', arguments: {} }), ErrorCode.InvalidParams, /nope/);
  });

  it('completes prompt and resource-template arguments', async () => {
    const p = await client.complete({ ref: { type: 'ref/prompt', name: 'code-analyst' }, argument: { name: 'language', value: 'ja' } });
    assert.deepEqual(p.completion.values, ['java', 'javascript']);
    const r = await client.complete({
      ref: { type: 'ref/resource', uri: 'greet-user://{firstName}/{lastName}' }, argument: { name: 'firstName', value: 'B' },
    });
    assert.deepEqual(r.completion.values, ['Bob', 'Bill']);
    const none = await client.complete({ ref: { type: 'ref/prompt', name: 'code-analyst' }, argument: { name: 'code', value: '' } });
    assert.deepEqual(none.completion.values, []);
  });

  it('logging/setLevel, then plugin logs arrive as notifications/message', async () => {
    await client.setLoggingLevel('debug');
    const first = notes.next('notifications/message', { pred: (n) => n.params.level === 'error' });
    const r = await client.callTool({ name: 'log_all', arguments: {} });
    assert.ok(!r.isError, text(r));
    const n = await first;
    assert.equal(n.params.data, 'error msg');
    const levels = notes.received.filter((m) => ['info msg', 'warn msg', 'error msg'].includes(m.params.data)).map((m) => m.params.level);
    assert.ok(levels.includes('info') && levels.includes('warning') && levels.includes('error'), `levels: ${levels}`);
    // The plugin sent exactly as many messages as it reports, each at its own level.
    assert.equal(Number(text(r)), levels.length);
  });

  it('a raised log level filters plugin logs', async () => {
    await client.setLoggingLevel('error');
    const before = notes.received.length;
    const errorNote = notes.next('notifications/message', { pred: (n) => n.params.data === 'error msg' });
    await client.callTool({ name: 'log_all', arguments: {} });
    await errorNote;
    await new Promise((resolve) => setImmediate(resolve));
    const newLevels = notes.received.slice(before).map((n) => n.params.level);
    assert.deepEqual(newLevels, ['error']);
    await client.setLoggingLevel('debug');
  });

  it('a plugin\'s notify_log reaches the client', async () => {
    await client.setLoggingLevel('info');
    const got = notes.next('notifications/message', { pred: (n) => String(n.params.data).includes('hello from the plugin') });
    const r = await client.callTool({ name: 'notify', arguments: { message: 'hello from the plugin' } });
    assert.equal(text(r), 'sent');
    const n = await got;
    assert.equal(n.params.level, 'info');
  });

  it('progress notifications reach onprogress', async () => {
    const progress = [];
    const r = await client.callTool({ name: 'progress_steps', arguments: {} }, undefined, {
      onprogress: (p) => progress.push(p),
    });
    assert.equal(text(r), 'done');
    assert.deepEqual(progress, [
      { progress: 1, total: 3, message: 'step 1' },
      { progress: 2, total: 3, message: 'step 2' },
      { progress: 3, total: 3, message: 'step 3' },
    ]);
  });

  it('without a progress token the plugin\'s progress is rejected, not sent', async () => {
    const r = await client.callTool({ name: 'progress_steps', arguments: {} });
    assert.equal(text(r), 'done (progress rejected: 3)');
  });

  it('sampling: the plugin asks the client\'s model (sampling/createMessage)', async () => {
    const r = await client.callTool({ name: 'ask_model', arguments: { question: 'What is 2+2?' } });
    assert.ok(!r.isError, text(r));
    const answer = JSON.parse(text(r));
    assert.equal(answer.model, 'test-model');
    assert.deepEqual(answer.content, { type: 'text', text: '4' });
    assert.equal(samplingRequests.length, 1);
    assert.equal(samplingRequests[0].maxTokens, 100);
    assert.equal(samplingRequests[0].messages[0].role, 'user');
    assert.ok(samplingRequests[0].messages[0].content.text.includes('What is 2+2?'));
  });

  it('elicitation: the plugin asks the user (elicitation/create)', async () => {
    const r = await client.callTool({ name: 'ask_user', arguments: { question: 'Your name?' } });
    assert.ok(!r.isError, text(r));
    assert.deepEqual(JSON.parse(text(r)), { action: 'accept', content: { name: 'Ada' } });
    assert.equal(elicitRequests.length, 1);
    assert.ok(elicitRequests[0].message.includes('Your name?'));
    assert.deepEqual(elicitRequests[0].requestedSchema.required, ['name']);
  });

  it('sampling without the client capability is an isError result', async () => {
    const other = await connectStreamable(server, { waitForStream: false });
    try {
      const r = await other.client.callTool({ name: 'ask_model', arguments: { question: 'hi' } });
      assert.equal(r.isError, true);
      assert.match(text(r), /sampling/);
    } finally {
      await other.client.close();
    }
  });

  it('terminateSession ends the session: its id then gets 404', async () => {
    const other = await connectStreamable(server);
    const sid = other.transport.sessionId;
    assert.ok(sid);
    assert.equal((await other.client.listTools()).tools.length, 11);
    await other.transport.terminateSession();
    assert.equal(other.transport.sessionId, undefined);
    await other.client.close();
    const res = await rawPost(server, { jsonrpc: '2.0', id: 5, method: 'tools/list', params: {} }, {
      headers: { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-11-25' },
    });
    assert.equal(res.status, 404, res.text);
    assert.equal(res.json?.error?.code, -32001, res.text);
    // The first client's session is untouched.
    assert.equal((await client.listTools()).tools.length, 11);
  });

  it('the client saw no transport errors', () => {
    assert.deepEqual(conn.errors.map(String), []);
  });
});
