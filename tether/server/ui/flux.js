// Flux: the Kustomizations, HelmReleases and their sources (/flux); one Kustomization
// (/flux/kustomizations/<namespace>/<name>) with its resource tree (the live objects of its
// inventory and their health); one HelmRelease (/flux/helmreleases/<namespace>/<name>) with
// Helm's history of its revisions and the tree of its deployed manifest. Read from
// GET /api/v1/flux[/<kind>/{ns}/{name}] again every few seconds while shown. "Reconcile" asks
// for a reconcile now.

import { api } from './api.js';
import { healthBadge, html } from './html.js';
import { pollInto, setCrumbs, toast } from './shell.js';

function readyChip(item) {
  const state = item.ready === 'True' ? 'added' : item.ready === 'False' ? 'removed' : '';
  const label = item.ready === 'True' ? 'Ready' : item.ready === 'False' ? 'Not ready' : 'Unknown';
  return html`<span class="chip ${state}" data-field="ready">${label}</span>`;
}

const KIND_NAMES = {
  kustomizations: 'Kustomization',
  helmreleases: 'HelmRelease',
  gitrepositories: 'GitRepository',
  helmrepositories: 'HelmRepository',
  ocirepositories: 'OCIRepository',
  artifactgenerators: 'ArtifactGenerator',
  externalartifacts: 'ExternalArtifact',
};
const PAGES = ['kustomizations', 'helmreleases'];

function nameCell(item) {
  if (!PAGES.includes(item.kind)) return item.name;
  const path = `/flux/${item.kind}/${encodeURIComponent(item.namespace)}/${encodeURIComponent(item.name)}`;
  return html`<a href="${path}" data-link>${item.name}</a>`;
}

function listHtml(items) {
  if (!items.length) return html`<p class="muted">No Flux Kustomization, HelmRelease or source.</p>`;
  return html`<table class="data-table" aria-label="Flux objects">
    <thead><tr><th scope="col">Kind</th><th scope="col">Namespace</th><th scope="col">Name</th>
      <th scope="col">Revision</th><th scope="col">State</th><th scope="col">Message</th></tr></thead>
    <tbody>${items.map(
      (i) => html`<tr data-flux="${i.kind}/${i.namespace}/${i.name}">
        <td>${KIND_NAMES[i.kind] || i.kind}</td><td>${i.namespace}</td>
        <td>${nameCell(i)}</td>
        <td class="mono small">${i.revision}</td>
        <td>${readyChip(i)}${i.suspended ? html` <span class="chip">suspended</span>` : ''}</td>
        <td class="wrap small">${i.message}</td></tr>`,
    )}</tbody></table>`;
}

function treeHtml(detail) {
  if (detail.treeError) return html`<p class="callout error" role="alert">${detail.treeError}</p>`;
  const nodes = detail.tree || [];
  if (!nodes.length) return html`<p class="muted" data-field="no-tree">Nothing applied yet.</p>`;
  return html`<table class="data-table" aria-label="Resource tree">
    <thead><tr><th scope="col">Kind</th><th scope="col">Namespace</th><th scope="col">Name</th><th scope="col">Health</th></tr></thead>
    <tbody>${nodes.map(
      (n) => html`<tr data-object="${n.kind}/${n.namespace}/${n.name}">
        <td>${n.kind}</td><td>${n.namespace}</td><td>${n.name}</td>
        <td>${n.error ? html`<span class="small">${n.error}</span>`
          : !n.exists ? healthBadge('Missing')
          : n.health ? healthBadge(n.health.status) : html`<span class="muted small">—</span>`}</td></tr>`,
    )}</tbody></table>`;
}

function reconciliationsHtml(detail) {
  const rows = detail.history || [];
  if (!rows.length) return html`<p class="muted" data-field="no-history">Not applied yet.</p>`;
  return html`<table class="data-table" aria-label="Reconciliation history">
    <thead><tr><th scope="col">Revision</th><th scope="col">Outcome</th><th scope="col">Last</th>
      <th scope="col">First</th><th scope="col">Times</th><th scope="col">Took</th><th scope="col">Objects digest</th></tr></thead>
    <tbody>${rows.map(
      (r) => html`<tr data-digest="${r.digest}"><td class="mono small">${r.metadata?.revision || ''}</td>
        <td>${r.lastReconciledStatus}</td><td class="small">${r.lastReconciled}</td>
        <td class="small">${r.firstReconciled}</td><td>${r.totalReconciliations}</td>
        <td class="small">${r.lastReconciledDuration}</td><td class="mono small">${(r.digest || '').slice(0, 19)}</td></tr>`,
    )}</tbody></table>`;
}

