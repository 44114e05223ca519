// Lightbox Studio's page: plain JavaScript over the REST API. Every piece of data (project,
// class and file names, messages) reaches the page through textContent or DOM calls, never
// as HTML. The session is an HttpOnly cookie: the token is never kept by the page.
'use strict';
// The project on screen, the run whose results are on screen, the poll of the project's
// running run, the runs ticked for comparison (at most two, oldest tick first), and the refused
// uploads per class id (kept until that class uploads again).
let project = null, viewed = null, poll = null, compared = [];
// What the guide line reads: the project's classes and runs as last shown. The design the
// project's next run gets (the server chooses it from the project's patients: {folds, reason}).
let shownClasses = [], shownRuns = [], design = {folds: 1, reason: ''};
const uploadFailures = new Map();
const $ = id => document.getElementById(id);
const active = r => r && ['queued', 'running'].includes(r.status);
// The run whose status was last announced ({id, status}), and the thumbnail to focus again after
// its class's card is rebuilt ({classId, index}).
let announced = null, refocus = null;

/** Says a message to screen readers through the page's live region (role=status), once. */
function announce(message) {
  const region = $('announce');
  // The same words twice in a row are still said: the region is emptied first.
  region.textContent = '';
  setTimeout(() => { region.textContent = message; }, 50);
}

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

// Where a refusal shows: beside the control that caused it when it has a place of its own,
// else the line at the top of the page (brought into view).
const errorPlaces = ['err', 'trainError', 'importError', 'classError'];
function showError(message, where = 'err') {
  $(where).textContent = message || '';
  if (message && where === 'err') $(where).scrollIntoView({block: 'nearest'});
}

class LoginNeeded extends Error {}

/** What a refused request throws: the API's message (and status), or the login form for a 401. */
function refusal(status, body, statusText) {
  if (status === 401) { showLogin(); return new LoginNeeded('log in first'); }
  const e = new Error(body && body.error ? body.error : statusText || `refused (${status})`);
  e.status = status;
  return e;
}

/** A request to the API; a refusal throws its message (and status), for the caller to show where it belongs. */
async function api(path, opts = {}) {
  const r = await fetch(path, Object.assign({credentials: 'same-origin'}, opts));
  if (r.status === 401) throw refusal(401);
  const type = r.headers.get('content-type') || '';
  const body = r.status === 204 ? null : type.includes('json') ? await r.json() : await r.blob();
  if (!r.ok) throw refusal(r.status, body, r.statusText);
  return body;
}
const send = (method, path, obj) => api(path, {method, headers: {'Content-Type': 'application/json'}, body: JSON.stringify(obj)});
const post = (path, obj) => send('POST', path, obj);

/** POSTs a file, reporting the fraction sent (fetch cannot); refusals throw as `api` does. */
function uploadFile(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', path);
    x.withCredentials = true;
    x.responseType = 'json';
    x.upload.onprogress = e => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    x.onerror = () => reject(new Error('the connection to the Studio failed'));
    x.onload = () => x.status >= 200 && x.status < 300 ? resolve(x.response) : reject(refusal(x.status, x.response, x.statusText));
    x.send(file);
  });
}

/** A user action: the error lines are cleared first; what went wrong shows in `where` after. */
const act = (f, where = 'err') => async (...args) => {
  for (const id of errorPlaces) showError('', id);
  try { await f(...args); } catch (e) { if (!(e instanceof LoginNeeded)) showError(e.message, where); }
};

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
  loadImportRoots();
  loadSample().catch(e => { if (!(e instanceof LoginNeeded)) $('sampleError').textContent = e.message; });
  const m = location.hash.match(/project=(\d+)/);
  if (m) await openProject(+m[1]);
}

async function loadLimits() {
  const rules = await api('/api/options');
  const byName = Object.fromEntries(rules.map(r => [r.key, r]));
  // [field, API key, the field's label]; the method's help is the page's own (the CLI's
  // default method is not the Studio's).
  const fields = [['epochs', 'epochs', 'epochs'], ['batch', 'batchSize', 'batch'], ['lr', 'learningRate', 'learning rate'],
    ['copies', 'augmentCopies', 'augmented copies'], ['split', 'split', 'split'], ['balance', 'balance', 'balance'],
    ['ensemble', 'ensemble', 'ensemble'], ['equalize', 'equalize', 'equalise contrast']];
  const hints = [];
  for (const [id, name, label] of fields) {
    const r = byName[name]; if (!r) continue;
    if (r.minimum != null && $(id).type === 'number') $(id).min = r.minimum;
    if (r.maximum != null && $(id).type === 'number') $(id).max = r.maximum;
    $(id).title = r.help || '';
    if (r.range) hints.push(`${label}: ${r.range}`);
  }
  $('limits').textContent = hints.join(' · ');
}

/** Where imports may read from: shown under the box, or the box hidden when importing is off. */
async function loadImportRoots() {
  const {roots} = await api('/api/import/roots');
  $('importBox').hidden = roots.length === 0;
  if (roots.length === 0) {
    // Said to the teacher; the option itself is for whoever started Lightbox, in smaller print.
    $('importRoots').replaceChildren(
      'To import a whole folder of pictures from the computer running Lightbox, ask whoever started Lightbox to allow that folder. Until then, add pictures to a class from your own computer. ',
      el('small', {text: '(For them: restart with lightbox serve --import-root FOLDER.)'}));
  } else {
    $('importRoots').textContent = `Import folders: ${roots.join(', ')}. A path may be absolute or relative to ${roots[0]}; Preview shows what it would add.`;
  }
}

/** The sample project's line: its source and the licences of its pictures (offered, or imported). */
function showSample(s, imported) {
  const licences = list => list.map(l => `${l.license}: ${l.count}`).join('; ');
  const parts = [`Ready-made X-rays from ${s.source}, ${s.sourceURL}.`];
  if (imported) parts.push(`Imported ${imported.imported} pictures, one per patient, into "${imported.project.name}". Their licences: ${licences(imported.licences)}.`);
  else if (s.licences) parts.push(`${Object.entries(s.perClass).map(([k, v]) => `${v} "${k}"`).join(' and ')} pictures, one per patient. Their licences: ${licences(s.licences)}.`);
  else if (s.downloading) parts.push(`Downloading the data set: ${(s.receivedBytes / 1048576).toFixed(1)}${s.expectedBytes ? ' of ' + (s.expectedBytes / 1048576).toFixed(1) : ''} MB…`);
  else parts.push('The data set is not on this computer yet: the button downloads it first, then shows the licences.');
  $('sampleInfo').textContent = parts.join(' ');
  $('sampleError').textContent = s.error || '';
}

async function loadSample() { showSample(await api('/api/sample-project')); }

/** Imports the sample project; when its data set is not here yet, waits for its download first. */
async function addSample() {
  $('sampleButton').disabled = true;
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await post('/api/sample-project', {});
      if (r.project) {
        showSample(await api('/api/sample-project'), r);
        await loadProjects();
        await openProject(r.project.id);
        return;
      }
      let s = r;
      showSample(s);
      while (s.downloading) {
        await new Promise(done => setTimeout(done, 1000));
        s = await api('/api/sample-project');
        showSample(s);
      }
      if (!s.available) return;  // the error says why and what to do
    }
  } finally { $('sampleButton').disabled = false; }
}

async function loadProjects() {
  const list = await api('/api/projects');
  $('noProjects').hidden = list.length > 0;
  $('projects').replaceChildren(...list.map(p => el('button', {text: p.name, 'data-id': p.id, 'aria-current': String(project != null && p.id === project.id),
    onclick: act(() => openProject(p.id))})));
}

