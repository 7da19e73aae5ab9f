// Side panel for one node of the resource tree: live manifest, desired manifest, diff, events.
// Each tab loads on first view and is cached until the node's sync or health changes.

import { api } from './api.js';
import { sideBySideHtml, unifiedHtml } from './diff.js';
import { groupOf, healthBadge, html, resourceKey, syncBadge, timeTag } from './html.js';
import { maskSecret, toYaml } from './yaml.js';

const TABS = [
  { id: 'live', label: 'Live manifest' },
  { id: 'desired', label: 'Desired manifest' },
  { id: 'diff', label: 'Diff' },
  { id: 'events', label: 'Events' },
];

function yamlBlock(obj) {
  return html`<pre class="yaml" tabindex="0">${toYaml(maskSecret(obj))}</pre>`;
}

const note = (text) => html`<p class="panel-note">${text}</p>`;

/** Does the rendered manifest `obj` describe the tree item? (Git may omit the namespace.) */
function sameObject(obj, item) {
  const meta = obj.metadata || {};
  return (
    obj.kind === item.kind &&
    meta.name === item.name &&
    groupOf(obj.apiVersion) === (item.group || '') &&
    (!meta.namespace || !item.namespace || meta.namespace === item.namespace)
  );
}

function eventsHtml(events) {
  if (!events.length) return note('No events recorded for this object.');
  const when = (e) => e.lastTimestamp || e.eventTime || e.firstTimestamp || e.metadata?.creationTimestamp;
  const sorted = [...events].sort((a, b) => String(when(b) || '').localeCompare(String(when(a) || '')));
  return html`<table class="data-table events">
    <thead><tr><th scope="col">Type</th><th scope="col">Reason</th><th scope="col">Message</th><th scope="col">Count</th><th scope="col">Last seen</th></tr></thead>
    <tbody>${sorted.map(
      (e) => html`<tr class="event-${e.type === 'Warning' ? 'warning' : 'normal'}">
        <td>${e.type || ''}</td><td>${e.reason || ''}</td><td class="wrap">${e.message || ''}</td>
        <td>${e.count || 1}</td><td>${timeTag(when(e))}</td></tr>`,
    )}</tbody>
  </table>`;
}

export class ResourcePanel {
  /** `host` receives the panel; `getApp()` returns the latest Application object. */
  constructor(host, appName, getApp, onClose) {
    this.host = host;
    this.appName = appName;
    this.getApp = getApp;
    this.onClose = onClose;
    this.item = null;
    this.tab = 'live';
    this.cache = new Map();
    this.diffMode = 'split';
    this.onKey = (event) => {
      if (event.key === 'Escape' && this.item && !document.querySelector('dialog[open]')) this.close();
    };
    document.addEventListener('keydown', this.onKey);
  }

  open(item) {
    this.item = item;
    this.cache.clear();
    this.tab = item.managed && item.sync === 'OutOfSync' ? 'diff' : 'live';
    this.renderFrame();
    this.host.querySelector('.panel-title').focus();
  }

  /** Called with the item's new state after a live update; reloads when its status moved. */
  update(item) {
    if (!this.item || !item) return;
    const moved = item.sync !== this.item.sync || item.health !== this.item.health;
    this.item = item;
    if (moved) {
      this.cache.clear();
      this.renderFrame();
    }
  }

  close() {
    this.item = null;
    this.host.hidden = true;
    this.host.innerHTML = '';
    this.onClose();
  }

  dispose() {
    document.removeEventListener('keydown', this.onKey);
  }

  tabs() {
    return this.item.root ? TABS.filter((t) => t.id === 'live' || t.id === 'events') : TABS;
  }

  renderFrame() {
    const item = this.item;
    this.host.hidden = false;
    this.host.innerHTML = html`<div class="panel-head">
        <div class="panel-heading">
          <p class="panel-kind">${item.kind}${item.namespace ? html` · ${item.namespace}` : ''}</p>
          <h2 class="panel-title" tabindex="-1">${item.name}</h2>
          <div class="badges">${healthBadge(item.health)}${item.managed || item.root ? syncBadge(item.sync) : ''}</div>
          ${item.healthMessage ? html`<p class="muted small">${item.healthMessage}</p>` : ''}
        </div>
        <div class="panel-actions">
          <button type="button" class="btn ghost small" data-action="reload">Reload</button>
          <button type="button" class="btn ghost icon-btn" data-action="close" aria-label="Close panel">×</button>
        </div>
      </div>
      <div class="tabs" role="tablist" aria-label="Resource details">
        ${this.tabs().map(
          (t) => html`<button type="button" role="tab" id="tab-${t.id}" data-tab="${t.id}"
            aria-selected="${String(t.id === this.tab)}" aria-controls="panel-body">${t.label}</button>`,
        )}
      </div>
      <div class="panel-body" id="panel-body" role="tabpanel" aria-labelledby="tab-${this.tab}"></div>`.value;
    this.host.onclick = (event) => this.onClick(event);
    this.renderTab();
  }

