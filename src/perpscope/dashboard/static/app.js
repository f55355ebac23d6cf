/* perpscope dashboard: draws the API's /api/v1/dashboard answer with Plotly (served locally, no CDN).
 * Two modes: live (PS.start(): pickers, fetches, polls the store version) and report
 * (PS.render(window.PERPSCOPE_DATA): a self-contained page with the data embedded). */
"use strict";
var PS = (function () {
  var API = "api/v1";
  var state = { version: null, timer: null, busy: false, pending: false, venues: [] };
  var params = new URLSearchParams(window.location.search);
  var token = params.get("token");

  function get(path) {
    var headers = token ? { Authorization: "Bearer " + token } : {};
    return fetch(path, { headers: headers }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
        return body;
      });
    });
  }

  function dates(ms) { return ms.map(function (t) { return new Date(t); }); }
  function has(col) { return col && col.some(function (v) { return v !== null && v !== undefined; }); }
  function neg(col) { return col.map(function (v) { return v === null ? null : -v; }); }
  function usd(x) {
    if (x === null || x === undefined) return "–";
    var a = Math.abs(x);
    if (a >= 1e9) return "$" + (x / 1e9).toPrecision(3) + "B";
    if (a >= 1e6) return "$" + (x / 1e6).toPrecision(3) + "M";
    if (a >= 1e3) return "$" + (x / 1e3).toPrecision(3) + "k";
    return "$" + x.toFixed(0);
  }
  function num(x) { return x.toLocaleString(undefined, { maximumFractionDigits: x >= 100 ? 2 : 6 }); }
  // HTML text and attribute values (single-quoted attributes included); home.js and flows.js use it too
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // The heatmap's visual language, the same as the HTML page's (perpscope/report/heat_scale.py: a test
  // holds these equal): colour stops, side colours, a log scale DECADES deep whose top is the
  // TOP_QUANTILE of the non-empty cells, and zone labels spread so that none overlaps another.
  var HEAT = {
    colourscale: [[0.0, "#160a2e"], [0.35, "#2e1f6e"], [0.55, "#1f5fa8"], [0.72, "#16a39a"], [0.85, "#6fd44f"],
      [0.95, "#e8f03a"], [1.0, "#fffbd0"]],
    long: "#e74c3c", short: "#2ecc71", decades: 3.0, topQuantile: 0.995, labelGapPx: 15, aheadShare: 0.12
  };
  // log10 colour scale of a book (rows of USD): zmin/zmax in log10 USD and colour-bar ticks at 1-2-5 steps
  function logScale(rows) {
    var pos = [];
    rows.forEach(function (r) { r.forEach(function (v) { if (v > 0) pos.push(v); }); });
    if (!pos.length) return { zmin: 0, zmax: 1, tickvals: [], ticktext: [] };
    pos.sort(function (a, b) { return a - b; });
    var q = (pos.length - 1) * HEAT.topQuantile, i = Math.floor(q);  // numpy's linear quantile
    var top = i + 1 < pos.length ? pos[i] + (pos[i + 1] - pos[i]) * (q - i) : pos[i];
    var zmax = Math.log10(top), zmin = Math.max(Math.log10(pos[0]), zmax - HEAT.decades);
    if (zmax - zmin < 0.3) zmin = zmax - 0.3;
    var vals = [], steps = zmax - zmin < 2.5 ? [1, 2, 5] : [1];
    for (var e = Math.floor(zmin); e <= Math.ceil(zmax); e++) {
      steps.forEach(function (m) { var v = Math.log10(m) + e; if (v >= zmin - 1e-9 && v <= zmax + 1e-9) vals.push(v); });
    }
    return { zmin: zmin, zmax: zmax, tickvals: vals, ticktext: vals.map(function (v) { return usd(Math.pow(10, v)); }) };
  }
  function logCells(rows) {
    return rows.map(function (r) { return r.map(function (v) { return v > 0 ? Math.log10(v) : null; }); });
  }
  // label positions no two closer than gap, inside [lo, hi], each moved as little as the sweep allows
  function spreadLabels(wanted, gap, lo, hi) {
    var n = wanted.length;
    if (!n) return [];
    if (n > 1) gap = Math.min(gap, (hi - lo) / (n - 1));
    var order = wanted.map(function (_, i) { return i; }).sort(function (a, b) { return wanted[a] - wanted[b]; });
    var ys = order.map(function (i) { return Math.min(Math.max(wanted[i], lo), hi); });
    for (var j = 1; j < n; j++) ys[j] = Math.max(ys[j], ys[j - 1] + gap);
    ys[n - 1] = Math.min(ys[n - 1], hi);
    for (j = n - 2; j >= 0; j--) ys[j] = Math.min(ys[j], ys[j + 1] - gap);
    var out = new Array(n);
    order.forEach(function (i, k) { out[i] = ys[k]; });
    return out;
  }
  function narrow(el) { return (el.clientWidth || window.innerWidth) < 600; }

  // a phone's two-a-row legend whose labels Plotly clipped at their entry's width ("deleveraging_flush",
  // a funding venue's name): laid out again one entry a row, the chart grown by the rows it adds
  function oneEntryARowIfCut(el) {
    var bg = el.querySelector(".legend .bg");
    if (!bg) return;
    var right = bg.getBoundingClientRect().right;
    var cut = Array.prototype.some.call(el.querySelectorAll(".legend .legendtext"), function (t) {
      return t.getBoundingClientRect().right > right + 0.5;
    });
    if (!cut) return;
    var n = el.querySelectorAll(".legend .traces").length, extra = 18 * (n - Math.ceil(n / 2));
    Plotly.relayout(el, { "legend.entrywidth": 1, "margin.b": el.layout.margin.b + extra,
      height: (el.layout.height || el.clientHeight) + extra });
  }

  function label(ms) {
    var h = ms / 3600000;
    return h >= 24 && h % 24 === 0 ? (h / 24) + "d" : h >= 1 ? h + "h" : (ms / 60000) + "m";
  }
  // one line per measure from the API's provenance: the stored series behind it and what is missing
  function provLine(p, measure) {
    var m = ((p || {}).measures || []).filter(function (x) { return x.measure === measure; })[0];
    if (!m) return "";
    if (m.missing) return "sources: none in this range";
    var src = m.sources.slice(0, 4).map(function (s) {
      var fmts = Array.from(new Set(s.sources.map(function (x) { return x.split(":")[1] || x; })));
      return s.venue + " " + s.canonical + " " + s.bar_lengths_ms.map(function (b) { return b ? label(b) : "events"; }).join("·") +
        " (" + fmts.join(", ") + ")";
    }).join("; ") + (m.sources.length > 4 ? " …" : "");
    var flags = [];
    if (m.gaps && m.gaps.length) flags.push(m.gaps.length + " gap(s), not drawn through");
    if (m.stale) flags.push("ends " + new Date(m.last_ms).toISOString().slice(0, 16).replace("T", " "));
    return "sources: " + src + (flags.length ? " — " + flags.join("; ") : "");
  }
  // quote currency of a canonical symbol (BTC-USDT-PERP → USDT): the unit of its prices
  function quoteOf(canonical) { var p = String(canonical || "").split("-"); return p.length > 1 ? p[1] : "quote"; }
  function setNote(id, text) { var n = document.getElementById("note-" + id); if (n && text) n.textContent = text; }

  var VIEWS = [
    ["price", "Price and liquidation heatmap", "tall"],
    ["zones", "Current hot zones", "table"],
    ["liqmap", "Liquidation map: the current book by price", ""],
    ["regimes", "Regime", "short"],
    ["oi", "Open interest", ""],
    ["funding", "Funding (per interval and annualized)", ""],
    ["funding_grid", "Funding across exchanges (% per 8 h)", ""],
    ["liquidations", "Liquidations by side", ""],
    ["perp_spot", "Perp / spot volume ratio", ""],
    ["ratios", "Long/short ratios", ""],
    ["cascade", "Cascade fragility curve", ""]
  ];

  function layout(root, methods) {
    root.innerHTML = "";
    VIEWS.forEach(function (v) {
      var m = (methods || {})[v[0] === "price" || v[0] === "liqmap" ? "heatmap" : v[0]] || {};
      var s = document.createElement("section");
      s.className = "view";
      s.id = "view-" + v[0];
      s.innerHTML = "<h2>" + esc(v[1]) + "</h2>" +
        "<details class='method'><summary>method</summary>" + esc(m.text || "") +
        (m.doc ? " <span class='note'>(" + esc(m.doc) + ")</span>" : "") + "</details>" +
        (v[2] === "table" ? "<div id='zones-table'></div>"
          : "<div class='chart " + v[2] + "' id='chart-" + v[0] + "'></div>") +
        "<p class='note' id='note-" + v[0] + "'></p>";
      root.appendChild(s);
    });
  }

  function plot(id, traces, lay, name) {
    var el = document.getElementById("chart-" + id);
    var base = {
      margin: { l: 60, r: 60, t: 10, b: 30 }, template: "plotly_white", hovermode: "x unified",
      legend: { orientation: "h", y: 1.12 }, xaxis: { type: "date" }
    };
    lay = Object.assign({}, lay || {});
    var timed = !lay.xaxis || lay.xaxis.type !== "linear";
    if (timed && state.xrange) {
      // every time panel: the same range and the same left/right margins, so one instant sits at one
      // pixel x in all of them (a colour bar beside a panel would narrow it: they lie flat on top)
      lay.xaxis = Object.assign({ type: "date" }, lay.xaxis || {}, { range: state.xrange, autorange: false });
      lay.margin = Object.assign({}, base.margin, lay.margin || {}, { l: 60, r: 60 });
    }
    if (narrow(el) && lay.showlegend !== false) {
      // on a phone the modebar (top right) would sit on a legend above the plot: the legend goes under it
      // at the bottom of the chart, in room made for it under the tick labels (and the axis title):
      // anchored to the container, so the legend's own push on the margins cannot bring it onto them
      var m = Object.assign({}, base.margin, lay.margin || {});
      // tick labels, then 18 px per row of two entries (at least three rows' room, as it always had)
      var entries = traces.filter(function (t) { return t.showlegend !== false && t.name; }).length;
      var room = Math.max(84, 30 + 18 * Math.ceil(entries / 2)) + (lay.xaxis && lay.xaxis.title ? 26 : 0);
      if (lay.height) lay.height += room;
      lay.margin = Object.assign({}, m, { b: m.b + room });
      lay.legend = Object.assign({}, lay.legend || {}, { orientation: "h", x: 0, xanchor: "left", yref: "container",
        // two a row, each half the plot area, in 9 px type (one a row where a label does not fit: below)
        y: 0, yanchor: "bottom", font: { size: 9 }, entrywidth: 0.5, entrywidthmode: "fraction" });
    }
    var conf = {
      displaylogo: false, responsive: true, showSendToCloud: false, modeBarButtonsToRemove: ["sendChartToCloud"],
      toImageButtonOptions: { format: "png", filename: name + "-" + id, width: 1400, height: el.clientHeight || 400 }
    };
    Plotly.react(el, traces, Object.assign(base, lay), conf);
    if (narrow(el) && lay.showlegend !== false) oneEntryARowIfCut(el);
    var n = traces.reduce(function (a, t) { return a + ((t.x || t.z || []).length || 0); }, 0);
    el.setAttribute("data-points", String(n));
    return el;
  }

  // a panel with no data keeps its heading and says why, instead of vanishing
  function hide(id, why) {
    var s = document.getElementById("view-" + id);
    var text = why || "no data for this symbol and range";
    s.classList.add("empty");
    s.setAttribute("data-hidden-reason", text);
    var p = document.createElement("p");
    p.className = "why-empty";
    p.textContent = "Not shown: " + text + ".";
    s.insertBefore(p, s.querySelector("details") || null);
  }

  function render(d) {
    var root = document.getElementById("views");
    layout(root, d.methods);
    var c = d.series.columns, t = dates(c.ts_ms), name = d.venue + "-" + d.canonical;
    document.title = "perpscope — " + d.venue + " " + d.canonical;
    var hm = d.heatmap || {};
    // one time range for every panel: the first bar to the last bar's close, and with a heatmap a strip
    // ahead of it where the current book and its hot zones are drawn (computed at that close, not before)
    var every = hm.every_ms || d.series.every_ms || (c.ts_ms.length > 1 ? c.ts_ms[1] - c.ts_ms[0] : 3600000);
    var t0 = c.ts_ms.length ? c.ts_ms[0] : 0, tEnd = c.ts_ms.length ? c.ts_ms[c.ts_ms.length - 1] + every : 0;
    var ahead = hm.available ? Math.max(HEAT.aheadShare * (tEnd - t0), 2 * every) : 0;
    state.xrange = c.ts_ms.length ? [new Date(t0 - every / 2), new Date(tEnd + ahead)] : null;
    var price = [];
    var lo = Math.min.apply(null, c.low.filter(function (v) { return v !== null; }));
    var hi = Math.max.apply(null, c.high.filter(function (v) { return v !== null; }));
    var ylo = lo * 0.97, yhi = hi * 1.03;
    var priceEl = document.getElementById("chart-price"), thin = narrow(priceEl);
    if (hm.available) {
      var sc = logScale(hm.usd), rowW = hm.price_mid.length > 1 ? hm.price_mid[1] - hm.price_mid[0] : 0;
      // a column is the book after its snapshot bar closed, until the next snapshot; the last one (the
      // current book) fills the strip ahead: edges, so that no cell reaches back before its bar
      var edges = hm.ts_ms.map(function (x) { return new Date(x + every); }).concat([new Date(tEnd + ahead)]);
      price.push({ type: "heatmap", x: edges, y: hm.price_mid, z: logCells(hm.usd), customdata: hm.usd,
        zmin: sc.zmin, zmax: sc.zmax, colorscale: HEAT.colourscale, name: "model book", zsmooth: false,
        colorbar: { orientation: "h", x: 0, xanchor: "left", y: 1.0, yanchor: "bottom", len: thin ? 0.9 : 0.45,
          thickness: thin ? 6 : 9, tickvals: sc.tickvals, ticktext: sc.ticktext, tickfont: { size: 9 },
          title: { text: "USD per " + num(rowW) + " row · log scale", side: "top", font: { size: 10 } } },
        hovertemplate: "%{x}<br>%{y:,.6~g}<br>%{customdata:$.3~s}<extra>book</extra>" });
      document.getElementById("note-price").textContent = "heatmap: " + hm.model + "; last close " +
        hm.last_close.toLocaleString() + "; bars " + d.series.every +
        "; colour: USD per price row, log scale; zones drawn from the bar they were computed at";
    } else {
      document.getElementById("note-price").textContent = "heatmap not shown: " + (hm.reason || "no model output");
    }
    var pl_ = provLine(d.series.provenance, "price");
    if (pl_) document.getElementById("note-price").textContent += " · price " + pl_;
    price.push({ type: "candlestick", x: t, open: c.open, high: c.high, low: c.low, close: c.close,
      name: "price", showlegend: false, increasing: { line: { color: hm.available ? "#f2f2f2" : "#2ecc71" } },
      decreasing: { line: { color: hm.available ? "#ff6b6b" : "#e74c3c" } } });
    var shapes = [], notes = [];
    if (hm.available && hm.zones && hm.zones.side && hm.zones.side.length) {
      var z0 = new Date(tEnd), z1 = new Date(tEnd + ahead), zs = hm.zones;
      var plotPx = Math.max((priceEl.clientHeight || 620) - 90, 100);
      var gap = HEAT.labelGapPx * (yhi - ylo) / plotPx;
      var mids = zs.side.map(function (_, i) { return (zs.price_lo[i] + zs.price_hi[i]) / 2; });
      var ys = spreadLabels(mids, gap, ylo + gap / 2, yhi - gap / 2);
      zs.side.forEach(function (s, i) {
        var col = s === "long" ? HEAT.long : HEAT.short;
        shapes.push({ type: "rect", xref: "x", x0: z0, x1: z1, y0: zs.price_lo[i], y1: zs.price_hi[i],
          line: { width: 1.5, color: col }, fillcolor: "rgba(0,0,0,0)" });
        if (Math.abs(ys[i] - mids[i]) > gap / 2) {
          shapes.push({ type: "line", xref: "x", x0: z0, x1: z1, y0: mids[i], y1: ys[i], line: { width: 1, color: col, dash: "dot" } });
        }
        notes.push({ x: z1, y: ys[i], xref: "x", yref: "y", xanchor: "right", yanchor: "middle", showarrow: false,
          // on a phone the strip is a few px wide: the rank only (the table below gives the USD)
          text: (s === "long" ? "L" : "S") + zs.rank[i] + (thin ? "" : " " + usd(zs.usd[i])), bgcolor: col, borderpad: 1,
          font: { size: thin ? 9 : 10, color: "#111" }, name: "zone-" + s + "-" + zs.rank[i],
          hovertext: s + " zone #" + zs.rank[i] + ": " + num(zs.price_lo[i]) + " – " + num(zs.price_hi[i]) +
            "<br>" + usd(zs.usd[i]) + " (" + (zs.distance_pct[i] >= 0 ? "+" : "") + zs.distance_pct[i].toFixed(2) + "%)" });
      });
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: z0, x1: z0, y0: 0, y1: 1,
        line: { width: 1, color: "#bbbbbb", dash: "dot" } });
    }
    plot("price", price, { xaxis: { type: "date", rangeslider: { visible: false }, showgrid: false },
      yaxis: { title: { text: "price (" + quoteOf(d.canonical) + ")" }, range: [ylo, yhi], showgrid: false },
      plot_bgcolor: hm.available ? HEAT.colourscale[0][1] : undefined, showlegend: false,
      margin: { t: hm.available ? 56 : 10, b: 40 }, shapes: shapes, annotations: notes, hovermode: "closest" }, name);

    // liquidation map: the current book (the heatmap's last column) by price, longs below the last close
    // and shorts above, on the heatmap's rows (the same USD per row as its colour bar), and cumulative
    // from the price outward (what a move to that price would liquidate)
    if (hm.available) {
      var n = hm.ts_ms.length - 1, px = hm.price_mid, cur = hm.usd.map(function (r) { return r[n] || 0; });
      var isL = px.map(function (p) { return p <= hm.last_close; });
      var cumL = new Array(px.length).fill(null), cumS = new Array(px.length).fill(null), acc = 0;
      for (var i = px.length - 1; i >= 0; i--) if (isL[i]) { acc += cur[i]; cumL[i] = acc; }
      acc = 0;
      for (i = 0; i < px.length; i++) if (!isL[i]) { acc += cur[i]; cumS[i] = acc; }
      var sideY = function (long) { return cur.map(function (v, k) { return isL[k] === long ? v : 0; }); };
      plot("liqmap", [
        { type: "bar", x: px, y: sideY(true), name: "longs", marker: { color: HEAT.long }, hovertemplate: "%{x:,.6~g}<br>%{y:$.3~s}<extra>longs</extra>" },
        { type: "bar", x: px, y: sideY(false), name: "shorts", marker: { color: HEAT.short }, hovertemplate: "%{x:,.6~g}<br>%{y:$.3~s}<extra>shorts</extra>" },
        { type: "scatter", mode: "lines", x: px, y: cumL, yaxis: "y2", name: "cum. longs", fill: "tozeroy",
          line: { color: HEAT.long }, hovertemplate: "%{x:,.6~g}<br>%{y:$.3~s}<extra>cumulative</extra>" },
        { type: "scatter", mode: "lines", x: px, y: cumS, yaxis: "y2", name: "cum. shorts", fill: "tozeroy",
          line: { color: HEAT.short }, hovertemplate: "%{x:,.6~g}<br>%{y:$.3~s}<extra>cumulative</extra>" }
      ], { xaxis: { type: "linear", anchor: "y2", title: { text: "price (" + quoteOf(d.canonical) + ")" }, range: [ylo, yhi] },
        yaxis: { domain: [0.52, 1], anchor: "x", title: { text: "USD per row" }, tickprefix: "$", exponentformat: "B" },
        yaxis2: { domain: [0, 0.42], anchor: "x", title: { text: "cumulative USD" }, tickprefix: "$", exponentformat: "B" },
        barmode: "stack", bargap: 0, hovermode: "closest", height: 360,
        shapes: [{ type: "line", xref: "x", yref: "paper", x0: hm.last_close, x1: hm.last_close, y0: 0, y1: 1,
          line: { width: 1, dash: "dot", color: "#555" } }] }, name);
      setNote("liqmap", "the current book of the heatmap above, summed per price row; cumulative: what a move " +
        "from the price to each level would liquidate (longs on the way down, shorts up); the leverage split is " +
        "drawn on the page perpscope heatmap SYMBOL --out map.html writes");
    } else { hide("liqmap", hm.reason); }

    // hot zones table
    var zt = document.getElementById("zones-table");
    if (hm.available && hm.zones && hm.zones.side && hm.zones.side.length) {
      var z = hm.zones, band = !!z.usd_p10, rows = "";
      z.side.forEach(function (s, i) {
        rows += "<tr><td class='side " + s + "'>" + s + "</td><td>" + z.rank[i] + "</td><td>" +
          num(z.price_lo[i]) + " – " + num(z.price_hi[i]) + "</td><td>" + usd(z.usd[i]) +
          "</td><td>" + (z.distance_pct[i] >= 0 ? "+" : "") + z.distance_pct[i].toFixed(2) + "%</td>" +
          (band ? "<td>" + usd(z.usd_p10[i]) + " – " + usd(z.usd_p90[i]) + "</td>" : "") + "</tr>";
      });
      zt.innerHTML = "<table class='zones'><thead><tr><th>side</th><th>#</th><th>zone (price)</th><th>USD</th>" +
        "<th>distance</th>" + (band ? "<th>p10–p90</th>" : "") + "</tr></thead><tbody>" + rows + "</tbody></table>";
      zt.setAttribute("data-rows", String(z.side.length));
    } else { hide("zones", hm.reason); }

    // regimes band
    var rg = d.regimes || {};
    if (rg.available && rg.runs && rg.runs.length) {
      var names = [], traces = {};
      rg.runs.forEach(function (r) {
        if (!traces[r.regime]) { traces[r.regime] = { type: "bar", x: [], y: [], width: [], name: r.regime,
          marker: { color: (rg.colours || {})[r.regime] || "#9aa1ab" },  // the API's one palette
          text: [], textposition: "none", hovertemplate: "%{text}<extra>%{fullData.name}</extra>", offset: 0 }; names.push(r.regime); }
        var tr = traces[r.regime];
        tr.x.push(new Date(r.start_ms)); tr.y.push(1); tr.width.push(r.end_ms - r.start_ms);
        tr.text.push(r.regime + ": " + (r.evidence || ""));
      });
      plot("regimes", names.map(function (n) { return traces[n]; }),
        { barmode: "overlay", bargap: 0, yaxis: { visible: false }, height: 160, showlegend: true, hovermode: "closest",
          // the same time span as the price panel above it, so a band sits under the bars it describes
          xaxis: { type: "date", range: t.length ? [t[0], t[t.length - 1]] : undefined } }, name);
      // the latest bar's reading, as `perpscope regimes` prints it: label, since when, evidence, flows
      var nw = rg.now;
      if (nw) {
        var utc = function (ms) { return new Date(ms).toISOString().slice(0, 16).replace("T", " "); };
        setNote("regimes", "Now (bar of " + utc(nw.ts_ms) + " UTC): " + String(nw.regime).replace(/_/g, " ") +
          (nw.since_ms !== null ? " since " + utc(nw.since_ms) : "") + " — " + (nw.evidence || "") +
          (nw.flow_evidence ? ". Flows: " + nw.flow_evidence : "") +
          (nw.breakers_engaged ? ". Breakers engaged: " + nw.breakers_engaged : "") + ".");
      }
    } else { hide("regimes", rg.reason); }

    var prov = d.series.provenance, bv = d.by_venue || {};
    if (bv.open_interest) {
      // one band per venue, stacked (largest at the bottom), and the scope's total as a line
      var oc = bv.open_interest.columns, ot = dates(oc.ts_ms);
      var tr = bv.open_interest.venues.map(function (v) {
        return { type: "scatter", mode: "lines", stackgroup: "oi", x: ot, y: oc[v], name: v, line: { width: 0.5 } };
      });
      if (has(c.oi_usd)) tr.push({ type: "scatter", mode: "lines", x: t, y: c.oi_usd, name: "total (scope)",
        line: { color: "#111", width: 1.5, dash: "dot" } });
      // the legend under the chart: eight venue bands above it would cover the plot on a phone
      plot("oi", tr, { yaxis: { title: { text: "USD" } }, legend: { orientation: "h", y: -0.15, yanchor: "top",
        font: { size: 10 } }, margin: { l: 60, r: 20, t: 10, b: 30 } }, name);
      setNote("oi", provLine(prov, "open_interest"));
    } else if (has(c.oi_usd)) {
      plot("oi", [{ type: "scatter", mode: "lines", x: t, y: c.oi_usd, name: "OI USD", line: { color: "#2c7fb8" } }],
        { yaxis: { title: { text: "USD" } } }, name);
      setNote("oi", provLine(prov, "open_interest"));
    } else { hide("oi", "no open interest in the store for this range"); }

    if (has(c.funding_rate)) {
      plot("funding", [
        { type: "bar", x: t, y: c.funding_rate.map(function (v) { return v === null ? null : v * 100; }),
          name: "rate per interval (%)", marker: { color: "#8e44ad" } },
        { type: "scatter", mode: "lines", x: t, y: c.funding_apr.map(function (v) { return v === null ? null : v * 100; }),
          name: "annualized (% APR)", yaxis: "y2", line: { color: "#e67e22" } }
      ], { yaxis: { title: { text: "% per interval" } },
        yaxis2: { title: { text: "% APR" }, overlaying: "y", side: "right" } }, name);
      setNote("funding", provLine(prov, "funding"));
    } else if (has(c.funding_sampled_8h)) {
      // several venues: the OI-weighted rate per 8 h (no settlement of its own to annualize per interval)
      document.querySelector("#view-funding h2").textContent = "Funding across the venues (% per 8 h)";
      plot("funding", [{ type: "scatter", mode: "lines", x: t, y: c.funding_sampled_8h.map(function (v) {
        return v === null ? null : v * 100; }), name: "rate per 8 h (%), OI-weighted", line: { color: "#8e44ad" } }],
        { yaxis: { title: { text: "% per 8 h" } } }, name);
      setNote("funding", provLine(prov, "funding"));
    } else { hide("funding", "no funding in the store for this range"); }

    if (bv.funding) {
      var fc = bv.funding.columns, vs = bv.funding.venues;
      plot("funding_grid", [{ type: "heatmap", x: dates(fc.ts_ms), y: vs, zmid: 0, colorscale: "RdBu",
        z: vs.map(function (v) { return fc[v].map(function (x) { return x === null ? null : x * 100; }); }),
        colorbar: { title: { text: "% / 8h", side: "right" }, orientation: "h", x: 0, xanchor: "left", y: 1.0,
          yanchor: "bottom", len: 0.45, thickness: 8, tickfont: { size: 9 } },
        hovertemplate: "%{y}<br>%{x}<br>%{z:.4f}% per 8 h<extra></extra>" }],
        { hovermode: "closest", margin: { t: 40 }, yaxis: { tickfont: { size: 9 } } }, name);
    } else { hide("funding_grid", "one venue's funding only: pick several venues or all"); }

    if (has(c.liq_long_usd) || has(c.liq_short_usd)) {
      plot("liquidations", [
        { type: "bar", x: t, y: neg(c.liq_long_usd || []), name: "longs liquidated", marker: { color: "#e74c3c" } },
        { type: "bar", x: t, y: c.liq_short_usd || [], name: "shorts liquidated", marker: { color: "#2ecc71" } }
      ], { barmode: "relative", yaxis: { title: { text: "USD (longs below 0)" } } }, name);
      setNote("liquidations", provLine(prov, "liquidations"));
    } else { hide("liquidations", "no liquidations recorded for this range"); }

    if (has(c.perp_spot_ratio)) {
      plot("perp_spot", [{ type: "scatter", mode: "lines", x: t, y: c.perp_spot_ratio, name: "perp/spot volume" }],
        {}, name);
    } else { hide("perp_spot", "no spot candles in the store for this pair"); }

    var ls = Object.keys(c).filter(function (k) { return k.indexOf("ls_") === 0 && has(c[k]); });
    if (ls.length) {
      plot("ratios", ls.map(function (k) { return { type: "scatter", mode: "lines", x: t, y: c[k], name: k.slice(3) }; }),
        {}, name);
    } else { hide("ratios", "no long/short ratios in the store for this range"); }

    var cs = d.cascade || {};
    if (cs.available && cs.columns) {
      var cc = cs.columns, x = cc.shock_pct;
      // p10–p90 over the Monte Carlo paths as a band, the median as the line
      plot("cascade", [
        { type: "scatter", mode: "lines", x: x, y: cc.liq_usd_p90, line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
        { type: "scatter", mode: "lines", x: x, y: cc.liq_usd_p10, fill: "tonexty", fillcolor: "rgba(52,152,219,0.25)",
          line: { width: 0 }, name: "p10–p90 over paths" },
        { type: "scatter", mode: "lines+markers", x: x, y: cc.liq_usd_p50, name: "median liquidated",
          line: { color: "#2c3e50" }, hovertemplate: "shock %{x:+.1f}%<br>%{y:,.0f} USD<extra></extra>" }
      ], { xaxis: { type: "linear", title: { text: "shock (% of price): down moves liquidate longs, up moves shorts" } },
        yaxis: { title: { text: "USD liquidated" } }, hovermode: "closest" }, name);
    } else { hide("cascade", cs.reason); }
    root.setAttribute("data-rendered", d.venue + ":" + d.canonical);
  }

  // an error for the symbol and range asked: the old charts go (they are not of these dates), the
  // message and what the store holds of the symbol (records, venues, bar lengths, from → to) come instead
  function problem(message, symbol, venue) {
    var root = document.getElementById("views");
    root.removeAttribute("data-rendered");
    root.innerHTML = "<div id='problem' role='alert'><strong>Nothing to draw:</strong> " + esc(message) +
      "<div class='scroll' id='coverage'>reading the store's coverage of " + esc(symbol) + " …</div></div>";
    var coin = String(symbol).split("-")[0];
    get(API + "/coverage").then(function (body) {
      var rows = (body.coverage || []).filter(function (r) { return String(r.canonical).split("-")[0] === coin; });
      var el = document.getElementById("coverage");
      if (!el) return;
      if (!rows.length) { el.textContent = "The store holds nothing of " + coin + "."; return; }
      el.innerHTML = "What the store holds of " + esc(coin) + " (" + esc(venue) + " asked):<table><tr><th>record</th>" +
        "<th>venue</th><th>symbol</th><th>series</th><th>from (UTC)</th><th>to (UTC)</th><th>rows</th></tr>" +
        // the venue asked first, then the others; at most 40 lines (perpscope store info --coin lists all)
        rows.sort(function (a, b) { return (b.venue === venue) - (a.venue === venue); }).slice(0, 40).map(function (r) {
          return "<tr><td>" + esc(r.record) + "</td><td>" + esc(r.venue) + "</td><td>" + esc(r.canonical) + "</td><td>" +
            esc(r.series || "") + "</td><td>" + isoDay(r.first_ms) + "</td><td>" + isoDay(r.last_ms) +
            "</td><td>" + (r.rows === undefined ? "" : Number(r.rows).toLocaleString("en-US")) + "</td></tr>";
        }).join("") + "</table>" + (rows.length > 40 ? "<p class='note'>… " + (rows.length - 40) +
          " more: <code>perpscope store info --coin " + esc(coin) + "</code></p>" : "");
    }).catch(function () {});
  }

  function status(text) { var s = document.getElementById("status"); if (s) s.textContent = text; }

  function isoDay(ms) { return new Date(ms).toISOString().slice(0, 10); }

  function load() {
    if (state.busy) { state.pending = true; return Promise.resolve(); }
    state.busy = true;
    var fromEl = document.getElementById("from"), toEl = document.getElementById("to");
    var v = document.getElementById("venue").value, s = document.getElementById("symbol").value;
    var f = fromEl.value, to = toEl.value;
    var q = "?venue=" + encodeURIComponent(v) + "&symbol=" + encodeURIComponent(s);
    if (f) q += "&from=" + encodeURIComponent(f);
    if (to) q += "&to=" + encodeURIComponent(to);
    status("loading " + v + " " + s + " …");
    return get(API + "/dashboard" + q).then(function (d) {
      render(d);
      // the venues with candles, then every other venue holding data for this coin (OI, funding only)
      if (d.venues && d.venues.length) {
        fillVenues(state.venues.concat(d.venues.filter(function (x) { return state.venues.indexOf(x) < 0; })), v);
      }
      // show the range the server chose, unless the user edited the fields meanwhile
      if (fromEl.value === f && toEl.value === to) { fromEl.value = isoDay(d.from_ms); toEl.value = isoDay(d.to_ms); }
      status(v + " " + s + " · " + d.series.rows + " bars of " + d.series.every + " · updated " +
        new Date().toISOString().slice(11, 19) + " UTC");
    }).catch(function (e) { status("error: " + e.message); problem(e.message, s, v); })
      .then(function () {
        state.busy = false;
        if (state.pending) { state.pending = false; load(); }
      });
  }

  function fillVenues(venues, keep) {
    var vs = document.getElementById("venue");
    vs.innerHTML = venues.map(function (v) {
      return "<option value='" + esc(v) + "'>" + (v === "all" ? "all venues" : esc(v)) + "</option>"; }).join("");
    vs.value = venues.indexOf(keep) >= 0 ? keep : venues[0];
  }

  function fillSymbols(all, venue, keep) {
    var sel = document.getElementById("symbol");
    var list = all.filter(function (r) { return r.venue === venue; });
    if (!list.length) {  // all venues, or a venue with OI/funding but no candles: every symbol with a price
      var seen = {};
      list = all.filter(function (r) { if (seen[r.canonical]) return false; seen[r.canonical] = 1; return true; });
    }
    sel.innerHTML = list.map(function (r) { return "<option>" + esc(r.canonical) + "</option>"; }).join("");
    if (keep && list.some(function (r) { return r.canonical === keep; })) sel.value = keep;
  }

  function poll() {
    if (!document.getElementById("live").checked) return;
    get(API + "/version").then(function (v) {
      if (state.version !== null && v.store_version !== state.version) {
        document.getElementById("to").value = "";  // new data: follow the end of the series
        load();
      }
      state.version = v.store_version;
    }).catch(function () {});
  }

  function start() {
    get(API + "/symbols").then(function (body) {
      var all = body.symbols;
      if (!all.length) { status("the store holds no candles: import some (perpscope import PATH)"); return; }
      var venues = ["all"].concat(Array.from(new Set(all.map(function (r) { return r.venue; }))));
      state.venues = venues;
      var vs = document.getElementById("venue");
      fillVenues(venues, params.get("venue") || venues[1]);
      fillSymbols(all, vs.value, params.get("symbol") || "BTC-USDT-PERP");
      if (params.get("from")) document.getElementById("from").value = params.get("from");
      if (params.get("to")) document.getElementById("to").value = params.get("to");
      vs.onchange = function () { fillSymbols(all, vs.value, document.getElementById("symbol").value); clearRange(); load(); };
      document.getElementById("symbol").onchange = function () { clearRange(); load(); };
      document.getElementById("apply").onclick = load;
      load();
      var every = Number(params.get("poll") || 10) * 1000;
      state.timer = setInterval(poll, Math.max(every, 1000));
      poll();
    }).catch(function (e) { status("error: " + e.message); problem(e.message, s, v); });
  }

  function clearRange() { document.getElementById("from").value = ""; document.getElementById("to").value = ""; }

  return { start: start, render: render, get: get, esc: esc };
})();