/** Shows a project: its classes, its runs, and the newest run's results. Nothing of the project before stays on screen. */
async function openProject(id) {
  clearInterval(poll); poll = null;
  const d = await api('/api/projects/' + id);
  project = d.project; location.hash = 'project=' + id; $('project').hidden = false;
  $('projectName').textContent = project.name;
  for (const b of $('projects').children) b.setAttribute('aria-current', String(+b.dataset.id === id));
  viewed = null; compared = []; shownClasses = []; shownRuns = []; $('compareBox').hidden = true;
  $('results').hidden = true; $('prediction').replaceChildren(); $('cellImages').replaceChildren();
  $('status').textContent = ''; $('cancel').hidden = true; $('train').disabled = false; $('predictFile').value = ''; $('predictCamera').value = '';
  $('skipped').replaceChildren(); $('importPath').value = '';
  $('predictRun').textContent = 'Predict uses the finished run on screen: train one first.';
  drawCurves([], 0);
  showDesign(d.design);
  await renderClasses(d.classes);
  const runs = await renderHistory();
  // The running run, else the newest finished one (an interrupted or failed run after it does not
  // hide the last good results and model), else the newest.
  const shown = runs.find(active) || runs.find(r => r.status === 'finished') || runs[0];
  if (shown) await viewRun(shown.id);
}

async function refreshClasses() {
  const d = await api('/api/projects/' + project.id);
  showDesign(d.design);
  await renderClasses(d.classes);
}

/**
 * How the project's next run divides its patients, said above the Train button: cross-fitting
 * in K folds (the split does not apply, and the ensemble counts members per fold), or one split.
 */
function showDesign(d) {
  const before = design.folds;
  design = d || {folds: 1, reason: ''};
  const k = design.folds, folds = k > 1;
  $('design').textContent = folds
    ? `Design: ${design.reason}. Each picture will be scored by a model that never saw its patient (the model of the fold it is in, trained on the other ${k - 1}), and the ${k} fold models together are the model you download.`
    : `Design: ${design.reason}. The model learns from the training part of the split (under Advanced) and is scored on the test patients.`;
  $('split').disabled = folds;
  $('splitHint').textContent = folds ? `(not used: ${k} folds)` : '';
  $('ensembleLabel').textContent = folds ? 'ensemble members per fold' : 'ensemble members';
  // The form's default follows the design (1 per fold, 3 for one split) until a run's settings fill it.
  if (before !== k && +$('ensemble').value === (before > 1 ? 1 : 3)) $('ensemble').value = folds ? 1 : 3;
}

async function renderClasses(classes) {
  const cards = [];
  for (const c of classes) cards.push(await classCard(c));
  $('classes').replaceChildren(...cards);
  shownClasses = classes;
  guide();
}

/** The next step for someone new to the Studio, read from the project's classes and runs. */
function guide() {  // the minimum is the server's RunManager.minimumImagesPerClass
  const minimum = 10, short = shownClasses.filter(c => c.images < minimum);
  $('guide').textContent =
    shownClasses.length < 2 ? 'Next: add a class for each answer the model should give, such as "COVID-19" and "other".'
    : short.length ? `Next: give every class at least ${minimum} X-rays (the file button on its card, or drop files on it): ` +
      short.map(c => `"${c.name}" has ${c.images}`).join(', ') + '.'
    : shownRuns.some(active) ? 'Training: the curves below follow it; you can cancel it or look at earlier runs meanwhile.'
    : !shownRuns.some(r => r.status === 'finished') ? "Next: press Train. The head method is Teachable Machine's recipe; fine-tuning does better on new patients but is slower."
    : 'Read the results against the lines under them, try Predict on a picture the model has not seen, tick two runs to compare them, and take the model away with the Download links.';
}

async function classCard(c) {
  const input = el('input', {type: 'file', multiple: '', 'aria-label': 'images for ' + c.name});
  // On a phone, a photograph (of a film on a light box) goes through the same upload and checks.
  const camera = el('input', {type: 'file', accept: 'image/*', capture: 'environment', 'aria-label': 'photograph an image for ' + c.name});
  const title = el('span', {}, el('b', {text: c.name}), ' ', el('span', {class: 'count', text: `(${c.images} images)`}));
  const progress = el('div', {class: 'hint uploading', 'aria-live': 'polite'});
  const thumbs = el('div', {class: 'thumbs', role: 'list', 'aria-label': `pictures of ${c.name}: arrow keys move between them, Delete removes one`});
  const refused = uploadFailures.get(c.id) || [];
  const card = el('div', {class: 'col'}, title, ' ',
    el('button', {text: 'rename', 'aria-label': 'rename class ' + c.name, onclick: () => startRename()}),
    el('button', {text: 'delete', 'aria-label': 'delete class ' + c.name, onclick: act(async () => {
      if (!confirm(`Delete the class "${c.name}" and its ${c.images} images?`)) return;
      await api(`/api/projects/${project.id}/classes/${c.id}`, {method: 'DELETE'});
      uploadFailures.delete(c.id);
      await refreshClasses();
    })}),
    el('br'), input, el('label', {class: 'camera'}, 'or take a photo ', camera), progress,
    refused.length ? el('ul', {class: 'refused', 'aria-label': 'refused files'}, ...refused.map(f => el('li', {text: f}))) : '',
    thumbs);
  card.dataset.id = c.id;
  function startRename() {
    const box = el('input', {value: c.name, maxlength: '100', 'aria-label': 'new name for ' + c.name});
    const buttons = [...card.querySelectorAll(':scope > button')];
    const stop = () => { form.replaceWith(title); for (const b of buttons) b.hidden = false; buttons[0].focus(); };
    const form = el('form', {class: 'inline'}, box, el('button', {type: 'submit', text: 'save'}),
      el('button', {type: 'button', text: 'cancel', onclick: stop}));
    box.addEventListener('keydown', e => { if (e.key === 'Escape') stop(); });
    for (const b of buttons) b.hidden = true;
    form.addEventListener('submit', act(async e => {
      e.preventDefault();
      await send('PATCH', `/api/projects/${project.id}/classes/${c.id}`, {name: box.value});
      await refreshClasses();
    }));
    title.replaceWith(form);
    box.focus();
    box.select();
  }
  // Files go one at a time: a bar for the files done and one for the bytes of the file on its way.
  const upload = async files => {
    const failures = [], all = el('progress', {max: files.length, value: 0, 'aria-label': 'files uploaded'});
    const bytes = el('progress', {max: 1, value: 0, 'aria-label': 'bytes of this file sent'}), line = el('span');
    progress.replaceChildren(line, el('br'), all, ' ', bytes);
    let k = 0;
    for (const f of files) {
      line.textContent = `uploading ${++k} of ${files.length}: ${f.name}`;
      bytes.value = 0;
      try {
        await uploadFile(`/api/projects/${project.id}/classes/${c.id}/images?filename=${encodeURIComponent(f.name)}`, f, fraction => { bytes.value = fraction; });
      } catch (e) { if (e instanceof LoginNeeded) return; failures.push(e.message.includes(f.name) ? e.message : `${f.name}: ${e.message}`); }
      all.value = k;
    }
    uploadFailures.set(c.id, failures);
    announce(`"${c.name}": ${files.length - failures.length} of ${files.length} ${files.length === 1 ? 'picture' : 'pictures'} added` +
      (failures.length ? `, ${failures.length} refused (listed on the class)` : ''));
    await refreshClasses();
  };
  input.addEventListener('change', act(e => upload(e.target.files)));
  camera.addEventListener('change', act(e => upload(e.target.files)));
  card.addEventListener('dragover', e => { e.preventDefault(); card.classList.add('drag'); });
  card.addEventListener('dragleave', () => card.classList.remove('drag'));
  card.addEventListener('drop', act(e => { e.preventDefault(); card.classList.remove('drag'); return upload(e.dataTransfer.files); }));
  const images = await api(`/api/projects/${project.id}/classes/${c.id}/images`);
  const twice = images.filter(i => i.alsoIn && i.alsoIn.length);
  if (twice.length) {
    thumbs.before(el('ul', {class: 'refused', 'aria-label': 'pictures also in another class'}, ...twice.map(i =>
      el('li', {text: `${i.filename} is also in ${i.alsoIn.map(n => `"${n}"`).join(', ')}: a picture in two classes is left out of training`}))));
  }
  images.slice(0, 24).forEach((i, k) => {
    const remove = act(async () => {
      if (!confirm(`Delete ${i.filename} from "${c.name}"?`)) return;
      await api('/api/images/' + i.id, {method: 'DELETE'});
      refocus = {classId: c.id, index: k};
      await refreshClasses();
    });
    // The thumbnails are one tab stop (roving tabindex); their delete buttons are for the pointer,
    // the keyboard's is Delete or Backspace on the focused thumbnail.
    thumbs.append(el('span', {class: 'thumb', role: 'listitem', tabindex: k === 0 ? '0' : '-1', 'aria-label': i.filename, 'data-k': k,
      onkeydown: e => { if (e.key === 'Delete' || e.key === 'Backspace') { e.preventDefault(); remove(); } }},
      el('img', {src: '/api/images/' + i.id, alt: '', title: i.filename}),
      el('button', {text: '×', tabindex: '-1', title: 'delete ' + i.filename, 'aria-label': 'delete image ' + i.filename, onclick: remove})));
  });
  thumbs.addEventListener('keydown', e => moveFocus(thumbs, e));
  // A thumbnail focused by a click or a tap becomes the grid's tab stop.
  thumbs.addEventListener('focusin', e => {
    if (!e.target.classList.contains('thumb')) return;
    for (const t of thumbs.querySelectorAll('.thumb')) t.tabIndex = t === e.target ? 0 : -1;
  });
  if (images.length > 24) thumbs.append(el('span', {class: 'more', role: 'listitem', text: `+${images.length - 24} more`}));
  if (refocus && refocus.classId === c.id) {
    const items = thumbs.querySelectorAll('.thumb'), k = Math.min(refocus.index, items.length - 1);
    refocus = null;
    if (k >= 0) { items[0].tabIndex = -1; items[k].tabIndex = 0; requestAnimationFrame(() => items[k].focus()); }
  }
  return card;
}

