// The preview of a pull request for one application (/applications/<app>/preview/<pr>): what
// merging it would do, from GET /api/v1/applications/{name}/previews/{number}: objects added,
// changed and removed, images old → new, the changed fields and the full diff of each object.

import { api } from './api.js';
import { sideBySideHtml } from './diff.js';
import { html, shortRevision } from './html.js';
import { safeUrl } from './images.js';
import { setCrumbs } from './shell.js';

const FAILURES = {
  render: 'The render of the head commit failed',
  project: 'The project refuses what the head commit renders',
  error: 'The app could not be compared at the head commit',
};

function objectTitle(o) {
  return `${o.group ? `${o.group}/` : ''}${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
}

function objectHtml(o, prunes) {
  const action =
    o.action === 'removed' ? (prunes ? 'removed (pruned by the sync)' : 'removed from Git (prune candidate)') : o.action;
  const images = o.images.length
    ? html`<ul class="preview-images">${o.images.map(
        (i) => html`<li data-field="image" data-container="${i.container}"><span class="mono">${i.container}</span>: <span class="mono">${i.old || '(none)'}</span> → <span class="mono">${i.new || '(none)'}</span></li>`,
      )}</ul>`
    : '';
  const fields = o.fields.length
    ? html`<p class="small muted">Fields: ${o.fields.map((f) => html`<code data-field="path">${f}</code> `)}</p>`
    : '';
  return html`<section class="card preview-object" data-object="${objectTitle(o)}" aria-label="${objectTitle(o)}">
    <h3><span class="chip ${o.action}" data-field="action">${action}</span> <span class="mono">${objectTitle(o)}</span></h3>
    ${images}${fields}
    ${o.diff ? html`<div class="diff-scroll">${sideBySideHtml(o.diff)}</div>` : ''}
  </section>`;
}

export function previewHtml(doc) {
  const pull = doc.pullRequest;
  const href = safeUrl(pull.url);
  const title = `#${pull.number}${pull.title ? ` ${pull.title}` : ''}`;
  const head = html`<p>Pull request ${href ? html`<a href="${href}" target="_blank" rel="noopener noreferrer">${title}</a>` : title}
    into <span class="mono">${pull.baseBranch}</span>, head <span class="mono" title="${pull.headSHA}">${shortRevision(pull.headSHA)}</span>.
    Nothing is applied until it is merged.</p>`;
  if (doc.failure) {
    return html`${head}<div class="callout error" role="alert" data-field="failure"><strong>${FAILURES[doc.failure] || FAILURES.error}</strong><pre class="wrap">${doc.error}</pre></div>`;
  }
  const delivery = doc.delivery?.length
    ? html`<p class="callout warn small" data-field="delivery">Not posted on the pull request: ${doc.delivery.join('; ')}</p>`
    : '';
  if (!doc.objects.length) return html`${head}${delivery}<p class="muted" data-field="empty">Nothing would change.</p>`;
  const count = (a) => doc.objects.filter((o) => o.action === a).length;
  return html`${head}${delivery}
    <p data-field="summary">${count('added')} added, ${count('changed')} changed, ${count('removed')} removed</p>
    ${doc.objects.map((o) => objectHtml(o, doc.prunes))}`;
}

export function mount(main, { name, number }) {
  setCrumbs([
    { label: 'Applications', href: '/applications' },
    { label: name, href: `/applications/${encodeURIComponent(name)}` },
    { label: `Preview of #${number}` },
  ]);
  let closed = false;
  main.innerHTML = html`<div class="app-page preview-page">
    <div class="page-head"><h1 class="app-title">${name}: preview of pull request #${number}</h1></div>
    <div id="preview"><p class="muted">Loading the preview…</p></div>
  </div>`.value;
  api
    .preview(name, number)
    .then((doc) => {
      if (!closed) main.querySelector('#preview').innerHTML = previewHtml(doc).value;
    })
    .catch((error) => {
      if (closed) return;
      main.querySelector('#preview').innerHTML = html`<p class="callout error" role="alert">${error.message}</p>`.value;
    });
  return () => {
    closed = true;
  };
}
