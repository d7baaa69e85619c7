//! Histogram arithmetic without DataFusion (docs/functions.md): equal-width bins over [lo, hi],
//! values below lo and above hi counted apart, count/sum/min/max of every value. Unit tests run
//! standalone: `rustc --edition 2021 --test src/functions/hist_core.rs -o /tmp/t && /tmp/t`.

/// The most bins a histogram may have (its counts are kept per group in memory).
pub const MAX_BINS: i64 = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Hist {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<i64>,
    pub underflow: i64,
    pub overflow: i64,
    pub count: i64,
    pub sum: f64,
    /// +inf and -inf while count is 0.
    pub min: f64,
    pub max: f64,
}

impl Hist {
    /// An empty histogram; lo < hi, both finite with a finite width, 1 <= bins <= MAX_BINS.
    pub fn new(lo: f64, hi: f64, bins: i64) -> Result<Hist, String> {
        if !(lo < hi && (hi - lo).is_finite()) {
            return Err(format!("histogram bounds must be finite with lo < hi, got lo={lo:?} hi={hi:?}"));
        }
        if !(1..=MAX_BINS).contains(&bins) {
            return Err(format!("histogram bins must be between 1 and {MAX_BINS}, got {bins}"));
        }
        Ok(Hist {
            lo,
            hi,
            counts: vec![0; bins as usize],
            underflow: 0,
            overflow: 0,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        })
    }

    /// Whether `other` has the same bounds and bin count (the condition of `merge`).
    pub fn same_shape(&self, lo: f64, hi: f64, bins: usize) -> bool {
        self.lo == lo && self.hi == hi && self.counts.len() == bins
    }

    fn shape(&self) -> String {
        format!("[lo={:?}, hi={:?}, bins={}]", self.lo, self.hi, self.counts.len())
    }

    /// Counts a value: NaN is ignored; below lo is underflow, above hi overflow; bin i holds
    /// [lo + i*w, lo + (i+1)*w) with w = (hi - lo) / bins, the last bin also holds hi.
    pub fn add(&mut self, v: f64) {
        if v.is_nan() {
            return;
        }
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if v < self.lo {
            self.underflow += 1;
        } else if v > self.hi {
            self.overflow += 1;
        } else {
            let bins = self.counts.len();
            let i = ((v - self.lo) / (self.hi - self.lo) * bins as f64).floor() as usize;
            self.counts[i.min(bins - 1)] += 1;
        }
    }