  onClick(event) {
    const tab = event.target.closest('[data-tab]');
    if (tab) {
      this.tab = tab.dataset.tab;
      for (const button of this.host.querySelectorAll('[role=tab]')) {
        button.setAttribute('aria-selected', String(button === tab));
      }
      this.host.querySelector('#panel-body').setAttribute('aria-labelledby', tab.id);
      this.renderTab();
      return;
    }
    const action = event.target.closest('[data-action]')?.dataset.action;
    if (action === 'close') this.close();
    if (action === 'reload') {
      this.cache.clear();
      this.renderTab();
    }
    if (action === 'split' || action === 'unified') {
      this.diffMode = action;
      this.renderTab();
    }
  }

  /** One request per kind of data while the panel is open on this item. */
  cached(name, load) {
    if (!this.cache.has(name)) this.cache.set(name, load());
    return this.cache.get(name);
  }

  async renderTab() {
    const body = this.host.querySelector('#panel-body');
    const item = this.item;
    const tab = this.tab;
    body.innerHTML = '<p class="panel-note">Loading…</p>';
    let content;
    try {
      content = await this.tabContent(tab, item);
    } catch (error) {
      this.cache.clear();
      content = html`<p class="form-error" role="alert">${error.message}</p>`;
    }
    // A slow answer must not overwrite the tab the user has moved on to.
    const current = this.item;
    if (current && current.key === item.key && current.root === item.root && this.tab === tab) {
      body.innerHTML = content.value;
    }
  }

  tabContent(tab, item) {
    if (tab === 'live') return this.liveTab(item);
    if (tab === 'desired') return this.desiredTab(item);
    if (tab === 'diff') return this.diffTab(item);
    return this.eventsTab(item);
  }

  async liveTab(item) {
    if (item.root) return yamlBlock(this.getApp());
    if (item.notLive) return note('This object is not in the cluster yet; a sync will create it.');
    const live = await this.cached('live', () => api.resource(this.appName, item));
    return yamlBlock(live);
  }

  async managedItem(item) {
    const answer = await this.cached('managed', () => api.managedResources(this.appName));
    return (answer.items || []).find((r) => resourceKey(r) === item.key) || null;
  }

  async desiredTab(item) {
    if (!item.managed) {
      const owner = (item.parentRefs || [])[0];
      return note(`Not in Git: created by the cluster${owner ? ` for ${owner.kind} ${owner.name}` : ''}.`);
    }
    const answer = await this.cached('manifests', () => api.manifests(this.appName));
    const desired = (answer.manifests || []).find((obj) => sameObject(obj, item));
    if (desired) return yamlBlock(desired);
    const managed = await this.managedItem(item);
    if (managed?.targetState) return yamlBlock(managed.targetState);
    return note('Not in Git at the current revision: the object is extraneous and a sync with prune deletes it.');
  }

  async diffTab(item) {
    if (!item.managed) return note('Objects created by the cluster have no desired state to compare.');
    const managed = await this.managedItem(item);
    if (!managed) return note('No comparison result for this object yet.');
    if (!managed.diff) return note('No differences: the live object matches Git.');
    const changed = (managed.changes || []).map((c) => c.path).filter(Boolean);
    const mode = this.diffMode;
    return html`<div class="diff-toolbar">
        <div class="segmented" role="group" aria-label="Diff layout">
          <button type="button" class="btn small" data-action="split" aria-pressed="${String(mode === 'split')}">Side by side</button>
          <button type="button" class="btn small" data-action="unified" aria-pressed="${String(mode === 'unified')}">Unified</button>
        </div>
        ${changed.length ? html`<p class="changed-paths">Changed: ${changed.slice(0, 8).map((p) => html`<code>${p}</code> `)}${changed.length > 8 ? `and ${changed.length - 8} more` : ''}</p>` : ''}
      </div>
      <div class="diff-view">${mode === 'split' ? sideBySideHtml(managed.diff) : unifiedHtml(managed.diff)}</div>`;
  }

  async eventsTab(item) {
    const answer = await this.cached('events', () => api.events(this.appName));
    const events = (answer.items || []).filter((e) => {
      const target = e.involvedObject || e.regarding || {};
      return target.kind === item.kind && target.name === item.name;
    });
    return eventsHtml(events);
  }
}
