// The operator screen: renders the agent's state, asks for confirmation, PIN and reason.
"use strict";
const LANG = CATALOG[document.documentElement.lang] ? document.documentElement.lang : "vi";
const T = CATALOG[LANG];
const $ = id => document.getElementById(id);
let state = null;

function tr(code, params) {
  let text = T[code];
  if (text === undefined) return T.unknown_error;
  for (const [name, value] of Object.entries(params || {})) {
    let shown = value;
    if (name === "fault") shown = T["f_" + value] || T.f_other;
    else if (name === "last" || name === "state") shown = T[value] || value;
    text = text.replaceAll("{" + name + "}", shown);
  }
  return text.replace(/\{[a-z]+\}/g, "").replace(/\(\s*\)|:\s*$/g, "").trim();
}
const msg = m => (m ? tr(m.code, m.params) : "");

document.querySelectorAll("[data-t]").forEach(e => { e.textContent = T[e.dataset.t]; });
for (const r of T.reasons) {
  const o = document.createElement("option"); o.value = r; $("reasons-list").appendChild(o);
  const chip = item("button", r); chip.type = "button"; chip.onclick = () => { $("d-reason").value = r; };
  $("d-chips").appendChild(chip);
}
// A keypad for the PIN: the panel has no keyboard.
for (const key of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", "✓"]) {
  const b = item("button", key); b.type = key === "✓" ? "submit" : "button";
  if (key === "⌫") b.onclick = () => { $("d-pin").value = $("d-pin").value.slice(0, -1); };
  else if (key !== "✓") b.onclick = () => { $("d-pin").value += key; };
  $("d-keypad").appendChild(b);
}
for (const [id, key] of [["d-serial", "serial"], ["d-reason", "reason"], ["d-pin", "pin"]]) $(id).placeholder = T[key];

function zone() { return state ? state.line.timezone : "Asia/Ho_Chi_Minh"; }
function clock(iso, seconds) {
  const opts = {timeZone: zone(), hour: "2-digit", minute: "2-digit", hour12: false};
  if (seconds) opts.second = "2-digit";
  return new Intl.DateTimeFormat(LANG === "vi" ? "vi-VN" : "en-GB", opts).format(iso ? new Date(iso) : new Date());
}
function day(iso) {
  return new Intl.DateTimeFormat(LANG === "vi" ? "vi-VN" : "en-GB", {timeZone: zone()}).format(new Date(iso));
}
function span(seconds) {
  const s = Math.max(0, Math.round(seconds)), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
  return h ? `${h} ${T.unit_h} ${m} ${T.unit_m}` : m ? `${m} ${T.unit_m} ${s % 60} ${T.unit_s}` : `${s} ${T.unit_s}`;
}
const pct = v => (v === null || v === undefined ? "—" : Math.round(v * 100) + "%");
function text(id, value) { $(id).textContent = value; }
function item(tag, content, cls) {
  const e = document.createElement(tag); e.textContent = content; if (cls) e.className = cls; return e;
}

let labelOf = null;
$("label").onerror = () => { $("label").hidden = true; };
function renderLabel(o) {
  // The approved label of the work order; the image hides itself when there is none.
  const id = o ? o.id : null;
  if (id === labelOf) return;
  labelOf = id;
  const img = $("label");
  img.hidden = !o;
  if (o) img.src = "/api/label.png?order=" + encodeURIComponent(o.id);
}
function renderOrder(s) {
  const o = s.work_order;
  renderLabel(o);
  text("product", o ? `${o.id} · ${LANG === "en" && o.product_en ? o.product_en : o.product} · ${T.lot} ${o.lot}` : T.none);
  text("o-gtin", o ? o.gtin : "—"); text("o-lot", o ? o.lot : "—");
  text("o-expiry", o && o.expiry ? day(o.expiry + "T12:00:00Z") : "—");
  text("o-qty", o ? o.quantity : "—"); text("o-remaining", o ? o.remaining : "—");
  text("o-eta", o && o.eta ? (day(o.eta) === day(s.now) ? clock(o.eta) : `${clock(o.eta)} ${day(o.eta)}`) : "—"); text("o-grade", s.print_grade || "—");
  text("pause", s.phase === "paused" && s.pause ? msg(s.pause) : "");
}
function renderSpeed(s) {
  const rate = Math.round(s.rate_per_minute);
  text("rate", rate); text("target", Math.round(s.target_per_minute));
  $("rate-bar").style.width = Math.min(100, 100 * rate / s.target_per_minute) + "%";
  for (const k of ["verified", "rejected", "printed", "voided", "cases"]) text("c-" + k, s.counters[k]);
  text("c-bin", s.reject_bin);
  const sh = s.shift;
  text("oee", pct(sh.oee)); text("oee-a", pct(sh.availability)); text("oee-p", pct(sh.performance)); text("oee-q", pct(sh.quality));
  const reasons = s.work_order ? s.work_order.rejects_by_reason : [];
  $("reasons").replaceChildren(...(reasons.length ? reasons.map(([code, n]) => item("li", `${n} · ${tr(code, {})}`)) : [item("li", T.no_reject)]));
}
function renderDevices(s) {
  $("tiles").replaceChildren(...s.devices.map(d => {
    const tile = item("div", "", "tile " + d.state);
    tile.append(item("b", T["tile_" + d.name]), item("span", d.name === "media" && d.code !== "ok" ? T["f_" + d.code] : tr(d.code, d.params)));
    return tile;
  }));
}
function renderAlarms(s) {
  const now = new Date(s.now);
  $("alarms").replaceChildren(...(s.alarms.length ? s.alarms.map(a => {
    const li = item("li", "", "alarm " + a.severity);
    li.title = a.code;
    li.append(item("span", `${clock(a.raised)} ${msg(a.message)} · ${tr("ago", {d: span((now - new Date(a.raised)) / 1000)})}` +
                           (a.acknowledged_by ? ` · ${tr("acked_by", {name: a.acknowledged_by})}` : "")));
    if (!a.acknowledged_by) {
      const b = item("button", T.acknowledge, "small"); b.dataset.alarm = a.id;
      b.onclick = () => ask("ack", {alarm: a.id}); li.append(b);
    }
    return li;
  }) : [item("li", T.no_alarm)]));
  $("history").replaceChildren(...s.alarm_history.map(a =>
    item("li", `${clock(a.raised)}–${clock(a.ended)} ${tr("alarm_" + a.code, {})} · ${tr("lasted", {d: span(a.duration_s)})}`)));
}
function renderReads(s) {
  $("reads").replaceChildren(...(s.last_reads.length ? s.last_reads.map(r => {
    const tr_ = document.createElement("tr");
    const good = r.verdict.code === "ok" || r.verdict.code === "re_read";
    const code = item("td", r.gtin || "—");
    code.append(item("small", `${T.lot} ${r.lot || "—"} · ${T.serial} ${r.serial || "—"}`));
    tr_.append(item("td", clock(r.at, true)), code, item("td", good ? T.verified : msg(r.verdict), good ? "good" : "bad"));
    return tr_;
  }) : [(() => { const t = document.createElement("tr"); const c = item("td", T.no_reads); c.colSpan = 3; t.append(c); return t; })()]));
}
function render(s) {
  state = s;
  text("line-name", s.line.name);
  const badge = $("phase"); badge.textContent = T[s.phase] || s.phase; badge.className = "badge " + s.phase;
  text("btn-shift", s.shift.operator ? tr("operator", {name: s.shift.operator}) : T.sign_in);
  renderOrder(s); renderSpeed(s); renderDevices(s); renderAlarms(s); renderReads(s);
}

