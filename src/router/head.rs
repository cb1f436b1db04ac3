//! A linear head over feature vectors: each feature standardised, then L2-regularised
//! logistic regression, fitted by accelerated gradient descent. Deterministic: the same
//! vectors give the same head, bit for bit.
//!
//! The router fits one on the small model's hidden states of labelled requests; with a few
//! hundred requests and several hundred features the regularisation does the real work, so
//! it is chosen by cross-validation on the training lines alone.

use serde::{Deserialize, Serialize};

/// Iterations of gradient descent; far past convergence at these sizes.
const ITERATIONS: usize = 600;

/// Regularisation strengths cross-validation chooses from.
pub const L2_GRID: [f64; 6] = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0];

/// A fitted head: `logit(x) = w · ((x − mean) ⊙ scale) + bias`, positive for the positive
/// class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearHead {
    pub mean: Vec<f32>,
    /// 1 / standard deviation (1 where a feature is constant).
    pub scale: Vec<f32>,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// The regularisation it was fitted with.
    pub l2: f64,
}

impl LinearHead {
    /// Fits `xs` (all of one width) to `ys` (true = positive) with strength `l2`. The two
    /// classes weigh equally whatever their counts. `None` when there is nothing to fit:
    /// no vectors, ragged widths, or a class without examples.
    pub fn fit(xs: &[Vec<f32>], ys: &[bool], l2: f64) -> Option<Self> {
        let data = Standardised::new(xs, ys)?;
        let all: Vec<usize> = (0..xs.len()).collect();
        let (alpha, bias) = data.fit(&all, l2)?;
        // w = Zᵀα: the primal weights the dual iterates stand for.
        let mut weights = vec![0f64; data.width];
        for (row, a) in data.z.chunks(data.width).zip(&alpha) {
            for (w, z) in weights.iter_mut().zip(row) {
                *w += a * z;
            }
        }
        #[allow(clippy::cast_possible_truncation)]
        Some(Self {
            mean: data.mean.iter().map(|&m| m as f32).collect(),
            scale: data.scale.iter().map(|&s| s as f32).collect(),
            weights: weights.iter().map(|&v| v as f32).collect(),
            bias: bias as f32,
            l2,
        })
    }

    /// The head's logit for `x`; 0 for a vector of another width.
    pub fn logit(&self, x: &[f32]) -> f64 {
        if x.len() != self.weights.len() {
            return 0.0;
        }
        x.iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .zip(&self.weights)
            .map(|(((&x, &m), &s), &w)| f64::from(w) * (f64::from(x) - f64::from(m)) * f64::from(s))
            .sum::<f64>()
            + f64::from(self.bias)
    }

    /// Whether its vectors agree in width (a stored head read back from disk is checked).
    pub fn is_consistent(&self) -> bool {
        !self.weights.is_empty()
            && self.mean.len() == self.weights.len()
            && self.scale.len() == self.weights.len()
            && self.bias.is_finite()
            && self.weights.iter().all(|w| w.is_finite())
    }
}

/// The logistic function.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The strength in [`L2_GRID`] whose out-of-fold logits (each vector scored by a head fitted
/// on the other folds; vector `i` is in fold `i % folds`) are right most often, ties to the
/// stronger one, with those logits.
pub fn choose_l2(xs: &[Vec<f32>], ys: &[bool], folds: usize) -> Option<(f64, Vec<f64>)> {
    let data = Standardised::new(xs, ys)?;
    let mut best: Option<(usize, f64, Vec<f64>)> = None;
    for &l2 in &L2_GRID {
        let logits = data.out_of_fold(l2, folds)?;
        let right = logits
            .iter()
            .zip(ys)
            .filter(|(&logit, &y)| (logit > 0.0) == y)
            .count();
        if best.as_ref().is_none_or(|(most, _, _)| right >= *most) {
            best = Some((right, l2, logits));
        }
    }
    best.map(|(_, l2, logits)| (l2, logits))
}

/// Vectors standardised feature by feature, with their Gram matrix.
///
/// Gradient descent on the weights `w` from zero keeps `w = Zᵀα` for some `α`, one entry
/// per vector, and the logits are `Kα + b` with `K = ZZᵀ`. Iterating on `α` takes the very
/// same steps at `n²` a step instead of `n·width` — with a few hundred vectors of several
/// hundred features, several times less work, which matters because cross-validation fits
/// dozens of heads.
struct Standardised<'y> {
    /// Row-major, `n × width`.
    z: Vec<f64>,
    /// Row-major, `n × n`.
    gram: Vec<f64>,
    ys: &'y [bool],
    n: usize,
    width: usize,
    mean: Vec<f64>,
    scale: Vec<f64>,
}

