//! Calibration statistics and range selection: MinMax, Percentile, Entropy
//! (KL divergence, as TensorRT) and MSE, from a histogram of observed values.

/// Bins of calibration histograms.
pub const BINS: usize = 2048;

/// A histogram of values over `[lo, hi]` in [`BINS`] equal bins.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub lo: f32,
    pub hi: f32,
    pub counts: Vec<u64>,
}

impl Histogram {
    pub fn new(lo: f32, hi: f32) -> Self {
        let (lo, hi) = if hi > lo { (lo, hi) } else { (lo, lo + 1e-6) };
        Histogram {
            lo,
            hi,
            counts: vec![0; BINS],
        }
    }
    fn width(&self) -> f64 {
        (self.hi as f64 - self.lo as f64) / BINS as f64
    }
    fn center(&self, i: usize) -> f64 {
        self.lo as f64 + (i as f64 + 0.5) * self.width()
    }
    /// Add values (NaN and infinities are ignored; out-of-range values go to the end bins).
    pub fn add(&mut self, values: &[f32]) {
        let w = self.width();
        for &v in values {
            if !v.is_finite() {
                continue;
            }
            let i = ((v as f64 - self.lo as f64) / w).floor();
            let i = i.clamp(0.0, (BINS - 1) as f64) as usize;
            self.counts[i] += 1;
        }
    }
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// How activation ranges are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The observed minimum and maximum.
    MinMax,
    /// Cut the given fraction (e.g. 0.9999) of values, the rest clipped.
    Percentile(f64),
    /// Minimize the KL divergence between the clipped and the quantized distribution.
    Entropy,
    /// Minimize the mean squared quantization error (clipping + rounding).
    Mse,
}

/// Choose `[lo, hi]` (always containing 0) for an int8 tensor.
pub fn choose(h: &Histogram, method: Method) -> (f32, f32) {
    let (lo, hi) = match method {
        Method::MinMax => (h.lo as f64, h.hi as f64),
        Method::Percentile(p) => percentile(h, p),
        Method::Entropy => entropy(h),
        Method::Mse => mse(h),
    };
    (lo.min(0.0) as f32, hi.max(0.0) as f32)
}

fn percentile(h: &Histogram, p: f64) -> (f64, f64) {
    let total = h.total() as f64;
    if total == 0.0 {
        return (h.lo as f64, h.hi as f64);
    }
    let cut = (1.0 - p.clamp(0.5, 1.0)) * total;
    let (mut acc, mut lo_i) = (0.0, 0);
    for (i, &c) in h.counts.iter().enumerate() {
        acc += c as f64;
        if acc > cut {
            lo_i = i;
            break;
        }
    }
    let (mut acc, mut hi_i) = (0.0, BINS - 1);
    for (i, &c) in h.counts.iter().enumerate().rev() {
        acc += c as f64;
        if acc > cut {
            hi_i = i;
            break;
        }
    }
    let w = h.width();
    (
        h.lo as f64 + lo_i as f64 * w,
        h.lo as f64 + (hi_i + 1) as f64 * w,
    )
}

/// Expected squared error of quantizing the histogram with range [lo, hi].
fn qerror(h: &Histogram, lo: f64, hi: f64) -> f64 {
    let scale = ((hi - lo) / 255.0).max(1e-12);
    let zp = (-128.0 - lo / scale).round();
    h.counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(i, &c)| {
            let v = h.center(i);
            let q = ((v / scale).round() + zp).clamp(-128.0, 127.0);
            let d = (q - zp) * scale - v;
            c as f64 * d * d
        })
        .sum()
}

fn mse(h: &Histogram) -> (f64, f64) {
    let (lo, hi) = (h.lo.min(0.0) as f64, h.hi.max(0.0) as f64);
    let mut best = (f64::INFINITY, lo, hi);
    for k in 1..=200 {
        let f = k as f64 / 200.0;
        let (l, u) = (lo * f, hi * f);
        let e = qerror(h, l, u);
        if e < best.0 {
            best = (e, l, u);
        }
    }
    (best.1, best.2)
}

