//! Two-sample statistics for the timing tests: medians, and the
//! Mann-Whitney U test (rank-sum, ties averaged, normal approximation with
//! tie and continuity corrections), which assumes nothing about the shape of
//! latency distributions.

/// How two samples of durations (in milliseconds) compare.
#[derive(Debug, Clone, Copy)]
pub struct Comparison {
    pub median_a: f64,
    pub median_b: f64,
    pub n_a: usize,
    pub n_b: usize,
    /// Standardised U statistic of sample `a`.
    pub z: f64,
    /// Two-sided p-value that both samples come from one distribution.
    pub p: f64,
}

impl Comparison {
    /// `|median_a - median_b|` relative to the larger median.
    pub fn relative_median_difference(&self) -> f64 {
        (self.median_a - self.median_b).abs() / self.median_a.max(self.median_b)
    }
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "medians {:.3} ms vs {:.3} ms (n = {} + {}), Mann-Whitney U: z = {:.2}, p = {:.3}",
            self.median_a, self.median_b, self.n_a, self.n_b, self.z, self.p
        )
    }
}

pub fn median(sample: &[f64]) -> f64 {
    let mut sorted = sample.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.is_empty() {
        f64::NAN
    } else if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        f64::midpoint(sorted[mid - 1], sorted[mid])
    }
}

#[allow(clippy::cast_precision_loss)] // sample sizes are far below 2^52
#[allow(clippy::many_single_char_names)] // the textbook's names: n, u, z
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Comparison {
    let (n_a, n_b) = (a.len(), b.len());
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let (mut rank_sum_a, mut ties) = (0.0, 0.0);
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        // Equal durations tie exactly (same bits), not within a margin.
        while end < n && all[end].0.total_cmp(&all[start].0).is_eq() {
            end += 1;
        }
        // Ranks start+1 ..= end share their average.
        let average = (start + 1 + end) as f64 / 2.0;
        let in_a = all[start..end].iter().filter(|(_, from_a)| *from_a).count();
        rank_sum_a += average * in_a as f64;
        let t = (end - start) as f64;
        ties += t * t * t - t;
        start = end;
    }
    let (na, nb, nn) = (n_a as f64, n_b as f64, n as f64);
    let u = rank_sum_a - na * (na + 1.0) / 2.0;
    let mean = na * nb / 2.0;
    let variance = na * nb / 12.0 * ((nn + 1.0) - ties / (nn * (nn - 1.0)));
    let deviation = u - mean;
    let corrected = (deviation.abs() - 0.5).max(0.0).copysign(deviation);
    let z = if variance > 0.0 {
        corrected / variance.sqrt()
    } else {
        0.0
    };
    Comparison {
        median_a: median(a),
        median_b: median(b),
        n_a,
        n_b,
        z,
        p: erfc(z.abs() / std::f64::consts::SQRT_2),
    }
}

/// The complementary error function (Numerical Recipes' Chebyshev fit,
/// relative error below 1.2e-7), so that p = erfc(|z| / sqrt 2).
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let value = t * poly.exp();
    if x >= 0.0 { value } else { 2.0 - value }
}

#[test]
fn the_statistics_match_known_values() {
    // erfc(1) = 0.157299...; p for |z| = 1.96 is 0.05.
    assert!((erfc(1.0) - 0.157_299_2).abs() < 1e-6);
    let p = erfc(1.96 / std::f64::consts::SQRT_2);
    assert!((p - 0.05).abs() < 1e-3, "{p}");
    // Identical samples: no difference; disjoint ones: a clear one.
    let same = mann_whitney(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0, 4.0]);
    assert!(same.p > 0.9, "{same}");
    let a: Vec<f64> = (0..30).map(f64::from).collect();
    let b: Vec<f64> = (100..130).map(f64::from).collect();
    let apart = mann_whitney(&a, &b);
    assert!(apart.p < 1e-9 && apart.z < 0.0, "{apart}");
    assert!((median(&[3.0, 1.0, 2.0]) - 2.0).abs() < f64::EPSILON);
}
