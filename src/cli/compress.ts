// mvsr compress: structured pruning or weight clustering of a model's deploy graph, optionally
// fine-tuned, written as a graph file (api/graph-file.node.ts) that eval, upscale, export and
// quantize take like any model.
import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parse, intFlag, jsonArgs, type Command } from './args.js';
import { Progress } from './progress.js';
import { initEngine } from '../tensor/engine.js';
import { resolveGraph } from '../api/models.node.js';
import { saveGraphFile } from '../api/graph-file.node.js';
import { pruneChannels, clusterGraph } from '../graph/compress.js';
import { exportTflite } from '../export/tflite.js';
import { fineTuneGraph } from '../train/graph-tune.node.js';
import { profileGraph } from '../graph/profile.js';

export const compressCmd: Command = {
  summary: 'prune channels or cluster weights of an image model, optionally fine-tuned',
  help: `usage: mvsr compress <model> (--prune <ratio> | --cluster <k>) -o <out.safetensors> [options]

--prune removes the given fraction of the output channels of every conv that only convs read,
those with the smallest L1 filter norm (Li et al. 2017), and the matching inputs of the convs
after it: a smaller plain network. --cluster replaces every conv weight by the nearest of k
per-layer centroids (k-means), as TF Model Optimization's weight clustering: the same network,
whose file compresses (the gzip size of its .tflite is printed). --tune N fine-tunes the result
for N iterations on HR images, or for a video model on 7-frame sequences of clips with its
state carried (a clustered weight trains as its k shared centroids, so it stays
clustered). The output
is a graph file that mvsr eval, upscale, export and quantize take like any model.

options:
  -o, --output <file>  the compressed model (.safetensors)
      --prune <r>      fraction of channels to remove, in (0, 1)
      --cluster <k>    centroids per conv weight
      --tune <n>       fine-tuning iterations (default 0)
      --data <dirs>    HR training images (a video model: clips) for --tune, comma-separated
      --tune-lr <x>    peak learning rate, cosine-decayed (default 1e-4)
      --tune-batch <n> patches (a video model: sequences) per step (default 8)
      --tune-patch <n> LR patch edge (default 48)
      --tune-frames <n> a video model: frames per sequence (default 7)
      --cache <dir>    keep the LR images made for --tune here between runs
      --arch, --args, --scale as for upscale`,
  async run(argv) {
    const { values: v, positionals } = parse('compress', argv, {
      output: { type: 'string', short: 'o' }, prune: { type: 'string' }, cluster: { type: 'string' }, tune: { type: 'string' },
      data: { type: 'string' }, 'tune-lr': { type: 'string' }, 'tune-batch': { type: 'string' }, 'tune-patch': { type: 'string' }, 'tune-frames': { type: 'string' }, cache: { type: 'string' },
      arch: { type: 'string' }, args: { type: 'string' }, scale: { type: 'string', short: 's' },
    });
    const [spec] = positionals;
    if (!spec) throw new Error('mvsr compress: give a model (see "mvsr compress --help")');
    if (typeof v.output !== 'string') throw new Error('mvsr compress: --output is required');
    if (extname(v.output).toLowerCase() !== '.safetensors') throw new Error(`mvsr compress: ${v.output}: the output must be a .safetensors file`);
    if ((v.prune === undefined) === (v.cluster === undefined)) throw new Error('mvsr compress: give one of --prune <ratio> and --cluster <k>');
    const ratio = v.prune === undefined ? undefined : Number(v.prune);
    if (ratio !== undefined && !(ratio > 0 && ratio < 1)) throw new Error(`mvsr compress: --prune must be a fraction in (0, 1), got "${String(v.prune)}"`);
    const k = intFlag('compress', v.cluster, 'cluster');
    const tune = intFlag('compress', v.tune, 'tune', 0) ?? 0;
    const lr = v['tune-lr'] === undefined ? undefined : Number(v['tune-lr']);
    if (lr !== undefined && !(lr > 0 && Number.isFinite(lr))) throw new Error(`mvsr compress: --tune-lr must be a positive number, got "${String(v['tune-lr'])}"`);
    const dirs = typeof v.data === 'string' ? v.data.split(',').filter(Boolean) : [];
    if (tune > 0 && !dirs.length) throw new Error('mvsr compress: --tune needs --data <folder of HR images, or of clips for a video model>');
    for (const d of dirs) if (!existsSync(d) || !statSync(d).isDirectory()) throw new Error(`mvsr: ${d}: not a folder`);
    await initEngine({});
    const g = resolveGraph(spec, { arch: typeof v.arch === 'string' ? v.arch : undefined, args: jsonArgs('compress', v.args), scale: intFlag('compress', v.scale, 'scale') });
    if ('quant' in g) throw new Error(`mvsr compress: ${spec} is quantized (int8); compress the float model, then quantize`);
    const before = profileGraph(g, 180, 320).params;
    const clustered = k !== undefined ? clusterGraph(g, k) : null;
    let out = clustered ? clustered.graph : pruneChannels(g, ratio!).graph;
    if (tune > 0) {
      let bar: Progress | null = null, avg = 0;
      out = await fineTuneGraph(out, {
        dirs, iterations: tune, lr, cacheDir: typeof v.cache === 'string' ? v.cache : undefined, clusters: clustered?.clusters,
        batchSize: intFlag('compress', v['tune-batch'], 'tune-batch'), patch: intFlag('compress', v['tune-patch'], 'tune-patch'),
        numFrame: intFlag('compress', v['tune-frames'], 'tune-frames'),
        onStep: (it, loss) => {
          bar ??= new Progress('tune', tune, ' it');
          avg = it === 1 ? loss : 0.98 * avg + 0.02 * loss;
          bar.update(it, `L1 ${avg.toFixed(5)}`);
        },
      });
    }
    saveGraphFile(v.output, out);
    const tfl = exportTflite(out, { inputShape: [180, 320] });
    process.stderr.write(`${spec} -> ${v.output}: ${ratio !== undefined ? `pruned ${ratio}` : `${k} clusters per layer`}${tune ? `, tuned ${tune} iterations` : ''}; params ${before} -> ${profileGraph(out, 180, 320).params}; .tflite ${(tfl.length / 1024).toFixed(1)} KB, gzipped ${(gzipSync(tfl, { level: 9 }).length / 1024).toFixed(1)} KB\n`);
    return 0;
  },
};
