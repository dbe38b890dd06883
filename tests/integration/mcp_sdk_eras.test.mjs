// Both SDK generations against one server, side by side: the v2 client
// (@modelcontextprotocol/client 2.x, version negotiation "auto") negotiates 2026-07-28 over
// Streamable HTTP and over stdio; the v1 client (@modelcontextprotocol/sdk 1.x) still gets
// 2025-11-25. Each calls tools backed by real plugins (our test plugins), reads resources, gets
// prompts and sees the tool list change after a publish through the admin API; the v2 client
// answers a plugin's elicitation through multi-round-trip (InputRequiredResult).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe } from 'node:test';

import {
  ADMIN_TOKEN, AUTH_TOKEN, binary, cleanEnv, connectStreamable, guard, makeWorkDir, startServer, testPlugin, adminApi, withTimeout,
} from '../node/server.mjs';
import { ToolListChangedNotificationSchema } from '../node/sdk.mjs';
import * as v2 from '../node/sdk2.mjs';

const { before, it } = guard({ timeout: 60000 });

const PLUGINS = {
  plugins: [
    { name: 'echo', path: 'echo.wasm', version: '1.0.0', description: 'our echo test plugin',
      functions: [{ displayName: 'echo', function: 'echo', description: 'returns its input', arguments: [{ name: 'text', type: 'string' }] }] },
    { name: 'mcp features', path: 'mcp_features.wasm', description: 'MCP host functions',
      functions: [{ displayName: 'ask_user', function: 'ask_user', description: 'asks the user (elicitation)',
        arguments: [{ name: 'question', type: 'string' }] }] },
  ],
};
const RESOURCES = {
  resources: {
    static: [{ name: 'server-info', uri: 'config://server', mimeType: 'text/plain', contents: [{ text: 'This is WASImancer, running on MCP!' }] }],
    dynamic: [{ name: 'greet-user', uri: 'greet-user://{firstName}', arguments: [{ name: 'firstName', type: 'string' }],
      contents: [{ text: 'Say hello to ${firstName}!' }] }],
  },
};
const PROMPTS = {
  prompts: { predefined: [{ name: 'code-analyst', description: 'analyses code', arguments: [{ name: 'code', type: 'string' }],
    messages: [{ role: 'user', text: 'Analyze my source code: ${code}' }] }] },
};
const WASM = [testPlugin('echo'), testPlugin('mcp_features')];
const text = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('');

// Publishes a copy of the echo plugin under a new name (a new tool) through the admin API.
async function publish(server, n) {
  const res = await adminApi(server).uploadPlugin(testPlugin('echo'), {
    name: `published-${n}`, version: '1.0.0', description: 'published during the test',
    functions: [{ displayName: `published_${n}`, function: 'echo', description: 'a published tool', arguments: [{ name: 'text', type: 'string' }] }],
  }, { filename: `published-${n}.wasm` });
  assert.equal(res.status, 200, res.text);
}

function v2Client(capabilities = {}) {
  return new v2.Client({ name: 'v2-test-client', version: '1.0.0' },
    { capabilities, versionNegotiation: { mode: 'auto' } });
}

