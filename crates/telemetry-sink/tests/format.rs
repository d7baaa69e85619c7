//! Line formats: the browser console's and stderr's.

use qe_telemetry_sink::{format_console_line, format_local_line, format_timestamp_us};
use qe_tracing::logs::LogDesc;
use qe_tracing::Level;

static INFO: LogDesc = LogDesc::new(Level::Info, "datafusion_wasm::engine", module_path!(), file!(), line!());
static WARN: LogDesc = LogDesc::new(Level::Warn, "engine", module_path!(), file!(), line!());

#[test]
fn console_lines_are_level_in_brackets_then_the_message() {
    assert_eq!(
        format_console_line(Level::Info, format_args!("registered table '{}'", "t")),
        "[INFO] registered table 't'"
    );
    assert_eq!(format_console_line(Level::Error, format_args!("boom")), "[ERROR] boom");
    assert_eq!(format_console_line(Level::Warn, format_args!("")), "[WARN] ");
    assert_eq!(format_console_line(Level::Trace, format_args!("{}", 1)), "[TRACE] 1");
}

#[test]
fn timestamps_are_rfc3339_utc_with_microseconds() {
    assert_eq!(format_timestamp_us(0), "1970-01-01T00:00:00.000000Z");
    assert_eq!(format_timestamp_us(1_700_000_000_123_456), "2023-11-14T22:13:20.123456Z");
    // Leap day, end of a leap year, before the epoch.
    assert_eq!(format_timestamp_us(951_782_400_000_000), "2000-02-29T00:00:00.000000Z");
    assert_eq!(format_timestamp_us(1_735_689_599_999_999), "2024-12-31T23:59:59.999999Z");
    assert_eq!(format_timestamp_us(-1), "1969-12-31T23:59:59.999999Z");
}

#[test]
fn local_lines_have_time_level_target_message_and_properties() {
    let line = format_local_line(&INFO, [], 1_700_000_000_000_000, format_args!("registered {} rows", 3));
    assert_eq!(line, "2023-11-14T22:13:20.000000Z INFO  datafusion_wasm::engine: registered 3 rows");
    let line = format_local_line(&WARN, [("table", "t"), ("rows", "3")], 0, format_args!("slow"));
    assert_eq!(line, "1970-01-01T00:00:00.000000Z WARN  engine: slow {table=t, rows=3}");
}
