// Orion's own page behaviour: Enter to send, connection state, reconnect, scroll.
// htmx and its WebSocket extension do the rest. Loaded in <head> without "defer", before
// htmx: its listeners are on the document before anyone can type, and its
// DOMContentLoaded handler runs before htmx sets the page up.
(function () {
  "use strict";

  const WAITING = "Not connected yet: your message will be sent as soon as the connection opens.";

  const STATES = {
    connecting: "Connecting…",
    online: "Connected",
    reconnecting: "Reconnecting…",
    offline: "Disconnected",
    forbidden: "This conversation is not available",
  };

  function setState(state) {
    const el = document.getElementById("connection");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = STATES[state] || state;
  }

  function messages() {
    return document.getElementById("messages");
  }

  function nearBottom() {
    const el = document.scrollingElement;
    return el.scrollHeight - el.scrollTop - el.clientHeight < 160;
  }

  function scrollToBottom() {
    const el = document.scrollingElement;
    el.scrollTop = el.scrollHeight;
  }

  // Enter sends, Shift+Enter is a newline (and IME composition is left alone).
  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (!(target instanceof HTMLTextAreaElement) || target.name !== "message") return;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (target.value.trim() === "") return;
    target.form.requestSubmit();
  });

  // A message sent while the socket is not open (the page is still loading, or the
  // connection dropped) stays in the composer, the page says it will go out, and it is
  // sent when the socket opens. (Without this, a send before htmx had set the form up
  // would be a plain form submission, and Enter before this script a newline.)
  let open = false;
  let held = false;
  document.addEventListener(
    "submit",
    function (event) {
      const form = event.target;
      if (!(form instanceof HTMLFormElement) || form.id !== "composer" || open) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      held = true;
      const notice = document.getElementById("composer-error");
      if (notice) notice.textContent = WAITING;
    },
    true,
  );

  document.addEventListener("htmx:wsConnecting", function () {
    setState("connecting");
  });
  document.addEventListener("htmx:wsOpen", function () {
    open = true;
    setState("online");
    const form = document.getElementById("composer");
    if (held && form) {
      held = false;
      const notice = document.getElementById("composer-error");
      if (notice && notice.textContent === WAITING) notice.textContent = "";
      form.requestSubmit();
    }
  });

  // htmx reconnects by itself after abnormal closes (1006, 1011-1013); a server that
  // shut down cleanly (1000, 1001) deserves the same treatment. 4403 means "not yours".
  let retries = 0;
  document.addEventListener("htmx:wsClose", function (event) {
    open = false;
    const code = event.detail.event.code;
    if (code === 4403) {
      setState("forbidden");
      return;
    }
    setState("reconnecting");
    if ([1006, 1011, 1012, 1013].indexOf(code) >= 0) return;
    const delay = Math.min(30000, 500 * 2 ** retries) * (0.5 + Math.random() / 2);
    retries += 1;
    setTimeout(function () {
      event.detail.socketWrapper.reconnect();
    }, delay);
  });
  document.addEventListener("htmx:wsOpen", function () {
    retries = 0;
  });

  // Any socket after the page's first may have missed frames (a reply that finished, an
  // exchange from another tab, a new title), even if the first never opened: it asks for
  // every message again with "resume=1".
  let connected = false;
  // (htmx and its WebSocket extension, deferred, have run by DOMContentLoaded; this
  // handler was added before htmx's own, which opens the page's socket.)
  document.addEventListener("DOMContentLoaded", function () {
    const createWebSocket = htmx.createWebSocket;
    htmx.createWebSocket = function (url) {
      const again = connected;
      connected = true;
      return createWebSocket(again ? url + (url.indexOf("?") >= 0 ? "&" : "?") + "resume=1" : url);
    };
  });

  // New messages are appended; one the page already shows (it was rendered, or caught
  // up, in the moment between its storing and its announcement) is not added twice.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    const fragment = event.detail.fragment;
    if (event.detail.target.id !== "messages" || !fragment.hasAttribute("data-new-messages")) return;
    for (const child of Array.from(fragment.children)) {
      if (child.id && document.getElementById(child.id)) child.remove();
    }
  });
  // A notice about an earlier request (too many changes) goes when the next one starts.
  document.addEventListener("htmx:beforeRequest", function () {
    const notice = document.getElementById("page-error");
    if (notice) notice.textContent = "";
  });
  window.addEventListener("offline", function () {
    setState("offline");
  });

  let stick = true;
  document.addEventListener("htmx:wsBeforeMessage", function () {
    stick = nearBottom();
  });
  document.addEventListener("htmx:wsAfterMessage", function (event) {
    const message = event.detail.message || "";
    if (message.indexOf("data-clear-composer") >= 0) {
      const input = document.getElementById("composer-input");
      if (input) {
        input.value = "";
        input.focus();
      }
    }
    if (stick) scrollToBottom();
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (messages()) scrollToBottom();
  });
})();
