// Application page: what is deployed from where, its status and running operation, the images it
// runs, the resource tree with a side panel per object, sync / refresh / rollback / sync policy,
// all updated live.

import { api, subscribe } from './api.js';
import { openPolicyDialog, openRollbackDialog, openSyncDialog } from './dialogs.js';
import {
  healthBadge,
  html,
  phaseBadge,
  shortRevision,
  syncBadge,
  syncPolicyText,
  timeTag,
  token,
} from './html.js';
import { imagesHtml } from './images.js';
import { ResourcePanel } from './panel.js';
import { setCrumbs, throttle, toast } from './shell.js';
import { buildTree, renderTree } from './tree.js';

function destinationText(destination = {}) {
  const cluster = destination.name || destination.server || 'in-cluster';
  return `${cluster} · namespace ${destination.namespace || '—'}`;
}

function factsHtml(app) {
  const source = app.spec?.source || app.spec?.sources?.[0] || {};
  // The revision last compared with the cluster, and the one last deployed (they differ while
  // OutOfSync, or after a rollback).
  const revision = app.status?.sync?.revision || app.status?.sync?.revisions;
  const last = (app.status?.history || []).at(-1);
  const deployed = last?.revision || last?.revisions;
  return html`<dl class="facts wide">
    <dt>Project</dt><dd>${app.spec?.project || 'default'}</dd>
    <dt>Repository</dt><dd class="mono" data-field="repo">${source.repoURL || '—'}</dd>
    <dt>Path</dt><dd class="mono" data-field="path">${source.path || source.chart || '—'}</dd>
    <dt>Target revision</dt><dd class="mono">${source.targetRevision || 'HEAD'}</dd>
    <dt>Git revision</dt><dd class="mono" data-field="revision" title="${revision || ''}">${shortRevision(revision) || '—'}</dd>
    <dt>Deployed revision</dt><dd class="mono" data-field="deployed" title="${deployed || ''}">${shortRevision(deployed) || '—'}</dd>
    <dt>Destination</dt><dd data-field="destination">${destinationText(app.spec?.destination)}</dd>
    <dt>Sync policy</dt><dd data-field="sync-policy">${syncPolicyText(app.spec?.syncPolicy)}</dd>
    <dt>Last compared</dt><dd>${timeTag(app.status?.reconciledAt)}</dd>
  </dl>`;
}

function operationHtml(app) {
  const state = app.status?.operationState;
  if (!state) {
    if (app.operation) return html`<p>${phaseBadge('Running')} Sync requested, waiting for the controller…</p>`;
    return html`<p class="muted">No operation yet.</p>`;
  }
  const op = state.operation?.sync || {};
  const who = state.operation?.initiatedBy || {};
  const flags = [op.dryRun && 'dry run', op.prune && 'prune'].filter(Boolean).join(', ');
  const results = state.syncResult?.resources || [];
  return html`<div class="op-line">${phaseBadge(state.phase || 'Running')}
      <span class="op-message" data-field="operation-message">${state.message || ''}</span></div>
    <p class="muted small">
      ${who.automated ? 'Automated sync' : `Sync by ${who.username || 'a user'}`}${flags ? ` (${flags})` : ''}
      to <code>${shortRevision(state.syncResult?.revision || op.revision) || 'target'}</code>,
      started ${timeTag(state.startedAt)}${state.finishedAt ? html`, finished ${timeTag(state.finishedAt)}` : ''}
    </p>
    ${results.length
      ? html`<details class="op-results"><summary>${results.length} resource results</summary>
          <table class="data-table compact"><thead><tr><th scope="col">Kind</th><th scope="col">Name</th><th scope="col">Result</th><th scope="col">Message</th></tr></thead>
          <tbody>${results.map(
            (r) => html`<tr><td>${r.kind}</td><td>${r.name}</td><td>${r.status || ''}</td><td class="wrap">${r.message || ''}</td></tr>`,
          )}</tbody></table></details>`
      : ''}`;
}

/** The project's sync windows that apply to the app: whether it may sync now, why, when that
 * changes; nothing when no window applies. */
export function windowsHtml(windows) {
  const assigned = windows?.assignedWindows || [];
  if (!assigned.length && windows?.canAutoSync !== false) return html``;
  const open = windows.canAutoSync;
  const manual = !open && windows.canSync ? ' A manual sync is allowed.' : '';
  const next = windows.nextChange
    ? html` Next change at <time datetime="${windows.nextChange}">${windows.nextChange}</time>.`
    : '';
  const rows = assigned.map(
    (w) => html`<li><code>${w.kind}</code> <code>${w.schedule}</code> for ${w.duration}
      (${w.timeZone})${w.active ? html` <strong>active</strong>` : ''}${w.manualSync ? ' · manual sync allowed' : ''}</li>`,
  );
  return html`<div class="callout ${open ? '' : 'warn'}" data-field="sync-windows" role="status">
    <strong>${open ? 'Sync allowed' : 'Sync denied'}</strong>: ${windows.reason}.${manual}${next}
    <ul class="small">${rows}</ul></div>`;
}

