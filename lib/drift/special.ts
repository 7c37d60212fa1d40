/**
 * The special functions the drift tests need, in double precision: log-gamma, the regularised
 * incomplete gamma functions (chi-squared and normal tails) and the distribution of the one-sample
 * two-sided Kolmogorov–Smirnov statistic, which scipy's `ks_2samp` uses for large samples.
 *
 * Where scipy uses an exact quantity, any accurate method reproduces it, so these are written for
 * accuracy (relative error ~1e-13 or better) rather than as ports. Where scipy uses an
 * approximation (the Pelz–Good expansion, "2 × one-sided" in the far tail) this code uses the same
 * approximation over the same ranges, because matching scipy means matching its choices too.
 */

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

// Lanczos approximation (g = 7, 9 terms; Godfrey's coefficients), relative error < 1e-15 on x ≥ 0.5.
const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  if (x < 0.5) {
    // Reflection keeps the Lanczos sum in its accurate range.
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  }
  if (x >= 15) return stirlingLogGamma(x);
  const z = x - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return LOG_SQRT_2PI + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

// Stirling's series with Bernoulli terms up to 1/x^15: below 1e-16 relative for x ≥ 15, and it
// avoids Lanczos' cancellation between (z + 0.5) log t and t for large x.
function stirlingLogGamma(x: number): number {
  const r = 1 / x;
  const r2 = r * r;
  const series =
    r * (1 / 12 + r2 * (-1 / 360 + r2 * (1 / 1260 + r2 * (-1 / 1680 + r2 * (1 / 1188 + r2 * (-691 / 360360 + r2 * (1 / 156)))))));
  return (x - 0.5) * Math.log(x) - x + LOG_SQRT_2PI + series;
}

/** log of n choose k. */
export function logChoose(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/** Regularised upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a). */
export function gammaQ(a: number, x: number): number {
  if (Number.isNaN(a) || Number.isNaN(x) || a <= 0) return Number.NaN;
  if (x <= 0) return 1;
  if (x === Number.POSITIVE_INFINITY) return 0;
  if (x < a + 1) return 1 - gammaPSeries(a, x);
  return gammaQFraction(a, x);
}

/** Regularised lower incomplete gamma P(a, x). */
export function gammaP(a: number, x: number): number {
  if (Number.isNaN(a) || Number.isNaN(x) || a <= 0) return Number.NaN;
  if (x <= 0) return 0;
  if (x === Number.POSITIVE_INFINITY) return 1;
  if (x < a + 1) return gammaPSeries(a, x);
  return 1 - gammaQFraction(a, x);
}

function gammaPrefactor(a: number, x: number): number {
  return Math.exp(a * Math.log(x) - x - logGamma(a));
}

function gammaPSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n < 100_000; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * 1e-17) break;
  }
  return sum * gammaPrefactor(a, x);
}

// Legendre's continued fraction, evaluated with the modified Lentz method.
function gammaQFraction(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return gammaPrefactor(a, x) * h;
}

/** Survival function of the chi-squared distribution with `df` degrees of freedom (`scipy.stats.chi2.sf`). */
export function chi2Sf(x: number, df: number): number {
  if (Number.isNaN(x) || !(df > 0)) return Number.NaN;
  return gammaQ(df / 2, x / 2);
}

/** Standard normal survival function 1 − Φ(z), accurate in both tails. */
export function normalSf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  // erfc(t) = Q(1/2, t²) for t ≥ 0.
  const half = 0.5 * gammaQ(0.5, (z * z) / 2);
  return z >= 0 ? half : 1 - half;
}

// --- Kolmogorov–Smirnov: the distribution of D_n (scipy.stats.kstwo) ------------------------

/** scipy's np.round: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * P(D_n ≥ x) for the one-sample two-sided statistic: `scipy.stats.kstwo.sf(x, n)`. Follows the
 * method choice of Simard & L'Ecuyer (2011) exactly as scipy's `_kolmogn` does, since two of the
 * branches are approximations (Pelz–Good; 2 × one-sided tail) whose error is well above 1e-9.
 */
