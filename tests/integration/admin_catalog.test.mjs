// Resources and prompts through the admin API: POST /add-resource, PUT /update-resource/:name,
// DELETE /remove-resource/:name, POST /add-prompt, PUT /update-prompt/:name,
// DELETE /remove-prompt/:name. Success bodies as on the reference page, the errors (400 invalid
// body or name mismatch, 404 unknown, 409 existing, 403 token) with nothing changed, persistence in
// resources.yml / prompts.yml across a restart, and the MCP view (resources/list,
// resources/templates/list, resources/read with ${arg} substitution, prompts/list, prompts/get)
// after every change.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe } from 'node:test';

import { guard } from '../node/server.mjs';
import { readYaml, startServer, tempDir } from './admin_helpers.mjs';

// A failed setup (the server does not start) fails every test instead of cancelling them.
const { before, it } = guard();

const RESOURCES_YML = `resources:
  static:
    - name: server-info
      uri: config://server
      contents:
        - text: This is WASImancer, running on MCP!
  dynamic:
    - name: greet-user
      uri: greet-user://{firstName}/{lastName}
      arguments:
        - name: firstName
          type: string
        - name: lastName
          type: string
      contents:
        - text: Say hello to \${firstName} \${lastName}!
`;
const PROMPTS_YML = `prompts:
  predefined:
    - name: code-analyst
      arguments:
        - name: code
          type: string
      messages:
        - role: user
          text: 'Analyze my source code: \${code}'
`;

