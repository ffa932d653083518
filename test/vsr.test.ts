// Video SR models: their step graphs streamed frame by frame (VideoUpscaler) give the frames of
// the autograd forward over the whole clip in one call; causality and look-ahead are what each model declares; the recurrent state really carries
// information across frames; backpropagation through time matches finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useEngine, mulberry32 } from './helpers.js';
import { SMALL_VIDEO, VIDEO_CASES, clipImages, model, wholeClip, assertSameFrames } from './video-helpers.js';
import { createVideoModel, createModel, listArchs, getArch } from '../src/models/registry.js';
import { forwardClip, videoMacsPerPixel, type VideoSRModel } from '../src/models/vsr.js';
import { VideoUpscaler } from '../src/api/video.js';
import { leaf, noGrad, clearTape, backward } from '../src/autograd/var.js';
import { Tensor } from '../src/tensor/tensor.js';
import type { Image } from '../src/io/image.js';
import { mseLoss } from '../src/autograd/ops/loss.js';

test('every video architecture is registered as kind video, and the image factory refuses it', () => {
  const video = listArchs().filter((a) => getArch(a).kind === 'video').sort();
  assert.deepEqual(video, ['MobileRRN', 'MultiFramePlain', 'RECBSR', 'RLSP', 'SWRN', 'SlidingWindowVSR']);
  assert.throws(() => createModel('RLSP'), /RLSP is a video model/);
  assert.throws(() => createVideoModel('ETDS'), /ETDS is an image model/);
  assert.throws(() => createVideoModel('RECBSR', { feedback: 'yes' }), /RECBSR: argument 'feedback' must be true or false, got "yes"/);
});

for (const [arch, args, W, H] of VIDEO_CASES) {
  test(`${arch} ${JSON.stringify(args)}: the step graph streamed frame by frame by a VideoUpscaler gives the autograd forward's frames (whole clip in one call); latency as declared`, async () => {
    for (const threads of [1, 2]) {
      await useEngine(threads);
      const m = model(arch, args);
      const clip = clipImages(8, W, H, 3);
      const ref = wholeClip(m, clip);
      assert.equal(ref.length, clip.length);
      const up = new VideoUpscaler(m);
      const got: Image[] = [];
      for (let t = 0; t < clip.length; t++) {
        const ready = await up.push(clip[t]!);
        got.push(...ready);
        // never later than the declared latency, and never ahead of the frames the model needs
        assert.ok(got.length >= t + 1 - up.latency, `${arch}: after ${t + 1} frames only ${got.length} out (latency ${up.latency})`);
        assert.ok(got.length <= t + 1 - m.window.future, `${arch}: output before its look-ahead arrived`);
      }
      got.push(...(await up.flush()));
      assert.equal(got.length, clip.length);
      got.forEach((g) => assert.equal(g.width, W * m.scale));
      assertSameFrames(got, ref, `${arch} (${threads} threads)`);
      // a second clip after flush starts from a fresh state
      const again: Image[] = [];
      for (const f of clip) again.push(...(await up.push(f)));
      again.push(...(await up.flush()));
      assertSameFrames(again, ref, `${arch} second clip`);
      await up.dispose();
    }
  });
}

/** Float outputs of a clip, and of the same clip with frame k replaced by noise. */
function sensitivity(m: VideoSRModel, k: number): boolean[] {
  const T = 7;
  const a = clipImages(T, 8, 6, 11), b = a.slice();
  b[k] = clipImages(1, 8, 6, 99)[0]!;
  const ya = wholeClip(m, a), yb = wholeClip(m, b);
  return ya.map((y, t) => y.data.some((v, i) => v !== yb[t]!.data[i]));
}

