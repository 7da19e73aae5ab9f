// Applications page: every Application as a card with its sync and health, filters by project,
// sync and health, a name search, and counts per status, all kept current by the event stream.
//
// Speed with thousands of applications comes from three choices: the list is filtered in memory
// (no request per keystroke), the cards are built as one string and inserted once, and cards use
// `content-visibility: auto` (style.css) so the browser lays out only the ones on screen.

import { api, subscribe } from './api.js';
import {
  HEALTH_STATES,
  SYNC_STATES,
  healthBadge,
  healthOf,
  html,
  raw,
  shortRevision,
  syncBadge,
  syncOf,
  syncPolicyText,
  timeTag,
  token,
} from './html.js';
import { setCrumbs, throttle, toast } from './shell.js';

/** Cards rendered at once; the rest come with "Show more" so the page stays quick at any size. */
const PAGE_SIZE = 1000;
/** Above this many changed cards a full re-render is cheaper than patching each one. */
const PATCH_LIMIT = 25;

const syncStatus = (app) => syncOf(app.status?.sync?.status);
const healthStatus = (app) => healthOf(app.status?.health?.status);
const projectOf = (app) => app.spec?.project || 'default';

function readFilters() {
  const params = new URLSearchParams(location.search);
  return {
    search: params.get('search') || '',
    project: new Set(params.getAll('project')),
    sync: new Set(params.getAll('sync')),
    health: new Set(params.getAll('health')),
  };
}

function writeFilters(filters) {
  const params = new URLSearchParams();
  if (filters.search) params.set('search', filters.search);
  for (const name of ['project', 'sync', 'health']) {
    for (const value of filters[name]) params.append(name, value);
  }
  const search = params.toString();
  history.replaceState(null, '', `${location.pathname}${search ? `?${search}` : ''}`);
}

function matches(app, filters) {
  if (filters.search && !app.metadata.name.toLowerCase().includes(filters.search.toLowerCase())) {
    return false;
  }
  if (filters.project.size && !filters.project.has(projectOf(app))) return false;
  if (filters.sync.size && !filters.sync.has(syncStatus(app))) return false;
  if (filters.health.size && !filters.health.has(healthStatus(app))) return false;
  return true;
}