/** The apps this one depends on (tether.io/depends-on) and those that depend on it, each with
 * its sync and health; whether this app's syncs wait for them. Nothing when there are none. */
export function dependenciesHtml(answer, name) {
  const nodes = answer?.nodes || [];
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const edges = answer?.edges || [];
  const needs = edges.filter((e) => e.from === name).map((e) => e.to);
  const neededBy = edges.filter((e) => e.to === name).map((e) => e.from);
  if (!needs.length && !neededBy.length && !answer?.error) return html``;
  const item = (dep) => {
    const node = byName.get(dep) || { name: dep, exists: false };
    const state = node.exists === false
      ? html`<span class="muted">does not exist</span>`
      : html`${syncBadge(node.sync)}${healthBadge(node.health)}`;
    return html`<li data-dependency="${dep}"><a href="/applications/${encodeURIComponent(dep)}">${dep}</a> ${state}</li>`;
  };
  const note = answer.error
    ? html`<p class="callout error">${answer.error}</p>`
    : answer.ready
      ? html`<p class="muted small">Every dependency is ready: syncs run.</p>`
      : html`<p class="callout warn" data-field="dependency-wait">Syncs wait for ${String(answer.reason).replace(/^waits for /, '')}.</p>`;
  return html`${note}
    <div class="deps"><div><h3>Depends on</h3>${needs.length ? html`<ul>${needs.map(item)}</ul>` : html`<p class="muted">—</p>`}</div>
    <div><h3>Needed by</h3>${neededBy.length ? html`<ul>${neededBy.map(item)}</ul>` : html`<p class="muted">—</p>`}</div></div>`;
}

function conditionsHtml(conditions = []) {
  if (!conditions.length) return '';
  return html`<ul class="conditions" aria-label="Conditions">${conditions.map((c) => {
    const level = /Error$/.test(c.type) ? 'error' : /Warning$/.test(c.type) ? 'warn' : 'info';
    return html`<li class="callout ${level}"><strong>${c.type}</strong> ${c.message || ''}
      <span class="muted small">${timeTag(c.lastTransitionTime)}</span></li>`;
  })}</ul>`;
}

/** What started a deployment, as the controller records it in `trigger` (entries written
 * before Tether recorded it have none, and show none). */
const TRIGGERS = {
  manual: 'Manual sync',
  rollback: 'Rollback',
  automated: 'Auto-sync',
  selfHeal: 'Drift reverted',
};

function triggerHtml(trigger) {
  if (!trigger) return html`<span class="muted">—</span>`;
  return html`<span class="chip trigger trigger-${token(trigger)}" data-trigger="${trigger}">${TRIGGERS[trigger] || trigger}</span>`;
}

/** The commit's subject, author and date (Argo CD's revision metadata), when recorded. */
function commitHtml(metadata) {
  if (!metadata || typeof metadata !== 'object' || !metadata.message) return html`<span class="muted">—</span>`;
  const subject = String(metadata.message).split('\n', 1)[0];
  return html`<span class="commit-subject" data-field="commit-message" title="${subject}">${subject}</span>
    <span class="muted small"><span data-field="commit-author">${metadata.author || ''}</span>${metadata.date ? html`, committed ${timeTag(metadata.date)}` : ''}</span>`;
}

function historyHtml(app) {
  const history = [...(app.status?.history || [])].reverse();
  if (!history.length) return html`<p class="muted">Nothing deployed yet.</p>`;
  const current = history[0].id;
  return html`<table class="data-table history">
    <thead><tr><th scope="col">ID</th><th scope="col">Revision</th><th scope="col">Commit</th><th scope="col">Deployed</th><th scope="col">Trigger</th><th scope="col">Initiated by</th><th scope="col">Path</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
    <tbody>${history.map((h) => {
      const who = h.initiatedBy?.automated ? 'automated' : h.initiatedBy?.username || '—';
      return html`<tr data-history-id="${h.id}"${h.trigger ? html` data-trigger="${h.trigger}"` : ''}>
        <td>${h.id}</td>
        <td class="mono" title="${h.revision || (h.revisions || []).join(', ')}">${shortRevision(h.revision || h.revisions)}</td>
        <td class="commit">${commitHtml(h.revisionMetadata)}</td>
        <td>${timeTag(h.deployedAt)}</td>
        <td>${triggerHtml(h.trigger)}</td>
        <td>${who}</td>
        <td class="mono">${h.source?.path || ''}</td>
        <td>${h.id === current
          ? html`<span class="chip">current</span>`
          : html`<button type="button" class="btn small" data-rollback="${h.id}" aria-label="Roll back to history ${h.id}">Rollback</button>`}</td>
      </tr>`;
    })}</tbody>
  </table>`;
}

