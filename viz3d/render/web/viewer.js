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

  // items: the layout's nodes, then the members of folded blocks (shown when expanded)
  const items = [];
  for (let i = 0; i < N; i++) {
    items.push({ facts: nodes[i], label: D.labels[i], node: i, fold: null, x: pos[3 * i],
      y: pos[3 * i + 1], z: pos[3 * i + 2], sx: size[3 * i], sy: size[3 * i + 1],
      sz: size[3 * i + 2], glyph: glyph[i], layer: layer[i] });
  }
  const folds = new Map();
  for (const f of D.folds) {
    const base = items[f.node];
    const fold = { node: f.node, members: [], t: 0, target: 0, delta: 0 };
    const step = base.sx + LAYER_GAP;
    f.members.forEach((facts, j) => {
      fold.members.push(items.length);
      items.push({ facts, label: shortName(facts.name), node: f.node, fold, offset: j * step,
        x: base.x, y: base.y, z: base.z, sx: base.sx, sy: base.sy, sz: base.sz,
        glyph: base.glyph, layer: base.layer });
    });
    fold.delta = (f.members.length - 1) * step;
    folds.set(f.node, fold);
    base.foldOf = fold;
  }

  function shortName(name) {
    const parts = String(name).split(".");
    return parts.length > 2 ? parts.slice(-2).join(".") : String(name);
  }

  // ------------------------------------------------------------------ layout in the browser
  // an expanded fold pushes everything after it along +x; members spread out from its place
  function shiftAt(x, except) {
    let dx = 0;
    for (const f of folds.values()) {
      if (f !== except && f.t > 0 && x > items[f.node].x + 1e-6) dx += f.t * f.delta;
    }
    return dx;
  }
  function itemX(it) {
    if (it.fold) return it.x + shiftAt(it.x, it.fold) + it.offset * it.fold.t;
    return it.x + shiftAt(it.x, null);
  }
  function visible(it) {
    if (it.fold) return it.fold.t > 0;
    return !(it.foldOf && it.foldOf.t > 0);
  }
  function itemScale(it) {
    if (it.fold) return it.fold.t;
    return 1;
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
      const step = it.sx / S;
      for (let s = 0; s < S; s++) {
        kinds[0].owner.push(k);
        kinds[0].off.push(-it.sx / 2 + step * (s + 0.5));
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
  for (let e = 0, s = 0; e < eSkip.length; e++) {
    for (let p = eOff[e]; p + 1 < eOff[e + 1]; p++, s++) {
      ea.set(ePts.subarray(3 * p, 3 * p + 3), 3 * s);
      eb.set(ePts.subarray(3 * p + 3, 3 * p + 6), 3 * s);
      eOwner[s] = e;
    }
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
      const mesh = new T.Mesh(g, new T.MeshLambertMaterial({ ...look, side: T.DoubleSide }));
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
  // hover facts of a mesh point: its arrays there (a landscape: alpha, beta and the loss)
  function meshFacts(hit) {
    const pos = hit.object.geometry.attributes.position;
    let best = hit.face.a, bestD = Infinity;
    for (const v of [hit.face.a, hit.face.b, hit.face.c]) {
      const d = v3.fromBufferAttribute(pos, v).distanceToSquared(hit.point);
      if (d < bestD) { bestD = d; best = v; }
    }
    v3.fromBufferAttribute(pos, best);
    const axes = D.kind === "landscape" ? ["\u03b1", "\u03b2"]
      : D.kind === "landscape-1d" ? ["\u03b1"] : ["x", "y", "z"];
    const rows = axes.map((a, i) => [a, num(v3.getComponent(i))]);
    for (const [k, arr] of Object.entries(hit.object.userData.hover)) rows.push([k, num(arr[best])]);
    return { name: hit.object.userData.name, rows };
  }

  // ------------------------------------------------------------------ geometry updates
  const m4 = new T.Matrix4(), q0 = new T.Quaternion(), v3 = new T.Vector3(), s3 = new T.Vector3();
  function updateGeometry() {
    for (const kind of kinds) {
      for (let k = 0; k < kind.owner.length; k++) {
        const it = items[kind.owner[k]];
        const sc = visible(it) ? itemScale(it) : 0;
        v3.set(itemX(it) + kind.off[k], it.y, it.z);
        s3.set(Math.max(it.sx * kind.frac[k] * sc, 1e-6), Math.max(it.sy * sc, 1e-6),
          Math.max(it.sz * sc, 1e-6));
        kind.mesh.setMatrixAt(k, m4.compose(v3, q0, s3));
      }
      kind.mesh.instanceMatrix.needsUpdate = true;
      kind.mesh.computeBoundingSphere();
    }
    for (let s = 0; s < nSeg; s++) {
      for (let c = 0; c < 3; c++) {
        edgePos[6 * s + c] = ea[3 * s + c];
        edgePos[6 * s + 3 + c] = eb[3 * s + c];
      }
      edgePos[6 * s] += shiftAt(ea[3 * s], null);
      edgePos[6 * s + 3] += shiftAt(eb[3 * s], null);
    }
    edgeGeo.attributes.position.needsUpdate = true;
    let c = 0;
    for (const f of folds.values()) {
      for (let j = 0; j + 1 < f.members.length; j++, c++) {
        const a = items[f.members[j]], b = items[f.members[j + 1]];
        const on = f.t > 0 ? 1 : 0;
        chainPos.set([itemX(a) + a.sx / 2, a.y, a.z * on, itemX(b) - b.sx / 2, b.y, b.z * on],
          6 * c);
        if (!on) chainPos.fill(0, 6 * c, 6 * c + 6);
      }
    }
    chainGeo.attributes.position.needsUpdate = true;
    chainLines.visible = [...folds.values()].some((f) => f.t > 0);
    for (let i = 0; i < nCount; i++) {
      const it = items[nOwner[i]];
      const hide = it.foldOf && it.foldOf.t > 0;
      // half a point off the face it sits on, so the box does not cut the round sprite in two
      const out = Math.sign(nPts[3 * i] - it.x) * Math.min(0.5 * (NE.size || 0), 0.05);
      ptPos[3 * i] = hide ? 0 : nPts[3 * i] + out + shiftAt(nPts[3 * i], null);
      ptPos[3 * i + 1] = hide ? 0 : nPts[3 * i + 1];
      ptPos[3 * i + 2] = hide ? -1e7 : nPts[3 * i + 2];
    }
    ptGeo.attributes.position.needsUpdate = true;
    if (selected !== null) placeOutline(selected);
    labelsDirty = true;
  }

  // ------------------------------------------------------------------ colours
  const overlays = new Map(D.overlays.map((o) => [o.name, { ...o, rgb: decode(o.rgb) }]));
  let overlay = overlays.get(D.overlay) || overlays.values().next().value || null;
  let hovered = null, selected = null, matches = null;
  let animStep = -1;
  const white = new T.Color(1, 1, 1), col = new T.Color(), bgCol = new T.Color();
  const nanCol = new T.Color(D.colors.nan);

  function baseColor(it, out) {
    if (!overlay) return out.copy(nanCol);
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
  function updateColors() {
    bgCol.set(themeBackground());
    for (const kind of kinds) {
      for (let k = 0; k < kind.owner.length; k++) kind.mesh.setColorAt(k, colorOf(kind.owner[k], col));
      kind.mesh.instanceColor.needsUpdate = true;
    }
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
    const it = items[idx];
    v3.set(itemX(it), it.y, it.z);
    s3.set(it.sx, it.sy, it.sz).multiplyScalar(0.5);
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
    const it = items[idx], f = it.facts, rows = [];
    rows.push(["class", f.type || f.kind || "?"]);
    if (f.repeat > 1) rows.push(["repeat", "x" + f.repeat + " (folded)"]);
    if (f.member) rows.push(["member", f.member + " of " + f.member_of]);
    rows.push(["input", shapes(f.in_shapes)]);
    rows.push(["output", shapes(f.out_shapes)]);
    rows.push(["params", human(f.params || 0)]);
    rows.push(["FLOPs", human(f.flops || 0)]);
    const st = f.stats;
    if (st) {
      rows.push(["act mean", num(st.mean)]);
      rows.push(["act std", num(st.std)]);
      rows.push(["act abs-max", num(st.absmax)]);
      if (st.n_nan || st.n_inf) rows.push(["non-finite", `${st.n_nan || 0} NaN, ${st.n_inf || 0} inf`]);
    }
    if (overlay && overlay.kind === "scalar" && !["activation", "params", "flops"].includes(overlay.name)) {
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
    showTooltip(idx, clientX, clientY, idx === null ? pickMesh(clientX, clientY) : null);
    renderer.domElement.style.cursor = idx === null ? "" : "pointer";
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
    if (hovered !== null) { hovered = null; updateColors(); }
  });
  let downAt = null;
  renderer.domElement.addEventListener("pointerdown", (ev) => { downAt = [ev.clientX, ev.clientY]; });
  renderer.domElement.addEventListener("pointerup", (ev) => {
    if (!downAt || Math.hypot(ev.clientX - downAt[0], ev.clientY - downAt[1]) > 4) return;
    const idx = pick(ev.clientX, ev.clientY);
    if (idx !== null) select(idx);
  });
  renderer.domElement.addEventListener("dblclick", (ev) => {
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
    row.append(tw, nm, ty);
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
  function expand(node, open) {
    const fold = folds.get(node);
    if (!fold) return false;
    fold.target = open ? 1 : 0;
    const from = fold.t;
    if (fold.anim) animations.delete(fold.anim);
    fold.anim = tween(450, (t) => { fold.t = from + (fold.target - from) * t; updateGeometry(); },
      () => { fold.anim = null; });
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
        v3.set(itemX(it), it.y, it.z + it.sz / 2 + 0.15);
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
    folds.size ? "folded blocks: select one to expand it" : ""].filter(Boolean).join("\n")
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
    project(ref) {
      const it = items[indexOf(ref)];
      v3.set(itemX(it), it.y, it.z).project(camera);
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
    flyTo(ref) { flyTo(boxOf([indexOf(ref)])); },
    select(ref) { select(indexOf(ref)); return items[selected].facts.name; },
    selected() { return selected === null ? null : items[selected].facts.name; },
    labels() { return labelPool.filter((s) => s.item >= 0).map((s) => s.el.textContent); },
    play, setTheme, screenshot, resetView,
  };
})();
