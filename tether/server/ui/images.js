// The Images section of the application page: each container image the app's desired manifests
// run, its current tag, the latest tag an ImagePolicy allows, and the pending pull request of an
// ImageUpdateAutomation, from GET /api/v1/applications/{name}/images.

import { html } from './html.js';

/** Only http(s) addresses become links: a status could hold any text. */
export function safeUrl(url) {
  try {
    const parsed = new URL(String(url));
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : '';
  } catch {
    return '';
  }
}

function pullHtml(pull) {
  const label = `#${pull.number}${pull.state && pull.state !== 'open' ? ` (${pull.state})` : ''}`;
  const href = safeUrl(pull.url);
  const title = `${pull.head || ''} → ${pull.base || ''} (automation ${pull.automation || ''})`;
  if (!href) return html`<span class="chip" data-field="pull-request" title="${title}">${label}</span>`;
  return html`<a class="pull-link" data-field="pull-request" href="${href}" target="_blank" rel="noopener noreferrer" title="${title}">Pull request ${label}</a>`;
}

function latestHtml(image) {
  if (!image.policies?.length) return html`<span class="muted" data-field="latest-tag">no policy</span>`;
  const names = image.policies.map((p) => p.name).join(', ');
  if (!image.latestTag) return html`<span class="muted" data-field="latest-tag" title="ImagePolicy ${names}">not resolved yet</span>`;
  return html`<span class="mono" data-field="latest-tag" title="ImagePolicy ${names}">${image.latestTag}</span>
    ${image.updateAvailable ? html`<span class="chip warn" data-field="update">update available</span>` : ''}`;
}

function workloadsText(workloads = []) {
  return workloads
    .map((w) => `${w.kind}/${w.name} (${w.init ? 'init container' : 'container'} ${w.container})`)
    .join(', ');
}

/** The section's content for an answer of the app's images route. */
export function imagesHtml(answer) {
  const images = answer?.images || [];
  const notes = answer?.notes || [];
  const noteList = notes.length
    ? html`<ul class="image-notes">${notes.map((n) => html`<li class="callout warn small">${n}</li>`)}</ul>`
    : '';
  if (!images.length) return html`${noteList}<p class="muted">No container images in the desired manifests.</p>`;
  return html`${noteList}<table class="data-table images">
    <thead><tr><th scope="col">Image</th><th scope="col">Current tag</th><th scope="col">Latest allowed</th><th scope="col">Pull request</th><th scope="col">Used by</th></tr></thead>
    <tbody>${images.map(
      (image) => html`<tr data-image="${image.repository || image.image}">
        <td class="mono" data-field="image" title="${image.image}">${image.repository || image.image}</td>
        <td class="mono" data-field="current-tag">${image.tag || (image.digest ? image.digest.slice(0, 19) : '—')}</td>
        <td>${latestHtml(image)}</td>
        <td>${image.pullRequests?.length ? image.pullRequests.map((p) => html`${pullHtml(p)} `) : html`<span class="muted">—</span>`}</td>
        <td class="wrap small muted">${workloadsText(image.workloads)}</td>
      </tr>`,
    )}</tbody>
  </table>`;
}
