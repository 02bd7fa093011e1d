/* The demo shop's own script. It uses only what any site has: the snippet (window.pertinent) and the public
 * API with the public write key (read from the snippet's script tag). Product data comes from
 * GET /v1/catalog; recommendation lists and the hero slot are filled by the snippet itself. */
(() => {
  'use strict';

  const pt = window.pertinent; // pertinent.js is deferred before this file, so it is here
  const snippetTag = document.querySelector('script[data-write-key]');
  const WRITE_KEY = snippetTag.dataset.writeKey;
  const HOST = new URL(snippetTag.src, location.href).origin;
  const CART = 'pertinent-demo.cart';

  const money = (v) => (typeof v === 'number' ? v.toFixed(2) : '');
  const $ = (sel) => document.querySelector(sel);

  async function api(path, params = {}) {
    const url = new URL(HOST + path);
    Object.entries(params).forEach(([k, v]) => { if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v); });
    const res = await fetch(url, { headers: { Authorization: `Basic ${btoa(`${WRITE_KEY}:`)}` } });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return res.json();
  }

  const productOf = (item) => ({
    product_id: item.item_id,
    name: item.title,
    category: (item.categories || [])[0],
    price: (item.attributes || {}).price,
  });

  // ---------------------------------------------------------------- cart (kept in this browser only)
  const readCart = () => { try { return JSON.parse(localStorage.getItem(CART)) || []; } catch { return []; } };
  const writeCart = (lines) => { localStorage.setItem(CART, JSON.stringify(lines)); showCartCount(); };
  const showCartCount = () => { $('#cart-count').textContent = readCart().reduce((n, l) => n + l.quantity, 0); };

  function addToCart(item) {
    const lines = readCart();
    const line = lines.find((l) => l.product_id === item.item_id);
    if (line) line.quantity += 1; else lines.push({ ...productOf(item), quantity: 1 });
    writeCart(lines);
    pt.track('Product Added', { ...productOf(item), quantity: 1 });
  }

  function orderCompleted(products) {
    const revenue = products.reduce((sum, p) => sum + (p.price || 0) * p.quantity, 0);
    pt.track('Order Completed', {
      order_id: `demo-${Date.now().toString(36)}`, revenue: Math.round(revenue * 100) / 100, currency: 'EUR', products,
    });
  }

  // After a purchase or an add to cart: deliver the events, then ask again (the profile changed).
  const refreshRecommendations = () => pt.flush().then(() => pt.slots.refresh());

  // ---------------------------------------------------------------- listings
  function card(item) {
    const node = $('template').content.firstElementChild.cloneNode(true);
    node.href = `/demo/products/${encodeURIComponent(item.item_id)}`;
    node.dataset.itemId = item.item_id;
    node.querySelector('[data-field=title]').textContent = item.title || item.item_id;
    node.querySelector('[data-field=category]').textContent = (item.categories || [])[0] || '';
    node.querySelector('[data-field=price]').textContent = money((item.attributes || {}).price);
    node.querySelector('[data-field=reason]').remove();
    return node;
  }

  async function listing() {
    const grid = $('#listing');
    if (!grid) return;
    const more = $('#more');
    let after = null;
    const page = async () => {
      const res = await api('/v1/catalog', { category: grid.dataset.category, limit: 12, after });
      if (after === null) grid.replaceChildren();
      res.items.forEach((item) => grid.append(card(item)));
      if (!res.items.length && after === null) grid.innerHTML = '<p class="muted">Nothing here yet.</p>';
      after = res.next;
      more.hidden = !after;
    };
    more.addEventListener('click', () => page());
    await page();
    if (grid.dataset.category) pt.track('Product List Viewed', { category: grid.dataset.category });
  }

  async function categories() {
    const nav = $('#categories');
    const res = await api('/v1/catalog/categories');
    res.categories.slice(0, 12).forEach((c) => {
      const a = document.createElement('a');
      a.href = `/demo/category/${encodeURIComponent(c.name)}`;
      a.textContent = c.name;
      if (decodeURIComponent(location.pathname) === `/demo/category/${c.name}`) a.setAttribute('aria-current', 'page');
      nav.append(a);
    });
  }

  // ---------------------------------------------------------------- product page
  async function productPage() {
    const box = $('#product');
    if (!box) return;
    const id = box.dataset.itemId;
    const res = await api('/v1/catalog', { ids: id });
    const item = res.items[0];
    if (!item) {
      box.innerHTML = '<h1 class="page-title">Not found</h1><p class="muted">This product is not in the catalogue.</p>';
      return;
    }
    document.title = `${item.title} · Pertinent demo shop`;
    box.innerHTML = `
      <div class="thumb big"></div>
      <div class="details">
        <h1 class="page-title"></h1>
        <p class="meta"><a class="category"></a> <span class="tags"></span></p>
        <p class="price big"></p>
        <p class="text"></p>
        <div class="buttons">
          <button type="button" id="add-to-cart" class="buy">Add to cart</button>
          <button type="button" id="buy-now" class="secondary">Buy now</button>
        </div>
        <p id="added" class="notice" hidden></p>
      </div>`;
    const category = (item.categories || [])[0] || '';
    box.querySelector('.thumb').textContent = category;
    box.querySelector('h1').textContent = item.title;
    const link = box.querySelector('.category');
    link.textContent = category;
    link.href = `/demo/category/${encodeURIComponent(category)}`;
    box.querySelector('.tags').textContent = (item.tags || []).map((t) => `#${t}`).join(' ');
    box.querySelector('.price').textContent = money((item.attributes || {}).price);
    box.querySelector('.text').textContent = item.text || 'A product of the synthetic demo catalogue.';
    const notice = $('#added');
    $('#add-to-cart').addEventListener('click', () => {
      addToCart(item);
      notice.hidden = false;
      notice.textContent = 'Added to your cart.';
      refreshRecommendations();
    });
    $('#buy-now').addEventListener('click', () => {
      orderCompleted([{ ...productOf(item), quantity: 1 }]);
      notice.hidden = false;
      notice.textContent = 'Thank you! Your order is placed.';
      refreshRecommendations();
    });
    pt.track('Product Viewed', productOf(item));
  }

  // ---------------------------------------------------------------- cart page
  function cartPage() {
    const box = $('#cart-lines');
    if (!box) return;
    const render = () => {
      const lines = readCart();
      box.replaceChildren();
      if (!lines.length) box.innerHTML = '<p class="muted">Your cart is empty.</p>';
      lines.forEach((l) => {
        const row = document.createElement('p');
        row.className = 'line';
        const a = document.createElement('a');
        a.href = `/demo/products/${encodeURIComponent(l.product_id)}`;
        a.textContent = l.name || l.product_id;
        row.append(a, ` × ${l.quantity}  `, money((l.price || 0) * l.quantity));
        box.append(row);
      });
      $('#cart-total').textContent = money(lines.reduce((s, l) => s + (l.price || 0) * l.quantity, 0));
      $('#place-order').disabled = !lines.length;
    };
    render();
    $('#place-order').addEventListener('click', () => {
      orderCompleted(readCart());
      writeCart([]);
      render();
      $('#order-done').hidden = false;
      refreshRecommendations();
    });
    if (readCart().length) pt.track('Cart Viewed', { products: readCart() });
  }

  // ---------------------------------------------------------------- account and privacy
  function account() {
    const form = $('#signin');
    const who = $('#whoami');
    const show = () => {
      const id = pt.user().id;
      form.hidden = !!id;
      who.hidden = !id;
      who.replaceChildren();
      if (id) {
        const out = document.createElement('button');
        out.type = 'button';
        out.className = 'linkish';
        out.textContent = 'sign out';
        out.addEventListener('click', () => { pt.reset(); show(); pt.slots.refresh(); });
        who.append(`Signed in as ${id} · `, out);
      }
    };
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const id = form.user.value.trim();
      if (!id) return;
      // A shop's server logs the user in and hands the page the user id with its proof (identity verification)
      const res = await fetch('/demo/sign-in', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user_id: id }),
      });
      const signed = res.ok ? await res.json() : {};
      pt.identify(id, { name: id }, { userHash: signed.user_hash || undefined });
      pt.track('Signed In', { method: 'demo' });
      show();
    });
    show();
    $('#privacy-settings').addEventListener('click', () => pt.consent.show());
  }

  showCartCount();
  account();
  const failed = (err) => console.error('[demo]', err);
  categories().catch(failed);
  listing().catch(failed);
  productPage().catch(failed);
  cartPage();
})();
