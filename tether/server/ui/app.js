// Entry point: checks the session, then routes paths to pages. Each page module exports
// `mount(main, params)` and returns a function that releases what the page holds.

import { api, closeStream, onStreamState, onUnauthorized } from './api.js';
import * as applicationPage from './application.js';
import * as applicationsPage from './applications.js';
import * as appsetsPage from './appsets.js';
import * as fluxPage from './flux.js';
import * as loginPage from './login.js';
import * as previewPage from './preview.js';
import { navigate, setCrumbs, setRouter, showStreamState, toast } from './shell.js';

const main = document.getElementById('main');
let unmount = null;
let user = null;

function match(path) {
  if (path === '/login') return { page: loginPage, params: {} };
  if (path === '/' || path === '/applications' || path === '/applications/') {
    return { page: applicationsPage, params: {} };
  }
  const detail = /^\/applications\/([^/]+)\/?$/.exec(path);
  if (detail) return { page: applicationPage, params: { name: decodeURIComponent(detail[1]) } };
  if (path === '/applicationsets' || path === '/applicationsets/') {
    return { page: { mount: appsetsPage.mountList }, params: {} };
  }
  const appset = /^\/applicationsets\/([^/]+)\/?$/.exec(path);
  if (appset) return { page: appsetsPage, params: { name: decodeURIComponent(appset[1]) } };
  if (path === '/flux' || path === '/flux/') return { page: { mount: fluxPage.mountList }, params: {} };
  const flux = /^\/flux\/(kustomizations|helmreleases)\/([^/]+)\/([^/]+)\/?$/.exec(path);
  if (flux) {
    const params = { kind: flux[1], namespace: decodeURIComponent(flux[2]), name: decodeURIComponent(flux[3]) };
    return { page: fluxPage, params };
  }
  const preview = /^\/applications\/([^/]+)\/preview\/(\d+)\/?$/.exec(path);
  if (preview) {
    return { page: previewPage, params: { name: decodeURIComponent(preview[1]), number: Number(preview[2]) } };
  }
  return null;
}

function notFound() {
  setCrumbs([{ label: 'Not found' }]);
  main.innerHTML =
    '<section class="empty"><h1>Page not found</h1><p><a href="/applications" data-link>Back to the applications</a></p></section>';
  return () => {};
}

let renders = 0;

async function render() {
  const ticket = ++renders;
  if (unmount) unmount();
  unmount = null;
  const path = location.pathname;
  if (path !== '/login' && !user) {
    try {
      user = await api.userInfo();
    } catch {
      // The 401 handler has usually sent us to the sign-in page already.
      if (location.pathname !== '/login') signedOut();
      return;
    }
  }
  // A newer navigation happened while this one waited for the session check.
  if (ticket !== renders) return;
  const route = match(path);
  document.getElementById('topbar').hidden = path === '/login';
  if (user) document.getElementById('user-name').textContent = user.username || '';
  main.innerHTML = '';
  unmount = route ? route.page.mount(main, route.params, { onSignedIn: signedIn }) : notFound();
  main.focus({ preventScroll: true });
}

function signedIn(info) {
  user = info;
}

function signedOut() {
  user = null;
  closeStream();
  if (location.pathname !== '/login') {
    navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, {
      replace: true,
    });
  }
}

// Same-origin links move inside the page; modified clicks (new tab) keep the browser's behaviour.
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[href]');
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (link.target || link.origin !== location.origin || link.pathname.startsWith('/api/')) return;
  event.preventDefault();
  navigate(link.pathname + link.search);
});

document.getElementById('sign-out').addEventListener('click', async () => {
  try {
    await api.signOut();
  } catch (error) {
    toast(error.message, 'error');
  }
  signedOut();
});

window.addEventListener('popstate', render);
onUnauthorized(signedOut);
onStreamState(showStreamState);
setRouter(render);
render();
