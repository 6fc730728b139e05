// What every Crocevia page shares: the JSON API client and the one way text reaches the page.

// `api(path, opts)` sends the bearer token, throws the API's own error message, calls
// `unauthorized` on a 401 with a token (expired or revoked), and with `opts.raw` returns
// the Response itself (downloads). A FormData body goes out as multipart.
export function makeApi(token, unauthorized) {
  return async function api(path, opts = {}) {
    const bearer = token();
    const headers = { ...(opts.body instanceof FormData ? {} : { "Content-Type": "application/json" }),
      ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}) };
    const r = await fetch(path, { ...opts, headers });
    if (r.status === 401 && bearer) { unauthorized(); throw new Error("unauthorized"); }
    if (opts.raw) { if (!r.ok) throw new Error(r.statusText); return r; }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
    return body;
  };
}

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text; // always text, never HTML
  return e;
}