/** "github.com/org/k8s-manifests" reads better on a card than the full clone URL. */
function repoLabel(url) {
  return (url || '').replace(/^[a-z+]+:\/\//, '').replace(/\.git$/, '');
}

function destinationLabel(destination = {}) {
  const cluster =
    destination.name ||
    (destination.server === 'https://kubernetes.default.svc' ? 'in-cluster' : destination.server);
  return `${cluster || 'in-cluster'}/${destination.namespace || '—'}`;
}

function cardHtml(app) {
  const name = app.metadata.name;
  const source = app.spec?.source || app.spec?.sources?.[0] || {};
  const status = app.status || {};
  const operation = status.operationState;
  const health = healthStatus(app);
  const sync = syncStatus(app);
  return html`<li class="app-card border-${token(health)}" data-app="${name}">
    <div class="card-head">
      <a class="app-name" href="/applications/${encodeURIComponent(name)}">${name}</a>
      <span class="chip" title="Project">${projectOf(app)}</span>
    </div>
    <div class="badges">${healthBadge(health)}${syncBadge(sync)}${
      operation?.phase === 'Running' ? html`<span class="badge phase-Running">Syncing</span>` : ''
    }</div>
    <dl class="facts">
      <dt>Repository</dt><dd title="${source.repoURL || ''}">${repoLabel(source.repoURL)}</dd>
      <dt>Path</dt><dd>${source.path || source.chart || '—'}</dd>
      <dt>Target</dt><dd>${source.targetRevision || 'HEAD'}</dd>
      <dt>Revision</dt><dd class="mono" data-field="revision">${shortRevision(status.sync?.revision) || '—'}</dd>
      <dt>Destination</dt><dd>${destinationLabel(app.spec?.destination)}</dd>
      <dt>Sync policy</dt><dd data-field="sync-policy">${syncPolicyText(app.spec?.syncPolicy)}</dd>
      <dt>Last sync</dt><dd>${timeTag(operation?.finishedAt)}</dd>
    </dl>
  </li>`.value;
}

function countsBy(apps, statusOf) {
  const counts = new Map();
  for (const app of apps) {
    const key = statusOf(app);
    counts.set(key, (counts.get(key) || 0) + 1);
  }
  return counts;
}

function checkboxGroup(legend, name, values, counts, selected) {
  return html`<fieldset class="filter-group" data-group="${name}">
    <legend>${legend}</legend>
    ${values.map(
      (value) => html`<label class="check">
        <input type="checkbox" name="${name}" value="${value}" ${raw(selected.has(value) ? 'checked' : '')}>
        <span class="dot dot-${token(value)}" aria-hidden="true"></span>
        <span class="label">${value}</span>
        <span class="count" data-count="${name}:${value}">${counts.get(value) || 0}</span>
      </label>`,
    )}
  </fieldset>`;
}

function summaryHtml(apps) {
  const sync = countsBy(apps, syncStatus);
  const health = countsBy(apps, healthStatus);
  const cell = (kind, value, counts) =>
    html`<div class="stat stat-${token(value)}" data-stat="${kind}:${value}">
      <span class="stat-n">${counts.get(value) || 0}</span><span class="stat-l">${value}</span>
    </div>`;
  return html`<div class="stat stat-total" data-stat="total"><span class="stat-n">${apps.length}</span><span class="stat-l">Applications</span></div>
    <div class="stat-group" aria-label="Sync status">${SYNC_STATES.map((s) => cell('sync', s, sync))}</div>
    <div class="stat-group" aria-label="Health status">${HEALTH_STATES.map((s) => cell('health', s, health))}</div>`.value;
}

export function mount(main) {
  setCrumbs([{ label: 'Applications' }]);
  const filters = readFilters();
  const apps = new Map();
  let loaded = false;
  let limit = PAGE_SIZE;
  let shown = new Set();
  let knownProjects = '';
  const dirty = new Set();
  let closed = false;

  main.innerHTML = html`<div class="apps-page">
    <aside class="filters" aria-label="Filters">
      <label for="app-search" class="filter-title">Search</label>
      <input id="app-search" type="search" placeholder="Filter by name" autocomplete="off" value="${filters.search}">
      <div id="filter-groups"></div>
      <button type="button" class="btn ghost small" id="clear-filters">Clear filters</button>
      <p class="small"><a href="/applicationsets" data-link>ApplicationSets</a> · <a href="/flux" data-link>Flux</a></p>
    </aside>
    <section class="apps-main" aria-labelledby="apps-heading">
      <h1 id="apps-heading" class="visually-hidden">Applications</h1>
      <div class="summary" id="summary" aria-label="Counts per status"></div>
      <p class="showing muted" id="showing" aria-live="polite">Loading applications…</p>
      <ul class="app-grid" id="app-grid"></ul>
      <div class="more"><button type="button" class="btn" id="show-more" hidden>Show more</button></div>
    </section>
  </div>`.value;

  const grid = main.querySelector('#app-grid');
  const groups = main.querySelector('#filter-groups');

  const sortedApps = () =>
    [...apps.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));

  function renderFilterGroups(all) {
    const projects = [...new Set(all.map(projectOf))].sort();
    const signature = projects.join('\n');
    if (signature === knownProjects && groups.firstChild) {
      // Only the numbers change: the checkboxes keep their focus and state.
      const counts = {
        sync: countsBy(all, syncStatus),
        health: countsBy(all, healthStatus),
        project: countsBy(all, projectOf),
      };
      for (const span of groups.querySelectorAll('[data-count]')) {
        const [group, value] = span.dataset.count.split(':');
        span.textContent = counts[group].get(value) || 0;
      }
      return;
    }
    knownProjects = signature;
    groups.innerHTML = html`${checkboxGroup('Sync status', 'sync', SYNC_STATES, countsBy(all, syncStatus), filters.sync)}
      ${checkboxGroup('Health status', 'health', HEALTH_STATES, countsBy(all, healthStatus), filters.health)}
      ${checkboxGroup('Projects', 'project', projects, countsBy(all, projectOf), filters.project)}`.value;
  }

  function renderList() {
    const all = sortedApps();
    const visible = all.filter((app) => matches(app, filters));
    const page = visible.slice(0, limit);
    shown = new Set(page.map((app) => app.metadata.name));
    grid.innerHTML = page.map(cardHtml).join('');
    main.querySelector('#summary').innerHTML = summaryHtml(all);
    renderFilterGroups(all);
    const showing = main.querySelector('#showing');
    if (!all.length) {
      showing.innerHTML =
        'No applications yet. Create one with <code>tether app create</code> or <code>kubectl apply</code> an Application.';
    } else if (!visible.length) {
      showing.textContent = `No applications match the filters (${all.length} in total).`;
    } else {
      showing.textContent = `Showing ${page.length} of ${visible.length} matching applications (${all.length} in total).`;
    }
    const more = main.querySelector('#show-more');
    more.hidden = visible.length <= page.length;
    more.textContent = `Show more (${visible.length - page.length} more)`;
    dirty.clear();
  }

  /** Replace only the cards that changed, when none of them entered or left the filtered list. */
  function patchOrRender() {
    if (!loaded || closed) return;
    const changed = [...dirty];
    const inPlace =
      changed.length <= PATCH_LIMIT &&
      changed.every((name) => {
        const app = apps.get(name);
        return Boolean(app && matches(app, filters)) === shown.has(name);
      });
    if (!inPlace) {
      renderList();
      return;
    }
    for (const name of changed) {
      if (!shown.has(name)) continue;
      const card = grid.querySelector(`[data-app="${CSS.escape(name)}"]`);
      if (card) card.outerHTML = cardHtml(apps.get(name));
    }
    const all = [...apps.values()];
    main.querySelector('#summary').innerHTML = summaryHtml(all);
    renderFilterGroups(all);
    dirty.clear();
  }

  const scheduleUpdate = throttle(patchOrRender, 250);

  async function load(first) {
    try {
      const answer = await api.applications();
      if (closed) return; // the user left the page while the list was on its way
      apps.clear();
      for (const app of answer.items || []) apps.set(app.metadata.name, app);
      loaded = true;
      renderList();
      if (first) markRendered();
    } catch (error) {
      if (closed) return;
      main.querySelector('#showing').textContent = `Could not load the applications: ${error.message}`;
      toast(error.message, 'error');
    }
  }

  function onFilterChange() {
    filters.search = main.querySelector('#app-search').value.trim();
    for (const name of ['sync', 'health', 'project']) {
      filters[name] = new Set(
        [...groups.querySelectorAll(`input[name="${name}"]:checked`)].map((box) => box.value),
      );
    }
    limit = PAGE_SIZE;
    writeFilters(filters);
    renderList();
  }

  main.querySelector('#app-search').addEventListener('input', onFilterChange);
  groups.addEventListener('change', onFilterChange);
  main.querySelector('#clear-filters').addEventListener('click', () => {
    main.querySelector('#app-search').value = '';
    for (const box of groups.querySelectorAll('input:checked')) box.checked = false;
    onFilterChange();
  });
  main.querySelector('#show-more').addEventListener('click', () => {
    limit += PAGE_SIZE;
    renderList();
  });

  const stop = subscribe((event) => {
    if (event.type === 'RESYNC') {
      load(false);
      return;
    }
    const name = event.application?.metadata?.name;
    if (!name) return;
    if (event.type === 'DELETED') apps.delete(name);
    else apps.set(name, event.application);
    dirty.add(name);
    scheduleUpdate();
  });

  const focusSearch = (event) => {
    if (event.key === '/' && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName)) {
      event.preventDefault();
      main.querySelector('#app-search').focus();
    }
  };
  document.addEventListener('keydown', focusSearch);
  // Relative times ("2 minutes ago") age while the page stays open.
  const ticker = setInterval(() => loaded && !dirty.size && renderTimes(grid), 30000);

  load(true);
  return () => {
    closed = true;
    stop();
    scheduleUpdate.cancel();
    clearInterval(ticker);
    document.removeEventListener('keydown', focusSearch);
  };
}

function renderTimes(grid) {
  for (const time of grid.querySelectorAll('time[datetime]')) {
    time.outerHTML = timeTag(time.getAttribute('datetime')).value;
  }
}

/**
 * Records when the first list is on screen, for bench/server.py: `window.__tetherRendered` is
 * milliseconds since navigation started, taken after the frame holding the list has been drawn.
 */
function markRendered() {
  requestAnimationFrame(() =>
    setTimeout(() => {
      performance.mark('tether:applications-rendered');
      window.__tetherRendered = performance.now();
    }, 0),
  );
}
