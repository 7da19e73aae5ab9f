// Modal dialogs of the application page: synchronize (options and chosen resources), rollback,
// and the sync policy. Built on <dialog>, which gives focus trapping, Escape to close and a
// backdrop for free.

import { api } from './api.js';
import { html, resourceKey, shortRevision, syncIcon, syncMode, timeTag, token } from './html.js';
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
  const mode = syncMode(app.spec?.syncPolicy);
  const commit = entry.revisionMetadata?.message;
  const dialog = openModal(
    html`<form class="modal-form">
      <h2 id="rollback-title">Roll back ${name}</h2>
      <p>Deploy history entry <strong>#${entry.id}</strong>: revision
        <code>${shortRevision(entry.revision)}</code>${commit ? html` (${commit})` : ''}, deployed ${timeTag(entry.deployedAt)}.</p>
      ${mode === 'automated'
        ? html`<p class="callout warn" data-field="rollback-refusal">Automated sync is on: the next
            automated sync would undo a rollback, so Tether refuses it. Turn automated sync off
            first: <button type="button" class="link" data-action="change-policy">change the sync
            policy</button> to Manual (or Manual with auto-revert, to keep reverting drift), or run
            <code>tether app set ${name} --sync-policy none</code>.</p>`
        : ''}
      ${mode === 'auto-revert'
        ? html`<p class="callout">Manual sync with auto-revert: after the rollback, drift is reverted to this revision.</p>`
        : ''}
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
  form.querySelector('[data-action=change-policy]')?.addEventListener('click', () => {
    dialog.close();
    openPolicyDialog(app);
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submitting(dialog, async () => {
      await api.rollback(name, { id: entry.id, prune: form.prune.checked, dryRun: form.dryRun.checked });
      toast(`Rollback of ${name} to #${entry.id} started`);
    });
  });
}

// ---- sync policy ------------------------------------------------------------------------------

const POLICY_CHOICES = [
  ['manual', 'Manual', 'New commits wait for a sync. Drift is shown, not reverted.'],
  [
    'auto-revert',
    'Manual with auto-revert',
    'New commits wait for a sync. Drift is reverted at once to the revision of the last sync.',
  ],
  ['automated', 'Automated', 'New commits are deployed by themselves.'],
];

/** `policy` (a `spec.syncPolicy`) with the dialog's choice; its sync options and retry stay. */
export function policyWith(policy, mode, prune, selfHeal) {
  const out = { ...(policy || {}) };
  const automated = { ...(out.automated || {}) };
  if (mode === 'manual') {
    delete out.automated;
  } else if (mode === 'auto-revert') {
    out.automated = { ...automated, enabled: false, selfHeal: true };
  } else {
    delete automated.enabled; // Argo CD: a missing `enabled` means on
    for (const [key, on] of [['prune', prune], ['selfHeal', selfHeal]]) {
      if (on) automated[key] = true;
      else delete automated[key];
    }
    out.automated = automated;
  }
  return out;
}

/** PUT the app with its new sync policy, on its freshest copy (again when it changed meanwhile:
 * the controller writes status all the time, and the resourceVersion sent makes a write on a
 * stale copy fail rather than undo another change). */
async function savePolicy(name, mode, prune, selfHeal) {
  for (let attempt = 0; ; attempt++) {
    const current = await api.application(name);
    const meta = current.metadata;
    const spec = { ...current.spec, syncPolicy: policyWith(current.spec?.syncPolicy, mode, prune, selfHeal) };
    if (!Object.keys(spec.syncPolicy).length) delete spec.syncPolicy;
    const body = {
      apiVersion: current.apiVersion,
      kind: current.kind,
      metadata: {
        name: meta.name,
        resourceVersion: meta.resourceVersion,
        ...(meta.labels ? { labels: meta.labels } : {}),
        ...(meta.annotations ? { annotations: meta.annotations } : {}),
        ...(meta.finalizers ? { finalizers: meta.finalizers } : {}),
      },
      spec,
    };
    try {
      return await api.update(body);
    } catch (failure) {
      if (failure.status !== 409 || attempt === 2) throw failure;
    }
  }
}

/** The sync policy dialog: Manual, Manual with auto-revert, or Automated (+prune, +self-heal). */
export function openPolicyDialog(app) {
  const name = app.metadata.name;
  const policy = app.spec?.syncPolicy || {};
  const mode = syncMode(policy);
  const automated = mode === 'automated' ? policy.automated : {};
  const dialog = openModal(
    html`<form class="modal-form">
      <h2 id="policy-title">Sync policy of ${name}</h2>
      <fieldset>
        <legend>When Git changes</legend>
        ${POLICY_CHOICES.map(
          // named by the label alone, described by the help (a screen reader reads both)
          ([value, label, help]) => html`<label class="check"><input type="radio" name="mode" value="${value}"
              aria-labelledby="policy-${value}" aria-describedby="policy-${value}-help"${value === mode ? html` checked` : ''}>
            <span><strong id="policy-${value}">${label}</strong> <span class="muted small" id="policy-${value}-help">${help}</span></span></label>`,
        )}
      </fieldset>
      <fieldset class="automated-options">
        <legend>Automated sync options</legend>
        <label class="check"><input type="checkbox" name="prune"${automated.prune ? html` checked` : ''}> <span>Prune: delete objects that left Git</span></label>
        <label class="check"><input type="checkbox" name="selfHeal"${automated.selfHeal ? html` checked` : ''}> <span>Self-heal: revert drift to Git</span></label>
      </fieldset>
      <p class="form-error" role="alert" hidden></p>
      <div class="modal-actions">
        <button type="button" class="btn" data-action="cancel">Cancel</button>
        <button type="submit" class="btn primary">Save</button>
      </div>
    </form>`,
    'policy-title',
  );
  const form = dialog.querySelector('form');
  const chosen = () => form.querySelector('input[name=mode]:checked')?.value || 'manual';
  // prune and self-heal are options of automated sync only
  const showOptions = () => {
    const off = chosen() !== 'automated';
    form.prune.disabled = off;
    form.selfHeal.disabled = off;
  };
  form.addEventListener('change', showOptions);
  showOptions();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submitting(dialog, async () => {
      await savePolicy(name, chosen(), form.prune.checked, form.selfHeal.checked);
      toast(`Sync policy of ${name} saved`);
    });
  });
}
