// WASI command modules (`kind: command`) through the MCP SDK client: a plain wasm32-wasi program
// written in C (tests/plugins/src/wc_command.c, no PDK) served from plugins.yml and published
// through the admin API; arguments JSON on stdin, argv from templates, stdout as the result, a
// non-zero exit as an error result, a fresh instance per run, a runaway program stopped.
import assert from 'node:assert/strict';
import { after, describe } from 'node:test';

import { text } from '../node/fixtures.mjs';
import { adminApi, connectStreamable, guard, startServer, testPlugin } from '../node/server.mjs';

const { before, it } = guard();

describe('WASI command modules', () => {
  let server;
  let c;

  before(async () => {
    server = await startServer({
      wasm: [testPlugin('wc_command')],
      plugins: {
        plugins: [
          { name: 'shout', path: './wc_command.wasm', version: '1.0.0', kind: 'command', description: 'Upper-cases its input' },
          {
            name: 'wc', path: './wc_command.wasm', version: '1.0.0', kind: 'command', timeoutMs: 1500,
            functions: [
              { displayName: 'count', argv: ['count'], description: 'lines, words and bytes of the arguments JSON' },
              { displayName: 'echo_args', argv: ['args', '{first}', '--n={n}'] },
              { displayName: 'broken', argv: ['fail'] },
              { displayName: 'counter', argv: ['state'] },
              { displayName: 'forever', argv: ['loop'] },
            ],
          },
        ],
      },
    });
    c = await connectStreamable(server);
  });

  after(async () => {
    await c?.client.close().catch(() => {});
    await server?.stop();
  });

  it('a command is listed as a tool, named after its plugin when it lists no functions', async () => {
    const { tools } = await c.client.listTools();
    const shout = tools.find((t) => t.name === 'shout');
    assert.ok(shout, tools.map((t) => t.name).join());
    assert.equal(shout.description, 'Upper-cases its input');
    assert.equal(shout.inputSchema.type, 'object');
    for (const want of ['count', 'echo_args', 'broken', 'counter', 'forever']) assert.ok(tools.some((t) => t.name === want), want);
  });

  it('stdin is the arguments JSON, stdout the result', async () => {
    assert.equal(text(await c.client.callTool({ name: 'shout', arguments: { say: 'hello' } })), '{"SAY":"HELLO"}');
    assert.equal(text(await c.client.callTool({ name: 'count', arguments: { a: 'b c' } })), '0 2 11\n');
  });

  it('argv templates take the arguments', async () => {
    const r = await c.client.callTool({ name: 'echo_args', arguments: { first: 'Ada Lovelace', n: 3 } });
    assert.equal(text(r), 'wc\nargs\nAda Lovelace\n--n=3\n');
  });

  it('a non-zero exit is an error result with its stderr', async () => {
    const r = await c.client.callTool({ name: 'broken', arguments: {} });
    assert.equal(r.isError, true);
    assert.match(text(r), /the command exited with code 3: no such mode: fail/);
  });

  it('every run starts from a fresh instance, and a runaway run is stopped', async () => {
    for (let i = 0; i < 4; ++i) assert.equal(text(await c.client.callTool({ name: 'counter', arguments: {} })), '1\n');
    const r = await c.client.callTool({ name: 'forever', arguments: {} });
    assert.equal(r.isError, true);
    assert.match(text(r), /time limit/);
    assert.equal(text(await c.client.callTool({ name: 'counter', arguments: {} })), '1\n');
  });

  it('published through the admin API with kind: command', async () => {
    const admin = adminApi(server);
    const res = await admin.uploadPlugin(testPlugin('wc_command'),
      { name: 'tally', version: '1.0.0', kind: 'command', functions: [{ displayName: 'tally', argv: ['count'] }] },
      { filename: 'tally.wasm' });
    assert.equal(res.status, 200, res.text);
    assert.equal(text(await c.client.callTool({ name: 'tally', arguments: { x: 'y' } })), '0 1 9\n');
    const bad = await admin.uploadPlugin(testPlugin('wc_command'), { name: 'odd', version: '1.0.0', kind: 'program' },
      { filename: 'odd.wasm' });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.body.error, /"kind" must be "extism" or "command"/);
  });
});