/// TensorRT's entropy calibration on the histogram of |x|: the threshold whose
/// clipped distribution loses the least information when quantized to the
/// available levels (128 for signed data, 256 for non-negative data).
fn entropy(h: &Histogram) -> (f64, f64) {
    let absmax = (h.lo.abs().max(h.hi.abs())) as f64;
    if absmax == 0.0 || h.total() == 0 {
        return (h.lo as f64, h.hi as f64);
    }
    // Histogram of |x| over [0, absmax].
    let mut abs = vec![0f64; BINS];
    let aw = absmax / BINS as f64;
    for (i, &c) in h.counts.iter().enumerate() {
        let v = h.center(i).abs();
        let j = ((v / aw).floor() as usize).min(BINS - 1);
        abs[j] += c as f64;
    }
    // Exact zeros (ReLU outputs, image background) say nothing about the range
    // and would dominate the divergence: leave them out, as TensorRT does.
    if let Some(z) = abs.first_mut() {
        *z = 0.0;
    }
    let levels = if h.lo >= 0.0 { 256 } else { 128 };
    let mut best = (f64::INFINITY, BINS);
    for i in (levels..=BINS).step_by(8) {
        let mut p: Vec<f64> = abs[..i].to_vec();
        let outliers: f64 = abs[i..].iter().sum();
        if let Some(last) = p.last_mut() {
            *last += outliers;
        }
        // Quantize the first i bins into `levels` groups, spreading each group's
        // mass evenly over its non-empty bins.
        let mut q = vec![0f64; i];
        for g in 0..levels {
            let (s, e) = (
                g * i / levels,
                ((g + 1) * i / levels).max(g * i / levels + 1).min(i),
            );
            let mass: f64 = abs[s..e].iter().sum();
            let nonzero = abs[s..e].iter().filter(|&&c| c > 0.0).count();
            if nonzero > 0 {
                for k in s..e {
                    if abs[k] > 0.0 {
                        q[k] = mass / nonzero as f64;
                    }
                }
            }
        }
        let (ps, qs): (f64, f64) = (p.iter().sum(), q.iter().sum());
        if ps == 0.0 || qs == 0.0 {
            continue;
        }
        let mut kl = 0.0;
        for k in 0..i {
            if p[k] > 0.0 {
                let pk = p[k] / ps;
                let qk = q[k] / qs;
                kl += if qk > 0.0 {
                    pk * (pk / qk).ln()
                } else {
                    pk * 1e3
                };
            }
        }
        if kl < best.0 {
            best = (kl, i);
        }
    }
    let t = best.1 as f64 * aw;
    ((h.lo as f64).max(-t), (h.hi as f64).min(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgerun_data::rng::SplitMix64;

    fn gaussian(n: usize, seed: u64) -> Vec<f32> {
        let mut r = SplitMix64::new(seed);
        (0..n)
            .map(|_| {
                // Box-Muller.
                let (u, v) = (r.next_f32().max(1e-7), r.next_f32());
                (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
            })
            .collect()
    }

    fn hist(v: &[f32]) -> Histogram {
        let lo = v.iter().cloned().fold(f32::INFINITY, f32::min);
        let hi = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut h = Histogram::new(lo, hi);
        h.add(v);
        h
    }

    #[test]
    fn minmax_is_the_observed_range() {
        let h = hist(&[-1.0, 0.5, 2.0]);
        assert_eq!(choose(&h, Method::MinMax), (-1.0, 2.0));
        // Always contains zero.
        let h = hist(&[1.0, 3.0]);
        assert_eq!(choose(&h, Method::MinMax).0, 0.0);
    }

    #[test]
    fn percentile_of_uniform() {
        // 0..10000 uniformly: the 99% range cuts about 100 values at each end.
        let v: Vec<f32> = (0..10_000).map(|i| i as f32 - 5000.0).collect();
        let h = hist(&v);
        let (lo, hi) = choose(&h, Method::Percentile(0.99));
        assert!((lo + 4900.0).abs() < 10.0, "{lo}");
        assert!((hi - 4900.0).abs() < 10.0, "{hi}");
    }

    #[test]
    fn entropy_cuts_gaussian_outliers() {
        // A standard normal with two far outliers: MinMax keeps the outliers,
        // Entropy clips a few sigma out.
        let mut v = gaussian(200_000, 7);
        v.extend_from_slice(&[40.0, -40.0]);
        let h = hist(&v);
        let (_, mm) = choose(&h, Method::MinMax);
        assert!(mm >= 40.0);
        let (lo, hi) = choose(&h, Method::Entropy);
        assert!(hi > 2.0 && hi < 12.0, "{hi}");
        assert!(lo < -2.0 && lo > -12.0, "{lo}");
    }

    #[test]
    fn mse_clips_a_heavy_tail_and_minimizes_its_objective() {
        // Laplace-like data (|x| exponential): the best range is well inside the
        // extremes, and MSE's choice beats MinMax on the squared error.
        let mut r = SplitMix64::new(3);
        let v: Vec<f32> = (0..100_000)
            .map(|_| {
                let e = -(r.next_f32().max(1e-7)).ln();
                if r.next_f32() < 0.5 { e } else { -e }
            })
            .collect();
        let h = hist(&v);
        let (lo, hi) = choose(&h, Method::Mse);
        assert!(
            hi < 0.9 * h.hi && lo > 0.9 * h.lo,
            "{lo} {hi} of {} {}",
            h.lo,
            h.hi
        );
        assert!(qerror(&h, lo as f64, hi as f64) < qerror(&h, h.lo as f64, h.hi as f64));
    }
}