    /// Adds `other` (same bounds and bins, or an error naming both).
    pub fn merge(&mut self, other: &Hist) -> Result<(), String> {
        if !self.same_shape(other.lo, other.hi, other.counts.len()) {
            return Err(format!(
                "histograms with different bounds cannot be merged: {} and {}",
                self.shape(),
                other.shape()
            ));
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.underflow += other.underflow;
        self.overflow += other.overflow;
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        Ok(())
    }

    /// The q-quantile, None for an empty histogram. The buckets in order are underflow [min, lo],
    /// the bins, overflow [hi, max]; with n their total and r = q * n, the answer lies in the first
    /// non-empty bucket whose cumulative count reaches r, interpolated linearly inside it:
    /// b_lo + (b_hi - b_lo) * (r - before) / c, then clamped to [min, max].
    pub fn quantile(&self, q: f64) -> Result<Option<f64>, String> {
        if !(0.0..=1.0).contains(&q) {
            return Err(format!("histogram quantile must be between 0 and 1, got {q:?}"));
        }
        let bins = self.counts.len();
        let n = self.underflow + self.overflow + self.counts.iter().sum::<i64>();
        if n == 0 {
            return Ok(None);
        }
        let r = q * n as f64;
        let edge = |i: usize| self.lo + (self.hi - self.lo) * i as f64 / bins as f64;
        let mut before = 0i64;
        let mut last = (self.min, self.min, 0i64, 0i64);
        for b in 0..bins + 2 {
            let (count, b_lo, b_hi) = match b {
                0 => (self.underflow, self.min, self.lo),
                b if b == bins + 1 => (self.overflow, self.hi, self.max),
                b => (self.counts[b - 1], edge(b - 1), edge(b)),
            };
            if count == 0 {
                continue;
            }
            last = (b_lo, b_hi, before, count);
            if (before + count) as f64 >= r {
                break;
            }
            before += count;
        }
        let (b_lo, b_hi, before, count) = last;
        let v = b_lo + (b_hi - b_lo) * ((r - before as f64) / count as f64);
        Ok(Some(v.max(self.min).min(self.max)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_and_edges() {
        let mut h = Hist::new(0.0, 10.0, 5).unwrap();
        for v in [0.0, 1.99, 2.0, 9.99, 10.0, -0.1, 10.1, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            h.add(v);
        }
        assert_eq!(h.counts, vec![2, 1, 0, 0, 2]);
        assert_eq!((h.underflow, h.overflow, h.count), (2, 2, 9));
        assert_eq!((h.min, h.max), (f64::NEG_INFINITY, f64::INFINITY));
        assert!(h.sum.is_nan());
    }

    #[test]
    fn bad_shapes() {
        assert!(Hist::new(1.0, 1.0, 3).is_err());
        assert!(Hist::new(2.0, 1.0, 3).is_err());
        assert!(Hist::new(f64::NAN, 1.0, 3).is_err());
        assert!(Hist::new(-f64::MAX, f64::MAX, 3).is_err());
        assert!(Hist::new(0.0, 1.0, 0).is_err());
        assert!(Hist::new(0.0, 1.0, MAX_BINS + 1).is_err());
        let mut a = Hist::new(0.0, 1.0, 4).unwrap();
        let err = a.merge(&Hist::new(0.0, 2.0, 4).unwrap()).unwrap_err();
        assert!(err.contains("[lo=0.0, hi=1.0, bins=4] and [lo=0.0, hi=2.0, bins=4]"), "{err}");
        assert!(a.merge(&Hist::new(0.0, 1.0, 5).unwrap()).is_err());
    }

    #[test]
    fn quantiles() {
        let mut h = Hist::new(0.0, 100.0, 10).unwrap();
        assert_eq!(h.quantile(0.5), Ok(None));
        for v in 0..100 {
            h.add(v as f64 + 0.5);
        }
        assert_eq!(h.quantile(0.0), Ok(Some(0.5)));
        assert_eq!(h.quantile(0.5), Ok(Some(50.0)));
        assert_eq!(h.quantile(0.25), Ok(Some(25.0)));
        assert_eq!(h.quantile(1.0), Ok(Some(99.5)));
        assert!(h.quantile(1.5).is_err());
        assert!(h.quantile(f64::NAN).is_err());
        let mut one = Hist::new(0.0, 1.0, 3).unwrap();
        one.add(7.0);
        assert_eq!(one.quantile(0.0), Ok(Some(7.0)));
        assert_eq!(one.quantile(0.9), Ok(Some(7.0)));
        let mut under = Hist::new(0.0, 1.0, 2).unwrap();
        under.add(-3.0);
        under.add(0.75);
        assert_eq!(under.quantile(0.25), Ok(Some(-1.5)));
        assert_eq!(under.quantile(0.75), Ok(Some(0.75)));
    }

    #[test]
    fn merge_adds() {
        let mut a = Hist::new(0.0, 4.0, 4).unwrap();
        let mut b = a.clone();
        let mut all = a.clone();
        for v in [0.5, 1.5, 9.0] {
            a.add(v);
            all.add(v);
        }
        for v in [-1.0, 3.5] {
            b.add(v);
            all.add(v);
        }
        a.merge(&b).unwrap();
        assert_eq!(a, all);
        let empty = Hist::new(0.0, 4.0, 4).unwrap();
        a.merge(&empty).unwrap();
        assert_eq!(a, all);
    }
}
