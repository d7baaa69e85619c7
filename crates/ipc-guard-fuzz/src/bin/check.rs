//! usage: check RECORDS_FILE
//! Reads records (u32 LE length + bytes), and prints one line per record:
//! `<index>\t<A|R>\t<arrow: ok|err|panic|skip>\t<validator error or empty>`.
//! A = accepted by ipc_guard (then arrow-rs runs), R = rejected (arrow-rs runs when it cannot
//! abort the process on a huge allocation). Exit status 1 if arrow-rs panicked on an accepted input.
//! tests/integration/test_ipc_guard_native.py feeds it streams made by pyarrow: valid ones of
//! every type (the validator must not reject what arrow-rs reads) and tests/ipc_mutations.py's
//! seeded mutations (no panic after validation).
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};

use ipc_guard_fuzz::ipc_guard::{validate_ipc_stream, IpcLimits};

#[path = "../common.rs"]
mod common;

fn main() {
    let path = std::env::args().nth(1).expect("records file");
    let data = std::fs::read(path).unwrap();
    panic::set_hook(Box::new(|_| {}));
    let limits = IpcLimits::default();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let (mut pos, mut i, mut bad) = (0usize, 0usize, false);
    while pos + 4 <= data.len() {
        let n = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let rec = &data[pos + 4..pos + 4 + n];
        pos += 4 + n;
        let verdict = validate_ipc_stream(rec, &limits);
        let arrow = if verdict.is_ok() || common::arrow_safe_to_try(rec) {
            match panic::catch_unwind(AssertUnwindSafe(|| common::decode(rec))) {
                Ok(Ok(_)) => "ok",
                Ok(Err(_)) => "err",
                Err(_) => {
                    bad |= verdict.is_ok();
                    "panic"
                }
            }
        } else {
            "skip"
        };
        let (v, reason) = match &verdict {
            Ok(_) => ("A", String::new()),
            Err(e) => ("R", e.replace(['\t', '\n'], " ")),
        };
        writeln!(out, "{i}\t{v}\t{arrow}\t{reason}").unwrap();
        i += 1;
    }
    out.flush().unwrap();
    std::process::exit(bad as i32);
}
