//! Native: events buffered into per-thread streams of blocks.

pub mod blocks;
pub mod dispatch;
#[cfg(feature = "tokio")]
pub mod runtime;

/// Timestamps: microseconds since the Unix epoch, monotonic within the process.
pub mod time {
    use std::sync::OnceLock;
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    fn anchor() -> &'static (Instant, i64) {
        static ANCHOR: OnceLock<(Instant, i64)> = OnceLock::new();
        ANCHOR.get_or_init(|| {
            let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
            (Instant::now(), wall)
        })
    }

    /// Now, in microseconds since the Unix epoch (wall clock at first use + a monotonic clock).
    pub fn now() -> i64 {
        let (instant, wall) = anchor();
        wall + instant.elapsed().as_micros() as i64
    }

    /// Ticks per second of [`now`].
    pub const fn frequency() -> i64 {
        1_000_000
    }
}

pub(crate) fn collect_process_info() -> crate::process_info::ProcessInfo {
    let pid = std::process::id();
    let start_time_us = time::now();
    let env = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
    let computer = env(&["HOSTNAME", "COMPUTERNAME"])
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_string());
    crate::process_info::ProcessInfo {
        process_id: format!("{pid:x}-{start_time_us:x}"),
        pid: Some(pid),
        exe: std::env::current_exe().map_or_else(|_| "unknown".to_string(), |p| p.display().to_string()),
        username: env(&["USER", "USERNAME", "LOGNAME"]).unwrap_or_else(|| "unknown".to_string()),
        computer,
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        start_time_us,
        tick_frequency: time::frequency(),
        properties: Default::default(),
    }
}
