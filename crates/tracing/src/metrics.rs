//! Metric call sites.

/// A metric call site: one `static` per macro invocation.
#[derive(Debug)]
pub struct MetricDesc {
    pub name: &'static str,
    pub unit: &'static str,
    pub target: &'static str,
    pub file: &'static str,
    pub line: u32,
}

impl MetricDesc {
    pub const fn new(
        name: &'static str,
        unit: &'static str,
        target: &'static str,
        file: &'static str,
        line: u32,
    ) -> Self {
        MetricDesc { name, unit, target, file, line }
    }
}

/// A measured value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MetricValue {
    Int(u64),
    Float(f64),
}

impl std::fmt::Display for MetricValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetricValue::Int(v) => write!(f, "{v}"),
            MetricValue::Float(v) => write!(f, "{v}"),
        }
    }
}
