//! wasm32: logs straight to the sink, spans and metrics dropped, time from the JS clock.

pub mod blocks;
pub mod dispatch;

/// Timestamps: microseconds since the Unix epoch from the JS clock (std::time panics on
/// wasm32-unknown-unknown): `performance.timeOrigin + performance.now()` where the global scope
/// has them (pages, workers, node), monotonic and finer than a millisecond as far as the browser
/// allows; otherwise `Date.now()`, in whole milliseconds.
pub mod time {
    use js_sys::{Function, Reflect};
    use wasm_bindgen::{JsCast, JsValue};

    /// `performance`, its `now` and its `timeOrigin`, looked up once per thread.
    struct PerformanceClock {
        performance: JsValue,
        now: Function,
        time_origin_ms: f64,
    }

    fn performance_clock() -> Option<PerformanceClock> {
        let performance = Reflect::get(&js_sys::global(), &"performance".into()).ok().filter(JsValue::is_object)?;
        let now = Reflect::get(&performance, &"now".into()).ok()?.dyn_into::<Function>().ok()?;
        let time_origin_ms = Reflect::get(&performance, &"timeOrigin".into()).ok()?.as_f64()?;
        Some(PerformanceClock { performance, now, time_origin_ms })
    }

    thread_local! {
        static CLOCK: Option<PerformanceClock> = performance_clock();
    }

    /// Now, in microseconds since the Unix epoch.
    pub fn now() -> i64 {
        let performance_ms = CLOCK.with(|clock| {
            let clock = clock.as_ref()?;
            Some(clock.time_origin_ms + clock.now.call0(&clock.performance).ok()?.as_f64()?)
        });
        (performance_ms.unwrap_or_else(js_sys::Date::now) * 1000.0) as i64
    }

    /// Ticks per second of [`now`].
    pub const fn frequency() -> i64 {
        1_000_000
    }
}

/// The browser's user agent (`navigator.userAgent`), if the global scope has a navigator.
fn user_agent() -> Option<String> {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    if navigator.is_undefined() || navigator.is_null() {
        return None;
    }
    js_sys::Reflect::get(&navigator, &"userAgent".into()).ok()?.as_string()
}

pub(crate) fn collect_process_info() -> crate::process_info::ProcessInfo {
    let start_time_us = time::now();
    // Two instances started in the same millisecond get the same id; Math.random tells them apart.
    let salt = (js_sys::Math::random() * u32::MAX as f64) as u32;
    crate::process_info::ProcessInfo {
        process_id: format!("wasm-{start_time_us:x}-{salt:08x}"),
        pid: None,
        exe: "wasm".to_string(),
        username: "wasm".to_string(),
        computer: user_agent().unwrap_or_else(|| "browser".to_string()),
        os: "browser".to_string(),
        arch: "wasm32".to_string(),
        start_time_us,
        tick_frequency: time::frequency(),
        properties: Default::default(),
    }
}
