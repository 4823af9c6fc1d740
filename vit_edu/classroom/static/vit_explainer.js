/* The ViT explainer of vit_edu without a kernel: the static course site draws it from precomputed data.
 *
 *   vitExplainer(container, bundle)
 *
 * `bundle` is the JSON of vit_edu.widgets.vit_explainer.explainer_bundle (its docstring is the reference).
 * Every array arrives as {dtype: "uint8" | "float32", shape: [...], data: base64 of its C-order bytes};
 * decode() makes it a flat typed array. T = N + 1 tokens (token 0 = the class token, patch j = token 1 + j,
 * patches row by row over a gh x gw grid), L layers, k heads, K classes:
 *
 *   bundle.colormaps.inferno, .viridis  (256, 3) uint8 lookup tables (maps and thumbnails; logit lens)
 *   bundle.images[i].pixels             (H, W, 3) uint8 RGB
 *                    .attention          (L, k, T, T) uint8: attention row / that row's max * 255
 *                    .maps.raw (L, N), .maps.rollout (N), .maps.flow (N), .maps.gradient (K, N):
 *                                        uint8, each row / its max * 255
 *                    .lens (L, K), .probabilities (K) float32; .prediction (int)
 *                    .details[stage]     lines of text, the class token as the query;
 *                    .details.blocks[layer][head]  lines of text for that layer and head
 *
 * Plain script, no modules and no network: it defines one global function, window.vitExplainer.
 */
