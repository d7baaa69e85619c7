//! Span scopes (static names), named spans (names made at run time) and instrumented futures.

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::dispatch;

/// A span call site with a static name: one `static` per [`crate::span_scope!`].
#[derive(Debug)]
pub struct SpanDesc {
    pub name: &'static str,
    pub target: &'static str,
    pub file: &'static str,
    pub line: u32,
}

impl SpanDesc {
    pub const fn new(name: &'static str, target: &'static str, file: &'static str, line: u32) -> Self {
        SpanDesc { name, target, file, line }
    }
}

/// A call site of spans named at run time: one `static` per [`crate::span_scope_named!`].
#[derive(Debug)]
pub struct SpanLocation {
    pub target: &'static str,
    pub file: &'static str,
    pub line: u32,
}

impl SpanLocation {
    pub const fn new(target: &'static str, file: &'static str, line: u32) -> Self {
        SpanLocation { target, file, line }
    }
}

/// Begins a span on this thread now and ends it when dropped (not `Send`: a thread span must end
/// on the thread that began it).
#[must_use = "the span ends when the guard is dropped"]
pub struct ThreadSpanGuard {
    desc: &'static SpanDesc,
    _not_send: PhantomData<*const ()>,
}

impl ThreadSpanGuard {
    pub fn new(desc: &'static SpanDesc) -> Self {
        dispatch::on_begin_scope(desc);
        ThreadSpanGuard { desc, _not_send: PhantomData }
    }
}

impl Drop for ThreadSpanGuard {
    fn drop(&mut self) {
        dispatch::on_end_scope(self.desc);
    }
}

/// Like [`ThreadSpanGuard`], for a name made at run time.
#[must_use = "the span ends when the guard is dropped"]
pub struct NamedSpanGuard {
    location: &'static SpanLocation,
    name: Arc<str>,
    _not_send: PhantomData<*const ()>,
}

impl NamedSpanGuard {
    pub fn new(location: &'static SpanLocation, name: impl Into<Arc<str>>) -> Self {
        let name = name.into();
        dispatch::on_begin_named_scope(location, &name);
        NamedSpanGuard { location, name, _not_send: PhantomData }
    }
}

impl Drop for NamedSpanGuard {
    fn drop(&mut self) {
        dispatch::on_end_named_scope(self.location, &self.name);
    }
}

thread_local! {
    static CURRENT_ASYNC_SPAN: Cell<u64> = const { Cell::new(0) };
}

/// The id of the instrumented future being polled on this thread, 0 outside any.
pub fn current_async_span_id() -> u64 {
    CURRENT_ASYNC_SPAN.with(Cell::get)
}

/// `future.instrument("name")`: an async span from the first poll to completion (or drop).
pub trait InstrumentFuture: Future + Sized {
    #[track_caller]
    fn instrument(self, name: impl Into<Arc<str>>) -> Instrumented<Self> {
        Instrumented { inner: self, name: name.into(), location: Location::caller(), span: None, finished: false }
    }
}

impl<F: Future> InstrumentFuture for F {}

/// A future inside an async span. The span begins at the first poll, with the span being polled
/// on this thread (if any) as its parent, and ends when the future completes or is dropped.
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F> {
    inner: F,
    name: Arc<str>,
    location: &'static Location<'static>,
    /// (span id, parent span id) once begun.
    span: Option<(u64, u64)>,
    finished: bool,
}

impl<F> Instrumented<F> {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The span id, once the future was polled.
    pub fn span_id(&self) -> Option<u64> {
        self.span.map(|(id, _)| id)
    }
}

/// Restores the enclosing span id even if the inner future panics.
struct CurrentSpanRestore(u64);

impl Drop for CurrentSpanRestore {
    fn drop(&mut self) {
        CURRENT_ASYNC_SPAN.with(|current| current.set(self.0));
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is only ever used through the Pin made
        // below, never moved out (Drop only reads the other fields), and Instrumented is not
        // Unpin unless F is.
        let this = unsafe { self.get_unchecked_mut() };
        let (id, parent) = *this.span.get_or_insert_with(|| {
            let parent = current_async_span_id();
            (dispatch::on_begin_async_scope(&this.name, parent, this.location), parent)
        });
        let result = {
            let _restore = CurrentSpanRestore(CURRENT_ASYNC_SPAN.with(|current| current.replace(id)));
            // SAFETY: see above.
            unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
        };
        if result.is_ready() && !this.finished {
            this.finished = true;
            dispatch::on_end_async_scope(id, parent, &this.name, this.location);
        }
        result
    }
}

impl<F> Drop for Instrumented<F> {
    fn drop(&mut self) {
        if let (Some((id, parent)), false) = (self.span, self.finished) {
            dispatch::on_end_async_scope(id, parent, &self.name, self.location);
        }
    }
}