test('what each output depends on: recurrent models remember frame 0 at frame 6; causality and chunked look-ahead hold', async () => {
  await useEngine(1);
  const changedBy = (arch: string, args: Record<string, unknown>, k: number) => {
    const m = model(arch, args, 5);
    try { return sensitivity(m, k); } finally { m.dispose(); }
  };
  // recurrent: changing frame 0 changes every later output (the state carries it)
  for (const [arch, args] of SMALL_VIDEO.slice(0, 3)) assert.ok(changedBy(arch, args, 0).every(Boolean), `${arch}: frame 0 reaches all outputs`);
  // sliding window of 3: only outputs 0 and 1 see frame 0
  assert.deepEqual(changedBy('MultiFramePlain', SMALL_VIDEO[3]![1], 0), [true, true, false, false, false, false, false]);
  // RLSP reads one frame ahead: frame 4 changes outputs 3.. but not 0..2
  assert.deepEqual(changedBy('RLSP', SMALL_VIDEO[0]![1], 4), [false, false, false, true, true, true, true]);
  // MobileRRN is strictly causal
  assert.deepEqual(changedBy('MobileRRN', SMALL_VIDEO[1]![1], 4), [false, false, false, false, true, true, true]);
  // SWRN, chunk 3 (chunks {0,1,2} {3,4,5} {6}): frame 3 is in frame 2's window, and the backward
  // state carries it on to frames 1 and 0 ...
  assert.deepEqual(changedBy('SWRN', SMALL_VIDEO[2]![1], 3), [true, true, true, true, true, true, true]);
  // ... while frame 5 reaches back to frame 3 (backward state) but not across the chunk boundary
  assert.deepEqual(changedBy('SWRN', SMALL_VIDEO[2]![1], 5), [false, false, false, true, true, true, true]);
  // the sliding-window family (chunk 3, plain and grouped with channel shuffle) has SWRN's reach
  for (const args of [SMALL_VIDEO[8]![1], { ...SMALL_VIDEO[9]![1], chunk: 3 }]) {
    assert.ok(changedBy('SlidingWindowVSR', args, 0).every(Boolean), 'SlidingWindowVSR: frame 0 reaches all outputs');
    assert.deepEqual(changedBy('SlidingWindowVSR', args, 3), [true, true, true, true, true, true, true]);
    assert.deepEqual(changedBy('SlidingWindowVSR', args, 5), [false, false, false, true, true, true, true]);
  }
});

test('backpropagation through time: gradients of a loss on the last frame reach the first frame through the state', async () => {
  await useEngine(1);
  for (const [arch, args] of [...SMALL_VIDEO.slice(0, 3), SMALL_VIDEO[9]!]) {
    // the sliding-window net is deeper between frame 0 and the last output (extract, fuse, four
    // cells, merge, trunk): at 0.2 its small random weights shrink that path below float32 noise
    const m = model(arch, args, 21, arch === 'SlidingWindowVSR' ? 0.5 : 0.2);
    const T = 4, W = 5, H = 4;
    const clip = clipImages(T, W, H, 8).map((img) => Float32Array.from(img.data, (v) => v / 255));
    // the target is the last output plus a little noise: a tiny loss keeps float32 rounding far
    // below the differences the finite-difference quotient measures
    const rng = mulberry32(4);
    const xs0 = clip.map((c) => leaf(Tensor.from([1, H, W, 3], c)));
    const y0 = noGrad(() => forwardClip(m, xs0)).at(-1)!.value.toArray();
    clearTape();
    xs0.forEach((x) => x.value.dispose());
    const target = Tensor.from([1, H * m.scale, W * m.scale, 3], y0.map((v) => v + 0.02 * (rng() - 0.5)));
    // output T-1 reads frames T-2..T at most: frame 0 reaches it only through the recurrent state
    const loss = (withGrad: boolean): { value: number; grad0: Float32Array | null } => {
      const xs = clip.map((c, t) => leaf(Tensor.from([1, H, W, 3], c), t === 0 && withGrad));
      try {
        const ys = forwardClip(m, xs);
        const l = mseLoss(ys.at(-1)!, leaf(target));
        const value = l.value.data[0]!;
        if (withGrad) backward(l);
        return { value, grad0: withGrad ? xs[0]!.grad!.toArray() : null };
      } finally {
        clearTape();
        xs.forEach((x) => { x.value.dispose(); x.zeroGrad(); });
      }
    };
    const g = loss(true).grad0!;
    let largest = 0;
    for (const i of [0, 7, 29, 45, 59]) {
      const h = 1e-3, v0 = clip[0]![i]!;
      clip[0]![i] = v0 + h;
      const lp = noGrad(() => loss(false).value);
      clip[0]![i] = v0 - h;
      const lm = noGrad(() => loss(false).value);
      clip[0]![i] = v0;
      const fd = (lp - lm) / (2 * h);
      largest = Math.max(largest, Math.abs(fd));
      assert.ok(Math.abs(g[i]! - fd) <= 1e-7 + 3e-2 * Math.abs(fd), `${arch} d loss(frame ${T - 1}) / d frame0[${i}]: autograd ${g[i]} vs finite differences ${fd}`);
    }
    assert.ok(largest > 1e-6, `${arch}: frame 0 must influence the last output through the state (largest |gradient| ${largest})`);
    target.dispose();
    m.dispose();
  }
});

