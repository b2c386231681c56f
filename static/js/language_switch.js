// The language switch keeps the whole address: the server wrote the query into
// each link, and the fragment (the experiment's state) is added when one is followed.

document.addEventListener("click", (event) => {
  const link = event.target.closest?.(".language-switch a[data-lang]");
  if (!link) return;
  const target = new URL(window.location.href);
  target.searchParams.set("lang", link.dataset.lang);
  event.preventDefault();
  window.location.assign(target.href);
});
