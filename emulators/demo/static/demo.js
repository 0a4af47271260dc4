"use strict";
// The demo's Telegram client: draws /demo/api/state and acts through /demo/api/* (see page.py).

const view = { user: null, chat: null, version: null, state: null, generation: 0, toasted: new Set(), first: true };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "html") node.innerHTML = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function duration(seconds) {
  const s = Math.round(seconds || 0);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function bytes(size) {
  if (size < 1000) return `${size} B`;
  if (size < 1e6) return `${(size / 1e3).toFixed(1)} KB`;
  return `${(size / 1e6).toFixed(1)} MB`;
}

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = false;
  setTimeout(() => { box.hidden = true; }, 4000);
}

async function act(name, body) {
  const response = await fetch(`/demo/api/${name}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: view.user, chat: view.chat, ...body }),
  });
  const data = await response.json();
  if (!response.ok) return showError(data.error || "That did not work.");
  render(data);
}

function tile(media) {
  if (media.kind === "video") {
    return el("div", { class: "tile video" },
      media.thumb ? el("img", { src: media.thumb, alt: media.name || "video" }) : null,
      el("span", { class: "duration" }, duration(media.duration)),
      el("span", { class: "play", "aria-hidden": "true" }, "▶"));
  }
  return el("a", { class: "tile photo", href: media.url, target: "_blank" },
    el("img", { src: media.url, alt: "photo" }));
}

function documentRow(media) {
  return el("a", { class: "doc", href: media.url, target: "_blank", download: media.name || "file" },
    el("span", { class: "icon", "aria-hidden": "true" }, "📄"),
    el("span", {}, el("div", { class: "name" }, media.name || "file"), el("div", { class: "size" }, bytes(media.size))));
}

function meta(message) {
  return el("span", { class: "meta" }, (message.edited ? "edited " : "") + clock(message.time));
}

function bubble(group) {
  const first = group[0];
  const mine = !first.fromBot && first.sender === view.state.people.find((p) => p.id === view.user).name;
  const grouped = view.chat < 0 && !mine;
  const media = group.filter((m) => m.media);
  const captioned = group.find((m) => m.html);
  const node = el("div", { class: `msg${mine ? " mine" : ""}${media.length ? " media" : ""}`, "data-id": first.id });
  if (grouped) node.append(el("div", { class: "who" }, first.sender));
  const tiles = media.filter((m) => m.media.kind !== "document");
  if (tiles.length) {
    const shape = tiles.length === 1 ? " one" : tiles.length === 3 ? " three" : "";
    node.append(el("div", { class: `grid${shape}` }, ...tiles.map((m) => tile(m.media))));
  }
  for (const m of media.filter((m) => m.media.kind === "document")) node.append(documentRow(m.media));
  const text = el("div", { class: media.length ? "caption" : "" }, meta(first));
  if (captioned) text.insertAdjacentHTML("beforeend", captioned.html);
  node.append(text);
  return node;
}

// Telegram opens its own links itself: t.me/<bot>?start=X is the private chat with the bot, sending /start X.
function openLink(url) {
  const link = /^https:\/\/t\.me\/([A-Za-z0-9_]+)\/?(?:\?start=([A-Za-z0-9_-]+))?$/.exec(url);
  if (!link || link[1].toLowerCase() !== view.state.bot.toLowerCase()) return window.open(url, "_blank");
  switchTo(view.user, view.user);
  if (link[2]) act("send", { text: `/start ${link[2]}`, chat: view.user });
}

function buttons(message) {
  if (!message.buttons.length) return null;
  return el("div", { class: "buttons" }, ...message.buttons.map((row) => el("div", { class: "row" },
    ...row.map((b) => b.url
      ? el("button", { class: "url", type: "button", onclick: () => openLink(b.url) }, b.text)
      : el("button", { type: "button", onclick: () => act("press", { message: message.id, data: b.callback_data }) },
        b.text)))));
}

function drawMessages(messages) {
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const nodes = [];
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    if (message.service) { nodes.push(el("div", { class: "service" }, message.service)); continue; }
    const group = [message];
    while (message.album && messages[i + 1] && messages[i + 1].album === message.album) group.push(messages[++i]);
    nodes.push(bubble(group));
    const keys = buttons(group[group.length - 1]);
    if (keys) nodes.push(keys);
  }
  box.replaceChildren(...nodes);
  if (atBottom || view.jump) box.scrollTop = box.scrollHeight;
  view.jump = false;
}

function drawHeader(state) {
  $("chats").replaceChildren(...state.chats.map((chat) => el("button", {
    role: "tab", type: "button", "aria-label": chat.title, "aria-selected": String(chat.id === state.chat),
    onclick: () => switchTo(view.user, chat.id),
  }, chat.title, el("small", {}, chat.last || (chat.kind === "bot" ? "bot" : chat.kind)))));
  $("people").replaceChildren(...state.people.map((person) => el("button", {
    type: "button", "aria-pressed": String(person.id === state.user), title: person.email,
    onclick: () => switchTo(person.id, view.chat > 0 ? person.id : view.chat),
  }, person.name)));
}

function drawKeyboard(state) {
  const box = $("keyboard");
  box.hidden = !state.keyboard;
  if (!state.keyboard) return box.replaceChildren();
  box.replaceChildren(...state.keyboard.rows.map((row) => el("div", { class: "row" }, ...row.map((b) => {
    const button = typeof b === "string" ? { text: b } : b;
    const press = button.request_chat ? () => chooseChat(button.request_chat) : () => act("send", { text: button.text });
    return el("button", { type: "button", onclick: press }, button.text);
  }))));
}

function chooseChat(request) {
  const sheet = $("share");
  const fits = view.state.chats.filter((c) => c.kind !== "bot" && (c.kind === "channel") === !!request.chat_is_channel);
  const close = () => { sheet.hidden = true; };
  sheet.replaceChildren(el("h2", {}, request.chat_is_channel ? "Choose a channel" : "Choose a group"),
    ...fits.map((c) => el("button", { type: "button", onclick: () => { close(); act("share", {
      request: request.request_id, shared: c.id }); } }, c.title)),
    el("button", { type: "button", onclick: close }, "Cancel"));
  sheet.hidden = false;
}

function drawMenu(state) {
  $("menu").replaceChildren(...state.commands.map((c) => el("button", {
    type: "button", onclick: () => { $("menu").hidden = true; act("send", { text: `/${c.command}` }); },
  }, el("b", {}, `/${c.command}`), c.description)));
}

function toast(state) {
  for (const answer of state.toasts) {
    if (view.toasted.has(answer.id)) continue;
    view.toasted.add(answer.id);
    if (view.first) continue;  // answers from before the page opened
    const box = $("toast");
    box.textContent = answer.text;
    box.hidden = false;
    clearTimeout(view.toastTimer);
    view.toastTimer = setTimeout(() => { box.hidden = true; }, answer.alert ? 6000 : 3000);
  }
  view.first = false;
}

function render(state) {
  if (state.user !== view.user || state.chat !== view.chat) {
    if (view.user !== null && state.user === view.user) view.chat = state.chat; else return;
  }
  view.state = state;
  view.version = state.version;
  drawHeader(state);
  drawMessages(state.messages);
  drawKeyboard(state);
  drawMenu(state);
  toast(state);
  $("composer").hidden = !state.canWrite;
  $("readonly").hidden = state.canWrite;
}

async function poll(generation) {
  while (generation === view.generation) {
    const since = view.version === null ? "" : `&since=${encodeURIComponent(view.version)}`;
    try {
      const response = await fetch(`/demo/api/state?user=${view.user}&chat=${view.chat}${since}`);
      if (generation !== view.generation) return;
      if (!response.ok) throw new Error(String(response.status));
      render(await response.json());
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 1000));  // the demo stopped or restarts: try again
    }
  }
}

function switchTo(user, chat) {
  view.user = user;
  view.chat = chat;
  view.version = null;
  view.jump = true;
  view.generation += 1;
  $("share").hidden = true;
  $("menu").hidden = true;
  localStorage.setItem("demo-view", JSON.stringify({ user, chat }));
  poll(view.generation);
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  $("text").value = "";
  act("send", { text });
});
$("messages").addEventListener("click", (event) => {
  const anchor = event.target.closest(".msg a[href^='https://t.me/']");
  if (!anchor) return;
  event.preventDefault();
  openLink(anchor.href);
});
$("menu-button").addEventListener("click", () => { $("menu").hidden = !$("menu").hidden; });
$("forward-time").addEventListener("click", () => act("advance", { minutes: 30 }));

const saved = JSON.parse(localStorage.getItem("demo-view") || "null");
switchTo(saved ? saved.user : 101, saved ? saved.chat : 101);
