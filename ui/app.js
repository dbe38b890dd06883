// wasimancer dashboard: plain JavaScript, no framework, no build step, nothing from a CDN.
// The admin token lives in the `token` variable of this closure only: never in a URL, a cookie,
// localStorage or sessionStorage. Every request sends it in the Authorization header.
'use strict';
(() => {
  let token = null;
  let plugins = [];
  let feedAbort = null;
  let metricsTimer = null;
  const history = new Map();  // tool -> [{t, calls, sum, count}]
  const $ = (sel, root = document) => root.querySelector(sel);
  const el = (tag, props = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'class') e.className = v;
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  };

  // ---- requests ---------------------------------------------------------------------------------
  async function api(method, path, { body, headers = {} } = {}) {
    const h = { Authorization: `Bearer ${token}`, ...headers };
    if (body !== undefined && !(body instanceof FormData) && typeof body !== 'string') {
      h['Content-Type'] = 'application/json';
      body = JSON.stringify(body);
    }
    const res = await fetch(path, { method, headers: h, body, cache: 'no-store', credentials: 'omit' });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, ok: res.ok, json, text };
  }
  // The server's own message, as is.
  const serverMessage = (r) => (r.json && (r.json.error || r.json.message)) || r.text || `HTTP ${r.status}`;

  // ---- sign in / out ----------------------------------------------------------------------------
  $('#login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const input = $('#token');
    token = input.value;
    input.value = '';
    const r = await api('GET', '/plugins').catch((e) => ({ status: 0, text: String(e) }));
    if (r.status !== 200) {
      token = null;
      $('#login-error').textContent = r.status === 403 ? 'That is not the admin token.' : `Cannot sign in: ${serverMessage(r)}`;
      return;
    }
    $('#login-error').textContent = '';
    $('#login').hidden = true;
    $('#nav').hidden = false;
    show('overview');
    refresh();
    metricsTimer = setInterval(refreshMetrics, 5000);
    startFeed();
  });
  $('#logout').addEventListener('click', () => {
    token = null;
    plugins = [];
    clearInterval(metricsTimer);
    if (feedAbort) feedAbort.abort();
    for (const p of document.querySelectorAll('.page')) p.hidden = true;
    $('#nav').hidden = true;
    $('#login').hidden = false;
  });

  // ---- pages ------------------------------------------------------------------------------------
  function show(page) {
    for (const b of document.querySelectorAll('#nav button[data-page]')) b.classList.toggle('active', b.dataset.page === page);
    for (const p of document.querySelectorAll('.page')) p.hidden = p.id !== `page-${page}`;
    if (page === 'catalog') loadCatalog();
  }
  for (const b of document.querySelectorAll('#nav button[data-page]')) b.addEventListener('click', () => show(b.dataset.page));

  async function refresh() {
    await loadPlugins();
    await refreshMetrics();
  }

  // ---- plugins ----------------------------------------------------------------------------------
  async function loadPlugins() {
    const r = await api('GET', '/plugins');
    if (r.status !== 200) return setMessage(`Cannot list plugins: ${serverMessage(r)}`, true);
    plugins = r.json.plugins || [];
    renderPlugins();
    renderTools();
  }

  function setMessage(text, bad = false) {
    const m = $('#overview-message');
    m.textContent = text;
    m.classList.toggle('bad', bad);
  }

  function renderPlugins() {
    $('#plugin-count').textContent = String(plugins.length);
    const body = $('#plugins tbody');
    body.replaceChildren();
    for (const p of plugins) {
      const native = String(p.native || '');
      const onNative = String(p.tier || '').startsWith('native');
      const actions = el('td', { class: 'actions' },
        el('button', { class: 'secondary', onclick: () => startUpdate(p), dataset: { action: 'update', plugin: p.name } }, 'Update'),
        p.previousVersion !== null && p.previousVersion !== undefined
          ? el('button', { class: 'secondary', onclick: () => rollback(p), dataset: { action: 'rollback', plugin: p.name } },
            `Roll back to ${p.previousVersion || 'previous'}`)
          : null,
        el('button', { class: 'danger', onclick: () => removePlugin(p), dataset: { action: 'remove', plugin: p.name } }, 'Remove'));
      body.append(el('tr', { dataset: { plugin: p.name } },
        el('td', {}, el('strong', {}, p.name), el('br'), el('span', { class: 'hint' }, p.description || ''),
          p.quarantined ? el('div', { class: 'quarantined' }, `quarantined: ${p.quarantineReason}`) : null,
          p.oci ? el('div', { class: 'hint provenance', dataset: { oci: p.oci } }, `from ${p.oci}`) : null,
          p.signedBy ? el('div', { class: 'hint provenance', dataset: { signedBy: p.signedBy } }, `signed by key ${p.signedBy}`) : null),
        el('td', { class: 'version' }, p.version || ''),
        el('td', { class: onNative ? 'tier-native' : 'tier-interpreter' }, p.tier || '', el('br'), el('span', { class: 'hint' }, p.isolation === 'process' ? 'sandboxed' : 'in-process')),
        el('td', { class: 'hint wide' }, native),
        el('td', { class: 'wide' }, `${p.instances?.idle ?? 0} idle / ${p.instances?.created ?? 0} made`),
        el('td', { class: 'wide' }, p.previousVersion === null || p.previousVersion === undefined ? '—' : (p.previousVersion || '(unversioned)')),
        actions));
    }
    if (!plugins.length) body.append(el('tr', {}, el('td', { colspan: '7', class: 'hint' }, 'No plugins yet: publish one.')));
  }

  async function rollback(p) {
    setMessage(`Rolling back ${p.name}…`);
    const r = await api('POST', `/rollback-plugin/${encodeURIComponent(p.name)}`);
    setMessage(serverMessage(r), !r.ok);
    await refresh();
  }

  async function removePlugin(p) {
    if (!window.confirm(`Remove plugin "${p.name}" and its tools?`)) return;
    const r = await api('DELETE', `/remove-plugin/${encodeURIComponent(p.name)}`);
    setMessage(serverMessage(r), !r.ok);
    await refresh();
  }

  // ---- tools ------------------------------------------------------------------------------------
  let toolsSignature = '';
  function renderTools() {
    const root = $('#tools');
    // Re-render only when the tools changed, so a refresh does not wipe a form being used.
    const signature = JSON.stringify(plugins.map((p) => [p.name, p.version, p.functions]));
    if (signature === toolsSignature && root.children.length) return;
    toolsSignature = signature;
    const open = new Set([...root.querySelectorAll('details[open]')].map((d) => d.dataset.tool));
    root.replaceChildren();
    for (const p of plugins) {
      for (const f of p.functions || []) {
        const node = $('#tool-template').content.firstElementChild.cloneNode(true);
        node.dataset.tool = f.tool;
        if (open.has(f.tool)) node.open = true;
        $('.tool-name', node).textContent = f.tool;
        $('.tool-plugin', node).textContent = `${p.name} ${p.version || ''}`;
        $('.tool-description', node).textContent = f.description || '';
        $('.schema', node).textContent = JSON.stringify(f.inputSchema || {}, null, 2);
        buildTryForm($('form.try', node), $('.try-result', node), f);
        root.append(node);
      }
    }
    if (!root.children.length) root.append(el('p', { class: 'hint' }, 'No tools yet.'));
  }

  // A form from the tool's input schema: one field per property.
  function buildTryForm(form, out, fn) {
    const props = (fn.inputSchema && fn.inputSchema.properties) || {};
    const fields = [];
    for (const [name, schema] of Object.entries(props)) {
      const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
      let input;
      if (type === 'boolean') input = el('input', { type: 'checkbox', name });
      else if (type === 'number' || type === 'integer') input = el('input', { type: 'number', name, step: type === 'integer' ? '1' : 'any' });
      else if (type === 'string') input = el('input', { type: 'text', name });
      else input = el('textarea', { name, rows: '3', placeholder: 'JSON' });
      fields.push({ name, type, input });
      form.append(el('label', {}, `${name}${schema.description ? ` — ${schema.description}` : ''} `, input));
    }
    form.append(el('button', { type: 'submit' }, 'Call'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const args = {};
      try {
        for (const { name, type, input } of fields) {
          if (type === 'boolean') args[name] = input.checked;
          else if (input.value === '') continue;
          else if (type === 'number' || type === 'integer') args[name] = Number(input.value);
          else if (type === 'string') args[name] = input.value;
          else args[name] = JSON.parse(input.value);
        }
      } catch (e) {
        out.textContent = `Invalid JSON: ${e.message}`;
        out.classList.add('bad');
        return;
      }
      out.textContent = 'Calling…';
      out.classList.remove('bad');
      const t0 = performance.now();
      const r = await api('POST', '/ui/api/call', { body: { tool: fn.tool, arguments: args } });
      const ms = performance.now() - t0;
      if (!r.ok) {
        out.textContent = serverMessage(r);
        out.classList.add('bad');
        return;
      }
      const j = r.json;
      out.classList.toggle('bad', !!j.isError);
      out.textContent = `${j.isError ? `error (${j.outcome})` : 'ok'} in ${j.ms.toFixed(1)} ms on ${j.tier} (round trip ${ms.toFixed(0)} ms)\n\n${j.isError ? j.error : j.output}`;
    });
  }

  // ---- publish / update -------------------------------------------------------------------------
  const TEMPLATE = {
    name: 'hello', version: '1.0.0', description: 'says hello',
    functions: [{ displayName: 'sayHello', function: 'say_hello', description: 'say hello', arguments: [{ name: 'name', type: 'string', description: 'who' }] }],
  };
  $('#plugin-data').value = JSON.stringify(TEMPLATE, null, 2);
  let wasmFile = null;
  const drop = $('#drop');
  const setFile = (f) => {
    wasmFile = f;
    $('#drop-file').textContent = f ? `${f.name} (${(f.size / 1024).toFixed(1)} KB)` : '';
  };
  $('#wasm-file').addEventListener('change', (e) => setFile(e.target.files[0] || null));
  for (const t of ['dragenter', 'dragover']) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add('over'); });
  for (const t of ['dragleave', 'drop']) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove('over'); });
  drop.addEventListener('drop', (e) => { if (e.dataTransfer.files.length) setFile(e.dataTransfer.files[0]); });
  $('#is-update').addEventListener('change', (e) => {
    $('#publish-title').textContent = e.target.checked ? 'Update a plugin' : 'Publish a plugin';
    $('#publish-button').textContent = e.target.checked ? 'Update' : 'Publish';
  });

  function startUpdate(p) {
    const entry = { ...(p.entry || { name: p.name }) };
    delete entry.path;  // the server chooses where the new file goes
    // The old version's provenance (its pin, digest, signature) is not the new one's; a plugin
    // pulled from a registry is updated from its reference unless a file is dropped.
    $('#oci-ref').value = entry.oci || '';
    for (const k of ['oci', 'ociDigest', 'sha256', 'signature', 'signedBy']) delete entry[k];
    $('#plugin-data').value = JSON.stringify(entry, null, 2);
    $('#is-update').checked = true;
    $('#is-update').dispatchEvent(new Event('change'));
    setFile(null);
    $('#sig-file').value = '';
    $('#publish-result').textContent = '';
    show('publish');
  }

  $('#publish-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const out = $('#publish-result');
    const update = $('#is-update').checked;
    const form = new FormData();
    let data = $('#plugin-data').value;
    const ref = $('#oci-ref').value.trim();
    if (wasmFile) form.append('wasmFile', wasmFile, wasmFile.name);
    else if (ref) {
      // Publish by reference: the reference goes into the metadata (pluginData.oci). Metadata
      // that is not JSON is sent as written: the server's error says what is wrong.
      try {
        data = JSON.stringify({ ...JSON.parse(data), oci: ref });
      } catch { /* sent as is */ }
    }
    form.append('pluginData', data);
    const sig = $('#sig-file').files[0];
    if (sig) form.append('signature', sig, sig.name);
    // XMLHttpRequest: fetch cannot report upload progress.
    const xhr = new XMLHttpRequest();
    const bar = $('#upload-progress');
    bar.hidden = false;
    bar.value = 0;
    // The percentages shown, in order (data-seen: the tests read them).
    const seen = [];
    xhr.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable) return;
      bar.value = Math.round((100 * e.loaded) / e.total);
      seen.push(bar.value);
      bar.dataset.seen = seen.join(' ');
    });
    xhr.addEventListener('load', async () => {
      let j;
      try { j = JSON.parse(xhr.responseText); } catch { j = undefined; }
      const ok = xhr.status === 200;
      out.classList.toggle('bad', !ok);
      out.textContent = ok ? `${j.message}\n${j.filePath}${j.note ? `\nnote: ${j.note}` : ''}` : `HTTP ${xhr.status}: ${(j && j.error) || xhr.responseText}`;
      await refresh();
    });
    xhr.addEventListener('error', () => { out.classList.add('bad'); out.textContent = 'The request failed (network error).'; });
    xhr.open(update ? 'PUT' : 'POST', update ? '/update-plugin' : '/upload-plugin');
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    out.textContent = update ? 'Updating…' : 'Publishing…';
    out.classList.remove('bad');
    xhr.send(form);
  });

  // ---- resources and prompts --------------------------------------------------------------------
  async function loadCatalog() {
    const r = await api('GET', '/ui/api/catalog');
    if (!r.ok) return;
    const list = (items, describe) => {
      if (!items.length) return el('p', { class: 'hint' }, 'None.');
      const ul = el('ul');
      for (const i of items) ul.append(el('li', {}, el('strong', {}, i.name), ' ', describe(i)));
      return ul;
    };
    $('#resources').replaceChildren(list(r.json.resources, (i) => el('code', {}, i.uri || '')));
    $('#prompts').replaceChildren(list(r.json.prompts, (i) => el('span', { class: 'hint' }, (i.arguments || []).map((a) => a.name).join(', '))));
  }

  // ---- metrics ----------------------------------------------------------------------------------
  // Parses the Prometheus text format into [{name, labels, value}].
  function parseMetrics(text) {
    const out = [];
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      if (m[3]) {
        const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
        let l;
        while ((l = re.exec(m[3]))) labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
      }
      out.push({ name: m[1], labels, value: Number(m[4]) });
    }
    return out;
  }

  async function refreshMetrics() {
    if (!token) return;
    const r = await api('GET', '/metrics');
    if (!r.ok) return;
    const stats = new Map();
    const get = (tool) => { if (!stats.has(tool)) stats.set(tool, { calls: 0, errors: 0, sum: 0, count: 0 }); return stats.get(tool); };
    for (const s of parseMetrics(r.text)) {
      if (s.name === 'wasimancer_tool_calls_total') {
        const t = get(s.labels.tool);
        t.calls += s.value;
        if (s.labels.outcome !== 'ok') t.errors += s.value;
      } else if (s.name === 'wasimancer_tool_call_duration_seconds_sum') {
        get(s.labels.tool).sum += s.value;
      } else if (s.name === 'wasimancer_tool_call_duration_seconds_count') {
        get(s.labels.tool).count += s.value;
      }
    }
    const now = Date.now();
    const body = $('#tool-stats tbody');
    body.replaceChildren();
    for (const [tool, t] of [...stats].sort((a, b) => a[0].localeCompare(b[0]))) {
      const h = history.get(tool) || [];
      h.push({ t: now, ...t });
      while (h.length > 40) h.shift();
      history.set(tool, h);
      const prev = h.length > 1 ? h[h.length - 2] : null;
      const rate = prev ? t.calls - prev.calls : 0;
      const errPct = t.calls ? (100 * t.errors) / t.calls : 0;
      const mean = t.count ? (1000 * t.sum) / t.count : 0;
      const callsCanvas = el('canvas', { class: 'spark', width: '120', height: '28' });
      const latCanvas = el('canvas', { class: 'spark', width: '120', height: '28' });
      body.append(el('tr', { dataset: { tool } },
        el('td', {}, tool), el('td', { class: 'calls' }, String(t.calls)),
        el('td', { class: errPct > 0 ? 'quarantined' : '' }, `${t.errors} (${errPct.toFixed(1)}%)`),
        el('td', {}, `${mean.toFixed(2)} ms`),
        el('td', {}, el('span', {}, String(rate)), callsCanvas), el('td', { class: 'wide' }, latCanvas)));
      const deltas = h.map((x, i) => (i ? x.calls - h[i - 1].calls : 0));
      const lat = h.map((x, i) => (i && x.count > h[i - 1].count ? (1000 * (x.sum - h[i - 1].sum)) / (x.count - h[i - 1].count) : 0));
      spark(callsCanvas, deltas, '#5b3cc4');
      spark(latCanvas, lat, '#1d7a46');
    }
    if (!stats.size) body.append(el('tr', {}, el('td', { colspan: '6', class: 'hint' }, 'No tool calls yet.')));
  }

  function spark(canvas, values, color) {
    const ctx = canvas.getContext('2d');
    const w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    if (values.length < 2) return;
    const max = Math.max(...values, 1e-9);
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    values.forEach((v, i) => {
      const x = (i / (values.length - 1)) * (w - 2) + 1;
      const y = h - 2 - (v / max) * (h - 4);
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.stroke();
  }

  // ---- live feed (SSE over fetch: EventSource cannot send the Authorization header) -------------
  async function startFeed() {
    if (feedAbort) feedAbort.abort();
    const ctrl = new AbortController();
    feedAbort = ctrl;
    let lastId = 0;
    while (token && !ctrl.signal.aborted) {
      try {
        $('#live-state').textContent = 'connecting';
        const headers = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' };
        if (lastId) headers['Last-Event-ID'] = String(lastId);
        const res = await fetch('/ui/api/events', { headers, signal: ctrl.signal, cache: 'no-store', credentials: 'omit' });
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        $('#live-state').textContent = 'live';
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let cut;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            let id = 0, data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('id:')) id = Number(line.slice(3).trim());
              else if (line.startsWith('data:')) data += line.slice(5).trim();
            }
            if (!data) continue;
            if (id) lastId = id;
            try { onEvent(JSON.parse(data)); } catch { /* not ours */ }
          }
        }
      } catch (e) {
        if (ctrl.signal.aborted) return;
      }
      $('#live-state').textContent = 'reconnecting';
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  let refreshPending = null;
  function onEvent(ev) {
    const time = new Date(ev.time || Date.now()).toLocaleTimeString();
    let item;
    if (ev.type === 'call') {
      item = el('li', { dataset: { type: 'call', tool: ev.tool } }, el('span', { class: 'time' }, time),
        el('strong', {}, ev.tool), el('span', { class: ev.outcome === 'ok' ? 'ok' : 'bad' }, ev.outcome),
        el('span', {}, `${Number(ev.ms).toFixed(1)} ms`), el('span', { class: 'hint' }, `${ev.plugin} ${ev.version || ''} · ${ev.tier}`),
        ev.error ? el('span', { class: 'bad' }, ev.error) : null);
    } else {
      const ok = ev.status === 200;
      item = el('li', { dataset: { type: 'admin' } }, el('span', { class: 'time' }, time),
        el('strong', {}, `${ev.object} ${ev.action}`), el('span', {}, ev.name || ''), ev.version ? el('span', {}, ev.version) : null,
        el('span', { class: ok ? 'ok' : 'bad' }, ok ? 'ok' : `${ev.status}: ${ev.error || ''}`));
      // Someone (maybe another operator) changed the server: refresh the lists once.
      clearTimeout(refreshPending);
      refreshPending = setTimeout(refresh, 300);
    }
    const feed = $('#feed');
    feed.prepend(item);
    while (feed.children.length > 100) feed.lastElementChild.remove();
  }
})();
