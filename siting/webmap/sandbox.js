/* The planner's sandbox (沙盘): change the homes of a plan and see its coverage at once, offline.
 * Data: the run's communities, candidate sites and pairs within the standard (siting.sandbox),
 * embedded in the page as JSON. Coverage is counted exactly as `siting evaluate` counts it: a
 * community is covered when an open site has a pair with it. Plain ES5, no library but Leaflet. */
(function () {
  "use strict";
  var map = window.__sitingMap;
  var D = JSON.parse(document.getElementById("siting-sandbox-data").textContent);

  function decode(b64, Type) {
    var bytes = atob(b64), buffer = new ArrayBuffer(bytes.length), view = new Uint8Array(buffer);
    for (var i = 0; i < bytes.length; i++) view[i] = bytes.charCodeAt(i);
    return new Type(buffer);
  }
  function codes(b64) {
    var at = decode(b64, Uint32Array), out = new Array(at.length);
    for (var i = 0; i < at.length; i++) out[i] = D.unitCodes[at[i]];
    return out;
  }
  var raw = D.communities, rawSites = D.sites;
  var C = {code: raw.code, name: raw.name, township: codes(raw.township), county: codes(raw.county),
    prefecture: codes(raw.prefecture), children: decode(raw.children, Float64Array),
    priority: decode(raw.priority, Float64Array), lon: decode(raw.lon, Float32Array), lat: decode(raw.lat, Float32Array)};
  var siteCommunity = decode(rawSites.community, Int32Array);
  var S = {id: rawSites.id.map(function (id, s) { return id === null ? raw.code[siteCommunity[s]] : id; }),
    existing: decode(rawSites.existing, Uint8Array), planned: decode(rawSites.planned, Uint8Array),
    cost: decode(rawSites.cost, Float64Array), lon: decode(rawSites.lon, Float32Array), lat: decode(rawSites.lat, Float32Array),
    community: []};
  for (var q = 0; q < siteCommunity.length; q++) S.community.push(siteCommunity[q] >= 0 ? raw.code[siteCommunity[q]] : null);
  var nC = C.code.length, nS = S.id.length;
  var indptr = decode(D.pairs.indptr, Uint32Array);
  var indices = decode(D.pairs.indices, D.pairs.wide ? Uint32Array : Uint16Array);
  var rawCost = decode(D.pairs.cost, Uint16Array), cost = new Float32Array(rawCost.length);
  for (q = 0; q < rawCost.length; q++) cost[q] = rawCost[q] / D.pairs.scale;
  var units = D.units; // code -> name
  var LEVELS = ["prefecture", "county", "township"];

  // Site -> communities it covers (the transpose of the pairs).
  var perSite = new Uint32Array(nS + 1);
  for (var k = 0; k < indices.length; k++) perSite[indices[k] + 1]++;
  for (var s = 0; s < nS; s++) perSite[s + 1] += perSite[s];
  var fill = perSite.slice(0, nS), covers = new Uint32Array(indices.length), coverCost = new Float32Array(indices.length);
  for (var c = 0; c < nC; c++) {
    for (k = indptr[c]; k < indptr[c + 1]; k++) {
      var at = fill[indices[k]]++;
      covers[at] = c;
      coverCost[at] = cost[k];
    }
  }
  var siteOfCommunity = {};
  for (s = 0; s < nS; s++) if (!(S.community[s] in siteOfCommunity) || !S.existing[s]) siteOfCommunity[S.community[s]] = s;
  var communityIndex = {};
  for (c = 0; c < nC; c++) communityIndex[C.code[c]] = c;

  // State: which sites are open, how many open sites cover each community.
  var open = new Uint8Array(nS), count = new Int32Array(nC), history = [];
  for (s = 0; s < nS; s++) open[s] = S.planned[s] ? 1 : 0;
  function recount() {
    count.fill(0);
    for (var s2 = 0; s2 < nS; s2++) if (open[s2]) for (var j = perSite[s2]; j < perSite[s2 + 1]; j++) count[covers[j]]++;
  }
  recount();

  function sumOver(filter) {
    var t = {children: 0, covered: 0, priority: 0, priorityCovered: 0, communities: 0, uncovered: 0};
    for (var i = 0; i < nC; i++) {
      if (filter && !filter(i)) continue;
      t.children += C.children[i];
      t.priority += C.priority[i];
      t.communities++;
      if (count[i] > 0) {
        t.covered += C.children[i];
        t.priorityCovered += C.priority[i];
      } else {
        t.uncovered++;
      }
    }
    t.pct = t.children > 0 ? 100 * t.covered / t.children : null;
    return t;
  }
  function levelTotals(level) {
    var out = {}, codes = C[level];
    for (var i = 0; i < nC; i++) {
      var u = codes[i], t = out[u];
      if (!t) t = out[u] = {children: 0, covered: 0, priority: 0, priorityCovered: 0};
      t.children += C.children[i];
      t.priority += C.priority[i];
      if (count[i] > 0) {
        t.covered += C.children[i];
        t.priorityCovered += C.priority[i];
      }
    }
    return out;
  }
  function money() {
    var built = 0, homesNew = 0, homesExisting = 0, closed = 0;
    for (var s2 = 0; s2 < nS; s2++) {
      if (S.existing[s2]) {
        if (open[s2]) homesExisting++; else closed++;
      } else if (open[s2]) {
        homesNew++;
        built += S.cost[s2];
      }
    }
    return {homesNew: homesNew, homesExisting: homesExisting, closed: closed, spentCny: built, budgetCny: D.budget};
  }

  var focus = {prefecture: null, county: null, township: null};
  function totals() {
    var out = {province: sumOver(null), homes: money()};
    LEVELS.forEach(function (level) {
      var code = focus[level];
      out[level] = code ? Object.assign({code: code, name: units[code] || code}, sumOver(function (i) {
        return C[level][i] === code;
      })) : null;
    });
    return out;
  }

  function setOpen(s2, value) {
    if (open[s2] === value) return [];
    open[s2] = value;
    var changed = [];
    for (var j = perSite[s2]; j < perSite[s2 + 1]; j++) {
      var i = covers[j], before = count[i] > 0;
      count[i] += value ? 1 : -1;
      if (before !== count[i] > 0) changed.push(i);
    }
    return changed;
  }
  function toggle(siteId) {
    var s2 = typeof siteId === "number" ? siteId : S.id.indexOf(String(siteId));
    if (s2 < 0) throw new Error("not a candidate site: " + siteId);
    var changed = setOpen(s2, open[s2] ? 0 : 1);
    history.push(s2);
    lastChanged = changed;
    refresh();
    return {site: S.id[s2], open: !!open[s2], changed: changed.map(function (i) { return C.code[i]; })};
  }
  function undo() {
    if (!history.length) return null;
    var s2 = history.pop();
    lastChanged = setOpen(s2, open[s2] ? 0 : 1);
    refresh();
    return S.id[s2];
  }
  function reset() {
    for (var s2 = 0; s2 < nS; s2++) open[s2] = S.planned[s2] ? 1 : 0;
    history = [];
    lastChanged = [];
    recount();
    refresh();
  }
  function statusOf(s2) {
    if (S.existing[s2]) return open[s2] ? "existing" : "closed";
    return open[s2] ? "new" : null;
  }
  function homes() {
    var out = [];
    for (var s2 = 0; s2 < nS; s2++) {
      var status = statusOf(s2);
      if (status) out.push({site_id: S.id[s2], name: nameOfSite(s2), status: status});
    }
    return out;
  }
  function nameOfSite(s2) {
    var c2 = communityIndex[S.community[s2]];
    return c2 === undefined ? S.id[s2] : C.name[c2];
  }
  function suggest(priority) {
    var best = -1, gain = 0;
    for (var s2 = 0; s2 < nS; s2++) {
      if (open[s2] || S.existing[s2]) continue;
      var g = 0;
      for (var j = perSite[s2]; j < perSite[s2 + 1]; j++) {
        var i = covers[j];
        if (count[i] === 0) g += priority ? C.priority[i] : C.children[i];
      }
      if (g > gain) { gain = g; best = s2; }
    }
    return best < 0 ? null : {site_id: S.id[best], name: nameOfSite(best), gain: gain, priority: !!priority};
  }
  function csvCell(text) {
    text = String(text);
    if (/^[=+\-@\t]/.test(text)) text = "'" + text;
    return /[",\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function exportCsv() {
    var lines = ["site_id,name,status"];
    homes().forEach(function (h) { lines.push([h.site_id, h.name, h.status].map(csvCell).join(",")); });
    return lines.join("\n") + "\n";
  }
  function scenarioSnippet() {
    var lockedIn = [], lockedOut = [], closed = [];
    for (var s2 = 0; s2 < nS; s2++) {
      if (!S.existing[s2] && open[s2]) lockedIn.push(S.id[s2]);
      if (!S.existing[s2] && S.planned[s2] && !open[s2]) lockedOut.push(S.id[s2]);
      if (S.existing[s2] && !open[s2]) closed.push(S.id[s2]);
    }
    var q = function (a) { return "[" + a.map(function (x) { return JSON.stringify(x); }).join(", ") + "]"; };
    var text = "[model]\nlocked_in = " + q(lockedIn) + "\nlocked_out = " + q(lockedOut) + "\n";
    if (closed.length) text += "# existing homes marked closed (drop them from inputs.existing_homes): " + closed.join(", ") + "\n";
    return text;
  }
  function search(text) {
    text = String(text || "").trim();
    if (!text) return [];
    var out = [], seen = {};
    Object.keys(units).forEach(function (code) {
      var level = D.levels[code];
      if (LEVELS.indexOf(level) < 0) return;  // the province is the whole map
      if (out.length < 30 && (units[code].indexOf(text) >= 0 || code.indexOf(text) === 0)) {
        out.push({kind: level, code: code, name: units[code]});
        seen[code] = 1;
      }
    });
    for (var i = 0; i < nC && out.length < 30; i++) {
      if (C.name[i].indexOf(text) >= 0 || C.code[i].indexOf(text) === 0) {
        out.push({kind: "community", code: C.code[i], name: C.name[i], county: units[C.county[i]] || C.county[i]});
      }
    }
    return out;
  }

  // ---- drawing ----------------------------------------------------------------------------------
  var MIN_ZOOM = 9, lastChanged = [];
  var layer = L.layerGroup(), markers = {};
  function unit(value) { return D.unit === "m" ? (value / 1000).toFixed(1) + " km" : Math.round(value) + " 分钟 min"; }
  function num(x) { return Math.round(x).toLocaleString("en-US"); }
  function shownPriority(x) { return x > 0 && x < D.threshold ? "<" + D.threshold : num(x); }
  function nearestOpen(i) {
    var best = Infinity, who = -1;
    for (var k2 = indptr[i]; k2 < indptr[i + 1]; k2++) if (open[indices[k2]] && cost[k2] < best) { best = cost[k2]; who = indices[k2]; }
    return who < 0 ? null : {site: who, cost: best};
  }
  function styleCommunity(i) {
    var changed = lastChanged.indexOf(i) >= 0;
    return {pane: "sitingPoints", renderer: window.__sitingPoints, radius: 4, weight: changed ? 3 : 1, color: changed ? "#000" : "#fff", fillOpacity: 0.9,
      fillColor: count[i] > 0 ? D.colours.covered : D.colours.uncovered};
  }
  function draw() {
    layer.clearLayers();
    markers = {};
    if (!box.querySelector("#siting-sb-on").checked || map.getZoom() < MIN_ZOOM) return;
    var view = map.getBounds().pad(0.1);
    for (var i = 0; i < nC; i++) {
      if (!view.contains([C.lat[i], C.lon[i]])) continue;
      (function (i2) {
        var m = L.circleMarker([C.lat[i2], C.lon[i2]], styleCommunity(i2));
        m.bindTooltip(C.name[i2] + " · " + num(C.children[i2]) + " 儿童 children" + (count[i2] > 0 ? "" : " · 未覆盖 uncovered"));
        m.on("click", function () {
          var s2 = siteOfCommunity[C.code[i2]];
          if (s2 === undefined) return;
          toggle(s2);
        });
        m.addTo(layer);
        if (map.getZoom() >= 12) m.bindTooltip(C.name[i2], {permanent: true, direction: "right", className: "siting-sb-name"});
      })(i);
    }
    for (var s2 = 0; s2 < nS; s2++) {
      var status = statusOf(s2);
      if (!status || !view.contains([S.lat[s2], S.lon[s2]])) continue;
      (function (s3, st) {
        var colour = st === "new" ? D.colours.proposed : st === "existing" ? D.colours.existing : "#999";
        var m = L.circleMarker([S.lat[s3], S.lon[s3]], {pane: "sitingPoints", renderer: window.__sitingPoints, radius: 8, weight: 2, color: "#222", fillColor: colour,
          fillOpacity: st === "closed" ? 0.3 : 0.95, dashArray: st === "closed" ? "3" : null});
        var verb = st === "new" ? "点击取消 click to drop" : st === "existing" ? "点击标记关闭 click to mark closed" : "点击恢复 click to reopen";
        m.bindTooltip(nameOfSite(s3) + " · " + {new: "新建 proposed", existing: "已有 existing", closed: "关闭 closed"}[st] + " · " + verb);
        m.on("click", function () { toggle(s3); });
        m.addTo(layer);
        markers[S.id[s3]] = m;
      })(s2, status);
    }
  }

  // ---- panel ------------------------------------------------------------------------------------
  var box = L.DomUtil.create("div", "siting-panel siting-sandbox");
  box.innerHTML =
    '<div class="siting-head"><button type="button" class="siting-sb-fold" title="收起/展开 collapse/expand">▾</button>' +
    '<div class="siting-title">沙盘 Plan in the map</div></div><div class="siting-body">' +
    '<label><input type="checkbox" id="siting-sb-on"> 编辑方案 edit the plan: 点击村/儿童之家 click a village or home to change it</label>' +
    '<div><input id="siting-sb-search" type="search" placeholder="搜索村、乡镇、县 search village, township, county" style="width:95%"></div>' +
    '<div id="siting-sb-results" class="siting-sb-list"></div>' +
    '<div id="siting-sb-totals"></div>' +
    '<div class="siting-sb-buttons"><button type="button" id="siting-sb-undo">撤销 undo</button> ' +
    '<button type="button" id="siting-sb-reset">重置 reset</button> ' +
    '<button type="button" id="siting-sb-suggest">建议下一个 suggest</button> ' +
    '<button type="button" id="siting-sb-suggest-p">按重点儿童 priority</button> ' +
    '<button type="button" id="siting-sb-export">导出 export</button></div>' +
    '<div id="siting-sb-suggestion"></div>' +
    '<div id="siting-sb-unit"></div></div>';
  L.DomEvent.disableClickPropagation(box);
  L.DomEvent.disableScrollPropagation(box);
  var Control = L.Control.extend({options: {position: "topright"}, onAdd: function () { return box; }});
  new Control().addTo(map);
  layer.addTo(map);
  var fold = box.querySelector(".siting-sb-fold");
  fold.addEventListener("click", function () {
    box.classList.toggle("siting-collapsed");
    fold.textContent = box.classList.contains("siting-collapsed") ? "▸" : "▾";
  });

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (ch) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[ch]; });
  }
  function line(label, t) {
    if (!t) return "";
    return "<div><b>" + esc(label) + "</b> " + num(t.covered) + " / " + num(t.children) + " (" + (t.pct === null ? "—" : t.pct.toFixed(1)) +
      "%) · 重点 priority " + shownPriority(t.priorityCovered) + " / " + shownPriority(t.priority) + "</div>";
  }
  function refresh() {
    var t = totals(), h = t.homes;
    var budget = isFinite(h.budgetCny) ? " / " + num(h.budgetCny) : "";
    box.querySelector("#siting-sb-totals").innerHTML =
      "<div>覆盖儿童 children covered (标准 " + unit(D.standard) + ")</div>" +
      line("全省 province", t.province) + line("州市 " + (t.prefecture ? t.prefecture.name : ""), t.prefecture) +
      line("县 " + (t.county ? t.county.name : ""), t.county) + line("乡镇 " + (t.township ? t.township.name : ""), t.township) +
      "<div>儿童之家 homes: 新建 new " + h.homesNew + " · 已有 existing " + h.homesExisting + (h.closed ? " · 关闭 closed " + h.closed : "") +
      " · 资金 " + num(h.spentCny) + budget + " 元 CNY" +
      (isFinite(h.budgetCny) && h.spentCny > h.budgetCny ? " <b style='color:#b30000'>超出预算 over budget</b>" : "") + "</div>" +
      (lastChanged.length ? "<div>变化 changed: " + lastChanged.slice(0, 8).map(function (i) {
        return esc(C.name[i]) + (count[i] > 0 ? " ✓" : " ✗");
      }).join("、") + (lastChanged.length > 8 ? " …" : "") + "</div>" : "");
    unitPanel();
    draw();
  }

  var sortKey = "children", sortDown = true;
  function unitPanel() {
    var code = focus.county;
    var panel = box.querySelector("#siting-sb-unit");
    if (!code) { panel.innerHTML = "<div class='siting-sb-hint'>放大到一个县 zoom into a county to list its homes and villages</div>"; return; }
    var proposed = [], existing = [], uncovered = [];
    for (var s2 = 0; s2 < nS; s2++) {
      var c2 = communityIndex[S.community[s2]];
      if (c2 === undefined || C.county[c2] !== code) continue;
      var st = statusOf(s2);
      var served = 0;
      for (var j = perSite[s2]; j < perSite[s2 + 1]; j++) served += C.children[covers[j]];
      if (st === "new") proposed.push({name: nameOfSite(s2), children: served, site: s2});
      else if (st === "existing" || st === "closed") existing.push({name: nameOfSite(s2) + (st === "closed" ? " (关闭 closed)" : ""), children: served, site: s2});
    }
    for (var i = 0; i < nC; i++) {
      if (C.county[i] !== code || count[i] > 0) continue;
      var near = D.nearestSite[i], nearIdx = near ? communityIndex[near] : undefined;
      var nearName = nearIdx === undefined ? (near || "—") : C.name[nearIdx];
      uncovered.push({name: C.name[i], children: C.children[i], community: i,
        near: D.nearestCost[i] === null ? "—" : nearName + " " + unit(D.nearestCost[i])});
    }
    function table(title, rows, kind) {
      rows.sort(function (a, b) { var x = a[sortKey], y = b[sortKey]; return (x < y ? -1 : x > y ? 1 : 0) * (sortDown ? -1 : 1); });
      var head = kind === "uncovered" ? "儿童 children" : "范围内儿童 within reach";
      return "<div class='siting-sb-table'><b>" + title + " (" + rows.length + ")</b><table><tr><th data-key='name'>名称 name</th><th data-key='children'>" + head + "</th>" +
        (kind === "uncovered" ? "<th>最近儿童之家(方案) nearest home (plan)</th>" : "") + "</tr>" +
        rows.slice(0, 200).map(function (r) {
          var target = r.site !== undefined ? "data-site='" + r.site + "'" : "data-community='" + r.community + "'";
          return "<tr " + target + "><td>" + esc(r.name) + "</td><td>" + num(r.children) + "</td>" +
            (kind === "uncovered" ? "<td>" + esc(r.near) + "</td>" : "") + "</tr>";
        }).join("") + "</table></div>";
    }
    panel.innerHTML = "<div><b>" + esc(units[code] || code) + "</b></div>" + table("新建 proposed", proposed, "homes") +
      table("已有 existing", existing, "homes") + table("未覆盖村 uncovered villages", uncovered, "uncovered");
  }
  box.querySelector("#siting-sb-unit").addEventListener("click", function (event) {
    var th = event.target.closest("th");
    if (th) { var key = th.getAttribute("data-key"); sortDown = key === sortKey ? !sortDown : key !== "name"; sortKey = key; unitPanel(); return; }
    var row = event.target.closest("tr");
    if (!row) return;
    if (row.hasAttribute("data-site")) { var s2 = +row.getAttribute("data-site"); map.setView([S.lat[s2], S.lon[s2]], Math.max(map.getZoom(), 12)); }
    if (row.hasAttribute("data-community")) { var i = +row.getAttribute("data-community"); map.setView([C.lat[i], C.lon[i]], Math.max(map.getZoom(), 12)); }
  });

  function locate(item) {
    var idx = [];
    if (item.kind === "community") idx = [communityIndex[item.code]];
    else for (var i = 0; i < nC; i++) if (C[item.kind][i] === item.code) idx.push(i);
    if (!idx.length) return;
    var bounds = L.latLngBounds(idx.map(function (i2) { return [C.lat[i2], C.lon[i2]]; }));
    pinnedUntil = Date.now() + 1500;
    if (item.kind === "community") {
      var i3 = idx[0];
      focus = {prefecture: C.prefecture[i3], county: C.county[i3], township: C.township[i3]};
      var near = nearestOpen(i3);
      var card = "<b>" + esc(C.name[i3]) + "</b> <small>" + esc(C.code[i3]) + "</small><br>" + esc(units[C.township[i3]] || C.township[i3]) +
        " · " + esc(units[C.county[i3]] || C.county[i3]) + "<br>儿童 children " + num(C.children[i3]) + " · " +
        (count[i3] > 0 ? "已覆盖 covered" : "未覆盖 uncovered") +
        (near ? "<br>最近儿童之家 nearest home: " + esc(nameOfSite(near.site)) + " " + unit(near.cost) : "<br>标准内无儿童之家 no home within the standard");
      map.once("moveend", function () {  // the card opens where the map has come to rest, after the click that asked
        setTimeout(function () { L.popup({maxWidth: 260}).setLatLng([C.lat[i3], C.lon[i3]]).setContent(card).openOn(map); }, 0);
      });
      map.setView([C.lat[i3], C.lon[i3]], 13);
    } else {
      var first = idx[0];
      focus = {prefecture: C.prefecture[first], county: item.kind === "prefecture" ? null : C.county[first],
        township: item.kind === "township" ? item.code : null};
      map.fitBounds(bounds.pad(0.1));
    }
    refresh();
  }
  var input = box.querySelector("#siting-sb-search"), results = box.querySelector("#siting-sb-results"), found = [];
  input.addEventListener("input", function () {
    found = search(input.value);
    results.innerHTML = found.slice(0, 12).map(function (f, n) {
      return "<div class='siting-sb-hit' data-n='" + n + "'>" + esc(f.name) + " <small>" + esc(f.code) + (f.county ? " · " + esc(f.county) : "") + "</small></div>";
    }).join("");
  });
  input.addEventListener("keydown", function (event) { if (event.key === "Enter" && found.length) { locate(found[0]); results.innerHTML = ""; } });
  results.addEventListener("click", function (event) {
    var hit = event.target.closest(".siting-sb-hit");
    if (hit) { locate(found[+hit.getAttribute("data-n")]); results.innerHTML = ""; }
  });
  function download(name, text) {
    var a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob(["\ufeff" + text], {type: "text/csv;charset=utf-8"}));
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }
  box.querySelector("#siting-sb-undo").addEventListener("click", function () { undo(); });
  box.querySelector("#siting-sb-reset").addEventListener("click", function () { reset(); });
  function showSuggestion(priority) {
    var s3 = suggest(priority), out = box.querySelector("#siting-sb-suggestion");
    if (!s3) { out.textContent = "没有能增加覆盖的站点 no site adds coverage"; return; }
    out.innerHTML = "建议 suggestion: <b>" + esc(s3.name) + "</b> (" + esc(s3.site_id) + ") +" + num(s3.gain) + (priority ? " 重点儿童 priority" : " 儿童 children") +
      " <button type='button' id='siting-sb-take'>采纳 take it</button>";
    out.querySelector("#siting-sb-take").addEventListener("click", function () { toggle(s3.site_id); out.textContent = ""; });
    var s4 = S.id.indexOf(s3.site_id);
    map.setView([S.lat[s4], S.lon[s4]], Math.max(map.getZoom(), 11));
  }
  box.querySelector("#siting-sb-suggest").addEventListener("click", function () { showSuggestion(false); });
  box.querySelector("#siting-sb-suggest-p").addEventListener("click", function () { showSuggestion(true); });
  box.querySelector("#siting-sb-export").addEventListener("click", function () {
    download("homes.csv", exportCsv());
    download("scenario_snippet.toml", scenarioSnippet());
  });
  box.querySelector("#siting-sb-on").addEventListener("change", draw);

  function focusFromView() {
    if (map.getZoom() < 9) return;
    var centre = map.getCenter(), best = -1, bestD = Infinity;
    for (var i = 0; i < nC; i++) {
      var dx = C.lon[i] - centre.lng, dy = C.lat[i] - centre.lat, d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = i; }
    }
    if (best >= 0 && focus.county !== C.county[best]) {
      focus = {prefecture: C.prefecture[best], county: C.county[best], township: map.getZoom() >= 11 ? C.township[best] : null};
    } else if (best >= 0 && map.getZoom() >= 11) {
      focus.township = C.township[best];
    }
  }
  var pinnedUntil = 0;  // a located place keeps the focus while the map comes to rest on it
  map.on("moveend", function () { if (Date.now() > pinnedUntil) focusFromView(); refresh(); });

  window.siting = {
    totals: totals,
    levelTotals: levelTotals,
    toggle: toggle,
    undo: undo,
    reset: reset,
    homes: homes,
    suggest: suggest,
    search: search,
    locate: locate,
    exportCsv: exportCsv,
    scenarioSnippet: scenarioSnippet,
    focus: function () { return Object.assign({}, focus); }
  };
  refresh();
})();
