// turngym's in-page helpers: one object, window.__tg, installed by envs/gui/observe.py.
// observe(): the page as BrowserGym-style lines "[bid] role 'name' props" (indented by depth)
// and a table of the elements; target(bid): where an action on that element lands.
(() => {
  if (window.__tg) return;
  const SKIP_TAGS = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "HEAD", "META", "LINK", "TITLE", "BR"]);
  const NAMED_BY_CONTENT = new Set([
    "button", "link", "heading", "option", "listitem", "cell", "columnheader", "tab", "menuitem",
    "label", "paragraph", "generic", "StaticText", "treeitem", "LabelText", "legend", "strong", "emphasis",
  ]);
  const INPUT_ROLES = {
    button: "button", submit: "button", reset: "button", image: "button", checkbox: "checkbox",
    radio: "radio", range: "slider", number: "spinbutton", hidden: null,
  };
  const TAG_ROLES = {
    A: "link", BUTTON: "button", TEXTAREA: "textbox", OPTION: "option", IMG: "img", UL: "list", OL: "list",
    LI: "listitem", TABLE: "table", TR: "row", TD: "cell", TH: "columnheader", FORM: "form", P: "paragraph",
    LABEL: "LabelText", H1: "heading", H2: "heading", H3: "heading", H4: "heading", H5: "heading",
    H6: "heading", NAV: "navigation", MAIN: "main", SVG: "graphics", svg: "graphics", CANVAS: "canvas",
    FIELDSET: "group", LEGEND: "legend", DIALOG: "dialog", HR: "separator", B: "strong", STRONG: "strong",
    EM: "emphasis", I: "emphasis", TBODY: "generic", THEAD: "generic", TFOOT: "generic",
  };
  const clean = (s) => (s || "").replace(/\s+/g, " ").trim();
  const quote = (s) => "'" + s.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
  // the url(...) references of a CSS text, and an image fetched and decoded (or failed)
  const cssUrls = (text) => Array.from((text || "").matchAll(/url\(["']?([^"')]+)["']?\)/g), (m) => m[1]);
  const decoded = (url) => { const img = new Image(); img.src = url; return img.decode().catch(() => null); };
  // the page's short timers (a setTimeout of at most SHORT_TIMER_MS) still to run: a page waits on
  // one to focus a field, show suggestions or move a popup, so it has not settled while one is pending
  const SHORT_TIMER_MS = 1000;
  const pendingTimers = new Set();
  const setTimeoutOf = window.setTimeout, clearTimeoutOf = window.clearTimeout, clearIntervalOf = window.clearInterval;
  window.setTimeout = function (fn, delay, ...rest) {
    if (typeof fn !== "function" || (Number(delay) || 0) > SHORT_TIMER_MS) return setTimeoutOf.call(window, fn, delay, ...rest);
    const id = setTimeoutOf.call(window, function () { pendingTimers.delete(id); return fn.apply(this, arguments); }, delay, ...rest);
    pendingTimers.add(id);
    return id;
  };
  window.clearTimeout = function (id) { pendingTimers.delete(id); return clearTimeoutOf.call(window, id); };
  window.clearInterval = function (id) { pendingTimers.delete(id); return clearIntervalOf.call(window, id); };

  function roleOf(el) {
    const explicit = el.getAttribute("role");
    if (explicit) return explicit.split(" ")[0];
    const tag = el.tagName;
    if (tag === "INPUT") {
      const type = (el.getAttribute("type") || "text").toLowerCase();
      return type in INPUT_ROLES ? INPUT_ROLES[type] : "textbox";
    }
    if (tag === "SELECT") return el.multiple || el.size > 1 ? "listbox" : "combobox";
    if (tag === "A") return el.hasAttribute("href") ? "link" : "generic";
    if (el.isContentEditable && el.parentElement && !el.parentElement.isContentEditable) return "textbox";
    if (tag in TAG_ROLES) return TAG_ROLES[tag];
    return "generic";
  }

  function labelOf(el) {
    const aria = el.getAttribute("aria-label");
    if (aria) return clean(aria);
    const by = el.getAttribute("aria-labelledby");
    if (by) return clean(by.split(/\s+/).map((id) => (document.getElementById(id) || {}).textContent || "").join(" "));
    if (el.labels && el.labels.length) return clean(Array.from(el.labels).map((l) => l.textContent).join(" "));
    return "";
  }

  function nameOf(el, role) {
    const label = labelOf(el);
    if (label) return label;
    const tag = el.tagName;
    if (tag === "INPUT") {
      const type = (el.type || "").toLowerCase();
      if (["button", "submit", "reset"].includes(type)) return clean(el.value || (type === "submit" ? "Submit" : ""));
      if (type === "image") return clean(el.alt || "");
      return clean(el.getAttribute("placeholder") || el.getAttribute("title") || "");
    }
    if (tag === "IMG") return clean(el.alt || el.title || "");
    if (tag === "TEXTAREA" || tag === "SELECT") return clean(el.getAttribute("placeholder") || el.title || "");
    if (NAMED_BY_CONTENT.has(role)) return clean(el.innerText !== undefined ? el.innerText : el.textContent);
    return clean(el.getAttribute("title") || "");
  }

  function visible(el) {
    if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true, opacityProperty: false })) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 || r.height > 0 || el.children.length > 0;
  }

  function props(el, role) {
    const out = [];
    const tag = el.tagName;
    if (role === "checkbox" || role === "radio") out.push(el.checked ? "checked" : "unchecked");
    if (tag === "OPTION" && el.selected) out.push("selected");
    if (tag === "INPUT" && (role === "textbox" || role === "spinbutton" || role === "slider") && el.value)
      out.push("value=" + quote(el.type === "password" ? "•".repeat(el.value.length) : el.value));
    if (tag === "TEXTAREA" && el.value) out.push("value=" + quote(el.value));
    if (tag === "SELECT" && el.selectedIndex >= 0) out.push("value=" + quote(clean(el.options[el.selectedIndex].text)));
    if (el.isContentEditable && role === "textbox") out.push("value=" + quote(clean(el.innerText)));
    if (el.disabled) out.push("disabled");
    if (document.activeElement === el && el !== document.body) out.push("focused");
    const expanded = el.getAttribute("aria-expanded");
    if (expanded) out.push("expanded=" + expanded);
    return out;
  }

  function box(el) {
    const r = el.getBoundingClientRect();
    return [Math.round(r.x), Math.round(r.y), Math.round(r.width), Math.round(r.height)];
  }

  const tg = {
    next: 1,
    leaving: false,
    // resolves once no CSS/Web animation, no jQuery animation and no short timer runs (at most maxMs)
    settle(maxMs) {
      const busy = () =>
        pendingTimers.size > 0 ||
        (document.getAnimations && document.getAnimations().some((a) => a.playState === "running" && a.effect &&
          a.effect.getComputedTiming().iterations !== Infinity)) ||
        (window.jQuery && window.jQuery.timers && window.jQuery.timers.length > 0);
      if (!busy()) return Promise.resolve(true);
      const end = performance.now() + maxMs;
      return new Promise((resolve) => {
        const poll = () => (!busy() ? resolve(true) : performance.now() > end ? resolve(false) : requestAnimationFrame(poll));
        requestAnimationFrame(poll);
      });
    },
    // loads and decodes every image the style sheets name (icon sprites), so later pictures of the
    // page never depend on whether an image had arrived yet; resolves when all have come or failed
    preloadCssImages() {
      const urls = new Set();
      for (const sheet of Array.from(document.styleSheets)) {
        let rules = [];
        try { rules = Array.from(sheet.cssRules || []); } catch (e) { continue; }
        for (const rule of rules) {
          for (const url of cssUrls(rule.cssText)) {
            if (!url.startsWith("data:")) urls.add(new URL(url, sheet.href || location.href).href);
          }
        }
      }
      return Promise.all(Array.from(urls).map(decoded)).then(() => urls.size);
    },
    // the images the page shows (<img>, CSS content and backgrounds), loaded and decoded, then a
    // frame painted: elements a script inserted after the load event fetch theirs late
    imagesShown() {
      const urls = new Set();
      for (const el of document.querySelectorAll("body *")) {
        if (el.tagName === "IMG" && el.currentSrc) urls.add(el.currentSrc);
        const style = getComputedStyle(el);
        if (style.display === "none") continue;
        for (const url of [...cssUrls(style.content), ...cssUrls(style.backgroundImage)]) urls.add(url);
      }
      const painted = () => new Promise((done) => {
        setTimeoutOf.call(window, done, 100);  // a page without frames (hidden) still answers
        requestAnimationFrame(() => requestAnimationFrame(done));
      });
      return Promise.all(Array.from(urls).map(decoded)).then(painted).then(() => urls.size);
    },
    // a new episode starts without the last one's focus, selection or scroll
    clearInput() {
      const a = document.activeElement;
      if (a && a !== document.body && a.blur) a.blur();
      const sel = window.getSelection && window.getSelection();
      if (sel) sel.removeAllRanges();
      window.scrollTo(0, 0);
    },
    reset() {
      document.querySelectorAll("[data-tg-bid]").forEach((el) => el.removeAttribute("data-tg-bid"));
      tg.next = 1;
    },
    bidOf(el) {
      let bid = el.getAttribute("data-tg-bid");
      if (!bid) {
        bid = String(tg.next++);
        el.setAttribute("data-tg-bid", bid);
      }
      return bid;
    },
    observe(opts) {
      if (!document.body) return null; // a document still being parsed: the caller waits and asks again
      const skip = new Set();
      for (const sel of opts.skip || []) document.querySelectorAll(sel).forEach((el) => skip.add(el));
      const lines = [];
      const elements = [];
      const withBoxes = !!opts.boxes;
      const walk = (el, depth) => {
        if (SKIP_TAGS.has(el.tagName) || skip.has(el)) return;
        if (!visible(el)) return;
        const role = roleOf(el);
        if (role === null) return;
        const bid = tg.bidOf(el);
        const name = role === "generic" && el.children.length ? "" : nameOf(el, role);
        const b = box(el);
        const p = props(el, role);
        elements.push({
          bid, role, name, tag: el.tagName.toLowerCase(), box: b, visible: b[2] > 0 && b[3] > 0,
          enabled: !el.disabled, value: "value" in el && typeof el.value === "string" ? el.value : null,
          checked: role === "checkbox" || role === "radio" ? !!el.checked : null,
        });
        const shown = role !== "generic" || name || el === document.body;
        let childDepth = depth;
        if (shown) {
          const label = role === "generic" && el === document.body ? "RootWebArea" : role;
          const bits = ["[" + bid + "]", label];
          if (name) bits.push(quote(name.length > 200 ? name.slice(0, 197) + "..." : name));
          if (withBoxes) bits.push("box=(" + b.join(",") + ")");
          lines.push("\t".repeat(depth) + bits.concat(p).join(" ").trim());
          childDepth = depth + 1;
        }
        const contentNamed = shown && name && NAMED_BY_CONTENT.has(role);
        for (const child of el.childNodes) {
          if (child.nodeType === Node.TEXT_NODE) {
            const text = clean(child.textContent);
            if (text && !contentNamed && el.children.length) lines.push("\t".repeat(childDepth) + "StaticText " + quote(text));
          } else if (child.nodeType === Node.ELEMENT_NODE) {
            walk(child, childDepth);
          }
        }
      };
      walk(document.body, 0);
      return { lines, elements, title: document.title, url: location.href, ready: document.readyState, leaving: tg.leaving };
    },
    target(bid) {
      const el = document.querySelector('[data-tg-bid="' + String(bid).replace(/"/g, '\\"') + '"]');
      if (!el) return { error: "no element with bid " + JSON.stringify(String(bid)) + " on the page" };
      if (!visible(el)) return { error: "element " + bid + " is not visible" };
      if (el.disabled) return { error: "element " + bid + " is disabled" };
      // as Playwright does: scroll every scrolling ancestor so the element shows (an element can be
      // inside the viewport yet clipped by a scrolled container)
      el.scrollIntoView({ block: "nearest", inline: "nearest" });
      const r = el.getBoundingClientRect();
      const tag = el.tagName.toLowerCase();
      return { x: r.x + r.width / 2, y: r.y + r.height / 2, tag, editable: tag === "input" || tag === "textarea" || el.isContentEditable };
    },
    focus(bid, clear) {
      const el = document.querySelector('[data-tg-bid="' + bid + '"]');
      el.focus();
      if (clear) {
        if (el.isContentEditable) el.innerText = "";
        else el.value = "";
        el.dispatchEvent(new Event("input", { bubbles: true }));
        el.dispatchEvent(new Event("change", { bubbles: true }));
      }
    },
    select(bid, wanted) {
      const el = document.querySelector('[data-tg-bid="' + bid + '"]');
      if (el.tagName !== "SELECT") return "element " + bid + " is a " + el.tagName.toLowerCase() + ", not a select";
      const options = Array.from(el.options);
      const picked = wanted.map((w) => options.find((o) => o.value === w || clean(o.text) === clean(w)));
      const missing = wanted.filter((w, i) => !picked[i]);
      if (missing.length) return "no option " + JSON.stringify(missing[0]) + "; options: " + JSON.stringify(options.map((o) => clean(o.text)));
      if (!el.multiple && picked.length > 1) return "element " + bid + " takes one option, got " + picked.length;
      options.forEach((o) => (o.selected = picked.includes(o)));
      el.dispatchEvent(new Event("input", { bubbles: true }));
      el.dispatchEvent(new Event("change", { bubbles: true }));
      return null;
    },
    marks(on) {
      document.querySelectorAll(".__tg-mark").forEach((m) => m.remove());
      if (!on) return;
      document.querySelectorAll("[data-tg-bid]").forEach((el) => {
        if (!visible(el) || el === document.body) return;
        const r = el.getBoundingClientRect();
        if (r.width <= 0 || r.height <= 0) return;
        const m = document.createElement("div");
        m.className = "__tg-mark";
        m.textContent = el.getAttribute("data-tg-bid");
        m.style.cssText = "position:fixed;z-index:2147483647;pointer-events:none;border:1px solid red;font:9px monospace;color:red;" +
          "left:" + r.x + "px;top:" + r.y + "px;width:" + r.width + "px;height:" + r.height + "px";
        document.body.appendChild(m);
      });
    },
  };
  // the page is about to be replaced: a navigation began, a form was submitted, or a link followed
  // (form submissions and link clicks navigate a task later, so they are noted when they happen)
  const sameDocument = (href) => href.split("#")[0] === location.href.split("#")[0];
  window.addEventListener("beforeunload", () => { tg.leaving = true; });
  window.addEventListener("submit", (e) => { if (!e.defaultPrevented) tg.leaving = true; });
  window.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || !e.target.closest) return;
    const a = e.target.closest("a[href]");
    if (!a || (a.target && a.target !== "_self") || a.hasAttribute("download")) return;
    const href = a.href;
    if (href.startsWith("javascript:") || sameDocument(href)) return;
    tg.leaving = true;
  });
  window.__tg = tg;
})();
