/* viz3d web viewer: draws the scene data of a viz3d Scene with three.js (window.THREE).
 *
 * One draw call per kind of thing (instanced boxes, spheres, discs; one line set; one point
 * cloud). Every string from the model reaches the page through textContent, never as markup.
 * Colours are computed in Python (same maps and ranges as the PNG) and arrive as bytes.
 */
(function () {
  "use strict";
  const T = window.THREE;
  const D = JSON.parse(document.getElementById("viz3d-data").textContent);
  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ data
  function decode(a) {
    const bin = atob(a.b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    if (a.dtype === "f4") return new Float32Array(bytes.buffer);
    if (a.dtype === "i4") return new Int32Array(bytes.buffer);
    if (a.dtype === "u2") {
      const q = new Uint16Array(bytes.buffer), out = new Float32Array(q.length);
      for (let i = 0; i < q.length; i++) out[i] = a.lo[i % 3] + q[i] * a.step[i % 3];
      return out;
    }
    return bytes;
  }
  const nodes = D.nodes;
  const N = nodes.length;
  // the data leaves out a module's path when it equals its name
  for (const f of nodes) if (f.module === undefined && f.kind === "module") f.module = f.name;
  const pos = decode(D.positions), size = decode(D.sizes);
  const glyph = decode(D.glyphs), layer = decode(D.layers);
  const labelRank = decode(D.label_rank);
  const LAYER_GAP = D.layer_gap;

  // items: the layout's nodes, the members of folded blocks (shown when expanded), and the
  // solid boxes that stand for collapsed containers (one per row the container spans)
  const items = [];
  for (let i = 0; i < N; i++) {
    items.push({ facts: nodes[i], label: D.labels[i], node: i, fold: null,
      p: [pos[3 * i], pos[3 * i + 1], pos[3 * i + 2]],
      s: [size[3 * i], size[3 * i + 1], size[3 * i + 2]], glyph: glyph[i], layer: layer[i] });
  }

  // ------------------------------------------------------------------ rows: the flow's direction
  // A long model wraps into serpentine rows (every other one running back), towers stand
  // upright: the direction of flow is read from the layers' centres (medians, so a side input
  // off the spine does not bend it). Consecutive layers that step the same way form a row; a
  // step mostly across the row that also leaves the previous layer's extent (the jump to the
  // next row of a serpentine) starts a new one. Opening a block moves what follows it in its
  // row along that row, and nothing else.
  let nLayers = 0;
  for (let i = 0; i < N; i++) nLayers = Math.max(nLayers, layer[i] + 1);
  const byLayer = Array.from({ length: nLayers }, () => []);
  for (let i = 0; i < N; i++) byLayer[layer[i]].push(i);
  const median = (xs) => { xs.sort((a, b) => a - b); return xs[xs.length >> 1]; };
  const centres = [], extents = [];
  for (let L = 0; L < nLayers; L++) {
    const at = byLayer[L];
    centres.push(at.length ? [0, 1, 2].map((a) => median(at.map((i) => pos[3 * i + a])))
      : (centres[L - 1] || [0, 0, 0]));
    extents.push([0, 1, 2].map((a) => at.reduce((r, i) => [Math.min(r[0], pos[3 * i + a] - size[3 * i + a] / 2),
      Math.max(r[1], pos[3 * i + a] + size[3 * i + a] / 2)], [Infinity, -Infinity])));
  }
  const apart = (L, a) => extents[L][a][0] > extents[L - 1][a][1] || extents[L - 1][a][0] > extents[L][a][1];
  const rows = [], rowOfLayer = new Int32Array(Math.max(nLayers, 1));
  for (let L = 0; L < nLayers; L++) {
    let row = rows[rows.length - 1];
    const step = L ? [0, 1, 2].map((a) => centres[L][a] - centres[L - 1][a]) : null;
    const big = step ? Math.max(...step.map(Math.abs)) : 0;
    const across = step ? step.map(Math.abs).indexOf(big) : -1;
    if (row && row.axis >= 0 && (Math.sign(step[row.axis]) !== row.sign
      || (across !== row.axis && byLayer[L].length && byLayer[L - 1].length && apart(L, across)))) row = null;
    if (!row) rows.push(row = { axis: -1, sign: 1 });
    else if (row.axis < 0 && big > 1e-6) {
      row.axis = step.map(Math.abs).indexOf(big);
      row.sign = Math.sign(step[row.axis]);
    }
    rowOfLayer[L] = rows.length - 1;
  }
  if (!rows.length) rows.push({ axis: 0, sign: 1 });
  rows.forEach((row, r) => {
    if (row.axis < 0) Object.assign(row, r ? { axis: rows[r - 1].axis, sign: rows[r - 1].sign }
      : { axis: 0, sign: 1 });
    row.lo = [Infinity, Infinity, Infinity];
    row.hi = [-Infinity, -Infinity, -Infinity];
  });
  for (const it of items) {
    it.row = rowOfLayer[it.layer] || 0;
    const row = rows[it.row];
    for (let a = 0; a < 3; a++) {
      row.lo[a] = Math.min(row.lo[a], it.p[a] - it.s[a] / 2);
      row.hi[a] = Math.max(row.hi[a], it.p[a] + it.s[a] / 2);
    }
  }
  // the coordinate along a row (growing with the flow), and the row a point sits in: the
  // nearest of its edge's two rows, or of all rows where the edges' nodes are not sent
  const along = (row, p) => row.sign * p[row.axis];
  function nearestRow(p, candidates) {
    let best = candidates[0], bestGap = Infinity;
    for (let j = 0; j < candidates.length && bestGap > 0; j++) {
      const lo = rows[candidates[j]].lo, hi = rows[candidates[j]].hi;
      let g = 0;
      for (let a = 0; a < 3; a++) { const d = Math.max(lo[a] - p[a], 0, p[a] - hi[a]); g += d * d; }
      if (g < bestGap) { best = candidates[j]; bestGap = g; }
    }
    return best;
  }
  const allRows = rows.map((_, r) => r);

  const folds = new Map();
  for (const f of D.folds) {
    const base = items[f.node], row = rows[base.row];
    const fold = { node: f.node, members: [], t: 0, target: 0, delta: 0, row: base.row,
      u: along(row, base.p) };
    const step = base.s[row.axis] + LAYER_GAP;
    f.members.forEach((facts, j) => {
      if (facts.module === undefined) facts.module = facts.name;
      fold.members.push(items.length);
      items.push({ facts, label: shortName(facts.name), node: f.node, fold, offset: j * step,
        p: base.p, s: base.s, glyph: base.glyph, layer: base.layer, row: base.row });
    });
    fold.delta = (f.members.length - 1) * step;
    folds.set(f.node, fold);
    base.foldOf = fold;
  }

  // containers: translucent boxes around a module's nodes, one segment per row they span
  // a module laid out over several rows has one box per row (same name): they go together
  const containers = (D.containers || []).map((c, k) => ({ ...c, index: k, segments: [], t: 0,
    target: 0, anim: null, parent: c.parent === null || c.parent === undefined ? -1 : c.parent }));
  const sameModule = new Map();
  for (const c of containers) {
    if (!sameModule.has(c.name)) sameModule.set(c.name, []);
    sameModule.get(c.name).push(c.index);
  }
  const boxOfNode = new Int32Array(N).fill(-1);  // innermost container of each node
  for (const c of containers) {
    for (const i of c.nodes) {
      if (boxOfNode[i] < 0 || containers[boxOfNode[i]].depth < c.depth) boxOfNode[i] = c.index;
    }
    const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    const inRow = new Map();
    for (const i of c.nodes) {
      const it = items[i];
      if (!inRow.has(it.row)) inRow.set(it.row, []);
      inRow.get(it.row).push(i);
      for (let a = 0; a < 3; a++) {
        lo[a] = Math.min(lo[a], it.p[a] - it.s[a] / 2);
        hi[a] = Math.max(hi[a], it.p[a] + it.s[a] / 2);
      }
    }
    // the container's margin around its nodes, kept around each row's part of it
    const padLo = lo.map((v, a) => Math.max(v - c.lo[a], 0));
    const padHi = hi.map((v, a) => Math.max(c.hi[a] - v, 0));
    for (const [r, inside] of [...inRow.entries()].sort((x, y) => x[0] - y[0])) {
      const row = rows[r], ax = row.axis;
      let sLo = c.lo.slice(), sHi = c.hi.slice(), widest = 0;
      if (inRow.size > 1) {
        sLo = [Infinity, Infinity, Infinity];
        sHi = [-Infinity, -Infinity, -Infinity];
        for (const i of inside) {
          const it = items[i];
          for (let a = 0; a < 3; a++) {
            sLo[a] = Math.min(sLo[a], it.p[a] - it.s[a] / 2 - padLo[a]);
            sHi[a] = Math.max(sHi[a], it.p[a] + it.s[a] / 2 + padHi[a]);
          }
        }
      }
      for (const i of inside) widest = Math.max(widest, items[i].s[ax]);
      const a = row.sign > 0 ? sLo[ax] : -sHi[ax], b = row.sign > 0 ? sHi[ax] : -sLo[ax];
      // collapsed, the part shrinks to the length of its widest node and its margins
      const seg = { box: c, row: r, lo: sLo, hi: sHi, a, b,
        L: Math.min(b - a, widest + padLo[ax] + padHi[ax]), item: items.length };
      c.segments.push(seg);
      const facts = { name: c.name, type: c.type, kind: "container", module: c.name,
        params: c.params, flops: c.flops, count: c.count, repeat: c.repeat };
      items.push({ facts, label: shortName(c.name), node: inside[0], fold: null, seg,
        p: sLo.map((v, q) => (v + sHi[q]) / 2), s: sHi.map((v, q) => v - sLo[q]), glyph: 0,
        layer: inside.reduce((m, i) => Math.min(m, items[i].layer), Infinity), row: r });
    }
  }

  function shortName(name) {
    const parts = String(name).split(".");
    return parts.length > 2 ? parts.slice(-2).join(".") : String(name);
  }

  // ------------------------------------------------------------------ layout in the browser
  // How closed each container is (0 open .. 1 collapsed), its ancestors' included: a node
  // inside a closing container shrinks away, its neighbours in the row close up.
  const closedSelf = new Float32Array(containers.length);
  const closedAbove = new Float32Array(containers.length);
  function updateClosed() {
    const done = new Uint8Array(containers.length);
    const visit = (k) => {
      if (done[k]) return closedSelf[k];
      done[k] = 1;
      const c = containers[k], up = c.parent < 0 ? 0 : visit(c.parent);
      closedAbove[k] = up;
      closedSelf[k] = Math.max(up, c.t);
      return closedSelf[k];
    };
    for (let k = 0; k < containers.length; k++) visit(k);
  }
  const closedNode = (i) => (boxOfNode[i] < 0 ? 0 : closedSelf[boxOfNode[i]]);
  // what moves things along each row: open folds push what follows them, collapsed
  // containers squeeze their span to a short box and pull what follows them back
  let moversOf = rows.map(() => []);
  function updateMovers() {
    moversOf = rows.map(() => []);
    for (const f of folds.values()) {
      const d = f.t * f.delta * (1 - closedNode(f.node));
      if (d > 0) moversOf[f.row].push({ fold: f, u: f.u, d });
    }
    for (const c of containers) {
      const w = c.t * (1 - closedAbove[c.index]);
      if (w <= 0) continue;
      for (const g of c.segments) {
        if (g.b - g.a > g.L) moversOf[g.row].push({ fold: null, a: g.a, b: g.b, k: w * (1 - g.L / (g.b - g.a)) });
      }
    }
  }
  function shiftOf(r, u, except) {
    let d = 0;
    for (const m of moversOf[r]) {
      if (m.fold) { if (m.fold !== except && u > m.u + 1e-6) d += m.d; }
      else if (u > m.a) d -= m.k * (Math.min(u, m.b) - m.a);
    }
    return d;
  }
  // a point of row r, moved along the row by what opened or closed before it
  function moved(r, p, out, except = null) {
    const row = rows[r];
    out[0] = p[0]; out[1] = p[1]; out[2] = p[2];
    out[row.axis] += row.sign * shiftOf(r, along(row, p), except);
    return out;
  }
  function itemScale(it) {
    if (it.seg) return it.seg.box.t * (1 - closedAbove[it.seg.box.index]);
    const open = 1 - closedNode(it.node);
    if (it.fold) return it.fold.t * open;
    return it.foldOf && it.foldOf.t > 0 ? 0 : open;
  }
  function visible(it) { return itemScale(it) > 0; }
  // each item's place and size as drawn now (filled by place())
  const gP = new Float32Array(3 * items.length), gS = new Float32Array(3 * items.length);
  const gScale = new Float32Array(items.length);
  const tmp3 = [0, 0, 0];
  function place() {
    updateClosed();
    updateMovers();
    items.forEach((it, k) => {
      const row = rows[it.row], ax = row.axis;
      gScale[k] = itemScale(it);
      if (it.seg) {  // the stand-in spans its part of the container, as squeezed now
        const g = it.seg;
        const a = g.a + shiftOf(it.row, g.a, null), b = g.b + shiftOf(it.row, g.b, null);
        for (let q = 0; q < 3; q++) {
          gP[3 * k + q] = q === ax ? row.sign * (a + b) / 2 : (g.lo[q] + g.hi[q]) / 2;
          gS[3 * k + q] = q === ax ? b - a : g.hi[q] - g.lo[q];
        }
        return;
      }
      moved(it.row, it.p, tmp3, it.fold);
      if (it.fold) tmp3[ax] += row.sign * it.offset * it.fold.t * (1 - closedNode(it.node));
      for (let q = 0; q < 3; q++) { gP[3 * k + q] = tmp3[q]; gS[3 * k + q] = it.s[q]; }
    });
  }

  // sRGB bytes to the linear values three.js lights and blends (it writes sRGB back out)
  const LINEAR = new Float32Array(256);
  for (let i = 0; i < 256; i++) {
    const v = i / 255;
    LINEAR[i] = v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  }

  // ------------------------------------------------------------------ three.js scene
  const view = $("view");
  // multisampling costs most on software WebGL, and big graphs need the frame rate more
  const BIG = N > 3000 || (D.neurons && decode(D.neurons.owner).length > 50000);
  const renderer = new T.WebGLRenderer({ antialias: !BIG, preserveDrawingBuffer: true });
  renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
  view.insertBefore(renderer.domElement, view.firstChild);
  const scene = new T.Scene();
  const cam0 = D.camera || { position: [10, -10, 10], focal_point: [0, 0, 0], up: [0, 0, 1],
    view_angle: 30 };
  const camera = new T.PerspectiveCamera(cam0.view_angle, 1, 0.01, 1e5);
  camera.up.set(...cam0.up);
  camera.position.set(...cam0.position);
  const controls = new T.OrbitControls(camera, renderer.domElement);
  controls.target.set(...cam0.focal_point);
  controls.enableDamping = false;
  controls.screenSpacePanning = true;
  controls.update();
  scene.add(new T.HemisphereLight(0xffffff, 0x404650, 1.6));
  const sun = new T.DirectionalLight(0xffffff, 1.6);
  sun.position.set(-0.4, -1.0, 1.4);
  scene.add(sun);
  const fill = new T.DirectionalLight(0xffffff, 0.5);
  fill.position.set(0.6, 0.8, -0.3);
  scene.add(fill);

  // instances: boxes (and the slices of conv stacks), spheres, discs
  const S = D.slices.count, SFILL = D.slices.fill;
  const kinds = [
    { geo: new T.BoxGeometry(1, 1, 1), owner: [], off: [], frac: [] },
    { geo: new T.SphereGeometry(0.5, BIG ? 10 : 16, BIG ? 6 : 12), owner: [], off: [], frac: [] },
    { geo: new T.CylinderGeometry(0.5, 0.5, 1, BIG ? 10 : 20).rotateZ(Math.PI / 2), owner: [], off: [],
      frac: [] },
  ];
  items.forEach((it, k) => {
    if (it.glyph === 1) {  // slab-stack: S thin slices filling the box along x
      const step = it.s[0] / S;
      for (let s = 0; s < S; s++) {
        kinds[0].owner.push(k);
        kinds[0].off.push(-it.s[0] / 2 + step * (s + 0.5));
        kinds[0].frac.push(SFILL / S);
      }
    } else {
      const kind = kinds[it.glyph === 2 ? 1 : it.glyph === 3 ? 2 : 0];
      kind.owner.push(k);
      kind.off.push(0);
      kind.frac.push(1);
    }
  });
  // conv stacks are picked by their whole box, gaps between slices included (never drawn)
  const proxy = { geo: kinds[0].geo, owner: [], off: [], frac: [], hidden: true };
  items.forEach((it, k) => {
    if (it.glyph !== 1) return;
    proxy.owner.push(k);
    proxy.off.push(0);
    proxy.frac.push(1);
  });
  kinds.push(proxy);
  const pickable = [];
  for (const kind of kinds) {
    const n = Math.max(kind.owner.length, 1);
    const mat = new T.MeshLambertMaterial({ color: 0xffffff });
    kind.mesh = new T.InstancedMesh(kind.geo, mat, n);
    kind.mesh.count = kind.owner.length;
    kind.mesh.instanceColor = new T.InstancedBufferAttribute(new Float32Array(n * 3), 3);
    kind.mesh.frustumCulled = false;
    kind.mesh.visible = !kind.hidden;
    scene.add(kind.mesh);
    pickable.push(kind.mesh);
  }

  // edges (plain lines and skip arcs) in one line set; member chains of expanded folds apart
  const E = D.edges;
  const ePts = decode(E.points), eOff = decode(E.offsets), eSkip = decode(E.skip);
  let nSeg = 0;
  for (let e = 0; e < eSkip.length; e++) nSeg += Math.max(eOff[e + 1] - eOff[e] - 1, 0);
  const ea = new Float32Array(nSeg * 3), eb = new Float32Array(nSeg * 3);
  const eOwner = new Int32Array(nSeg);
  // each point moves with the row it sits in (an edge around a U-turn starts in one row and
  // ends in the next)
  const eEnds = E.index ? decode(E.index) : new Int32Array(0);
  const eRow = new Int32Array(Math.max(eOff[eSkip.length] || 0, 1));
  for (let e = 0, s = 0; e < eSkip.length; e++) {
    const near = eEnds.length ? [items[eEnds[2 * e]].row, items[eEnds[2 * e + 1]].row] : allRows;
    for (let p = eOff[e]; p < eOff[e + 1]; p++) eRow[p] = nearestRow(ePts.subarray(3 * p, 3 * p + 3), near);
    for (let p = eOff[e]; p + 1 < eOff[e + 1]; p++, s++) {
      ea.set(ePts.subarray(3 * p, 3 * p + 3), 3 * s);
      eb.set(ePts.subarray(3 * p + 3, 3 * p + 6), 3 * s);
      eOwner[s] = e;
    }
  }
  const segFirst = new Int32Array(nSeg);  // the point each segment starts at
  for (let e = 0, s = 0; e < eSkip.length; e++) {
    for (let p = eOff[e]; p + 1 < eOff[e + 1]; p++, s++) segFirst[s] = p;
  }
  const edgeGeo = new T.BufferGeometry();
  const edgePos = new Float32Array(nSeg * 6), edgeCol = new Float32Array(nSeg * 6);
  edgeGeo.setAttribute("position", new T.BufferAttribute(edgePos, 3));
  edgeGeo.setAttribute("color", new T.BufferAttribute(edgeCol, 3));
  const edgeLines = new T.LineSegments(edgeGeo, new T.LineBasicMaterial({ vertexColors: true,
    transparent: true, opacity: 0.9 }));
  edgeLines.frustumCulled = false;
  scene.add(edgeLines);
  const cEdge = new T.Color(D.colors.edge), cSkip = new T.Color(D.colors.skip);
  for (let s = 0; s < nSeg; s++) {
    const c = eSkip[eOwner[s]] ? cSkip : cEdge;
    for (let v = 0; v < 2; v++) c.toArray(edgeCol, 6 * s + 3 * v);
  }
  let nChain = 0;
  for (const f of folds.values()) nChain += f.members.length - 1;
  const chainPos = new Float32Array(Math.max(nChain, 1) * 6);
  const chainGeo = new T.BufferGeometry();
  chainGeo.setAttribute("position", new T.BufferAttribute(chainPos, 3));
  const chainLines = new T.LineSegments(chainGeo, new T.LineBasicMaterial({ color: cEdge }));
  chainLines.frustumCulled = false;
  scene.add(chainLines);

  // neurons: one point cloud
  const NE = D.neurons;
  const nPts = decode(NE.points), nOwner = decode(NE.owner), nRgb = decode(NE.rgb);
  const nCount = nOwner.length;
  const ptGeo = new T.BufferGeometry();
  const ptPos = new Float32Array(nPts.length);
  ptGeo.setAttribute("position", new T.BufferAttribute(ptPos, 3));
  const ptCol = new Float32Array(nCount * 3);
  for (let i = 0; i < nCount * 3; i++) ptCol[i] = LINEAR[nRgb[i]];
  ptGeo.setAttribute("color", new T.BufferAttribute(ptCol, 3));
  // round points, as PyVista draws neurons (spheres), not the squares of GL points
  const dot = document.createElement("canvas");
  dot.width = dot.height = 64;
  const dctx = dot.getContext("2d");
  dctx.fillStyle = "#fff";
  dctx.beginPath();
  dctx.arc(32, 32, 30, 0, 2 * Math.PI);
  dctx.fill();
  const points = new T.Points(ptGeo, new T.PointsMaterial({ size: NE.size || 0.1,
    vertexColors: true, sizeAttenuation: true, map: new T.CanvasTexture(dot), alphaTest: 0.5 }));
  points.frustumCulled = false;
  scene.add(points);

  // containers: translucent shells in one draw call; a folded xN block's shell has the other
  // members behind it as fainter ghosts (a few: they say "more of the same", not how many)
  const MAX_GHOSTS = 6;
  const shells = [];
  for (const c of containers) {
    c.segments.forEach((g, j) => {
      shells.push({ seg: g, ghost: 0 });
      for (let h = 1; j === 0 && h < Math.min(c.repeat, MAX_GHOSTS + 1); h++) shells.push({ seg: g, ghost: h });
    });
  }
  const nShell = Math.max(shells.length, 1);
  const shellMesh = new T.InstancedMesh(kinds[0].geo, new T.MeshLambertMaterial({ color: 0xffffff,
    transparent: true, opacity: 0.13, depthWrite: false }), nShell);
  shellMesh.count = shells.length;
  shellMesh.instanceColor = new T.InstancedBufferAttribute(new Float32Array(nShell * 3), 3);
  shellMesh.frustumCulled = false;
  scene.add(shellMesh);
  const SHELL_COLORS = (D.colors.containers || ["#4f8cff"]).map((c) => new T.Color(c));
  // their outlines (12 edges a box) read better than the faint faces
  const BOX_EDGES = [];
  for (let i = 0; i < 8; i++) for (const b of [1, 2, 4]) if (!(i & b)) BOX_EDGES.push(i, i | b);
  const shellLinePos = new Float32Array(nShell * 72), shellLineCol = new Float32Array(nShell * 72);
  const shellLineGeo = new T.BufferGeometry();
  shellLineGeo.setAttribute("position", new T.BufferAttribute(shellLinePos, 3));
  shellLineGeo.setAttribute("color", new T.BufferAttribute(shellLineCol, 3));
  const shellLines = new T.LineSegments(shellLineGeo, new T.LineBasicMaterial({ vertexColors: true,
    transparent: true, opacity: 0.8 }));
  shellLines.frustumCulled = false;
  scene.add(shellLines);

  // selection outline
  const outline = new T.LineSegments(new T.EdgesGeometry(new T.BoxGeometry(1, 1, 1)),
    new T.LineBasicMaterial({ color: 0xffd166 }));
  outline.visible = false;
  scene.add(outline);

  // the scene's other meshes (loss surfaces, contours, trajectories, outlines): plain geometry
  const extraBox = new T.Box3();
  const hoverMeshes = [];
  for (const m of D.meshes) {
    const pts = decode(m.points);
    const geo = new T.BufferGeometry();
    geo.setAttribute("position", new T.BufferAttribute(pts, 3));
    const rgb = m.rgb ? decode(m.rgb) : null;
    if (rgb) {
      const c = new Float32Array(rgb.length);
      for (let i = 0; i < rgb.length; i++) c[i] = LINEAR[rgb[i]];
      geo.setAttribute("color", new T.BufferAttribute(c, 3));
    }
    geo.computeBoundingBox();
    extraBox.union(geo.boundingBox);
    const look = { color: rgb ? 0xffffff : new T.Color(m.color), vertexColors: !!rgb,
      transparent: m.opacity < 1, opacity: m.opacity };
    const tris = decode(m.triangles), segs = decode(m.segments), verts = decode(m.vertices);
    if (tris.length) {
      const g = geo.clone();
      g.setIndex(new T.BufferAttribute(new Uint32Array(tris), 1));
      g.computeVertexNormals();
      const mesh = new T.Mesh(g, meshMaterial(m, g, look));
      mesh.userData = { name: m.name, hover: Object.fromEntries(
        Object.entries(m.hover).map(([k, v]) => [k, decode(v)])) };
      scene.add(mesh);
      hoverMeshes.push(mesh);
    }
    if (segs.length) {
      const g = geo.clone();
      g.setIndex(new T.BufferAttribute(new Uint32Array(segs), 1));
      scene.add(new T.LineSegments(g, new T.LineBasicMaterial(look)));
    }
    if (verts.length) {
      const g = geo.clone();
      g.setIndex(new T.BufferAttribute(new Uint32Array(verts), 1));
      scene.add(new T.Points(g, new T.PointsMaterial({ ...look, size: m.point_size,
        sizeAttenuation: false })));
    }
  }
  // a picture (feature map, Grad-CAM) is data: drawn unlit, so its colours read as in the PNG;
  // so is an actor drawn with lighting=False (a floor plate)
  function meshMaterial(m, g, look) {
    if (!m.texture) {
      const Material = m.lit === false ? T.MeshBasicMaterial : T.MeshLambertMaterial;
      return new Material({ ...look, side: T.DoubleSide });
    }
    g.setAttribute("uv", new T.BufferAttribute(decode(m.uv), 2));
    const image = new Image(), map = new T.Texture(image);
    map.colorSpace = T.SRGBColorSpace;
    map.magFilter = T.NearestFilter;  // upsampled activation maps keep crisp pixels
    map.minFilter = T.LinearFilter;
    map.generateMipmaps = false;
    image.onload = () => { map.needsUpdate = true; requestRender(); };
    image.src = m.texture;
    return new T.MeshBasicMaterial({ map, side: T.DoubleSide, transparent: m.opacity < 1,
      opacity: m.opacity });
  }
  // hover facts of a mesh point: its arrays there (a landscape: alpha, beta and the loss)
  function meshFacts(hit) {
    const pos = hit.object.geometry.attributes.position;
    let best = hit.face.a, bestD = Infinity;
    for (const v of [hit.face.a, hit.face.b, hit.face.c]) {
      const d = v3.fromBufferAttribute(pos, v).distanceToSquared(hit.point);
      if (d < bestD) { bestD = d; best = v; }
    }
    v3.fromBufferAttribute(pos, best);
    // a landscape's x and y are its alpha and beta; elsewhere coordinates mean nothing to the
    // reader and show only when the mesh has no values of its own
    const arrays = Object.keys(hit.object.userData.hover).length;
    const axes = D.kind === "landscape" ? ["\u03b1", "\u03b2"]
      : D.kind === "landscape-1d" ? ["\u03b1"] : arrays ? [] : ["x", "y", "z"];
    const rows = axes.map((a, i) => [a, num(v3.getComponent(i))]);
    for (const [k, arr] of Object.entries(hit.object.userData.hover)) rows.push([k, num(arr[best])]);
    return { name: hit.object.userData.name, rows };
  }

  // ------------------------------------------------------------------ geometry updates
  const m4 = new T.Matrix4(), q0 = new T.Quaternion(), v3 = new T.Vector3(), s3 = new T.Vector3();
  // the outermost collapsed container around node i (-1: none); an edge inside one is hidden
  function outerClosed(i) {
    let out = -1;
    for (let k = boxOfNode[i]; k >= 0; k = containers[k].parent) {
      if (containers[k].t >= 1) out = k;
    }
    return out;
  }
  function placeShells() {
    shells.forEach((sh, k) => {
      const g = sh.seg, c = g.box, row = rows[g.row], ax = row.axis;
      const a = g.a + shiftOf(g.row, g.a, null), b = g.b + shiftOf(g.row, g.b, null);
      // a collapsed container's solid box takes the place of its shell; ghosts stay behind it
      const show = closedAbove[c.index] < 1 && (sh.ghost > 0 || c.t < 1);
      for (let q = 0; q < 3; q++) {
        const at = q === ax ? row.sign * (a + b) / 2 : (g.lo[q] + g.hi[q]) / 2;
        v3.setComponent(q, at + sh.ghost * c.ghost_offset[q]);
        s3.setComponent(q, show ? Math.max(q === ax ? b - a : g.hi[q] - g.lo[q], 1e-6) : 1e-6);
      }
      shellMesh.setMatrixAt(k, m4.compose(v3, q0, s3));
      BOX_EDGES.forEach((corner, j) => {
        for (let q = 0; q < 3; q++) {
          shellLinePos[72 * k + 3 * j + q] = show ? v3.getComponent(q)
            + (corner & (1 << q) ? 0.5 : -0.5) * s3.getComponent(q) : 0;
        }
      });
    });
    shellMesh.instanceMatrix.needsUpdate = true;
    shellMesh.computeBoundingSphere();
    shellLineGeo.attributes.position.needsUpdate = true;
  }
  function updateGeometry() {
    place();
    for (const kind of kinds) {
      for (let k = 0; k < kind.owner.length; k++) {
        const i = kind.owner[k], sc = gScale[i];
        v3.set(gP[3 * i] + kind.off[k] * sc, gP[3 * i + 1], gP[3 * i + 2]);
        s3.set(Math.max(gS[3 * i] * kind.frac[k] * sc, 1e-6), Math.max(gS[3 * i + 1] * sc, 1e-6),
          Math.max(gS[3 * i + 2] * sc, 1e-6));
        kind.mesh.setMatrixAt(k, m4.compose(v3, q0, s3));
      }
      kind.mesh.instanceMatrix.needsUpdate = true;
      kind.mesh.computeBoundingSphere();
    }
    placeShells();
    const hiddenEdge = new Uint8Array(eSkip.length);
    if (containers.length && eEnds.length) {
      for (let e = 0; e < eSkip.length; e++) {
        const o = outerClosed(eEnds[2 * e]);
        hiddenEdge[e] = o >= 0 && o === outerClosed(eEnds[2 * e + 1]) ? 1 : 0;
      }
    }
    for (let s = 0; s < nSeg; s++) {
      const p = segFirst[s];
      if (hiddenEdge[eOwner[s]]) { edgePos.fill(0, 6 * s, 6 * s + 6); continue; }
      moved(eRow[p], ea.subarray(3 * s, 3 * s + 3), tmp3);
      edgePos.set(tmp3, 6 * s);
      moved(eRow[p + 1], eb.subarray(3 * s, 3 * s + 3), tmp3);
      edgePos.set(tmp3, 6 * s + 3);
    }
    edgeGeo.attributes.position.needsUpdate = true;
    let c = 0;
    for (const f of folds.values()) {
      const row = rows[f.row], ax = row.axis;
      for (let j = 0; j + 1 < f.members.length; j++, c++) {
        const a = f.members[j], b = f.members[j + 1];
        if (!(gScale[a] > 0)) { chainPos.fill(0, 6 * c, 6 * c + 6); continue; }
        for (let q = 0; q < 3; q++) {
          chainPos[6 * c + q] = gP[3 * a + q] + (q === ax ? row.sign * gS[3 * a + q] / 2 : 0);
          chainPos[6 * c + 3 + q] = gP[3 * b + q] - (q === ax ? row.sign * gS[3 * b + q] / 2 : 0);
        }
      }
    }
    chainGeo.attributes.position.needsUpdate = true;
    chainLines.visible = [...folds.values()].some((f) => f.t > 0);
    for (let i = 0; i < nCount; i++) {
      const it = items[nOwner[i]];
      const hide = (it.foldOf && it.foldOf.t > 0) || closedNode(it.node) > 0;
      // half a point off the face it sits on, so the box does not cut the round sprite in two
      const out = Math.sign(nPts[3 * i] - it.p[0]) * Math.min(0.5 * (NE.size || 0), 0.05);
      moved(it.row, nPts.subarray(3 * i, 3 * i + 3), tmp3);
      ptPos[3 * i] = hide ? 0 : tmp3[0] + out;
      ptPos[3 * i + 1] = hide ? 0 : tmp3[1];
      ptPos[3 * i + 2] = hide ? -1e7 : tmp3[2];
    }
    ptGeo.attributes.position.needsUpdate = true;
    if (selected !== null) placeOutline(selected);
    labelsDirty = true;
  }

  // ------------------------------------------------------------------ colours
  const overlays = new Map(D.overlays.map((o) => [o.name, { ...o, rgb: decode(o.rgb) }]));
  let overlay = overlays.get(D.overlay) || overlays.values().next().value || null;
  let hovered = null, hoveredBox = null, selected = null, matches = null;
  let animStep = -1;
  const white = new T.Color(1, 1, 1), col = new T.Color(), bgCol = new T.Color();
  const nanCol = new T.Color(D.colors.nan);

  function baseColor(it, out) {
    if (!overlay) return out.copy(nanCol);
    if (it.seg) return meanColor(it.seg.box, out);
    const i = it.node * 3;
    return out.setRGB(overlay.rgb[i] / 255, overlay.rgb[i + 1] / 255, overlay.rgb[i + 2] / 255,
      T.SRGBColorSpace);
  }
  function colorOf(idx, out) {
    const it = items[idx];
    baseColor(it, out);
    if (matches && !matches.has(idx)) out.lerp(bgCol, 0.75);
    if (animStep >= 0) {
      if (it.layer === animStep) out.lerp(white, 0.65);
      else if (it.layer > animStep) out.lerp(bgCol, 0.6);
    }
    if (idx === hovered) out.lerp(white, 0.35);
    return out;
  }
  // a collapsed container stands for its nodes: the mean of their colours
  function meanColor(c, out) {
    if (!c.mean || c.mean.overlay !== overlay) {
      const sum = [0, 0, 0];
      for (const i of c.nodes) for (let q = 0; q < 3; q++) sum[q] += overlay.rgb[3 * i + q];
      c.mean = { overlay, rgb: sum.map((v) => v / c.nodes.length / 255) };
    }
    return out.setRGB(...c.mean.rgb, T.SRGBColorSpace);
  }
  function shellColor(sh, out) {
    out.copy(SHELL_COLORS[sh.seg.box.depth % SHELL_COLORS.length]);
    if (sh.ghost) out.lerp(bgCol, Math.min(0.45 + 0.07 * sh.ghost, 0.85));
    if (sh.seg.box.index === hoveredBox) out.lerp(white, 0.5);
    return out;
  }
  function updateColors() {
    bgCol.set(themeBackground());
    for (const kind of kinds) {
      for (let k = 0; k < kind.owner.length; k++) kind.mesh.setColorAt(k, colorOf(kind.owner[k], col));
      kind.mesh.instanceColor.needsUpdate = true;
    }
    updateShellColors();
  }
  function updateShellColors() {
    shells.forEach((sh, k) => {
      shellMesh.setColorAt(k, shellColor(sh, col));
      for (let j = 0; j < 24; j++) col.toArray(shellLineCol, 72 * k + 3 * j);
    });
    shellMesh.instanceColor.needsUpdate = true;
    shellLineGeo.attributes.color.needsUpdate = true;
    requestRender();
  }
  // the instances of each item, to recolour one item (hover) without touching the others
  const instancesOf = items.map(() => []);
  kinds.forEach((kind, q) => kind.owner.forEach((idx, k) => instancesOf[idx].push(q, k)));
  function updateItemColor(idx) {
    if (idx === null) return;
    colorOf(idx, col);
    const list = instancesOf[idx];
    for (let j = 0; j < list.length; j += 2) {
      kinds[list[j]].mesh.setColorAt(list[j + 1], col);
      kinds[list[j]].mesh.instanceColor.needsUpdate = true;
    }
    requestRender();
  }

  // ------------------------------------------------------------------ rendering
  let needsRender = true, frames = 0, firstFrameMs = null, labelsDirty = true;
  let renderMs = 0, hoverLatency = null;
  const animations = new Set();
  function requestRender() { needsRender = true; }
  function resize() {
    const w = view.clientWidth || 1, h = view.clientHeight || 1;
    renderer.setSize(w, h, false);
    renderer.domElement.style.width = w + "px";
    renderer.domElement.style.height = h + "px";
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
    labelsDirty = true;
    requestRender();
  }
  window.addEventListener("resize", resize);
  controls.addEventListener("change", () => { labelsDirty = true; requestRender(); });

  function loop(now) {
    for (const step of [...animations]) if (step(now) === false) animations.delete(step);
    if (needsRender) {
      needsRender = false;
      const t0 = performance.now();
      renderer.render(scene, camera);
      renderMs = performance.now() - t0;
      frames += 1;
      if (firstFrameMs === null) firstFrameMs = performance.now();
      if (labelsDirty) updateLabels();
    }
    requestAnimationFrame(loop);
  }

  function tween(ms, apply, done) {
    const start = performance.now();
    const step = (now) => {
      const t = Math.min((now - start) / ms, 1);
      apply(t < 1 ? 0.5 - 0.5 * Math.cos(Math.PI * t) : 1);
      requestRender();
      if (t >= 1) { if (done) done(); return false; }
      return true;
    };
    animations.add(step);
    return step;
  }

  // ------------------------------------------------------------------ camera
  const bounds = new T.Box3();
  function itemBox(idx, box) {
    v3.fromArray(gP, 3 * idx);
    s3.fromArray(gS, 3 * idx).multiplyScalar(0.5);
    return box.set(v3.clone().sub(s3), v3.clone().add(s3));
  }
  function boxOf(indices) {
    const box = new T.Box3(), one = new T.Box3();
    for (const idx of indices) box.union(itemBox(idx, one));
    return box;
  }
  let flight = null;
  function flyTo(box, ms = 650) {
    if (box.isEmpty()) return;
    const center = box.getCenter(new T.Vector3());
    const radius = Math.max(box.getSize(new T.Vector3()).length() / 2, 0.6);
    const dir = camera.position.clone().sub(controls.target).normalize();
    const dist = radius / Math.sin((camera.fov * Math.PI) / 360) * 1.1;
    const fromPos = camera.position.clone(), fromTarget = controls.target.clone();
    const toPos = center.clone().add(dir.multiplyScalar(dist));
    if (flight) animations.delete(flight);
    flight = tween(ms, (t) => {
      camera.position.lerpVectors(fromPos, toPos, t);
      controls.target.lerpVectors(fromTarget, center, t);
      controls.update();
    }, () => { flight = null; });
  }
  // the scene's own view direction, at the distance that fits everything in this window
  function homeView() {
    const box = boxOf(items.map((_, k) => k).filter((k) => visible(items[k])));
    if (!extraBox.isEmpty()) box.union(extraBox);
    for (let s = 0; s < nSeg; s++) {
      box.expandByPoint(v3.set(edgePos[6 * s], edgePos[6 * s + 1], edgePos[6 * s + 2]));
      box.expandByPoint(v3.set(edgePos[6 * s + 3], edgePos[6 * s + 4], edgePos[6 * s + 5]));
    }
    const dir = new T.Vector3(...cam0.position).sub(new T.Vector3(...cam0.focal_point)).normalize();
    const center = box.isEmpty() ? new T.Vector3(...cam0.focal_point) : box.getCenter(new T.Vector3());
    const right = new T.Vector3().crossVectors(camera.up, dir).normalize();
    const up = new T.Vector3().crossVectors(dir, right).normalize();
    const tanV = Math.tan((camera.fov * Math.PI) / 360), tanH = tanV * camera.aspect;
    let dist = 1;
    for (let c = 0; c < 8 && !box.isEmpty(); c++) {
      const q = new T.Vector3(c & 1 ? box.max.x : box.min.x, c & 2 ? box.max.y : box.min.y,
        c & 4 ? box.max.z : box.min.z).sub(center);
      const need = Math.max(Math.abs(q.dot(right)) / (0.92 * tanH), Math.abs(q.dot(up)) / (0.88 * tanV));
      dist = Math.max(dist, q.dot(dir) + need);
    }
    return { position: center.clone().add(dir.multiplyScalar(dist)), target: center };
  }
  function resetView() {
    const fromPos = camera.position.clone(), fromTarget = controls.target.clone();
    const home = homeView();
    const toPos = home.position, toTarget = home.target;
    if (flight) animations.delete(flight);
    flight = tween(500, (t) => {
      camera.position.lerpVectors(fromPos, toPos, t);
      controls.target.lerpVectors(fromTarget, toTarget, t);
      controls.update();
    }, () => { flight = null; });
  }
  function placeOutline(idx) {
    const box = itemBox(idx, bounds);
    box.getCenter(outline.position);
    box.getSize(outline.scale).multiplyScalar(1.08).addScalar(0.04);
    outline.visible = visible(items[idx]);
  }

  // ------------------------------------------------------------------ facts
  function human(n) {
    if (n === null || n === undefined) return "?";
    const units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
    for (const [v, u] of units) if (Math.abs(n) >= v) return (n / v).toFixed(n / v >= 100 ? 0 : 1) + u;
    return String(n);
  }
  function num(v) {
    if (v === null || v === undefined) return "n/a";
    return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toPrecision(4);
  }
  function shapes(s) {
    if (!s || !s.length) return "?";
    return s.map((x) => (Array.isArray(x) ? "(" + x.join(", ") + ")" : String(x))).join(", ");
  }
  function facts(idx) {
    const it = items[idx];
    return factsOf(it.facts, it);
  }
  function boxFacts(c) {
    return factsOf({ name: c.name, type: c.type, kind: "container", params: c.params,
      flops: c.flops, count: c.count, repeat: c.repeat }, null);
  }
  function factsOf(f, it) {
    const rows = [];
    rows.push(["class", f.type || f.kind || "?"]);
    if (f.repeat > 1) rows.push(["repeat", "x" + f.repeat + " (folded)"]);
    if (f.member) rows.push(["member", f.member + " of " + f.member_of]);
    if (f.kind === "container") {
      // a container's totals are sums over its nodes; a folded one holds member 0's nodes
      const each = f.repeat > 1 ? " per member" : "";
      rows.push(["nodes", String(f.count) + (it && it.seg ? " (collapsed)" : "")]);
      rows.push(["params", human(f.params || 0) + each], ["FLOPs", human(f.flops || 0) + each]);
      return rows;
    }
    rows.push(["input", shapes(f.in_shapes)]);
    rows.push(["output", shapes(f.out_shapes)]);
    // a member without its own numbers shows an equal share of its block's, and says so
    const share = f.share ? " (share of " + f.member_of + ")" : "";
    rows.push(["params", human(f.params || 0) + share]);
    rows.push(["FLOPs", human(f.flops || 0) + share]);
    const st = f.stats;
    if (st) {
      rows.push(["act mean", num(st.mean)]);
      rows.push(["act std", num(st.std)]);
      rows.push(["act abs-max", num(st.absmax)]);
      if (st.n_nan || st.n_inf) rows.push(["non-finite", `${st.n_nan || 0} NaN, ${st.n_inf || 0} inf`]);
    }
    if (it && overlay && overlay.kind === "scalar" && !["activation", "params", "flops"].includes(overlay.name)) {
      rows.push([overlay.name, num(overlay.values[it.node])]);
    }
    if (f.failed) rows.push(["failed", "the forward pass raised here"]);
    (f.notes || []).forEach((note) => rows.push(["note", String(note)]));
    return rows;
  }

  // ------------------------------------------------------------------ tooltip and picking
  const tooltip = $("tooltip");
  const raycaster = new T.Raycaster();
  const mouse = new T.Vector2();
  let lastMove = null, lastPick = -1e9;
  function pick(clientX, clientY) {
    const r = renderer.domElement.getBoundingClientRect();
    mouse.set(((clientX - r.left) / r.width) * 2 - 1, -((clientY - r.top) / r.height) * 2 + 1);
    raycaster.setFromCamera(mouse, camera);
    const hits = raycaster.intersectObjects(pickable, false);
    for (const h of hits) {
      const kind = kinds.find((k) => k.mesh === h.object);
      const idx = kind.owner[h.instanceId];
      if (visible(items[idx])) return idx;
    }
    return null;
  }
  // the innermost container under the pointer, as a tooltip (after pick(), which aims the ray)
  function pickBox() {
    let best = null;
    if (!shells.length) return null;
    for (const h of raycaster.intersectObject(shellMesh, false)) {
      const sh = shells[h.instanceId], c = sh.seg.box;
      if (closedAbove[c.index] >= 1 || (c.t >= 1 && !sh.ghost)) continue;
      if (best === null || c.depth > best.box.depth) best = { box: c, ghost: sh.ghost };
    }
    return best;
  }
  // a ghost of a folded block shows its own member's numbers where the layout has them
  function boxHit(hit) {
    const c = hit.box, member = hit.ghost ? c.members[hit.ghost] : null;
    if (member) {
      const f = { ...member, type: c.type, kind: "module", member_of: c.name,
        member: (hit.ghost + 1) + " of " + c.repeat };
      return { name: member.name, rows: factsOf(f, null) };
    }
    return { name: c.name, rows: [...boxFacts(c), ["click", c.t > 0 ? "expand it" : "collapse it"]] };
  }
  function pickMesh(clientX, clientY) {
    if (!hoverMeshes.length) return null;
    const hit = raycaster.intersectObjects(hoverMeshes, false)[0];
    return hit ? meshFacts(hit) : null;
  }
  function showTooltip(idx, clientX, clientY, meshHit) {
    if (idx === null && !meshHit) { tooltip.hidden = true; return; }
    const name = idx === null ? meshHit.name : items[idx].facts.name || "?";
    const rows = idx === null ? meshHit.rows : facts(idx);
    tooltip.textContent = "";
    const head = document.createElement("b");
    head.textContent = name;
    tooltip.appendChild(head);
    tooltip.appendChild(document.createTextNode(rows.map(([k, v]) => k + ": " + v).join("\n")));
    tooltip.hidden = false;
    const r = view.getBoundingClientRect();
    let x = clientX - r.left + 14, y = clientY - r.top + 14;
    if (x + tooltip.offsetWidth > r.width) x = Math.max(0, clientX - r.left - tooltip.offsetWidth - 14);
    if (y + tooltip.offsetHeight > r.height) y = Math.max(0, clientY - r.top - tooltip.offsetHeight - 14);
    tooltip.style.left = x + "px";
    tooltip.style.top = y + "px";
  }
  function hover(clientX, clientY) {
    const idx = pick(clientX, clientY);
    // big scenes on software WebGL redraw in tenths of a second: there the tooltip alone
    // answers the hover, so no redraw holds up the next mouse event
    if (idx !== hovered && !BIG) {
      const before = hovered;
      hovered = idx;
      updateItemColor(before);
      updateItemColor(idx);
    }
    const box = idx === null ? pickBox() : null;
    const boxIndex = box ? box.box.index : null;
    if (boxIndex !== hoveredBox && !BIG) { hoveredBox = boxIndex; updateShellColors(); }
    const other = box ? boxHit(box) : idx === null ? pickMesh(clientX, clientY) : null;
    showTooltip(idx, clientX, clientY, other);
    renderer.domElement.style.cursor = idx === null && box === null ? "" : "pointer";
  }
  renderer.domElement.addEventListener("pointermove", (ev) => {
    if (ev.buttons) { tooltip.hidden = true; return; }
    // pick at once (the tooltip must not wait for a frame), at most every 30 ms
    const wait = lastPick + 30 - performance.now();
    const pending = lastMove !== null;
    lastMove = { x: ev.clientX, y: ev.clientY };
    if (pending) return;
    const stamp = ev.timeStamp;
    const run = () => {
      lastPick = performance.now();
      hover(lastMove.x, lastMove.y);
      lastMove = null;
      hoverLatency = performance.now() - stamp;  // input event to tooltip shown
    };
    if (wait <= 0) run(); else setTimeout(run, wait);
  });
  renderer.domElement.addEventListener("pointerleave", () => {
    tooltip.hidden = true;
    if (hovered !== null || hoveredBox !== null) { hovered = hoveredBox = null; updateColors(); }
  });
  let downAt = null, clickTimer = null;
  renderer.domElement.addEventListener("pointerdown", (ev) => { downAt = [ev.clientX, ev.clientY]; });
  renderer.domElement.addEventListener("pointerup", (ev) => {
    if (!downAt || Math.hypot(ev.clientX - downAt[0], ev.clientY - downAt[1]) > 4) return;
    const idx = pick(ev.clientX, ev.clientY);
    const hit = idx === null ? pickBox() : null;
    const box = hit ? hit.box.index : idx !== null && items[idx].seg ? items[idx].seg.box.index : null;
    if (idx !== null && box === null) select(idx);
    // a click on a container closes it, on a collapsed one opens it; a double click (fly to)
    // does neither, so the toggle waits for it
    clearTimeout(clickTimer);
    if (box !== null) clickTimer = setTimeout(() => collapse(box, containers[box].target === 0), 260);
  });
  renderer.domElement.addEventListener("dblclick", (ev) => {
    clearTimeout(clickTimer);
    const idx = pick(ev.clientX, ev.clientY);
    if (idx !== null) { select(idx); flyTo(boxOf([idx])); }
  });

  // ------------------------------------------------------------------ module tree
  const treeRoot = { name: D.info.model_name || "model", path: "", children: new Map(), items: [], depth: 0 };
  function treeNodeFor(path) {
    let node = treeRoot;
    if (!path) return node;
    let acc = "";
    for (const part of path.split(".")) {
      acc = acc ? acc + "." + part : part;
      if (!node.children.has(part)) {
        node.children.set(part, { name: part, path: acc, children: new Map(), items: [], depth: node.depth + 1, parent: node });
      }
      node = node.children.get(part);
    }
    return node;
  }
  const itemTree = new Array(items.length);
  for (let i = 0; i < N; i++) {
    const f = nodes[i];
    const mod = f.kind === "module" && f.module ? String(f.module) : "";
    // a module node sits on its own path; ops, inputs and outputs go under their parent module
    const parentPath = f.kind === "module" ? mod.split(".").slice(0, -1).join(".") : String(f.module || "");
    const parent = treeNodeFor(parentPath);
    const leaf = { name: f.name || f.type || "?", type: f.type || f.kind || "", item: i, children: new Map(),
      items: [], depth: parent.depth + 1, parent, path: mod || null };
    if (f.kind === "module" && mod && (f.repeat || 1) < 2) {
      const own = treeNodeFor(mod);
      own.item = i;
      own.type = f.type;
      itemTree[i] = own;
    } else {
      parent.items.push(leaf);
      itemTree[i] = leaf;
    }
  }
  for (let k = N; k < items.length; k++) itemTree[k] = itemTree[items[k].node];
  // a container's tree entry collapses and expands it (the box before its name)
  const boxTree = new Map();
  for (const c of containers) {
    const tn = treeNodeFor(c.name);
    tn.container = c;
    if (!tn.type) tn.type = c.type;
    boxTree.set(c.index, tn);
    for (const g of c.segments) itemTree[g.item] = tn;
  }
  const treeEl = $("tree");
  function treeRow(tnode) {
    const row = document.createElement("div");
    row.className = "tree-row";
    row.style.setProperty("--depth", String(tnode.depth));
    const tw = document.createElement("span");
    tw.className = "twisty";
    const hasKids = tnode.children.size + tnode.items.length > 0;
    tw.textContent = hasKids ? "\u25B8" : "";
    const nm = document.createElement("span");
    nm.textContent = tnode.name;
    const ty = document.createElement("span");
    ty.className = "type";
    ty.textContent = tnode.type || "";
    row.append(tw);
    if (tnode.container) {
      const c = tnode.container, bt = document.createElement("span");
      bt.className = "box-toggle";
      bt.title = "Collapse or expand this module in the view";
      bt.textContent = c.target > 0 ? "\u229E" : "\u229F";
      bt.addEventListener("click", (ev) => { ev.stopPropagation(); collapse(c.index, c.target === 0); });
      tnode.boxToggle = bt;
      row.append(bt);
    }
    row.append(nm, ty);
    tnode.row = row;
    tnode.twisty = tw;
    const box = document.createElement("div");
    box.hidden = true;
    tnode.box = box;
    row.addEventListener("click", (ev) => {
      if (ev.target === tw || tnode.item === undefined) toggle(tnode);
      if (tnode.item !== undefined) { select(tnode.item); flyTo(boxOf([tnode.item])); }
      else flyTo(boxOf(itemsUnder(tnode)));
    });
    const wrap = document.createElement("div");
    wrap.append(row, box);
    return wrap;
  }
  function itemsUnder(tnode) {
    const out = [];
    const walk = (t) => {
      if (t.item !== undefined) out.push(t.item);
      if (t.container) out.push(...t.container.segments.map((g) => g.item));
      for (const l of t.items) walk(l);
      for (const c of t.children.values()) walk(c);
    };
    walk(tnode);
    return out.filter((i) => visible(items[i]));
  }
  function toggle(tnode, open) {
    const want = open === undefined ? tnode.box.hidden : open;
    if (want && !tnode.built) {
      tnode.built = true;
      for (const c of tnode.children.values()) tnode.box.appendChild(treeRow(c));
      for (const l of tnode.items) tnode.box.appendChild(treeRow(l));
    }
    tnode.box.hidden = !want;
    if (tnode.twisty.textContent) tnode.twisty.textContent = want ? "\u25BE" : "\u25B8";
  }
  treeEl.appendChild(treeRow(treeRoot));
  toggle(treeRoot, true);
  function reveal(idx) {
    const chain = [];
    for (let t = itemTree[idx]; t; t = t.parent) chain.unshift(t);
    for (const t of chain.slice(0, -1)) { if (!t.row) continue; toggle(t, true); }
    const t = itemTree[idx];
    for (const el of treeEl.querySelectorAll(".tree-row.selected")) el.classList.remove("selected");
    if (t.row) { t.row.classList.add("selected"); t.row.scrollIntoView({ block: "nearest" }); }
  }
  $("tree-toggle").addEventListener("click", () => { treeEl.classList.toggle("closed"); resize(); });

  // ------------------------------------------------------------------ details panel
  const details = $("details"), detailsBody = $("details-body");
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function select(idx) {
    selected = idx;
    placeOutline(idx);
    reveal(idx);
    const it = items[idx], f = it.facts;
    detailsBody.textContent = "";
    detailsBody.appendChild(el("h3", f.name || "?"));
    const dl = el("dl");
    const rows = [["module path", f.module || "(model)"], ["node id", f.id || "-"], ...facts(idx)];
    for (const [k, v] of rows) dl.append(el("dt", k), el("dd", String(v)));
    detailsBody.appendChild(dl);
    const t = itemTree[idx];
    const kids = t ? [...t.children.values()].map((c) => c.name + (c.type ? " (" + c.type + ")" : "")) : [];
    if (kids.length) {
      detailsBody.appendChild(el("div", "children (" + kids.length + ")"));
      const ul = el("ul");
      for (const k of kids.slice(0, 200)) ul.appendChild(el("li", k));
      detailsBody.appendChild(ul);
    }
    const calls = f.members && f.members.length ? f.members : f.call ? [f.call] : [];
    if (calls.length) {
      detailsBody.appendChild(el("div", "calls (" + calls.length + ")"));
      const ul = el("ul");
      for (const c of calls.slice(0, 200)) ul.appendChild(el("li", c));
      detailsBody.appendChild(ul);
    }
    const fold = it.fold || it.foldOf;
    const fly = el("button", "Fly to");
    fly.addEventListener("click", () => flyTo(boxOf([idx])));
    detailsBody.appendChild(fly);
    if (fold) {
      const b = el("button", fold.target > 0 ? "Collapse block" : "Expand x" + fold.members.length);
      b.addEventListener("click", () => { expand(fold.node, fold.target === 0); select(fold.target > 0 ? fold.members[0] : fold.node); });
      detailsBody.appendChild(b);
    }
    // the container it stands for, or the innermost one around it
    const box = it.seg ? it.seg.box : boxOfNode[it.node] >= 0 ? containers[boxOfNode[it.node]] : null;
    if (box) {
      const b = el("button", (box.target > 0 ? "Expand " : "Collapse ") + shortName(box.name));
      b.addEventListener("click", () => {
        collapse(box.index, box.target === 0);
        select(box.target > 0 ? box.segments[0].item : box.nodes[0]);
      });
      detailsBody.appendChild(b);
    }
    details.hidden = false;
    resize();
  }
  $("details-close").addEventListener("click", () => {
    details.hidden = true;
    selected = null;
    outline.visible = false;
    resize();
  });

  // ------------------------------------------------------------------ expand / collapse
  // folds open and containers close smoothly: t runs to its target, the layout follows
  function animate(thing, target) {
    thing.target = target;
    const from = thing.t;
    if (thing.anim) animations.delete(thing.anim);
    thing.anim = tween(450, (t) => { thing.t = from + (target - from) * t; updateGeometry(); },
      () => { thing.anim = null; });
  }
  function expand(node, open) {
    const fold = folds.get(node);
    if (!fold) return false;
    animate(fold, open ? 1 : 0);
    return true;
  }
  function collapse(k, on) {
    const c = containers[k];
    if (!c) return false;
    for (const j of sameModule.get(c.name)) animate(containers[j], on ? 1 : 0);
    const tn = boxTree.get(k);
    if (tn && tn.boxToggle) tn.boxToggle.textContent = on ? "\u229E" : "\u229F";
    return true;
  }

  // ------------------------------------------------------------------ search
  const searchEl = $("search"), countEl = $("search-count");
  let searchTimer = null, matchList = [], matchAt = 0;
  function search(q) {
    q = String(q || "").trim().toLowerCase();
    for (const e of treeEl.querySelectorAll(".tree-row.match")) e.classList.remove("match");
    if (!q) { matches = null; matchList = []; countEl.textContent = ""; updateColors(); return []; }
    matchList = [];
    items.forEach((it, k) => {
      const f = it.facts;
      const hay = [f.name, f.type, f.module].map((s) => String(s || "").toLowerCase());
      if (visible(it) && hay.some((s) => s.includes(q))) matchList.push(k);
    });
    matches = new Set(matchList);
    matchAt = 0;
    countEl.textContent = matchList.length + (matchList.length === 1 ? " match" : " matches");
    for (const k of matchList.slice(0, 50)) {
      reveal(k);
      if (itemTree[k].row) itemTree[k].row.classList.add("match");
    }
    for (const e of treeEl.querySelectorAll(".tree-row.selected")) e.classList.remove("selected");
    updateColors();
    if (matchList.length) flyTo(boxOf(matchList));
    return matchList.map((k) => items[k].facts.name);
  }
  searchEl.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => search(searchEl.value), 200);
  });
  searchEl.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter" || !matchList.length) return;
    const k = matchList[matchAt++ % matchList.length];
    select(k);
    flyTo(boxOf([k]));
  });

  // ------------------------------------------------------------------ overlays and legend
  const overlayEl = $("overlay");
  for (const o of overlays.values()) {
    const opt = el("option", o.name);
    opt.value = o.name;
    overlayEl.appendChild(opt);
  }
  if (overlay) overlayEl.value = overlay.name;
  overlayEl.addEventListener("change", () => setOverlay(overlayEl.value));
  function setOverlay(name) {
    if (!overlays.has(name)) return false;
    overlay = overlays.get(name);
    overlayEl.value = name;
    updateLegend();
    updateColors();
    return true;
  }
  function colourBar(body, spec) {
    const bar = el("div", undefined, "bar");
    bar.style.background = "linear-gradient(to right, " + spec.stops.join(", ") + ")";
    const ticks = el("div", undefined, "bar-ticks");
    const [lo, hi] = spec.clim;
    ticks.append(el("span", num(lo)), el("span", num((lo + hi) / 2)), el("span", num(hi)));
    body.append(bar, ticks);
  }
  function updateLegend() {
    const title = $("legend-title"), body = $("legend-body");
    body.textContent = "";
    const spec = overlay || D.mesh_legend;
    title.textContent = spec ? "colour: " + spec.title : "";
    $("legend").hidden = !spec;
    if (!overlay) { if (spec) colourBar(body, spec); return; }
    if (overlay.kind === "scalar") {
      colourBar(body, overlay);
      if (overlay.values.some((v) => v === null)) {
        const row = el("div", undefined, "legend-row");
        const sw = el("span", undefined, "swatch");
        sw.style.background = D.colors.nan;
        row.append(sw, document.createTextNode("no data"));
        body.appendChild(row);
      }
    } else {
      for (const [label, color] of overlay.legend.slice(0, 14)) {
        const row = el("div", undefined, "legend-row");
        const sw = el("span", undefined, "swatch");
        sw.style.background = color;
        row.append(sw, document.createTextNode(label));
        body.appendChild(row);
      }
      if (overlay.legend.length > 14) body.appendChild(el("div", "+" + (overlay.legend.length - 14) + " more"));
    }
  }

  // ------------------------------------------------------------------ labels
  const labelLayer = $("labels");
  const MAX_LABELS = 60, MAX_CANDIDATES = 600;
  const labelPool = [];
  const badgeFor = new Map(D.badges.map((b) => [b.node, b.text]));
  function labelDiv(k) {
    while (labelPool.length <= k) {
      const d = el("div", undefined, "label");
      d.hidden = true;
      labelLayer.appendChild(d);
      labelPool.push({ el: d, item: -1, w: 0, h: 0 });
    }
    return labelPool[k];
  }
  const widthCache = new Map();
  function updateLabels() {
    labelsDirty = false;
    const w = view.clientWidth, h = view.clientHeight;
    const taken = [];
    let used = 0;
    // the scene's own point labels first (a landscape's minimum), then layers by rank
    const order = D.point_labels.map((_, k) => -1 - k);
    for (const c of containers) if (c.t > 0.5) order.push(...c.segments.map((g) => g.item));
    for (const f of folds.values()) if (f.t > 0.5) order.push(...f.members);
    for (let r = 0; r < labelRank.length && order.length < MAX_CANDIDATES; r++) order.push(labelRank[r]);
    for (const idx of order) {
      if (used >= MAX_LABELS) break;
      let text, badge = null;
      if (idx < 0) {
        const pl = D.point_labels[-1 - idx];
        v3.set(...pl.position);
        text = pl.text;
      } else {
        const it = items[idx];
        if (!visible(it)) continue;
        v3.fromArray(gP, 3 * idx);
        v3.z += gS[3 * idx + 2] / 2 + 0.15;
        badge = !it.fold && it.foldOf && it.foldOf.t === 0 ? badgeFor.get(idx) : null;
        text = badge ? it.label + "  " + badge : it.label;
      }
      v3.project(camera);
      if (v3.z > 1 || v3.z < -1) continue;
      const sx = (v3.x * 0.5 + 0.5) * w, sy = (-v3.y * 0.5 + 0.5) * h;
      if (sx < 0 || sx > w || sy < 0 || sy > h) continue;
      const slot = labelDiv(used);
      if (slot.text !== text) {
        slot.el.textContent = text;
        slot.el.className = badge ? "label badge" : "label";
        slot.text = text;
        const key = (badge ? "b:" : "") + text;
        if (!widthCache.has(key)) { slot.el.hidden = false; widthCache.set(key, [slot.el.offsetWidth, slot.el.offsetHeight]); }
        [slot.w, slot.h] = widthCache.get(key);
      }
      const rect = [sx - slot.w / 2, sy - slot.h - 2, sx + slot.w / 2, sy - 2];
      if (taken.some((o) => rect[0] < o[2] && o[0] < rect[2] && rect[1] < o[3] && o[1] < rect[3])) continue;
      taken.push(rect);
      slot.el.hidden = false;
      slot.el.style.transform = `translate(${rect[0].toFixed(1)}px, ${rect[1].toFixed(1)}px)`;
      slot.item = idx;
      used += 1;
    }
    for (let k = used; k < labelPool.length; k++) { labelPool[k].el.hidden = true; labelPool[k].item = -1; }
  }

  // ------------------------------------------------------------------ forward pass animation
  const playEl = $("play");
  let playing = null;
  const maxLayer = items.reduce((m, it) => Math.max(m, it.layer), 0);
  function play(on) {
    if (on === undefined) on = !playing;
    if (playing) { animations.delete(playing); playing = null; }
    if (on) {
      const start = performance.now(), perLayer = Math.max(120, Math.min(400, 8000 / (maxLayer + 1)));
      playing = (now) => {
        const step = Math.floor((now - start) / perLayer) % (maxLayer + 4);
        if (step !== animStep) { animStep = step > maxLayer ? -1 : step; updateColors(); }
        return true;
      };
      animations.add(playing);
    } else {
      animStep = -1;
      updateColors();
    }
    playEl.textContent = on ? "\u23F8 Pause" : "\u25B6 Forward pass";
    return !!playing;
  }
  playEl.addEventListener("click", () => play());

  // ------------------------------------------------------------------ screenshot and theme
  function screenshot() {
    renderer.render(scene, camera);
    const url = renderer.domElement.toDataURL("image/png");
    const a = document.createElement("a");
    a.href = url;
    a.download = (D.info.model_name || "viz3d").replace(/[^A-Za-z0-9_.-]+/g, "_") + ".png";
    document.body.appendChild(a);
    a.click();
    a.remove();
    return url;
  }
  $("shot").addEventListener("click", screenshot);
  let theme = "dark";
  function themeBackground() { return theme === "dark" ? D.background : "#f4f5f7"; }
  function setTheme(name) {
    theme = name === "light" ? "light" : "dark";
    document.body.className = theme;
    renderer.setClearColor(new T.Color(themeBackground()), 1);
    $("theme").textContent = theme === "dark" ? "Light" : "Dark";
    updateColors();
    return theme;
  }
  $("theme").addEventListener("click", () => setTheme(theme === "dark" ? "light" : "dark"));
  $("reset").addEventListener("click", resetView);

  // ------------------------------------------------------------------ start
  const texts = D.texts.length ? D.texts : [""];
  $("title").textContent = (D.title || texts[0]).split("\n")[0];
  const info = D.info;
  $("status").textContent = N ? [info.size_legend || "", `${N} nodes, ${eSkip.length} edges, ${nCount} neurons`,
    folds.size ? "folded blocks: select one to expand it" : "",
    containers.length ? "modules: click a box to collapse it, a solid one to expand it" : ""]
    .filter(Boolean).join("\n")
    : [...(D.title ? texts : texts.slice(1)), ...(D.title ? [] : texts[0].split("\n").slice(1))].join("\n");
  if (!N) {  // no layer graph (a landscape): no tree, overlays or forward pass
    for (const id of ["tree", "tree-toggle", "play", "overlay", "search", "search-count"]) $(id).hidden = true;
    $("overlay").parentElement.hidden = true;
    $("tree").classList.add("closed");
  }
  setTheme("dark");
  updateGeometry();
  updateLegend();
  updateColors();
  resize();
  const home = homeView();
  camera.position.copy(home.position);
  controls.target.copy(home.target);
  camera.far = Math.max(1e3, home.position.distanceTo(home.target) * 20);
  camera.near = camera.far / 1e5;
  camera.updateProjectionMatrix();
  controls.update();
  requestAnimationFrame(loop);

  // a small API for tests and notebooks
  function indexOf(ref) {
    if (typeof ref === "number") return ref;
    const k = items.findIndex((it) => it.facts.name === ref && visible(it));
    return k >= 0 ? k : items.findIndex((it) => it.facts.name === ref);
  }
  window.viz3d = {
    get frames() { return frames; },
    get firstFrameMs() { return firstFrameMs; },
    get renderMs() { return renderMs; },
    get hoverLatency() { return hoverLatency; },
    get busy() { return animations.size > (playing ? 1 : 0); },
    nodeCount: N,
    project(ref) { return this.projectPoint(Array.from(gP.subarray(3 * indexOf(ref), 3 * indexOf(ref) + 3))); },
    projectPoint(xyz) {
      v3.set(...xyz).project(camera);
      const r = renderer.domElement.getBoundingClientRect();
      return { x: r.left + (v3.x * 0.5 + 0.5) * r.width, y: r.top + (-v3.y * 0.5 + 0.5) * r.height };
    },
    pick(x, y) { const k = pick(x, y); return k === null ? null : items[k].facts.name; },
    visibleNodeCount() { return items.filter(visible).length; },
    search,
    highlighted() { return matches ? [...matches].map((k) => items[k].facts.name) : []; },
    cameraPosition() { return camera.position.toArray(); },
    overlays() { return [...overlays.keys()]; },
    setOverlay,
    overlay() { return overlay ? overlay.name : null; },
    expand(ref, open = true) { return expand(items[indexOf(ref)].node, open); },
    folds() { return [...folds.keys()].map((i) => nodes[i].name); },
    containers() { return containers.map((c) => c.name); },
    collapse(name, on = true) { return collapse(containers.findIndex((c) => c.name === name), on); },
    // where a node is drawn now (world coordinates), and the direction its row runs
    position(ref) { return Array.from(gP.subarray(3 * indexOf(ref), 3 * indexOf(ref) + 3)); },
    rowDirection(ref) {
      const row = rows[items[indexOf(ref)].row], d = [0, 0, 0];
      d[row.axis] = row.sign;
      return d;
    },
    flyTo(ref) { flyTo(boxOf([indexOf(ref)])); },
    select(ref) { select(indexOf(ref)); return items[selected].facts.name; },
    selected() { return selected === null ? null : items[selected].facts.name; },
    labels() { return labelPool.filter((s) => s.item >= 0).map((s) => s.el.textContent); },
    play, setTheme, screenshot, resetView,
  };
})();
