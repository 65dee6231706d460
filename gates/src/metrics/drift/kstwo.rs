//! The survival function of `kstwo(n)`, the two-sided one-sample Kolmogorov–Smirnov statistic
//! of `n` values, as SciPy computes it (`scipy.stats.kstwo.sf`: `_kolmogn` in
//! `scipy/stats/_ksstats.py`, after Simard and L'Ecuyer 2011). `ks_2samp(method="auto")` uses
//! `kstwo.sf(d, round(n1·n2 / (n1 + n2)))` as the two-sample p-value when a sample has more than
//! 10,000 values.
//!
//! The methods and the switches between them are SciPy's: Ruben–Gambino for `n·x ≤ 1` and
//! `n·x ≥ n − 1`, twice the one-sided Smirnov tail (Birnbaum–Tingey sum) where the two tails
//! cannot overlap or their overlap is negligible, Durbin's matrix (Marsaglia–Tsang–Wang) and
//! Pomeranz's recursion for small `n` and small `x`, and Pelz–Good's expansion otherwise. SciPy
//! sums the Smirnov series in double-double arithmetic; here each term is formed from
//! logarithms in `f64`, which stays within 4e-12 of SciPy at the 216 golden points
//! (`gates/tests/it/golden.rs`, n up to 150,000).

use std::f64::consts::PI;

/// `2^128` and `2^-128`, the rescaling steps of the matrix and recursion methods.
const E128: i32 = 128;
const EP128: f64 = 3.402_823_669_209_385e38;
const EM128: f64 = 2.938_735_877_055_719e-39;
/// `ln(2^-1075)`: `exp` of anything below is 0.
const MIN_LOG: f64 = -745.133_219_101_941_1;