export function mount(main, { name }) {
  setCrumbs([
    { label: 'Applications', href: '/applications' },
    { label: name },
  ]);
  let app = null;
  let treeNodes = [];
  let tree = null;
  let deleted = false;
  let closed = false;

  main.innerHTML = html`<div class="app-page">
    <div class="page-head">
      <div>
        <h1 class="app-title">${name}</h1>
        <div class="badges" id="app-badges"></div>
      </div>
      <div class="actions" role="toolbar" aria-label="Application actions">
        <button type="button" class="btn primary" data-action="sync" disabled>Sync</button>
        <button type="button" class="btn" data-action="refresh" disabled>Refresh</button>
        <button type="button" class="btn" data-action="hard-refresh" disabled title="Render again without the manifest cache">Hard refresh</button>
        <button type="button" class="btn" data-action="policy" disabled>Sync policy</button>
        <button type="button" class="btn danger" data-action="terminate" hidden>Terminate</button>
      </div>
    </div>
    <p class="callout error" id="app-error" role="alert" hidden></p>
    <div class="status-row">
      <section class="status-box" aria-labelledby="h-health"><h2 id="h-health">App health</h2><div id="health-box"></div></section>
      <section class="status-box" aria-labelledby="h-sync"><h2 id="h-sync">Sync status</h2><div id="sync-box"></div></section>
      <section class="status-box op-box" aria-labelledby="h-op"><h2 id="h-op">Operation</h2><div id="operation"></div></section>
    </div>
    <div id="conditions"></div>
    <div id="windows"></div>
    <section class="card" aria-labelledby="h-source"><h2 id="h-source">Source and destination</h2><div id="facts"></div></section>
    <section class="card" aria-labelledby="h-deps" id="deps-card" hidden><h2 id="h-deps">Dependencies</h2><div id="deps"></div></section>
    <section class="card" aria-labelledby="h-images"><h2 id="h-images">Images</h2><div id="images"><p class="muted">Loading the images…</p></div></section>
    <section class="card" aria-labelledby="h-tree">
      <h2 id="h-tree">Resources</h2>
      <div class="tree-scroll" id="tree"><p class="muted">Loading the resource tree…</p></div>
    </section>
    <section class="card" aria-labelledby="h-history"><h2 id="h-history">History and rollback</h2><div id="history"></div></section>
  </div>
  <aside class="side-panel" id="side-panel" aria-label="Resource details" hidden></aside>`.value;

  const $ = (selector) => main.querySelector(selector);
  const panel = new ResourcePanel($('#side-panel'), name, () => app, () => drawTree());

  function renderApp() {
    const status = app.status || {};
    $('#app-badges').innerHTML = html`${healthBadge(status.health?.status)}${syncBadge(status.sync?.status)}`.value;
    $('#health-box').innerHTML = html`${healthBadge(status.health?.status)}
      ${status.health?.message ? html`<p class="muted small">${status.health.message}</p>` : ''}`.value;
    // Argo CD's wording: "Synced to HEAD (abc1234)", "OutOfSync from HEAD (abc1234)".
    const preposition = status.sync?.status === 'Synced' ? 'to' : 'from';
    const revision = shortRevision(status.sync?.revision || status.sync?.revisions);
    $('#sync-box').innerHTML = html`${syncBadge(status.sync?.status)}
      <p class="muted small">${preposition} ${app.spec?.source?.targetRevision || 'HEAD'}
      ${revision ? html`(<code data-field="sync-revision">${revision}</code>)` : ''}</p>`.value;
    $('#operation').innerHTML = operationHtml(app).value;
    $('#conditions').innerHTML = conditionsHtml(status.conditions).toString();
    $('#facts').innerHTML = factsHtml(app).value;
    $('#history').innerHTML = historyHtml(app).value;
    const running = status.operationState?.phase === 'Running' || Boolean(app.operation);
    $('[data-action=terminate]').hidden = !running;
    for (const button of main.querySelectorAll('.actions button')) button.disabled = deleted;
  }

  function drawTree() {
    if (!app) return;
    tree = buildTree(app, treeNodes);
    renderTree($('#tree'), tree, panel.item?.key, (item) => {
      panel.open(item);
      drawTree();
    });
    if (panel.item) panel.update(findItem(tree, panel.item.key, panel.item.root));
  }

  async function loadTree() {
    try {
      const answer = await api.resourceTree(name);
      treeNodes = answer.nodes || [];
    } catch (error) {
      if (error.status !== 404 && !closed) toast(`Resource tree: ${error.message}`, 'error');
    }
    if (!closed) drawTree();
  }

  const scheduleTree = throttle(loadTree, 700);

  /** The images of the desired manifests with their policies and pull requests; read again
   * when the application changes (a new commit may change them). */
  async function loadImages() {
    let content;
    try {
      content = imagesHtml(await api.applicationImages(name));
    } catch (error) {
      content = html`<p class="muted">${error.status === 404 ? '' : `Images: ${error.message}`}</p>`;
    }
    if (!closed) $('#images').innerHTML = content.value;
  }

  const scheduleImages = throttle(loadImages, 2000);

  /** Sync windows open and close with the clock: read again on every change of the app and
   * every half minute. */
  async function loadWindows() {
    let content = html``;
    try {
      content = windowsHtml(await api.syncWindows(name));
    } catch (error) {
      if (error.status !== 404) content = html`<p class="muted">Sync windows: ${error.message}</p>`;
    }
    if (!closed) $('#windows').innerHTML = content.value;
  }

  const scheduleWindows = throttle(loadWindows, 2000);

  /** The apps around this one in the dependency graph: read again when this app or one of
   * them changes. */
  let neighbours = new Set();
  async function loadDependencies() {
    let answer = null;
    try {
      answer = await api.dependencies(name);
    } catch (error) {
      if (error.status !== 404 && !closed) toast(`Dependencies: ${error.message}`, 'error');
    }
    if (closed) return;
    neighbours = new Set((answer?.nodes || []).map((n) => n.name));
    const content = dependenciesHtml(answer, name).value;
    $('#deps').innerHTML = content;
    $('#deps-card').hidden = !content;
  }

  const scheduleDependencies = throttle(loadDependencies, 1000);
  const windowTimer = setInterval(loadWindows, 30000);

  async function load() {
    let answer;
    try {
      answer = await api.application(name);
    } catch (error) {
      if (closed) return; // the user left the page meanwhile
      const box = $('#app-error');
      box.textContent =
        error.status === 404 ? `There is no application named ${name}.` : error.message;
      box.hidden = false;
      $('#tree').innerHTML = '';
      return;
    }
    if (closed) return;
    app = answer;
    renderApp();
    await Promise.all([loadTree(), loadImages(), loadWindows(), loadDependencies()]);
  }

  /** The server answers once the controller has compared the app again: until then the
   * button says so and cannot be pressed twice. */
  async function refresh(hard) {
    const button = $(`[data-action=${hard ? 'hard-refresh' : 'refresh'}]`);
    const label = button.textContent;
    button.disabled = true;
    button.textContent = 'Refreshing…';
    try {
      const answer = await api.refresh(name, hard);
      if (closed) return;
      app = answer;
      toast(`${name}: compared again${hard ? ' (hard refresh)' : ''}`);
    } finally {
      button.textContent = label;
      if (!closed && app) renderApp();
    }
  }

  async function act(action) {
    try {
      if (action === 'sync') openSyncDialog(app);
      if (action === 'policy') openPolicyDialog(app);
      if (action === 'refresh' || action === 'hard-refresh') await refresh(action === 'hard-refresh');
      if (action === 'terminate') {
        const answer = await api.terminate(name);
        toast(answer?.terminated ? 'Operation terminated' : 'No operation was running');
      }
    } catch (error) {
      toast(error.message, 'error');
    }
  }

  // On the page's own element, not on <main>: <main> outlives this page.
  $('.app-page').addEventListener('click', (event) => {
    const action = event.target.closest('.actions [data-action]')?.dataset.action;
    if (action) act(action);
    const rollback = event.target.closest('[data-rollback]');
    if (rollback && app) {
      const entry = (app.status?.history || []).find((h) => String(h.id) === rollback.dataset.rollback);
      if (entry) openRollbackDialog(app, entry);
    }
  });

  const stop = subscribe((event) => {
    if (event.type === 'RESYNC') {
      load();
      return;
    }
    const changed = event.application?.metadata?.name;
    if (changed !== name && neighbours.has(changed)) scheduleDependencies();
    if (changed !== name) return;
    if (event.type === 'DELETED') {
      deleted = true;
      const box = $('#app-error');
      box.textContent = `${name} was deleted.`;
      box.hidden = false;
      if (app) renderApp();
      return;
    }
    deleted = false;
    $('#app-error').hidden = true;
    app = event.application;
    renderApp();
    scheduleTree();
    scheduleImages();
    scheduleWindows();
    scheduleDependencies();
  });

  load();
  return () => {
    closed = true;
    stop();
    scheduleTree.cancel();
    scheduleImages.cancel();
    scheduleWindows.cancel();
    scheduleDependencies.cancel();
    clearInterval(windowTimer);
    panel.dispose();
  };
}

function findItem(item, key, root) {
  if (root ? item.root : item.key === key) return item;
  for (const child of item.children) {
    const found = findItem(child, key, root);
    if (found) return found;
  }
  return null;
}
