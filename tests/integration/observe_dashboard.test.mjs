// The dashboard (/ui) end to end in headless Chromium (Debian's chromium, driven by the pinned
// playwright-core of tests/ui): sign in, publish by drag and drop (and by OCI reference), see the tool appear, call it,
// update, roll back, follow the live feed and the metrics, remove; at desktop and phone width.
// Screenshots of each page are kept under BUILD/test-artifacts/dashboard/. All on 127.0.0.1;
// the browser and the server are closed at the end whatever happens.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { buildDir, guard, startServer, testPlugin, withCustomSection } from '../node/server.mjs';
import { waitFor } from './observe_helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const playwrightPath = path.resolve(here, '..', 'ui', 'node_modules', 'playwright-core', 'index.mjs');
const chromiumPath = '/usr/bin/chromium';
const artifacts = path.join(buildDir, 'test-artifacts', 'dashboard');
const skip = !fs.existsSync(chromiumPath) ? 'chromium not installed (scripts/install-deps.sh)'
  : !fs.existsSync(playwrightPath) ? 'playwright-core not installed in tests/ui (scripts/install-deps.sh)' : false;

const RESOURCES = { resources: { static: [{ name: 'server-info', uri: 'config://server', contents: [{ text: 'hello' }] }], dynamic: [] } };
const PROMPTS = { prompts: { predefined: [{ name: 'code-analyst', arguments: [{ name: 'code', type: 'string' }], messages: [{ role: 'user', text: 'Analyze ${code}' }] }] } };