describe('v2 and v1 SDK clients side by side over Streamable HTTP', () => {
  let server;
  let modern;
  let legacy;

  before(async () => {
    server = await startServer({ wasm: WASM, plugins: PLUGINS, resources: RESOURCES, prompts: PROMPTS });
    modern = v2Client({ elicitation: {} });
    modern.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Grace' } }));
    await modern.connect(new v2.StreamableHTTPClientTransport(server.mcpUrl, { requestInit: { headers: server.authHeaders } }));
    legacy = await connectStreamable(server, { capabilities: {} });
  });

  after(async () => {
    await modern?.close().catch(() => {});
    await legacy?.client.close().catch(() => {});
    await server?.stop();
  });

  it('the v2 client negotiates 2026-07-28, the v1 client 2025-11-25', () => {
    assert.equal(modern.getNegotiatedProtocolVersion(), '2026-07-28');
    assert.equal(legacy.transport.protocolVersion, '2025-11-25');
    assert.ok(legacy.transport.sessionId, 'the v1 client has a session');
  });

  it('both call a tool backed by a plugin', async () => {
    const a = await modern.callTool({ name: 'echo', arguments: { text: 'modern' } });
    assert.equal(text(a), '{"text":"modern"}');
    const b = await legacy.client.callTool({ name: 'echo', arguments: { text: 'legacy' } });
    assert.equal(text(b), '{"text":"legacy"}');
  });

  it('both read resources (static and templated) and get prompts', async () => {
    for (const client of [modern, legacy.client]) {
      const r = await client.readResource({ uri: 'config://server' });
      assert.equal(r.contents[0].text, 'This is WASImancer, running on MCP!');
      const t = await client.readResource({ uri: 'greet-user://Ada' });
      assert.equal(t.contents[0].text, 'Say hello to Ada!');
      const p = await client.getPrompt({ name: 'code-analyst', arguments: { code: 'x = 1' } });
      assert.equal(p.messages[0].content.text, 'Analyze my source code: x = 1');
    }
  });

  it('the v2 client answers a plugin\'s elicitation through multi-round-trip', async () => {
    const r = await modern.callTool({ name: 'ask_user', arguments: { question: 'name?' } });
    assert.match(text(r), /Grace/);
  });

  it('both see the tool list change after a publish', async () => {
    const legacyChanged = new Promise((resolve) => legacy.client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()));
    const modernChanged = new Promise((resolve) => modern.setNotificationHandler('notifications/tools/list_changed', () => resolve()));
    const subscription = await modern.listen({ toolsListChanged: true });
    try {
      const before = (await modern.listTools()).tools.map((t) => t.name);
      assert.ok(!before.includes('published_1'));
      await publish(server, 1);
      await withTimeout(Promise.all([legacyChanged, modernChanged]), 15000, 'no list_changed after the publish');
      const modernTools = (await modern.listTools()).tools.map((t) => t.name);
      assert.ok(modernTools.includes('published_1'), JSON.stringify(modernTools));
      const legacyTools = (await legacy.client.listTools()).tools.map((t) => t.name);
      assert.ok(legacyTools.includes('published_1'), JSON.stringify(legacyTools));
      const r = await modern.callTool({ name: 'published_1', arguments: { text: 'new' } });
      assert.equal(text(r), '{"text":"new"}');
    } finally {
      await subscription.close();
    }
  });
});

describe('the v2 SDK client over stdio', () => {
  let work;
  let client;

  before(async () => {
    work = makeWorkDir({ wasm: WASM, plugins: PLUGINS, resources: RESOURCES, prompts: PROMPTS });
    client = v2Client({ elicitation: {} });
    client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Linus' } }));
    const transport = new v2.StdioClientTransport({
      command: binary, args: ['serve', '--stdio'], cwd: work.dir, stderr: 'pipe',
      env: cleanEnv({ ...work.env, WASIMANCER_AUTHENTICATION_TOKEN: AUTH_TOKEN, WASIMANCER_ADMIN_TOKEN: ADMIN_TOKEN }),
    });
    await client.connect(transport);
  });

  after(async () => {
    await client?.close().catch(() => {});
    work?.remove();
  });

  it('negotiates 2026-07-28', () => {
    assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
  });

  it('calls tools, reads resources, gets prompts, answers an elicitation', async () => {
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'stdio' } })), '{"text":"stdio"}');
    assert.equal((await client.readResource({ uri: 'config://server' })).contents[0].text, 'This is WASImancer, running on MCP!');
    const p = await client.getPrompt({ name: 'code-analyst', arguments: { code: 'y' } });
    assert.equal(p.messages[0].content.text, 'Analyze my source code: y');
    assert.match(text(await client.callTool({ name: 'ask_user', arguments: { question: 'name?' } })), /Linus/);
    const tools = (await client.listTools()).tools.map((t) => t.name);
    assert.deepEqual(tools.sort(), ['ask_user', 'echo']);
  });
});
