//! Streams of event blocks. A stream belongs to one thread and one kind of event (logs, metrics
//! or spans); it fills one block at a time and hands it over when full or flushed.

use std::borrow::Cow;
use std::panic::Location;
use std::sync::Arc;

use crate::logs::LogDesc;
use crate::metrics::{MetricDesc, MetricValue};
use crate::spans::{SpanDesc, SpanLocation};
use crate::time;

/// A tag of a log or metric event, its value formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    pub name: &'static str,
    pub value: String,
}

impl Property {
    pub fn new(name: &'static str, value: impl Into<String>) -> Self {
        Property { name, value: value.into() }
    }
}

/// One log event.
#[derive(Clone, Debug)]
pub struct LogEvent {
    pub desc: &'static LogDesc,
    pub time_us: i64,
    pub message: String,
    pub properties: Vec<Property>,
}

/// One measurement.
#[derive(Clone, Debug)]
pub struct MetricEvent {
    pub desc: &'static MetricDesc,
    pub time_us: i64,
    pub value: MetricValue,
    pub properties: Vec<Property>,
}

/// Where an async span was created (the caller of `instrument`).
pub type AsyncLocation = &'static Location<'static>;

/// One span boundary on a thread.
#[derive(Clone, Debug)]
pub enum ThreadEvent {
    BeginScope { desc: &'static SpanDesc, time_us: i64 },
    EndScope { desc: &'static SpanDesc, time_us: i64 },
    BeginNamedScope { location: &'static SpanLocation, name: Arc<str>, time_us: i64 },
    EndNamedScope { location: &'static SpanLocation, name: Arc<str>, time_us: i64 },
    BeginAsyncScope { span_id: u64, parent_span_id: u64, name: Arc<str>, location: AsyncLocation, time_us: i64 },
    EndAsyncScope { span_id: u64, parent_span_id: u64, name: Arc<str>, location: AsyncLocation, time_us: i64 },
}

/// Events know when they happened.
pub trait TimedEvent {
    fn time_us(&self) -> i64;
}

impl TimedEvent for LogEvent {
    fn time_us(&self) -> i64 {
        self.time_us
    }
}

impl TimedEvent for MetricEvent {
    fn time_us(&self) -> i64 {
        self.time_us
    }
}

impl TimedEvent for ThreadEvent {
    fn time_us(&self) -> i64 {
        ThreadEvent::time_us(self)
    }
}

impl ThreadEvent {
    pub fn time_us(&self) -> i64 {
        match self {
            ThreadEvent::BeginScope { time_us, .. }
            | ThreadEvent::EndScope { time_us, .. }
            | ThreadEvent::BeginNamedScope { time_us, .. }
            | ThreadEvent::EndNamedScope { time_us, .. }
            | ThreadEvent::BeginAsyncScope { time_us, .. }
            | ThreadEvent::EndAsyncScope { time_us, .. } => *time_us,
        }
    }

    /// The span's name: static, or made at run time.
    pub fn name(&self) -> Cow<'_, str> {
        match self {
            ThreadEvent::BeginScope { desc, .. } | ThreadEvent::EndScope { desc, .. } => Cow::Borrowed(desc.name),
            ThreadEvent::BeginNamedScope { name, .. }
            | ThreadEvent::EndNamedScope { name, .. }
            | ThreadEvent::BeginAsyncScope { name, .. }
            | ThreadEvent::EndAsyncScope { name, .. } => Cow::Borrowed(name),
        }
    }
}

/// The events a stream collected between two hand-overs.
#[derive(Clone, Debug)]
pub struct EventBlock<E> {
    pub stream_id: u64,
    /// 0, 1, 2, ... within the stream. Blocks of one stream can reach the sink out of order when
    /// a flush on another thread races with a full block; sort by this.
    pub sequence: u64,
    /// When the block was started and handed over (microseconds since the Unix epoch); the range
    /// covers the time of every event in the block.
    pub begin_time_us: i64,
    pub end_time_us: i64,
    pub events: Vec<E>,
}

impl<E> EventBlock<E> {
    fn new(stream_id: u64, sequence: u64, capacity: usize) -> Self {
        EventBlock {
            stream_id,
            sequence,
            begin_time_us: time::now(),
            end_time_us: 0,
            events: Vec::with_capacity(capacity),
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// What a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    Log,
    Metrics,
    Thread,
}

/// One thread's stream of one kind of event.
#[derive(Debug)]
pub struct EventStream<E> {
    stream_id: u64,
    kind: StreamKind,
    thread_name: Option<String>,
    block_size: usize,
    next_sequence: u64,
    current: EventBlock<E>,
}

impl<E: TimedEvent> EventStream<E> {
    pub(crate) fn new(stream_id: u64, kind: StreamKind, thread_name: Option<String>, block_size: usize) -> Self {
        // A full block is handed over at once, so block_size events never need a reallocation;
        // huge configured sizes are not preallocated.
        let capacity = block_size.min(4096);
        EventStream {
            stream_id,
            kind,
            thread_name,
            block_size,
            next_sequence: 1,
            current: EventBlock::new(stream_id, 0, capacity),
        }
    }

    /// The same stream (ids, thread, block size) without events.
    pub(crate) fn empty_copy(&self) -> Self {
        let capacity = 0;
        EventStream {
            stream_id: self.stream_id,
            kind: self.kind,
            thread_name: self.thread_name.clone(),
            block_size: self.block_size,
            next_sequence: self.next_sequence,
            current: EventBlock::new(self.stream_id, self.current.sequence, capacity),
        }
    }

    pub fn stream_id(&self) -> u64 {
        self.stream_id
    }

    pub fn kind(&self) -> StreamKind {
        self.kind
    }

    /// The name of the thread the stream belongs to, if it has one.
    pub fn thread_name(&self) -> Option<&str> {
        self.thread_name.as_deref()
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Events in the block being filled.
    pub fn pending(&self) -> usize {
        self.current.len()
    }

    /// Adds an event; returns the block if that filled it.
    pub(crate) fn push(&mut self, event: E) -> Option<EventBlock<E>> {
        // An event timestamped just before its stream was created (or before a flush on another
        // thread closed the previous block) still falls inside its block's range.
        self.current.begin_time_us = self.current.begin_time_us.min(event.time_us());
        self.current.events.push(event);
        if self.current.len() >= self.block_size {
            Some(self.take_block())
        } else {
            None
        }
    }

    /// The block being filled, if it holds anything.
    pub(crate) fn take_partial(&mut self) -> Option<EventBlock<E>> {
        (!self.current.is_empty()).then(|| self.take_block())
    }

    fn take_block(&mut self) -> EventBlock<E> {
        let capacity = self.block_size.min(4096);
        let next = EventBlock::new(self.stream_id, self.next_sequence, capacity);
        self.next_sequence += 1;
        let mut block = std::mem::replace(&mut self.current, next);
        let last = block.events.iter().map(TimedEvent::time_us).max().unwrap_or(i64::MIN);
        block.end_time_us = time::now().max(last);
        block
    }
}

pub type LogBlock = EventBlock<LogEvent>;
pub type LogStream = EventStream<LogEvent>;
pub type MetricsBlock = EventBlock<MetricEvent>;
pub type MetricsStream = EventStream<MetricEvent>;
pub type ThreadBlock = EventBlock<ThreadEvent>;
pub type ThreadStream = EventStream<ThreadEvent>;
