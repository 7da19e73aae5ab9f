// Sign-in page: POST /api/v1/session; the server answers with an HttpOnly session cookie.

import { api } from './api.js';
import { html } from './html.js';
import { navigate, setCrumbs } from './shell.js';

/** Only in-app paths are followed after sign-in, never another site. */
function nextPath() {
  const next = new URLSearchParams(location.search).get('next') || '/applications';
  return next.startsWith('/') && !next.startsWith('//') ? next : '/applications';
}

export function mount(main, _params, { onSignedIn }) {
  setCrumbs([{ label: 'Sign in' }]);
  main.innerHTML = html`
    <section class="login">
      <form class="login-card" novalidate>
        <h1 class="login-title">
          <svg viewBox="0 0 16 16" width="34" height="34" aria-hidden="true">
            <circle cx="4" cy="8" r="3" fill="#18be94"></circle>
            <circle cx="12" cy="8" r="3" fill="#0dadea"></circle>
            <rect x="4" y="7" width="8" height="2" fill="currentColor"></rect>
          </svg>
          Tether
        </h1>
        <p class="muted">GitOps continuous delivery for Kubernetes</p>
        <label for="username">Username</label>
        <input id="username" name="username" autocomplete="username" required value="admin">
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required>
        <p class="form-error" role="alert" hidden></p>
        <button type="submit" class="btn primary wide">Sign in</button>
      </form>
    </section>`.value;
  const form = main.querySelector('form');
  const error = form.querySelector('.form-error');
  form.password.focus();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await api.signIn(form.username.value.trim(), form.password.value);
      onSignedIn(await api.userInfo());
      navigate(nextPath(), { replace: true });
    } catch (failure) {
      error.textContent =
        failure.status === 401 ? 'Wrong username or password.' : failure.message;
      error.hidden = false;
      button.disabled = false;
    }
  });
  return () => {};
}
