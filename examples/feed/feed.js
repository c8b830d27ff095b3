// A whole screen in one GraphQL request: who am I, and the filtered feed with authors.
// Plain fetch, no build step, no CDN. Open as index.html?api=http://127.0.0.1:8000
"use strict";

const SCREEN = `query Screen($first: Int!, $after: String, $search: String) {
  me { username admin }
  feedConnection(first: $first, after: $after, search: $search, order: NEWEST) {
    totalCount
    edges { cursor node { id title url posted author { username } } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const LOGIN = `mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) { token }
}`;
const PAGE_SIZE = 10;

const state = { api: "", token: "", search: "", endCursor: null };
const $ = (id) => document.getElementById(id);

async function graphql(query, variables) {
  const headers = { "content-type": "application/json" };
  if (state.token) headers["x-access-token"] = state.token;
  const response = await fetch(`${state.api}/graphql`, {
    method: "POST", headers, body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors && body.errors.length) throw new Error(body.errors[0].message);
  return body.data;
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function safeHref(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch { return null; }
}

function render(edges, append) {
  const list = $("items");
  if (!append) list.replaceChildren();
  for (const { node } of edges) {
    const item = document.createElement("li");
    item.dataset.id = node.id;
    const href = safeHref(node.url);
    const title = document.createElement(href ? "a" : "span");
    title.textContent = node.title;
    if (href) { title.href = href; title.rel = "noopener noreferrer"; }
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `by ${node.author ? node.author.username : "nobody"} · ${node.posted}`;
    item.append(title, meta);
    list.append(item);
  }
}

async function loadScreen(append = false) {
  say("Loading…");
  try {
    const data = await graphql(SCREEN, {
      first: PAGE_SIZE, after: append ? state.endCursor : null, search: state.search || null,
    });
    $("who").textContent = `Signed in as ${data.me.username}${data.me.admin ? " (admin)" : ""}`;
    const feed = data.feedConnection;
    render(feed.edges, append);
    $("total").textContent = `${feed.totalCount} template${feed.totalCount === 1 ? "" : "s"}`;
    state.endCursor = feed.pageInfo.endCursor;
    $("more").hidden = !feed.pageInfo.hasNextPage;
    say("");
  } catch (error) {
    say(error.message, true);
  }
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  state.api = String(form.get("api")).replace(/\/+$/, "");
  try {
    const data = await graphql(LOGIN, {
      username: form.get("username"), password: form.get("password"),
    });
    state.token = data.login.token;
    $("search").hidden = false;
    await loadScreen();
  } catch (error) {
    say(error.message, true);
  }
});

$("search").addEventListener("submit", (event) => {
  event.preventDefault();
  state.search = String(new FormData(event.target).get("search")).trim();
  state.endCursor = null;
  loadScreen();
});

$("more").addEventListener("click", () => loadScreen(true));

$("api").value = new URLSearchParams(location.search).get("api") || location.origin;
