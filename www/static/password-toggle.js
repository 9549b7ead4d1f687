// The show-password toggle of the account pages: a module (the pages' CSP allows no inline
// script), so without script the buttons stay hidden and the fields work as plain password fields.
for (const button of document.querySelectorAll('button[data-password-toggle]')) {
  const field = document.getElementById(button.dataset.passwordToggle);
  if (!(field instanceof HTMLInputElement)) continue;
  button.hidden = false;
  button.addEventListener('click', () => {
    const showing = field.type === 'text';
    field.type = showing ? 'password' : 'text';
    button.textContent = showing ? 'Show' : 'Hide';
    button.setAttribute('aria-pressed', String(!showing));
    field.focus();
  });
  // A shown password is hidden again before the form leaves, so that no browser stores it as text.
  field.form?.addEventListener('submit', () => {
    field.type = 'password';
  });
}
