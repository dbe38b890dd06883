// Hot swap under load: several clients call a tool continuously (JSON and SSE answers) and one
// lists the tools, while the plugin is updated 100 times between version_a and version_b (export
// `whoami`, answering {"version":"a"} / {"version":"b"}). No call may fail, every answer must come
// from one whole version, tools/list must never miss the tool, each update must be visible as soon
// as its response arrives, and after the last one the answer is the last version. Afterwards only
// the file of the last version is left on disk.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe } from 'node:test';

import { guard } from '../node/server.mjs';
import { pluginData, readYaml, startServer, tempDir, tempFiles, testPlugin } from './admin_helpers.mjs';

// A failed setup (the server does not start, an upload fails) fails every test instead of
// cancelling them; the setup runs the whole load, hence the longer timeout.
const { before, it } = guard({ timeout: 120000 });

const UPDATES = 100;
const CALLERS = 4;
const VERSIONS = { a: fs.readFileSync(testPlugin('version_a')), b: fs.readFileSync(testPlugin('version_b')) };
const ANSWER = { a: '{"version":"a"}', b: '{"version":"b"}' };
const data = (i, v) => pluginData('swap', 'whoami', { version: `${i}.0.0-${v}` });

describe('hot swap under load', () => {
  let dir;
  let server;
  // A native cache of its own: the native tier (if the runner enables it) builds each version in
  // the background while the swaps go on, instead of finding it cached.
  const env = () => ({
    PLUGINS_PATH: path.join(dir, 'plugins'),
    UPLOAD_PATH: path.join(dir, 'plugins', 'bucket'),
    WASIMANCER_NATIVE_CACHE: path.join(dir, 'native-cache'),
  });
  const run = {
    calls: 0, done: 0, waitsTimedOut: 0, failures: [], seen: { a: 0, b: 0 }, lists: 0, listMisses: [],
    updates: [], staleAfterUpdate: [], lastAnswer: undefined, ms: 0,
  };

  before(async () => {
    dir = tempDir('hotswap');
    fs.mkdirSync(path.join(dir, 'plugins'));
    server = await startServer({ cwd: dir, env: env() });
    const r = await server.upload('POST', VERSIONS.a, data(0, 'a'), { fileName: 'whoami.wasm' });
    assert.equal(r.status, 200, r.text);

    let stop = false;
    const caller = async (k) => {
      const sse = k % 2 === 1;
      while (!stop) {
        run.calls += 1;
        try {
          const res = await server.rpc('tools/call', { name: 'whoami', arguments: {} }, { sse, id: run.calls });
          const text = res.error ? `rpc error ${JSON.stringify(res.error)}`
            : res.result.isError ? `tool error ${JSON.stringify(res.result.content)}` : res.result.content?.[0]?.text;
          if (text === ANSWER.a) run.seen.a += 1;
          else if (text === ANSWER.b) run.seen.b += 1;
          else run.failures.push(`caller ${k}: ${text}`);
        } catch (e) {
          run.failures.push(`caller ${k}: ${e.message}`);
        }
        run.done += 1;
      }
    };
    // Waits until the callers have finished `n` more calls (60 s at most): the updates interleave
    // with calls by construction, not by how fast a busy machine happens to run them.
    const callsFinish = async (n) => {
      const target = run.done + n;
      for (let i = 0; i < 6000 && run.done < target; i += 1) await new Promise((r) => setTimeout(r, 10));
      if (run.done < target) run.waitsTimedOut += 1;
    };
    const lister = async () => {
      while (!stop) {
        run.lists += 1;
        try {
          const names = await server.toolNames();
          if (!names.includes('whoami')) run.listMisses.push(JSON.stringify(names));
        } catch (e) {
          run.listMisses.push(e.message);
        }
      }
    };
    const workers = [...Array.from({ length: CALLERS }, (_, k) => caller(k)), lister()];
    const t0 = Date.now();
    try {
      for (let i = 1; i <= UPDATES; i += 1) {
        const v = i % 2 ? 'b' : 'a';
        await callsFinish(2);
        const res = await server.upload('PUT', VERSIONS[v], data(i, v), { fileName: 'whoami.wasm' });
        run.updates.push(res.status === 200 ? 200 : `${res.status} ${res.text}`);
        // Read-your-writes: once the update's response is in, calls get the new version.
        const now = await server.call('whoami').catch((e) => e.message);
        if (now !== ANSWER[v]) run.staleAfterUpdate.push(`update ${i} (${v}): ${now}`);
      }
    } finally {
      run.ms = Date.now() - t0;
      stop = true;
      await Promise.all(workers);
    }
    run.lastAnswer = await server.call('whoami').catch((e) => e.message);
  });

  after(async () => {
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`all ${UPDATES} updates succeed`, () => {
    const bad = run.updates.filter((s) => s !== 200);
    assert.equal(run.updates.length, UPDATES);
    assert.deepEqual(bad, [], `failed updates: ${bad.slice(0, 5).join('; ')}`);
  });

  it('the callers really ran during the updates (both versions answered)', (t) => {
    t.diagnostic(`${run.calls} calls (${JSON.stringify(run.seen)}), ${run.lists} tools/list, ${UPDATES} updates in ${run.ms} ms`);
    assert.equal(run.waitsTimedOut, 0, `the callers did not finish 2 calls between updates ${run.waitsTimedOut} times (60 s each)`);
    assert.ok(run.done >= 2 * UPDATES, `only ${run.done} calls finished`);
    assert.ok(run.seen.a > 0 && run.seen.b > 0, `answers seen: ${JSON.stringify(run.seen)}`);
  });

  it('zero failed calls, every answer exactly {"version":"a"} or {"version":"b"}', () => {
    assert.deepEqual(run.failures.slice(0, 10), [], `${run.failures.length} of ${run.calls} calls failed`);
  });

  it('tools/list never misses the tool', () => {
    assert.ok(run.lists > 10, `only ${run.lists} tools/list calls`);
    assert.deepEqual(run.listMisses.slice(0, 10), [], `${run.listMisses.length} of ${run.lists} lists missed whoami`);
  });

  it('each update is visible as soon as its response arrives', () => {
    assert.deepEqual(run.staleAfterUpdate.slice(0, 10), []);
  });

  it('after the last update the answer is the last version', () => {
    const last = UPDATES % 2 ? 'b' : 'a';
    assert.equal(run.lastAnswer, ANSWER[last]);
  });

  it('plugins.yml, GET /plugins and the disk agree on the last version; no file is left behind', async (t) => {
    const last = UPDATES % 2 ? 'b' : 'a';
    const yml = await readYaml(path.join(dir, 'plugins', 'plugins.yml'));
    assert.equal(yml.plugins.length, 1);
    assert.equal(yml.plugins[0].version, `${UPDATES}.0.0-${last}`);
    const file = path.join(dir, 'plugins', yml.plugins[0].path);
    assert.deepEqual(fs.readFileSync(file), VERSIONS[last], 'plugins.yml references the last upload');
    const listed = await server.admin('GET', '/plugins/swap');
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.body.version, `${UPDATES}.0.0-${last}`);
    t.diagnostic(`the last version runs on: ${listed.body.tier} (${listed.body.native ?? 'no native status'})`);
    const files = fs.readdirSync(path.join(dir, 'plugins', 'bucket'));
    assert.deepEqual(files, [path.basename(file)], 'only the current file remains in UPLOAD_PATH');
    assert.deepEqual(tempFiles(dir), []);
  });

  it('concurrent publishes of one name: exactly one succeeds, the others get 409', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, k) =>
      server.upload('POST', VERSIONS[k % 2 ? 'b' : 'a'], pluginData('racer', 'whoami', { tool: 'race' }), { fileName: `racer${k}.wasm` })));
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 409, 409, 409, 409, 409, 409, 409], results.map((r) => r.text).join('\n'));
    const yml = await readYaml(path.join(dir, 'plugins', 'plugins.yml'));
    assert.equal(yml.plugins.filter((p) => p.name === 'racer').length, 1);
    const winner = results.find((r) => r.status === 200).body.filePath;
    const stored = fs.readdirSync(path.join(dir, 'plugins', 'bucket')).filter((f) => f.startsWith('racer'));
    assert.deepEqual(stored, [path.basename(winner)], 'only the winner\'s file is stored');
  });

  it('concurrent publishes of different names all land in plugins.yml', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, (_, k) =>
      server.upload('POST', VERSIONS.a, pluginData(`many${k}`, 'whoami', { tool: `many_${k}` }), { fileName: `many${k}.wasm` })));
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200, 200, 200], results.map((r) => r.text).join('\n'));
    const yml = await readYaml(path.join(dir, 'plugins', 'plugins.yml'));
    assert.deepEqual(yml.plugins.map((p) => p.name).filter((n) => n.startsWith('many')).sort(), ['many0', 'many1', 'many2', 'many3', 'many4', 'many5']);
    const names = await server.toolNames();
    for (let k = 0; k < 6; k += 1) assert.ok(names.includes(`many_${k}`), `many_${k} missing from ${names}`);
    const removed = await Promise.all(Array.from({ length: 6 }, (_, k) => server.admin('DELETE', `/remove-plugin/many${k}`)));
    assert.deepEqual(removed.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    const after = await readYaml(path.join(dir, 'plugins', 'plugins.yml'));
    assert.deepEqual(after.plugins.map((p) => p.name).sort(), ['racer', 'swap']);
  });

  it('a restart loads the last version', async () => {
    await server.stop();
    server = await startServer({ cwd: dir, env: env() });
    assert.equal(await server.call('whoami'), ANSWER[UPDATES % 2 ? 'b' : 'a']);
  });
});
