// requires: third-party plugins (WASImancer's samples, through tests/node/fixtures.mjs; see scripts/run-tests.sh)
// Server-initiated notifications to connected SDK clients after admin API changes:
// tools/list_changed (upload, update, remove a plugin), resources/list_changed and
// resources/updated (add/update a resource, subscriptions), prompts/list_changed. Delivered on
// the Streamable HTTP GET stream (which the SDK opens after initialized) and on the legacy SSE
// stream. Every wait is on the notification itself, with a timeout; nothing sleeps.
import assert from 'node:assert/strict';
import { after, describe } from 'node:test';

import { PLUGINS, PROMPTS, RESOURCES, WASM, rejectsWith, text } from '../node/fixtures.mjs';
import { Notifications, adminApi, connectSse, connectStreamable, guard, startServer, testPlugin } from '../node/server.mjs';
import {
  ErrorCode, PromptListChangedNotificationSchema, ResourceListChangedNotificationSchema, ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '../node/sdk.mjs';

const { before, it } = guard();

const SCHEMAS = [ToolListChangedNotificationSchema, ResourceListChangedNotificationSchema, PromptListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema];

const TOOLS = 'notifications/tools/list_changed';
const RESOURCES_CHANGED = 'notifications/resources/list_changed';
const PROMPTS_CHANGED = 'notifications/prompts/list_changed';
const UPDATED = 'notifications/resources/updated';

const versioned = (name = 'versioned') => ({
  name, path: `./${name}.wasm`, version: '1.0.0', description: 'a plugin uploaded by the test',
  functions: [{ displayName: `${name}_whoami`, function: 'whoami', description: 'which build is loaded' }],
});

describe('list_changed and resources/updated', () => {
  let server;
  let admin;
  let a; // Streamable HTTP client
  let b; // a second Streamable HTTP client
  let legacy; // a legacy SSE client
  let na;
  let nb;
  let nl;

  before(async () => {
    server = await startServer({ wasm: WASM, plugins: PLUGINS, resources: RESOURCES, prompts: PROMPTS });
    admin = adminApi(server);
    a = await connectStreamable(server);
    b = await connectStreamable(server);
    legacy = await connectSse(server);
    na = new Notifications(a.client, SCHEMAS);
    nb = new Notifications(b.client, SCHEMAS);
    nl = new Notifications(legacy.client, SCHEMAS);
  });

  after(async () => {
    for (const c of [a, b, legacy]) await c?.client.close().catch(() => {});
    await server?.stop();
  });

  it('upload-plugin: every connected client gets tools/list_changed and sees the new tool', async () => {
    const waits = [na, nb, nl].map((n) => n.next(TOOLS));
    const res = await admin.uploadPlugin(testPlugin('version_a'), versioned(), { filename: 'versioned.wasm' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.message, '🎉 File uploaded successfully');
    assert.equal(res.body.metadata.name, 'versioned');
    await Promise.all(waits);
    const { tools } = await a.client.listTools();
    assert.ok(tools.some((t) => t.name === 'versioned_whoami'), tools.map((t) => t.name).join());
    const r = await a.client.callTool({ name: 'versioned_whoami', arguments: {} });
    assert.deepEqual(JSON.parse(text(r)), { version: 'a' });
    const viaLegacy = await legacy.client.callTool({ name: 'versioned_whoami', arguments: {} });
    assert.deepEqual(JSON.parse(text(viaLegacy)), { version: 'a' });
  });

  it('update-plugin: tools/list_changed, and calls reach the new build', async () => {
    const wait = na.next(TOOLS);
    const res = await admin.updatePlugin(testPlugin('version_b'), { ...versioned(), version: '2.0.0' }, { filename: 'versioned.wasm' });
    assert.equal(res.status, 200, res.text);
    await wait;
    const r = await a.client.callTool({ name: 'versioned_whoami', arguments: {} });
    assert.deepEqual(JSON.parse(text(r)), { version: 'b' });
  });

  it('remove-plugin: tools/list_changed, the tool is gone, the others stay', async () => {
    const waits = [na.next(TOOLS), nb.next(TOOLS)];
    const res = await admin.removePlugin('versioned');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.message, '🙂 Plugin removed successfully');
    await Promise.all(waits);
    const { tools } = await b.client.listTools();
    assert.ok(!tools.some((t) => t.name === 'versioned_whoami'));
    assert.ok(tools.some((t) => t.name === 'rollDice'));
    await rejectsWith(b.client.callTool({ name: 'versioned_whoami', arguments: {} }), ErrorCode.InvalidParams);
  });

  it('a failed upload changes nothing and sends no notification', async () => {
    const before = na.count(TOOLS);
    const toolsBefore = (await a.client.listTools()).tools.map((t) => t.name);
    const res = await admin.uploadPlugin(testPlugin('bad_import'), { name: 'broken', path: './broken.wasm', functions: [{ function: 'run' }] },
      { filename: 'broken.wasm' });
    assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.text}`);
    assert.equal(typeof res.body?.error, 'string');
    // A later, real change is notified; nothing came before it.
    const wait = na.next(PROMPTS_CHANGED);
    assert.equal((await admin.addPrompt({ name: 'marker-1', messages: [{ role: 'user', text: 'x' }] })).status, 200);
    await wait;
    assert.equal(na.count(TOOLS), before);
    assert.deepEqual((await a.client.listTools()).tools.map((t) => t.name), toolsBefore);
  });

  it('add-resource: resources/list_changed, then the resource is listed and readable', async () => {
    const waits = [na.next(RESOURCES_CHANGED), nl.next(RESOURCES_CHANGED)];
    const res = await admin.addResource({ name: 'motd', uri: 'info://motd', description: 'message of the day', contents: [{ text: 'first' }] });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.message, '🎉 Resource motd added successfully');
    await Promise.all(waits);
    const { resources } = await a.client.listResources();
    assert.ok(resources.some((r) => r.uri === 'info://motd'));
    assert.equal((await a.client.readResource({ uri: 'info://motd' })).contents[0].text, 'first');
  });

  it('a subscribed resource updated by PUT /update-resource/:name sends resources/updated to its subscriber only', async () => {
    await a.client.subscribeResource({ uri: 'info://motd' });
    await b.client.subscribeResource({ uri: 'config://server' });
    const listChanged = na.next(RESOURCES_CHANGED);
    const updated = na.next(UPDATED, { pred: (n) => n.params.uri === 'info://motd' });
    const res = await admin.updateResource('motd', { name: 'motd', uri: 'info://motd', contents: [{ text: 'second' }] });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.message, '🎉 Resource motd updated successfully');
    const n = await updated;
    assert.equal(n.params.uri, 'info://motd');
    assert.equal((await a.client.readResource({ uri: 'info://motd' })).contents[0].text, 'second');
    // b did not subscribe to info://motd. Updates go out in order on one stream, so once b has
    // the update of config://server (made afterwards), it would have had info://motd's.
    const barrier = nb.next(UPDATED, { pred: (m) => m.params.uri === 'config://server' });
    assert.equal((await admin.updateResource('server-info', {
      name: 'server-info', uri: 'config://server', mimeType: 'text/plain', contents: [{ text: 'This is WASImancer, running on MCP!' }],
    })).status, 200);
    await barrier;
    assert.deepEqual(nb.received.filter((m) => m.method === UPDATED).map((m) => m.params.uri), ['config://server']);
    await listChanged; // every resource change is also a list change; none is left pending for later tests
  });

  it('a subscription to a template instance gets resources/updated when the template changes', async () => {
    await b.client.subscribeResource({ uri: 'greet-user://Ada/Lovelace' });
    const listChanged = na.next(RESOURCES_CHANGED);
    const updated = nb.next(UPDATED, { pred: (n) => n.params.uri === 'greet-user://Ada/Lovelace' });
    const res = await admin.updateResource('greet-user', {
      name: 'greet-user', uri: 'greet-user://{firstName}/{lastName}',
      arguments: [{ name: 'firstName', type: 'string' }, { name: 'lastName', type: 'string' }],
      contents: [{ text: 'Welcome, ${firstName} ${lastName}!' }],
    });
    assert.equal(res.status, 200, res.text);
    await updated;
    const r = await b.client.readResource({ uri: 'greet-user://Ada/Lovelace' });
    assert.equal(r.contents[0].text, 'Welcome, Ada Lovelace!');
    await listChanged;
  });

  it('after unsubscribe, updates are no longer sent', async () => {
    await a.client.unsubscribeResource({ uri: 'info://motd' });
    await a.client.subscribeResource({ uri: 'config://server' });
    const before = na.received.filter((m) => m.method === UPDATED).length;
    const listChanged = na.next(RESOURCES_CHANGED);
    assert.equal((await admin.updateResource('motd', { name: 'motd', uri: 'info://motd', contents: [{ text: 'third' }] })).status, 200);
    // The barrier: an update made afterwards, to a resource a still subscribes to.
    const barrier = na.next(UPDATED, { pred: (m) => m.params.uri === 'config://server' });
    assert.equal((await admin.updateResource('server-info', {
      name: 'server-info', uri: 'config://server', mimeType: 'text/plain', contents: [{ text: 'This is WASImancer, running on MCP!' }],
    })).status, 200);
    await barrier;
    assert.deepEqual(na.received.filter((m) => m.method === UPDATED).slice(before).map((m) => m.params.uri), ['config://server']);
    await listChanged;
  });

  it('remove-resource: resources/list_changed and the URI is gone (-32002)', async () => {
    const wait = na.next(RESOURCES_CHANGED);
    const res = await admin.removeResource('motd');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.type, 'static');
    await wait;
    await rejectsWith(a.client.readResource({ uri: 'info://motd' }), -32002);
  });

  it('add-prompt: prompts/list_changed, then the prompt works with ${arg} substitution', async () => {
    const waits = [na.next(PROMPTS_CHANGED), nb.next(PROMPTS_CHANGED), nl.next(PROMPTS_CHANGED)];
    const res = await admin.addPrompt({
      name: 'translator', description: 'translates',
      arguments: [{ name: 'text', type: 'string' }, { name: 'lang', type: 'string' }],
      messages: [{ role: 'user', text: 'Translate "${text}" into ${lang}.' }],
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.message, '🎉 Prompt translator added successfully');
    await Promise.all(waits);
    const { prompts } = await legacy.client.listPrompts();
    assert.ok(prompts.some((p) => p.name === 'translator'));
    const got = await a.client.getPrompt({ name: 'translator', arguments: { text: 'bonjour', lang: 'English' } });
    assert.equal(got.messages[0].content.text, 'Translate "bonjour" into English.');
  });

  it('update-prompt and remove-prompt: prompts/list_changed each time', async () => {
    let wait = na.next(PROMPTS_CHANGED);
    const up = await admin.updatePrompt('translator', {
      name: 'translator', arguments: [{ name: 'text', type: 'string' }], messages: [{ role: 'user', text: 'Translate: ${text}' }],
    });
    assert.equal(up.status, 200, up.text);
    await wait;
    assert.equal((await a.client.getPrompt({ name: 'translator', arguments: { text: 'hola' } })).messages[0].content.text, 'Translate: hola');
    wait = na.next(PROMPTS_CHANGED);
    const rm = await admin.removePrompt('translator');
    assert.equal(rm.status, 200, rm.text);
    await wait;
    await rejectsWith(a.client.getPrompt({ name: 'translator', arguments: { text: 'x' } }), ErrorCode.InvalidParams);
  });

  it('a burst of changes is notified (debounced, at least once)', async () => {
    const wait = na.next(PROMPTS_CHANGED);
    for (let i = 0; i < 5; i++) {
      assert.equal((await admin.addPrompt({ name: `burst-${i}`, messages: [{ role: 'user', text: `${i}` }] })).status, 200);
    }
    await wait;
    const { prompts } = await a.client.listPrompts();
    for (let i = 0; i < 5; i++) assert.ok(prompts.some((p) => p.name === `burst-${i}`));
  });

  it('after a session is terminated, the other clients still get notifications', async () => {
    const c = await connectStreamable(server);
    const nc = new Notifications(c.client, SCHEMAS);
    await c.transport.terminateSession();
    await c.client.close();
    const wait = na.next(TOOLS);
    const res = await admin.uploadPlugin(testPlugin('version_a'), versioned('late'), { filename: 'late.wasm' });
    assert.equal(res.status, 200, res.text);
    await wait;
    assert.equal(nc.count(TOOLS), 0);
  });

  it('no client saw a transport error', () => {
    for (const c of [a, b, legacy]) assert.deepEqual(c.errors.map(String), []);
  });
});