impl<'y> Standardised<'y> {
    fn new(xs: &[Vec<f32>], ys: &'y [bool]) -> Option<Self> {
        let n = xs.len();
        let width = xs.first()?.len();
        if n != ys.len() || width == 0 || xs.iter().any(|x| x.len() != width) {
            return None;
        }
        let (mean, scale) = standardisation(xs, width);
        let mut z = Vec::with_capacity(n * width);
        for x in xs {
            z.extend(
                x.iter()
                    .zip(&mean)
                    .zip(&scale)
                    .map(|((&v, m), s)| (f64::from(v) - m) * s),
            );
        }
        let mut gram = vec![0f64; n * n];
        for i in 0..n {
            let a = &z[i * width..(i + 1) * width];
            for j in 0..=i {
                let b = &z[j * width..(j + 1) * width];
                let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                gram[i * n + j] = dot;
                gram[j * n + i] = dot;
            }
        }
        Some(Self {
            z,
            gram,
            ys,
            n,
            width,
            mean,
            scale,
        })
    }

    fn out_of_fold(&self, l2: f64, folds: usize) -> Option<Vec<f64>> {
        let folds = folds.max(2);
        let mut logits = vec![0.0; self.n];
        for fold in 0..folds {
            let train: Vec<usize> = (0..self.n).filter(|i| i % folds != fold).collect();
            let (alpha, bias) = self.fit(&train, l2)?;
            for i in (0..self.n).filter(|i| i % folds == fold) {
                let row = &self.gram[i * self.n..(i + 1) * self.n];
                logits[i] = train
                    .iter()
                    .zip(&alpha)
                    .map(|(&j, a)| row[j] * a)
                    .sum::<f64>()
                    + bias;
            }
        }
        Some(logits)
    }

