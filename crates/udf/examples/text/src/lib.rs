//! Text UDFs: `levenshtein`, `json_path` (a JSONPath subset over a small strict JSON parser) and
//! `regex_extract` (regex-lite, with the last compiled pattern cached).
//! Their Python twins are in tests/udf/reference.py.

mod json;

use regex_lite::Regex;
use std::cell::RefCell;

wasm_qe_udf::udf! {
    /// Edit distance over Unicode scalar values (chars), unit costs for insert, delete, substitute.
    #[styles(document, batch)]
    pub fn levenshtein(a: &str, b: &str) -> i64 {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        let (a, b) = if a.len() < b.len() { (b, a) } else { (a, b) }; // the row is the shorter
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = if ca == cb { diagonal } else { 1 + diagonal.min(above).min(row[j]) };
                diagonal = above;
            }
        }
        row[b.len()] as i64
    }

    /// The compact JSON array of every match of `path` in `doc`; NULL when nothing matches.
    /// Row errors: "invalid JSON document at byte N: ...", "invalid JSON path at position N: ...".
    #[styles(document, batch)]
    pub fn json_path(doc: &str, path: &str) -> Result<Option<String>, String> {
        let steps = json::parse_path(path)
            .map_err(|e| ["invalid JSON path at position ", &e.at.to_string(), ": ", e.what].concat())?;
        let root = json::parse(doc)
            .map_err(|e| ["invalid JSON document at byte ", &e.at.to_string(), ": ", e.what].concat())?;
        let found = json::select(&root, &steps);
        if found.is_empty() {
            return Ok(None);
        }
        let mut out = String::with_capacity(doc.len().min(4096));
        json::write(&json::Json::Arr(found.into_iter().cloned().collect()), &mut out);
        Ok(Some(out))
    }

    /// Capture group `group` (0: the whole match) of the first match of `pattern` in `text`;
    /// NULL when nothing matches or the group did not take part. Row errors: an invalid pattern,
    /// a group outside 0..=the pattern's capture groups.
    #[styles(document, batch)]
    pub fn regex_extract(text: &str, pattern: &str, group: i32) -> Result<Option<String>, String> {
        with_regex(pattern, |re| {
            let groups = re.captures_len() - 1;
            if group < 0 || group as usize > groups {
                return Err([
                    "group ", &group.to_string(), " is out of range: the pattern has ",
                    &groups.to_string(), " capture group", if groups == 1 { "" } else { "s" },
                ].concat());
            }
            Ok(re.captures(text).and_then(|c| c.get(group as usize)).map(|m| m.as_str().to_string()))
        })
    }
}

thread_local! {
    /// The last pattern and what compiling it gave (a batch repeats its pattern on every row).
    static LAST_REGEX: RefCell<Option<(String, Result<Regex, String>)>> = const { RefCell::new(None) };
}