export function kstwoSf(x: number, n: number): number {
  if (!Number.isInteger(n) || n <= 0 || Number.isNaN(x)) return Number.NaN;
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    // Ruben–Gambino: P(D_n ≤ x) = n!/n^n (2t − 1)^n for 1/2n ≤ x ≤ 1/n.
    if (t <= 0.5) return 1;
    let cdf: number;
    if (n <= 140) {
      cdf = 1;
      for (let i = 1; i <= n; i++) cdf *= i * (1 / n) * (2 * t - 1);
    } else {
      cdf = Math.exp(logFactorialOverPower(n) + n * Math.log(2 * t - 1));
    }
    return clip01(1 - cdf);
  }
  if (t >= n - 1) return clip01(2 * Math.pow(1 - x, n));
  if (x >= 0.5) return clip01(2 * smirnovSf(n, x));
  const nxSquared = t * x;
  if (n <= 140) {
    // scipy uses Durbin's matrix below 0.754693 and Pomeranz' recursion up to 4; both are exact,
    // so one exact method serves both ranges.
    if (nxSquared <= 4) return clip01(1 - durbinCdf(n, x));
    return clip01(2 * smirnovSf(n, x));
  }
  if (nxSquared >= 370) return 0;
  if (nxSquared >= 2.2) return clip01(2 * smirnovSf(n, x));
  const cdf = n <= 100_000 && n * Math.pow(x, 1.5) <= 1.4 ? durbinCdf(n, x) : pelzGoodCdf(n, x);
  return clip01(1 - cdf);
}

const clip01 = (p: number) => Math.min(1, Math.max(0, p));

// log(n! / n^n) by Stirling with the n log n term removed (no cancellation).
function logFactorialOverPower(n: number): number {
  const r = 1 / n;
  const r2 = r * r;
  const series = r * (1 / 12 + r2 * (-1 / 360 + r2 * (1 / 1260 + r2 * (-1 / 1680 + r2 * (1 / 1188)))));
  return Math.log(n) / 2 - n + LOG_SQRT_2PI + series;
}

/**
 * P(D⁺_n ≥ x), the one-sided statistic (`scipy.special.smirnov`): the Birnbaum–Tingey sum
 * x Σ_{v=0}^{⌊n(1−x)⌋} C(n,v) (x + v/n)^{v−1} (1 − x − v/n)^{n−v}, every term positive, summed
 * in log space so nothing overflows.
 *
 * Exact for every n. scipy's Cephes `smirnov` switches to the approximation
 * exp(−(6nx + 1)² / 18n) above n = 1,000,000, so the two differ there; `ks_2samp` reaches that only
 * when round(mn/(m+n)) > 1,000,000, i.e. both samples above two million values, which the default
 * selection never does (KS runs on references of ≤ 1,000 values).
 */
export function smirnovSf(n: number, x: number): number {
  if (!(n > 0) || !(x >= 0 && x <= 1)) return Number.NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const logN = logGamma(n + 1);
  let sum = 0;
  for (let v = 0; v < n; v++) {
    const upper = (n - v) / n - x; // 1 − x − v/n, without forming 1 − x first
    if (upper <= 0) break; // (1 − x − v/n)^(n−v) is 0 from here on
    sum += Math.exp(logN - logGamma(v + 1) - logGamma(n - v + 1) + (v - 1) * Math.log(x + v / n) + (n - v) * Math.log(upper));
  }
  return clip01(x * sum);
}

/**
 * P(D_n < d) by Durbin's matrix method as arranged by Marsaglia, Tsang & Wang (2003): with
 * d = (k − h)/n, the k-th diagonal element of H^n times n!/n^n, where H is the (2k−1)² matrix of
 * their paper. Exponents are tracked separately so neither the power nor n!/n^n over/underflows.
 */
