/* perpscope dashboard home: the screener of every perp in the store (the API's /api/v1/screener answer):
 * price and its 24 h change, funding and APR, OI and its 1-day change, liquidations by side over 24 h,
 * the regime now and how fresh the data is. A row opens that symbol's view (?venue=…&symbol=…).
 * On a phone the table becomes one card per symbol (home.css). */
"use strict";
var PSHome = (function () {
  var params = new URLSearchParams(window.location.search);
  var token = params.get("token");

  function isHome() { return !params.get("symbol"); }

  var get = PS.get, esc = PS.esc;  // app.js, loaded first
  var NA = "–";
  function usd(x) {
    if (x === null || x === undefined) return NA;
    var a = Math.abs(x);
    if (a >= 1e9) return "$" + (x / 1e9).toPrecision(3) + "B";
    if (a >= 1e6) return "$" + (x / 1e6).toPrecision(3) + "M";
    if (a >= 1e3) return "$" + (x / 1e3).toPrecision(3) + "k";
    return "$" + x.toFixed(0);
  }
  function pct(x, digits) {
    if (x === null || x === undefined) return NA;
    return (x > 0 ? "+" : "") + (x * 100).toFixed(digits === undefined ? 1 : digits) + "%";
  }
  // a price with the digits it needs: 64,592.2 · 2,123.98 · 0.09272
  function price(x) {
    if (x === null || x === undefined) return NA;
    var d = x >= 1000 ? 2 : x >= 1 ? 4 : 6;
    return x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: x >= 1000 ? 1 : 2 });
  }
  function sign(x) { return x === null || x === undefined ? "na" : x > 0 ? "pos" : x < 0 ? "neg" : ""; }
  function hours(ms) { var h = ms / 3600000; return h >= 24 && h % 24 === 0 ? h / 24 + "d" : h + "h"; }
  function utc(ms) { return new Date(ms).toISOString().slice(0, 16).replace("T", " "); }
  function age(ms) {
    var h = (Date.now() - ms) / 3600000;
    if (h < 1) return Math.max(0, Math.round(h * 60)) + " min ago";
    if (h < 48) return Math.round(h) + " h ago";
    return Math.round(h / 24) + " d ago";
  }
  // a funding rate per its interval, as % with 4 decimals (0.0100%/8h)
  function rate(r) {
    if (r.funding_rate !== null && r.funding_rate !== undefined) {
      return pct(r.funding_rate, 4) + "/" + hours(r.funding_interval_ms || 28800000);
    }
    if (r.funding_sampled_8h !== null && r.funding_sampled_8h !== undefined) return pct(r.funding_sampled_8h, 4) + "/8h";
    return NA;
  }

  function liq(x, side) { return "<span class='" + (x === null || x === undefined ? "na" : side) + "'>" + usd(x) + "</span>"; }

  // header, the cell's data-label on a phone card, and how a row's value reads
  var COLUMNS = [
    ["symbol", function (r) { return "<a href='" + link(r) + "'>" + esc(r.canonical) + "</a> <span class='venue'>" + esc(r.venue) + "</span>"; }],
    ["price", function (r) { return price(r.price); }],
    ["24h", function (r) { return "<span class='" + sign(r.change_24h) + "'>" + pct(r.change_24h) + "</span>"; }],
    ["funding", function (r) { return "<span class='" + sign(r.funding_rate === null ? r.funding_sampled_8h : r.funding_rate) + "'>" + rate(r) + "</span>"; }],
    ["APR", function (r) { return "<span class='" + sign(r.funding_apr) + "'>" + pct(r.funding_apr) + "</span>"; }],
    ["OI", function (r) { return usd(r.oi_usd); }],
    ["OI 1d", function (r) { return "<span class='" + sign(r.oi_change_1d) + "'>" + pct(r.oi_change_1d) + "</span>"; }],
    ["liq. longs 24h", function (r) { return liq(r.liq_long_usd_24h, "long"); }],
    ["liq. shorts 24h", function (r) { return liq(r.liq_short_usd_24h, "short"); }],
    ["regime now", function (r, colours) {
      if (!r.regime) return "<span class='na' title='" + esc(r.evidence || "") + "'>" + NA + "</span>";
      return "<span class='regime' style='border-color:" + esc(colours[r.regime] || "#9aa1ab") + "' title='" +
        esc(r.evidence || "") + "'>" + esc(r.regime.replace(/_/g, " ")) + "</span>";
    }],
    ["data to", function (r) {
      var stale = Date.now() - r.last_ms > 2 * 86400000;
      return "<span class='" + (stale ? "stale" : "fresh") + "' title='" + utc(r.last_ms) + " UTC'>" + utc(r.last_ms).slice(0, 10) +
        " <small>" + age(r.last_ms) + "</small></span>";
    }]
  ];

  function link(r) {
    var q = "?venue=" + encodeURIComponent(r.venue) + "&symbol=" + encodeURIComponent(r.canonical);
    return q + (token ? "&token=" + encodeURIComponent(token) : "");
  }

  function render(d, colours) {
    var el = document.getElementById("home");
    var head = "<tr>" + COLUMNS.map(function (c) { return "<th>" + esc(c[0]) + "</th>"; }).join("") + "</tr>";
    var rows = d.rows.map(function (r) {
      if (r.error) {
        return "<tr class='error' data-symbol='" + esc(r.canonical) + "'><td data-label='symbol'>" + COLUMNS[0][1](r) +
          "</td><td colspan='" + (COLUMNS.length - 1) + "' class='why'>" + esc(r.error) + "</td></tr>";
      }
      return "<tr data-symbol='" + esc(r.canonical) + "' data-href='" + esc(link(r)) + "'>" + COLUMNS.map(function (c) {
        return "<td data-label='" + esc(c[0]) + "'>" + c[1](r, colours) + "</td>";
      }).join("") + "</tr>";
    }).join("");
    var more = d.without_price ? "<p class='note'>" + d.without_price + " more perp(s) hold open interest or funding " +
      "but no candles, so no price: <code>perpscope store info</code> lists them.</p>" : "";
    el.innerHTML = "<h2>Every perp in the store</h2>" +
      "<p class='note'>24h: change of the last close over 24 h · funding: the last rate per its interval (or, " +
      "across venues, sampled per 8 h), APR = rate × settlements per year · OI 1d: change over a day · liq.: " +
      "liquidated over the last 24 h (– = none recorded) · regime: the reading of the last bar (hover for " +
      "its evidence) · data to: the end of the last candle. Click a row for the symbol's charts.</p>" +
      (d.rows.length ? "<table class='screener'><thead>" + head + "</thead><tbody>" + rows + "</tbody></table>"
        : "<p class='empty'>The store holds no candles: import some (<code>perpscope import PATH</code>).</p>") + more;
    Array.prototype.forEach.call(el.querySelectorAll("tr[data-href]"), function (tr) {
      tr.addEventListener("click", function (e) {
        if (e.target.tagName !== "A") window.location.search = tr.getAttribute("data-href");
      });
    });
    el.setAttribute("data-rows", String(d.rows.length));
  }

  function start() {
    document.getElementById("pickers").hidden = true;
    document.getElementById("views").hidden = true;
    var el = document.getElementById("home");
    el.hidden = false;
    var status = document.getElementById("status");
    status.textContent = "loading the screener …";
    get("api/v1/screener").then(function (d) {
      render(d, d.colours || {});
      status.textContent = d.rows.length + " perp(s) · updated " + new Date().toISOString().slice(11, 19) + " UTC";
    }).catch(function (e) {
      el.innerHTML = "<p class='error'>The screener could not be read: " + esc(e.message) + "</p>";
      status.textContent = "error";
    });
  }

  return { isHome: isHome, start: start };
})();
