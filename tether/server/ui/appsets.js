// ApplicationSets: the list (/applicationsets) and one set (/applicationsets/<name>) with the
// Applications it made (their sync and health, linked) and its rollout steps, from
// GET /api/v1/applicationsets[/{name}]; read again every few seconds while shown.

import { api } from './api.js';
import { healthBadge, html, syncBadge } from './html.js';
import { pollInto, setCrumbs } from './shell.js';

function condition(set, type) {
  return (set.status?.conditions || []).find((c) => c.type === type);
}

function generatorsText(set) {
  return (set.spec?.generators || [])
    .map((g) => Object.keys(g).filter((k) => !['selector', 'template', 'values'].includes(k))[0])
    .join(', ');
}

function errorHtml(set) {
  const error = condition(set, 'ErrorOccurred');
  if (error?.status !== 'True') return '';
  return html`<p class="callout error" role="alert" data-field="error">${error.message}</p>`;
}

function appsHtml(set) {
  const apps = set.applications || [];
  if (!apps.length) return html`<p class="muted" data-field="no-apps">No Application generated yet.</p>`;
  return html`<table class="data-table" aria-label="Generated applications">
    <thead><tr><th scope="col">Application</th><th scope="col">Project</th><th scope="col">Sync</th><th scope="col">Health</th></tr></thead>
    <tbody>${apps.map(
      (a) => html`<tr data-app="${a.name}">
        <td><a href="/applications/${encodeURIComponent(a.name)}" data-link>${a.name}</a></td>
        <td>${a.project}</td><td>${syncBadge(a.sync)}</td><td>${healthBadge(a.health)}</td></tr>`,
    )}</tbody></table>`;
}

function rolloutHtml(set) {
  const steps = set.status?.applicationStatus || [];
  if (!steps.length) return '';
  const rolling = condition(set, 'RolloutProgressing');
  return html`<section class="card" aria-labelledby="h-rollout"><h2 id="h-rollout">Rollout</h2>
    ${rolling ? html`<p data-field="rollout-state">${rolling.message}</p>` : ''}
    <table class="data-table" aria-label="Rollout steps">
      <thead><tr><th scope="col">Step</th><th scope="col">Application</th><th scope="col">Status</th><th scope="col">Message</th></tr></thead>
      <tbody>${steps.map(
        (s) => html`<tr data-rollout="${s.application}"><td>${s.step === '0' ? '—' : s.step}</td>
          <td>${s.application}</td><td><span class="chip" data-field="rollout-status">${s.status}</span></td>
          <td class="wrap small">${s.message}</td></tr>`,
      )}</tbody></table></section>`;
}

export function appsetHtml(set) {
  return html`${errorHtml(set)}
    <p class="small muted">Generators: <span data-field="generators">${generatorsText(set)}</span>;
      strategy: ${set.spec?.strategy?.type || 'AllAtOnce'}</p>
    <section class="card" aria-labelledby="h-apps"><h2 id="h-apps">Applications</h2>${appsHtml(set)}</section>
    ${rolloutHtml(set)}`;
}

function listHtml(items) {
  if (!items.length) return html`<p class="muted">No ApplicationSet.</p>`;
  return html`<table class="data-table" aria-label="ApplicationSets">
    <thead><tr><th scope="col">Name</th><th scope="col">Generators</th><th scope="col">Applications</th><th scope="col">State</th></tr></thead>
    <tbody>${items.map((s) => {
      const error = condition(s, 'ErrorOccurred')?.status === 'True';
      return html`<tr data-appset="${s.metadata.name}">
        <td><a href="/applicationsets/${encodeURIComponent(s.metadata.name)}" data-link>${s.metadata.name}</a></td>
        <td>${generatorsText(s)}</td><td>${(s.applications || []).length}</td>
        <td>${error ? html`<span class="chip removed">error</span>` : html`<span class="chip added">up to date</span>`}</td></tr>`;
    })}</tbody></table>`;
}

export function mountList(main) {
  setCrumbs([{ label: 'Applications', href: '/applications' }, { label: 'ApplicationSets' }]);
  main.innerHTML = html`<div class="app-page"><div class="page-head"><h1 class="app-title">ApplicationSets</h1></div>
    <div id="appset-body"><p class="muted">Loading…</p></div></div>`.value;
  return pollInto(main, 'appset-body', () => api.applicationSets(), (answer) => listHtml(answer.items || []));
}

export function mount(main, { name }) {
  setCrumbs([
    { label: 'Applications', href: '/applications' },
    { label: 'ApplicationSets', href: '/applicationsets' },
    { label: name },
  ]);
  main.innerHTML = html`<div class="app-page"><div class="page-head"><h1 class="app-title">${name}</h1></div>
    <div id="appset-body"><p class="muted">Loading…</p></div></div>`.value;
  return pollInto(main, 'appset-body', () => api.applicationSet(name), appsetHtml);
}
