/* perpscope dashboard: the flows panel — US spot ETF flows, stablecoin supply change, CME positioning and
 * the perp/spot volume ratio of the shown coin, on the price chart's time axis, from /api/v1/flows.
 * Kept apart from app.js: it watches the main views render (their data-rendered attribute), reads the
 * pickers and the price chart's x range, and draws into its own section. Report pages call
 * PSFlows.render(data, xrange) with an embedded /api/v1/flows answer. */
"use strict";
var PSFlows = (function () {
  var API = "api/v1";
  var token = new URLSearchParams(window.location.search).get("token");
  var seq = 0;

  var esc = PS.esc;  // app.js, loaded first
  function col(d, name) { return d.rows.map(function (r) { return r[name]; }); }
  function has(v) { return v.some(function (x) { return x !== null && x !== undefined; }); }
  function scale(v, k) { return v.map(function (x) { return x === null || x === undefined ? null : x * k; }); }

  function section() {
    var s = document.getElementById("view-flows");
    if (s) return s;
    s = document.createElement("section");
    s.className = "view";
    s.id = "view-flows";
    s.innerHTML = "<h2>Flows: ETF, stablecoins, CME, perp/spot</h2>" +
      "<details class='method'><summary>method</summary>Each bar shows the last value public by its end: ETF " +
      "net flow of all US spot Bitcoin ETFs per NYSE session (known at the 16:00 New York close; weekends and " +
      "holidays are no bar, not a zero) and its 5-session sum; stablecoin supply (USDT + USDC) change over 7 " +
      "days; CME Bitcoin positioning (CFTC TFF, in BTC, from the Friday release): leveraged funds net and asset " +
      "managers net; perp/spot volume over 24 h on one venue (dashed: 5×, where spot is below 0.2 of perp " +
      "volume). <span class='note'>(docs/metrics.md, Flows)</span></details>" +
      "<p class='note' id='flows-evidence'></p>" +
      "<div class='chart flows' id='chart-flows'></div>" +
      "<p class='note' id='note-flows'></p>";
    // the last of the views: re-drawn views (a new symbol) clear it, and load() adds it again
    document.getElementById("views").appendChild(s);
    return s;
  }

  function render(d, xrange) {
    var s = section();
    var t = col(d, "ts_ms").map(function (x) { return new Date(x); });
    var etf = col(d, "etf_flow_usd"), etf5 = col(d, "etf_flow_5d_usd");
    var st7 = col(d, "stablecoin_7d"), lev = col(d, "cme_lev_net_base"), am = col(d, "cme_am_net_base");
    var ratio = col(d, "perp_spot_ratio");
    var panels = [
      ["ETF flow, US$M (line: 5 sessions)", has(etf) || has(etf5)],
      ["stablecoins Δ7d, %", has(st7)],
      ["CME net, kBTC (red lev. funds, green AM)", has(lev) || has(am)],
      ["perp/spot 24h, × (dashed: 5×)", has(ratio)]
    ].filter(function (p) { return p[1]; });
    var ev = document.getElementById("flows-evidence");
    ev.textContent = d.evidence ? "Flow evidence at " + new Date(d.evidence.t_ms).toISOString().slice(0, 16).replace("T", " ") +
      " UTC: " + d.evidence.text : "";
    document.getElementById("note-flows").textContent = (d.notes || []).join("; ");
    s.hidden = false;
    if (!panels.length || !t.length) {
      s.setAttribute("data-hidden-reason", "no flow data in this range");
      document.getElementById("chart-flows").innerHTML = "<p class='note'>No flow records in this range.</p>";
      return;
    }
    var axis = {}, traces = [], n = panels.length, gap = 0.06, h = (1 - gap * (n - 1)) / n;
    panels.forEach(function (p, i) {
      var k = i === 0 ? "" : String(i + 1), top = 1 - i * (h + gap);
      axis["yaxis" + k] = { domain: [top - h, top], zeroline: true, zerolinecolor: "#bbb", tickfont: { size: 10 },
        automargin: false };
      axis["xaxis" + k] = { type: "date", anchor: "y" + k, matches: i ? "x" : undefined, showticklabels: i === n - 1 };
      if (xrange) axis["xaxis" + k].range = xrange;
      var ax = { xaxis: "x" + k, yaxis: "y" + k };
      var add = function (tr) { traces.push(Object.assign(tr, ax)); };
      if (p[0].indexOf("ETF") === 0) {
        add({ type: "bar", x: t, y: scale(etf, 1e-6), name: "ETF daily", marker: { color: etf.map(function (v) { return v < 0 ? "#c0392b" : "#1e8449"; }) } });
        add({ type: "scatter", mode: "lines", x: t, y: scale(etf5, 1e-6), name: "ETF 5 sessions", line: { color: "#555", width: 1.5 }, connectgaps: true });
      } else if (p[0].indexOf("stable") === 0) {
        add({ type: "scatter", mode: "lines", x: t, y: scale(st7, 100), name: "stablecoins Δ7d", line: { color: "#2471a3" } });
      } else if (p[0].indexOf("CME") === 0) {
        add({ type: "scatter", mode: "lines", x: t, y: scale(lev, 1e-3), name: "CME lev. funds net", line: { color: "#c0392b", shape: "hv" } });
        add({ type: "scatter", mode: "lines", x: t, y: scale(am, 1e-3), name: "CME asset mgrs net", line: { color: "#1e8449", shape: "hv" } });
      } else {
        add({ type: "scatter", mode: "lines", x: t, y: ratio, name: "perp/spot 24h", line: { color: "#7d3c98" } });
        add({ type: "scatter", mode: "lines", x: [t[0], t[t.length - 1]], y: [5, 5], name: "spot/perp 0.2",
          line: { color: "#999", dash: "dash", width: 1 }, hoverinfo: "skip" });
      }
      axis.annotations = (axis.annotations || []).concat([{ text: p[0], xref: "paper", yref: "paper", x: 0, y: top,
        xanchor: "left", yanchor: "bottom", xshift: -50, showarrow: false, font: { size: 11, color: "#444" } }]);
    });
    var el = document.getElementById("chart-flows");
    var lay = Object.assign({ margin: { l: 60, r: 60, t: 18, b: 30 }, template: "plotly_white", hovermode: "x unified",
      showlegend: false, height: 130 * n + 60, bargap: 0.15 }, axis);
    Plotly.react(el, traces, lay, { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendChartToCloud"],
      toImageButtonOptions: { format: "png", filename: "flows-" + (d.coin || ""), width: 1400, height: lay.height } });
    el.setAttribute("data-points", String(traces.reduce(function (a, tr) { return a + tr.x.length; }, 0)));
    s.setAttribute("data-rendered", d.coin + ":" + (d.rows.length || 0));
  }

  function load() {
    var v = document.getElementById("venue"), sym = document.getElementById("symbol");
    if (!v || !sym || !sym.value) return;
    var price = document.getElementById("chart-price");
    var xr = price && price.layout && price.layout.xaxis && price.layout.xaxis.range;
    var f = document.getElementById("from").value, to = document.getElementById("to").value;
    var venue = v.value === "all" ? "binance" : v.value;
    var q = "?symbol=" + encodeURIComponent(sym.value) + "&venue=" + encodeURIComponent(venue);
    if (f) q += "&from=" + encodeURIComponent(f);
    if (to) q += "&to=" + encodeURIComponent(to);
    var mine = ++seq;
    var headers = token ? { Authorization: "Bearer " + token } : {};
    fetch(API + "/flows" + q, { headers: headers }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      if (mine !== seq) return;  // a newer symbol or range was asked meanwhile
      if (!res.ok) {
        var s = section();
        s.hidden = true;
        s.setAttribute("data-hidden-reason", res.body.error || "no flows");
        return;
      }
      render(res.body, xr ? xr.slice() : null);
    }).catch(function () {});
  }

  function start() {
    var views = document.getElementById("views");
    if (!views || !window.MutationObserver) return;
    // the main views render (data-rendered set) after the pickers hold the shown symbol and range
    new MutationObserver(function () { setTimeout(load, 0); })
      .observe(views, { attributes: true, attributeFilter: ["data-rendered"] });
  }

  return { start: start, render: render };
})();