/// `P(D_n ≥ x)` for the two-sided one-sample statistic `D_n` (`scipy.stats.kstwo.sf(x, n)`).
pub fn sf(n: u64, x: f64) -> f64 {
    if n == 0 || x.is_nan() {
        return f64::NAN;
    }
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let t = nf * x;
    if t <= 1.0 {
        // Ruben–Gambino: 1/2n ≤ x ≤ 1/n.
        if t <= 0.5 {
            return 1.0;
        }
        let cdf = if n <= 140 {
            (1..=n).map(|i| i as f64 * (1.0 / nf) * (2.0 * t - 1.0)).product::<f64>()
        } else {
            (log_nfactorial_div_n_pow_n(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return clip(1.0 - cdf);
    }
    if t >= nf - 1.0 {
        return clip(2.0 * (1.0 - x).powf(nf));
    }
    if x >= 0.5 {
        return clip(2.0 * smirnov(n, x));
    }
    let nx_squared = t * x;
    if n <= 140 {
        if nx_squared <= 0.754693 {
            return clip(1.0 - durbin_cdf(n, x));
        }
        if nx_squared <= 4.0 {
            return clip(1.0 - pomeranz_cdf(n, x));
        }
        return clip(2.0 * smirnov(n, x));
    }
    if nx_squared >= 370.0 {
        return 0.0;
    }
    if nx_squared >= 2.2 {
        return clip(2.0 * smirnov(n, x));
    }
    let cdf = if nx_squared >= 18.0 {
        1.0
    } else if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        durbin_cdf(n, x)
    } else {
        pelz_good_cdf(nf, x)
    };
    clip(1.0 - cdf)
}

fn clip(p: f64) -> f64 {
    p.clamp(0.0, 1.0)
}

/// `ln(n! / n^n)` by Stirling's series with `n·ln(n)` removed up front.
fn log_nfactorial_div_n_pow_n(n: f64) -> f64 {
    // B_2j / (2j) / (2j − 1) for j = 8, …, 1, highest first.
    const STIRLING: [f64; 8] = [
        -2.955_065_359_477_124e-2,
        6.410_256_410_256_41e-3,
        -1.917_526_917_526_917_5e-3,
        8.417_508_417_508_418e-4,
        -5.952_380_952_380_952e-4,
        7.936_507_936_507_937e-4,
        -2.777_777_777_777_778e-3,
        8.333_333_333_333_333e-2,
    ];
    let rn = 1.0 / n;
    let y = rn / n;
    let poly = STIRLING.iter().fold(0.0, |acc, c| acc * y + c);
    n.ln() / 2.0 - n + (2.0 * PI).ln() / 2.0 + rn * poly
}

/// `P(D_n ≤ d)` by Durbin's matrix method as Marsaglia, Tsang and Wang compute it: the `k`-th
/// diagonal entry of `H^n` (with `d = (k − h)/n`), times `n!/n^n`, rescaled by powers of two.
fn durbin_cdf(n: u64, d: f64) -> f64 {
    if d >= 1.0 {
        return 1.0;
    }
    let nd = n as f64 * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut v: Vec<f64> = (1..=m).map(|j| 1.0 - h.powi(j as i32)).collect();
    let mut w = vec![0.0; m];
    let mut fac = 1.0;
    for (j, (wj, vj)) in w.iter_mut().zip(v.iter_mut()).enumerate() {
        *wj = fac;
        fac /= (j + 1) as f64;
        *vj *= fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;
    let mut hm = vec![0.0; m * m];
    for i in 1..m {
        for r in (i - 1)..m {
            hm[r * m + i] = w[r - (i - 1)];
        }
    }
    for (r, &vr) in v.iter().enumerate() {
        hm[r * m] = vr;
    }
    for (c, &vr) in v.iter().rev().enumerate() {
        hm[(m - 1) * m + c] = vr;
    }
    let matmul = |a: &[f64], b: &[f64]| {
        let mut out = vec![0.0; m * m];
        for i in 0..m {
            for l in 0..m {
                let x = a[i * m + l];
                if x != 0.0 {
                    for j in 0..m {
                        out[i * m + j] += x * b[l * m + j];
                    }
                }
            }
        }
        out
    };
    let mut power: Vec<f64> = (0..m * m).map(|i| if i / m == i % m { 1.0 } else { 0.0 }).collect();
    let (mut nn, mut expnt, mut h_expnt) = (n, 0i32, 0i32);
    while nn > 0 {
        if nn % 2 == 1 {
            power = matmul(&power, &hm);
            expnt += h_expnt;
        }
        hm = matmul(&hm, &hm);
        h_expnt *= 2;
        if hm[(k - 1) * m + (k - 1)].abs() > EP128 {
            for x in &mut hm {
                *x /= EP128;
            }
            h_expnt += E128;
        }
        nn /= 2;
    }
    let mut p = power[(k - 1) * m + (k - 1)];
    let nf = n as f64;
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < EM128 {
            p *= EP128;
            expnt -= E128;
        }
    }
    clip(ldexp(p, expnt))
}

fn ldexp(x: f64, e: i32) -> f64 {
    // In two steps so that neither power of two overflows or underflows on its own.
    let half = e / 2;
    x * 2f64.powi(half) * 2f64.powi(e - half)
}

/// The first and last non-zero entries of row `i` of Pomeranz's recursion.
fn pomeranz_j1j2(i: i64, n: i64, ll: i64, ceilf: i64, roundf: i64) -> (i64, i64) {
    let (j1, j2) = if i == 0 {
        (-ll - ceilf - 1, ll + ceilf - 1)
    } else {
        let (ip1div2, ip1mod2) = ((i + 1) / 2, (i + 1) % 2);
        if ip1mod2 == 0 {
            if ip1div2 == n + 1 {
                (n - ll - ceilf - 1, n + ll + ceilf - 1)
            } else {
                (ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1)
            }
        } else {
            (ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1)
        }
    };
    ((j1 + 2).max(0), j2.min(n))
}

/// `P(D_n ≤ x)` by Pomeranz's recursion (1974): rows convolved with Poisson-like weights,
/// two rows kept, rescaled by powers of two.
fn pomeranz_cdf(n: u64, x: f64) -> f64 {
    let nf = n as f64;
    let n = n as i64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = (2 * (ll + 1)) as usize;
    let mut gpower = vec![1.0; npwrs];
    let mut twogpower = vec![1.0; npwrs];
    let mut onem2gpower = vec![1.0; npwrs];
    let (g_over_n, two_g_over_n, one_minus_two_g_over_n) = (g / nf, 2.0 * g / nf, (1.0 - 2.0 * g) / nf);
    for m in 1..npwrs {
        gpower[m] = gpower[m - 1] * g_over_n / m as f64;
        twogpower[m] = twogpower[m - 1] * two_g_over_n / m as f64;
        onem2gpower[m] = onem2gpower[m - 1] * one_minus_two_g_over_n / m as f64;
    }
    let mut v0 = vec![0.0; npwrs];
    let mut v1 = vec![0.0; npwrs];
    v1[0] = 1.0;
    let (mut v0s, mut v1s) = (0i64, 0i64);
    let mut expnt = 0i32;
    let (mut j1, _) = pomeranz_j1j2(0, n, ll, ceilf, roundf);
    for i in 1..(2 * n + 2) {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.fill(0.0);
        let (nj1, j2) = pomeranz_j1j2(i, n, ll, ceilf, roundf);
        j1 = nj1;
        let pwrs = if i == 1 || i == 2 * n + 1 {
            &gpower
        } else if i % 2 == 1 {
            &twogpower
        } else {
            &onem2gpower
        };
        let ln2 = j2 - k1 + 1;
        if ln2 > 0 {
            // numpy.convolve(V0[k1 - V0s : k1 - V0s + ln2], pwrs[:ln2]), entries j1 - k1 onwards.
            let start = k1 - v0s;
            let a: Vec<f64> = (0..ln2).map(|q| usize::try_from(start + q).ok().and_then(|i| v0.get(i)).copied().unwrap_or(0.0)).collect();
            let b = &pwrs[..(ln2 as usize).min(pwrs.len())];
            let conv_start = (j1 - k1) as usize;
            let conv_len = (j2 - j1 + 1).max(0) as usize;
            for (q, out) in v1.iter_mut().take(conv_len).enumerate() {
                let idx = conv_start + q;
                let mut s = 0.0;
                for (p, &bp) in b.iter().enumerate() {
                    if idx >= p && idx - p < a.len() {
                        s += a[idx - p] * bp;
                    }
                }
                *out = s;
            }
            let max = v1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if 0.0 < max && max < EM128 {
                for v in &mut v1 {
                    *v *= EP128;
                }
                expnt -= E128;
            }
            v1s = v0s + j1 - k1;
        }
    }
    let mut ans = v1.get((n - v1s) as usize).copied().unwrap_or(0.0);
    for m in 1..=n {
        if ans.abs() > EP128 {
            ans *= EM128;
            expnt += E128;
        }
        ans *= m as f64;
    }
    clip(ldexp(ans, expnt))
}

/// `P(D_n ≤ x)` by Pelz and Good's (1976) expansion of Li-Chien's and Korolyuk's series.
fn pelz_good_cdf(n: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let (pi2, pi4, pi6) = (PI * PI, PI.powi(4), PI.powi(6));
    let z = n.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z.powi(3), z.powi(4), z.powi(6));
    let qlog = -pi2 / 8.0 / z2;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();
    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let mut k = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let qpower = q.powf((8 * kk) as f64);
        let coeffs = [1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
        for (acc, c) in k.iter_mut().zip(coeffs) {
            *acc = *acc * qpower + c;
        }
    }
    let sqrt2pi = (2.0 * PI).sqrt();
    let denominators = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (acc, d) in k.iter_mut().zip(denominators) {
        *acc = *acc * q * sqrt2pi / d;
    }
    let q = (-pi2 / 2.0 / z2).exp();
    let sqrt3z = 3f64.sqrt() * z;
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    for kk in (1..=maxk).rev() {
        let ks = kk as f64;
        let qp = q.powf(ks * ks);
        k2extra += ks * ks * qp;
        let kspi = PI * ks;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks * ks * qp;
    }
    k[2] += k2extra * pi2 * sqrt2pi / (-36.0 * z3);
    k[3] += k3extra * pi2 * sqrt2pi / (216.0 * z6);
    k.iter().enumerate().map(|(i, v)| v / n.powf(i as f64 / 2.0)).sum()
}

/// `P(D_n^+ ≥ x)`, the one-sided Smirnov tail (`scipy.special.smirnov(n, x)`), by Birnbaum
/// and Tingey's sum `x · Σ_{v=0}^{⌊n(1−x)⌋} C(n, v) (1 − x − v/n)^(n−v) (x + v/n)^(v−1)`.
fn smirnov(n: u64, x: f64) -> f64 {
    if !(0.0..=1.0).contains(&x) {
        return f64::NAN;
    }
    if n == 1 {
        return x;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x == 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    let nx = nf * x;
    let mut nxfl = nx.floor();
    let mut alpha = nx - nxfl;
    if alpha >= 1.0 {
        nxfl += 1.0;
        alpha = 0.0;
    }
    let nxfl = nxfl as u64;
    if nxfl == 0 || (nxfl == 1 && alpha == 0.0) {
        // x ≤ 1/n: 1 − x (1 + x)^(n − 1).
        return clip(1.0 - x * (1.0 + x).powf(nf - 1.0));
    }
    if -2.0 * nf * x * x < MIN_LOG {
        return 0.0;
    }
    if nxfl + 1 >= n {
        return clip((1.0 - x).powf(nf));
    }
    if n > 1_000_000 {
        return clip((-(6.0 * nf * x + 1.0).powi(2) / 18.0 / nf).exp());
    }
    // The last index of the lower sum: ⌊n(1 − x)⌋, less one when n·x is an integer.
    let last = n - nxfl - u64::from(alpha != 0.0) - u64::from(alpha == 0.0);
    let mut sum = 0.0f64;
    let mut log_binomial = 0.0f64;
    let terms = last + 1;
    for v in 0..terms {
        let vf = v as f64;
        if v > 0 {
            log_binomial += ((nf - vf + 1.0) / vf).ln();
        }
        let lower = 1.0 - x - vf / nf;
        let upper = x + vf / nf;
        let term = (log_binomial + (nf - vf) * lower.ln() + (vf - 1.0) * upper.ln()).exp();
        sum += term;
        if term != 0.0 && 4.0 * (terms - v) as f64 * term < f64::EPSILON * sum && v != terms - 1 {
            break;
        }
    }
    clip(x * sum)
}
