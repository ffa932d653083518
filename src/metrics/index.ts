// Image quality metrics comparable with published SR tables (BasicSR conventions).
export { calculatePsnr, psnrFromMse, meanSquaredError } from './psnr.js';
export { calculateSsim, ssimPlane, gaussianKernel1d, SSIM_WINDOW, SSIM_SIGMA } from './ssim.js';
export { rgbToY, basicsrY, yFloat64, metricPlanes, type MetricOptions, type MetricPlanes } from './color.js';
export { modCrop, cropBorder } from '../io/image.js';
export { temporalSquaredError } from './temporal.js';