/**
 * Arrow keys in a grid of thumbnails: left and right to the previous and next, up and down a row
 * (the row's length as laid out), Home and End to the first and last; the focused one keeps the
 * grid's single tab stop.
 */
function moveFocus(grid, e) {
  const items = [...grid.querySelectorAll('.thumb')], at = items.indexOf(document.activeElement);
  if (at < 0) return;
  const perRow = Math.max(1, items.filter(t => t.offsetTop === items[0].offsetTop).length);
  const to = {ArrowRight: at + 1, ArrowLeft: at - 1, ArrowDown: at + perRow, ArrowUp: at - perRow, Home: 0, End: items.length - 1}[e.key];
  if (to == null) return;
  e.preventDefault();
  const k = Math.max(0, Math.min(items.length - 1, to));
  for (const t of items) t.tabIndex = -1;
  items[k].tabIndex = 0;
  items[k].focus();
}

// MARK: runs

/** The project's runs, newest first, as a table; returns them. */
async function renderHistory() {
  const runs = await api(`/api/projects/${project.id}/runs`);
  shownRuns = runs;
  guide();
  $('historyBox').hidden = runs.length === 0;
  $('train').disabled = runs.some(active);
  compared = compared.filter(id => runs.some(r => r.id === id && r.status === 'finished'));
  $('history').replaceChildren(table(['compare', 'run', 'started', 'status', 'method', 'epochs', 'design', 'accuracy (always the largest class)', 'AUC [95% CI]', ''], runs.map(r => {
    const h = r.headline || {}, o = r.options || {};
    const tick = r.status !== 'finished' ? '' : el('input', {type: 'checkbox', 'data-compare': r.id, 'aria-label': `compare run ${r.id}`,
      onchange: act(e => compare(r.id, e.target.checked))});
    if (tick && compared.includes(r.id)) tick.checked = true;
    const row = el('tr', {'data-run': r.id},
      el('td', {}, tick), el('td', {text: String(r.id)}), el('td', {text: new Date(r.created).toLocaleString()}), el('td', {text: r.status}),
      el('td', {text: o.method || 'head'}), el('td', {text: o.epochs != null ? String(o.epochs) : 'default'}),
      el('td', {text: o.folds > 1 ? `${o.folds} folds` : 'one split'}),
      el('td', {text: h.accuracy != null ? `${percent(h.accuracy)} (${percent(h.majorityBaseline)})` : ''}),
      el('td', {text: h.auc != null ? h.auc.toFixed(3) + (h.aucCI ? ` [${h.aucCI.map(x => x.toFixed(2)).join('–')}]` : '') + (h.noBetterThanChance ? ' chance' : '') : ''}),
      el('td', {}, el('button', {text: 'view', 'aria-label': `view run ${r.id}`, onclick: act(() => viewRun(r.id))}),
        active(r) ? '' : el('button', {text: 'delete', 'aria-label': `delete run ${r.id}`, onclick: act(() => deleteRun(r.id))})));
    if (viewed && viewed.id === r.id) row.className = 'viewed';
    return row;
  })));
  const running = runs.find(active);
  if (running && !poll) watch(running.id);
  return runs;
}

/** Puts a run on screen: its settings in the form, its progress or results. */
async function viewRun(id) {
  const r = await api('/api/runs/' + id);
  if (!project || r.projectId !== project.id) return;
  viewed = r;
  fillForm(r.options || {});
  for (const row of $('history').querySelectorAll('tr[data-run]')) row.className = +row.dataset.run === id ? 'viewed' : '';
  $('results').hidden = true; $('prediction').replaceChildren(); $('cellImages').replaceChildren();
  showRun(r);
}

async function deleteRun(id) {
  if (!confirm(`Delete run ${id} with its model and report?`)) return;
  await api('/api/runs/' + id, {method: 'DELETE'});
  if (viewed && viewed.id === id) { viewed = null; $('results').hidden = true; $('status').textContent = ''; drawCurves([], 0); }
  const runs = await renderHistory();
  await renderComparison();
  if (!viewed && runs.length) await viewRun(runs[0].id);
}

/** Ticks or unticks a run for comparison; a third tick replaces the oldest. */
async function compare(id, on) {
  compared = compared.filter(x => x !== id);
  if (on) compared.push(id);
  if (compared.length > 2) compared.shift();
  await renderComparison();
}

/** What a run was told to do, a row each; '—' where a setting does not apply to its method. */
const settingRows = [
  ['method', o => o.method || 'head'],
  ['epochs', o => o.epochs ?? (o.method === 'finetune' ? 6 : 50)],
  ['ensemble members', o => o.method !== 'finetune' ? '—' : o.folds > 1 ? `${o.ensemble ?? 1} per fold` : o.ensemble ?? 3],
  ['batch', o => o.batchSize ?? 16],
  ['learning rate', o => o.method === 'finetune' ? '—' : o.learningRate ?? 0.001],
  ['balance', o => o.method === 'finetune' ? '—' : o.balance || 'none'],
  ['augmented copies', o => o.method === 'finetune' ? '—' : o.augmentCopies ?? 0],
  ['equalise contrast', o => o.equalize || 'none'],
  // Runs from before cross-fitting recorded no folds: they had one split.
  ['design', o => o.folds > 1 ? `${o.folds} folds` : `one split ${o.split || '70/15/15'}`],
];

