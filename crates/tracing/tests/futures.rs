//! Instrumented futures: async spans with ids and parents, ended on completion or drop; and the
//! tokio integration (feature `tokio`).

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use common::{with_dispatch, RecordingSink};
use qe_tracing::blocks::ThreadEvent;
use qe_tracing::prelude::*;
use qe_tracing::spans::current_async_span_id;
use qe_tracing::{dispatch, DispatchConfig};

struct NoopWake;
impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// Polls until ready (the futures below never wait on anything but `YieldOnce`).
fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(NoopWake));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Pending once, then ready.
struct YieldOnce(bool);
impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

/// (kind, span id, parent id, name) of every async event, in order.
fn async_events(sink: &RecordingSink) -> Vec<(&'static str, u64, u64, String)> {
    sink.get()
        .thread_blocks
        .iter()
        .flat_map(|b| b.events.iter())
        .filter_map(|e| match e {
            ThreadEvent::BeginAsyncScope { span_id, parent_span_id, name, .. } => {
                Some(("begin", *span_id, *parent_span_id, name.to_string()))
            }
            ThreadEvent::EndAsyncScope { span_id, parent_span_id, name, .. } => {
                Some(("end", *span_id, *parent_span_id, name.to_string()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn instrumented_futures_nest_and_end_on_completion() {
    let sink = with_dispatch(DispatchConfig::default(), |_| {
        let out = block_on(
            async {
                let outer = current_async_span_id();
                assert_ne!(outer, 0);
                let inner = async {
                    YieldOnce(false).await;
                    current_async_span_id()
                }
                .instrument(String::from("inner"))
                .await;
                assert_eq!(current_async_span_id(), outer, "restored after the inner span");
                (outer, inner)
            }
            .instrument("outer"),
        );
        assert_eq!(current_async_span_id(), 0);
        let (outer, inner) = out;
        assert!(inner > outer);
        dispatch::flush();
    });
    let events = async_events(&sink);
    let (outer, inner) = (events[0].1, events[1].1);
    assert_eq!(
        events,
        [
            ("begin", outer, 0, "outer".to_string()),
            ("begin", inner, outer, "inner".to_string()),
            ("end", inner, outer, "inner".to_string()),
            ("end", outer, 0, "outer".to_string()),
        ]
    );
    let recorded = sink.get();
    if let ThreadEvent::BeginAsyncScope { location, .. } = &recorded.thread_blocks[0].events[0] {
        assert!(location.file().ends_with("futures.rs"), "the caller of instrument: {location}");
    }
}

#[test]
fn a_dropped_future_ends_its_span_and_an_unpolled_one_has_none() {
    let sink = with_dispatch(DispatchConfig::default(), |_| {
        let never_polled = async {}.instrument("never polled");
        assert_eq!(never_polled.span_id(), None);
        drop(never_polled);

        let waker = Waker::from(Arc::new(NoopWake));
        let mut cx = Context::from_waker(&waker);
        let mut cancelled = Box::pin(YieldOnce(false).instrument("cancelled"));
        assert!(cancelled.as_mut().poll(&mut cx).is_pending());
        assert!(cancelled.span_id().is_some());
        assert_eq!(cancelled.name(), "cancelled");
        drop(cancelled);
        dispatch::flush();
    });
    let names: Vec<_> = async_events(&sink).into_iter().map(|(kind, _, _, name)| format!("{kind} {name}")).collect();
    assert_eq!(names, ["begin cancelled", "end cancelled"]);
}

#[test]
fn span_ids_increment_without_a_dispatch() {
    let _serial = common::serial();
    let a = block_on(async { current_async_span_id() }.instrument("a"));
    let b = block_on(async { current_async_span_id() }.instrument("b"));
    assert!(a > 0 && b > a);
}

#[cfg(feature = "tokio")]
mod tokio_integration {
    use super::*;
    use qe_tracing::runtime::{spawn_instrumented, TracingRuntimeExt};

    #[test]
    fn spawned_tasks_run_in_spans_and_workers_flush_when_they_stop() {
        let sink = with_dispatch(DispatchConfig::default(), |sink| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("qe-worker")
                .with_tracing_flush()
                .build()
                .unwrap();
            let ids = runtime.block_on(async {
                let tasks: Vec<_> = (0..4)
                    .map(|i| {
                        spawn_instrumented(format!("task {i}"), async move {
                            info!("in task {i}");
                            current_async_span_id()
                        })
                    })
                    .collect();
                let mut ids = Vec::new();
                for task in tasks {
                    ids.push(task.await.unwrap());
                }
                ids
            });
            assert!(ids.iter().all(|id| *id != 0));
            drop(runtime);
            // No dispatch::flush(): the workers' on_thread_stop hooks handed their blocks over.
            let mut messages = sink.block_messages();
            messages.sort();
            assert_eq!(messages, ["in task 0", "in task 1", "in task 2", "in task 3"]);
        });
        let mut names: Vec<_> = async_events(&sink).into_iter().filter(|e| e.0 == "end").map(|e| e.3).collect();
        names.sort();
        assert_eq!(names, ["task 0", "task 1", "task 2", "task 3"]);
    }
}
