// proxyd admin console. Plain JavaScript, no build step, no library.
// Everything shown is put in the page as text nodes (never as HTML), so names may hold anything.
// The admin token is sent once, to sign in, and never kept: the session lives in an HttpOnly cookie.
"use strict";

(function () {
  const PAGES = ["accounts", "client-keys", "usage", "requests"];
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];
  const OTHERS_COLOR = "#9aa5b1";
  const SVG = "http://www.w3.org/2000/svg";
  const state = { apiPrefix: "/api", session: null, accounts: [], clientKeys: [], secret: null, logsPage: 1, usage: { by: "clientKey", period: "day" } };

  // ------------------------------------------------------------------ small helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "text") el.textContent = value;
      else if (name === "className") el.className = value;
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) el.setAttribute(name, String(value));
    for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return el;
  }

  const $ = (id) => document.getElementById(id);
  const fmt = new Intl.NumberFormat();
  const num = (n) => (n === null || n === undefined ? "—" : fmt.format(n));

  function when(ms) {
    if (ms === null || ms === undefined) return "—";
    const d = new Date(typeof ms === "number" ? ms : Date.parse(ms));
    if (Number.isNaN(d.getTime())) return String(ms);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function day(iso) {
    return iso ? String(iso).slice(0, 10) : "—";
  }

  function url(path) {
    // Relative to the page (/admin): works behind a reverse proxy that keeps the paths.
    return path.replace(/^\//, "");
  }

  function apiUrl(path) {
    return url(state.apiPrefix + path);
  }

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function request(method, path, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = null;
      }
    }
    if (!response.ok) {
      let message = data && (data.message || (data.error && data.error.message));
      if (Array.isArray(message)) message = message.join("; ");
      const error = new HttpError(response.status, message || `${response.status} ${response.statusText}`);
      if (response.status === 401 && path !== url("/admin/login")) signedOut("Your session has ended: sign in again.");
      throw error;
    }
    return data;
  }

  const api = (method, path, body) => request(method, apiUrl(path), body);

  function notice(message) {
    const el = $("notice");
    el.textContent = message || "";
    el.hidden = !message;
  }

  // ------------------------------------------------------------------ dialogs

  function openDialog(build) {
    const dialog = $("dialog");
    dialog.replaceChildren();
    return new Promise((resolve) => {
      const close = (value) => {
        dialog.close();
        dialog.replaceChildren();
        resolve(value);
      };
      dialog.onclose = () => resolve(undefined);
      dialog.append(build(close));
      const heading = dialog.querySelector("h2");
      if (heading) {
        heading.id = "dialog-title";
        dialog.setAttribute("aria-labelledby", "dialog-title");
      }
      dialog.showModal();
      const first = dialog.querySelector("input, select, button");
      if (first) first.focus();
    });
  }

  function confirmDialog(title, text, action) {
    return openDialog((close) => {
      const form = h("form", { method: "dialog" },
        h("h2", { text: title }),
        h("p", { text }),
        h("div", { className: "buttons" },
          h("button", { type: "button", className: "secondary", onclick: () => close(false) }, "Cancel"),
          h("button", { type: "submit", className: "danger" }, action)));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        close(true);
      });
      return form;
    });
  }

  // A form in the dialog: submit() gets the form's values and returns true to close, or throws to show an error.
  function formDialog(title, fields, submitLabel, submit) {
    return openDialog((close) => {
      const error = h("p", { className: "error", role: "alert" });
      const form = h("form", {}, h("h2", { text: title }), fields, error,
        h("div", { className: "buttons" },
          h("button", { type: "button", className: "secondary", onclick: () => close(false) }, "Cancel"),
          h("button", { type: "submit" }, submitLabel)));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        error.textContent = "";
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          close(await submit(form));
        } catch (exc) {
          error.textContent = exc.message;
        } finally {
          button.disabled = false;
        }
      });
      return form;
    });
  }

  function field(label, attrs) {
    const id = `f-${Math.random().toString(36).slice(2)}`;
    return [h("label", { for: id, text: label }), h("input", { id, ...attrs })];
  }

  // ------------------------------------------------------------------ session

  async function loadSession() {
    const info = await request("GET", url("/admin/session"));
    state.apiPrefix = info.apiPrefix;
    state.session = info;
    return info;
  }

  function signedOut(message) {
    state.session = null;
    state.secret = null;
    $("nav").hidden = true;
    $("sign-out").hidden = true;
    $("who").textContent = "";
    $("view").hidden = true;
    $("view").replaceChildren();
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    const info = state.lastInfo || {};
    $("token-form").hidden = info.tokenLogin === false;
    $("password-form").hidden = !info.passwordLogin;
    if (info.tokenLogin === false && !info.passwordLogin) {
      $("signin-error").textContent = "No admin token or password is set: the console cannot sign anyone in.";
    }
    const focus = info.tokenLogin === false ? $("username") : $("token");
    if (focus) focus.focus();
  }

  function signedIn(info) {
    $("signin").hidden = true;
    $("nav").hidden = false;
    $("sign-out").hidden = !!info.loopback;
    $("who").textContent = info.loopback ? "loopback admin" : info.subject === "token" ? "signed in with the admin token" : String(info.subject || "").replace(/^user:/, "signed in as ");
    if (!PAGES.includes(currentPage())) location.hash = "#/accounts";
    else render();
  }

  async function signIn(form, fields) {
    const body = new URLSearchParams();
    for (const name of fields) body.set(name, form.elements[name].value);
    $("signin-error").textContent = "";
    try {
      const response = await fetch(url("/admin/login"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
        body,
      });
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        throw new Error(data.message || `Sign-in failed (${response.status})`);
      }
    } catch (exc) {
      $("signin-error").textContent = exc.message;
      return;
    } finally {
      for (const name of fields) if (form.elements[name].type === "password") form.elements[name].value = "";
    }
    start();
  }

  async function signOut() {
    try {
      await request("POST", url("/admin/logout"));
    } catch (_) {
      // signed out either way: the cookie is gone or was already invalid
    }
    signedOut("Signed out.");
  }

  async function start() {
    try {
      const info = await loadSession();
      state.lastInfo = info;
      if (info.signedIn) signedIn(info);
      else signedOut(location.hash === "#signin-failed" ? "Sign-in failed." : "");
    } catch (exc) {
      notice(`The console cannot reach proxyd: ${exc.message}`);
    }
  }

  // ------------------------------------------------------------------ routing

  function currentPage() {
    return location.hash.replace(/^#\/?/, "");
  }

  async function render() {
    if (!state.session || !state.session.signedIn) return;
    const page = currentPage();
    for (const link of document.querySelectorAll("#nav a")) {
      if (link.dataset.page === page) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (page !== "client-keys") state.secret = null; // shown once: leaving the page forgets it
    const view = $("view");
    view.hidden = false;
    notice("");
    const renderers = { accounts: renderAccounts, "client-keys": renderClientKeys, usage: renderUsage, requests: renderRequests };
    const renderer = renderers[page];
    if (!renderer) return;
    // Renders overlap (a filter changed while the page still loads): each builds off-screen, and only
    // the latest one started is shown, so a slow earlier answer never replaces a newer one.
    const generation = (state.renderGeneration = (state.renderGeneration || 0) + 1);
    const staging = document.createElement("div");
    try {
      await renderer(staging);
    } catch (exc) {
      if (exc.status !== 401 && generation === state.renderGeneration) notice(exc.message);
      return;
    }
    if (generation === state.renderGeneration) view.replaceChildren(...staging.childNodes);
  }

  // ------------------------------------------------------------------ accounts

  async function renderAccounts(view) {
    const accounts = await api("GET", "/api-keys");
    state.accounts = accounts;
    const rows = accounts.map((account) => {
      const plan = h("td", { text: "…" });
      const premium = h("td", { className: "num", text: "…" });
      const reset = h("td", { text: "…" });
      loadQuota(account, plan, premium, reset);
      const cooling = account.coolingDownUntil && account.coolingDownUntil > Date.now();
      return h("tr", { "data-id": account.id },
        h("td", {}, account.name, account.isDefault ? [" ", h("span", { className: "badge ok", text: "default" })] : null),
        h("td", {}, h("code", { text: account.maskedKey })),
        plan, premium, reset,
        h("td", {}, cooling
          ? h("span", { className: "badge warn", text: `cooling down (${account.coolingDownReason}) until ${when(account.coolingDownUntil)}` })
          : h("span", { className: "badge", text: "ready" })),
        h("td", { className: "num", text: num(account.usageCount) }),
        h("td", { className: "actions" },
          h("button", { type: "button", className: "secondary small", onclick: () => renameAccount(account) }, "Rename"),
          account.isDefault ? null : h("button", { type: "button", className: "secondary small", onclick: () => makeDefault(account) }, "Make default"),
          h("button", { type: "button", className: "danger small", onclick: () => deleteAccount(account) }, "Delete")));
    });
    view.replaceChildren(
      h("h1", { text: "Accounts" }),
      h("p", { className: "muted", text: "The GitHub accounts whose Copilot serves the requests." }),
      h("div", { className: "toolbar" },
        h("button", { type: "button", onclick: addAccount }, "Add account"),
        h("button", { type: "button", className: "secondary", onclick: deviceFlow }, "Add with GitHub device flow")),
      h("table", {},
        h("thead", {}, h("tr", {}, ["Name", "Token", "Plan", "Premium requests left", "Quota resets", "State", "Requests", ""].map(
          (title, i) => h("th", { className: i === 3 || i === 6 ? "num" : null, text: title })))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8, className: "empty", text: "No account yet: add one." })))));
  }

  async function loadQuota(account, plan, premium, reset) {
    try {
      const quota = await api("GET", `/api-keys/${encodeURIComponent(account.id)}/quota`);
      plan.textContent = quota.copilot_plan || "—";
      const p = (quota.quota_snapshots || {}).premium_interactions;
      premium.textContent = !p ? "—" : p.unlimited ? "unlimited" : `${num(p.remaining)} of ${num(p.entitlement)}`;
      reset.textContent = quota.quota_reset_date ? day(quota.quota_reset_date) : "—";
    } catch (exc) {
      plan.textContent = "unavailable";
      plan.title = exc.message;
      premium.textContent = "—";
      reset.textContent = "—";
    }
  }

  async function addAccount() {
    const done = await formDialog("Add account", [
      field("Name", { name: "name", required: true, maxlength: 100 }),
      field("GitHub token", { name: "key", required: true, type: "password", autocomplete: "off", spellcheck: "false" }),
      h("p", { className: "hint", text: "A gho_… OAuth token with Copilot access. It is stored and shown masked from now on." }),
    ], "Add", async (form) => {
      await api("POST", "/api-keys", { name: form.elements.name.value, key: form.elements.key.value });
      return true;
    });
    if (done) render();
  }

  async function renameAccount(account) {
    const done = await formDialog(`Rename ${account.name}`, [field("Name", { name: "name", required: true, maxlength: 100, value: account.name })],
      "Save", async (form) => {
        await api("PATCH", `/api-keys/${encodeURIComponent(account.id)}`, { name: form.elements.name.value });
        return true;
      });
    if (done) render();
  }

  // One change through the API, then the view again; a refusal is shown as a notice.
  async function change(method, path, body) {
    try {
      await api(method, path, body);
    } catch (exc) {
      notice(exc.message);
    }
    render();
  }

  async function makeDefault(account) {
    await change("POST", "/api-keys/default", { id: account.id });
  }

  async function deleteAccount(account) {
    if (!(await confirmDialog(`Delete ${account.name}?`, "Its GitHub token is removed from proxyd; client keys that name this account no longer use it.", "Delete"))) return;
    await change("DELETE", `/api-keys/${encodeURIComponent(account.id)}`);
  }

  function deviceFlow() {
    const status = h("p", { role: "status", text: "Asking GitHub for a code…" });
    const code = h("p", { className: "device" });
    const link = h("p");
    let source = null;
    openDialog((close) => h("form", { method: "dialog" },
      h("h2", { text: "Add with GitHub device flow" }), code, link, status,
      h("div", { className: "buttons" }, h("button", { type: "button", onclick: () => close(true) }, "Close")))).then(() => {
      if (source) source.close();
      render();
    });
    source = new EventSource(apiUrl("/api-keys/device-flow"), { withCredentials: true });
    const data = (event) => {
      try {
        return JSON.parse(event.data);
      } catch (_) {
        return {};
      }
    };
    source.addEventListener("initiated", (event) => {
      const d = data(event);
      code.textContent = d.userCode || "";
      const target = /^https:\/\//.test(d.verificationUri || "") ? d.verificationUri : null;
      link.replaceChildren("Open ", target ? h("a", { href: target, target: "_blank", rel: "noopener noreferrer", text: target }) : "GitHub's device page", " and enter this code.");
      status.textContent = "Waiting for you to approve on GitHub…";
    });
    source.addEventListener("pending", () => {
      status.textContent = "Waiting for you to approve on GitHub…";
    });
    source.addEventListener("success", (event) => {
      const d = data(event);
      status.textContent = `Added ${d.name || "the account"} (${d.maskedKey || ""}).`;
      source.close();
    });
    for (const kind of ["error", "expired"]) {
      source.addEventListener(kind, (event) => {
        if (event.data) status.textContent = data(event).message || "The device flow failed.";
        else if (source.readyState === EventSource.CLOSED) status.textContent = "The device flow stream closed.";
        if (event.data) source.close();
      });
    }
  }

  // ------------------------------------------------------------------ client keys

  async function renderClientKeys(view) {
    const [keys, accounts] = await Promise.all([api("GET", "/client-keys"), api("GET", "/api-keys")]);
    state.clientKeys = keys;
    state.accounts = accounts;
    const accountName = (id) => (accounts.find((a) => a.id === id) || { name: `deleted (${id.slice(0, 8)})` }).name;
    const secretPanel = state.secret ? h("div", { className: "secret", role: "region", "aria-label": "New secret" },
      h("strong", { text: `The secret of ${state.secret.name}: copy it now, it is shown only this once.` }), h("br"),
      h("code", { id: "new-secret", text: state.secret.key }),
      h("button", { type: "button", onclick: copySecret }, "Copy"),
      h("button", { type: "button", className: "secondary", onclick: () => { state.secret = null; render(); } }, "Done"),
      h("span", { id: "copy-status", role: "status", className: "muted" })) : null;
    const rows = keys.map((key) => h("tr", { "data-id": key.id },
      h("td", { text: key.name }),
      h("td", {}, h("code", { text: `${key.prefix}…` })),
      h("td", { text: key.models ? key.models.join(", ") : "every model" }),
      h("td", { className: "num", text: key.rpm === null ? "—" : num(key.rpm) }),
      h("td", { className: "num", text: key.monthlyRequests === null ? "—" : num(key.monthlyRequests) }),
      h("td", { className: "num", text: num(key.requestsThisMonth) }),
      h("td", { text: key.expiresAt ? when(key.expiresAt) : "never" }),
      h("td", { text: key.accounts ? key.accounts.map(accountName).join(", ") : "every account" }),
      h("td", { text: when(key.lastUsed) }),
      h("td", { className: "actions" },
        h("button", { type: "button", className: "secondary small", onclick: () => editClientKey(key) }, "Edit"),
        h("button", { type: "button", className: "danger small", onclick: () => revokeClientKey(key) }, "Revoke"))));
    view.replaceChildren(
      h("h1", { text: "Client keys" }),
      h("p", { className: "muted", text: "The pxd_… secrets clients send, each with its own limits and accounts." }),
      secretPanel,
      h("div", { className: "toolbar" }, h("button", { type: "button", onclick: newClientKey }, "New client key")),
      h("table", {},
        h("thead", {}, h("tr", {}, ["Name", "Prefix", "Models", "Requests / min", "Monthly limit", "This month", "Expires", "Accounts", "Last used", ""].map(
          (title, i) => h("th", { className: i >= 3 && i <= 5 ? "num" : null, text: title })))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 10, className: "empty", text: "No client key yet." })))));
  }

  async function copySecret() {
    const status = $("copy-status");
    const text = state.secret ? state.secret.key : "";
    try {
      if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(text);
      else {
        const range = document.createRange();
        range.selectNodeContents($("new-secret"));
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (!document.execCommand("copy")) throw new Error("copy refused");
        selection.removeAllRanges();
      }
      status.textContent = "Copied.";
    } catch (_) {
      status.textContent = "Select the secret and copy it by hand.";
    }
  }

  function clientKeyFields(key) {
    const accounts = state.accounts;
    const chosen = new Set((key && key.accounts) || []);
    const expires = key && key.expiresAt ? String(key.expiresAt).slice(0, 10) : "";
    return [
      field("Name", { name: "name", required: true, maxlength: 100, value: key ? key.name : "" }),
      field("Models", { name: "models", placeholder: "every model; or gpt-4o, claude-sonnet-4", value: key && key.models ? key.models.join(", ") : "" }),
      field("Requests per minute", { name: "rpm", type: "number", min: 1, step: 1, placeholder: "no limit", value: key && key.rpm !== null ? key.rpm : "" }),
      field("Monthly requests", { name: "monthlyRequests", type: "number", min: 1, step: 1, placeholder: "no limit", value: key && key.monthlyRequests !== null ? key.monthlyRequests : "" }),
      field("Expires", { name: "expiresAt", type: "date", value: expires }),
      h("p", { className: "hint", text: "Empty fields mean no limit. A date expires at the end of that day (UTC)." }),
      accounts.length ? h("fieldset", {}, h("legend", { text: "Accounts (none ticked: every account)" }),
        accounts.map((a) => h("label", {}, h("input", { type: "checkbox", name: "accounts", value: a.id, checked: chosen.has(a.id) }), ` ${a.name}`))) : null,
    ];
  }

  function clientKeyBody(form) {
    const value = (name) => form.elements[name].value.trim();
    const count = (name) => (value(name) === "" ? null : Number(value(name)));
    const models = value("models").split(",").map((m) => m.trim()).filter(Boolean);
    const accounts = [...form.querySelectorAll("input[name=accounts]:checked")].map((el) => el.value);
    return {
      name: form.elements.name.value,
      models: models.length ? models : null,
      rpm: count("rpm"),
      monthlyRequests: count("monthlyRequests"),
      expiresAt: value("expiresAt") || null,
      accounts: accounts.length ? accounts : null,
    };
  }

  async function newClientKey() {
    const created = await formDialog("New client key", clientKeyFields(null), "Create",
      async (form) => api("POST", "/client-keys", clientKeyBody(form)));
    if (created) {
      state.secret = { name: created.name, key: created.key };
      render();
    }
  }

  async function editClientKey(key) {
    const done = await formDialog(`Edit ${key.name}`, clientKeyFields(key), "Save", async (form) => {
      await api("PATCH", `/client-keys/${encodeURIComponent(key.id)}`, clientKeyBody(form));
      return true;
    });
    if (done) render();
  }

  async function revokeClientKey(key) {
    if (!(await confirmDialog(`Revoke ${key.name}?`, "Clients sending this key are refused from now on. This cannot be undone.", "Revoke"))) return;
    await change("DELETE", `/client-keys/${encodeURIComponent(key.id)}`);
  }

  // ------------------------------------------------------------------ usage

  async function renderUsage(view) {
    const { by, period } = state.usage;
    const query = period === "hour" ? "bucket=hour&hours=48" : "bucket=day&days=30";
    const [stats, usage] = await Promise.all([api("GET", "/admin/stats"), api("GET", `/admin/usage?${query}&by=${by}`)]);
    const byLabel = { clientKey: "client key", model: "model", account: "account" }[by];
    const unit = period === "hour" ? "hour" : "day";
    const named = usage.series.map((entry) => ({ ...entry, label: seriesName(by, entry) }));
    const select = (label, value, options, onchange) => {
      const id = `u-${label.replace(/\W/g, "")}`;
      return h("div", { className: "field" }, h("label", { for: id, text: label }),
        h("select", { id, onchange }, options.map(([v, text]) => h("option", { value: v, selected: v === value, text }))));
    };
    view.replaceChildren(
      h("h1", { text: "Usage" }),
      h("div", { className: "cards" },
        statCard("Total requests", num(stats.totalRequests)),
        statCard("Today", num(stats.requestsToday)),
        statCard("This week", num(stats.requestsThisWeek)),
        statCard("This month", num(stats.requestsThisMonth)),
        statCard("Error rate", `${stats.errorRate}%`),
        statCard("Average response", `${num(stats.averageResponseTime)} ms`),
        statCard("Active accounts", `${num(stats.activeKeys)} of ${num(stats.totalKeys)}`)),
      h("div", { className: "toolbar" },
        select("Split by", by, [["clientKey", "Client key"], ["model", "Model"], ["account", "Account"]], (e) => { state.usage.by = e.target.value; render(); }),
        select("Period", period, [["day", "Last 30 days, per day"], ["hour", "Last 48 hours, per hour"]], (e) => { state.usage.period = e.target.value; render(); })),
      h("div", { className: "charts" },
        chart(`Requests per ${unit} by ${byLabel}`, usage, named, "requests", period),
        chart(`Tokens per ${unit} by ${byLabel}`, usage, named, "tokens", period)),
      h("table", { "aria-label": `Usage by ${byLabel}` },
        h("thead", {}, h("tr", {}, h("th", { text: byLabel[0].toUpperCase() + byLabel.slice(1) }), ["Requests", "Errors", "Prompt tokens", "Completion tokens", "Tokens"].map((t) => h("th", { className: "num", text: t })))),
        h("tbody", {}, named.length ? named.map((entry) => h("tr", {},
          h("td", { text: entry.label }),
          [entry.totalRequests, entry.totalErrors, entry.totalPromptTokens, entry.totalCompletionTokens, entry.totalTokens].map((n) => h("td", { className: "num", text: num(n) })))) :
          h("tr", {}, h("td", { colspan: 6, className: "empty", text: "No requests in this period." }))),
        h("tfoot", {}, h("tr", {}, h("td", { text: "Total" }),
          [usage.totals.totalRequests, usage.totals.totalErrors, usage.totals.totalPromptTokens, usage.totals.totalCompletionTokens, usage.totals.totalTokens].map((n) => h("td", { className: "num", text: num(n) }))))),
      h("p", { className: "muted", text: `From ${when(usage.from)} to ${when(usage.to)} (your local time; periods are counted in UTC).` }));
  }

  function seriesName(by, entry) {
    if (by === "clientKey") return entry.id === null ? "(no client key)" : entry.name === null ? `(revoked key ${String(entry.id).slice(0, 8)})` : entry.name;
    if (by === "account") return entry.id === null ? "(no account)" : entry.name === null ? `(deleted account ${String(entry.id).slice(0, 8)})` : entry.name;
    return entry.id === null ? "(no model)" : entry.name;
  }

  function statCard(label, value) {
    return h("div", { className: "stat" }, h("div", { className: "label", text: label }), h("div", { className: "value", text: value }));
  }

  // A stacked bar chart in SVG: one bar per bucket, a segment per series (the largest eight, then "others").
  function chart(title, usage, named, measure, period) {
    const width = 640, height = 220, left = 48, right = 8, top = 10, bottom = 26;
    const buckets = usage.buckets;
    const shown = named.filter((e) => e[measure === "requests" ? "totalRequests" : "totalTokens"] > 0);
    const top8 = shown.slice(0, 8).map((e, i) => ({ label: e.label, values: e[measure], color: COLORS[i] }));
    if (shown.length > 8) {
      const rest = buckets.map((_, i) => shown.slice(8).reduce((sum, e) => sum + e[measure][i], 0));
      top8.push({ label: `${shown.length - 8} others`, values: rest, color: OTHERS_COLOR });
    }
    const totals = usage.totals[measure];
    const max = Math.max(1, ...totals);
    const plotW = width - left - right, plotH = height - top - bottom;
    const slot = plotW / buckets.length;
    const barW = Math.max(1, slot * 0.78);
    const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title}: ${num(totals.reduce((a, b) => a + b, 0))} in all` });
    for (const fraction of [0, 0.5, 1]) {
      const y = top + plotH * (1 - fraction);
      svg.append(s("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid" }));
      svg.append(s("text", { x: left - 6, y: y + 3, "text-anchor": "end", class: "axis" }, num(Math.round(max * fraction))));
    }
    buckets.forEach((bucket, i) => {
      const x = left + i * slot + (slot - barW) / 2;
      let y = top + plotH;
      for (const series of top8) {
        const value = series.values[i];
        if (!value) continue;
        const hgt = (value / max) * plotH;
        y -= hgt;
        const label = period === "hour" ? `${bucket.slice(0, 13).replace("T", " ")}:00 UTC` : day(bucket);
        svg.append(s("rect", { class: "bar", x: x.toFixed(2), y: y.toFixed(2), width: barW.toFixed(2), height: Math.max(hgt, 0.5).toFixed(2), fill: series.color },
          s("title", {}, `${series.label}, ${label}: ${num(value)}`)));
      }
      const every = Math.ceil(buckets.length / 8);
      if (i % every === 0 || (i === buckets.length - 1 && i % every >= every / 2)) {
        const text = period === "hour" ? `${bucket.slice(11, 13)}h` : bucket.slice(5, 10);
        svg.append(s("text", { x: (x + barW / 2).toFixed(2), y: height - 8, "text-anchor": "middle", class: "axis" }, text));
      }
    });
    const legend = h("ul", { className: "legend", "aria-label": `${title}: legend` }, top8.map((series) => h("li", {},
      (() => {
        const swatch = s("svg", { width: 10, height: 10, "aria-hidden": "true" }, s("rect", { width: 10, height: 10, rx: 2, fill: series.color }));
        return swatch;
      })(),
      series.label)));
    return h("figure", { className: "chart", "aria-label": title },
      h("h2", { text: title }), svg, top8.length ? legend : h("p", { className: "muted", text: "No data in this period." }));
  }

  // ------------------------------------------------------------------ requests

  async function renderRequests(view) {
    const filters = state.logFilters || { clientKeyId: "", model: "", status: "" };
    state.logFilters = filters;
    const params = new URLSearchParams({ page: String(state.logsPage), limit: "25" });
    for (const [name, value] of Object.entries(filters)) if (value) params.set(name, value);
    const [logs, keys, models] = await Promise.all([
      api("GET", `/admin/logs?${params}`),
      api("GET", "/client-keys"),
      api("GET", "/admin/usage?by=model&bucket=day&days=90"),
    ]);
    const pages = Math.max(1, Math.ceil(logs.total / logs.limit));
    const apply = (name) => (event) => {
      filters[name] = event.target.value;
      state.logsPage = 1;
      render();
    };
    const datalist = h("datalist", { id: "model-names" }, models.series.filter((e) => e.id !== null).map((e) => h("option", { value: e.id })));
    const rows = logs.logs.map((row) => h("tr", {},
      h("td", { text: when(row.timestamp) }),
      h("td", { text: row.clientKeyName !== null ? row.clientKeyName : row.clientKeyId ? "(revoked key)" : "—" }),
      h("td", { text: row.apiKeyName !== null ? row.apiKeyName : row.apiKeyId ? "(deleted account)" : "—" }),
      h("td", {}, h("code", { text: row.endpoint })),
      h("td", { text: row.model || "—" }),
      h("td", { className: "num" }, h("span", { className: `badge ${row.status >= 500 ? "bad" : row.status >= 400 ? "warn" : "ok"}`, text: String(row.status) })),
      h("td", { className: "num", text: `${num(row.duration)} ms` }),
      h("td", { className: "num", text: num(row.totalTokens) })));
    view.replaceChildren(
      h("h1", { text: "Requests" }),
      h("div", { className: "toolbar" },
        h("div", { className: "field" }, h("label", { for: "filter-key", text: "Client key" }),
          h("select", { id: "filter-key", onchange: apply("clientKeyId") },
            h("option", { value: "", text: "any" }),
            keys.map((k) => h("option", { value: k.id, selected: filters.clientKeyId === k.id, text: k.name })))),
        h("div", { className: "field" }, h("label", { for: "filter-model", text: "Model" }),
          h("input", { id: "filter-model", list: "model-names", value: filters.model, placeholder: "any", onchange: apply("model") }), datalist),
        h("div", { className: "field" }, h("label", { for: "filter-status", text: "Status" }),
          h("select", { id: "filter-status", onchange: apply("status") },
            [["", "any"], ["2xx", "2xx success"], ["4xx", "4xx client error"], ["429", "429 rate limited"], ["5xx", "5xx server error"]].map(
              ([v, t]) => h("option", { value: v, selected: filters.status === v, text: t })))),
        h("span", { className: "grow" }),
        h("span", { className: "muted", text: `${num(logs.total)} ${logs.total === 1 ? "request" : "requests"}` })),
      h("table", { "aria-label": "Request log" },
        h("thead", {}, h("tr", {}, ["Time", "Client key", "Account", "Endpoint", "Model", "Status", "Duration", "Tokens"].map(
          (t, i) => h("th", { className: i >= 5 ? "num" : null, text: t })))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8, className: "empty", text: "No request matches." })))),
      h("div", { className: "pager" },
        h("button", { type: "button", className: "secondary", disabled: state.logsPage <= 1, onclick: () => { state.logsPage -= 1; render(); } }, "Previous"),
        h("span", { text: `Page ${logs.page} of ${pages}` }),
        h("button", { type: "button", className: "secondary", disabled: state.logsPage >= pages, onclick: () => { state.logsPage += 1; render(); } }, "Next")));
  }

  // ------------------------------------------------------------------ wiring

  document.addEventListener("DOMContentLoaded", () => {
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      signIn(event.target, ["token"]);
    });
    $("password-form").addEventListener("submit", (event) => {
      event.preventDefault();
      signIn(event.target, ["username", "password"]);
    });
    $("sign-out").addEventListener("click", signOut);
    window.addEventListener("hashchange", () => {
      if (currentPage() !== "requests") state.logsPage = 1;
      render();
    });
    start();
  });
})();