test('videoMacsPerPixel counts every conv at LR size (hand counts of MobileRRN, RLSP 7-16, RECBSR and the 12-block single-frame net)', async () => {
  await useEngine(1);
  const conv = (cin: number, cout: number, k = 3) => k * k * cin * cout;
  const cases: [string, Record<string, unknown>, number][] = [
    ['MobileRRN', {}, conv(2 * 3 + 16, 16) + 5 * 2 * conv(16, 16) + conv(16, 16) + conv(16, 48)],
    ['RLSP', {}, conv(3 * 3 + 16 + 48, 16) + 5 * conv(16, 16) + conv(16, 48 + 16)],
    // ECBSR-M4C16's layers, the first one reading the previous frame and the 16-channel state too
    ['RECBSR', {}, conv(3 + 3 + 16, 16) + 4 * conv(16, 16) + conv(16, 48)],
    ['RECBSR', { feedback: true }, conv(3 + 3 + 16 + 48, 16) + 4 * conv(16, 16) + conv(16, 48)],
    ['MultiFramePlain', { num_frame: 1, num_block: 12 }, conv(3, 16) + 12 * conv(16, 16) + conv(16, 48)],
    ['MultiFramePlain', { num_frame: 1, num_block: 6, block: 'residual' }, conv(3, 16) + 6 * 2 * conv(16, 16) + conv(16, 48)],
    ['SWRN', {}, conv(9, 16) + 2 * conv(32, 16) + conv(48, 16, 1) + 3 * conv(16, 16) + conv(16, 48)],
    // extractor, fusion, two cells, merge, two plain blocks, last conv; grouped cells and blocks cost 1/g
    ['SlidingWindowVSR', {}, conv(3, 16) + conv(48, 16, 1) + 2 * conv(32, 16) + conv(48, 16, 1) + 2 * conv(16, 16) + conv(16, 48)],
    ['SlidingWindowVSR', { groups: 4 }, conv(3, 16) + conv(48, 16, 1) + 2 * conv(32, 16) / 4 + conv(48, 16, 1) + 2 * conv(16, 16) / 4 + conv(16, 48)],
    ['SlidingWindowVSR', { partial: 4 }, conv(3, 16) + conv(48, 16, 1) + 2 * conv(32, 16) + conv(48, 16, 1) + 2 * (conv(4, 4) + conv(16, 16, 1)) + conv(16, 48)],
  ];
  for (const [arch, args, want] of cases) {
    const m = createVideoModel(arch, args);
    assert.equal(videoMacsPerPixel(m), want, arch);
    m.dispose();
  }
});

test('VideoUpscaler.recycle: frames handed back are reused for later outputs (same arrays) and the frames are those of a run without it; a frame of another size is refused in one line; after flush it does nothing', async () => {
  await useEngine(2);
  for (const [arch, args] of [SMALL_VIDEO[1]!, SMALL_VIDEO[2]!]) {
    const clip = clipImages(9, 10, 8, 13);
    const plain = new VideoUpscaler(model(arch, args));
    const want: Image[] = [];
    for (const f of clip) want.push(...(await plain.push(f)));
    want.push(...(await plain.flush()));
    await plain.dispose();
    const up = new VideoUpscaler(model(arch, args));
    const got: Image[] = [], arrays = new Set<unknown>();
    let reused = 0;
    for (const f of clip) {
      const out = await up.push(f);
      for (const o of out) {
        if (arrays.has(o.data)) reused++;
        arrays.add(o.data);
        got.push({ ...o, data: o.data.slice() }); // a copy: the frame itself goes back
      }
      up.recycle(out);
    }
    assert.ok(reused > 0, `${arch}: no output array was reused`);
    assert.throws(() => up.recycle([clip[0]!]), /^Error: mvsr: VideoUpscaler\.recycle: a 10x8 3-channel 8-bit frame is not an output frame of this clip \(20x16 RGB, 8-bit\)$/);
    const rest = await up.flush();
    got.push(...rest);
    up.recycle([...rest, clip[0]!]); // between clips: nothing to reuse them for, nothing refused
    assertSameFrames(got, want, `${arch} recycled`);
    await up.dispose();
  }
});