describe('observe: dashboard in Chromium', { skip }, () => {
  const { before, it } = guard({ timeout: 120000 });
  let server, browser, context, page, inputs;
  const consoleErrors = [];
  const shot = async (name) => {
    await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
  };
  const pluginData = (version) => JSON.stringify({
    name: 'dice', version, description: 'a test die',
    functions: [{ displayName: 'rollDice', function: 'rollDice', description: 'rolls: A or B' }],
  }, null, 2);
  const row = (plugin) => page.locator(`#plugins tr[data-plugin="${plugin}"]`);
  const callTool = async (tool) => {
    await page.click('#nav button[data-page="tools"]');
    const details = page.locator(`details[data-tool="${tool}"]`);
    if (!(await details.evaluate((d) => d.open))) await details.locator('summary').click();
    const result = details.locator('.try-result');
    await result.evaluate((e) => { e.textContent = ''; });
    await details.locator('form.try button[type=submit]').click();
    await waitFor(async () => /^(ok|error)/.test(await result.textContent()), { what: 'the tool result' });
    return result.textContent();
  };
  const publish = async ({ version, wasm, update, drop }) => {
    if (!update) await page.click('#nav button[data-page="publish"]');
    if (drop) {
      // A real drop event carrying the file, as a person dragging it from their desktop makes.
      const bytes = [...fs.readFileSync(wasm)];
      const dt = await page.evaluateHandle(({ bytes, name }) => {
        const t = new DataTransfer();
        t.items.add(new File([new Uint8Array(bytes)], name, { type: 'application/wasm' }));
        return t;
      }, { bytes, name: path.basename(wasm) });
      await page.dispatchEvent('#drop', 'dragenter', { dataTransfer: dt });
      await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
    } else {
      await page.setInputFiles('#wasm-file', wasm);
    }
    await page.fill('#plugin-data', pluginData(version));
    assert.equal(await page.isChecked('#is-update'), !!update);
    await page.click('#publish-button');
    await waitFor(async () => /uploaded successfully|HTTP \d+/.test(await page.textContent('#publish-result')), { what: 'the publish answer' });
    return page.textContent('#publish-result');
  };

  before(async () => {
    // This run's screenshots only.
    fs.rmSync(artifacts, { recursive: true, force: true });
    fs.mkdirSync(artifacts, { recursive: true });
    inputs = fs.mkdtempSync(path.join(os.tmpdir(), 'wasimancer-dashboard-'));
    server = await startServer({ resources: RESOURCES, prompts: PROMPTS, env: { WASIMANCER_OCI_REGISTRIES: '127.0.0.1' } });
    const { chromium } = await import(pathToFileURL(playwrightPath).href);
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    page.on('dialog', (d) => d.accept());
    // Nothing but our server is ever asked for (no CDN, no font, no analytics).
    await page.route('**/*', (route) => {
      const u = new URL(route.request().url());
      if (u.hostname !== '127.0.0.1' || u.port !== String(server.port)) return route.abort();
      return route.continue();
    });
  });
  let registry;
  after(async () => {
    registry?.kill('SIGTERM');
    await browser?.close().catch(() => {});
    await server?.stop();
    if (inputs) fs.rmSync(inputs, { recursive: true, force: true });
  });

  it('serves the page with a strict Content-Security-Policy', async () => {
    const res = await fetch(`${server.base}/ui`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const html = await res.text();
    assert.doesNotMatch(html, /<script>|\son[a-z]+=|https?:\/\//, 'no inline script, handler or outside URL');
    assert.equal((await fetch(`${server.base}/ui/api/catalog`)).status, 403);
    assert.equal((await fetch(`${server.base}/ui/nope.js`)).status, 404);
  });

  it('signs in with the admin token, kept in memory only', async () => {
    await page.goto(`${server.base}/ui`);
    await shot('01-login');
    await page.fill('#token', 'wrong-token');
    await page.click('#login-form button[type=submit]');
    await waitFor(async () => (await page.textContent('#login-error')).includes('not the admin token'), { what: 'the sign-in error' });
    await page.fill('#token', server.adminToken);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#page-overview:not([hidden])');
    const stored = await page.evaluate(() => JSON.stringify({ l: { ...localStorage }, s: { ...sessionStorage }, c: document.cookie, u: location.href }));
    assert.ok(!stored.includes(server.adminToken), `the token is stored somewhere: ${stored}`);
    assert.equal(await page.inputValue('#token'), '');
    assert.equal((await context.cookies()).length, 0);
    await shot('02-overview-empty');
  });

  it('publishes by drag and drop with upload progress, and the tool appears and answers', async () => {
    // A slow uplink (Chromium's network emulation), so that the upload takes a while and the
    // progress bar moves through intermediate values.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const uplink = (bytesPerSecond) => cdp.send('Network.emulateNetworkConditions',
      { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
    // The test module with 1 MiB of padding (a custom section), sent at 512 KiB/s.
    const big = path.join(inputs, 'dice.wasm');
    fs.writeFileSync(big, withCustomSection(fs.readFileSync(testPlugin('version_a')), 'padding', 1 << 20));
    await uplink(512 * 1024);
    let text;
    try {
      text = await publish({ version: '1.0.0', wasm: big, drop: true });
    } finally {
      await uplink(-1);
    }
    assert.match(text, /File uploaded successfully/);
    const seen = (await page.getAttribute('#upload-progress', 'data-seen')).split(' ').map(Number);
    assert.equal(seen.at(-1), 100, `progress seen: ${seen}`);
    assert.ok(seen.some((v) => v > 0 && v < 100), `no intermediate progress: ${seen}`);
    assert.deepEqual([...seen].sort((x, y) => x - y), seen, 'progress only goes up');
    assert.equal(await page.getAttribute('#upload-progress', 'value'), '100');
    await shot('03-publish');
    await page.click('#nav button[data-page="overview"]');
    await waitFor(async () => (await row('dice').count()) === 1, { what: 'the plugin row' });
    assert.equal(await row('dice').locator('td.version').textContent(), '1.0.0');
    const result = await callTool('rollDice');
    assert.match(result, /^ok in [\d.]+ ms/);
    assert.match(result, /\n\nA$/);
    await shot('04-tools');
  });

  it('updates and rolls back', async () => {
    await page.click('#nav button[data-page="overview"]');
    await row('dice').locator('button[data-action="update"]').click();
    await page.waitForSelector('#page-publish:not([hidden])');
    assert.match(await page.inputValue('#plugin-data'), /"name": "dice"/);
    const text = await publish({ version: '2.0.0', wasm: testPlugin('version_b'), update: true });
    assert.match(text, /File uploaded successfully/);
    await page.click('#nav button[data-page="overview"]');
    await waitFor(async () => (await row('dice').locator('td.version').textContent()) === '2.0.0', { what: 'version 2.0.0' });
    assert.match(await callTool('rollDice'), /\n\nB$/);

    await page.click('#nav button[data-page="overview"]');
    const back = row('dice').locator('button[data-action="rollback"]');
    assert.equal(await back.textContent(), 'Roll back to 1.0.0');
    await back.click();
    await waitFor(async () => (await row('dice').locator('td.version').textContent()) === '1.0.0', { what: 'the rollback to 1.0.0' });
    assert.match(await page.textContent('#overview-message'), /rolled back to version 1\.0\.0/);
    assert.match(await callTool('rollDice'), /\n\nA$/);
  });

  it('shows the live feed and the per-tool figures from /metrics', async () => {
    await page.click('#nav button[data-page="live"]');
    await waitFor(async () => (await page.locator('#feed li[data-type="admin"]').count()) >= 3, { what: 'admin events in the feed' });
    await waitFor(async () => (await page.locator('#feed li[data-type="call"][data-tool="rollDice"]').count()) >= 3, { what: 'call events' });
    const feed = await page.textContent('#feed');
    for (const action of ['plugin publish', 'plugin update', 'plugin rollback']) assert.ok(feed.includes(action), `${action} in ${feed}`);
    await shot('05-live');
    await page.click('#nav button[data-page="overview"]');
    await waitFor(async () => Number(await page.locator('#tool-stats tr[data-tool="rollDice"] td.calls').textContent().catch(() => '0')) >= 3,
      { what: 'the rollDice call count from /metrics', timeoutMs: 20000 });
    await shot('06-overview');
  });

  it('lists resources and prompts', async () => {
    await page.click('#nav button[data-page="catalog"]');
    await waitFor(async () => (await page.textContent('#resources')).includes('server-info'), { what: 'the resources' });
    assert.match(await page.textContent('#prompts'), /code-analyst/);
    await shot('07-catalog');
  });

  it('shows the server\'s error as is, and is usable at phone width', async () => {
    // A file that is not WebAssembly: what the server answers, asked directly, is what the page shows.
    const broken = path.join(inputs, 'not-a-module.wasm');
    fs.writeFileSync(broken, 'this is not WebAssembly');
    const data = pluginData('3.0.0').replace('"dice"', '"broken"').replace('"displayName": "rollDice"', '"displayName": "brokenRoll"');
    const form = new FormData();
    form.append('wasmFile', new Blob([fs.readFileSync(broken)]), 'not-a-module.wasm');
    form.append('pluginData', data);
    const direct = await fetch(`${server.base}/upload-plugin`, { method: 'POST', headers: { Authorization: `Bearer ${server.adminToken}` }, body: form });
    const expected = (await direct.json()).error;
    assert.equal(direct.status, 400, expected);
    assert.doesNotMatch(expected, /already used/);
    await page.click('#nav button[data-page="publish"]');
    if (await page.isChecked('#is-update')) await page.uncheck('#is-update');
    await page.setInputFiles('#wasm-file', broken);
    await page.fill('#plugin-data', data);
    await page.click('#publish-button');
    await waitFor(async () => /^HTTP \d+/.test(await page.textContent('#publish-result')), { what: 'the server error' });
    assert.equal(await page.textContent('#publish-result'), `HTTP ${direct.status}: ${expected}`);
    assert.ok(await page.locator('#publish-result.bad').count(), 'the error is marked as one');
    await shot('08-publish-error');

    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('#nav button[data-page="overview"]');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone screen`);
    await shot('09-phone-overview');
    await page.click('#nav button[data-page="tools"]');
    await shot('10-phone-tools');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  // Debian's docker-registry on loopback; the module pushed with our CLI, published from the page by
  // its reference (the server pulls it), shown with where it came from.
  const registryBin = '/usr/bin/docker-registry';
  it('publishes by OCI reference', async () => {
    assert.ok(fs.existsSync(registryBin), 'docker-registry is not installed (scripts/install-deps.sh installs it)');
    const port = await new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    });
    const dir = fs.mkdtempSync(path.join(inputs, 'registry-'));
    fs.writeFileSync(path.join(dir, 'config.yml'),
      `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n`);
    registry = spawn(registryBin, ['serve', path.join(dir, 'config.yml')], { stdio: 'ignore' });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status).catch(() => 0)) === 200,
      { what: 'the registry', timeoutMs: 30000 });
    const ref = `127.0.0.1:${port}/ui/dice:v1`;
    const push = spawnSync(path.join(buildDir, 'wasimancer'), ['plugin', 'push', testPlugin('version_a'), ref], { encoding: 'utf8' });
    assert.equal(push.status, 0, push.stderr);

    await page.click('#nav button[data-page="publish"]');
    if (await page.isChecked('#is-update')) await page.uncheck('#is-update');
    await page.setInputFiles('#wasm-file', []);
    await page.fill('#oci-ref', ref);
    await page.fill('#plugin-data', pluginData('1.0.0').replace('"dice"', '"pulled"').replace('"displayName": "rollDice"', '"displayName": "pulledRoll"'));
    await page.click('#publish-button');
    await waitFor(async () => /uploaded successfully|HTTP \d+/.test(await page.textContent('#publish-result')), { what: 'the publish answer' });
    assert.match(await page.textContent('#publish-result'), /uploaded successfully/);
    await shot('11-published-by-reference');
    await page.click('#nav button[data-page="overview"]');
    await waitFor(async () => (await row('pulled').count()) === 1, { what: 'the pulled plugin' });
    assert.equal(await row('pulled').locator('[data-oci]').getAttribute('data-oci'), ref);
    assert.match(await callTool('pulledRoll'), /^ok[\s\S]*A$/);
    await page.click('#nav button[data-page="overview"]');
    await row('pulled').locator('button[data-action="remove"]').click();
    await waitFor(async () => (await row('pulled').count()) === 0, { what: 'the pulled plugin to go' });
    await page.evaluate(() => { document.querySelector('#oci-ref').value = ''; });  // (the next publish is by file)
  });

  it('removes the plugin', async () => {
    await page.click('#nav button[data-page="overview"]');
    await row('dice').locator('button[data-action="remove"]').click();
    await waitFor(async () => (await row('dice').count()) === 0, { what: 'the row to go' });
    assert.match(await page.textContent('#overview-message'), /Plugin removed successfully/);
    const tools = await (await fetch(`${server.base}/plugins`, { headers: { Authorization: `Bearer ${server.adminToken}` } })).json();
    assert.deepEqual(tools.plugins, []);
    await shot('12-removed');
    assert.deepEqual(consoleErrors.filter((e) => /Content Security Policy|Refused/.test(e)), []);
  });
});
