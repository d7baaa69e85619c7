//! The smallest UDF module: `add_one(x: i64) -> i64` in all three styles.

wasm_qe_udf::udf! {
    /// `x + 1`, wrapping at the ends of i64 (no overflow trap).
    #[styles(scalar, document, batch)]
    pub fn add_one(x: i64) -> i64 {
        x.wrapping_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_qe_udf::testing::{call_batch, call_doc, Column, MockDoc};

    #[test]
    fn all_styles() {
        assert_eq!(add_one::scalar(41), 42);
        assert_eq!(add_one(i64::MAX), i64::MIN);
        assert_eq!(call_doc(add_one::document, &MockDoc::new().int("x", 1)).i64(), 2);
        assert_eq!(call_doc(add_one::document, &MockDoc::new()).status, 1);
        let r = call_batch(add_one::batch, 3, &[Column::i64s(&[Some(1), None, Some(-1)])]);
        assert_eq!(r.i64s(), vec![Some(2), None, Some(0)]);
        assert_eq!(
            std::str::from_utf8(&add_one::MANIFEST).unwrap(),
            "{\"abi\":\"1.0\",\"name\":\"add_one\",\"args\":[{\"name\":\"x\",\"type\":\"i64\",\"nullable\":false}],\
             \"returns\":{\"type\":\"i64\",\"nullable\":false},\"fallible\":false,\"deterministic\":true,\
             \"styles\":[\"scalar\",\"document\",\"batch\"]}\n"
        );
        assert_eq!(wasm_qe_udf::testing::live_allocations(), 0);
    }
}
