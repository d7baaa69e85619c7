//! The instrumentation macros. Each invocation owns a `static` description of its call site;
//! levels must therefore be constants (`Level::Info`), as must metric names and units.

/// `log!(Level::Info, "rows: {}", n)`, with optional `target: "name",` and `tags: [("key", value), ...],`
/// (in that order) before the format string. Disabled levels cost one comparison and format nothing.
#[macro_export]
macro_rules! log {
    ($level:expr, target: $target:expr, tags: [$(($key:expr, $value:expr)),* $(,)?], $($arg:tt)+) => {{
        static __QE_LOG_DESC: $crate::logs::LogDesc = $crate::logs::LogDesc::new(
            $level, $target, ::core::module_path!(), ::core::file!(), ::core::line!(),
        );
        if $crate::dispatch::log_enabled(&__QE_LOG_DESC) {
            $crate::dispatch::log(
                &__QE_LOG_DESC,
                &[$(($key, &$value as &dyn ::core::fmt::Display)),*],
                ::core::format_args!($($arg)+),
            );
        }
    }};
    ($level:expr, target: $target:expr, $($arg:tt)+) => {
        $crate::log!($level, target: $target, tags: [], $($arg)+)
    };
    ($level:expr, tags: [$($tags:tt)*], $($arg:tt)+) => {
        $crate::log!($level, target: ::core::module_path!(), tags: [$($tags)*], $($arg)+)
    };
    ($level:expr, $($arg:tt)+) => {
        $crate::log!($level, target: ::core::module_path!(), tags: [], $($arg)+)
    };
}

/// [`log!`] at [`Level::Error`](crate::Level::Error).
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log!($crate::levels::Level::Error, $($arg)+) };
}

/// [`log!`] at [`Level::Warn`](crate::Level::Warn).
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log!($crate::levels::Level::Warn, $($arg)+) };
}

/// [`log!`] at [`Level::Info`](crate::Level::Info).
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log!($crate::levels::Level::Info, $($arg)+) };
}

/// [`log!`] at [`Level::Debug`](crate::Level::Debug).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log!($crate::levels::Level::Debug, $($arg)+) };
}

/// [`log!`] at [`Level::Trace`](crate::Level::Trace).
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log!($crate::levels::Level::Trace, $($arg)+) };
}

/// An integer measurement: `imetric!("rows_out", "rows", n as u64)`, optionally followed by
/// `, tags: [("table", name)]`.
#[macro_export]
macro_rules! imetric {
    ($name:expr, $unit:expr, $value:expr, tags: [$(($key:expr, $tag:expr)),* $(,)?] $(,)?) => {{
        static __QE_METRIC_DESC: $crate::metrics::MetricDesc = $crate::metrics::MetricDesc::new(
            $name, $unit, ::core::module_path!(), ::core::file!(), ::core::line!(),
        );
        $crate::dispatch::int_metric(
            &__QE_METRIC_DESC,
            &[$(($key, &$tag as &dyn ::core::fmt::Display)),*],
            $value,
        );
    }};
    ($name:expr, $unit:expr, $value:expr $(,)?) => {
        $crate::imetric!($name, $unit, $value, tags: [])
    };
}

/// A floating-point measurement: `fmetric!("query_ms", "ms", elapsed)`, optionally tagged like
/// [`imetric!`].
#[macro_export]
macro_rules! fmetric {
    ($name:expr, $unit:expr, $value:expr, tags: [$(($key:expr, $tag:expr)),* $(,)?] $(,)?) => {{
        static __QE_METRIC_DESC: $crate::metrics::MetricDesc = $crate::metrics::MetricDesc::new(
            $name, $unit, ::core::module_path!(), ::core::file!(), ::core::line!(),
        );
        $crate::dispatch::float_metric(
            &__QE_METRIC_DESC,
            &[$(($key, &$tag as &dyn ::core::fmt::Display)),*],
            $value,
        );
    }};
    ($name:expr, $unit:expr, $value:expr $(,)?) => {
        $crate::fmetric!($name, $unit, $value, tags: [])
    };
}

/// A span from here to the end of the enclosing block: `span_scope!("plan");`.
#[macro_export]
macro_rules! span_scope {
    ($name:expr $(,)?) => {
        let __qe_span_guard = {
            static __QE_SPAN_DESC: $crate::spans::SpanDesc =
                $crate::spans::SpanDesc::new($name, ::core::module_path!(), ::core::file!(), ::core::line!());
            $crate::spans::ThreadSpanGuard::new(&__QE_SPAN_DESC)
        };
    };
}

/// A span named at run time, from here to the end of the enclosing block:
/// `span_scope_named!(format!("query {id}"));`.
#[macro_export]
macro_rules! span_scope_named {
    ($name:expr $(,)?) => {
        let __qe_span_guard = {
            static __QE_SPAN_LOCATION: $crate::spans::SpanLocation =
                $crate::spans::SpanLocation::new(::core::module_path!(), ::core::file!(), ::core::line!());
            $crate::spans::NamedSpanGuard::new(&__QE_SPAN_LOCATION, $name)
        };
    };
}
