// mvsr quantize: post-training int8 quantization of a model by calibration on a folder of
// images or clips, written as one .safetensors (api/quantized.node.ts).
import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { parse, intFlag, jsonArgs, type Command } from './args.js';
import { QUANTIZE_FLAGS } from './flags.js';
import { Progress } from './progress.js';
import { initEngine } from '../tensor/engine.js';
import { resolveGraph } from '../api/models.node.js';
import { loadCalibrationData } from '../eval/calibration.node.js';
import { saveGraphFile } from '../api/graph-file.node.js';
import { calibrateGraph } from '../eval/calibrate.js';
import { fineTuneGraph } from '../train/graph-tune.node.js';
import { CALIBRATION_METHODS, int8Graph, quantizationReport, type CalibrationMethod } from '../graph/quant.js';

export const quantizeCmd: Command = {
  summary: 'int8 post-training quantization of a model, calibrated on a folder of images or clips',
  help: `usage: mvsr quantize <model> --calib <folder> -o <out.safetensors> [options]

Runs the model's deploy graph (as its int8 form: activations other than ReLU split from their
convs) on calibration inputs and sets every tensor's int8 scale and zero point from what it saw;
conv weights are int8 per output channel (symmetric), biases int32. The result is one
.safetensors file that mvsr eval and mvsr upscale run with integer arithmetic (TFLite's CPU
kernels' rounding) and that "mvsr export --int8" writes as a full-integer .tflite.

The calibration folder holds HR images (an image model) or clips (a video model: video files or
frame folders); their LR inputs are made by MATLAB bicubic reduction by the model's scale, as
mvsr eval makes them (--lr: the files are LR inputs already).

options:
  -o, --output <file>   the quantized model (.safetensors)
      --calib <folder>  calibration images or clips
      --method <m>      minmax | percentile | mse (default mse): how a tensor's range is chosen
                        from its values: the extremes, the central 99.99%, or the clipping with
                        the least int8 round-trip error
      --samples <n>     patches (default 32) or clips (default 4) to calibrate on
      --patch <n>       patch edge in LR pixels (default 64)
      --frames <n>      frames per clip (default 8)
      --lr              the calibration files are model inputs already
      --qat <n>         then quantization-aware training: n iterations of fine-tuning with every
                        int8 tensor and weight fake-quantized (ranges from the calibration kept)
      --qat-data <dirs> HR training images (a video model: clips) for --qat, comma-separated
                        (default: the --calib folder)
      --qat-lr <x>      peak learning rate, cosine-decayed (default 1e-4)
      --qat-batch <n>   patches (a video model: sequences) per step (default 8)
      --qat-patch <n>   LR patch edge (default 48)
      --qat-frames <n>  a video model: frames per sequence, run step by step with the state
                        carried (default 7)
      --qat-ranges <r>  fixed (default): the activation ranges stay calibration's; learn: they
                        are trained too (asymmetric LSQ: each observed tensor's [lo, hi] gets the
                        clipping and rounding gradients; resizes, concats and states follow)
      --qat-range-lr <x> peak learning rate of the learned ranges (default: --qat-lr's)
      --qat-target <t>  hr (default): the L1 is to the HR patches; float: to the float model's
                        own output on the same LR patches (self-distillation: the int8 model
                        learns to match the model it quantizes)
      --no-outlier-split  keep every conv whole: by default a conv in which one channel's centre
                        weight is >= 4x its other weights (ETDS's image-carrying channels) has
                        those weights moved into a 1x1 conv of their own, added back, so that
                        int8 keeps the small weights beside them (the --report rows .main,
                        .centre)
      --cache <dir>     keep the LR images made for --qat here between runs
      --report          print, per conv, the SNR of its int8 weight against the float one
                        (dB; "exact" when every value is on the grid) and its int8 output range
      --arch, --args, --scale as for upscale`,
  async run(argv) {
    const { values: v, positionals } = parse('quantize', argv, QUANTIZE_FLAGS);
    const [spec] = positionals;
    if (!spec) throw new Error('mvsr quantize: give a model (see "mvsr quantize --help")');
    if (typeof v.output !== 'string') throw new Error('mvsr quantize: --output is required');
    if (extname(v.output).toLowerCase() !== '.safetensors') throw new Error(`mvsr quantize: ${v.output}: the output must be a .safetensors file`);
    if (typeof v.calib !== 'string') throw new Error('mvsr quantize: --calib <folder> is required (images, or clips for a video model)');
    if (!existsSync(v.calib) || !statSync(v.calib).isDirectory()) throw new Error(`mvsr: ${v.calib}: not a folder`);
    const method = (v.method ?? 'mse') as CalibrationMethod;
    if (!CALIBRATION_METHODS.includes(method)) throw new Error(`mvsr quantize: --method must be one of ${CALIBRATION_METHODS.join(', ')}, got "${String(v.method)}"`);
    const qatIters = intFlag('quantize', v.qat, 'qat');
    const qatLr = v['qat-lr'] === undefined ? undefined : Number(v['qat-lr']);
    if (qatLr !== undefined && !(qatLr > 0 && Number.isFinite(qatLr))) throw new Error(`mvsr quantize: --qat-lr must be a positive number, got "${String(v['qat-lr'])}"`);
    const qatRanges = v['qat-ranges'] ?? 'fixed';
    if (qatRanges !== 'fixed' && qatRanges !== 'learn') throw new Error(`mvsr quantize: --qat-ranges must be fixed or learn, got "${qatRanges}"`);
    const rangeLr = v['qat-range-lr'] === undefined ? undefined : Number(v['qat-range-lr']);
    if (rangeLr !== undefined && !(rangeLr > 0 && Number.isFinite(rangeLr))) throw new Error(`mvsr quantize: --qat-range-lr must be a positive number, got "${String(v['qat-range-lr'])}"`);
    const qatTarget = v['qat-target'] ?? 'hr';
    if (qatTarget !== 'hr' && qatTarget !== 'float') throw new Error(`mvsr quantize: --qat-target must be hr or float, got "${qatTarget}"`);
    if ((v['qat-ranges'] !== undefined || rangeLr !== undefined || v['qat-target'] !== undefined) && qatIters === undefined) throw new Error('mvsr quantize: --qat-ranges, --qat-range-lr and --qat-target apply to --qat N (quantization-aware training)');
    const qatDirs = typeof v['qat-data'] === 'string' ? v['qat-data'].split(',').filter(Boolean) : [v.calib];
    for (const d of qatDirs) if (!existsSync(d) || !statSync(d).isDirectory()) throw new Error(`mvsr: ${d}: not a folder`);
    await initEngine({});
    // a zoo model, or a graph file (e.g. from mvsr compress)
    const g = resolveGraph(spec, { arch: typeof v.arch === 'string' ? v.arch : undefined, args: jsonArgs('quantize', v.args), scale: intFlag('quantize', v.scale, 'scale') });
    if ('quant' in g) throw new Error(`mvsr quantize: ${spec} is quantized already`);
    const video = g.meta.video !== undefined;
    int8Graph(g, { splitOutliers: false }); // an op with no integer form stops here, before the calibration data is read
    const { samples, files } = await loadCalibrationData(v.calib, video, {
      scale: g.meta.scale, lr: !!v.lr, count: intFlag('quantize', v.samples, 'samples'), patch: intFlag('quantize', v.patch, 'patch'),
      frames: intFlag('quantize', v.frames, 'frames'),
    });
    const bar = new Progress('calibrate', samples.length, video ? ' clips' : ' patches');
    const t0 = performance.now();
    try {
      let q = await calibrateGraph(g, samples, {
        method, onSample: (i) => bar.update(i), splitOutliers: !v['no-outlier-split'],
        provenance: { folder: v.calib, files: files.length, patch: v.patch ? Number(v.patch) : 64, lr: !!v.lr },
      });
      if (qatIters !== undefined) {
        const load = new Progress('qat: loading', 0, video ? ' clips' : ' images');
        let train: Progress | null = null, avg = 0;
        q = await fineTuneGraph(q, {
          dirs: qatDirs, iterations: qatIters, lr: qatLr, batchSize: intFlag('quantize', v['qat-batch'], 'qat-batch'),
          patch: intFlag('quantize', v['qat-patch'], 'qat-patch'), cacheDir: typeof v.cache === 'string' ? v.cache : undefined,
          numFrame: intFlag('quantize', v['qat-frames'], 'qat-frames'), learnRanges: qatRanges === 'learn', rangeLr, target: qatTarget,
          onLoad: (d, t) => { load.setTotal(t); load.update(d); },
          onStep: (it, loss) => {
            train ??= new Progress('qat', qatIters, ' it');
            avg = it === 1 ? loss : 0.98 * avg + 0.02 * loss;
            train.update(it, `L1 ${avg.toFixed(5)}`);
          },
        });
      }
      saveGraphFile(v.output, q);
      if (v.report) {
        process.stderr.write('conv                               weight SNR   output range\n');
        for (const r of quantizationReport(q)) {
          process.stderr.write(`${r.id.padEnd(34)} ${(Number.isFinite(r.weightSnrDb) ? `${r.weightSnrDb.toFixed(1)} dB` : 'exact').padStart(10)}   [${r.range[0].toFixed(3)}, ${r.range[1].toFixed(3)}]\n`);
        }
      }
      process.stderr.write(`${spec} -> ${v.output}: int8 (${method}${qatIters !== undefined ? `, QAT ${qatIters} iterations${qatRanges === 'learn' ? ', ranges learned' : ''}${qatTarget === 'float' ? ', to the float model' : ''}` : ''}) from ${samples.length} ${video ? 'clips' : 'patches'} of ${files.length} file(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    } finally {
      for (const s of samples) for (const t of s.frames) t.dispose();
    }
    return 0;
  },
};