/** What a finished run measured on the pictures it scored, a row each. */
const resultRows = [
  ['evaluated', m => evaluationName(m)],
  ['scored images (patients)', m => `${m.n_images} (${m.n_patients})`],
  ['accuracy', m => shownFigure(figure(m, 'accuracy'))],
  ['always the largest class', m => m.headline && m.headline.baseline ? percent(m.headline.baseline.accuracy) : 'n/a'],
  ['AUC [95% CI]', m => shownFigure(figure(m, 'auc'))],
  ['operating point', m => hasPoint(m) ? `${m.positive_class} from ${m.threshold.toFixed(3)}` : 'none (the most probable class)'],
  ['sensitivity', m => shownFigure(figure(m, 'sensitivity'))],
  ['specificity', m => shownFigure(figure(m, 'specificity'))],
  ['Brier score', m => m.brier != null ? m.brier.toFixed(3) : 'n/a'],
  ['shortcut audit', m => !m.audit ? 'not run' : auditOutcome[m.audit.outcome] || (m.audit.shortcut_suspected ? 'shortcut suspected' : 'no shortcut found')],
];

// Which box the shortcut audit blacked out (metrics.json's audit.box; runs from before the
// lungs were located record only the central box's x and y).
function auditBoxText(box) {
  if (box && box.kind === 'lungs') {
    const margin = typeof box.margin === 'number' ? `${Math.round(box.margin * 100)}%` : 'a';
    return `Box blanked: each picture's own lungs, the box the lung locator (${box.locator || 'shipped'}) predicts plus ${margin} margin on every side.`;
  }
  return 'Box blanked: the fixed central box (x 15-85%, y 10-90% of the model\'s input), the same for every picture.';
}
const auditOutcome = {suspected: 'shortcut suspected', not_suspected: 'no shortcut found', too_few_images: 'too few images to tell',
  weak_model: 'says little (weak model)', no_auc: 'no AUC'};

/**
 * A heatmap with the lung locator's box drawn over it: `lungs.square` is [x0, y0, x1, y1] as
 * fractions of the heatmap (the model's input square). Positions are set through the CSSOM, which
 * the page's content security policy allows (no style attribute is written). Without a box, the
 * picture alone.
 */
function withLungBox(img, lungs) {
  const q = lungs && Array.isArray(lungs.square) && lungs.square.length === 4 && lungs.square.every(Number.isFinite) ? lungs.square : null;
  if (!q) return img;
  const box = el('span', {class: 'lungbox', 'aria-hidden': 'true'});
  box.style.left = `${q[0] * 100}%`;
  box.style.top = `${q[1] * 100}%`;
  box.style.width = `${(q[2] - q[0]) * 100}%`;
  box.style.height = `${(q[3] - q[1]) * 100}%`;
  return el('span', {class: 'withlungs'}, img, box);
}

/**
 * Whether a run's model has an operating point. metrics.json's threshold is 0.5 for a model that
 * answers the most probable class: its operating_point_note then says why; runs from before
 * cross-fitting (no folds key) wrote 0.5 and no note.
 */
const hasPoint = m => !!m.positive_class && m.threshold != null && !m.operating_point_note && !(m.folds == null && m.threshold === 0.5);

/** Why a run has no operating point (metrics.json's note, without its own "no threshold: "). */
const pointNote = m => String(m.operating_point_note || '').replace(/^no threshold: /, '');

/** Whether a run's figures are out of fold (cross-fitting); runs from before it had a test split. */
const outOfFold = m => m.evaluation === 'out-of-fold';
const evaluationName = m => outOfFold(m) ? `out of fold (${m.folds} folds)` : 'held-out test';

/** A figure of a run's headline (metrics.json's, the box at the top of its report.html), by key. */
const figure = (m, key) => ((m.headline || {}).figures || []).find(f => f.key === key);
/** A headline figure as the report shows it: its value with its interval, or with "no interval". */
const shownFigure = f => !f ? 'n/a' : f.text + (f.interval_text ? ` (${f.interval_text})` : ' (no interval)');

/**
 * The two ticked runs side by side: their settings (rows that differ marked), their test results,
 * both ROC curves on one chart, and what the comparison can and cannot say: whether both were
 * tested on the same images, and whether their AUC intervals overlap.
 */
async function renderComparison() {
  for (const box of $('history').querySelectorAll('input[data-compare]')) box.checked = compared.includes(+box.dataset.compare);
  if (compared.length < 2) { $('compareBox').hidden = true; return; }
  const ids = [...compared], forProject = project.id;
  const runs = await Promise.all(ids.map(id => api('/api/runs/' + id)));
  const tested = await Promise.all(ids.map(id => api(`/api/runs/${id}/predictions`)));
  if (!project || project.id !== forProject || compared.join() !== ids.join()) return;  // the ticks changed meanwhile
  const row = (name, values, kind) => el('tr', {class: kind === 'setting' && new Set(values.map(String)).size > 1 ? 'differs' : ''},
    el('th', {text: name, scope: 'row'}), ...values.map(v => el('td', {text: String(v)})));
  $('compareTitle').textContent = `Comparison of run ${ids[0]} and run ${ids[1]}`;
  $('compareTable').replaceChildren(table(['', ...runs.map(r => `run ${r.id}`)], [
    ...settingRows.map(([name, f]) => row(name, runs.map(r => f(r.options || {})), 'setting')),
    ...resultRows.map(([name, f]) => row(name, runs.map(r => f(r.metrics)), 'result')),
  ]));
  const colors = ['#1f77b4', '#d62728'];
  $('compareRoc').replaceChildren(runs.every(r => r.metrics.roc)
    ? rocChart(runs.map((r, k) => ({name: `run ${r.id}`, color: colors[k], points: r.metrics.roc})), 'ROC of both runs') : '');
  const sets = tested.map(rows => new Set(rows.map(x => x.imageId)));
  const common = [...sets[0]].filter(id => id != null && sets[1].has(id)).length;
  const same = !tested.some(rows => rows.some(x => x.imageId == null)) && common === sets[0].size && common === sets[1].size;
  const notes = [same ? `Both runs scored the same ${common} images, so the table compares the settings alone.`
    : `The runs scored different images (${tested[0].length} and ${tested[1].length}, ${common} in common): the differences reflect the data as well as the settings.`];
  if (outOfFold(runs[0].metrics) !== outOfFold(runs[1].metrics)) {
    notes.push('One run is scored out of fold and the other on a held-out test split: their figures rest on different patients.');
  }
  const [ca, cb] = runs.map(r => (figure(r.metrics, 'auc') || {}).interval);
  if (ca && cb) {
    notes.push(ca[0] <= cb[1] && cb[0] <= ca[1]
      ? 'Their AUC intervals overlap: on these patients the difference between the two may be chance.'
      : `Their AUC intervals do not overlap: run ${runs[runs[0].metrics.auc > runs[1].metrics.auc ? 0 : 1].id} scores higher by more than chance explains here.`);
  }
  $('compareNote').replaceChildren(...notes.map(t => el('p', {class: 'hint', text: t})));
  $('compareBox').hidden = false;
}

/** The settings of a run, as the form shows them (what it did not set, the form's defaults). */
function fillForm(o) {
  const method = o.method || 'head';
  $('method').value = method;
  applyMethod();
  const set = (id, v, fallback) => { $(id).value = v != null ? v : fallback; };
  set('epochs', o.epochs, method === 'finetune' ? 6 : 50);
  set('batch', o.batchSize, 16);
  set('lr', o.learningRate, 0.001);
  set('balance', o.balance, 'none');
  set('copies', o.augmentCopies, 0);
  set('split', o.split, '70/15/15');
  set('ensemble', o.ensemble, design.folds > 1 ? 1 : 3);
  set('equalize', o.equalize, 'none');
}

/** Fine-tuning has its own recipe: the head method's rate, balancing and copies do not apply. */
function applyMethod() {
  const fine = $('method').value === 'finetune';
  for (const id of ['lr', 'balance', 'copies']) $(id).disabled = fine;
  $('ensemble').disabled = !fine;
}

// MARK: charts

const SVG = 'http://www.w3.org/2000/svg';
/** An SVG element with attributes and children (text through textContent only). */
function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
const tickText = v => Math.abs(v) >= 10 || v === Math.round(v) ? v.toFixed(0) : v.toFixed(2);