fn with_regex<T>(pattern: &str, f: impl FnOnce(&Regex) -> Result<T, String>) -> Result<T, String> {
    LAST_REGEX.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !matches!(&*cache, Some((p, _)) if p == pattern) {
            let compiled = Regex::new(pattern).map_err(|e| format!("invalid regular expression: {e}"));
            *cache = Some((pattern.to_string(), compiled));
        }
        match &cache.as_ref().expect("just filled").1 {
            Ok(re) => f(re),
            Err(e) => Err(e.clone()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_qe_udf::testing::{call_batch, call_doc, live_allocations, Column, MockDoc};

    #[test]
    fn edit_distance() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("abc", ""), 3);
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("flaw", "lawn"), 2);
        assert_eq!(levenshtein("café", "cafe"), 1); // chars, not bytes
        assert_eq!(levenshtein("🙂a", "a"), 1);
        let r = call_batch(
            levenshtein::batch,
            3,
            &[Column::strs(&[Some("kitten"), None, Some("")]), Column::strs(&[Some("sitting"), Some("x"), Some("ab")])],
        );
        assert_eq!(r.i64s(), vec![Some(3), None, Some(2)]);
        let d = MockDoc::new().string("a", "abc").string("b", "abd");
        assert_eq!(call_doc(levenshtein::document, &d).i64(), 1);
        assert_eq!(live_allocations(), 0);
    }

    fn jp(doc: &str, path: &str) -> Result<Option<String>, String> {
        json_path(doc, path)
    }

    #[test]
    fn json_paths() {
        let doc = r#"{"store":{"book":[{"title":"A","price":8.95,"cat":"ref"},{"title":"B","price":12,"cat":"fic"},
                     {"title":"C","price":8.99,"cat":"fic","isbn":"x"}],"bicycle":{"color":"red","price":19.95}},"n":null}"#;
        assert_eq!(jp(doc, "$.store.bicycle.color").unwrap().as_deref(), Some(r#"["red"]"#));
        assert_eq!(jp(doc, "$.store.book[*].title").unwrap().as_deref(), Some(r#"["A","B","C"]"#));
        assert_eq!(jp(doc, "$['store']['book'][1]['price']").unwrap().as_deref(), Some("[12]"));
        assert_eq!(jp(doc, "$.store.book[?(@.cat=='fic')].title").unwrap().as_deref(), Some(r#"["B","C"]"#));
        assert_eq!(jp(doc, "$.store.book[?(@.price==12.0)].title").unwrap().as_deref(), Some(r#"["B"]"#));
        assert_eq!(jp(doc, "$.store.book[ ?( @.price == 8.95 ) ].title").unwrap().as_deref(), Some(r#"["A"]"#));
        assert_eq!(jp(doc, "$.store.*.color").unwrap().as_deref(), Some(r#"["red"]"#));
        assert_eq!(jp(doc, "$.n").unwrap().as_deref(), Some("[null]"));
        assert_eq!(jp(doc, "$.missing").unwrap(), None);
        assert_eq!(jp(doc, "$.store.book[7]").unwrap(), None);
        assert_eq!(jp("[1,2]", "$").unwrap().as_deref(), Some("[[1,2]]"));
        assert_eq!(jp(r#"{"a":1,"b":2,"a":3}"#, "$[*]").unwrap().as_deref(), Some("[3,2]"));
        assert_eq!(
            jp(r#"{"s":"q\"\\\n\u00e9\ud83d\ude42"}"#, "$.s").unwrap().as_deref(),
            Some("[\"q\\\"\\\\\\né🙂\"]")
        );
        let e = jp("{\"a\":}", "$.a").unwrap_err();
        assert!(e.starts_with("invalid JSON document at byte 5: "), "{e}");
        let e = jp("{}", "$.a[-1]").unwrap_err();
        assert!(e.starts_with("invalid JSON path at position 4: "), "{e}");
        for bad in ["a", "$.", "$[", "$['a'", "$[?(@.a=1)]", "$[01x]", "$ .a"] {
            assert!(jp("{}", bad).unwrap_err().starts_with("invalid JSON path at position "), "{bad}");
        }
        for bad in ["", "{", "[1,]", "01", "1 2", "\"\\ud800\"", "nul", "[1e]", "{\"a\" 1}", "\"\t\""] {
            assert!(jp(bad, "$").unwrap_err().starts_with("invalid JSON document at byte "), "{bad:?}");
        }
        let deep = "[".repeat(10_000);
        assert!(jp(&deep, "$").unwrap_err().contains("nesting too deep"));

        let r = call_batch(
            json_path::batch,
            4,
            &[
                Column::strs(&[Some(r#"{"a":[1,2]}"#), Some("{"), Some("{}"), None]),
                Column::strs(&[Some("$.a[*]"), Some("$"), Some("$.x"), Some("$")]),
            ],
        );
        assert_eq!(r.strings(), vec![Some("[1,2]".into()), None, None, None]);
        assert!(r.errors[1].as_deref().unwrap().starts_with("invalid JSON document at byte 1:"));
        assert_eq!(r.errors[0], None);
        let d = MockDoc::new().string("doc", "[1]").string("path", "$[0]");
        assert_eq!(call_doc(json_path::document, &d).take_string(), "[1]");
        let d = MockDoc::new().string("doc", "[1]").string("path", "x");
        assert!(call_doc(json_path::document, &d).take_error().starts_with("invalid JSON path at position 0"));
        assert_eq!(live_allocations(), 0);
    }

    #[test]
    fn regexes() {
        assert_eq!(regex_extract("order 123-456", r"(\d+)-(\d+)", 2).unwrap().as_deref(), Some("456"));
        assert_eq!(regex_extract("order 123-456", r"(\d+)-(\d+)", 0).unwrap().as_deref(), Some("123-456"));
        assert_eq!(regex_extract("no digits", r"(\d+)", 1).unwrap(), None);
        assert_eq!(regex_extract("ab", r"a|(x)", 1).unwrap(), None); // the group did not take part
        assert_eq!(
            regex_extract("x", "(a)(b)", 3).unwrap_err(),
            "group 3 is out of range: the pattern has 2 capture groups"
        );
        assert_eq!(
            regex_extract("x", "a", -1).unwrap_err(),
            "group -1 is out of range: the pattern has 0 capture groups"
        );
        assert!(regex_extract("x", "(", 0).unwrap_err().starts_with("invalid regular expression: "));
        let r = call_batch(
            regex_extract::batch,
            3,
            &[
                Column::strs(&[Some("a1"), Some("b22"), Some("c")]),
                Column::strs(&[Some(r"\d+"), Some(r"\d+"), Some(r"\d+")]),
                Column::i32s(&[Some(0), Some(0), Some(0)]),
            ],
        );
        assert_eq!(r.strings(), vec![Some("1".into()), Some("22".into()), None]);
        assert_eq!(live_allocations(), 0);
    }
}