    /// Fits the vectors `rows` (indices): the dual weights, in `rows` order, and the bias.
    fn fit(&self, rows: &[usize], l2: f64) -> Option<(Vec<f64>, f64)> {
        let m = rows.len();
        let positives = rows.iter().filter(|&&i| self.ys[i]).count();
        if positives == 0 || positives == m {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let weight = |y: bool| {
            let count = if y { positives } else { m - positives };
            m as f64 / (2.0 * count as f64)
        };
        let target: Vec<f64> = rows
            .iter()
            .map(|&i| f64::from(u8::from(self.ys[i])))
            .collect();
        let sample: Vec<f64> = rows.iter().map(|&i| weight(self.ys[i])).collect();
        // The fold's own Gram matrix, contiguous.
        let mut k = Vec::with_capacity(m * m);
        for &i in rows {
            let row = &self.gram[i * self.n..(i + 1) * self.n];
            k.extend(rows.iter().map(|&j| row[j]));
        }
        // A step of 1/L, L bounding the loss's curvature: the log-loss's is at most a
        // quarter of the weighted Gram matrix's largest eigenvalue (plus the bias column).
        let step = 1.0 / (0.25 * largest_eigenvalue(&k, &sample) + l2 + 1e-9);
        #[allow(clippy::cast_precision_loss)]
        let mf = m as f64;
        let mut alpha = vec![0f64; m];
        let mut bias = 0f64;
        let mut previous = (alpha.clone(), bias);
        let mut residual = vec![0f64; m];
        for t in 0..ITERATIONS {
            // Nesterov's momentum.
            #[allow(clippy::cast_precision_loss)]
            let momentum = t as f64 / (t as f64 + 3.0);
            let look: Vec<f64> = alpha
                .iter()
                .zip(&previous.0)
                .map(|(now, before)| now + momentum * (now - before))
                .collect();
            let look_bias = bias + momentum * (bias - previous.1);
            let mut bias_grad = 0.0;
            for (r, ((row, y), w)) in residual
                .iter_mut()
                .zip(k.chunks(m).zip(&target).zip(&sample))
            {
                let logit = row.iter().zip(&look).map(|(a, b)| a * b).sum::<f64>() + look_bias;
                *r = w * (sigmoid(logit) - y) / mf;
                bias_grad += *r;
            }
            let next: Vec<f64> = look
                .iter()
                .zip(&residual)
                .map(|(a, r)| a - step * (r + l2 * a))
                .collect();
            previous = (std::mem::replace(&mut alpha, next), bias);
            bias = look_bias - step * bias_grad;
        }
        Some((alpha, bias))
    }
}

fn standardisation(xs: &[Vec<f32>], width: usize) -> (Vec<f64>, Vec<f64>) {
    #[allow(clippy::cast_precision_loss)]
    let n = xs.len() as f64;
    let mut mean = vec![0f64; width];
    for x in xs {
        for (m, &v) in mean.iter_mut().zip(x) {
            *m += f64::from(v) / n;
        }
    }
    let mut var = vec![0f64; width];
    for x in xs {
        for ((s, &v), m) in var.iter_mut().zip(x).zip(&mean) {
            *s += (f64::from(v) - m).powi(2) / n;
        }
    }
    let scale = var
        .iter()
        .map(|&v| if v > 1e-12 { 1.0 / v.sqrt() } else { 1.0 })
        .collect();
    (mean, scale)
}

/// The largest eigenvalue of the weighted Gram matrix `k` (`m × m`) with a constant column
/// for the bias, `D^½ (K + 11ᵀ) D^½ / m`, by power iteration.
fn largest_eigenvalue(k: &[f64], weights: &[f64]) -> f64 {
    let m = weights.len();
    #[allow(clippy::cast_precision_loss)]
    let mf = m as f64;
    let roots: Vec<f64> = weights.iter().map(|w| w.sqrt()).collect();
    #[allow(clippy::cast_precision_loss)]
    let mut v = vec![1.0 / mf.sqrt(); m];
    let mut eigenvalue = 1.0;
    for _ in 0..30 {
        let scaled: Vec<f64> = v.iter().zip(&roots).map(|(a, r)| a * r).collect();
        let total: f64 = scaled.iter().sum();
        let next: Vec<f64> = k
            .chunks(m)
            .zip(&roots)
            .map(|(row, r)| {
                r * (row.iter().zip(&scaled).map(|(a, b)| a * b).sum::<f64>() + total) / mf
            })
            .collect();
        eigenvalue = next.iter().map(|x| x * x).sum::<f64>().sqrt();
        if eigenvalue <= 0.0 {
            return 1.0;
        }
        v = next.iter().map(|x| x / eigenvalue).collect();
    }
    eigenvalue
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two clouds apart along feature 0, with a noise feature.
    fn clouds() -> (Vec<Vec<f32>>, Vec<bool>) {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for i in 0..40 {
            let noise = ((i * 37) % 11) as f32 / 11.0;
            let positive = i % 2 == 0;
            let centre = if positive { 2.0 } else { -2.0 };
            xs.push(vec![centre + noise - 0.5, noise * 10.0, 3.0]);
            ys.push(positive);
        }
        (xs, ys)
    }

    #[test]
    fn a_separable_set_is_separated() {
        let (xs, ys) = clouds();
        let head = LinearHead::fit(&xs, &ys, 0.01).unwrap();
        for (x, &y) in xs.iter().zip(&ys) {
            assert_eq!(head.logit(x) > 0.0, y, "{x:?}");
        }
        // The informative feature carries the weight; the constant one none.
        assert!(
            head.weights[0].abs() > 5.0 * head.weights[1].abs(),
            "{head:?}"
        );
        assert!(head.weights[2].abs() < 1e-6, "{head:?}");
    }

    #[test]
    fn fitting_is_deterministic() {
        let (xs, ys) = clouds();
        assert_eq!(
            LinearHead::fit(&xs, &ys, 0.1),
            LinearHead::fit(&xs, &ys, 0.1)
        );
    }

    #[test]
    fn stronger_regularisation_shrinks_the_weights() {
        let (xs, ys) = clouds();
        let weak = LinearHead::fit(&xs, &ys, 0.003).unwrap();
        let strong = LinearHead::fit(&xs, &ys, 1.0).unwrap();
        let norm = |h: &LinearHead| h.weights.iter().map(|w| w * w).sum::<f32>();
        assert!(norm(&strong) < norm(&weak));
    }

    #[test]
    fn nothing_to_fit_is_none() {
        assert!(LinearHead::fit(&[], &[], 0.1).is_none());
        assert!(LinearHead::fit(&[vec![1.0], vec![2.0]], &[true, true], 0.1).is_none());
        assert!(LinearHead::fit(&[vec![1.0], vec![2.0, 3.0]], &[true, false], 0.1).is_none());
    }

    #[test]
    fn out_of_fold_logits_never_score_a_vector_with_a_head_that_saw_it() {
        // One mislabelled point: a head that saw it could fit it; out of fold, it is wrong.
        let (mut xs, mut ys) = clouds();
        xs.push(vec![2.0, 0.0, 3.0]);
        ys.push(false);
        let (l2, logits) = choose_l2(&xs, &ys, 5).unwrap();
        assert!(logits[40] > 0.0, "{}", logits[40]);
        assert!(L2_GRID.contains(&l2));
    }

    #[test]
    fn a_vector_of_another_width_scores_zero() {
        let (xs, ys) = clouds();
        let head = LinearHead::fit(&xs, &ys, 0.1).unwrap();
        assert_eq!(head.logit(&[1.0]), 0.0);
    }
}
