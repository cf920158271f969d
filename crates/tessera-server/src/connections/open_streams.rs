//! Calls open per connection: counted by a tower layer from a call's arrival until its response
//! body is done or dropped, read by the connection's idle timer.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
};

use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Instant;

use super::PeerIdentity;

/// The calls open on one connection, and when the last one started or ended.
#[derive(Debug, Clone)]
pub(super) struct OpenStreams(Arc<StreamCount>);

#[derive(Debug)]
struct StreamCount {
    open: AtomicUsize,
    last_change: Mutex<Instant>,
}

impl OpenStreams {
    pub(super) fn new() -> OpenStreams {
        OpenStreams(Arc::new(StreamCount {
            open: AtomicUsize::new(0),
            last_change: Mutex::new(Instant::now()),
        }))
    }

    fn touch(&self) {
        *self.0.last_change.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn start(&self) -> StreamGuard {
        self.0.open.fetch_add(1, Ordering::AcqRel);
        self.touch();
        StreamGuard(self.clone())
    }

    /// When the connection went idle, or `None` while a call is open.
    pub(super) fn idle_since(&self) -> Option<Instant> {
        let since = *self.0.last_change.lock().unwrap_or_else(|p| p.into_inner());
        (self.0.open.load(Ordering::Acquire) == 0).then_some(since)
    }
}

/// One open call; ends when dropped.
#[derive(Debug)]
struct StreamGuard(OpenStreams);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0 .0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts each call as open on its connection from its arrival until its response body is done
/// or dropped, so the idle timeout never closes a connection under a call or a stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenStreamsLayer;

impl<S> tower::Layer<S> for OpenStreamsLayer {
    type Service = OpenStreamsService<S>;

    fn layer(&self, inner: S) -> OpenStreamsService<S> {
        OpenStreamsService { inner }
    }
}

/// The service of [`OpenStreamsLayer`].
#[derive(Debug, Clone)]
pub struct OpenStreamsService<S> {
    inner: S,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, RB> tower::Service<http::Request<B>> for OpenStreamsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<CallBody<RB>>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let call = request
            .extensions()
            .get::<PeerIdentity>()
            .map(|peer| peer.streams.start());
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| CallBody { body, _call: call }))
        })
    }
}

/// A response body that keeps its call counted as open until it is dropped.
#[derive(Debug)]
pub struct CallBody<B> {
    body: B,
    _call: Option<StreamGuard>,
}

impl<B: Body + Unpin> Body for CallBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