/**
 * A line chart as the report draws them: a frame, five ticks on each axis with their values,
 * named axes, a line per series and a legend. `series`: [{name, color, points: [[x, y]], dashed}].
 */
function lineChart(series, {title, xLabel, yLabel, xRange, yRange, width = 440, height = 260, wholeX = false}) {
  const all = series.flatMap(s => s.points);
  const xs = all.map(p => p[0]), ys = all.map(p => p[1]);
  const [x0, x1] = xRange || [Math.min(...xs, 0), Math.max(...xs, 1)];
  let [y0, y1] = yRange || [Math.min(0, ...ys), Math.max(1e-9, ...ys)];
  if (y1 === y0) y1 = y0 + 1;
  // The legend is a row above the frame, so it never covers a line.
  const left = 52, right = 12, top = 30, bottom = 40, w = width - left - right, h = height - top - bottom;
  const X = v => left + (v - x0) / (x1 - x0 || 1) * w, Y = v => top + h - (v - y0) / (y1 - y0) * h;
  const chart = svg('svg', {width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${title}: ${yLabel} up, ${xLabel} across`, class: 'chart'},
    svg('title', {}, title), svg('rect', {x: left, y: top, width: w, height: h, fill: '#fafafa', stroke: '#999'}));
  for (let i = 0; i <= 4; i++) {
    const fy = y0 + i / 4 * (y1 - y0);
    chart.append(svg('line', {x1: left, x2: left + w, y1: Y(fy), y2: Y(fy), stroke: '#e3e3e3'}),
      svg('text', {x: left - 6, y: Y(fy) + 4, 'font-size': 11, 'text-anchor': 'end'}, tickText(fy)));
  }
  // Epochs are whole numbers: their ticks are too.
  const step = wholeX ? Math.max(1, Math.ceil((x1 - x0) / 4)) : (x1 - x0) / 4;
  for (let fx = x0; fx <= x1 + 1e-9; fx += step) {
    chart.append(svg('text', {x: X(fx), y: top + h + 16, 'font-size': 11, 'text-anchor': 'middle'}, tickText(fx)));
  }
  chart.append(svg('text', {x: left + w / 2, y: height - 6, 'font-size': 12, 'text-anchor': 'middle'}, xLabel),
    svg('text', {x: 14, y: top + h / 2, 'font-size': 12, 'text-anchor': 'middle', transform: `rotate(-90 14 ${top + h / 2})`}, yLabel));
  series.forEach((s, n) => {
    if (s.points.length) {
      chart.append(svg('polyline', Object.assign({fill: 'none', stroke: s.color, 'stroke-width': 2, points: s.points.map(([a, b]) => `${X(a).toFixed(1)},${Y(b).toFixed(1)}`).join(' ')},
        s.dashed ? {'stroke-dasharray': '5,4'} : {})));
    }
  });
  let at = left;
  for (const s of series) {
    chart.append(svg('rect', {x: at, y: 12, width: 12, height: 3, fill: s.color}), svg('text', {x: at + 16, y: 17, 'font-size': 11}, s.name));
    at += 28 + 6.5 * s.name.length;
  }
  return chart;
}

/** Training curves: accuracy on 0..1 and loss on its own scale, epochs across. */
function drawCurves(epochs, total) {
  if (!total) { $('curves').replaceChildren(); return; }
  const line = (key, name, color) => ({name, color, points: epochs.flatMap((e, i) => e[key] == null ? [] : [[i + 1, e[key]]])});
  const xRange = [1, Math.max(2, total)];
  // Cross-fitting has no validation split: its curves are the first fold's model on its training pictures.
  const validated = epochs.some(e => e.val_loss != null || e.val_accuracy != null) || (!epochs.length && design.folds <= 1);
  const pair = (key, name) => [line('train_' + key, 'training', '#1f77b4'), ...(validated ? [line('val_' + key, 'validation', '#d62728')] : [])];
  $('curves').replaceChildren(
    lineChart(pair('accuracy'), {title: 'Accuracy by epoch', xLabel: 'epoch', yLabel: 'accuracy', xRange, yRange: [0, 1], width: 360, height: 220, wholeX: true}),
    lineChart(pair('loss'), {title: 'Loss by epoch', xLabel: 'epoch', yLabel: 'loss', xRange, width: 360, height: 220, wholeX: true}),
    ...(validated ? [] : [el('p', {class: 'hint', text: "The first fold's model as it trains (no validation split: every fold is scored after training)."})]));
}

const chanceLine = {name: 'chance', color: '#999', points: [[0, 0], [1, 1]], dashed: true};
/** ROC curves of one or more runs, with the chance diagonal. */
const rocChart = (curves, title) => lineChart([...curves, chanceLine],
  {title, xLabel: 'false positive rate', yLabel: 'true positive rate', xRange: [0, 1], yRange: [0, 1], width: 300, height: 300});

/** Status line, curves and, for a finished run, results; only for a run of the project on screen. */
function showRun(r) {
  if (!project || r.projectId !== project.id) return;
  const p = r.progress || {};
  $('status').textContent = `run ${r.id}: ${r.status}` + (active(r) && p.stage ? ` — ${p.stage}${p.total ? ` ${p.done}/${p.total}` : ''}` : '') +
    (r.error && r.error !== r.status ? ' — ' + r.error : '');
  $('cancel').hidden = !active(r);
  if (active(r)) $('train').disabled = true;
  // A run that starts, and each change of its status (not every epoch), is announced.
  if (announced ? announced.id === r.id ? announced.status !== r.status : active(r) : active(r)) {
    announce(`run ${r.id}: ${r.status}` + (r.error && r.error !== r.status ? ' — ' + r.error : '') +
      (r.status === 'finished' && r.metrics ? `, accuracy ${percent(r.metrics.accuracy)}` : ''));
  }
  if (announced ? announced.id === r.id || active(r) : active(r)) announced = {id: r.id, status: r.status};
  drawCurves(p.epochs || [], p.totalEpochs || (p.epochs || []).length);
  if (r.status === 'finished' && r.metrics) return showResults(r);
}

const percent = v => v == null || Number.isNaN(v) ? 'n/a' : (v * 100).toFixed(1) + '%';
// Class names in reading order (case aside, numbers by value), whatever order a JSON object's keys come in.
const byClassName = new Intl.Collator('en', {numeric: true}).compare;

function table(header, rows) {
  return el('table', {}, el('tr', {}, ...header.map(h => el('th', {text: h}))), ...rows);
}

/**
 * What the numbers must be read against, as the run's headline words it (metrics.json's, the box at
 * the top of report.html; the server fills it in for older runs): every figure with its interval or
 * why it has none, always answering the largest class, chance, the intervals' width, what a patient
 * is here, and the shortcut verdict. Shown as written, never reworded here.
 */
function honesty(m) {
  const h = m.headline;
  if (!h) return [];
  const lines = [el('ul', {class: 'figures', 'aria-label': 'headline figures'}, ...h.figures.map(f =>
    el('li', {text: `${f.name}: ${f.text}` + (f.interval_text ? ` (${f.interval_text}; ${f.method})` : ` (${f.no_interval})`)})))];
  if (h.baseline) lines.push(el('p', {text: h.baseline.text}));
  for (const n of h.notes) {
    lines.push(el('p', {class: [n.warning ? 'warn' : n.kind === 'no_patient_ids' ? 'hint' : '', n.kind].join(' ').trim(), text: n.text}));
  }
  if (h.shortcut) lines.push(el('p', {class: h.shortcut.suspected ? 'warn' : '', text: `Shortcut audit: ${h.shortcut.verdict}`}));
  return lines;
}

async function showResults(r) {
  const m = r.metrics, oof = outOfFold(m); $('results').hidden = false;
  $('predictRun').textContent = `Predict uses run ${r.id}, the run on screen (view another run under Runs to use it).`;
  $('resultsTitle').textContent = `Results of run ${r.id} (${oof ? 'out of fold' : 'test patients'})`;
  $('headline').textContent = m.headline ? m.headline.summary : '';
  $('basis').textContent = basis(m);
  $('folds').replaceChildren(...foldLines(m));
  $('heldOut').replaceChildren(...heldOutTable(m));
  $('honesty').replaceChildren(...honesty(m));
  const warnings = ((r.progress || {}).notes || []).filter(n => /^warning/i.test(n));
  $('warnings').replaceChildren(...(warnings.length ? [el('ul', {class: 'warn', 'aria-label': 'warnings of this run'}, ...warnings.map(w => el('li', {text: w})))] : []));
  const argmax = m.at_argmax, where = oof ? 'out-of-fold' : 'test';
  const brier = m.brier != null ? ` Brier score ${m.brier.toFixed(3)}.` : '';
  $('decision').textContent = hasPoint(m)
    ? `Operating point: ${m.positive_class} when its probability is at least ${m.threshold.toFixed(3)}` +
      (oof ? ' (chosen on the out-of-fold predictions of every patient)' : ' (chosen on the validation patients)') +
      (argmax ? `; at 0.5 the ${where} sensitivity would be ${percent(argmax.sensitivity)} and specificity ${percent(argmax.specificity)}` : '') + '.' + brier
    : m.operating_point_note ? `No operating point: ${pointNote(m)}.` + brier
    : m.classes.length > 2 ? `No operating point: with ${m.classes.length} classes the model answers the most probable one.` + brier
    : brier.trim();
  $('glossPoint').textContent = 'the probability from which the model says the positive class, chosen to reach a target sensitivity ' +
    (oof ? 'on the out-of-fold predictions (every patient, each scored by a model that never saw them); with fewer than 20 patients of either side there is none, and the model answers the more probable class.'
      : 'on the validation patients (one split).') + ' 0.5 is not always the best line.';
  const audit = m.audit;
  $('audit').replaceChildren(...(audit ? [
    el('b', {text: 'Shortcut audit'}),
    table([`${where} images`, 'AUC', 'accuracy'], audit.conditions.map(c =>
      el('tr', {}, el('td', {text: c.description}), el('td', {text: c.auc != null ? c.auc.toFixed(3) : 'n/a'}), el('td', {text: percent(c.accuracy)})))),
    el('p', {class: audit.shortcut_suspected ? 'warn' : '', text: audit.verdict}),
    el('p', {class: 'hint', text: auditBoxText(audit.box)}),
    ...(audit.heatmap_mass_in_lungs ? [el('p', {text: `Heatmap inside the lungs: ${audit.heatmap_mass_in_lungs.text}`})] : []),
    ...(audit.box && audit.box.kind === 'lungs' ? [el('p', {}, 'Heatmaps with each picture\'s lung box drawn (cyan): ',
      el('a', {href: `/api/runs/${r.id}/report#heatmaps`, target: '_blank', rel: 'noopener', text: 'in the report'}), '.')] : [])] : []));
  const rows = await api(`/api/runs/${r.id}/predictions`);
  if (!viewed || viewed.id !== r.id) return;  // another run was put on screen meanwhile
  const confusion = table(['true \\ predicted', ...m.classes], m.classes.map((t, i) =>
    el('tr', {}, el('th', {text: t}), ...m.classes.map((p, j) =>
      el('td', {class: 'cell'}, el('button', {type: 'button', text: String(m.confusion[i][j]), 'aria-label': `${m.confusion[i][j]} ${where} images of ${t} predicted ${p}: show them`,
        onclick: () => openCell(r, rows, t, p)}))))));
  $('confusion').replaceChildren(confusion, el('p', {class: 'hint', text: `Press a count to see those ${oof ? '' : 'test '}X-rays with their heatmaps.`}));
  $('perClass').replaceChildren(table(['class', 'accuracy (recall)', 'precision', 'images'], m.classes.map(c => {
    const k = m.per_class[c] || {};
    return el('tr', {}, el('td', {text: c}), el('td', {text: percent(k.recall)}), el('td', {text: percent(k.precision)}), el('td', {text: String(k.support ?? '')}));
  })));
  $('roc').replaceChildren(m.roc ? rocChart([{name: `run ${r.id}`, color: '#2ca02c', points: m.roc}], `ROC for ${m.positive_class || 'the positive class'}${oof ? ', out of fold' : ''}`)
    : el('p', {class: 'hint', text: `No ROC curve: the ${where} images do not hold both classes.`}));
  $('report').href = `/api/runs/${r.id}/report`;
  $('snippets').replaceChildren(...snippets(r));
  // The server names each file; the same names here keep the extension whatever the browser does.
  for (const [id, format, name] of [['dlBundle', 'bundle', `lightbox-run-${r.id}-model.zip`], ['dlTfjs', 'tfjs', `lightbox-run-${r.id}-tfjs.zip`],
    ['dlKeras', 'keras', `lightbox-run-${r.id}-keras.zip`], ['dlOnnx', 'onnx', `lightbox-run-${r.id}.onnx`]]) {
    $(id).href = `/api/runs/${r.id}/download/${format}`;
    $(id).setAttribute('download', name);
  }
}

/** Python lines that apply the calibration a Keras export records (a cross-fitted model's temperature
 *  T, in the .h5 file's attributes; none: unchanged), as lightbox predict shows probabilities. */
const kerasCalibrationLines =
  `calibration = h5py.File("keras_model.h5", "r").attrs.get("lightbox_calibration")  # the model's temperature, if it has one\n` +
  `if calibration:  # lightbox predict shows softmax(log(p) / T)\n` +
  `    z = np.log(np.maximum(probabilities.astype(np.float64), 1e-7)) / json.loads(calibration)["temperature"]\n` +
  `    probabilities = np.exp(z - z.max()) / np.exp(z - z.max()).sum()\n`;


/** What the figures rest on: every picture out of fold, or the test split's patients. */
function basis(m) {
  // patient_ids: whether the pictures carried patient ids (one picture per patient still has them);
  // runs from before it was recorded: as many patients as pictures means none.
  const withoutIDs = m.patient_ids != null ? !m.patient_ids : m.n_patients === m.n_images;
  const patients = withoutIDs ? '(each counted as its own patient)' : `of ${m.n_patients} patients`;
  return outOfFold(m)
    ? `Out of fold: ${m.n_images} pictures ${patients}, each scored by a model that never saw that patient (${m.folds} folds).`
    : `Held-out test: ${m.n_images} pictures ${patients} that the model never saw in training or in choosing its settings.`;
}

/** Cross-fitting: each fold's own AUC (the spread across folds), and what the downloaded model is. */
function foldLines(m) {
  if (!outOfFold(m)) return [];
  const aucs = m.fold_auc || [], known = aucs.filter(a => a != null);
  const lines = [];
  if (aucs.length) {
    lines.push(el('p', {}, el('b', {text: 'Each fold\'s AUC'}), ' (its own model on its own patients): ' +
      aucs.map((a, k) => `fold ${k + 1} ${a != null ? a.toFixed(3) : 'n/a'}`).join(', ') +
      (known.length > 1 ? `; from ${Math.min(...known).toFixed(3)} to ${Math.max(...known).toFixed(3)}.` : '.') +
      (known.length < aucs.length ? ' n/a: the fold does not hold both classes, or there are more than two.' : '')));
  }
  lines.push(el('p', {class: 'hint', text: `The model you download averages the ${m.folds} fold models, so it is usually a little better than these out-of-fold figures, which describe one fold's model at a time.`}));
  return lines;
}

/** Cross-fitting with a held-out test set: its figures beside the out-of-fold ones. */
function heldOutTable(m) {
  const h = m.held_out_test;
  if (!h) return [];
  const auc = x => x.auc == null ? 'n/a' : x.auc.toFixed(3) + (x.auc_ci ? ` [${x.auc_ci.map(v => v.toFixed(2)).join('–')}]` : '');
  const rows = [['images (patients)', x => `${x.n_images} (${x.n_patients})`], ['accuracy', x => percent(x.accuracy)], ['AUC [95% CI]', auc],
    ['sensitivity', x => percent(x.sensitivity)], ['specificity', x => percent(x.specificity)]];
  return [el('p', {}, el('b', {text: 'Held-out test'}), ` beside the out-of-fold figures: ${h.n_images} pictures of ${h.n_patients} patients that no fold saw, scored by the downloaded model (all ${m.folds} fold models).`),
    table(['', 'out of fold', 'held-out test'], rows.map(([name, f]) => el('tr', {}, el('th', {text: name, scope: 'row'}), el('td', {text: f(m)}), el('td', {text: f(h)}))))];
}

/**
 * The Python lines that turn `probabilities` into the answer as lightbox predict does: a binary
 * run's operating point (the threshold in full, not rounded), else the most probable class.
 */
function decisionLine(m) {
  if (!hasPoint(m) || m.classes.length !== 2) {
    return `\n# this model has no operating point: the answer is the most probable class\n` +
      `print(${JSON.stringify(m.classes)}[probabilities.index(max(probabilities))])`;
  }
  const k = m.classes.indexOf(m.positive_class), other = m.classes[1 - k];
  return `\n# this model's operating point: ${m.positive_class} from ${m.threshold.toFixed(3)}, not from 0.5\n` +
    `print(${JSON.stringify(m.positive_class)} if probabilities[${k}] >= ${m.threshold} else ${JSON.stringify(other)})`;
}

/** How to use each download, for this run: the command line, Python with ONNX Runtime or Keras, and TF.js in a page. */
function snippets(r) {
  const m = r.metrics, n = r.id, classes = JSON.stringify(m.classes);
  const blocks = [
    ['The model bundle with lightbox (the zip as it is):',
      `lightbox predict --model lightbox-run-${n}-model.zip --heatmap heatmaps/ chest.png\nlightbox evaluate --model lightbox-run-${n}-model.zip --data my-folders/ --out metrics.json`],
    ['ONNX in Python (RGB pixels 0-255, the central square at 224x224, channels first; normalisation is inside the model; Pillow resizes a little differently from Lightbox, so probabilities differ slightly from lightbox predict; the model\'s calibration, when it has one, is inside it):',
      `import numpy as np, onnxruntime as ort\nfrom PIL import Image, ImageOps\n` +
      `session = ort.InferenceSession("lightbox-run-${n}.onnx")\n` +
      `image = ImageOps.fit(Image.open("chest.png").convert("RGB"), (224, 224), Image.BILINEAR)  # the central square\n` +
      `x = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[None]\n` +
      `probabilities = session.run(None, {session.get_inputs()[0].name: x})[0][0].tolist()\n` +
      `print(dict(zip(${classes}, probabilities)))` + decisionLine(m)],
    ['Keras in Python (unzip lightbox-run-' + n + '-keras.zip: keras_model.h5 and labels.txt; Teachable Machine\'s input, x / 127.5 - 1; tf_keras or Keras 3; the model\'s calibration, when it has one, is applied from the file\'s attributes):',
      `import json, h5py, numpy as np\nfrom PIL import Image, ImageOps\nfrom tf_keras.models import load_model  # Keras 3: from keras.models import load_model\n` +
      `model = load_model("keras_model.h5", compile=False)\n` +
      `classes = [line.strip().split(" ", 1)[1] for line in open("labels.txt")]\n` +
      `image = ImageOps.fit(Image.open("chest.png").convert("RGB"), (224, 224), Image.BILINEAR)  # the central square\n` +
      `x = (np.asarray(image, dtype=np.float32) / 127.5 - 1)[None]\n` +
      `probabilities = model.predict(x, verbose=0)[0]\n` + kerasCalibrationLines +
      `probabilities = probabilities.tolist()\nprint(dict(zip(classes, probabilities)))` + decisionLine(m)],
    ['TF.js in a web page (unzip lightbox-run-' + n + '-tfjs.zip beside it; Teachable Machine\'s input, x / 127.5 - 1; the calibration and the operating point, when the model has them, are applied from metadata.json):',
      `const model = await tf.loadLayersModel('model.json');\n` +
      `const metadata = await (await fetch('metadata.json')).json(), user = metadata.userMetadata || {}, labels = metadata.labels;\n` +
      `const pixels = tf.browser.fromPixels(img), [h, w] = pixels.shape, side = Math.min(h, w);\n` +
      `const square = pixels.slice([(h - side) >> 1, (w - side) >> 1, 0], [side, side, 3]);  // the central square\n` +
      `const x = tf.image.resizeBilinear(square, [224, 224]).toFloat().div(127.5).sub(1).expandDims();\n` +
      `let probabilities = Array.from(await model.predict(x).data());  // in the order ${classes}\n` +
      `if (user.calibration) {  // the model's temperature T: lightbox predict shows softmax(log(p) / T)\n` +
      `  const z = probabilities.map(p => Math.log(Math.max(p, 1e-7)) / user.calibration.temperature), top = Math.max(...z);\n` +
      `  const e = z.map(v => Math.exp(v - top)), sum = e.reduce((a, b) => a + b, 0);\n` +
      `  probabilities = e.map(v => v / sum);\n` +
      `}\n` +
      `const point = user.operatingPoint, k = point && labels.length === 2 ? labels.indexOf(point.positiveClass) : -1;\n` +
      `const predicted = k >= 0 ? (probabilities[k] >= point.threshold ? labels[k] : labels[1 - k])  // the operating point, not 0.5\n` +
      `  : labels[probabilities.indexOf(Math.max(...probabilities))];`],
  ];
  if (hasPoint(m)) {
    blocks.push([`This model's operating point: call "${m.positive_class}" when its probability is at least ${m.threshold.toFixed(3)} (lightbox predict applies it; the exports record it in their metadata).`, '']);
  }
  return blocks.map(([text, code]) => el('div', {}, el('p', {text}), code ? el('pre', {}, el('code', {text: code})) : ''));
}

async function openCell(r, rows, truth, predicted) {
  const box = $('cellImages');
  box.replaceChildren(el('p', {text: `true ${truth}, predicted ${predicted}:`}));
  for (const row of rows.filter(x => x.label === truth && x.predicted === predicted)) {
    // Out of fold, each picture's answer and heatmap are its fold's model's, which never saw its patient.
    const shown = `heatmap of the predicted class` + (row.fold != null ? ` by the model of fold ${row.fold}, which never saw this patient` : '');
    if (row.imageId) box.append(el('img', {src: `/api/runs/${r.id}/heatmap/${row.imageId}`, title: shown, alt: shown}));
  }
}

/** Follows the project's running run until it ends; stops when another project is opened. */
function watch(id) {
  clearInterval(poll);
  const forProject = project.id;
  poll = setInterval(async () => {
    try {
      if (!project || project.id !== forProject) { clearInterval(poll); poll = null; return; }
      const r = await api('/api/runs/' + id);
      // The running run's progress shows while it is the run on screen (another may be viewed meanwhile).
      if (!viewed || viewed.id === id) { viewed = r; showRun(r); }
      if (!active(r)) {
        clearInterval(poll); poll = null;
        $('train').disabled = false;
        await renderHistory();
      }
    } catch (e) { clearInterval(poll); poll = null; }
  }, 500);
}

const number = (id, what) => {
  const v = $(id).value.trim();
  if (v === '' || !Number.isFinite(+v)) throw new Error(`${what} must be a number (got "${v}")`);
  return +v;
};

/**
 * Why the answer is what it is, said under the bars so the bold answer never seems to contradict
 * them: a model with an operating point calls its positive class from the threshold (bars of
 * 30% can mean that class), else the answer is the most probable class. Percentages carry the
 * digits it takes for the probability and the threshold to read differently when they differ.
 */
function decisionRule(r, m) {
  if (r.threshold == null || r.positiveClass == null) {
    return {percent, text: `The answer, "${r.predicted}", is the most probable class. This model has no operating point` +
      (m.operating_point_note ? `: ${pointNote(m)}.` : ': it answers the class with the largest probability.')};
  }
  const t = r.threshold, p = r.probabilities[r.positiveClass];
  let digits = 1;
  while (digits < 4 && p !== t && (p * 100).toFixed(digits) === (t * 100).toFixed(digits)) digits++;
  const shown = v => v == null || Number.isNaN(v) ? 'n/a' : (v * 100).toFixed(digits) + '%';
  return {percent: shown, text: `${r.positiveClass} is called from ${shown(t)} (this model's operating point), not from the larger probability: ` +
    `here ${r.positiveClass} has ${shown(p)}, ${p >= t ? 'at or above' : 'below'} that line, so the answer is "${r.predicted}".`};
}

function wire() {
  $('login').addEventListener('submit', login);
  $('projectForm').addEventListener('submit', act(async e => {
    e.preventDefault();
    const p = await post('/api/projects', {name: $('newProject').value});
    $('newProject').value = '';
    project = p;
    await loadProjects();
    await openProject(p.id);
  }));
  $('classForm').addEventListener('submit', act(async e => {
    e.preventDefault();
    await post(`/api/projects/${project.id}/classes`, {name: $('newClass').value});
    $('newClass').value = '';
    await refreshClasses();
  }, 'classError'));
  const importing = async dryRun => {
    const started = Date.now();
    const tick = () => { $('skipped').textContent = `${dryRun ? 'reading' : 'importing'}… ${Math.round((Date.now() - started) / 1000)} s`; };
    tick();
    const timer = setInterval(tick, 1000);
    try {
      const r = await post(`/api/projects/${project.id}/import`, {path: $('importPath').value, dryRun});
      const classes = Object.entries(r.perClass).sort(([a], [b]) => byClassName(a, b)).map(([c, n]) => `"${c}" (${n})`).join(', ');
      const summary = dryRun ? `would import ${r.imported} images into ${r.classes} classes: ${classes}` +
        ' (pictures that do not decode are found by the import itself)' : `imported ${r.imported} images: ${classes}`;
      // The reasons, grouped, with every item under a fold: a data set can skip hundreds.
      const reasons = new Map();
      for (const x of r.skipped) reasons.set(x.reason, (reasons.get(x.reason) || 0) + 1);
      $('skipped').replaceChildren(el('span', {text: summary + (r.skipped.length ? `; ${r.skipped.length} skipped` : '')}),
        ...(r.skipped.length ? [el('details', {}, el('summary', {text: [...reasons].map(([why, n]) => `${n}: ${why}`).join('; ')}),
          el('ul', {}, ...r.skipped.slice(0, 500).map(x => el('li', {text: `${x.item}: ${x.reason}`}))),
          r.skipped.length > 500 ? el('p', {text: `and ${r.skipped.length - 500} more`}) : '')] : []));
    } catch (e) { $('skipped').textContent = ''; throw e; } finally { clearInterval(timer); }
    if (!dryRun) await refreshClasses();
  };
  $('sampleButton').addEventListener('click', act(addSample));
  $('previewImport').addEventListener('click', act(() => importing(true), 'importError'));
  $('import').addEventListener('click', act(() => importing(false), 'importError'));
  $('method').addEventListener('change', () => { applyMethod(); $('epochs').value = $('method').value === 'finetune' ? 6 : 50; });
  $('train').addEventListener('click', act(async () => {
    // The split is the design's only with one split; a cross-fitted project has none to send.
    const common = {method: $('method').value, epochs: number('epochs', 'epochs'), batchSize: number('batch', 'batch'), equalize: $('equalize').value,
      ...(design.folds > 1 ? {} : {split: $('split').value})};
    const body = $('method').value === 'finetune' ? {...common, ensemble: number('ensemble', 'ensemble')}
      : {...common, learningRate: number('lr', 'learning rate'), balance: $('balance').value, augmentCopies: number('copies', 'augmented copies')};
    const r = await post(`/api/projects/${project.id}/runs`, body);
    viewed = r; $('results').hidden = true; $('prediction').replaceChildren(); $('cellImages').replaceChildren();
    $('train').disabled = true;
    showRun(r);
    clearInterval(poll); poll = null;
    await renderHistory();
    watch(r.id);
  }, 'trainError'));
  $('closeCompare').addEventListener('click', act(() => { compared = []; return renderComparison(); }));
  $('deleteProject').addEventListener('click', act(async () => {
    if (!confirm(`Delete the project "${project.name}" with all its classes, images and runs?`)) return;
    await api('/api/projects/' + project.id, {method: 'DELETE'});
    clearInterval(poll); poll = null;
    project = null; viewed = null; location.hash = '';
    $('project').hidden = true;
    await loadProjects();
  }));
  $('cancel').addEventListener('click', act(async () => {
    const runs = await api(`/api/projects/${project.id}/runs`), running = runs.find(active);
    if (running) await api(`/api/runs/${running.id}/cancel`, {method: 'POST'});
  }));
  // A picture from a file, or (on a phone) a photograph: the same request and checks.
  const predict = async e => {
    const out = $('prediction'), f = e.target.files[0];
    out.replaceChildren();
    if (!f) return;
    if (!viewed || viewed.status !== 'finished') {
      out.replaceChildren(el('p', {class: 'error', text: 'Train a model first: Predict uses the finished run on screen.'}));
      return;
    }
    out.replaceChildren(el('p', {class: 'hint', text: `classifying ${f.name} with run ${viewed.id}…`}));
    try {
      const run = viewed, r = await api(`/api/runs/${run.id}/predict`, {method: 'POST', body: f});
      const rule = decisionRule(r, run.metrics || {});
      const bars = Object.entries(r.probabilities).sort(([a], [b]) => byClassName(a, b)).map(([k, v]) =>
        el('tr', {}, el('th', {text: k, scope: 'row'}), el('td', {}, el('meter', {min: 0, max: 1, value: v, 'aria-label': `probability of ${k}`})),
          el('td', {text: rule.percent(v)}), ...(r.positiveClass == null ? [] : [el('td', {class: 'hint', text: k === r.positiveClass ? `called from ${rule.percent(r.threshold)}` : ''})])));
      out.replaceChildren(
        el('p', {}, el('b', {text: r.predicted}), ` — run ${run.id}, ${f.name}`),
        el('table', {class: 'bars'}, ...bars),
        el('p', {id: 'predictRule', class: 'rule', text: rule.text}),
        el('figure', {}, withLungBox(el('img', {src: r.heatmap, alt: `heatmap of the evidence for ${r.predicted}`}), r.lungs),
          el('figcaption', {class: 'hint', text: `Grad-CAM heatmap: red is where the evidence for "${r.predicted}" lies, blue where there is little. ` +
            (r.lungs ? 'The cyan box is where the lung locator found the lungs: red outside it is evidence from outside the lungs. ' : '') +
            'Red on a text marker, a device or the picture\'s edge means the model reads those, not the lungs.'})),
        el('p', {class: 'warn', text: r.disclaimer}));
    } catch (err) {
      if (!(err instanceof LoginNeeded)) {
        out.replaceChildren(el('p', {class: 'error', role: 'alert', text: err.message.includes(f.name) ? err.message : `${f.name}: ${err.message}`}));
      }
    }
    e.target.value = '';  // the same file can be chosen again
  };
  $('predictFile').addEventListener('change', predict);
  $('predictCamera').addEventListener('change', predict);
}

document.addEventListener('DOMContentLoaded', () => { wire(); start().catch(e => { if (!(e instanceof LoginNeeded)) showError(e.message); }); });
