// The page frame: navigation without reloads, breadcrumbs, toasts and the live-state badge.

import { esc, html } from './html.js';

let router = () => {};

/** Registered by app.js: renders the page for the current location. */
export function setRouter(render) {
  router = render;
}

/** Go to an in-app path without reloading the page (the server answers every path with the UI). */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  router();
}

export function setCrumbs(items) {
  const crumbs = document.getElementById('crumbs');
  crumbs.innerHTML = items
    .map((item, i) =>
      i === items.length - 1
        ? `<span aria-current="page">${esc(item.label)}</span>`
        : `<a href="${esc(item.href)}" data-link>${esc(item.label)}</a>`,
    )
    .join('<span class="sep" aria-hidden="true">/</span>');
  document.title = items.length ? `${items[items.length - 1].label} · Tether` : 'Tether';
}

/** A short message in the corner; errors stay until dismissed so they can be read. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const item = document.createElement('div');
  item.className = `toast toast-${kind}`;
  item.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  item.innerHTML = `<span>${esc(message)}</span><button type="button" class="close" aria-label="Dismiss">×</button>`;
  item.querySelector('button').addEventListener('click', () => item.remove());
  box.append(item);
  if (kind !== 'error') setTimeout(() => item.remove(), 4000);
}

const LIVE_LABELS = { live: 'Live', connecting: 'Connecting', offline: 'Offline' };

export function showStreamState(state) {
  const badge = document.getElementById('live-state');
  badge.dataset.state = state;
  badge.textContent = LIVE_LABELS[state] || state;
  badge.title =
    state === 'live'
      ? 'Changes appear as they happen'
      : 'Live updates are paused; the page shows the last state received';
}

/** Calls `fn` at most once per `wait` ms, always with the latest state (for bursts of events). */
export function throttle(fn, wait) {
  let timer = null;
  let pending = false;
  const run = () => {
    if (timer) {
      pending = true;
      return;
    }
    fn();
    timer = setTimeout(function again() {
      timer = null;
      if (pending) {
        pending = false;
        fn();
        timer = setTimeout(again, wait);
      }
    }, wait);
  };
  /** Drop a pending call: the page that asked for it is gone. */
  run.cancel = () => {
    clearTimeout(timer);
    timer = null;
    pending = false;
  };
  return run;
}

// A page body read again every `everyMs` while shown: `load()` then `render(data)` into the
// element `#<bodyId>` of `main` (an error in its place); returns the function that stops it.
export function pollInto(main, bodyId, load, render, everyMs = 5000) {
  let closed = false;
  let timer = null;
  const body = () => main.querySelector(`#${bodyId}`);
  const tick = async () => {
    try {
      const data = await load();
      if (!closed) body().innerHTML = render(data).value;
    } catch (error) {
      if (!closed) body().innerHTML = html`<p class="callout error" role="alert">${error.message}</p>`.value;
    }
    if (!closed) timer = setTimeout(tick, everyMs);
  };
  tick();
  return () => {
    closed = true;
    clearTimeout(timer);
  };
}
