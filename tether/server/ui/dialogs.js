// Modal dialogs of the application page: synchronize (options and chosen resources) and rollback.
// Built on <dialog>, which gives focus trapping, Escape to close and a backdrop for free.

import { api } from './api.js';
import { html, resourceKey, shortRevision, syncIcon, timeTag, token } from './html.js';
import { toast } from './shell.js';

function openModal(markup, labelId) {
  const dialog = document.createElement('dialog');
  dialog.className = 'modal';
  dialog.setAttribute('aria-labelledby', labelId);
  dialog.innerHTML = markup.value;
  document.body.append(dialog);
  dialog.addEventListener('close', () => dialog.remove());
  dialog.querySelector('[data-action=cancel]').addEventListener('click', () => dialog.close());
  dialog.showModal();
  return dialog;
}

/** Disables the form while `work` runs; shows its error inside the dialog instead of closing. */
async function submitting(dialog, work) {
  const error = dialog.querySelector('.form-error');
  const buttons = dialog.querySelectorAll('button');
  error.hidden = true;
  buttons.forEach((b) => (b.disabled = true));
  try {
    await work();
    dialog.close();
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
    buttons.forEach((b) => (b.disabled = false));
  }
}

function resourceRow(resource) {
  const sync = resource.status || 'Unknown';
  return html`<li><label class="check">
    <input type="checkbox" name="resource" value="${resourceKey(resource)}" checked>
    <span class="sync-${token(sync)}" title="${sync}">${syncIcon(sync)}</span>
    <span class="label"><span class="muted">${resource.kind}</span> ${resource.name}${
      resource.namespace ? html` <span class="muted small">(${resource.namespace})</span>` : ''
    }</span>
    ${resource.requiresPruning ? html`<span class="chip warn">prune</span>` : ''}
  </label></li>`;
}

/** The sync dialog: POST …/sync with prune, dry-run, a revision and (when narrowed) resources. */
export function openSyncDialog(app) {
  const name = app.metadata.name;
  const resources = app.status?.resources || [];
  const target = app.spec?.source?.targetRevision || 'HEAD';
  const dialog = openModal(
    html`<form class="modal-form">
      <h2 id="sync-title">Synchronize ${name}</h2>
      <label for="sync-revision">Revision</label>
      <input id="sync-revision" name="revision" placeholder="${target}" autocomplete="off">
      <fieldset>
        <legend>Options</legend>
        <label class="check"><input type="checkbox" name="prune"> <span>Prune: delete objects that left Git</span></label>
        <label class="check"><input type="checkbox" name="dryRun"> <span>Dry run: check with the API server, change nothing</span></label>
        <label class="check"><input type="checkbox" name="applyOutOfSyncOnly"> <span>Apply out-of-sync objects only</span></label>
      </fieldset>
      <fieldset class="resource-choice">
        <legend>Resources</legend>
        <div class="select-buttons">
          Select: <button type="button" class="link" data-select="all">all</button>
          <button type="button" class="link" data-select="OutOfSync">out of sync</button>
          <button type="button" class="link" data-select="none">none</button>
        </div>
        ${resources.length ? html`<ul class="resource-list">${resources.map(resourceRow)}</ul>` : html`<p class="muted">No resources known yet: everything Git describes is synchronized.</p>`}
      </fieldset>
      <p class="form-error" role="alert" hidden></p>
      <div class="modal-actions">
        <button type="button" class="btn" data-action="cancel">Cancel</button>
        <button type="submit" class="btn primary">Synchronize</button>
      </div>
    </form>`,
    'sync-title',
  );
  const form = dialog.querySelector('form');
  const boxes = [...form.querySelectorAll('input[name=resource]')];
  form.addEventListener('click', (event) => {
    const choice = event.target.closest('[data-select]')?.dataset.select;
    if (!choice) return;
    boxes.forEach((box, i) => {
      box.checked = choice === 'all' || (choice === 'OutOfSync' && resources[i].status === 'OutOfSync');
    });
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = resources.filter((_, i) => boxes[i].checked);
    if (resources.length && !chosen.length) {
      const error = form.querySelector('.form-error');
      error.textContent = 'Choose at least one resource.';
      error.hidden = false;
      return;
    }
    const body = { prune: form.prune.checked, dryRun: form.dryRun.checked };
    if (form.revision.value.trim()) body.revision = form.revision.value.trim();
    if (form.applyOutOfSyncOnly.checked) body.syncOptions = ['ApplyOutOfSyncOnly=true'];
    // Every resource chosen means "the whole application", which also lets hooks run.
    if (chosen.length < resources.length) {
      body.resources = chosen.map(({ group, kind, namespace, name: n }) => ({
        group: group || '',
        kind,
        namespace: namespace || '',
        name: n,
      }));
    }
    submitting(dialog, async () => {
      await api.sync(name, body);
      toast(body.dryRun ? `Dry run of ${name} started` : `Sync of ${name} started`);
    });
  });
}

/** Confirms a rollback to one history entry: POST …/rollback. */
export function openRollbackDialog(app, entry) {
  const name = app.metadata.name;
  const automated = Boolean(app.spec?.syncPolicy?.automated);
  const dialog = openModal(
    html`<form class="modal-form">
      <h2 id="rollback-title">Roll back ${name}</h2>
      <p>Deploy history entry <strong>#${entry.id}</strong>: revision
        <code>${shortRevision(entry.revision)}</code>, deployed ${timeTag(entry.deployedAt)}.</p>
      ${automated ? html`<p class="callout warn">Automated sync is on: Tether refuses rollbacks until it is turned off, or the next sync would undo the rollback.</p>` : ''}
      <fieldset>
        <legend>Options</legend>
        <label class="check"><input type="checkbox" name="prune"> <span>Prune objects that are not in that revision</span></label>
        <label class="check"><input type="checkbox" name="dryRun"> <span>Dry run</span></label>
      </fieldset>
      <p class="form-error" role="alert" hidden></p>
      <div class="modal-actions">
        <button type="button" class="btn" data-action="cancel">Cancel</button>
        <button type="submit" class="btn danger">Roll back</button>
      </div>
    </form>`,
    'rollback-title',
  );
  const form = dialog.querySelector('form');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submitting(dialog, async () => {
      await api.rollback(name, { id: entry.id, prune: form.prune.checked, dryRun: form.dryRun.checked });
      toast(`Rollback of ${name} to #${entry.id} started`);
    });
  });
}