export function durbinCdf(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  let H: Float64Array = new Float64Array(m * m);
  const at = (i: number, j: number) => i * m + j;
  // H[i][j] = 1/(i − j + 1)! for i − j + 1 ≥ 0, with a corrected first column and last row.
  const invFactorial = new Float64Array(m + 1);
  invFactorial[0] = 1;
  for (let i = 1; i <= m; i++) invFactorial[i] = invFactorial[i - 1]! / i;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) if (i - j + 1 >= 0) H[at(i, j)] = invFactorial[i - j + 1]!;
  }
  for (let i = 0; i < m; i++) {
    const corner = (1 - Math.pow(h, i + 1)) * invFactorial[i + 1]!;
    H[at(i, 0)] = corner;
    H[at(m - 1, m - 1 - i)] = corner;
  }
  H[at(m - 1, 0)] = (1 - 2 * Math.pow(h, m) + Math.pow(Math.max(0, 2 * h - 1), m)) * invFactorial[m]!;

  const multiply = (a: Float64Array, b: Float64Array): Float64Array => {
    const out = new Float64Array(m * m);
    for (let i = 0; i < m; i++) {
      for (let l = 0; l < m; l++) {
        const ail = a[at(i, l)]!;
        if (ail === 0) continue;
        for (let j = 0; j < m; j++) out[at(i, j)] += ail * b[at(l, j)]!;
      }
    }
    return out;
  };
  const SCALE = 2 ** 128;
  let power: Float64Array | null = null;
  let powerExp = 0;
  let hExp = 0;
  for (let e = n; e > 0; e = Math.floor(e / 2)) {
    if (e % 2 === 1) {
      power = power === null ? H.slice() : multiply(power, H);
      powerExp += hExp;
    }
    H = multiply(H, H);
    hExp *= 2;
    if (Math.abs(H[at(k - 1, k - 1)]!) > SCALE) {
      for (let i = 0; i < H.length; i++) H[i] = H[i]! / SCALE;
      hExp += 128;
    }
  }
  let p = power![at(k - 1, k - 1)]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < 1 / SCALE) {
      p *= SCALE;
      powerExp -= 128;
    }
  }
  return clip01(p * Math.pow(2, powerExp));
}

/**
 * The Pelz–Good (1976) expansion of P(D_n ≤ x): Li-Chien/Korolyuk's four-term series in 1/√n with
 * each term rewritten through Jacobi's theta identity for small z = x√n. An approximation (about
 * five correct digits); scipy uses it for n > 140 in the middle range, so this does too.
 */
export function pelzGoodCdf(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z3 = z2 * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const pi2 = Math.PI * Math.PI;
  const pi4 = pi2 * pi2;
  const pi6 = pi4 * pi2;
  const logQ = -pi2 / 8 / z2;
  if (logQ < -708) return 0;
  const q = Math.exp(logQ);
  const k1a = -z2;
  const k1b = pi2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * pi2) / 4;
  const k2c = (pi4 * (1 - 2 * z2)) / 16;
  const k3d = (pi6 * (5 - 30 * z2)) / 64;
  const k3c = (pi4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (pi2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * Math.pow(z, 8);
  // Σ over odd m = 2k − 1 of c(m) q^(m²), by Horner in q^(8k).
  const K = [0, 0, 0, 0];
  const maxK = Math.ceil((16 * z) / Math.PI);
  for (let k = maxK; k >= 1; k--) {
    const m = 2 * k - 1;
    const m2 = m * m;
    const m4 = m2 * m2;
    const m6 = m4 * m2;
    const qPower = Math.pow(q, 8 * k);
    const coefficients = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
    for (let i = 0; i < 4; i++) K[i] = K[i]! * qPower + coefficients[i]!;
  }
  const sqrt2pi = Math.sqrt(2 * Math.PI);
  const divisors = [z, 6 * z4, 72 * Math.pow(z, 7), 6480 * Math.pow(z, 10)];
  for (let i = 0; i < 4; i++) K[i] = (K[i]! * q * sqrt2pi) / divisors[i]!;
  // The K2 and K3 terms also carry a sum over all integers k of q'^(k²), q' = exp(−π²/2z²).
  const q2 = Math.exp(-pi2 / 2 / z2);
  const sqrt3z = Math.sqrt(3) * z;
  let k2Extra = 0;
  let k3Extra = 0;
  for (let k = maxK; k >= 1; k--) {
    const k2 = k * k;
    const w = Math.pow(q2, k2);
    k2Extra += k2 * w;
    const kPi = Math.PI * k;
    k3Extra += (sqrt3z + kPi) * (sqrt3z - kPi) * k2 * w;
  }
  K[2] = K[2]! + (k2Extra * pi2 * sqrt2pi) / (-36 * z3);
  K[3] = K[3]! + (k3Extra * pi2 * sqrt2pi) / (216 * z6);
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += K[i]! / Math.pow(n, i / 2);
  return sum;
}
