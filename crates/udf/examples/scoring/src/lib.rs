//! Scoring UDFs. Only `+ - * /` on f64, in the order written, so the results are bit-identical
//! to the Python reference (tests/udf/reference.py): Rust never contracts `a * b + c` into a
//! fused multiply-add.

use wasm_qe_udf::Timestamp;

wasm_qe_udf::udf! {
    /// Seed 004's scoring function: a recency factor of 1.5 under a week, 1.2 under 30 days,
    /// else 1.0; `doc_score * boost * factor`, multiplied in that order.
    #[styles(scalar, document, batch)]
    pub fn custom_score(doc_score: f64, boost: f64, recency_days: i32) -> f64 {
        let factor = if recency_days < 7 {
            1.5
        } else if recency_days < 30 {
            1.2
        } else {
            1.0
        };
        doc_score * boost * factor
    }

    /// A weighted sum of a cheapness, a rating and a popularity term, left to right.
    #[styles(scalar, document, batch)]
    pub fn weighted_score(
        price: f64,
        rating: f64,
        popularity: f64,
        price_weight: f64,
        rating_weight: f64,
        popularity_weight: f64,
    ) -> f64 {
        price_weight * (1.0 / (1.0 + price))
            + rating_weight * (rating / 5.0)
            + popularity_weight * (popularity / (popularity + 100.0))
    }

    /// Weekdays (Monday to Friday) d of the UTC calendar with start's date <= d < end's date;
    /// minus the count over [end's date, start's date) when end's date is earlier.
    #[styles(scalar, document, batch)]
    pub fn business_days_between(start: Timestamp, end: Timestamp) -> i64 {
        let (a, b) = (start.days_since_epoch(), end.days_since_epoch());
        if b < a {
            -weekdays_from(b, b.abs_diff(a))
        } else {
            weekdays_from(a, a.abs_diff(b))
        }
    }
}

/// Monday = 0 ... Sunday = 6 of a day counted from 1970-01-01 (a Thursday).
fn weekday(day: i64) -> i64 {
    (day.rem_euclid(7) + 3) % 7
}

/// Weekdays among the `n` days from `first` on.
fn weekdays_from(first: i64, n: u64) -> i64 {
    let full_weeks = (n / 7) as i64;
    let mut count = full_weeks * 5;
    let mut wd = weekday(first);
    for _ in 0..n % 7 {
        if wd < 5 {
            count += 1;
        }
        wd = (wd + 1) % 7;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_qe_udf::testing::{call_batch, call_doc, live_allocations, Column, MockDoc};

    const DAY: i64 = Timestamp::MICROS_PER_DAY;

    #[test]
    fn custom_score_factors() {
        assert_eq!(custom_score(2.0, 3.0, 0), 2.0 * 3.0 * 1.5);
        assert_eq!(custom_score(2.0, 3.0, 7), 2.0 * 3.0 * 1.2);
        assert_eq!(custom_score(2.0, 3.0, 29), 2.0 * 3.0 * 1.2);
        assert_eq!(custom_score(2.0, 3.0, 30), 6.0);
        assert_eq!(custom_score(2.0, 3.0, -5), 9.0);
        assert_eq!(custom_score::scalar(1.0, 2.0, 3), 3.0);
    }

    #[test]
    fn custom_score_styles() {
        let d = MockDoc::new().float("doc_score", 0.7).float("boost", 1.1).int("recency_days", 10);
        assert_eq!(call_doc(custom_score::document, &d).f64(), 0.7 * 1.1 * 1.2);
        // get_f64 accepts integers
        let d = MockDoc::new().int("doc_score", 2).int("boost", 3).int("recency_days", 100);
        assert_eq!(call_doc(custom_score::document, &d).f64(), 6.0);
        let r = call_batch(
            custom_score::batch,
            3,
            &[
                Column::f64s(&[Some(1.0), Some(2.0), None]),
                Column::f64s(&[Some(2.0), Some(2.0), Some(1.0)]),
                Column::i32s(&[Some(1), Some(40), Some(1)]),
            ],
        );
        assert_eq!(r.f64s(), vec![Some(3.0), Some(4.0), None]);
        assert_eq!(live_allocations(), 0);
    }

    #[test]
    fn weighted() {
        let expected = 0.5 * (1.0 / (1.0 + 9.0)) + 0.3 * (4.0 / 5.0) + 0.2 * (50.0 / (50.0 + 100.0));
        assert_eq!(weighted_score(9.0, 4.0, 50.0, 0.5, 0.3, 0.2), expected);
        assert_eq!(weighted_score::scalar(9.0, 4.0, 50.0, 0.5, 0.3, 0.2), expected);
    }

    #[test]
    fn business_days() {
        // 2024-01-01 was a Monday.
        let monday = 19723 * DAY;
        let b = |s: i64, e: i64| business_days_between(Timestamp(s), Timestamp(e));
        assert_eq!(b(monday, monday), 0);
        assert_eq!(b(monday, monday + 7 * DAY), 5);
        assert_eq!(b(monday, monday + 5 * DAY), 5); // Mon..Fri
        assert_eq!(b(monday + 5 * DAY, monday + 7 * DAY), 0); // Sat, Sun
        assert_eq!(b(monday + 7 * DAY, monday), -5);
        assert_eq!(b(monday + 3 * DAY + 1, monday + 4 * DAY - 1), 0); // same day
        assert_eq!(b(monday, monday + 14 * DAY + 1), 10);
        // before the epoch: 1969-12-29 was a Monday; floor division puts -1 µs on 1969-12-31
        assert_eq!(b(-3 * DAY, -1), 2);
        assert_eq!(b(-3 * DAY, 0), 3);
        assert_eq!(weekday(0), 3);
        assert_eq!(weekday(-3), 0);
        let r = call_batch(
            business_days_between::batch,
            2,
            &[Column::timestamps(&[Some(monday), None]), Column::timestamps(&[Some(monday + 7 * DAY), Some(0)])],
        );
        assert_eq!(r.i64s(), vec![Some(5), None]);
        let d = MockDoc::new().timestamp("start", monday).timestamp("end", monday + DAY);
        assert_eq!(call_doc(business_days_between::document, &d).i64(), 1);
        assert_eq!(live_allocations(), 0);
    }
}
