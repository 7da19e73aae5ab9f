// The REST API of docs/api-contract.md, and the one live event stream the pages share.
//
// Authentication rides on the HttpOnly `tether_token` cookie the server sets at sign-in: the
// token returned in the sign-in answer is deliberately not kept, so no script can read it.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let unauthorizedHandler = () => {};

/** Called when any request answers 401 (expired or missing session). */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

async function request(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'The Tether server cannot be reached.');
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401 && path !== '/api/v1/session') unauthorizedHandler();
    const message = (data && data.error) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return data;
}

const app = (name) => `/api/v1/applications/${encodeURIComponent(name)}`;
const query = (params) => new URLSearchParams(params).toString();

export const api = {
  signIn: (username, password) => request('POST', '/api/v1/session', { username, password }),
  signOut: () => request('DELETE', '/api/v1/session'),
  userInfo: () => request('GET', '/api/v1/session/userinfo'),
  applications: () => request('GET', '/api/v1/applications'),
  application: (name) => request('GET', app(name)),
  resourceTree: (name) => request('GET', `${app(name)}/resource-tree`),
  managedResources: (name) => request('GET', `${app(name)}/managed-resources`),
  manifests: (name) => request('GET', `${app(name)}/manifests`),
  events: (name) => request('GET', `${app(name)}/events`),
  applicationImages: (name) => request('GET', `${app(name)}/images`),
  syncWindows: (name) => request('GET', `${app(name)}/syncwindows`),
  dependencies: (name) => request('GET', `${app(name)}/dependencies`),
  applicationSets: () => request('GET', '/api/v1/applicationsets'),
  flux: () => request('GET', '/api/v1/flux'),
  fluxKustomization: (namespace, name) =>
    request('GET', `/api/v1/flux/kustomizations/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`),
  fluxDiff: (namespace, name) =>
    request('GET', `/api/v1/flux/kustomizations/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/diff`),
  fluxHelmRelease: (namespace, name) =>
    request('GET', `/api/v1/flux/helmreleases/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`),
  fluxReconcile: (kind, namespace, name) =>
    request('POST', `/api/v1/flux/${kind}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/reconcile`),
  applicationSet: (name) => request('GET', `/api/v1/applicationsets/${encodeURIComponent(name)}`),
  preview: (name, number) => request('GET', `${app(name)}/previews/${encodeURIComponent(number)}`),
  resource: (name, ref) =>
    request(
      'GET',
      `${app(name)}/resource?${query({
        group: ref.group || '',
        version: ref.version || '',
        kind: ref.kind,
        namespace: ref.namespace || '',
        name: ref.name,
      })}`,
    ),
  update: (application) => request('PUT', app(application.metadata.name), application),
  sync: (name, body) => request('POST', `${app(name)}/sync`, body),
  refresh: (name, hard) => request('POST', `${app(name)}/refresh`, { hard }),
  rollback: (name, body) => request('POST', `${app(name)}/rollback`, body),
  terminate: (name) => request('DELETE', `${app(name)}/operation`),
};

// ---- live updates ----------------------------------------------------------------------------

const listeners = new Set();
const stateListeners = new Set();
let source = null;
let lostConnection = false;

function dispatch(message) {
  let event;
  try {
    event = JSON.parse(message.data);
  } catch {
    return;
  }
  if (!event || !event.application) return;
  for (const listener of listeners) listener(event);
}

function setState(state) {
  for (const listener of stateListeners) listener(state);
}

function connect() {
  source = new EventSource('/api/v1/stream/applications', { withCredentials: true });
  source.addEventListener('open', () => {
    setState('live');
    // Events sent while disconnected are gone: tell the pages to load their data again.
    if (lostConnection) for (const listener of listeners) listener({ type: 'RESYNC' });
    lostConnection = false;
  });
  source.addEventListener('error', () => {
    lostConnection = true;
    setState(source.readyState === EventSource.CLOSED ? 'offline' : 'connecting');
    if (source.readyState === EventSource.CLOSED) {
      // The browser gives up on a non-200 answer (an expired session): check and retry later.
      source = null;
      api.userInfo().then(() => setTimeout(connect, 2000), () => {});
    }
  });
  // Unnamed events per the contract; a named "application" event is accepted as well.
  source.addEventListener('message', dispatch);
  source.addEventListener('application', dispatch);
  // The server dropped events for this stream (it fell behind): reload rather than guess.
  source.addEventListener('resync', () => {
    for (const listener of listeners) listener({ type: 'RESYNC' });
  });
}

/** Receive every `{type, application}` change; returns the function that stops it. */
export function subscribe(listener) {
  listeners.add(listener);
  if (!source) connect();
  return () => listeners.delete(listener);
}

export function onStreamState(listener) {
  stateListeners.add(listener);
}

export function closeStream() {
  if (source) source.close();
  source = null;
  setState('offline');
}
