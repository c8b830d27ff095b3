// GraphiQL for the endpoint that served this page, with a sign-in bar above it. Kept out
// of the page so the Content-Security-Policy can forbid inline scripts.
//
// Signing in runs the `login` mutation and keeps the token in localStorage until it
// expires (the JWT's `exp`; none: never) or the user signs out (the `logout` mutation).
// While signed in, every request of the page carries it as x-access-token, in place of
// any x-access-token typed in the Headers tab; the other headers typed there are sent
// as typed, with the login too (an x-application-token, say).
"use strict";

(() => {
  const endpoint = window.location.pathname;
  // Not under GraphiQL's own "graphiql:" keys, which its "Clear data" button removes.
  const STORAGE_KEY = "gateway:graphiql-sign-in";
  const LONGEST_TIMEOUT_MS = 2 ** 31 - 1; // setTimeout fires at once beyond this
  const TOKEN_REFUSED = "User Token is invalid!"; // expired, signed out elsewhere, …
  const LOGIN = `mutation GraphiQLSignIn($username: String!, $password: String!) {
  login(username: $username, password: $password) { token user { username } }
}`;
  const LOGOUT = "mutation GraphiQLSignOut { logout }";

  const $ = (id) => document.getElementById(id);
  const form = $("sign-in-form");
  const username = $("sign-in-username");
  const password = $("sign-in-password");

  let signIn = null; // { token, username, expiresAt } with expiresAt in ms or null
  let expiryTimer = null;
  let editors = null; // GraphiQL's editor context, from EditorsProbe below
  let busy = false;

  // --- the token ----------------------------------------------------------------

  /** When a JWT expires (ms since the epoch), or null without `exp`; throws if the
   * text is not a JWT. The signature is the server's business, not the page's. */
  function expiryOf(token) {
    let payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    while (payload.length % 4) payload += "=";
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    if (claims.exp === undefined) return null;
    if (typeof claims.exp !== "number") throw new Error("exp is not a number");
    return claims.exp * 1000;
  }

  /** The sign-in kept by this browser, or null (a malformed entry is removed). */
  function stored() {
    try {
      const raw = window.localStorage.getItem(STORAGE_KEY);
      if (raw === null) return null;
      const { token, username } = JSON.parse(raw);
      if (typeof username !== "string") throw new Error("no username");
      return { token, username, expiresAt: expiryOf(token) };
    } catch {
      forgetStored();
      return null;
    }
  }

  function forgetStored() {
    try {
      window.localStorage.removeItem(STORAGE_KEY);
    } catch {} // storage switched off: there is nothing to forget
  }

  function expired(entry) {
    return entry.expiresAt !== null && entry.expiresAt <= Date.now();
  }

  /** Show `entry` (or the form when null) and drop it when its token expires. */
  function use(entry) {
    signIn = entry;
    clearTimeout(expiryTimer);
    if (entry && entry.expiresAt !== null) {
      const left = entry.expiresAt - Date.now();
      expiryTimer = setTimeout(() => {
        if (expired(entry)) end("Your sign-in expired. Sign in again.");
        else use(entry); // a wait longer than setTimeout allows: wait again
      }, Math.min(Math.max(left, 0), LONGEST_TIMEOUT_MS));
    }
    form.hidden = entry !== null;
    $("signed-in").hidden = entry === null;
    if (entry) {
      $("signed-in-user").textContent = entry.username;
      $("signed-in-until").textContent = entry.expiresAt === null ? "" : ` until ${
        new Date(entry.expiresAt).toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`;
    }
  }

  function begin(token, name) {
    const entry = { token, username: name, expiresAt: expiryOf(token) };
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify({ token, username: name }));
    } catch {} // storage switched off or full: signed in until this page closes
    use(entry);
  }

  /** Forget the sign-in here (and in this browser's other tabs), saying why. */
  function end(why, isError = false) {
    forgetStored();
    use(null);
    say(why, isError);
  }

  function say(text, isError = false) {
    const status = $("sign-in-status");
    status.textContent = text;
    status.classList.toggle("error", isError);
  }

  // --- requests -------------------------------------------------------------------

  /** fetch with the signed-in token as x-access-token, whatever case a typed one had. */
  function fetchWithToken(url, init = {}) {
    const headers = {};
    for (const [name, value] of Object.entries(init.headers || {})) {
      if (!signIn || name.toLowerCase() !== "x-access-token") headers[name] = value;
    }
    if (signIn) headers["x-access-token"] = signIn.token;
    return window.fetch(url, { ...init, headers });
  }

  /** GraphiQL's requests: an answer refusing the token they carried ends the sign-in. */
  async function graphiqlFetch(url, init) {
    const sent = signIn;
    const response = await fetchWithToken(url, init);
    if (sent && (response.headers.get("content-type") || "").startsWith("application/json")) {
      response.clone().json().then((body) => {
        const refused = (body.errors || []).some((e) => e.message === TOKEN_REFUSED);
        if (refused && signIn === sent) {
          end(`Your sign-in ended (${TOKEN_REFUSED}). Sign in again.`);
        }
      }, () => {});
    }
    return response;
  }

  /** The Headers tab as an object; throws a message for the form if it is not JSON. */
  function typedHeaders() {
    const text = editors && editors.headerEditor ? editors.headerEditor.getValue().trim() : "";
    if (!text) return {};
    let headers;
    try {
      headers = JSON.parse(text);
    } catch {
      headers = null;
    }
    if (!headers || typeof headers !== "object" || Array.isArray(headers)) {
      throw new Error("The Headers tab must hold a JSON object; fix it or empty it.");
    }
    return headers;
  }

  /** Run one operation; its data, or throws an Error whose message the form shows. */
  async function run(query, variables, operationName) {
    const json = "application/json";
    const headers = { ...typedHeaders(), "content-type": json, accept: json };
    let response;
    try {
      response = await fetchWithToken(endpoint, {
        method: "POST",
        headers,
        body: JSON.stringify({ query, variables, operationName }),
      });
    } catch {
      throw new Error("Could not reach the gateway (network error). Try again.");
    }
    let body = null;
    try {
      body = await response.json();
    } catch {} // not JSON: a proxy's error page, say
    const status = response.ok ? "" : ` (HTTP ${response.status})`;
    const error = body && (body.errors ? body.errors[0] : body.message && body);
    if (error) {
      const failure = new Error(error.message + status);
      failure.code = error.extensions ? error.extensions.code : undefined;
      throw failure;
    }
    if (!response.ok || !body || !body.data) {
      throw new Error(`The gateway answered HTTP ${response.status} ${response.statusText}`.trim());
    }
    return body.data;
  }

  async function whileBusy(button, work) {
    if (busy) return;
    busy = true;
    button.disabled = true;
    try {
      await work();
    } finally {
      busy = false;
      button.disabled = false;
    }
  }

  // --- the bar ------------------------------------------------------------------

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (busy) return; // Enter again while signing in: keep what was typed meanwhile
    const credentials = { username: username.value, password: password.value };
    password.value = "";
    whileBusy(form.querySelector("button"), async () => {
      say("Signing in…");
      try {
        const { login } = await run(LOGIN, credentials, "GraphiQLSignIn");
        begin(login.token, login.user.username);
        say(`Queries now run as ${login.user.username}.`);
        if (editors && editors.queryEditor) editors.queryEditor.focus();
        else $("sign-out").focus();
      } catch (error) {
        say(error.message, true);
        password.focus();
      }
    });
  });

  $("sign-out").addEventListener("click", (event) => {
    whileBusy(event.currentTarget, async () => {
      say("Signing out…");
      try {
        await run(LOGOUT, {}, "GraphiQLSignOut");
        end("Signed out.");
      } catch (error) {
        // A token the server no longer takes is as good as signed out; anything
        // else (network, outage) keeps it, so that signing out can be tried again.
        if (error.code !== "UNAUTHENTICATED") {
          say(`Could not sign out: ${error.message}`, true);
          return;
        }
        end("Signed out (the token had already ended).");
      }
      username.focus();
    });
  });

  // Another tab of this browser signed in or out.
  window.addEventListener("storage", (event) => {
    if (event.key !== STORAGE_KEY && event.key !== null) return;
    const entry = stored();
    const live = entry && !expired(entry) ? entry : null;
    const wasSignedIn = signIn !== null;
    use(live);
    say(live || !wasSignedIn ? "" : "Signed out in another tab.");
  });

  const kept = stored();
  if (kept && expired(kept)) end("Your sign-in expired. Sign in again.");
  else use(kept);

  // --- GraphiQL -------------------------------------------------------------------

  /** Renders nothing; hands the page GraphiQL's editors (the Headers tab's text for a
   * login, the query editor to focus after one). */
  function EditorsProbe() {
    const context = GraphiQL.React.useEditorContext({ nonNull: true });
    React.useEffect(() => {
      editors = context;
    }, [context]);
    return null;
  }

  const root = ReactDOM.createRoot($("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({ url: endpoint, fetch: graphiqlFetch }),
      defaultEditorToolsVisibility: "headers",
      toolbar: { additionalComponent: EditorsProbe },
      defaultQuery:
        "# Sign in above, then run this (Ctrl-Enter).\n" +
        '# (Or type {"x-access-token": "..."} in the Headers tab.)\n' +
        "{\n  me { username admin }\n  feed(limit: 5) { id title author { username } }\n}\n",
    })
  );
})();
