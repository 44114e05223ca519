/// The Studio's single page: plain HTML and JavaScript, using only the REST API.
enum StudioPage {
    static let html = #"""
<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Lightbox Studio</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;color:#222}header{background:#1d3557;color:#fff;padding:10px 20px}
main{padding:16px 20px;max-width:1200px}.warn{background:#fff3cd;border:1px solid #e0c36a;padding:8px 12px;border-radius:6px}
.cols{display:flex;gap:14px;flex-wrap:wrap}.col{border:1px solid #ccc;border-radius:8px;padding:10px;width:260px;min-height:140px}
.col.drag{background:#eef6ff}.thumbs img{width:56px;height:56px;object-fit:cover;margin:2px;border-radius:3px}
button{padding:6px 12px;margin:2px}input,select{margin:2px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}
td.cell{cursor:pointer}td.cell:hover{background:#eef6ff}#err{color:#b00}.box{border:1px solid #ddd;border-radius:8px;padding:10px;margin:10px 0}
canvas{border:1px solid #ddd}#cellImages img{width:96px;height:96px;object-fit:cover;margin:2px}
</style></head><body>
<header><b>Lightbox Studio</b> — teach a computer to read chest X-rays, on your own machine</header>
<main>
<p class="warn"><b>Educational and research software, not a diagnostic device.</b> Results describe one model on one data set.</p>
<div id="err"></div>
<div class="box"><b>Projects</b> <span id="projects"></span>
  <input id="newProject" placeholder="new project name"><button id="createProject">Create</button></div>
<div id="project" style="display:none">
  <h2 id="projectName"></h2>
  <div class="box"><b>Classes</b> <input id="newClass" placeholder="class name"><button id="addClass">Add class</button>
    <span> or import from the server: <input id="importPath" placeholder="a folder under the server's --import-root" size="34"><button id="import">Import</button></span>
    <div id="skipped"></div>
    <div class="cols" id="classes"></div></div>
  <div class="box"><b>Train</b>
    epochs <input id="epochs" type="number" value="50" style="width:60px">
    batch <input id="batch" type="number" value="16" style="width:50px">
    learning rate <input id="lr" value="0.001" style="width:60px">
    balance <select id="balance"><option>none</option><option>oversample</option><option>augment-to:135</option></select>
    augmented copies <input id="copies" type="number" value="0" style="width:40px">
    split <input id="split" value="70/15/15" style="width:70px">
    <button id="train">Train</button> <span id="status"></span>
    <div><canvas id="curves" width="600" height="220"></canvas></div></div>
  <div class="box" id="results" style="display:none"><b>Results (test patients)</b> <span id="headline"></span>
    <div style="display:flex;gap:20px;flex-wrap:wrap"><div id="confusion"></div><div id="perClass"></div><canvas id="roc" width="260" height="260"></canvas></div>
    <div id="cellImages"></div>
    <p><a id="report" target="_blank">Full report</a> · Download: <a id="dlBundle">model bundle</a> · <a id="dlTfjs">TF.js</a> · <a id="dlOnnx">ONNX</a></p></div>
  <div class="box"><b>Predict</b> <input type="file" id="predictFile" accept="image/png,image/jpeg">
    <div id="prediction"></div></div>
</div>
</main>
<script>
let token = localStorage.getItem('lightboxToken') || '';
let project = null, run = null, poll = null;
const $ = id => document.getElementById(id);
async function api(path, opts = {}) {
  opts.headers = Object.assign({}, opts.headers || {}, token ? {Authorization: 'Bearer ' + token} : {});
  const r = await fetch(path, opts);
  if (r.status === 401) { token = prompt('This Studio needs its access token:') || ''; localStorage.setItem('lightboxToken', token); return api(path, opts); }
  const type = r.headers.get('content-type') || '';
  const body = type.includes('json') ? await r.json() : await r.blob();
  if (!r.ok) { const m = body && body.error ? body.error : r.statusText; $('err').textContent = m; throw new Error(m); }
  $('err').textContent = ''; return body;
}
const post = (path, obj) => api(path, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(obj)});
async function loadProjects() {
  const list = await api('/api/projects');
  $('projects').innerHTML = '';
  for (const p of list) { const b = document.createElement('button'); b.textContent = p.name; b.onclick = () => openProject(p.id); $('projects').appendChild(b); }
}
async function openProject(id) {
  const d = await api('/api/projects/' + id); project = d.project; location.hash = 'project=' + id; $('project').style.display = '';
  $('projectName').textContent = project.name; $('classes').innerHTML = '';
  for (const c of d.classes) $('classes').appendChild(await classColumn(c));
  const last = d.runs[0]; if (last) { run = last; showRun(last); if (['queued','running'].includes(last.status)) watch(last.id); }
}
async function classColumn(c) {
  const col = document.createElement('div'); col.className = 'col'; col.dataset.id = c.id;
  col.innerHTML = `<b></b> <span class="count"></span><br><input type="file" multiple accept="image/png,image/jpeg"><div class="thumbs"></div>`;
  col.querySelector('b').textContent = c.name; col.querySelector('.count').textContent = `(${c.images} images)`;
  const upload = async files => { for (const f of files) { try { await api(`/api/projects/${project.id}/classes/${c.id}/images?filename=${encodeURIComponent(f.name)}`, {method: 'POST', body: f}); } catch (e) {} } openProject(project.id); };
  col.querySelector('input').onchange = e => upload(e.target.files);
  col.ondragover = e => { e.preventDefault(); col.classList.add('drag'); };
  col.ondragleave = () => col.classList.remove('drag');
  col.ondrop = e => { e.preventDefault(); col.classList.remove('drag'); upload(e.dataTransfer.files); };
  const images = await api(`/api/projects/${project.id}/classes/${c.id}/images`);
  for (const i of images.slice(0, 24)) col.querySelector('.thumbs').appendChild(await thumb(i.id));
  return col;
}
async function thumb(id) { const img = document.createElement('img'); img.src = URL.createObjectURL(await api('/api/images/' + id)); return img; }
function drawCurves(epochs, total) {
  const c = $('curves'), g = c.getContext('2d'); g.clearRect(0, 0, c.width, c.height);
  const series = [['trainLoss','train_loss','#1f77b4'],['valLoss','val_loss','#d62728'],['trainAcc','train_accuracy','#2ca02c'],['valAcc','val_accuracy','#ff7f0e']];
  const maxLoss = Math.max(1e-6, ...epochs.map(e => Math.max(e.train_loss || 0, e.val_loss || 0)));
  series.forEach(([name, key, color], k) => {
    g.strokeStyle = color; g.beginPath();
    epochs.forEach((e, i) => { if (e[key] == null) return; const v = key.includes('loss') ? e[key] / maxLoss : e[key];
      const x = 30 + i / Math.max(1, total - 1) * 560, y = 200 - v * 180; i ? g.lineTo(x, y) : g.moveTo(x, y); });
    g.stroke(); g.fillStyle = color; g.fillText(key, 40 + k * 110, 214);
  });
}
function showRun(r) {
  const p = r.progress || {};
  $('status').textContent = `run ${r.id}: ${r.status}` + (p.stage ? ` — ${p.stage} ${p.done || ''}${p.total ? '/' + p.total : ''}` : '') + (r.error ? ' — ' + r.error : '');
  if (p.epochs) drawCurves(p.epochs, p.totalEpochs || p.epochs.length);
  if (r.status === 'finished' && r.metrics) showResults(r);
}
async function showResults(r) {
  const m = r.metrics; $('results').style.display = '';
  $('headline').textContent = `accuracy ${(m.accuracy * 100).toFixed(1)}%` + (m.auc != null ? `, AUC ${m.auc.toFixed(3)} [${m.auc_ci ? m.auc_ci.map(x => x.toFixed(2)).join('–') : ''}]` : '') + (m.sensitivity != null ? `, sensitivity ${(m.sensitivity * 100).toFixed(0)}%, specificity ${(m.specificity * 100).toFixed(0)}%` : '') + ` on ${m.n_images} images of ${m.n_patients} patients`;
  const rows = await api(`/api/runs/${r.id}/predictions`);
  let html = '<table><tr><th>true \\ predicted</th>' + m.classes.map(c => `<th>${c}</th>`).join('') + '</tr>';
  m.classes.forEach((t, i) => { html += `<tr><th>${t}</th>` + m.classes.map((p, j) => `<td class="cell" data-t="${t}" data-p="${p}">${m.confusion[i][j]}</td>`).join('') + '</tr>'; });
  $('confusion').innerHTML = html + '</table>';
  $('perClass').innerHTML = '<table><tr><th>class</th><th>accuracy (recall)</th><th>precision</th><th>images</th></tr>' + m.classes.map(c => { const k = m.per_class[c] || {}; const pc = v => v == null ? 'n/a' : (v * 100).toFixed(1) + '%'; return `<tr><td>${c}</td><td>${pc(k.recall)}</td><td>${pc(k.precision)}</td><td>${k.support}</td></tr>`; }).join('') + '</table>';
  const rc = $('roc'), g = rc.getContext('2d'); g.clearRect(0, 0, 260, 260); g.strokeStyle = '#999'; g.strokeRect(20, 10, 230, 230);
  g.beginPath(); g.moveTo(20, 240); g.lineTo(250, 10); g.setLineDash([4, 4]); g.stroke(); g.setLineDash([]);
  if (m.roc) { g.strokeStyle = '#2ca02c'; g.lineWidth = 2; g.beginPath(); m.roc.forEach(([x, y], i) => { const X = 20 + x * 230, Y = 240 - y * 230; i ? g.lineTo(X, Y) : g.moveTo(X, Y); }); g.stroke(); g.lineWidth = 1; }
  g.fillStyle = '#222'; g.fillText('ROC (' + (m.positive_class || '') + ')', 26, 24);
  $('confusion').querySelectorAll('td.cell').forEach(td => td.onclick = async () => {
    $('cellImages').innerHTML = `<p>true ${td.dataset.t}, predicted ${td.dataset.p}:</p>`;
    for (const row of rows.filter(x => x.label === td.dataset.t && x.predicted === td.dataset.p)) if (row.imageId) {
      const img = document.createElement('img'); img.title = 'heatmap of the predicted class';
      img.src = URL.createObjectURL(await api(`/api/runs/${r.id}/heatmap/${row.imageId}`)); $('cellImages').appendChild(img); }
  });
  $('report').href = `/api/runs/${r.id}/report`;
  for (const [id, f] of [['dlBundle','bundle'],['dlTfjs','tfjs'],['dlOnnx','onnx']]) { $(id).href = '#'; $(id).onclick = async e => { e.preventDefault(); const b = await api(`/api/runs/${r.id}/download/${f}`); const a = document.createElement('a'); a.href = URL.createObjectURL(b); a.download = `lightbox-run-${r.id}-${f}`; a.click(); }; }
}
function watch(id) { clearInterval(poll); poll = setInterval(async () => { const r = await api('/api/runs/' + id); run = r; showRun(r); if (!['queued','running'].includes(r.status)) { clearInterval(poll); } }, 500); }
$('createProject').onclick = async () => { const p = await post('/api/projects', {name: $('newProject').value}); await loadProjects(); openProject(p.id); };
$('addClass').onclick = async () => { await post(`/api/projects/${project.id}/classes`, {name: $('newClass').value}); $('newClass').value = ''; openProject(project.id); };
$('import').onclick = async () => { const r = await post(`/api/projects/${project.id}/import`, {path: $('importPath').value});
  $('skipped').textContent = `imported ${r.imported} images; skipped ${r.skipped.length}` + (r.skipped.length ? ': ' + r.skipped.slice(0, 20).map(s => s.item + ' (' + s.reason + ')').join('; ') : ''); openProject(project.id); };
$('train').onclick = async () => { const r = await post(`/api/projects/${project.id}/runs`, {epochs: +$('epochs').value, batchSize: +$('batch').value, learningRate: +$('lr').value, balance: $('balance').value, augmentCopies: +$('copies').value, split: $('split').value}); $('results').style.display = 'none'; watch(r.id); };
$('predictFile').onchange = async e => { if (!run) return; const f = e.target.files[0]; const r = await api(`/api/runs/${run.id}/predict`, {method: 'POST', body: f});
  $('prediction').innerHTML = `<p><b>${r.predicted}</b> — ` + Object.entries(r.probabilities).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(', ') + `</p><img src="${r.heatmap}" width="224"><p class="warn">${r.disclaimer}</p>`; };
loadProjects().then(() => { const m = location.hash.match(/project=(\d+)/); if (m) openProject(+m[1]); });
</script></body></html>
"""#
}