describe('resources and prompts through the admin API', () => {
  let dir;
  let server;
  let resFile;
  let promptFile;
  const env = () => ({
    PLUGINS_PATH: path.join(dir, 'plugins'),
    RESOURCES_PATH: path.join(dir, 'resources'),
    PROMPTS_PATH: path.join(dir, 'prompts'),
  });

  // The MCP view and the files: what a refused request must leave alone.
  const snapshot = async () => ({
    resources: fs.readFileSync(resFile, 'utf8'),
    prompts: fs.readFileSync(promptFile, 'utf8'),
    list: (await server.rpc('resources/list')).result,
    templates: (await server.rpc('resources/templates/list')).result,
    promptList: (await server.rpc('prompts/list')).result,
  });
  const read = async (uri) => {
    const r = await server.rpc('resources/read', { uri });
    if (r.error) return { error: r.error };
    return r.result.contents;
  };
  const getPrompt = async (name, args) => {
    const r = await server.rpc('prompts/get', { name, arguments: args });
    if (r.error) return { error: r.error };
    return r.result.messages;
  };
  const staticNames = async () => (await server.rpc('resources/list')).result.resources.map((r) => r.name).sort();
  const templateNames = async () => (await server.rpc('resources/templates/list')).result.resourceTemplates.map((r) => r.name).sort();
  const promptNames = async () => (await server.rpc('prompts/list')).result.prompts.map((p) => p.name).sort();

  // refused(method, path, body, status, needle, init): the request is refused with {"error": ...}
  // mentioning needle, and nothing changed.
  const refused = async (method, p, body, status, needle, init = {}) => {
    const before = await snapshot();
    const r = await server.admin(method, p, { body, ...init });
    assert.equal(r.status, status, `${method} ${p}: ${r.text}`);
    assert.ok(r.body && typeof r.body === 'object' && !Array.isArray(r.body), `not a JSON object: ${r.text}`);
    assert.deepEqual(Object.keys(r.body), ['error'], r.text);
    assert.equal(typeof r.body.error, 'string');
    assert.ok(r.body.error.length >= 10, `not a useful message: ${r.text}`);
    if (needle) assert.ok(r.body.error.toLowerCase().includes(needle.toLowerCase()), `"${needle}" not in: ${r.body.error}`);
    assert.deepEqual(await snapshot(), before, 'a refused request changed something');
  };

  // One test per refused request: [label, method, path, body, status, needle, init].
  const refusals = (title, cases) => {
    for (const [label, method, p, body, status, needle, init] of cases) {
      it(`${title} refuses: ${label} -> ${status}`, () => refused(method, p, body, status, needle, init));
    }
  };

  before(async () => {
    dir = tempDir('catalog');
    for (const d of ['plugins', 'resources', 'prompts']) fs.mkdirSync(path.join(dir, d));
    resFile = path.join(dir, 'resources', 'resources.yml');
    promptFile = path.join(dir, 'prompts', 'prompts.yml');
    fs.writeFileSync(resFile, RESOURCES_YML);
    fs.writeFileSync(promptFile, PROMPTS_YML);
    server = await startServer({ cwd: dir, env: env() });
  });

  after(async () => {
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // --- resources -------------------------------------------------------------------------------
  it('starts with the resources of resources.yml', async () => {
    assert.deepEqual(await staticNames(), ['server-info']);
    assert.deepEqual(await templateNames(), ['greet-user']);
    assert.deepEqual(await read('greet-user://Bob/Morane'), [{ text: 'Say hello to Bob Morane!', uri: 'greet-user://Bob/Morane' }]);
  });

  const about = { name: 'about', uri: 'info://about', contents: [{ text: 'About this server', extra: 'kept' }] };
  const helloTo = {
    name: 'hello-to',
    uri: 'hello://{who}',
    arguments: [{ name: 'who', type: 'string' }],
    contents: [{ text: 'Hello ${who}!' }],
  };

  it('POST /add-resource (static): 200, the message and the resource; resources/list and read show it', async () => {
    const r = await server.admin('POST', '/add-resource', { body: about });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { message: '🎉 Resource about added successfully', resource: about });
    assert.deepEqual(await staticNames(), ['about', 'server-info']);
    assert.deepEqual(await read('info://about'), [{ text: 'About this server', extra: 'kept', uri: 'info://about' }]);
  });

  it('POST /add-resource (dynamic): templates list and read with ${arg} substitution', async () => {
    const r = await server.admin('POST', '/add-resource', { body: helloTo });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { message: '🎉 Resource hello-to added successfully', resource: helloTo });
    assert.deepEqual(await templateNames(), ['greet-user', 'hello-to']);
    assert.deepEqual(await staticNames(), ['about', 'server-info']);
    assert.deepEqual(await read('hello://Ada'), [{ text: 'Hello Ada!', uri: 'hello://Ada' }]);
    assert.deepEqual(await read('hello://Ada%20Lovelace'), [{ text: 'Hello Ada Lovelace!', uri: 'hello://Ada%20Lovelace' }]);
  });

  it('the additions are in resources.yml', async () => {
    const y = await readYaml(resFile);
    assert.deepEqual(y.resources.static.map((r) => r.name), ['server-info', 'about']);
    assert.deepEqual(y.resources.dynamic.map((r) => r.name), ['greet-user', 'hello-to']);
    assert.deepEqual(y.resources.dynamic[1], helloTo);
  });

  const n1 = { name: 'n1', uri: 'x://y', contents: [{ text: 't' }] };
  refusals('POST /add-resource', [
    ['existing name', 'POST', '/add-resource', { ...about, uri: 'info://other' }, 409, 'about'],
    ['existing uri', 'POST', '/add-resource', { ...about, name: 'about-2' }, 409, 'info://about'],
    ['existing template name', 'POST', '/add-resource', { ...helloTo, uri: 'hello2://{who}' }, 409, 'hello-to'],
    ['body not JSON', 'POST', '/add-resource', '{not json', 400, 'JSON'],
    ['body an array', 'POST', '/add-resource', [about], 400, 'object'],
    ['no name', 'POST', '/add-resource', { uri: 'x://y', contents: [{ text: 't' }] }, 400, 'name'],
    ['no uri', 'POST', '/add-resource', { name: 'n1', contents: [{ text: 't' }] }, 400, 'uri'],
    ['no contents', 'POST', '/add-resource', { name: 'n1', uri: 'x://y' }, 400, 'contents'],
    ['empty contents', 'POST', '/add-resource', { ...n1, contents: [] }, 400, 'contents'],
    ['content without text', 'POST', '/add-resource', { ...n1, contents: [{ nope: 1 }] }, 400, 'text'],
    ['uri without scheme', 'POST', '/add-resource', { ...n1, uri: 'no-scheme' }, 400, 'uri'],
    ['Content-Type text/plain', 'POST', '/add-resource', JSON.stringify(n1), 400, 'json', { headers: { 'Content-Type': 'text/plain' } }],
    ['no token', 'POST', '/add-resource', n1, 403, 'Authorization', { token: null }],
    ['wrong token', 'POST', '/add-resource', n1, 403, 'not valid', { token: 'wrong' }],
  ]);

  it('PUT /update-resource/:name: 200, the message; read shows the new contents', async () => {
    const next = { name: 'about', uri: 'info://about', contents: [{ text: 'Updated about' }] };
    const r = await server.admin('PUT', '/update-resource/about', { body: next });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { message: '🎉 Resource about updated successfully', resource: next });
    assert.deepEqual(await read('info://about'), [{ text: 'Updated about', uri: 'info://about' }]);
  });

  it('PUT /update-resource/:name without a name in the body takes the URL name', async () => {
    const r = await server.admin('PUT', '/update-resource/hello-to', { body: { ...helloTo, name: undefined, contents: [{ text: 'Hi ${who}.' }] } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.message, '🎉 Resource hello-to updated successfully');
    assert.equal(r.body.resource.name, 'hello-to');
    assert.deepEqual(await read('hello://Bo'), [{ text: 'Hi Bo.', uri: 'hello://Bo' }]);
  });

  it('PUT /update-resource/:name can turn a static resource into a template', async () => {
    const next = { name: 'about', uri: 'info://about/{part}', arguments: [{ name: 'part' }], contents: [{ text: 'About ${part}' }] };
    const r = await server.admin('PUT', '/update-resource/about', { body: next });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(await staticNames(), ['server-info']);
    assert.deepEqual(await templateNames(), ['about', 'greet-user', 'hello-to']);
    assert.deepEqual(await read('info://about/licence'), [{ text: 'About licence', uri: 'info://about/licence' }]);
    const y = await readYaml(resFile);
    assert.deepEqual(y.resources.static.map((x) => x.name), ['server-info']);
    assert.deepEqual(y.resources.dynamic.map((x) => x.name).sort(), ['about', 'greet-user', 'hello-to']);
  });

  const aboutY = { name: 'about', uri: 'info://y', contents: [{ text: 't' }] };
  refusals('PUT /update-resource/:name', [
    ['body name differs from the URL', 'PUT', '/update-resource/about', { ...about, name: 'other' }, 400, 'match'],
    ['no contents', 'PUT', '/update-resource/about', { name: 'about', uri: 'info://x' }, 400, 'contents'],
    ['body an array', 'PUT', '/update-resource/about', '[]', 400, 'object'],
    ['unknown name', 'PUT', '/update-resource/ghost', { name: 'ghost', uri: 'g://x', contents: [{ text: 't' }] }, 404, 'ghost'],
    ['uri of another resource', 'PUT', '/update-resource/about', { ...aboutY, uri: 'config://server' }, 409, 'config://server'],
    ['no token', 'PUT', '/update-resource/about', aboutY, 403, 'Authorization', { token: null }],
    ['no name in the URL', 'PUT', '/update-resource/', aboutY, 400, 'name'],
  ]);

  it('DELETE /remove-resource/:name: 200 with the message and the type; gone from the MCP view', async () => {
    let r = await server.admin('DELETE', '/remove-resource/about');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { message: '🙂 Resource about removed successfully', type: 'dynamic' });
    r = await server.admin('DELETE', '/remove-resource/server-info');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { message: '🙂 Resource server-info removed successfully', type: 'static' });
    assert.deepEqual(await staticNames(), []);
    assert.deepEqual(await templateNames(), ['greet-user', 'hello-to']);
    const gone = await read('config://server');
    assert.ok(gone.error, `config://server still reads: ${JSON.stringify(gone)}`);
    const y = await readYaml(resFile);
    assert.deepEqual((y.resources.static ?? []).map((x) => x.name), []);
    assert.deepEqual(y.resources.dynamic.map((x) => x.name).sort(), ['greet-user', 'hello-to']);
  });

  refusals('DELETE /remove-resource/:name', [
    ['removed already', 'DELETE', '/remove-resource/about', undefined, 404, 'about'],
    ['unknown name', 'DELETE', '/remove-resource/ghost', undefined, 404, 'ghost'],
    ['no name in the URL', 'DELETE', '/remove-resource/', undefined, 400, 'name'],
    ['no token', 'DELETE', '/remove-resource/hello-to', undefined, 403, 'Authorization', { token: null }],
    ['wrong token', 'DELETE', '/remove-resource/hello-to', undefined, 403, 'not valid', { token: 'wrong' }],
  ]);

  // --- prompts ---------------------------------------------------------------------------------
  const greet = {
    name: 'greet',
    description: 'greets someone',
    arguments: [{ name: 'who', type: 'string', description: 'whom to greet' }],
    messages: [{ role: 'user', text: 'Say hi to ${who}' }, { role: 'assistant', text: 'Hi ${who}!' }],
  };

  it('starts with the prompts of prompts.yml', async () => {
    assert.deepEqual(await promptNames(), ['code-analyst']);
    assert.deepEqual(await getPrompt('code-analyst', { code: 'x = 1' }),
      [{ role: 'user', content: { type: 'text', text: 'Analyze my source code: x = 1' } }]);
  });

  it('POST /add-prompt: 200, the message and the prompt; prompts/list and prompts/get show it', async () => {
    const r = await server.admin('POST', '/add-prompt', { body: greet });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { message: '🎉 Prompt greet added successfully', prompt: greet });
    assert.deepEqual(await promptNames(), ['code-analyst', 'greet']);
    const listed = (await server.rpc('prompts/list')).result.prompts.find((p) => p.name === 'greet');
    assert.equal(listed.description, 'greets someone');
    assert.deepEqual(listed.arguments.map((a) => a.name), ['who']);
    assert.deepEqual(await getPrompt('greet', { who: 'Ada' }), [
      { role: 'user', content: { type: 'text', text: 'Say hi to Ada' } },
      { role: 'assistant', content: { type: 'text', text: 'Hi Ada!' } },
    ]);
    const y = await readYaml(promptFile);
    assert.deepEqual(y.prompts.predefined.map((p) => p.name), ['code-analyst', 'greet']);
    assert.deepEqual(y.prompts.predefined[1], greet);
  });

  const p2 = { name: 'p2', messages: [{ role: 'user', text: 'x' }] };
  refusals('POST /add-prompt', [
    ['existing name', 'POST', '/add-prompt', greet, 409, 'greet'],
    ['existing name from prompts.yml', 'POST', '/add-prompt', { ...greet, name: 'code-analyst' }, 409, 'code-analyst'],
    ['body not JSON', 'POST', '/add-prompt', '{"name": "p", ', 400, 'JSON'],
    ['body null', 'POST', '/add-prompt', 'null', 400, 'object'],
    ['no name', 'POST', '/add-prompt', { ...greet, name: undefined }, 400, 'name'],
    ['no messages', 'POST', '/add-prompt', { name: 'p2', arguments: [] }, 400, 'messages'],
    ['empty messages', 'POST', '/add-prompt', { name: 'p2', messages: [] }, 400, 'messages'],
    ['unknown role', 'POST', '/add-prompt', { name: 'p2', messages: [{ role: 'robot', text: 'x' }] }, 400, 'role'],
    ['message without text', 'POST', '/add-prompt', { name: 'p2', messages: [{ role: 'user' }] }, 400, 'text'],
    ['arguments not a list', 'POST', '/add-prompt', { ...p2, arguments: 'who' }, 400, 'arguments'],
    ['no token', 'POST', '/add-prompt', p2, 403, 'Authorization', { token: null }],
  ]);

  it('PUT /update-prompt/:name: 200, the message; prompts/get shows the new text', async () => {
    const next = { ...greet, messages: [{ role: 'user', text: 'Please greet ${who} warmly' }] };
    const r = await server.admin('PUT', '/update-prompt/greet', { body: next });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { message: '🎉 Prompt greet updated successfully', prompt: next });
    assert.deepEqual(await getPrompt('greet', { who: 'Grace' }), [{ role: 'user', content: { type: 'text', text: 'Please greet Grace warmly' } }]);
    const y = await readYaml(promptFile);
    assert.deepEqual(y.prompts.predefined.find((p) => p.name === 'greet'), next);
  });

  refusals('PUT /update-prompt/:name', [
    ['body name differs from the URL', 'PUT', '/update-prompt/greet', { ...greet, name: 'code-analyst' }, 400, 'match'],
    ['messages not a list', 'PUT', '/update-prompt/greet', { name: 'greet', messages: 'hi' }, 400, 'messages'],
    ['body not JSON', 'PUT', '/update-prompt/greet', 'not json', 400, 'JSON'],
    ['unknown name', 'PUT', '/update-prompt/ghost', { ...greet, name: 'ghost' }, 404, 'ghost'],
    ['wrong token', 'PUT', '/update-prompt/greet', greet, 403, 'not valid', { token: 'wrong' }],
    ['no name in the URL', 'PUT', '/update-prompt/', greet, 400, 'name'],
  ]);

  it('persistence: a restart serves the same resources and prompts from the YAML files', async () => {
    const before = await snapshot();
    await server.stop();
    server = await startServer({ cwd: dir, env: env() });
    const after = await snapshot();
    assert.deepEqual(after, before);
    assert.deepEqual(await read('hello://Ada'), [{ text: 'Hi Ada.', uri: 'hello://Ada' }]);
    assert.deepEqual(await getPrompt('greet', { who: 'Linus' }), [{ role: 'user', content: { type: 'text', text: 'Please greet Linus warmly' } }]);
  });

  it('DELETE /remove-prompt/:name: 200 with the message; gone from prompts/list and prompts/get', async () => {
    const r = await server.admin('DELETE', '/remove-prompt/greet');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { message: '🙂 Prompt greet removed successfully' });
    assert.deepEqual(await promptNames(), ['code-analyst']);
    const gone = await getPrompt('greet', { who: 'x' });
    assert.ok(gone.error, `greet still answers: ${JSON.stringify(gone)}`);
    const y = await readYaml(promptFile);
    assert.deepEqual(y.prompts.predefined.map((p) => p.name), ['code-analyst']);
  });

  refusals('DELETE /remove-prompt/:name', [
    ['removed already', 'DELETE', '/remove-prompt/greet', undefined, 404, 'greet'],
    ['no name in the URL', 'DELETE', '/remove-prompt/', undefined, 400, 'name'],
    ['no token', 'DELETE', '/remove-prompt/code-analyst', undefined, 403, 'Authorization', { token: null }],
  ]);

  it('the removals survive a restart', async () => {
    await server.stop();
    server = await startServer({ cwd: dir, env: env() });
    assert.deepEqual(await staticNames(), []);
    assert.deepEqual(await templateNames(), ['greet-user', 'hello-to']);
    assert.deepEqual(await promptNames(), ['code-analyst']);
  });
});
