// Self-describing plugins through the MCP SDK client, with no function list in plugins.yml:
// hyper-mcp's v1 (describe/call) and v2 (list_tools, call_tool, prompts, resources, templates,
// completion) interfaces, our own test plugins for every export and host function, and the
// plugins hyper-mcp's authors built (../shared/mcp-plugins, when present). A plugin that says its
// tools or prompts changed is described again and every client gets list_changed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe } from 'node:test';

import { text } from '../node/fixtures.mjs';
import { Notifications, adminApi, connectStreamable, guard, root, startServer, testPlugin } from '../node/server.mjs';
import {
  LoggingMessageNotificationSchema, PromptListChangedNotificationSchema, ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '../node/sdk.mjs';

const { before, it } = guard();

const hyper = path.resolve(process.env.WASIMANCER_FIXTURES ? path.join(process.env.WASIMANCER_FIXTURES, '..', 'mcp-plugins')
  : path.join(root, '..', 'shared', 'mcp-plugins'), 'hyper-mcp');
const haveFixtures = fs.existsSync(path.join(hyper, 'rstime.wasm'));

describe('self-describing plugins', () => {
  let server;
  let c;
  let n;

  before(async () => {
    const wasm = [testPlugin('mcp_v1'), testPlugin('mcp_v2')];
    const plugins = [{ name: 'one', path: './mcp_v1.wasm', version: '1.0.0' }, { name: 'two', path: './mcp_v2.wasm', version: '1.0.0' }];
    if (haveFixtures) {
      wasm.push(path.join(hyper, 'rstime.wasm'), path.join(hyper, 'tool_list_changed.wasm'));
      plugins.push({ name: 'rstime', path: './rstime.wasm', version: '1.0.0' },
        { name: 'changes', path: './tool_list_changed.wasm', version: '1.0.0' });
    }
    server = await startServer({ wasm, plugins: { plugins } });
    c = await connectStreamable(server, { capabilities: { roots: { listChanged: true } } });
    n = new Notifications(c.client, [ToolListChangedNotificationSchema, PromptListChangedNotificationSchema,
      LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema]);
  });

  after(async () => {
    await c?.client.close().catch(() => {});
    await server?.stop();
  });

  it('tools of v1 and v2 plugins are listed and called', async () => {
    const { tools } = await c.client.listTools();
    const names = tools.map((t) => t.name);
    for (const want of ['greet', 'grow', 'echo_args', 'ask', 'sample', 'roots', 'notify', 'add_prompt']) {
      assert.ok(names.includes(want), `${want} in ${names.join()}`);
    }
    const greet = tools.find((t) => t.name === 'greet');
    assert.deepEqual(greet.inputSchema.required, ['name']);
    assert.equal(text(await c.client.callTool({ name: 'greet', arguments: { name: 'Ada' } })), 'Hello, Ada!');
    assert.equal(text(await c.client.callTool({ name: 'echo_args', arguments: { x: 1 } })), '{"x":1}');
  });

  it('a v1 plugin that adds a tool: tools/list_changed, then the new tool is there', async () => {
    const wait = n.next('notifications/tools/list_changed');
    assert.equal(text(await c.client.callTool({ name: 'grow', arguments: {} })), 'now 1 extra tools');
    await wait;
    const { tools } = await c.client.listTools();
    assert.ok(tools.some((t) => t.name === 'extra_1'));
    assert.equal(text(await c.client.callTool({ name: 'extra_1', arguments: {} })), 'extra 1');
  });

  it('a v2 plugin serves prompts, resources, templates and completions', async () => {
    const { prompts } = await c.client.listPrompts();
    assert.ok(prompts.some((p) => p.name === 'greeting'));
    const got = await c.client.getPrompt({ name: 'greeting', arguments: { who: 'Bo' } });
    assert.equal(got.messages[0].content.text, 'Hello Bo');
    const { resources } = await c.client.listResources();
    assert.ok(resources.some((r) => r.uri === 'mem://readme'));
    assert.equal((await c.client.readResource({ uri: 'mem://readme' })).contents[0].text, 'read me');
    const { resourceTemplates } = await c.client.listResourceTemplates();
    assert.ok(resourceTemplates.some((t) => t.uriTemplate === 'mem://items/{id}'));
    assert.equal((await c.client.readResource({ uri: 'mem://items/7' })).contents[0].text, 'item 7');
    const done = await c.client.complete({ ref: { type: 'ref/prompt', name: 'greeting' }, argument: { name: 'who', value: 'a' } });
    assert.deepEqual(done.completion.values, ['alpha', 'beta']);
  });

  it('a v2 plugin adds a prompt: prompts/list_changed, then it is listed', async () => {
    const wait = n.next('notifications/prompts/list_changed');
    assert.equal(text(await c.client.callTool({ name: 'add_prompt', arguments: {} })), 'prompt added');
    await wait;
    const { prompts } = await c.client.listPrompts();
    assert.ok(prompts.some((p) => p.name === 'extra'), prompts.map((p) => p.name).join());
  });

  it('v2 host functions: roots from the client, notifications to it', async () => {
    c.client.setRequestHandler((await import('../node/sdk.mjs')).ListRootsRequestSchema,
      async () => ({ roots: [{ uri: 'file:///projects', name: 'projects' }] }));
    const roots = text(await c.client.callTool({ name: 'roots', arguments: {} }));
    assert.match(roots, /file:\/\/\/projects/);
    await c.client.setLoggingLevel('debug');
    const log = n.next('notifications/message', { pred: (m) => JSON.stringify(m.params).includes('mcp_v2') });
    const updated = n.next('notifications/resources/updated');
    assert.equal(text(await c.client.callTool({ name: 'notify', arguments: {} })), 'notified');
    await log;
    const u = await updated;
    assert.equal(u.params.uri, 'mem://readme');
  });

  it('a plugin published without functions through the admin API describes itself', async () => {
    const admin = adminApi(server);
    const wait = n.next('notifications/tools/list_changed');
    const res = await admin.uploadPlugin(testPlugin('mcp_v1'), { name: 'again', version: '1.0.0', prefixTools: true },
      { filename: 'again.wasm' });
    assert.equal(res.status, 200, res.text);
    await wait;
    const { tools } = await c.client.listTools();
    assert.ok(tools.some((t) => t.name === 'again-greet'), tools.map((t) => t.name).join());
    assert.equal(text(await c.client.callTool({ name: 'again-greet', arguments: { name: 'Cy' } })), 'Hello, Cy!');
    const clash = await admin.uploadPlugin(testPlugin('mcp_v1'), { name: 'clash', version: '1.0.0' }, { filename: 'clash.wasm' });
    assert.equal(clash.status, 409, clash.text);
    assert.match(clash.body.error, /prefixTools/);
    const plain = await admin.uploadPlugin(testPlugin('echo'), { name: 'plain', version: '1.0.0' }, { filename: 'plain.wasm' });
    assert.equal(plain.status, 400, plain.text);
    assert.match(plain.body.error, /declares no functions and does not describe itself/);
  });

  it('hyper-mcp\'s own plugins (v1 and v2) serve their tools', async () => {
    const { tools } = await c.client.listTools();
    const names = tools.map((t) => t.name);
    for (const want of ['get_time', 'parse_time', 'add_tool']) assert.ok(names.includes(want), `${want} in ${names.join()}`);
    const t = text(await c.client.callTool({ name: 'parse_time', arguments: { time: 'Tue, 1 Jul 2003 10:52:37 +0200' } }));
    assert.equal(t, '1057049557');
    const wait = n.next('notifications/tools/list_changed');
    await c.client.callTool({ name: 'add_tool', arguments: {} });
    await wait;
    const after = (await c.client.listTools()).tools.map((x) => x.name);
    assert.ok(after.includes('tool_1'), after.join());
  }, { skip: !haveFixtures && 'requires: ../shared/mcp-plugins' });
});
