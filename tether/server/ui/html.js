// Markup helpers shared by every page: escaping templates, status badges and icons, times.
//
// Pages build their markup as strings and assign it once (innerHTML), which is the fastest way
// to put 1,000 application cards on screen. The `html` tag escapes every interpolated value, so
// text coming from the cluster (names, messages, manifests) can never inject markup.

/** Markup that is already safe and must not be escaped again. */
export class Raw {
  constructor(value) {
    this.value = value;
  }
  toString() {
    return this.value;
  }
}

export const raw = (value) => new Raw(value);

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value) {
  return String(value).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

function fragment(value) {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Raw) return value.value;
  if (Array.isArray(value)) return value.map(fragment).join('');
  return esc(value);
}

/** Tagged template: `html\`<b>${name}</b>\`` escapes `name`; nested `html` results pass through. */
export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += fragment(values[i]) + strings[i + 1];
  return new Raw(out);
}

/** A status word reduced to a safe CSS class suffix. */
export const token = (value) => String(value || 'Unknown').replace(/[^A-Za-z0-9]/g, '');

// ---- icons ---------------------------------------------------------------------------------
// Drawn here rather than loaded from an icon font: the UI must work with no network at all.

const svg = (body, extra = '') =>
  `<svg class="icon${extra}" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" focusable="false">${body}</svg>`;

const HEART = '<path d="M8 14.2S1.6 10.4 1.6 5.7A3.3 3.3 0 0 1 8 4a3.3 3.3 0 0 1 6.4 1.7c0 4.7-6.4 8.5-6.4 8.5z" fill="currentColor"/>';
const CIRCLE = '<circle cx="8" cy="8" r="6.6" fill="currentColor"/>';
const MARK = 'fill="none" stroke="#fff" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"';
const QUESTION = `${CIRCLE}<path d="M6.1 6.2a1.9 1.9 0 1 1 2.7 1.7c-.5.3-.8.6-.8 1.2" ${MARK}/><circle cx="8" cy="11.4" r=".9" fill="#fff"/>`;

const HEALTH_ICONS = {
  Healthy: svg(HEART),
  Progressing: svg('<path d="M8 1.8a6.2 6.2 0 1 1-6.2 6.2" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round"/>', ' spin'),
  Degraded: svg(`${HEART}<path d="M8.6 4.4 7 7.6l2 1.3-1.4 3" ${MARK}/>`),
  Suspended: svg(`${CIRCLE}<path d="M6.3 5.2v5.6M9.7 5.2v5.6" ${MARK}/>`),
  Missing: svg('<circle cx="8" cy="8" r="5.8" fill="none" stroke="currentColor" stroke-width="2" stroke-dasharray="2.6 2"/>'),
  Unknown: svg(QUESTION),
};

const SYNC_ICONS = {
  Synced: svg(`${CIRCLE}<path d="m5 8.3 2.1 2.1 4-4.4" ${MARK}/>`),
  OutOfSync: svg(`${CIRCLE}<path d="M8 11.3V4.9M5.4 7.3 8 4.7l2.6 2.6" ${MARK}/>`),
  Unknown: svg(QUESTION),
};

const PHASE_ICONS = {
  Running: HEALTH_ICONS.Progressing,
  Terminating: HEALTH_ICONS.Progressing,
  Succeeded: SYNC_ICONS.Synced,
  Failed: svg(`${CIRCLE}<path d="m5.6 5.6 4.8 4.8m0-4.8-4.8 4.8" ${MARK}/>`),
  Error: svg(`${CIRCLE}<path d="m5.6 5.6 4.8 4.8m0-4.8-4.8 4.8" ${MARK}/>`),
};

export const HEALTH_STATES = ['Healthy', 'Progressing', 'Degraded', 'Suspended', 'Missing', 'Unknown'];
export const SYNC_STATES = ['Synced', 'OutOfSync', 'Unknown'];

export const healthIcon = (status) => raw(HEALTH_ICONS[status] || HEALTH_ICONS.Unknown);
export const syncIcon = (status) => raw(SYNC_ICONS[status] || SYNC_ICONS.Unknown);
export const phaseIcon = (phase) => raw(PHASE_ICONS[phase] || HEALTH_ICONS.Unknown);

/** Argo CD's wording: a resource with no sync state yet is Unknown. */
export const syncOf = (status) => (SYNC_ICONS[status] ? status : 'Unknown');
export const healthOf = (status) => (HEALTH_ICONS[status] ? status : 'Unknown');

export function healthBadge(status) {
  const s = healthOf(status);
  return html`<span class="badge health-${token(s)}" data-health="${s}">${healthIcon(s)}${s}</span>`;
}

export function syncBadge(status) {
  const s = syncOf(status);
  return html`<span class="badge sync-${token(s)}" data-sync="${s}">${syncIcon(s)}${s}</span>`;
}

export function phaseBadge(phase) {
  return html`<span class="badge phase-${token(phase)}" data-phase="${phase}">${phaseIcon(phase)}${phase}</span>`;
}

// ---- small formatters ------------------------------------------------------------------------

/** "3 minutes ago"; the exact instant goes into a title attribute by the caller. */
export function ago(iso) {
  if (!iso) return '';
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (Number.isNaN(seconds)) return iso;
  if (seconds < 5) return 'just now';
  const units = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];
  for (const [unit, size] of units) {
    if (seconds >= size) {
      const n = Math.floor(seconds / size);
      return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
    }
  }
  return 'just now';
}

export function timeTag(iso) {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}" title="${iso}">${ago(iso)}</time>`;
}

/** Commit SHAs are shown short, like git and Argo CD do; other revisions (tags) in full; a
 * multi-source app's revisions (a list) each so, joined. */
export function shortRevision(revision) {
  if (Array.isArray(revision)) return revision.map(shortRevision).join(', ');
  if (!revision) return '';
  return /^[0-9a-f]{40}$/.test(revision) ? revision.slice(0, 7) : revision;
}

/** `group/kind/namespace/name`: the identity of a resource across the API's answers. */
export function resourceKey(r) {
  return [r.group || '', r.kind || '', r.namespace || '', r.name || ''].join('/');
}

/** Group of an `apiVersion` ("apps/v1" → "apps", "v1" → ""). */
export function groupOf(apiVersion) {
  const slash = (apiVersion || '').indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

// ---- sync policy ----------------------------------------------------------------------------

/**
 * The sync policy of an Application as one of three modes: `automated` (new commits deploy),
 * `auto-revert` (Tether's production mode, `automated: {enabled: false, selfHeal: true}`: new
 * commits wait for a sync, drift is reverted to the last sync) or `manual`. Argo CD reads a
 * missing `enabled` as on.
 */
export function syncMode(policy = {}) {
  const automated = policy?.automated;
  if (!automated || typeof automated !== 'object') return 'manual';
  if (automated.enabled === false) return automated.selfHeal ? 'auto-revert' : 'manual';
  return 'automated';
}

/** "Manual", "Manual, auto-revert" or "Automated (prune, self-heal)". */
export function syncPolicyText(policy = {}) {
  const mode = syncMode(policy);
  if (mode === 'auto-revert') return 'Manual, auto-revert';
  if (mode === 'manual') return 'Manual';
  const automated = policy.automated;
  const extras = [automated.prune && 'prune', automated.selfHeal && 'self-heal'].filter(Boolean);
  return `Automated${extras.length ? ` (${extras.join(', ')})` : ''}`;
}
