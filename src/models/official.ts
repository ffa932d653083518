// Official checkpoints recognised by file name: which architecture and arguments a published
// file holds, so `mvsr convert-weights`, `mvsr eval` and reports need no --arch for them.
// ETDS-repository names (<Family>[_ET]_M<blocks>C<channels>_x<scale>, ESPCN_x4, FSRCNN_x4) and the
// efficient-SR files of ../shared/data/MANIFEST.md (IMDN_x4.pth, team39_imdn_plus.pth, ...).
import { getArch } from './registry.js';

export interface OfficialSpec {
  arch: string;
  args: Record<string, unknown>;
}

function scaleKey(arch: string): string {
  return 'upscale' in getArch(arch).defaults ? 'upscale' : 'scale';
}

const ETDS_FAMILIES: Record<string, string> = { ETDS: 'ETDSForInference', ECBSR: 'ECBSRT', ECBSR_ET: 'ECBSRET', ABPN: 'ABPN', ABPN_ET: 'ABPN_ET', Plain: 'Plain' };

/** Fixed file names of single official models. */
const NAMED: Record<string, OfficialSpec> = {
  team39_imdn_plus: { arch: 'IMDN_plus', args: { nf: 36, nb: 8, upscale: 4 } },
  // the NTIRE 2022 efficient-SR baseline (KAIR's simplified IMDN, not IMDN_x4.pth's network)
  imdn_baseline: { arch: 'IMDN_baseline', args: { nc: 64, nb: 8, upscale: 4 } },
  // EFDN (NTIRE 2022, team NKU-ESR): its EDBBs already folded
  team01_efdn: { arch: 'EFDN', args: { n_feats: 48, scale: 4 } },
  // MobileSR (NTIRE 2022, team NJUST_ESR): the weights are the file's 'net' sub-dict
  team20_mobilesr: { arch: 'MobileSR', args: { n_feats: 40, n_heads: 8, ratios: '4,2,2,2,4', upscale: 4 } },
  // RFDN and RLFN take pixels in [0, 255] (MANIFEST: RFDN's uint2tensor4, RLFN's test script)
  RFDN_AIM: { arch: 'RFDN', args: { nf: 50, num_modules: 4, upscale: 4, img_range: 255 } },
  // BSRN-S (NTIRE 2022, team XPixel): the BSRN repository's file and the challenge's copy
  'net_g_BSRN-S': { arch: 'RFDNFINALB5', args: { num_feat: 48, num_block: 5, upscale: 4 } },
  team18_bsrn: { arch: 'RFDNFINALB5', args: { num_feat: 48, num_block: 5, upscale: 4 } },
  rlfn_ntire_x4: { arch: 'RLFN', args: { feature_channels: 46, mid_channels: 48, num_blocks: 4, upscale: 4, img_range: 255 } },
};

/** The architecture and arguments of an official checkpoint, from its file name; null for any other name. */
export function officialCheckpointSpec(fileName: string): OfficialSpec | null {
  const name = fileName.replace(/^.*[\\/]/, '').replace(/\.(pth|pt|safetensors)$/i, '');
  const blocks = /^(ETDS|ECBSR_ET|ECBSR|ABPN_ET|ABPN|Plain)_M(\d+)C(\d+)_x(\d)$/.exec(name);
  if (blocks) {
    const arch = ETDS_FAMILIES[blocks[1]!]!;
    return { arch, args: { num_block: Number(blocks[2]), num_feat: Number(blocks[3]), [scaleKey(arch)]: Number(blocks[4]) } };
  }
  const plain = /^(ESPCN|FSRCNN)_x(\d)$/.exec(name);
  if (plain) return { arch: plain[1]!, args: { upscale: Number(plain[2]) } };
  const imdn = /^IMDN_x([234])$/.exec(name);
  if (imdn) return { arch: 'IMDN', args: { nf: 64, num_modules: 6, upscale: Number(imdn[1]) } };
  const rlfn = /^rlfn(_s)?_x([24])$/.exec(name);
  if (rlfn) {
    const C = rlfn[1] ? 48 : 52;
    return { arch: 'RLFN', args: { feature_channels: C, mid_channels: C, num_blocks: 6, upscale: Number(rlfn[2]), img_range: 255 } };
  }
  const vapsr = /^VapSR_X([234])$/.exec(name);
  if (vapsr) return { arch: 'vapsr', args: { num_feat: 48, num_block: vapsr[1] === '4' ? 21 : 20, d_atten: 64, scale: Number(vapsr[1]) } };
  const bsrn = /^net_g_BSRN_x([234])$/.exec(name);
  if (bsrn) return { arch: 'BSRN', args: { num_feat: 64, num_block: 8, upscale: Number(bsrn[1]) } };
  if (name === 'VapSR-S') return { arch: 'vapsr', args: { num_feat: 32, num_block: 11, d_atten: 64, conv_groups: 2, scale: 4 } };
  const named = Object.hasOwn(NAMED, name) ? NAMED[name]! : null;
  return named ? { arch: named.arch, args: { ...named.args } } : null;
}
