// Lightbox Studio's page: plain JavaScript over the REST API. Every piece of data (project,
// class and file names, messages) reaches the page through textContent or DOM calls, never
// as HTML. The session is an HttpOnly cookie: the token is never kept by the page.
'use strict';
let project = null, run = null, poll = null;
const $ = id => document.getElementById(id);

/** An element with properties and children; strings become text nodes. */
function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

function showError(message) { $('err').textContent = message || ''; }

class LoginNeeded extends Error {}

async function api(path, opts = {}) {
  const r = await fetch(path, Object.assign({credentials: 'same-origin'}, opts));
  if (r.status === 401) { showLogin(); throw new LoginNeeded('log in first'); }
  const type = r.headers.get('content-type') || '';
  const body = r.status === 204 ? null : type.includes('json') ? await r.json() : await r.blob();
  if (!r.ok) { const m = body && body.error ? body.error : r.statusText; showError(m); throw new Error(m); }
  showError('');
  return body;
}
const post = (path, obj) => api(path, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(obj)});

function showLogin() { $('login').hidden = false; $('app').hidden = true; }

async function login(e) {
  e.preventDefault();
  const token = $('tokenInput').value.trim();
  $('tokenInput').value = '';
  const r = await fetch('/api/session', {method: 'POST', headers: {Authorization: 'Bearer ' + token}, credentials: 'same-origin'});
  if (!r.ok) { showError('that token was not accepted'); return; }
  showError('');
  start();
}

async function start() {
  await loadProjects();
  $('login').hidden = true; $('app').hidden = false;
  loadLimits();
  const m = location.hash.match(/project=(\d+)/);
  if (m) openProject(+m[1]);
}

async function loadLimits() {
  const rules = await api('/api/options');
  const byName = Object.fromEntries(rules.map(r => [r.key, r]));
  const fields = [['epochs', 'epochs'], ['batch', 'batchSize'], ['lr', 'learningRate'], ['copies', 'augmentCopies'], ['split', 'split'], ['balance', 'balance'],
    ['method', 'method'], ['ensemble', 'ensemble'], ['equalize', 'equalize']];
  const hints = [];
  for (const [id, name] of fields) {
    const r = byName[name]; if (!r) continue;
    if (r.minimum != null && $(id).type === 'number') $(id).min = r.minimum;
    if (r.maximum != null && $(id).type === 'number') $(id).max = r.maximum;
    $(id).title = r.help || '';
    if (r.range) hints.push(`${name}: ${r.range}`);
  }
  $('limits').textContent = hints.join(' · ');
}

async function loadProjects() {
  const list = await api('/api/projects');
  $('projects').replaceChildren(...list.map(p => el('button', {text: p.name, onclick: () => openProject(p.id)})));
}

async function openProject(id) {
  const d = await api('/api/projects/' + id);
  project = d.project; location.hash = 'project=' + id; $('project').hidden = false;
  $('projectName').textContent = project.name;
  const columns = [];
  for (const c of d.classes) columns.push(await classColumn(c));
  $('classes').replaceChildren(...columns);
  const last = d.runs[0];
  run = last || null;
  $('results').hidden = true;
  if (last) { showRun(last); if (['queued', 'running'].includes(last.status)) watch(last.id); }
}

async function classColumn(c) {
  const input = el('input', {type: 'file', multiple: '', accept: 'image/png,image/jpeg', 'aria-label': 'images for ' + c.name});
  const thumbs = el('div', {class: 'thumbs'});
  const col = el('div', {class: 'col'}, el('b', {text: c.name}), ' ', el('span', {class: 'count', text: `(${c.images} images)`}), el('br'), input, thumbs);
  col.dataset.id = c.id;
  const upload = async files => {
    const failures = [];
    for (const f of files) {
      try { await api(`/api/projects/${project.id}/classes/${c.id}/images?filename=${encodeURIComponent(f.name)}`, {method: 'POST', body: f}); }
      catch (e) { if (e instanceof LoginNeeded) return; failures.push(`${f.name}: ${e.message}`); }
    }
    await openProject(project.id);
    if (failures.length) showError(`${failures.length} file(s) refused: ` + failures.join('; '));
  };
  input.addEventListener('change', e => upload(e.target.files));
  col.addEventListener('dragover', e => { e.preventDefault(); col.classList.add('drag'); });
  col.addEventListener('dragleave', () => col.classList.remove('drag'));
  col.addEventListener('drop', e => { e.preventDefault(); col.classList.remove('drag'); upload(e.dataTransfer.files); });
  const images = await api(`/api/projects/${project.id}/classes/${c.id}/images`);
  for (const i of images.slice(0, 24)) thumbs.append(el('img', {src: '/api/images/' + i.id, alt: i.filename, title: i.filename}));
  return col;
}