export function kustomizationHtml(detail) {
  return html`<p>${readyChip(detail)} <span class="small" data-field="message">${detail.message}</span></p>
    <p class="small muted">Revision <span class="mono" data-field="revision">${detail.revision || '—'}</span>;
      source ${detail.source?.kind || ''} ${detail.source?.name || ''}, path ${detail.path || './'}</p>
    <section class="card" aria-labelledby="h-tree"><h2 id="h-tree">Resources</h2>${treeHtml(detail)}</section>
    <section class="card" aria-labelledby="h-history"><h2 id="h-history">History</h2>${reconciliationsHtml(detail)}</section>`;
}

function historyHtml(detail) {
  const rows = detail.history || [];
  if (!rows.length) return html`<p class="muted" data-field="no-history">No release yet.</p>`;
  return html`<table class="data-table" aria-label="Release history">
    <thead><tr><th scope="col">Revision</th><th scope="col">Updated</th><th scope="col">Status</th>
      <th scope="col">Chart</th><th scope="col">App version</th><th scope="col">Description</th></tr></thead>
    <tbody>${rows.map(
      (r) => html`<tr data-revision="${r.revision}"><td>${r.revision}</td><td class="small">${r.updated}</td>
        <td>${r.status}</td><td class="mono small">${r.chart}</td><td class="small">${r.appVersion}</td>
        <td class="wrap small">${r.description}</td></tr>`,
    )}</tbody></table>`;
}

export function helmReleaseHtml(detail) {
  const chart = detail.chart || {};
  return html`<p>${readyChip(detail)} <span class="small" data-field="message">${detail.message}</span></p>
    <p class="small muted">Chart <span class="mono" data-field="chart">${chart.chart || ''}@${detail.revision || chart.version || '*'}</span>
      from ${chart.sourceRef?.kind || ''} ${chart.sourceRef?.name || ''}</p>
    <section class="card" aria-labelledby="h-history"><h2 id="h-history">History</h2>${historyHtml(detail)}</section>
    <section class="card" aria-labelledby="h-tree"><h2 id="h-tree">Resources</h2>${treeHtml(detail)}</section>`;
}

export function diffHtml(answer) {
  const rows = answer.resources || [];
  if (!rows.length) return html`<p class="muted" data-field="no-diff">No drift: applying the current revision changes nothing.</p>`;
  return html`${rows.map(
    (r) => html`<div class="card" data-diff="${r.kind}/${r.namespace}/${r.name}">
      <p><span class="chip">${r.action}</span> ${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}</p>
      ${r.error ? html`<p class="small">${r.error}</p>` : ''}
      ${r.diff ? html`<pre class="mono small">${r.diff}</pre>` : ''}</div>`,
  )}`;
}

export function mountList(main) {
  setCrumbs([{ label: 'Applications', href: '/applications' }, { label: 'Flux' }]);
  main.innerHTML = html`<div class="app-page"><div class="page-head"><h1 class="app-title">Flux</h1></div>
    <div id="flux-body"><p class="muted">Loading…</p></div></div>`.value;
  return pollInto(main, 'flux-body', () => api.flux(), (answer) => listHtml(answer.items || []));
}

export function mount(main, { kind = 'kustomizations', namespace, name }) {
  setCrumbs([
    { label: 'Applications', href: '/applications' },
    { label: 'Flux', href: '/flux' },
    { label: `${namespace}/${name}` },
  ]);
  main.innerHTML = html`<div class="app-page"><div class="page-head"><h1 class="app-title">${name}</h1>
    <span class="chip">${KIND_NAMES[kind]}</span>
    ${kind === 'kustomizations' ? html`<button type="button" class="btn small" id="flux-diff">Diff</button>` : ''}
    <button type="button" class="btn small" id="flux-reconcile">Reconcile</button></div>
    <section class="card" id="flux-diff-body" aria-label="Diff" hidden></section>
    <div id="flux-body"><p class="muted">Loading…</p></div></div>`.value;
  main.querySelector('#flux-diff')?.addEventListener('click', async () => {
    const body = main.querySelector('#flux-diff-body');
    body.hidden = false;
    body.innerHTML = html`<p class="muted">Comparing with the cluster…</p>`.value;
    try {
      body.innerHTML = diffHtml(await api.fluxDiff(namespace, name)).value;
    } catch (error) {
      body.innerHTML = html`<p class="callout error" role="alert">${error.message}</p>`.value;
    }
  });
  main.querySelector('#flux-reconcile').addEventListener('click', async () => {
    try {
      await api.fluxReconcile(kind, namespace, name);
      toast('Reconcile requested');
    } catch (error) {
      toast(error.message, 'error');
    }
  });
  if (kind === 'helmreleases') {
    return pollInto(main, 'flux-body', () => api.fluxHelmRelease(namespace, name), helmReleaseHtml);
  }
  return pollInto(main, 'flux-body', () => api.fluxKustomization(namespace, name), kustomizationHtml);
}
