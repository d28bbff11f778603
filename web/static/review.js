// Review queue: decisions over fetch, keyboard shortcuts, the curator's name kept in localStorage.
// No inline script or style anywhere (the CSP forbids them): bar widths come from data-w here.
(function () {
  "use strict";
  document.querySelectorAll("[data-w]").forEach((el) => { el.style.width = Number(el.dataset.w) + "%"; });
  document.querySelectorAll("select[data-autosubmit]").forEach((el) => el.addEventListener("change", () => el.form.submit()));
  const curatorInput = document.getElementById("curator");
  const toast = document.getElementById("toast");
  const stored = localStorage.getItem("kgtag-curator");
  if (curatorInput && stored && !curatorInput.value) curatorInput.value = stored;
  if (curatorInput) curatorInput.addEventListener("change", () => localStorage.setItem("kgtag-curator", curatorInput.value.trim()));

  let toastTimer;
  function say(text, warn) {
    toast.textContent = text;
    toast.className = "show" + (warn ? " warn" : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.className = ""; }, 4000);
  }

  const table = document.getElementById("queue");
  if (!table) return;
  const rows = Array.from(table.querySelectorAll("tr.edge"));
  const byId = new Map(rows.map((r) => [r.dataset.id, r]));
  let current = rows.length ? 0 : -1;

  function open(row) { return !row.classList.contains("decided-accepted") && !row.classList.contains("decided-rejected") && !row.classList.contains("conflict"); }
  function focus(i) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, j) => r.classList.toggle("current", j === current));
    rows[current].scrollIntoView({ block: "nearest" });
  }
  function selected() { return rows.filter((r) => r.querySelector(".pick").checked && open(r)); }
  function refreshBulk() {
    const n = selected().length;
    document.getElementById("accept-selected").disabled = n === 0;
    document.getElementById("reject-selected").disabled = n === 0;
    rows.forEach((r) => r.classList.toggle("selected", r.querySelector(".pick").checked));
  }
  function close(row, cls, text) {
    row.classList.add(cls);
    row.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    const pick = row.querySelector(".pick");
    pick.checked = false; pick.disabled = true;
    row.querySelector(".outcome").textContent = text;
  }

  async function decide(targets, decision) {
    targets = targets.filter(open);
    if (!targets.length) return;
    const curator = (curatorInput && curatorInput.value.trim()) || "";
    if (!curator) { say("Enter your name (Curator, top right) first", true); curatorInput && curatorInput.focus(); return; }
    targets.forEach((r) => r.querySelectorAll("button").forEach((b) => { b.disabled = true; }));
    let body;
    try {
      const resp = await fetch("/api/decide", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ids: targets.map((r) => r.dataset.id), decision, curator }),
      });
      body = await resp.json();
      if (!resp.ok && resp.status !== 409 && resp.status !== 404) throw new Error(body.error || resp.statusText);
    } catch (err) {
      targets.forEach((r) => r.querySelectorAll("button").forEach((b) => { b.disabled = false; }));
      say("Not saved: " + err.message, true);
      return;
    }
    const verb = body.decision;
    body.decided.forEach((id) => close(byId.get(id), "decided-" + verb, verb + " by " + body.curator));
    body.already_decided.forEach((c) => close(byId.get(c.id), "conflict", c.message));
    body.missing.forEach((id) => close(byId.get(id), "conflict", "gone: replaced by a newer run"));
    say(body.message, body.already_decided.length > 0 || body.missing.length > 0);
    const count = document.querySelector("#count .n");
    if (count) count.textContent = String(Math.max(0, Number(count.textContent) - body.decided.length - body.already_decided.length - body.missing.length));
    refreshBulk();
    const next = rows.findIndex((r, j) => j >= current && open(r));
    if (next >= 0) focus(next);
  }

  rows.forEach((row, i) => {
    row.addEventListener("click", (ev) => { if (ev.target.tagName !== "INPUT") focus(i); });
    row.querySelectorAll("button[data-decision]").forEach((b) =>
      b.addEventListener("click", (ev) => { ev.stopPropagation(); focus(i); decide([row], b.dataset.decision); }));
    row.querySelector(".pick").addEventListener("change", refreshBulk);
  });
  document.getElementById("select-all").addEventListener("change", (ev) => {
    rows.forEach((r) => { const p = r.querySelector(".pick"); if (!p.disabled) p.checked = ev.target.checked; });
    refreshBulk();
  });
  document.getElementById("accept-selected").addEventListener("click", () => decide(selected(), "accept"));
  document.getElementById("reject-selected").addEventListener("click", () => decide(selected(), "reject"));

  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || (t && (t.tagName === "INPUT" && t.type !== "checkbox" || t.tagName === "SELECT" || t.tagName === "TEXTAREA"))) return;
    const row = rows[current];
    switch (ev.key) {
      case "j": case "ArrowDown": focus(current + 1); break;
      case "k": case "ArrowUp": focus(current - 1); break;
      case "x": if (row && open(row)) { const p = row.querySelector(".pick"); p.checked = !p.checked; refreshBulk(); } break;
      case "a": if (row) decide([row], "accept"); break;
      case "r": if (row) decide([row], "reject"); break;
      case "A": decide(selected(), "accept"); break;
      case "R": decide(selected(), "reject"); break;
      default: return;
    }
    ev.preventDefault();
  });
  focus(0);
})();