function drawCurves(epochs, total) {
  const c = $('curves'), g = c.getContext('2d'); g.clearRect(0, 0, c.width, c.height);
  const series = [['train_loss', '#1f77b4'], ['val_loss', '#d62728'], ['train_accuracy', '#2ca02c'], ['val_accuracy', '#ff7f0e']];
  const maxLoss = Math.max(1e-6, ...epochs.map(e => Math.max(e.train_loss || 0, e.val_loss || 0)));
  series.forEach(([key, color], k) => {
    g.strokeStyle = color; g.beginPath();
    epochs.forEach((e, i) => {
      if (e[key] == null) return;
      const v = key.includes('loss') ? e[key] / maxLoss : e[key];
      const x = 30 + i / Math.max(1, total - 1) * 560, y = 200 - v * 180;
      i ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke(); g.fillStyle = color; g.fillText(key, 40 + k * 110, 214);
  });
}

function showRun(r) {
  const p = r.progress || {};
  $('status').textContent = `run ${r.id}: ${r.status}` + (p.stage ? ` — ${p.stage} ${p.done || ''}${p.total ? '/' + p.total : ''}` : '') + (r.error ? ' — ' + r.error : '');
  $('cancel').hidden = !['queued', 'running'].includes(r.status);
  if (p.epochs) drawCurves(p.epochs, p.totalEpochs || p.epochs.length);
  if (r.status === 'finished' && r.metrics) showResults(r);
}

const percent = v => v == null ? 'n/a' : (v * 100).toFixed(1) + '%';
// Class names in reading order (case aside, numbers by value), whatever order a JSON object's keys come in.
const byClassName = new Intl.Collator('en', {numeric: true}).compare;

function table(header, rows) {
  return el('table', {}, el('tr', {}, ...header.map(h => el('th', {text: h}))), ...rows);
}

async function showResults(r) {
  const m = r.metrics; $('results').hidden = false;
  $('headline').textContent = `accuracy ${percent(m.accuracy)}` +
    (m.auc != null ? `, AUC ${m.auc.toFixed(3)}` + (m.auc_ci ? ` [${m.auc_ci.map(x => x.toFixed(2)).join('–')}]` : '') : '') +
    (m.sensitivity != null ? `, sensitivity ${percent(m.sensitivity)}, specificity ${percent(m.specificity)}` : '') +
    ` on ${m.n_images} images of ${m.n_patients} patients`;
  const argmax = m.at_argmax;
  $('decision').textContent = m.positive_class && m.threshold != null
    ? `Operating point: ${m.positive_class} when its probability is at least ${m.threshold.toFixed(3)}` +
      (m.threshold !== 0.5 ? ' (chosen on the validation patients)' : ' (argmax)') +
      (argmax ? `; at 0.5 the test sensitivity would be ${percent(argmax.sensitivity)} and specificity ${percent(argmax.specificity)}` : '') +
      (m.brier != null ? `. Brier score ${m.brier.toFixed(3)}.` : '.')
    : '';
  const audit = m.audit;
  $('audit').replaceChildren(...(audit ? [
    el('b', {text: 'Shortcut audit'}),
    table(['test images', 'AUC', 'accuracy'], audit.conditions.map(c =>
      el('tr', {}, el('td', {text: c.description}), el('td', {text: c.auc != null ? c.auc.toFixed(3) : 'n/a'}), el('td', {text: percent(c.accuracy)})))),
    el('p', {class: audit.shortcut_suspected ? 'warn' : '', text: audit.verdict})] : []));
  const rows = await api(`/api/runs/${r.id}/predictions`);
  const confusion = table(['true \\ predicted', ...m.classes], m.classes.map((t, i) =>
    el('tr', {}, el('th', {text: t}), ...m.classes.map((p, j) =>
      el('td', {class: 'cell', text: String(m.confusion[i][j]), onclick: () => openCell(r, rows, t, p)})))));
  $('confusion').replaceChildren(confusion);
  $('perClass').replaceChildren(table(['class', 'accuracy (recall)', 'precision', 'images'], m.classes.map(c => {
    const k = m.per_class[c] || {};
    return el('tr', {}, el('td', {text: c}), el('td', {text: percent(k.recall)}), el('td', {text: percent(k.precision)}), el('td', {text: String(k.support ?? '')}));
  })));
  const rc = $('roc'), g = rc.getContext('2d'); g.clearRect(0, 0, 260, 260); g.strokeStyle = '#999'; g.strokeRect(20, 10, 230, 230);
  g.beginPath(); g.moveTo(20, 240); g.lineTo(250, 10); g.setLineDash([4, 4]); g.stroke(); g.setLineDash([]);
  if (m.roc) {
    g.strokeStyle = '#2ca02c'; g.lineWidth = 2; g.beginPath();
    m.roc.forEach(([x, y], i) => { const X = 20 + x * 230, Y = 240 - y * 230; i ? g.lineTo(X, Y) : g.moveTo(X, Y); });
    g.stroke(); g.lineWidth = 1;
  }
  g.fillStyle = '#222'; g.fillText('ROC (' + (m.positive_class || '') + ')', 26, 24);
  $('report').href = `/api/runs/${r.id}/report`;
  $('dlBundle').href = `/api/runs/${r.id}/download/bundle`;
  $('dlTfjs').href = `/api/runs/${r.id}/download/tfjs`;
  $('dlKeras').href = `/api/runs/${r.id}/download/keras`;
  $('dlOnnx').href = `/api/runs/${r.id}/download/onnx`;
}

async function openCell(r, rows, truth, predicted) {
  const box = $('cellImages');
  box.replaceChildren(el('p', {text: `true ${truth}, predicted ${predicted}:`}));
  for (const row of rows.filter(x => x.label === truth && x.predicted === predicted)) {
    if (row.imageId) box.append(el('img', {src: `/api/runs/${r.id}/heatmap/${row.imageId}`, title: 'heatmap of the predicted class', alt: 'heatmap'}));
  }
}

function watch(id) {
  clearInterval(poll);
  poll = setInterval(async () => {
    try {
      const r = await api('/api/runs/' + id); run = r; showRun(r);
      if (!['queued', 'running'].includes(r.status)) clearInterval(poll);
    } catch (e) { clearInterval(poll); }
  }, 500);
}

function wire() {
  $('login').addEventListener('submit', login);
  $('createProject').addEventListener('click', async () => {
    const p = await post('/api/projects', {name: $('newProject').value}); $('newProject').value = '';
    await loadProjects(); openProject(p.id);
  });
  $('addClass').addEventListener('click', async () => {
    await post(`/api/projects/${project.id}/classes`, {name: $('newClass').value}); $('newClass').value = ''; openProject(project.id);
  });
  $('import').addEventListener('click', async () => {
    $('skipped').textContent = 'importing…';
    const r = await post(`/api/projects/${project.id}/import`, {path: $('importPath').value}).catch(e => { $('skipped').textContent = ''; throw e; });
    $('skipped').textContent = `imported ${r.imported} images; skipped ${r.skipped.length}` +
      (r.skipped.length ? ': ' + r.skipped.slice(0, 20).map(s => s.item + ' (' + s.reason + ')').join('; ') : '');
    openProject(project.id);
  });
  // Fine-tuning has its own recipe: the head method's rate, balancing and copies do not apply.
  $('method').addEventListener('change', () => {
    const fine = $('method').value === 'finetune';
    for (const id of ['lr', 'balance', 'copies']) $(id).disabled = fine;
    $('ensemble').disabled = !fine;
    $('epochs').value = fine ? 6 : 50;
  });
  $('train').addEventListener('click', async () => {
    const common = {method: $('method').value, epochs: +$('epochs').value, batchSize: +$('batch').value, split: $('split').value,
      equalize: $('equalize').value};
    const body = $('method').value === 'finetune' ? {...common, ensemble: +$('ensemble').value}
      : {...common, learningRate: +$('lr').value, balance: $('balance').value, augmentCopies: +$('copies').value};
    const r = await post(`/api/projects/${project.id}/runs`, body);
    run = r; $('results').hidden = true; showRun(r); watch(r.id);
  });
  $('cancel').addEventListener('click', async () => { if (run) { await api(`/api/runs/${run.id}/cancel`, {method: 'POST'}); } });
  $('predictFile').addEventListener('change', async e => {
    const out = $('prediction');
    out.replaceChildren();
    if (!run || run.status !== 'finished') { showError('train a model first: Predict uses the finished run on screen'); return; }
    const f = e.target.files[0]; if (!f) return;
    const r = await api(`/api/runs/${run.id}/predict`, {method: 'POST', body: f});
    out.replaceChildren(
      el('p', {}, el('b', {text: r.predicted}), ' — ' + Object.entries(r.probabilities).sort(([a], [b]) => byClassName(a, b)).map(([k, v]) => `${k} ${percent(v)}`).join(', ')),
      el('img', {src: r.heatmap, alt: 'heatmap of the predicted class'}),
      el('p', {class: 'warn', text: r.disclaimer}));
  });
}

document.addEventListener('DOMContentLoaded', () => { wire(); start().catch(() => {}); });
