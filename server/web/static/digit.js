// The digit pad: draw with a mouse, pen or finger (pointer events), then preprocess as MNIST
// was made: the bounding box of the ink, scaled to fit 20×20 keeping its aspect (area
// averaging), placed in 28×28 so that its centre of mass is at the centre; 0..255 grey.

const SIZE = 28;
const BOX = 20;
const STROKE = 20; // pen width on the 280×280 pad: MNIST strokes are ~2 px of 28

export function setupPad(canvas, onStroke) {
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  let last = null;
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * (canvas.width / box.width), (event.clientY - box.top) * (canvas.height / box.height)];
  };
  const line = (from, to) => {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = STROKE;
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(...from);
    ctx.lineTo(...to);
    ctx.stroke();
  };
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = at(event);
    line(last, last);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const point = at(event);
    line(last, point);
    last = point;
  });
  const end = () => { if (last) { last = null; onStroke(); } };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.style.touchAction = "none"; // a finger draws instead of scrolling the page
  return { clear, grey: () => greyOf(ctx, canvas.width, canvas.height) };
}

function greyOf(ctx, width, height) {
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const grey = new Float64Array(width * height);
  for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
  return { grey, width, height };
}

function boundingBox({ grey, width, height }) {
  let [top, left, bottom, right] = [height, width, -1, -1];
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      if (grey[r * width + c] > 0) {
        top = Math.min(top, r); bottom = Math.max(bottom, r);
        left = Math.min(left, c); right = Math.max(right, c);
      }
    }
  }
  return bottom < 0 ? null : { top, left, rows: bottom - top + 1, cols: right - left + 1 };
}

// Area-averaging resize of the box to rows×cols: each target pixel is the mean of the source it covers.
function resize({ grey, width }, box, rows, cols) {
  const out = new Float64Array(rows * cols);
  const sy = box.rows / rows;
  const sx = box.cols / cols;
  for (let r = 0; r < rows; r++) {
    const y0 = r * sy, y1 = y0 + sy;
    for (let c = 0; c < cols; c++) {
      const x0 = c * sx, x1 = x0 + sx;
      let sum = 0;
      for (let y = Math.floor(y0); y < Math.ceil(y1); y++) {
        const wy = Math.min(y + 1, y1) - Math.max(y, y0);
        for (let x = Math.floor(x0); x < Math.ceil(x1); x++) {
          const wx = Math.min(x + 1, x1) - Math.max(x, x0);
          sum += wy * wx * grey[(box.top + y) * width + box.left + x];
        }
      }
      out[r * cols + c] = sum / (sy * sx);
    }
  }
  return out;
}

// The 784 pixels (row-major, integers 0..255) of what was drawn, or null for an empty pad.
export function preprocess(image) {
  const box = boundingBox(image);
  if (!box) return null;
  const scale = BOX / Math.max(box.rows, box.cols);
  const rows = Math.max(1, Math.round(box.rows * scale));
  const cols = Math.max(1, Math.round(box.cols * scale));
  const small = resize(image, box, rows, cols);
  let mass = 0, my = 0, mx = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = small[r * cols + c];
      mass += v; my += v * (r + 0.5); mx += v * (c + 0.5);
    }
  }
  const clamp = (v, high) => Math.min(Math.max(v, 0), high);
  const top = clamp(Math.round(SIZE / 2 - my / mass), SIZE - rows);
  const left = clamp(Math.round(SIZE / 2 - mx / mass), SIZE - cols);
  const pixels = new Array(SIZE * SIZE).fill(0);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      pixels[(top + r) * SIZE + left + c] = Math.min(255, Math.round(small[r * cols + c]));
    }
  }
  return pixels;
}

// Show the 28×28 input on the small preview canvas (CSS scales it up, pixelated).
export function showPreview(canvas, pixels) {
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(SIZE, SIZE);
  pixels.forEach((v, i) => { image.data.set([v, v, v, 255], 4 * i); });
  ctx.putImageData(image, 0, 0);
}