test('VideoUpscaler in steady state: the WebAssembly heap stops growing, the live tensors stay the same, dispose frees them all', async () => {
  await useEngine(2);
  const { engine } = await import('../src/tensor/engine.js');
  const { liveTensorCount } = await import('../src/tensor/tensor.js');
  for (const [arch, args] of SMALL_VIDEO.slice(0, 3)) {
    const m = model(arch, args);
    const up = new VideoUpscaler(m);
    const clip = clipImages(4, 40, 24, 5);
    const heap: number[] = [], live: number[] = [];
    const base = liveTensorCount();
    const N = 30;
    for (let f = 0; f < N; f++) {
      await up.push(clip[f % 4]!);
      heap.push(engine().heapBytes);
      live.push(liveTensorCount() - base);
    }
    // the allocator's free lists settle within a few frames (SWRN: a few chunks); then nothing grows
    const k = N - 12;
    for (let f = k; f < N; f++) assert.equal(heap[f], heap[k], `${arch}: heap after frame ${f}: ${heap.join(', ')}`);
    // alive: the compiled weights, the state and the frames held, the same number every chunk
    for (let f = k; f < N; f++) assert.equal(live[f], live[f - m.chunk], `${arch}: tensors alive after frame ${f}: ${live.join(', ')}`);
    const params = [...m.namedParameters()].length;
    await up.dispose();
    assert.equal(liveTensorCount(), base - params, `${arch}: dispose frees the backend, the frames, the state and the model`);
  }
});

test('RECBSR initialised from an ECBSRT (first conv widened with zeros) gives that image model\'s output on every frame; with the new weights nonzero it does not', async () => {
  await useEngine(1);
  const { randomize } = await import('./helpers.js');
  const { widenConvInputs } = await import('../src/models/surgery.js');
  const clip = clipImages(6, 11, 9, 5);
  for (const [align, feedback] of [['none', false], ['global', false], ['global', true]] as const) {
    const img = createModel('ECBSRT', { upscale: 2, num_feat: 6, num_block: 2 });
    randomize(img, 0.3, 21);
    const vid = createVideoModel('RECBSR', { upscale: 2, num_feat: 6, num_block: 2, align, align_radius: 2, feedback });
    const { tensors, widened } = widenConvInputs(img.stateDict(), vid);
    const Cin = feedback ? 24 : 12;
    assert.deepEqual(widened, [`backbone.0.0.weight (3 -> ${Cin} input channels)`]);
    vid.loadStateDict(tensors, true);
    const vars = clip.map((f) => leaf(Tensor.from([1, f.height, f.width, 3], Float32Array.from(f.data, (v) => v / 255))));
    // the reference: the image model's own forward on each frame alone
    const ref = vars.map((x) => Float32Array.from(noGrad(() => img.forward(x)).value.data));
    clearTape();
    const worst = (m: VideoSRModel) => {
      const out = noGrad(() => forwardClip(m, vars));
      const d = Math.max(...out.map((y, t) => Math.max(...y.value.data.map((v, i) => Math.abs(v - ref[t]![i]!)))));
      clearTape();
      return d;
    };
    const same = worst(vid);
    assert.ok(same < 1e-5, `${align}: the widened model is the image model (max diff ${same})`);
    // the previous frame and the state do reach the output once their weights are nonzero
    const wd = tensors['backbone.0.0.weight']!.data;
    for (let o = 0; o < 6; o++) for (let i = 3; i < Cin; i++) for (let k = 0; k < 9; k++) wd[(o * Cin + i) * 9 + k] = 0.05;
    vid.loadStateDict(tensors, true);
    const apart = worst(vid);
    assert.ok(apart > 1e-3, `${align}: history changes the output (max diff ${apart})`);
    vars.forEach((v) => v.value.dispose());
    img.dispose();
    vid.dispose();
  }
});