(function () {
  "use strict";

  const OPACITY = 0.55;  // of the map over the image, as in the Python figure
  const STYLE = ".vit-explainer{font:13px sans-serif;margin:.5em 0}" +
    ".vit-explainer button{margin:1px;padding:2px 8px;border:1px solid #999;background:#e8eef7;cursor:pointer}" +
    ".vit-explainer button.active{border:2px solid #d62728;font-weight:bold}" +
    ".vit-explainer canvas{cursor:crosshair;margin:4px 12px 4px 0;vertical-align:top}" +
    ".vit-explainer .vit-explainer-row{display:flex;flex-wrap:wrap;align-items:flex-start;margin:4px 0}" +
    ".vit-explainer pre{margin:4px 0;font-size:12px;white-space:pre-wrap;max-width:28em}";

  function decode(array) {
    const binary = atob(array.data);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return array.dtype === "float32" ? new Float32Array(bytes.buffer) : bytes;
  }

  function add(parent, tag, className, text) {
    const node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    parent.appendChild(node);
    return node;
  }

  // canvas pixel under a mouse event (the CSS size of the canvas is undone)
  function canvasPoint(canvas, event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width,
            (event.clientY - box.top) * canvas.height / box.height];
  }

  function fillCell(ctx, lut, value, x, y, w, h) {  // value 0..255
    const i = 3 * Math.max(0, Math.min(255, Math.round(value)));
    ctx.fillStyle = "rgb(" + lut[i] + "," + lut[i + 1] + "," + lut[i + 2] + ")";
    ctx.fillRect(x, y, w, h);
  }

  function vitExplainer(container, bundle) {
    if (!bundle || String(bundle.format).indexOf("vit_edu.explainer/1") !== 0) {
      container.textContent = "This explainer's data has an unknown format: run the lesson in JupyterLab.";
      return null;
    }
    if (!document.getElementById("vit-explainer-style")) {
      add(document.head, "style", "", STYLE).id = "vit-explainer-style";
    }
    const L = bundle.num_layers, k = bundle.num_heads, K = bundle.num_classes;
    // the words in the lesson's language (bundles written before they were stored: English)
    const words = Object.assign({
      image: "image", map: "map", class_asked: "class asked", predicted_class: "the predicted class",
      class_token: "the class token", patch: "patch ({row}, {col})", head: "head {head}", layer: "layer {layer}",
      after_block: "after block {block}", title: "{image}: predicted {label} ({percent}%); query: {query}; map: {map}",
      help: "Click a stage, a patch (again: back to the class token), a head thumbnail or a column of the logit " +
            "lens. Computed when the lesson ran; stage details are for the class token."}, bundle.words || {});
    function fill(template, values) {
      return template.replace(/\{(\w+)\}/g, function (all, name) { return name in values ? values[name] : all; });
    }
    const inferno = decode(bundle.colormaps.inferno), viridis = decode(bundle.colormaps.viridis);
    const images = bundle.images.map(function (image) {
      const maps = {};
      Object.keys(image.maps).forEach(function (kind) { maps[kind] = decode(image.maps[kind]); });
      return {name: image.name, gh: image.grid_size[0], gw: image.grid_size[1], P: image.patch_size,
              H: image.pixels.shape[0], W: image.pixels.shape[1], pixels: decode(image.pixels),
              T: image.attention.shape[3], attention: decode(image.attention), maps: maps,
              lens: decode(image.lens), probabilities: decode(image.probabilities), prediction: image.prediction,
              details: image.details};
    });
    // what is chosen (as ExplainerState holds it); patch null = the class token is the query
    const view = {image: 0, stage: "blocks", layer: L - 1, head: 0, patch: null, map: "rollout", target: null};

    // --- the page: title, stage buttons, controls, image | thumbnails | detail, logit lens -----------------
    container.classList.add("vit-explainer");
    container.textContent = "";
    const title = add(container, "div", "vit-explainer-title");
    const stageRow = add(container, "div", "vit-explainer-row vit-explainer-stages");
    const stageButtons = bundle.stages.map(function (stage) {
      const button = add(stageRow, "button", "", stage);
      button.dataset.stage = stage;
      button.addEventListener("click", function () { view.stage = stage; update(); });
      return button;
    });
    const controls = add(container, "div", "vit-explainer-row");
    add(controls, "span", "", words.image + " ");
    const imageChooser = add(controls, "select", "vit-explainer-choose-image");
    images.forEach(function (image, i) { add(imageChooser, "option", "", image.name).value = i; });
    imageChooser.addEventListener("change", function () { view.image = Number(imageChooser.value); update(); });
    add(controls, "span", "", "\u2003" + words.map + " ");
    const mapButtons = bundle.map_kinds.map(function (kind) {
      const button = add(controls, "button", "", kind);
      button.dataset.map = kind;
      button.addEventListener("click", function () { view.map = kind; update(); });
      return button;
    });
    const targetLabel = add(controls, "span", "", "\u2003" + words.class_asked + " ");
    const targetChooser = add(controls, "select", "vit-explainer-choose-class");
    add(targetChooser, "option", "", words.predicted_class).value = "";
    bundle.class_names.forEach(function (name, c) { add(targetChooser, "option", "", name).value = c; });
    targetChooser.addEventListener("change", function () {
      view.target = targetChooser.value === "" ? null : Number(targetChooser.value);
      update();
    });
    const mapLabel = add(container, "div", "vit-explainer-map-label");
    const main = add(container, "div", "vit-explainer-row");
    const imageCanvas = add(main, "canvas", "vit-explainer-image");
    const headCanvas = add(main, "canvas", "vit-explainer-heads");
    const detail = add(main, "pre", "vit-explainer-detail");
    const lensCanvas = add(container, "canvas", "vit-explainer-lens");
    add(container, "div", "", words.help);

    // --- geometry of the canvases ------------------------------------------------------------------------
    const first = images[0];
    const scale = Math.max(1, Math.floor(256 / first.W));  // screen pixels per image pixel
    const cell = Math.max(3, Math.floor(40 / first.gw)), gap = 6;  // thumbnail cell size and gap between tiles
    const heads = {left: 56, top: 18, tileW: first.gw * cell, tileH: first.gh * cell};
    const lens = {left: 90, top: 4, w: 64, h: 18};
    imageCanvas.width = first.W * scale;
    imageCanvas.height = first.H * scale;
    headCanvas.width = heads.left + k * (heads.tileW + gap);
    headCanvas.height = heads.top + L * (heads.tileH + gap);
    lensCanvas.width = lens.left + L * lens.w + 10;
    headCanvas.dataset.layout = JSON.stringify({left: heads.left, top: heads.top, tileWidth: heads.tileW,
                                                tileHeight: heads.tileH, gap: gap});  // for readers of the DOM
    lensCanvas.height = lens.top + K * lens.h + 22;

    function query() { return view.patch === null ? 0 : 1 + view.patch; }
    function queryName(image) {
      return view.patch === null ? words.class_token
        : fill(words.patch, {row: Math.floor(view.patch / image.gw), col: view.patch % image.gw});
    }

    // (N) uint8 map under the image, 255 = its top patch
    function currentMap(image) {
      const N = image.gh * image.gw;
      if (view.map === "raw") { return image.maps.raw.subarray(view.layer * N, (view.layer + 1) * N); }
      if (view.map === "gradient") {
        const asked = view.target === null ? image.prediction : view.target;
        return image.maps.gradient.subarray(asked * N, (asked + 1) * N);
      }
      return image.maps[view.map];
    }

    function drawImage(image) {
      const map = currentMap(image), small = document.createElement("canvas");
      small.width = image.W;
      small.height = image.H;
      const smallCtx = small.getContext("2d"), picture = smallCtx.createImageData(image.W, image.H);
      for (let y = 0; y < image.H; y++) {
        for (let x = 0; x < image.W; x++) {
          const p = y * image.W + x;
          const lut = 3 * map[Math.floor(y / image.P) * image.gw + Math.floor(x / image.P)];
          for (let c = 0; c < 3; c++) {
            picture.data[4 * p + c] = (1 - OPACITY) * image.pixels[3 * p + c] + OPACITY * inferno[lut + c];
          }
          picture.data[4 * p + 3] = 255;
        }
      }
      smallCtx.putImageData(picture, 0, 0);
      const ctx = imageCanvas.getContext("2d"), side = image.P * scale;
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(small, 0, 0, imageCanvas.width, imageCanvas.height);
      ctx.strokeStyle = "rgba(255,255,255,0.3)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let col = 1; col < image.gw; col++) {
        ctx.moveTo(col * side + 0.5, 0);
        ctx.lineTo(col * side + 0.5, imageCanvas.height);
      }
      for (let row = 1; row < image.gh; row++) {
        ctx.moveTo(0, row * side + 0.5);
        ctx.lineTo(imageCanvas.width, row * side + 0.5);
      }
      ctx.stroke();
      if (view.patch !== null) {
        ctx.strokeStyle = "cyan";
        ctx.lineWidth = 2;
        const col = view.patch % image.gw, row = Math.floor(view.patch / image.gw);
        ctx.strokeRect(col * side + 1, row * side + 1, side - 2, side - 2);
      }
    }

    // every layer x head: the query's attention over the patches, each tile divided by its own maximum
    function drawHeads(image) {
      const ctx = headCanvas.getContext("2d"), T = image.T, q = query();
      ctx.fillStyle = "white";
      ctx.fillRect(0, 0, headCanvas.width, headCanvas.height);
      ctx.fillStyle = "black";
      ctx.font = "11px sans-serif";
      for (let head = 0; head < k; head++) {
        ctx.fillText(fill(words.head, {head: head}), heads.left + head * (heads.tileW + gap), 12);
      }
      for (let layer = 0; layer < L; layer++) {
        const top = heads.top + layer * (heads.tileH + gap);
        ctx.fillStyle = "black";
        ctx.fillText(fill(words.layer, {layer: layer}), 2, top + heads.tileH / 2 + 4);
        for (let head = 0; head < k; head++) {
          const start = ((layer * k + head) * T + q) * T + 1, left = heads.left + head * (heads.tileW + gap);
          const row = image.attention.subarray(start, start + T - 1);  // (N) the patch keys
          const largest = Math.max(1, Math.max.apply(null, row));
          for (let j = 0; j < row.length; j++) {
            fillCell(ctx, inferno, 255 * row[j] / largest, left + (j % image.gw) * cell,
                     top + Math.floor(j / image.gw) * cell, cell, cell);
          }
        }
      }
      ctx.strokeStyle = "#d62728";
      ctx.lineWidth = 2;
      const left = heads.left + view.head * (heads.tileW + gap), top = heads.top + view.layer * (heads.tileH + gap);
      ctx.strokeRect(left - 2, top - 2, heads.tileW + 4, heads.tileH + 4);
    }

    // the logit lens: K rows (classes) x L columns (after each block), colour = probability
    function drawLens(image) {
      const ctx = lensCanvas.getContext("2d");
      ctx.fillStyle = "white";
      ctx.fillRect(0, 0, lensCanvas.width, lensCanvas.height);
      ctx.font = "11px sans-serif";
      for (let c = 0; c < K; c++) {
        ctx.fillStyle = "black";
        ctx.fillText(bundle.class_names[c], 2, lens.top + c * lens.h + 13);
        for (let layer = 0; layer < L; layer++) {
          const p = image.lens[layer * K + c], x = lens.left + layer * lens.w, y = lens.top + c * lens.h;
          fillCell(ctx, viridis, 255 * p, x, y, lens.w, lens.h);
          ctx.fillStyle = p > 0.6 ? "black" : "white";
          ctx.fillText(p.toFixed(2), x + lens.w / 2 - 12, y + 13);
        }
      }
      ctx.fillStyle = "black";
      for (let layer = 0; layer < L; layer++) {
        ctx.fillText(fill(words.after_block, {block: layer}), lens.left + layer * lens.w + 2, lens.top + K * lens.h + 14);
      }
      ctx.strokeStyle = "#d62728";
      ctx.lineWidth = 2;
      ctx.strokeRect(lens.left + view.layer * lens.w + 1, lens.top + 1, lens.w - 2, K * lens.h - 2);
    }

    function update() {
      const image = images[view.image], p = image.probabilities[image.prediction];
      title.textContent = fill(words.title, {image: image.name, label: bundle.class_names[image.prediction],
                                             percent: Math.round(100 * p), query: queryName(image), map: view.map});
      mapLabel.textContent = bundle.map_labels[view.map];
      stageButtons.forEach(function (b) { b.classList.toggle("active", b.dataset.stage === view.stage); });
      mapButtons.forEach(function (b) { b.classList.toggle("active", b.dataset.map === view.map); });
      targetLabel.style.display = targetChooser.style.display = view.map === "gradient" ? "" : "none";
      const lines = view.stage === "blocks" ? image.details.blocks[view.layer][view.head] : image.details[view.stage];
      detail.textContent = view.stage + ":\n" + lines.join("\n");
      drawImage(image);
      drawHeads(image);
      drawLens(image);
      container.dataset.view = JSON.stringify(view);  // what is chosen, for readers of the page's DOM
    }

    imageCanvas.addEventListener("click", function (event) {
      const image = images[view.image], point = canvasPoint(imageCanvas, event), side = image.P * scale;
      const col = Math.floor(point[0] / side), row = Math.floor(point[1] / side);
      if (col < 0 || col >= image.gw || row < 0 || row >= image.gh) { return; }
      const patch = row * image.gw + col;
      view.patch = patch === view.patch ? null : patch;  // a second click returns to the class token
      update();
    });
    headCanvas.addEventListener("click", function (event) {
      const point = canvasPoint(headCanvas, event);
      const head = Math.floor((point[0] - heads.left + gap / 2) / (heads.tileW + gap));
      const layer = Math.floor((point[1] - heads.top + gap / 2) / (heads.tileH + gap));
      if (head < 0 || head >= k || layer < 0 || layer >= L) { return; }
      Object.assign(view, {layer: layer, head: head, stage: "blocks"});
      update();
    });
    lensCanvas.addEventListener("click", function (event) {
      const layer = Math.floor((canvasPoint(lensCanvas, event)[0] - lens.left) / lens.w);
      if (layer < 0 || layer >= L) { return; }
      Object.assign(view, {layer: layer, stage: "blocks"});
      update();
    });
    update();
    return view;
  }

  window.vitExplainer = vitExplainer;
}());
