/* metroreach report: draws the layers of #metroreach-data with Leaflet (inlined in the page).
 * Nothing is fetched: the data, the library and this script are all in index.html. The optional
 * OpenStreetMap tile basemap is off by default.
 *
 * When everything is drawn, a JSON summary is written into #metroreach-selftest: the number of
 * features added to each Leaflet layer, checks of the hover and click details, the resources the
 * page loaded and every error caught (see docs/report.md). */
(function () {
  'use strict';
  window.__metroreachReport = true;
  var t0 = Date.now();
  var errors = window.__metroreachErrors || [];
  var selftest = {
    ok: false,
    format: null,
    leaflet: null,
    layers: {},
    expected: {},
    bands: {},
    details: {},
    resources: [],
    errors: errors,
    ms: 0
  };

  function fail(where, e) {
    errors.push(where + ': ' + (e && e.message ? e.message : String(e)));
  }

  function writeSelftest() {
    if (selftest.ms === 0) {
      selftest.ms = Date.now() - t0;
    }
    if (errors.length) {
      selftest.ok = false;
    }
    var el = document.getElementById('metroreach-selftest');
    if (el) {
      el.textContent = JSON.stringify(selftest);
    }
    window.__metroreachRewrite = writeSelftest;
  }

  var BAND_COLOURS = ['#d62728', '#ff7f0e', '#e6b800', '#8c564b', '#e377c2', '#7f7f7f', '#9467bd', '#17becf'];
  var CITY_COLOURS = ['#1f77b4', '#2ca02c', '#9467bd', '#8c564b', '#17becf', '#bcbd22', '#e377c2',
    '#393b79', '#637939', '#8c6d31', '#843c39', '#7b4173', '#3182bd', '#31a354', '#756bb1',
    '#636363', '#d6616b', '#e7ba52', '#6baed6', '#a55194'];
  var SHARE_BREAKS = [0.1, 0.25, 0.5, 0.75];
  var SHARE_COLOURS = ['#fbfbf3', '#d4eec0', '#8fd3b8', '#4db3c8', '#2b7bb9'];
  var SHARE_LABELS = ['< 10 %', '10–25 %', '25–50 %', '50–75 %', '≥ 75 %'];
  var KIND_NAMES = {
    unit: 'administrative unit',
    circle: 'commute circle',
    catchment: 'catchment',
    metro: 'metropolitan area',
    origin: 'origin'
  };

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function fmt(v) {
    if (typeof v === 'number') {
      if (!isFinite(v)) {
        return '–';
      }
      return Math.abs(v) >= 10000 ? Math.round(v).toLocaleString('en-US') : String(v);
    }
    if (typeof v === 'boolean') {
      return v ? 'yes' : 'no';
    }
    if (v === null || v === undefined || v === '') {
      return '–';
    }
    if (typeof v === 'object') {
      return JSON.stringify(v);
    }
    return String(v);
  }

  function pct(v) {
    return (Math.round(v * 1000) / 10) + ' %';
  }

  function fmtProp(key, v) {
    if (typeof v === 'number' && /share$/.test(key)) {
      return pct(v);
    }
    return fmt(v);
  }

  var DATA;
  try {
    DATA = JSON.parse(document.getElementById('metroreach-data').textContent);
    selftest.format = DATA.format || null;
  } catch (e) {
    fail('reading the embedded data', e);
    writeSelftest();
    return;
  }
  if (typeof L === 'undefined') {
    fail('map library', 'Leaflet did not load');
    writeSelftest();
    return;
  }
  selftest.leaflet = L.version;

  function features(fc) {
    return fc && fc.features ? fc.features : [];
  }

  var minutes = DATA.minutes || [];
  var cities = DATA.cities || [];
  var cityIndex = {};
  cities.forEach(function (c, i) {
    cityIndex[c] = i;
  });

  function bandColour(m) {
    var i = minutes.indexOf(m);
    return BAND_COLOURS[(i < 0 ? 0 : i) % BAND_COLOURS.length];
  }

  function cityColour(c) {
    var i = cityIndex[c];
    return CITY_COLOURS[(i === undefined ? 0 : i) % CITY_COLOURS.length];
  }

  function shareClass(s) {
    for (var i = 0; i < SHARE_BREAKS.length; i++) {
      if (!(s >= SHARE_BREAKS[i])) {
        return i;
      }
    }
    return SHARE_BREAKS.length;
  }

  function roadStyle(cls) {
    switch (cls) {
      case 'motorway':
      case 'trunk':
        return { color: '#7a5230', weight: 2.6, opacity: 0.85 };
      case 'motorway_link':
      case 'trunk_link':
        return { color: '#7a5230', weight: 1.4, opacity: 0.8 };
      case 'primary':
        return { color: '#505050', weight: 1.9, opacity: 0.8 };
      case 'primary_link':
      case 'secondary':
        return { color: '#606060', weight: 1.3, opacity: 0.75 };
      case 'secondary_link':
      case 'tertiary':
        return { color: '#707070', weight: 0.9, opacity: 0.7 };
      default:
        return { color: '#8c8c8c', weight: 0.5, opacity: 0.6 };
    }
  }

  // Polygons that answer hover/click only near their outline, so that the units below a circle,
  // a catchment or a metropolitan area stay reachable (the canvas picks the topmost hit).
  var OutlinePolygon = L.Polygon.extend({
    _containsPoint: function (p) {
      return L.Polyline.prototype._containsPoint.call(this, p, true);
    }
  });

  var renderer = L.canvas({ padding: 0.5, tolerance: 3 });
  var map = L.map('map', {
    preferCanvas: true,
    renderer: renderer,
    zoomSnap: 0.25,
    maxZoom: 19,
    attributionControl: true
  });
  map.attributionControl.setPrefix('Leaflet ' + esc(L.version));
  map.attributionControl.addAttribution('Roads © OpenStreetMap contributors');

  function bboxBounds(b) {
    if (!b || b.length !== 4) {
      return null;
    }
    var bounds = L.latLngBounds([b[1], b[0]], [b[3], b[2]]);
    return bounds.isValid() ? bounds : null;
  }

  var view = bboxBounds(DATA.extent) || bboxBounds(DATA.edge);
  if (view) {
    // Leave room on the right for the layer switcher and the legend on wide screens.
    var right = map.getSize().x > 1000 ? 250 : 12;
    map.fitBounds(view, { paddingTopLeft: [12, 12], paddingBottomRight: [right, 12], animate: false });
  } else {
    map.setView([0, 0], 2, { animate: false });
  }

  function popupHtml(f, kind) {
    var p = f.properties || {};
    var rows = '';
    Object.keys(p).forEach(function (k) {
      rows += '<tr><th>' + esc(k) + '</th><td>' + esc(fmtProp(k, p[k])) + '</td></tr>';
    });
    if (kind === 'unit') {
      rows += '<tr><th>largest share</th><td>' + esc(pct(f.share || 0)) + '</td></tr>';
    }
    return '<div class="mr-pop"><div class="mr-pop-title">' + esc(f.label) + '</div>' +
      '<div class="mr-pop-kind">' + esc(KIND_NAMES[kind] || kind) + '</div>' +
      '<table>' + rows + '</table></div>';
  }

  function tooltipHtml(f, kind) {
    var p = f.properties || {};
    var extra = [];
    if (kind === 'unit') {
      extra.push('largest share ' + pct(f.share || 0) + (f.member ? ' · member' : ''));
      if (p.population !== undefined) {
        extra.push('pop. ' + fmt(p.population));
      }
    } else {
      if (p.area_km2 !== undefined) {
        extra.push(fmt(p.area_km2) + ' km²');
      }
      if (p.population !== undefined) {
        extra.push('pop. ' + fmt(p.population));
      }
      if (p.members !== undefined) {
        extra.push(fmt(p.members) + ' member units');
      }
    }
    return '<b>' + esc(f.label) + '</b>' + (extra.length ? '<br>' + esc(extra.join(' · ')) : '');
  }

  function bindDetails(layer, f, kind) {
    layer.feature = f;
    layer.bindTooltip(function () {
      return tooltipHtml(f, kind);
    }, { sticky: true, className: 'mr-tip' });
    layer.bindPopup(function () {
      return popupHtml(f, kind);
    }, { maxWidth: 420, className: 'mr-popup' });
  }

  function addPolygon(Cls, f, kind, style, group, i) {
    try {
      var ll = L.GeoJSON.coordsToLatLngs(f.geometry.coordinates, 2);
      var layer = new Cls(ll, L.extend({ renderer: renderer }, style));
      bindDetails(layer, f, kind);
      group.addLayer(layer);
    } catch (e) {
      fail(kind + ' #' + i + ' (' + f.label + ')', e);
    }
  }

  // ---- layers, in drawing order (bottom first) ----
  var Z = [];
  var overlays = [];

  function swatch(style) {
    return '<span class="mr-sw" style="' + style + '"></span>';
  }

  // Units, coloured by the largest coverage share; member units outlined (drawn last so that
  // their outline stays on top of their neighbours').
  var units = L.featureGroup();
  var unitFeatures = features(DATA.units);
  var unitOrder = unitFeatures.map(function (f, i) {
    return i;
  });
  unitOrder.sort(function (a, b) {
    return (unitFeatures[a].member ? 1 : 0) - (unitFeatures[b].member ? 1 : 0) || a - b;
  });
  unitOrder.forEach(function (i) {
    var f = unitFeatures[i];
    addPolygon(L.Polygon, f, 'unit', {
      color: f.member ? '#1a1a1a' : '#8a8a8a',
      weight: f.member ? 1.8 : 0.6,
      opacity: 0.9,
      fillColor: SHARE_COLOURS[shareClass(f.share)],
      fillOpacity: 0.55
    }, units, i);
  });
  if (unitFeatures.length) {
    Z.push(units);
    overlays.push([swatch('background:' + SHARE_COLOURS[3]) + 'Units: coverage share (' + units.getLayers().length + ')', units, true]);
  }

  var catchments = L.featureGroup();
  features(DATA.catchments).forEach(function (f, i) {
    var c = cityColour(f.city);
    addPolygon(OutlinePolygon, f, 'catchment', {
      color: c,
      weight: 1.5,
      dashArray: '4 3',
      fillColor: c,
      fillOpacity: 0.3
    }, catchments, i);
  });
  if (features(DATA.catchments).length) {
    Z.push(catchments);
    overlays.push([swatch('background:' + CITY_COLOURS[0] + ';opacity:.5') + 'Catchments (' + catchments.getLayers().length + ')', catchments, false]);
  }

  // The context road network: one polyline per class (many parts each).
  var roads = L.featureGroup();
  var roadParts = 0;
  var roadClasses = [];
  features(DATA.roads).forEach(function (f, i) {
    try {
      var cls = f.properties['class'];
      var pl = L.polyline(L.GeoJSON.coordsToLatLngs(f.geometry.coordinates, 1),
        L.extend({ renderer: renderer, interactive: false, roadClass: cls }, roadStyle(cls)));
      roads.addLayer(pl);
      roadParts += pl.getLatLngs().length;
      roadClasses.push(cls);
    } catch (e) {
      fail('roads #' + i, e);
    }
  });
  // Thinner roads when zoomed out (a country's network would hide everything else).
  function styleRoads() {
    var k = Math.max(0.3, Math.min(1, (map.getZoom() - 4) / 8));
    roads.eachLayer(function (pl) {
      pl.setStyle({ weight: Math.max(0.3, roadStyle(pl.options.roadClass).weight * k) });
    });
  }
  styleRoads();
  map.on('zoomend', styleRoads);
  if (features(DATA.roads).length) {
    Z.push(roads);
    overlays.push([swatch('background:#606060;height:3px') + 'Context roads (' + roadParts + ')', roads, true]);
  }

  // Circles, one layer per band; the largest band below.
  var bandGroups = {};
  minutes.forEach(function (m) {
    bandGroups[m] = L.featureGroup();
  });
  features(DATA.circles).forEach(function (f, i) {
    var g = bandGroups[f.minutes];
    if (!g) {
      g = bandGroups[f.minutes] = L.featureGroup();
      minutes.push(f.minutes);
    }
    var c = bandColour(f.minutes);
    addPolygon(OutlinePolygon, f, 'circle', {
      color: c,
      weight: 2.2,
      opacity: 0.95,
      fillColor: c,
      fillOpacity: 0.06
    }, g, i);
  });
  minutes.slice().sort(function (a, b) {
    return b - a;
  }).forEach(function (m) {
    Z.push(bandGroups[m]);
  });
  minutes.forEach(function (m) {
    var n = bandGroups[m].getLayers().length;
    selftest.bands[String(m)] = n;
    overlays.push([swatch('border:2px solid ' + bandColour(m) + ';background:' + bandColour(m) + '22') +
      'Circles · ' + esc(m) + ' min (' + n + ')', bandGroups[m], true]);
  });

  var maxMinutes = minutes.length ? Math.max.apply(null, minutes) : 0;
  var metro = L.featureGroup();
  features(DATA.metro_areas).forEach(function (f, i) {
    var top = f.minutes === maxMinutes;
    addPolygon(OutlinePolygon, f, 'metro', {
      color: cityColour(f.city),
      weight: top ? 3.2 : 2,
      dashArray: top ? '9 5' : '2 5',
      opacity: 0.95,
      fill: false
    }, metro, i);
  });
  if (features(DATA.metro_areas).length) {
    Z.push(metro);
    overlays.push([swatch('border:2px dashed ' + CITY_COLOURS[0]) + 'Metropolitan areas (' + metro.getLayers().length + ')', metro, true]);
  }

  var edge = L.featureGroup();
  var edgeBounds = bboxBounds(DATA.edge);
  if (edgeBounds) {
    try {
      edge.addLayer(L.rectangle(edgeBounds, {
        renderer: renderer,
        interactive: false,
        fill: false,
        color: '#333',
        weight: 1.5,
        dashArray: '10 6'
      }));
    } catch (e) {
      fail('extract edge', e);
    }
    Z.push(edge);
    overlays.push([swatch('border:1.5px dashed #333') + 'Edge of the extract', edge, true]);
  }

  // Origins: the point given, the point of the road it was snapped to, and a line between.
  var origins = L.featureGroup();
  var originCount = 0;
  var snapLines = 0;
  var originFeatures = features(DATA.origins);
  var permanentLabels = originFeatures.length <= 25;
  originFeatures.forEach(function (f, i) {
    try {
      var c = f.geometry.coordinates;
      var s = f.snapped || c;
      var line = L.polyline([[c[1], c[0]], [s[1], s[0]]], {
        renderer: renderer,
        interactive: false,
        color: '#111',
        weight: 1.6,
        dashArray: '3 3'
      });
      origins.addLayer(line);
      snapLines++;
      origins.addLayer(L.circleMarker([s[1], s[0]], {
        renderer: renderer,
        interactive: false,
        radius: 2.5,
        color: '#111',
        weight: 1,
        fillColor: '#111',
        fillOpacity: 1
      }));
      var m = L.circleMarker([c[1], c[0]], {
        renderer: renderer,
        radius: 6,
        color: '#111',
        weight: 2,
        fillColor: cityColour(f.city),
        fillOpacity: 1
      });
      m.feature = f;
      if (permanentLabels) {
        m.bindTooltip(esc(f.label), { permanent: true, direction: 'right', offset: [7, 0], className: 'mr-label' });
      } else {
        m.bindTooltip(esc(f.label), { className: 'mr-tip' });
      }
      m.bindPopup(function () {
        return popupHtml(f, 'origin');
      }, { maxWidth: 420, className: 'mr-popup' });
      origins.addLayer(m);
      originCount++;
    } catch (e) {
      fail('origin #' + i, e);
    }
  });
  if (originFeatures.length) {
    Z.push(origins);
    overlays.push([swatch('border:2px solid #111;border-radius:50%;width:9px;height:9px') + 'Origins and snap lines (' + originCount + ')', origins, true]);
  }

  Z.forEach(function (g) {
    var on = overlays.some(function (o) {
      return o[1] === g && o[2];
    });
    if (on) {
      g.addTo(map);
    }
  });

  // Keep the drawing order when a layer is switched back on.
  map.on('overlayadd', function () {
    Z.forEach(function (g) {
      if (map.hasLayer(g)) {
        g.bringToFront();
      }
    });
  });

  // ---- controls ----
  var none = L.layerGroup();
  none.addTo(map);
  var tiles = L.tileLayer('https://tile.openstreetmap.org/{z}/{x}/{y}.png', {
    maxZoom: 19,
    attribution: 'Tiles © OpenStreetMap contributors'
  });
  var overlayMap = {};
  overlays.forEach(function (o) {
    overlayMap[o[0]] = o[1];
  });
  L.control.layers({
    'No basemap (offline)': none,
    'OpenStreetMap tiles (online)': tiles
  }, overlayMap, { collapsed: false, position: 'topright' }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);

  function legendHtml() {
    var h = '';
    if (minutes.length) {
      h += '<div class="mr-lg-title">Commute circles</div>';
      minutes.forEach(function (m) {
        h += '<div>' + swatch('border:2px solid ' + bandColour(m) + ';background:' + bandColour(m) + '22') + esc(m) + ' min</div>';
      });
    }
    if (unitFeatures.length) {
      h += '<div class="mr-lg-title">Units: largest coverage share</div>';
      SHARE_COLOURS.forEach(function (c, i) {
        h += '<div>' + swatch('background:' + c + ';border:1px solid #888') + SHARE_LABELS[i] + '</div>';
      });
      h += '<div>' + swatch('border:1.8px solid #1a1a1a') + 'member of a metropolitan area</div>';
    }
    var shown = cities.filter(function (c) {
      return c !== '';
    });
    if (shown.length && (features(DATA.catchments).length || features(DATA.metro_areas).length || originFeatures.length)) {
      h += '<div class="mr-lg-title">Cities (catchments, metropolitan areas, origins)</div>';
      shown.slice(0, 12).forEach(function (c) {
        h += '<div>' + swatch('background:' + cityColour(c)) + esc(c) + '</div>';
      });
      if (shown.length > 12) {
        h += '<div class="mr-lg-more">and ' + (shown.length - 12) + ' more (colours repeat)</div>';
      }
    }
    if (roadClasses.length) {
      h += '<div class="mr-lg-title">Roads</div>';
      var major = ['motorway', 'trunk', 'motorway_link', 'trunk_link', 'primary', 'primary_link',
        'secondary', 'secondary_link', 'tertiary', 'tertiary_link'];
      [['motorway', 'motorway, trunk', ['motorway', 'trunk', 'motorway_link', 'trunk_link']],
        ['primary', 'primary', ['primary', 'primary_link']],
        ['secondary', 'secondary', ['secondary', 'secondary_link']],
        ['tertiary', 'tertiary', ['tertiary', 'tertiary_link']],
        ['residential', 'other', null]].forEach(function (r) {
        var present = roadClasses.some(function (c) {
          return r[2] ? r[2].indexOf(c) >= 0 : major.indexOf(c) < 0;
        });
        if (!present) {
          return;
        }
        var st = roadStyle(r[0]);
        h += '<div>' + swatch('background:' + st.color + ';height:' + Math.max(1, Math.round(st.weight)) + 'px;width:18px;vertical-align:middle') + r[1] + '</div>';
      });
    }
    if (originFeatures.length) {
      h += '<div class="mr-lg-title">Other</div><div>' + swatch('border:2px solid #111;border-radius:50%;width:9px;height:9px') +
        'origin, dashed to its snapped road point</div>';
    }
    if (edgeBounds) {
      h += (originFeatures.length ? '' : '<div class="mr-lg-title">Other</div>') + '<div>' + swatch('border:1.5px dashed #333') + 'edge of the extract</div>';
    }
    return h;
  }

  var legend = L.control({ position: 'bottomright' });
  legend.onAdd = function () {
    var d = L.DomUtil.create('div', 'mr-legend');
    d.innerHTML = legendHtml();
    L.DomEvent.disableClickPropagation(d);
    L.DomEvent.disableScrollPropagation(d);
    return d;
  };
  legend.addTo(map);

  // ---- sortable tables ----
  function cellValue(td) {
    var t = td.textContent.trim();
    var n = parseFloat(t.replace(/[\s,%]/g, ''));
    return isNaN(n) || !/^[-+]?[\d.,\s]+%?$/.test(t) ? t.toLowerCase() : n;
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.mr-table'), function (table) {
    Array.prototype.forEach.call(table.querySelectorAll('thead th'), function (th, col) {
      th.addEventListener('click', function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var dir = th.getAttribute('data-sort') === 'asc' ? -1 : 1;
        Array.prototype.forEach.call(table.querySelectorAll('thead th'), function (h) {
          h.removeAttribute('data-sort');
        });
        th.setAttribute('data-sort', dir === 1 ? 'asc' : 'desc');
        rows.sort(function (a, b) {
          var x = cellValue(a.cells[col]);
          var y = cellValue(b.cells[col]);
          if (typeof x !== typeof y) {
            return (typeof x === 'number' ? -1 : 1) * dir;
          }
          return (x < y ? -1 : x > y ? 1 : 0) * dir;
        });
        rows.forEach(function (r) {
          body.appendChild(r);
        });
      });
    });
  });

  // ---- self-test ----
  function checkDetails(group, kind) {
    var layers = group.getLayers().filter(function (l) {
      return l.feature && l.feature.geometry && l.feature.geometry.coordinates.length;
    });
    if (!layers.length) {
      return null;
    }
    var layer = layers[0];
    var name = kind === 'unit' ? layer.feature.properties.name : layer.feature.label;
    var r = { name: name, popup: false, tooltip: false };
    var onMap = map.hasLayer(group);
    if (!onMap) {
      group.addTo(map);
    }
    try {
      layer.openPopup();
      var pe = layer.getPopup() && layer.getPopup().getElement();
      r.popup = !!pe && pe.textContent.indexOf(name) >= 0;
      layer.closePopup();
      layer.openTooltip();
      var te = layer.getTooltip() && layer.getTooltip().getElement();
      r.tooltip = !!te && te.textContent.indexOf(name) >= 0;
      layer.closeTooltip();
    } catch (e) {
      fail('details of ' + kind + ' ' + name, e);
    }
    if (!onMap) {
      map.removeLayer(group);
    }
    return r;
  }

  function rings(ll, out) {
    if (ll.length && ll[0] instanceof L.LatLng) {
      out.push(ll);
    } else {
      ll.forEach(function (x) {
        rings(x, out);
      });
    }
    return out;
  }

  // A point of the map container inside the layer's polygon (a scanline through the middle of its
  // largest ring), or null.
  function innerPoint(layer) {
    var size = map.getSize();
    var rs = rings(layer.getLatLngs(), []).map(function (r) {
      return r.map(function (ll) {
        return map.latLngToContainerPoint(ll);
      });
    });
    var best = null;
    var bestH = -1;
    rs.forEach(function (r) {
      var lo = Infinity;
      var hi = -Infinity;
      r.forEach(function (p) {
        lo = Math.min(lo, p.y);
        hi = Math.max(hi, p.y);
      });
      if (hi - lo > bestH) {
        bestH = hi - lo;
        best = [lo, hi];
      }
    });
    if (!best) {
      return null;
    }
    var y = Math.max(2, Math.min(size.y - 2, (best[0] + best[1]) / 2)) + 0.5;
    var xs = [];
    rs.forEach(function (r) {
      for (var i = 0, j = r.length - 1; i < r.length; j = i++) {
        var a = r[j];
        var b = r[i];
        if ((a.y > y) !== (b.y > y)) {
          xs.push(a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y));
        }
      }
    });
    xs.sort(function (a, b) {
      return a - b;
    });
    var pt = null;
    var width = 0;
    for (var k = 0; k + 1 < xs.length; k += 2) {
      var x0 = Math.max(xs[k], 0);
      var x1 = Math.min(xs[k + 1], size.x);
      if (x1 - x0 > width) {
        width = x1 - x0;
        pt = L.point((x0 + x1) / 2, y);
      }
    }
    return width > 4 ? pt : null;
  }

  function mouse(type, target, x, y) {
    target.dispatchEvent(new MouseEvent(type, {
      bubbles: true,
      cancelable: true,
      view: window,
      clientX: x,
      clientY: y,
      button: 0
    }));
  }

  // Real pointer events on the canvas, through Leaflet's hit-testing: hover then click inside a
  // unit shown on screen; whatever is on top there must show a tooltip and a popup.
  function checkEvents() {
    var r = { tried: 0, hover: false, click: false, target: null, tooltip: null, popup: null };
    var rect = map.getContainer().getBoundingClientRect();
    var layers = units.getLayers();
    for (var i = 0; i < layers.length && r.tried < 50; i++) {
      var p = innerPoint(layers[i]);
      if (!p) {
        continue;
      }
      var x = rect.left + p.x;
      var y = rect.top + p.y;
      var el = document.elementFromPoint(x, y);
      if (!el || el.tagName !== 'CANVAS') {
        continue;
      }
      r.tried++;
      r.target = layers[i].feature.properties.name;
      var tip = null;
      var popup = null;
      var onTip = function (e) {
        tip = e.tooltip;
      };
      var onPopup = function (e) {
        popup = e.popup;
      };
      map.on('tooltipopen', onTip);
      map.on('popupopen', onPopup);
      mouse('mousemove', el, x, y);
      mouse('mousedown', el, x, y);
      mouse('mouseup', el, x, y);
      mouse('click', el, x, y);
      map.off('tooltipopen', onTip);
      map.off('popupopen', onPopup);
      var te = tip && tip.getElement();
      r.hover = !!te && te.textContent.length > 0;
      r.tooltip = te ? te.textContent : null;
      var pe = popup && popup.getElement();
      r.click = !!pe && pe.textContent.length > 0;
      var title = pe && pe.querySelector('.mr-pop-title');
      r.popup = title ? title.textContent : null;
      map.closePopup();
      mouse('mouseout', el, x, y);
      break;
    }
    return r;
  }

  function runSelftest() {
    try {
      var circles = 0;
      minutes.forEach(function (m) {
        circles += bandGroups[m].getLayers().length;
      });
      selftest.layers = {
        circles: circles,
        units: units.getLayers().length,
        catchments: catchments.getLayers().length,
        metro_areas: metro.getLayers().length,
        origins: originCount,
        snap_lines: snapLines,
        roads: roadParts,
        edge: edge.getLayers().length
      };
      var parts = 0;
      features(DATA.roads).forEach(function (f) {
        parts += f.geometry.coordinates.length;
      });
      selftest.expected = {
        circles: features(DATA.circles).length,
        units: unitFeatures.length,
        catchments: features(DATA.catchments).length,
        metro_areas: features(DATA.metro_areas).length,
        origins: originFeatures.length,
        snap_lines: originFeatures.length,
        roads: parts,
        edge: edgeBounds ? 1 : 0
      };
      var center = map.getCenter();
      var zoom = map.getZoom();
      selftest.details.unit = checkDetails(units, 'unit');
      var firstBand = minutes.length ? bandGroups[minutes[0]] : null;
      selftest.details.circle = firstBand ? checkDetails(firstBand, 'circle') : null;
      selftest.details.events = unitFeatures.length ? checkEvents() : null;
      map.closePopup();
      map.setView(center, zoom, { animate: false });
      if (window.performance && performance.getEntriesByType) {
        selftest.resources = performance.getEntriesByType('resource').map(function (e) {
          return e.name;
        });
      }
      var same = Object.keys(selftest.expected).every(function (k) {
        return selftest.expected[k] === selftest.layers[k];
      });
      var d = selftest.details;
      selftest.ok = same && errors.length === 0 && selftest.resources.length === 0 &&
        (!d.unit || (d.unit.popup && d.unit.tooltip)) &&
        (!d.circle || (d.circle.popup && d.circle.tooltip)) &&
        (!d.events || (d.events.hover && d.events.click));
    } catch (e) {
      fail('self-test', e);
    }
    writeSelftest();
  }

  setTimeout(runSelftest, 0);
})();
