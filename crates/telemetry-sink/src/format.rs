//! How log lines look, on both targets (tested natively).

use std::fmt::{self, Write};

use qe_tracing::logs::LogDesc;
use qe_tracing::Level;

/// The browser console line: `"[INFO] message"`.
pub fn format_console_line(level: Level, args: fmt::Arguments<'_>) -> String {
    format!("[{level}] {args}")
}

/// The stderr line: `"2026-01-02T03:04:05.000006Z INFO  target: message {key=value, ...}"`.
/// `properties` are (name, value) pairs.
pub fn format_local_line<'a>(
    desc: &LogDesc,
    properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    time_us: i64,
    args: fmt::Arguments<'_>,
) -> String {
    let mut line = format!("{} {:<5} {}: {args}", format_timestamp_us(time_us), desc.level, desc.target);
    let mut properties = properties.into_iter().peekable();
    if properties.peek().is_some() {
        line.push_str(" {");
        for (i, (name, value)) in properties.enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            let _ = write!(line, "{separator}{name}={value}");
        }
        line.push('}');
    }
    line
}

/// RFC 3339 in UTC with microseconds, from microseconds since the Unix epoch.
pub fn format_timestamp_us(time_us: i64) -> String {
    let seconds = time_us.div_euclid(1_000_000);
    let micros = time_us.rem_euclid(1_000_000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