// -- actions: confirmation, PIN, reason ---------------------------------------------------
const ACTIONS = {
  start: {path: "/api/start", reason: false}, pause: {path: "/api/pause", reason: true},
  close: {path: "/api/close", reason: true}, void: {path: "/api/void", reason: true, serial: true},
  reprint: {path: "/api/reprint", reason: true, serial: true}, sign_in: {path: "/api/shift/sign-in"},
  sign_out: {path: "/api/shift/sign-out"},
  empty_bin: {path: "/api/reject-bin/empty"}, ack: {reason: false},
};
let pending = null;
function ask(name, extra) {
  const a = ACTIONS[name];
  pending = {name, extra: extra || {}};
  const order = state && state.work_order ? state.work_order.id : "";
  text("d-title", name === "ack" ? T.acknowledge : T[name]);
  text("d-question", tr("q_" + name, {order, name: state ? state.shift.operator || "" : ""}));
  $("d-serial-row").hidden = !a.serial; $("d-reason-row").hidden = !a.reason;
  for (const f of ["d-serial", "d-reason", "d-pin"]) $(f).value = "";
  text("d-error", "");
  $("dialog").showModal();
  (a.serial ? $("d-serial") : a.reason ? $("d-reason") : $("d-pin")).focus();
}
async function call(path, body) {
  try {
    const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const data = await r.json();
    return r.ok ? {ok: true, data} : {ok: false, error: tr(data.code || "unknown_error", data.params)};
  } catch (e) {
    return {ok: false, error: T.connection_lost};
  }
}
$("form").onsubmit = async event => {
  event.preventDefault();
  const {name, extra} = pending;
  const a = ACTIONS[name];
  const body = {pin: $("d-pin").value};
  if (a.reason) body.reason = $("d-reason").value;
  if (a.serial) body.serial = $("d-serial").value.trim();
  if (a.reason && !body.reason.trim()) { text("d-error", T.reason_required); return; }
  if (a.serial && !body.serial) { text("d-error", T.invalid_input); return; }
  const path = name === "ack" ? `/api/alarms/${extra.alarm}/acknowledge` : a.path;
  $("d-ok").disabled = true;
  const result = await call(path, body);
  $("d-ok").disabled = false;
  if (!result.ok) { text("d-error", result.error); return; }
  $("dialog").close();
  render(result.data);
  const m = $("message"); m.className = "ok";
  m.textContent = tr("done_" + name, {serial: body.serial || "", name: result.data.shift.operator || ""});
};
$("d-cancel").onclick = () => $("dialog").close();
document.querySelectorAll("[data-action]").forEach(b => { b.onclick = () => ask(b.dataset.action); });
$("btn-bin").onclick = () => ask("empty_bin");
$("btn-shift").onclick = () => ask(state && state.shift.operator ? "sign_out" : "sign_in");

setInterval(() => { text("clock", clock(null, false)); }, 1000);
text("clock", clock(null, false));
function connect() {
  const source = new EventSource("/api/stream");
  source.onmessage = e => { render(JSON.parse(e.data)); if ($("message").textContent === T.connection_lost) text("message", ""); };
  source.onerror = () => { const m = $("message"); m.className = ""; m.textContent = T.connection_lost; };
}
connect();
