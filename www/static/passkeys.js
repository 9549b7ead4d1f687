// Passkeys on the account pages (a module: the pages' CSP allows no inline script). Buttons that
// carry data-passkey start a ceremony with the edge: its options, the browser's WebAuthn call,
// then the credential back. Without WebAuthn (or without script) the buttons stay hidden and
// the pages work with passwords and codes alone.
const prefix = new URL(import.meta.url).pathname.replace(/\/static\/passkeys\.js$/, '');
const supported = typeof window.PublicKeyCredential === 'function' &&
  typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function';

async function post(step, body) {
  const response = await fetch(`${prefix}/accounts/passkeys/${step}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(answer.message || 'Something went wrong. Try again.'), { code: answer.error || 'error' });
  return answer;
}

function showError(message, code) {
  const slot = document.getElementById('notice');
  if (!slot) return;
  const box = document.createElement('div');
  box.className = 'notice notice-error';
  box.setAttribute('role', 'alert');
  box.dataset.error = code;
  const list = document.createElement('ul');
  list.className = 'notice-list';
  const item = document.createElement('li');
  item.textContent = message;
  list.append(item);
  box.append(list);
  slot.replaceChildren(box);
}

function failed(error) {
  // The person closed the browser's dialog, or it timed out: say so plainly.
  if (error?.name === 'NotAllowedError' || error?.name === 'AbortError') {
    showError('The passkey request was cancelled or timed out.', 'passkey_cancelled');
  } else {
    showError(error?.message || 'That did not work. Try again.', error?.code || 'passkey_failed');
  }
}

/** Shows a new set of recovery codes once, with the way on. */
function showRecoveryCodes(codes, next) {
  const main = document.querySelector('main.card');
  const heading = document.getElementById('title');
  if (heading) heading.textContent = 'Save your recovery codes';
  const intro = document.createElement('p');
  intro.className = 'subtitle';
  intro.textContent = 'Each code signs you in once if you lose your passkey. They are shown only now: keep them somewhere safe.';
  const list = document.createElement('ol');
  list.id = 'recovery-codes';
  list.className = 'recovery-codes';
  for (const code of codes) {
    const item = document.createElement('li');
    const text = document.createElement('code');
    text.textContent = code;
    item.append(text);
    list.append(item);
  }
  const onward = document.createElement('a');
  onward.id = 'continue';
  onward.className = 'button button-block';
  onward.href = next;
  onward.textContent = 'Continue';
  for (const child of [...main.children]) if (child.tagName !== 'HEADER' && child.id !== 'notice') child.remove();
  main.append(intro, list, onward);
}

async function register(button) {
  const options = await post('registration-options', { csrf_token: button.dataset.csrfToken || '' });
  const credential = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey) });
  const name = document.getElementById('passkey-name')?.value || '';
  const done = await post('register', {
    ceremony: options.ceremony,
    credential: credential.toJSON(),
    name,
    csrf_token: button.dataset.csrfToken || '',
    return_to: button.dataset.returnTo || '',
  });
  if (done.recovery_codes) showRecoveryCodes(done.recovery_codes, done.next);
  else window.location.assign(done.next);
}

async function signIn(mode, button, mediation) {
  const options = await post('sign-in-options', {
    mode,
    tenant: button?.dataset.tenant || '',
    csrf_token: button?.dataset.csrfToken || '',
  });
  const request = { publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey) };
  if (mediation) Object.assign(request, mediation);
  const credential = await navigator.credentials.get(request);
  if (!credential) return;
  const done = await post('sign-in', {
    ceremony: options.ceremony,
    credential: credential.toJSON(),
    csrf_token: button?.dataset.csrfToken || '',
    return_to: button?.dataset.returnTo || '',
  });
  window.location.assign(done.next);
}

let conditional = null;

if (supported) {
  for (const button of document.querySelectorAll('button[data-passkey]')) {
    button.hidden = false;
    for (const field of document.querySelectorAll('[data-passkey-only]')) field.hidden = false;
    button.addEventListener('click', async () => {
      button.disabled = true;
      // A modal ceremony replaces the autofill one, which the browser would refuse to run beside it.
      conditional?.abort();
      try {
        if (button.dataset.passkey === 'register') await register(button);
        else await signIn(button.dataset.passkey, button);
      } catch (error) {
        failed(error);
      } finally {
        button.disabled = false;
      }
    });
  }
  // Autofill: the sign-in page's email field offers the device's passkeys (conditional UI).
  const passwordless = document.querySelector('button[data-passkey="passwordless"]');
  const email = document.querySelector('input[autocomplete~="webauthn"]');
  if (passwordless && email && !passwordless.closest('[hidden]') &&
      typeof PublicKeyCredential.isConditionalMediationAvailable === 'function') {
    PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
      if (!available) return;
      conditional = new AbortController();
      // Autofill is offered, not asked for: when it fails, the buttons and the form still work.
      signIn('passwordless', passwordless, { mediation: 'conditional', signal: conditional.signal }).catch(() => {});
    });
  }
} else {
  for (const note of document.querySelectorAll('[data-passkey-unsupported]')) note.hidden = false;
}
