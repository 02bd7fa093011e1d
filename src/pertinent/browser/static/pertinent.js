/*! pertinent.js — Pertinent's tracking snippet, served by Pertinent itself at /pertinent.js.
 *
 *   <script src="https://pertinent.example.com/pertinent.js" data-write-key="WRITE_KEY" async></script>
 *
 * page / track / identify with Segment analytics.js call shapes, batched to /v1/batch (write key as the
 * HTTP Basic username), retried with exponential backoff, flushed with navigator.sendBeacon when the page
 * is hidden; GTM-style dataLayer pushes become events; a consent banner gates everything (nothing is sent
 * before a choice, or when analytics is rejected); elements marked data-pertinent-slot and
 * data-pertinent-recommendations are filled from /v1/decide and /v1/recommendations, and their
 * impressions and clicks are tracked. A signed-in user's proof from the site's server (user_hash, identity
 * verification) goes with every call that names the user id. Plain modern JavaScript, no build step.
 * Reference: docs/snippet.md.
 */
(() => {
  'use strict';

  const VERSION = '0.1.0';
  const KEY = 'pertinent.';
  const previous = window.pertinent;
  if (previous && previous.__pertinent) return; // loaded twice: keep the first

  const DEFAULTS = {
    host: '',                 // API origin; default: where this script was loaded from
    flushAt: 20,              // send as soon as this many messages wait
    flushInterval: 1000,      // ms: otherwise send this long after the first waiting message
    maxBatch: 100,            // messages per request
    retryBaseMs: 1000,        // first retry delay; doubles each time (with jitter) ...
    retryMaxMs: 30000,        // ... up to this
    maxRetries: 10,           // a message failing this many times is dropped
    maxQueue: 1000,           // oldest messages dropped beyond this (e.g. a long time offline)
    banner: true,             // show the consent banner until a choice is made
    autoPage: true,           // page() once loaded (as Segment's snippet does)
    dataLayer: 'dataLayer',   // GTM-style array to read events from ('' to ignore)
    slots: true,              // fill data-pertinent-slot / data-pertinent-recommendations elements
    cookieDomain: '',         // e.g. '.example.com' to share the ids across subdomains
    cookieDays: 365,
    userId: '',               // the signed-in user, set by the page (server-rendered sites) ...
    userHash: '',             // ... with its proof from the site's server: HMAC-SHA256(identity secret, userId)
    purposes: ['analytics', 'personalization'],
    texts: {},                // banner wording, see TEXTS
    engagement: true,         // measure active time and scroll depth per page (one 'Page Engaged' event)
    engagementIdleMs: 30000,  // after an input the visitor counts as active this long at most
    engagementEvent: 'Page Engaged',
  };
  const TEXTS = {
    title: 'Your privacy',
    body: 'We would like to measure how this site is used and to personalise what it shows you. ' +
      'Nothing is collected until you choose; you can change your mind at any time.',
    accept: 'Accept all', reject: 'Reject all', customize: 'Choose…', save: 'Save choices',
    purpose_analytics: 'Analytics — count visits and clicks to improve the site',
    purpose_personalization: 'Personalization — recommendations and content picked for you',
  };

  // ------------------------------------------------------------------ small helpers
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const iso = (t) => (t ? new Date(t) : new Date()).toISOString();
  const uuid = () => {
    const b = crypto.getRandomValues(new Uint8Array(16)); // works outside secure contexts too
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
  const store = {
    get(name) {
      try { const v = localStorage.getItem(KEY + name); return v === null ? null : JSON.parse(v); } catch { return null; }
    },
    set(name, value) {
      try {
        if (value === null || value === undefined) localStorage.removeItem(KEY + name);
        else localStorage.setItem(KEY + name, JSON.stringify(value));
      } catch { /* storage full or disabled: the cookie still holds the ids */ }
    },
  };
  const cookie = {
    get(name) {
      const m = document.cookie.match(new RegExp(`(?:^|; )${name}=([^;]*)`));
      try { return m ? decodeURIComponent(m[1]) : null; } catch { return null; }
    },
    set(name, value, days) {
      let c = `${name}=${encodeURIComponent(value)}; path=/; max-age=${Math.round(days * 86400)}; SameSite=Lax`;
      if (config.cookieDomain) c += `; domain=${config.cookieDomain}`;
      if (location.protocol === 'https:') c += '; Secure';
      document.cookie = c;
    },
  };
  const listeners = {};
  const emit = (name, detail) => {
    (listeners[name] || []).forEach((fn) => { try { fn(detail); } catch (e) { console.error(e); } });
    window.dispatchEvent(new CustomEvent(`pertinent:${name}`, { detail }));
  };
  const warn = (...args) => console.warn('[pertinent]', ...args);

  // ------------------------------------------------------------------ configuration and identity
  const script = document.currentScript ||
    document.querySelector('script[src*="pertinent.js"][data-write-key]');
  const config = { ...DEFAULTS };
  const state = {
    writeKey: null, loaded: false, ready: false, readyCallbacks: [],
    held: [],            // messages made before any consent choice (memory only, never stored)
    sending: null,       // the running flush, a promise
    timer: null,
    noPersonal: `pt-np-${uuid()}`, // what recommendations are asked for without personalization consent
  };

  const anonymousId = () => {
    let id = cookie.get('pt_aid') || store.get('anonymousId');
    if (!id) id = uuid();
    if (cookie.get('pt_aid') !== id) cookie.set('pt_aid', id, config.cookieDays);
    if (store.get('anonymousId') !== id) store.set('anonymousId', id);
    return id;
  };
  const userId = () => store.get('userId');
  // The proof of the user id (identity verification), kept with the id it proves: never sent for another id.
  const userHash = (id = userId()) => {
    const p = store.get('userHash');
    return id && isObject(p) && p.userId === id && typeof p.hash === 'string' ? p.hash : null;
  };
  const setUser = (id, hash) => {
    const changed = id !== userId();
    store.set('userId', id);
    if (typeof hash === 'string' && hash) store.set('userHash', { userId: id, hash });
    else if (changed) store.set('userHash', null);
    return changed;
  };

  // ------------------------------------------------------------------ consent
  const readConsent = () => {
    let c = store.get('consent');
    if (!isObject(c)) {
      try { c = JSON.parse(cookie.get('pt_consent') || 'null'); } catch { c = null; }
    }
    return isObject(c) && isObject(c.categoryPreferences) ? c : null;
  };
  const preferences = () => { const c = readConsent(); return c ? c.categoryPreferences : null; };
  const granted = (purpose) => { const p = preferences(); return !!(p && p[purpose]); };

  function setConsent(choices, options = {}) {
    const prefs = {};
    config.purposes.forEach((p) => { prefs[p] = !!(isObject(choices) && choices[p]); });
    const before = preferences();
    const record = { categoryPreferences: prefs, at: iso() };
    store.set('consent', record);
    cookie.set('pt_consent', JSON.stringify(record), config.cookieDays);
    hideBanner();
    if (options.record !== false) recordConsent(prefs, record.at);
    if (prefs.analytics) {
      const held = state.held.splice(0);
      held.forEach((m) => { m.context.consent = { categoryPreferences: { ...prefs } }; enqueue(m); });
    } else {
      state.held = [];
      writeQueue([]); // withdrawn: what was waiting is not sent either
    }
    emit('consent', { ...prefs });
    const changed = !before || before.personalization !== prefs.personalization;
    if (changed && state.ready && config.slots) fillAll(document);
    return prefs;
  }

  // anonymous: record for the device only (a user id without its proof is refused with 403: identity verification)
  async function recordConsent(prefs, at, attempt = 0, anonymous = false) {
    if (!state.writeKey) { state.pendingConsent = [prefs, at]; return; }
    const body = { anonymousId: anonymousId(), purposes: prefs, timestamp: at };
    if (userId() && !anonymous) body.userId = userId();
    if (body.userId && userHash()) body.userHash = userHash();
    try {
      const res = await fetch(`${config.host}/v1/consent`, {
        method: 'POST', keepalive: true, headers: { 'Content-Type': 'application/json', Authorization: basic() },
        body: JSON.stringify(body),
      });
      if (res.ok) { emit('consent-recorded', { ...prefs }); return; }
      if (res.status === 403 && body.userId) { recordConsent(prefs, at, attempt, true); return; }
      if (res.status !== 429 && res.status < 500) { warn('consent not recorded', res.status); return; }
    } catch { /* offline: retry below */ }
    if (attempt < config.maxRetries) {
      setTimeout(() => recordConsent(prefs, at, attempt + 1, anonymous), backoff(attempt + 1));
    }
  }

  // ------------------------------------------------------------------ messages
  const basic = () => {
    try { return `Basic ${btoa(`${state.writeKey}:`)}`; } catch { return ''; }
  };

  function pageContext() {
    const canonical = document.querySelector('link[rel="canonical"]');
    const url = canonical && canonical.href ? canonical.href : location.href.split('#')[0];
    return { path: location.pathname, referrer: document.referrer, search: location.search, title: document.title, url };
  }

  function campaign() {
    const q = new URLSearchParams(location.search);
    const out = {};
    [['name', 'utm_campaign'], ['source', 'utm_source'], ['medium', 'utm_medium'], ['term', 'utm_term'],
      ['content', 'utm_content']].forEach(([k, p]) => { if (q.get(p)) out[k] = q.get(p); });
    return Object.keys(out).length ? out : undefined;
  }

  function context(extra) {
    const ctx = {
      library: { name: 'pertinent.js', version: VERSION },
      page: pageContext(),
      userAgent: navigator.userAgent,
      locale: navigator.language,
      screen: { width: screen.width, height: screen.height, density: window.devicePixelRatio },
    };
    try { ctx.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch { /* old browser */ }
    const utm = campaign();
    if (utm) ctx.campaign = utm;
    const prefs = preferences();
    if (prefs) ctx.consent = { categoryPreferences: { ...prefs } };
    return isObject(extra) ? { ...ctx, ...extra } : ctx;
  }

  function message(type, fields, options) {
    const opts = isObject(options) ? options : {};
    const msg = { type, messageId: `pt-${uuid()}`, timestamp: iso(opts.timestamp), anonymousId: opts.anonymousId || anonymousId() };
    const uid = fields.userId || userId();
    if (uid) msg.userId = uid;
    Object.assign(msg, fields);
    msg.context = context(opts.context);
    const proof = userHash(msg.userId);
    if (proof && !msg.context.userHash) msg.context.userHash = proof;
    if (isObject(opts.integrations)) msg.integrations = opts.integrations;
    return msg;
  }

  const later = (callback) => { if (typeof callback === 'function') setTimeout(callback, 0); };

  // ------------------------------------------------------------------ queue, batching, retry, beacon
  const readQueue = () => { const q = store.get('queue'); return Array.isArray(q) ? q : []; };
  const writeQueue = (q) => store.set('queue', q.length ? q : null);
  const backoff = (failures) => {
    const delay = Math.min(config.retryMaxMs, config.retryBaseMs * 2 ** Math.max(0, failures - 1));
    return Math.round(delay * (0.5 + Math.random() / 2)); // jitter: clients that failed together spread out
  };

  function enqueue(msg) {
    const prefs = preferences();
    if (!prefs) { // no choice yet: hold in memory; sent if analytics is accepted, forgotten otherwise
      state.held.push(msg);
      if (state.held.length > config.maxQueue) state.held.shift();
      return;
    }
    if (!prefs.analytics) return;
    const q = readQueue(); // read-modify-write: other tabs of the site share this queue
    q.push({ m: msg, n: 0 });
    writeQueue(q.length > config.maxQueue ? q.slice(q.length - config.maxQueue) : q);
    schedule(q.length >= config.flushAt ? 0 : config.flushInterval);
  }

  function schedule(delay) {
    if (state.timer !== null) {
      if (delay > 0) return; // one already pending
      clearTimeout(state.timer);
    }
    state.timer = setTimeout(() => { state.timer = null; flush(); }, delay);
  }

  function takeBatch(q) {
    const batch = [];
    let bytes = 0;
    for (const entry of q) {
      const size = JSON.stringify(entry.m).length;
      if (batch.length && (batch.length >= config.maxBatch || bytes + size > 400000)) break;
      batch.push(entry);
      bytes += size;
    }
    return [batch, bytes];
  }

  function settle(ids, failed) {
    const q = readQueue();
    const keep = [];
    for (const entry of q) {
      if (!ids.has(entry.m.messageId)) keep.push(entry);
      else if (failed) {
        entry.n += 1;
        if (entry.n < config.maxRetries) keep.push(entry);
        else warn('dropped after retries', entry.m.type, entry.m.event || '');
      }
    }
    writeQueue(keep);
  }

  async function sendOnce() {
    if (!state.writeKey || !granted('analytics')) return 'idle';
    const [batch, bytes] = takeBatch(readQueue());
    if (!batch.length) return 'idle';
    const ids = new Set(batch.map((e) => e.m.messageId));
    let outcome;
    try {
      const res = await fetch(`${config.host}/v1/batch`, {
        method: 'POST', keepalive: bytes < 60000,
        headers: { 'Content-Type': 'application/json', Authorization: basic() },
        body: JSON.stringify({ batch: batch.map((e) => e.m), sentAt: iso() }),
      });
      outcome = res.ok ? 'sent' : (res.status === 429 || res.status >= 500 ? 'retry' : 'rejected');
      if (outcome === 'rejected') warn('batch rejected', res.status, await res.text().catch(() => ''));
    } catch {
      outcome = 'retry'; // offline, connection refused, CORS...
    }
    settle(ids, outcome === 'retry');
    emit(outcome, { count: batch.length });
    return outcome;
  }

  function flush() {
    if (state.sending) return state.sending;
    state.sending = (async () => {
      let failures = 0;
      for (;;) {
        const outcome = await sendOnce();
        if (outcome === 'idle') break;
        if (outcome === 'retry') {
          failures += 1;
          if (failures >= config.maxRetries) break; // the rest waits for the next event, page or 'online'
          await new Promise((resolve) => setTimeout(resolve, backoff(failures)));
        } else failures = 0;
      }
    })().finally(() => { state.sending = null; });
    return state.sending;
  }

  function beacon() {
    if (!state.writeKey || !navigator.sendBeacon || !granted('analytics')) return;
    const q = readQueue();
    if (!q.length) return;
    const sent = new Set();
    let chunk = [];
    const send = () => {
      // text/plain: a simple request (no CORS preflight); beacons cannot set headers, so the key is in the body
      const body = JSON.stringify({ batch: chunk.map((e) => e.m), sentAt: iso(), writeKey: state.writeKey });
      const blob = new Blob([body], { type: 'text/plain;charset=UTF-8' });
      if (navigator.sendBeacon(`${config.host}/v1/batch`, blob)) chunk.forEach((e) => sent.add(e.m.messageId));
      chunk = [];
    };
    let bytes = 0;
    for (const entry of q) {
      const size = JSON.stringify(entry.m).length;
      if (chunk.length && bytes + size > 60000) { send(); bytes = 0; } // beacons are limited to 64 KiB
      chunk.push(entry);
      bytes += size;
    }
    if (chunk.length) send();
    if (sent.size) writeQueue(readQueue().filter((e) => !sent.has(e.m.messageId)));
    emit('beacon', { count: sent.size });
  }

  // ------------------------------------------------------------------ engagement: active time, scroll depth, path
  // One 'Page Engaged' track per page, queued like any event (no request of its own): when the page is hidden or
  // left (then the beacon carries it) or when the next page() starts (single-page apps). Active time counts while
  // the page is visible, up to engagementIdleMs after each input; scroll depth is the deepest point seen, in
  // percent of the page. Coming back to a hidden tab continues the page: the next report has continued: true and
  // only what was added (active_seconds, scroll_depth_delta).
  const engaged = { page: null, activeMs: 0, lastInput: null, depth: 0, reported: null };
  const session = {
    get(name) { try { return sessionStorage.getItem(KEY + name); } catch { return null; } },
    set(name, value) { try { sessionStorage.setItem(KEY + name, value); } catch { /* disabled */ } },
  };

  function scrollDepth() {
    if (document.readyState === 'loading' || !document.body) return 0; // not laid out yet
    const doc = document.documentElement;
    const height = Math.max(doc.scrollHeight, document.body ? document.body.scrollHeight : 0);
    if (!height) return 0;
    return Math.min(100, Math.round(((window.scrollY + window.innerHeight) / height) * 100));
  }

  function settleActive() {
    if (engaged.lastInput === null) return;
    const t = performance.now();
    engaged.activeMs += Math.min(t - engaged.lastInput, config.engagementIdleMs);
    engaged.lastInput = document.visibilityState === 'hidden' ? null : t;
  }

  function activity() {
    if (!engaged.page || document.visibilityState === 'hidden') return;
    if (engaged.lastInput === null) engaged.lastInput = performance.now();
    else settleActive();
  }

  function onScroll() {
    if (!engaged.page) return;
    engaged.depth = Math.max(engaged.depth, scrollDepth());
    activity();
  }

  function startEngagement(props) {
    if (!config.engagement) return;
    engaged.page = { path: props.path, url: props.url, title: props.title };
    engaged.activeMs = 0;
    engaged.reported = null;
    engaged.depth = scrollDepth();
    engaged.lastInput = document.visibilityState === 'hidden' ? null : performance.now();
    if (document.readyState !== 'complete') { // measure again once laid out (a page shorter than the screen: 100)
      const page = engaged.page;
      window.addEventListener('load', () => { if (engaged.page === page) engaged.depth = Math.max(engaged.depth, scrollDepth()); }, { once: true });
    }
  }

  function reportEngagement(final) {
    const p = engaged.page;
    if (!p) return;
    settleActive();
    if (final) engaged.lastInput = null;
    engaged.depth = Math.max(engaged.depth, scrollDepth());
    const before = engaged.reported || { activeMs: 0, depth: 0 };
    const props = {
      path: p.path, url: p.url, title: p.title,
      active_seconds: Math.round((engaged.activeMs - before.activeMs) / 100) / 10,
      scroll_depth: engaged.depth,
    };
    if (engaged.reported) {
      props.continued = true;
      props.scroll_depth_delta = engaged.depth - before.depth;
    }
    if (!engaged.reported || props.active_seconds > 0 || props.scroll_depth_delta > 0) {
      track(config.engagementEvent, props);
      engaged.reported = { activeMs: engaged.activeMs, depth: engaged.depth };
    }
    if (final) engaged.page = null;
  }

  function pageHidden(final) {
    reportEngagement(final);
    beacon();
  }

  // ------------------------------------------------------------------ the Segment-shaped calls
  function track(event, properties, options, callback) {
    if (typeof properties === 'function') [properties, options, callback] = [{}, {}, properties];
    if (typeof options === 'function') [options, callback] = [{}, options];
    if (typeof event !== 'string' || !event) { warn('track: the event name must be a non-empty string'); return; }
    enqueue(message('track', { event, properties: isObject(properties) ? properties : {} }, options));
    later(callback);
  }

  function page(category, name, properties, options, callback) {
    const args = [category, name, properties, options, callback];
    callback = args.find((a) => typeof a === 'function');
    const rest = args.filter((a) => typeof a !== 'function' && a !== undefined && a !== null);
    const strings = rest.filter((a) => typeof a === 'string');
    const objects = rest.filter(isObject);
    [category, name] = strings.length >= 2 ? strings : [undefined, strings[0]];
    const props = { ...pageContext(), ...(objects[0] || {}) };
    const fields = { properties: props };
    if (name) { fields.name = name; props.name = name; }
    if (category) { fields.category = category; props.category = category; }
    reportEngagement(true); // the page before (single-page apps): its engagement goes first
    const previous = session.get('path'); // the navigation path of this tab
    if (previous && !('previous_path' in props)) props.previous_path = previous;
    if (typeof props.path === 'string') session.set('path', props.path);
    enqueue(message('page', fields, objects[1]));
    startEngagement(props);
    later(callback);
  }

  function identify(id, traits, options, callback) {
    if (typeof id === 'function') [id, traits, options, callback] = [undefined, {}, {}, id];
    if (isObject(id)) [id, traits, options, callback] = [undefined, id, traits, options];
    if (typeof traits === 'function') [traits, options, callback] = [{}, {}, traits];
    if (typeof options === 'function') [options, callback] = [{}, options];
    if (id !== undefined && id !== null && id !== '') {
      const before = userHash();
      const changed = setUser(String(id), isObject(options) ? options.userHash : null);
      const proven = userHash() !== before;
      if ((changed || proven) && state.ready && config.slots && granted('personalization')) fillAll(document);
    }
    const all = { ...(store.get('traits') || {}), ...(isObject(traits) ? traits : {}) };
    store.set('traits', all);
    enqueue(message('identify', { traits: isObject(traits) ? traits : {} }, options));
    later(callback);
  }

  function alias(to, from, options, callback) {
    if (typeof from === 'function') [from, options, callback] = [undefined, {}, from];
    if (typeof options === 'function') [options, callback] = [{}, options];
    enqueue(message('alias', { userId: String(to), previousId: from ? String(from) : (userId() || anonymousId()) }, options));
    later(callback);
  }

  function group(groupId, traits, options, callback) {
    if (typeof traits === 'function') [traits, options, callback] = [{}, {}, traits];
    enqueue(message('group', { groupId: String(groupId), traits: isObject(traits) ? traits : {} }, options));
    later(callback);
  }

  function reset() {
    store.set('userId', null);
    store.set('userHash', null);
    store.set('traits', null);
    store.set('anonymousId', null);
    cookie.set('pt_aid', '', 0);
    anonymousId();
  }

  // ------------------------------------------------------------------ dataLayer (GTM)
  const GA4 = {
    view_item: 'Product Viewed', select_item: 'Product Clicked', add_to_cart: 'Product Added',
    remove_from_cart: 'Product Removed', add_to_wishlist: 'Product Added to Wishlist', view_cart: 'Cart Viewed',
    begin_checkout: 'Checkout Started', purchase: 'Order Completed', refund: 'Order Refunded',
    view_item_list: 'Product List Viewed', search: 'Products Searched', login: 'Signed In', sign_up: 'Signed Up',
  };
  const SKIP_KEYS = new Set(['event', 'eventCallback', 'eventTimeout', 'gtm.uniqueEventId', 'ecommerce']);

  function product(item) {
    const out = {
      product_id: item.item_id, sku: item.item_id, name: item.item_name, category: item.item_category,
      brand: item.item_brand, variant: item.item_variant, price: item.price, quantity: item.quantity,
      position: item.index, coupon: item.coupon,
    };
    Object.keys(out).forEach((k) => out[k] === undefined && delete out[k]);
    return out;
  }

  function fromEcommerce(name, ecommerce, props) {
    if (!isObject(ecommerce)) return props;
    const { items, transaction_id: orderId, value, ...rest } = ecommerce;
    Object.assign(props, rest);
    if (Array.isArray(items)) {
      props.products = items.filter(isObject).map(product);
      if (props.products.length === 1 && name !== 'Order Completed') Object.assign(props, props.products[0]);
    }
    if (orderId !== undefined) props.order_id = orderId;
    if (value !== undefined) props[name === 'Order Completed' ? 'revenue' : 'value'] = value;
    return props;
  }

  function fromDataLayer(entry) {
    let name;
    let props = {};
    if (entry && typeof entry === 'object' && !isObject(entry) || Object.prototype.toString.call(entry) === '[object Arguments]') {
      const args = Array.from(entry); // gtag('event', name, params) pushes its arguments object
      if (args[0] !== 'event' || typeof args[1] !== 'string') return;
      name = args[1];
      if (isObject(args[2])) props = { ...args[2] };
      if (isObject(props.items) || Array.isArray(props.items)) props = fromEcommerce(GA4[name] || name, props, {});
    } else if (isObject(entry) && typeof entry.event === 'string') {
      name = entry.event;
      Object.keys(entry).forEach((k) => { if (!SKIP_KEYS.has(k)) props[k] = entry[k]; });
      props = fromEcommerce(GA4[name] || name, entry.ecommerce, props);
    } else return; // variables for GTM, not events
    if (!name || name.startsWith('gtm.')) return;
    if (name === 'page_view') { page(props); return; }
    track(GA4[name] || name, props);
  }

  function watchDataLayer() {
    if (!config.dataLayer) return;
    const layer = (window[config.dataLayer] = window[config.dataLayer] || []);
    if (!Array.isArray(layer) || layer.__pertinent) return;
    layer.slice().forEach((e) => { try { fromDataLayer(e); } catch (err) { warn('dataLayer entry', err); } });
    const push = layer.push;
    layer.push = function pushAndTrack(...entries) {
      const result = push.apply(this, entries);
      entries.forEach((e) => { try { fromDataLayer(e); } catch (err) { warn('dataLayer entry', err); } });
      return result;
    };
    Object.defineProperty(layer, '__pertinent', { value: true });
  }

  // ------------------------------------------------------------------ consent banner
  const CSS = `
.pt-consent{position:fixed;z-index:2147483000;left:1rem;right:1rem;bottom:1rem;max-width:40rem;margin:0 auto;
 background:#fff;color:#1d2330;border:1px solid #d5d9e0;border-radius:.75rem;box-shadow:0 .5rem 2rem rgba(0,0,0,.18);
 padding:1rem 1.25rem;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
.pt-consent h2{font-size:1.05rem;margin:0 0 .35rem}
.pt-consent p{margin:0 0 .75rem}
.pt-consent fieldset{border:0;margin:0 0 .75rem;padding:0}
.pt-consent label{display:flex;gap:.5rem;align-items:flex-start;margin:.3rem 0;cursor:pointer}
.pt-consent-actions{display:flex;flex-wrap:wrap;gap:.5rem;justify-content:flex-end}
.pt-consent button{font:inherit;padding:.5rem .9rem;border-radius:.5rem;border:1px solid #1d2330;background:#fff;
 color:#1d2330;cursor:pointer;min-width:7rem}
.pt-consent button[data-action=accept],.pt-consent button[data-action=save]{background:#1d2330;color:#fff}
.pt-consent button:focus-visible,.pt-consent input:focus-visible{outline:3px solid #2f6fed;outline-offset:2px}
.pt-consent:focus{outline:none}
.pt-consent [hidden]{display:none!important}`;

  let bannerEl = null;
  let focusBefore = null; // where the keyboard was before the banner took it (given back after the choice)
  const text = (name) => (config.texts && config.texts[name]) || TEXTS[name] || name;
  const h = (tag, attrs = {}, ...children) => {
    const el = document.createElement(tag);
    Object.entries(attrs).forEach(([k, v]) => {
      if (v === undefined || v === null || v === false) return;
      if (k === 'text') el.textContent = v; else el.setAttribute(k, v === true ? '' : v);
    });
    children.forEach((c) => c && el.append(c));
    return el;
  };

  function showBanner(expanded = false, reopened = false) {
    if (!document.body) {
      document.addEventListener('DOMContentLoaded', () => showBanner(expanded, reopened), { once: true });
      return;
    }
    hideBanner();
    if (!document.getElementById('pt-consent-style')) {
      document.head.append(h('style', { id: 'pt-consent-style', text: CSS }));
    }
    const current = preferences() || {};
    const boxes = config.purposes.map((p) => h('label', {},
      h('input', { type: 'checkbox', name: p, checked: !!current[p] }),
      h('span', { text: text(`purpose_${p}`) })));
    const purposes = h('fieldset', { hidden: !expanded, 'aria-label': text('customize') }, ...boxes);
    const button = (action, hidden) => h('button', { type: 'button', 'data-action': action, hidden, text: text(action) });
    bannerEl = h('div', { class: 'pt-consent', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': 'pt-consent-title',
      'aria-describedby': 'pt-consent-body', tabindex: '-1', 'data-pertinent-consent': '' },
    h('h2', { id: 'pt-consent-title', text: text('title') }),
    h('p', { id: 'pt-consent-body', text: text('body') }),
    purposes,
    h('div', { class: 'pt-consent-actions' },
      button('reject'), button('customize', expanded), button('save', !expanded), button('accept')));
    bannerEl.addEventListener('click', (ev) => {
      const action = ev.target instanceof Element && ev.target.closest('button')?.dataset.action;
      if (action === 'accept') setConsent(Object.fromEntries(config.purposes.map((p) => [p, true])));
      else if (action === 'reject') setConsent({});
      else if (action === 'save') {
        setConsent(Object.fromEntries(boxes.map((l) => { const i = l.querySelector('input'); return [i.name, i.checked]; })));
      } else if (action === 'customize') {
        purposes.hidden = false;
        bannerEl.querySelector('[data-action=customize]').hidden = true;
        bannerEl.querySelector('[data-action=save]').hidden = false;
        purposes.querySelector('input').focus(); // the button that had the focus is gone
      }
    });
    document.body.append(bannerEl);
    // No Escape handler on purpose: closing the banner without a choice would make one for the visitor.
    // Keyboard and screen-reader users land in the banner: always when it was asked for (consent.show()),
    // on load unless the page already put the focus somewhere (an autofocus field keeps it).
    const active = document.activeElement;
    if (reopened || !active || active === document.body || active === document.documentElement) {
      focusBefore = active && active !== document.body ? active : null;
      bannerEl.focus({ preventScroll: true });
    }
    emit('banner', { shown: true });
  }

  function hideBanner() {
    if (!bannerEl) return;
    const hadFocus = bannerEl.contains(document.activeElement);
    bannerEl.remove();
    bannerEl = null;
    if (hadFocus && focusBefore && focusBefore.isConnected) focusBefore.focus({ preventScroll: true });
    focusBefore = null;
  }

  // ------------------------------------------------------------------ slots and recommendations
  // proof: the user hash of the user id asked about, sent as a header (kept out of URLs and their logs)
  async function get(path, params, proof) {
    const url = new URL(config.host + path, location.href);
    Object.entries(params).forEach(([k, v]) => { if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v); });
    const headers = { Authorization: basic(), Accept: 'application/json' };
    if (proof) headers['X-User-Hash'] = proof;
    const res = await fetch(url, { headers });
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      const err = new Error((body && body.message) || `HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  const FILLED = new WeakMap(); // element -> { fallback, decision | recs }
  const remember = (el) => { // the markup to fall back to, and the item template (filling may remove it)
    if (!FILLED.has(el)) FILLED.set(el, { fallback: target(el).innerHTML, template: el.querySelector('template') });
    return FILLED.get(el);
  };
  const target = (el) => el.querySelector('[data-pertinent-items]') || el;
  const restore = (el, info, why) => {
    target(el).innerHTML = info.fallback;
    info.decision = null;
    info.recs = null;
    el.removeAttribute('data-impression-id');
    el.setAttribute('data-pertinent-state', 'fallback');
    emit('fallback', { element: el, reason: why });
  };
  const hrefFor = (el, itemId) => {
    const pattern = el.getAttribute('data-href');
    return pattern ? pattern.replace('{item_id}', encodeURIComponent(itemId)) : null;
  };
  const safeUrl = (u) => (typeof u === 'string' && !/^\s*(javascript|data|vbscript):/i.test(u) ? u : null);
  const money = (v) => (typeof v === 'number' && Number.isFinite(v)
    ? v.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : '');

  function renderItems(el, items, into = target(el)) {
    const tpl = (FILLED.get(el) || {}).template || el.querySelector('template');
    const frag = document.createDocumentFragment();
    if (tpl) {
      items.forEach((item) => {
        const node = tpl.content.firstElementChild.cloneNode(true);
        node.setAttribute('data-item-id', item.item_id);
        if (item.rank !== undefined) node.setAttribute('data-rank', item.rank);
        const attrs = item.attributes || {};
        const values = {
          title: item.title || item.item_id, item_id: item.item_id, rank: item.rank, reason: item.reason,
          price: money(item.price ?? attrs.price), category: (item.categories || [])[0], text: item.text,
        };
        [node, ...node.querySelectorAll('[data-field]')].forEach((n) => {
          const field = n.getAttribute('data-field');
          if (!field) return;
          if (field === 'link') {
            const href = hrefFor(el, item.item_id) || safeUrl(item.url);
            if (href) n.setAttribute('href', href);
          } else if (field === 'image') {
            const src = safeUrl(item.image || attrs.image);
            if (src) n.setAttribute('src', src); else n.remove();
          } else n.textContent = values[field] ?? '';
        });
        frag.append(node);
      });
    } else {
      const list = h('ol', { class: 'pertinent-items' });
      items.forEach((item) => {
        const href = hrefFor(el, item.item_id) || safeUrl(item.url);
        const label = item.title || item.item_id;
        list.append(h('li', { 'data-item-id': item.item_id, 'data-rank': item.rank },
          href ? h('a', { href, text: label }) : h('span', { text: label })));
      });
      frag.append(list);
    }
    into.replaceChildren(frag);
  }

  async function withTitles(items) {
    if (!items.length || items.every((i) => i.title && i.categories)) return items;
    try {
      const cat = await get('/v1/catalog', { ids: items.map((i) => i.item_id).join(',') });
      const byId = new Map(cat.items.map((i) => [i.item_id, i]));
      // unavailable items are left out, unless the answer itself described them
      return items.filter((i) => byId.has(i.item_id) || i.title).map((i) => ({ ...byId.get(i.item_id), ...i }));
    } catch {
      return items; // an older server without /v1/catalog: ids only
    }
  }

  // Blocks as /v1/decide returns them (block types of the decide service): headline {title, subtitle, url},
  // image {src, alt, link}, call_to_action {text, url}, text {text}, html {html}, product_list {title, items}.
  async function renderBlock(el, decision) {
    if (typeof decision.html === 'string' && decision.html) { // a fragment rendered by the server's template
      target(el).innerHTML = decision.html;
      return;
    }
    const block = isObject(decision.block) ? decision.block : {};
    const type = block.type || 'content';
    const c = isObject(block.content) ? block.content : {};
    const title = c.title || c.headline;
    if (Array.isArray(c.items) || type === 'product_list') { // rendered like a recommendation list
      const items = await withTitles((c.items || []).filter(isObject).map((item, i) => ({ rank: i + 1, ...item })));
      const holder = h('div', { class: 'pertinent-block-items' });
      target(el).replaceChildren(...[title ? h('h2', { text: title }) : null, holder].filter(Boolean));
      renderItems(el, items, holder);
      return;
    }
    if (type === 'html' && typeof c.html === 'string') { target(el).innerHTML = c.html; return; }
    const url = safeUrl(c.url || c.cta_url || (isObject(c.cta) ? c.cta.url : null));
    const label = type === 'call_to_action' ? c.text : (isObject(c.cta) ? c.cta.text : c.cta || c.cta_text);
    const src = safeUrl(c.src || c.image || c.image_url);
    const link = safeUrl(c.link);
    const img = src ? h('img', { src, alt: c.alt || '', width: c.width, height: c.height }) : null;
    const text = type === 'call_to_action' ? null : c.subtitle || c.text || c.body;
    const heading = title ? h('h2', {}, url && !label ? h('a', { href: url, text: title }) : title) : null;
    const box = h('div', { class: `pertinent-block pertinent-block-${type}` },
      img && link ? h('a', { href: link }, img) : img,
      heading,
      text ? h('p', { text }) : null,
      label && url ? h('a', { class: 'pertinent-cta', href: url, text: label }) : null);
    target(el).replaceChildren(box);
  }

  function identityParams() {
    const uid = userId();
    return uid ? { user_id: uid } : { anonymous_id: anonymousId() };
  }

  // A newer fill of the same element (after a consent change, identify...) wins over a slower older one.
  const begin = (info) => { info.seq = (info.seq || 0) + 1; const mine = info.seq; return () => info.seq !== mine; };

  async function fillSlot(el) {
    const info = remember(el);
    const stale = begin(info);
    const slot = el.getAttribute('data-pertinent-slot');
    if (!granted('personalization')) { restore(el, info, 'no personalization consent'); return; }
    try {
      const params = identityParams();
      const decision = await get('/v1/decide', { slot, ...params }, userHash(params.user_id));
      if (stale()) return;
      await renderBlock(el, decision);
      info.decision = { decision_id: decision.decision_id, slot: decision.slot || slot, variant: decision.variant ?? null };
      el.setAttribute('data-pertinent-state', 'filled');
      el.setAttribute('data-decision-id', decision.decision_id || '');
      el.setAttribute('data-variant', decision.variant ?? '');
      if (decision.reason && decision.reason.kind) el.setAttribute('data-reason', decision.reason.kind);
      observeImpression(el);
      emit('slot', { element: el, decision });
    } catch (err) {
      if (!stale()) restore(el, info, err.message);
    }
  }

  async function fillRecommendations(el) {
    const info = remember(el);
    const stale = begin(info);
    const k = el.getAttribute('data-k') || 5;
    const similarTo = el.getAttribute('data-similar-to');
    try {
      let res;
      if (similarTo) {
        res = await get(`/v1/items/${encodeURIComponent(similarTo)}/similar`, { k });
      } else {
        // without personalization consent: an id nobody has, so the answer is what everyone gets (popular items)
        const who = granted('personalization') ? (userId() || anonymousId()) : state.noPersonal;
        res = await get('/v1/recommendations', {
          user_id: who, k,
          include_categories: el.getAttribute('data-include-categories'),
          exclude_categories: el.getAttribute('data-exclude-categories'),
          exclude: el.getAttribute('data-exclude'),
        }, userHash(who));
      }
      const items = await withTitles(res.items || []);
      if (stale()) return;
      if (!items.length) { restore(el, info, 'no items'); return; }
      renderItems(el, items);
      const recs = {
        model: res.model || null, source: res.source || null, version: res.version || null,
        itemIds: items.map((i) => String(i.item_id)),
      };
      // One impression per distinct list shown: the same list drawn again (a consent change, a refresh that
      // answered the same) keeps its impression id, so it is neither counted twice nor made visible anew.
      const same = info.recs && info.recs.model === recs.model && info.recs.source === recs.source &&
        info.recs.version === recs.version && info.recs.itemIds.join('\n') === recs.itemIds.join('\n');
      if (!same) info.recs = { ...recs, impressionId: `pt-imp-${uuid()}`, viewed: false };
      el.setAttribute('data-pertinent-state', 'filled');
      el.setAttribute('data-source', res.source || '');
      el.setAttribute('data-impression-id', info.recs.impressionId);
      if (!info.recs.viewed) observeImpression(el);
      emit('recommendations', { element: el, items, source: res.source, model: res.model });
    } catch (err) {
      if (!stale()) restore(el, info, err.message);
    }
  }

  // Seen: at least half of the element on screen, or (an element taller than twice the screen) at least half
  // of the screen filled by it. The first callback after observe() reports any overlap, so the ratio is checked.
  const seen = (e) => e.isIntersecting && (e.intersectionRatio >= 0.5 ||
    (!!e.rootBounds && e.intersectionRect.height >= e.rootBounds.height / 2));
  let observer = null;
  function observeImpression(el) {
    if (!('IntersectionObserver' in window)) { viewed(el); return; }
    observer = observer || new IntersectionObserver((entries) => {
      entries.forEach((e) => { if (seen(e)) { observer.unobserve(e.target); viewed(e.target); } });
    }, { threshold: Array.from({ length: 21 }, (_, i) => i / 20) });
    observer.unobserve(el); // a fresh first callback for a refilled element that is already on screen
    observer.observe(el);
  }

  function viewed(el) {
    const info = FILLED.get(el);
    if (!info) return;
    const d = info.decision;
    if (d && info.viewed !== d.decision_id) {
      info.viewed = d.decision_id;
      track('Slot Viewed', { ...d });
    }
    if (info.recs && !info.recs.viewed) listViewed(el, info.recs);
  }

  // The properties a recommendation list's impression and its clicks share.
  function listProps(list, r) {
    const props = { impression_id: r.impressionId };
    if (r.model) props.model = r.model;
    if (r.source) props.source = r.source;
    if (r.version) props.version = r.version;
    if (list.getAttribute('data-pertinent-recommendations')) props.list = list.getAttribute('data-pertinent-recommendations');
    const slotEl = list.parentElement && list.parentElement.closest('[data-pertinent-slot]');
    const d = slotEl && FILLED.get(slotEl)?.decision; // a list inside a slot's content: that decision
    if (d && d.decision_id) props.decision_id = d.decision_id;
    return props;
  }

  function listViewed(list, r) {
    r.viewed = true;
    track('Recommendations Viewed', { ...listProps(list, r), item_ids: [...r.itemIds] });
    emit('impression', { element: list, impressionId: r.impressionId });
  }

  function onClick(ev) {
    const node = ev.target instanceof Element ? ev.target : null;
    if (!node) return;
    const item = node.closest('[data-item-id]');
    const slotEl = node.closest('[data-pertinent-slot]');
    const d = slotEl && FILLED.get(slotEl)?.decision;
    if (d) {
      const props = { ...d };
      if (item && slotEl.contains(item)) props.item_id = item.getAttribute('data-item-id');
      track('Slot Clicked', props);
    }
    const list = node.closest('[data-pertinent-recommendations]');
    const r = list && FILLED.get(list)?.recs;
    if (r && item && list.contains(item)) {
      if (!r.viewed) listViewed(list, r); // clicked before the observer reported it: it was seen
      const props = { item_id: item.getAttribute('data-item-id'), rank: Number(item.getAttribute('data-rank')) || undefined };
      track('Recommendation Clicked', { ...props, ...listProps(list, r) });
    }
  }

  function fillAll(root) {
    if (!state.writeKey) return Promise.resolve();
    const scope = root && root.querySelectorAll ? root : document;
    const jobs = [];
    scope.querySelectorAll('[data-pertinent-slot]').forEach((el) => jobs.push(fillSlot(el)));
    scope.querySelectorAll('[data-pertinent-recommendations]').forEach((el) => jobs.push(fillRecommendations(el)));
    return Promise.all(jobs);
  }

  function watchNewElements() {
    new MutationObserver((mutations) => {
      mutations.forEach((m) => m.addedNodes.forEach((n) => {
        if (!(n instanceof Element)) return;
        const found = [n, ...n.querySelectorAll('[data-pertinent-slot],[data-pertinent-recommendations]')]
          .filter((e) => (e.hasAttribute('data-pertinent-slot') || e.hasAttribute('data-pertinent-recommendations')) && !FILLED.has(e));
        found.forEach((e) => (e.hasAttribute('data-pertinent-slot') ? fillSlot(e) : fillRecommendations(e)));
      }));
    }).observe(document.documentElement, { childList: true, subtree: true });
  }

  // ------------------------------------------------------------------ start
  function whenDom(fn) {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', fn, { once: true });
    else fn();
  }

  function load(writeKey, options) {
    if (state.loaded) { warn('load: already loaded'); return; }
    if (typeof writeKey !== 'string' || !writeKey) { warn('load: a write key is required'); return; }
    state.loaded = true;
    state.writeKey = writeKey;
    if (isObject(options)) Object.assign(config, options);
    config.host = String(config.host || '').replace(/\/+$/, '');
    anonymousId();
    if (config.userId) setUser(String(config.userId), config.userHash); // signed in, as the page says
    if (state.pendingConsent) { recordConsent(...state.pendingConsent); state.pendingConsent = null; }
    if (config.autoPage) page();
    watchDataLayer();
    document.addEventListener('click', onClick, true);
    window.addEventListener('pagehide', () => pageHidden(true));
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') pageHidden(false);
      else activity(); // back on the page: active again
    });
    window.addEventListener('scroll', onScroll, { passive: true });
    ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart'].forEach((name) => {
      window.addEventListener(name, activity, { passive: true, capture: true });
    });
    window.addEventListener('online', () => flush());
    whenDom(() => {
      if (config.banner && !readConsent()) showBanner();
      if (readQueue().length) flush(); // left over from an earlier page
      state.ready = true;
      if (config.slots) { fillAll(document); watchNewElements(); }
      state.readyCallbacks.splice(0).forEach((cb) => later(cb));
      emit('ready', { anonymousId: anonymousId() });
    });
  }

  const api = {
    __pertinent: true,
    VERSION,
    load, page, track, identify, alias, group, reset, flush,
    ready(callback) { if (state.ready) later(callback); else state.readyCallbacks.push(callback); },
    user: () => ({ id: userId(), anonymousId: anonymousId(), traits: store.get('traits') || {} }),
    on(name, fn) { (listeners[name] = listeners[name] || []).push(fn); },
    consent: {
      get: () => (preferences() ? { ...preferences() } : null),
      set: (choices) => setConsent(choices),
      show: () => showBanner(true, true),
      hide: hideBanner,
    },
    slots: { refresh: (root) => fillAll(root || document) },
  };
  window.pertinent = api;

  // Configuration from the script tag: data-write-key, data-host, data-flush-at, data-flush-interval, ...
  if (script && script.dataset.writeKey) {
    const d = script.dataset;
    const num = (v) => (v === undefined || v === '' || Number.isNaN(Number(v)) ? undefined : Number(v));
    const bool = (v) => (v === undefined ? undefined : v !== 'false' && v !== '0');
    const opts = {
      host: d.host || new URL(script.src, location.href).origin,
      flushAt: num(d.flushAt), flushInterval: num(d.flushInterval), maxBatch: num(d.maxBatch),
      retryBaseMs: num(d.retryBaseMs), retryMaxMs: num(d.retryMaxMs), maxRetries: num(d.maxRetries),
      banner: bool(d.banner), autoPage: bool(d.autoPage), slots: bool(d.slots),
      dataLayer: d.dataLayer, cookieDomain: d.cookieDomain, userId: d.userId, userHash: d.userHash,
      engagement: bool(d.engagement), engagementIdleMs: num(d.engagementIdleMs),
    };
    Object.keys(opts).forEach((k) => opts[k] === undefined && delete opts[k]);
    load(d.writeKey, opts);
  } else if (script && script.src) {
    config.host = new URL(script.src, location.href).origin; // load(writeKey) may come later
  }
  // Calls queued by a stub (window.pertinent = [] with push-ing methods) before this file arrived.
  if (Array.isArray(previous)) {
    previous.forEach((call) => {
      const [method, ...args] = Array.from(call);
      if (typeof api[method] === 'function') api[method](...args);
    });
  }
})();
