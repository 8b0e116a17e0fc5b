//! The server: one TCP listener for HTTP and WebSocket, jsonrpsee's service behind a small HTTP
//! front.
//!
//! ```text
//! TCP accept ──► HTTP front ──► CORS (if configured) ──► jsonrpsee ──► rate limit ──► methods
//!                 │  GET /health → 200 "ok"             (body, batch,   (per IP,
//!                 │  caller's IP → request extensions    connection and  token bucket)
//!                                                        subscription limits)
//! ```
//!
//! We run the accept loop ourselves rather than jsonrpsee's `Server::start` only to learn each
//! connection's remote address, which the rate limiter needs.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{header, HeaderValue, Method, StatusCode};
use jsonrpsee::{
    core::{middleware::RpcServiceBuilder, BoxError},
    server::{
        serve_with_graceful_shutdown, stop_channel, BatchRequestConfig, HttpBody, HttpRequest,
        HttpResponse, Methods, Server, ServerConfig, ServerHandle, StopHandle, TowerService,
        TowerServiceBuilder,
    },
};
use tokio::net::TcpListener;
use tower::Service;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    backend::Backend,
    config::RpcConfig,
    error::RpcError,
    handlers::rpc_module,
    rate_limit::{ClientIp, RateLimitLayer, RateLimiter},
};

/// The path load balancers probe.
pub const HEALTH_PATH: &str = "/health";

/// A running server. Dropping it does not stop the server; [`RpcHandle::stop`] does.
#[derive(Debug, Clone)]
pub struct RpcHandle {
    local_addr: SocketAddr,
    handle: ServerHandle,
}

impl RpcHandle {
    /// The address the server listens on (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://` URL of the server.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// `ws://` URL of the server.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.local_addr)
    }

    /// Asks the server to stop: it stops accepting, and open connections finish what they are
    /// answering. Stopping twice is harmless.
    pub fn stop(&self) {
        // The only error is "already stopped".
        let _ = self.handle.stop();
    }

    /// Completes once the server has stopped.
    pub async fn stopped(self) {
        self.handle.stopped().await
    }
}

/// Starts the server on `config.listen` over `backend`; it runs on the current tokio runtime until
/// [`RpcHandle::stop`].
pub async fn start(config: &RpcConfig, backend: Arc<dyn Backend>) -> Result<RpcHandle, RpcError> {
    check_config(config)?;
    let methods: Methods = rpc_module(config, backend)?.into();
    let cors = cors_layer(&config.cors_allowed_origins)?;
    let limiter = (config.rate_limit_per_second > 0).then(|| {
        Arc::new(RateLimiter::new(
            config.rate_limit_per_second,
            config.rate_limit_burst,
        ))
    });

    let server_config = ServerConfig::builder()
        .max_request_body_size(config.max_request_bytes)
        .max_response_body_size(config.max_response_bytes)
        .max_connections(config.max_connections)
        .max_subscriptions_per_connection(config.max_subscriptions_per_connection)
        .set_message_buffer_capacity(config.ws_message_buffer)
        .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch_size))
        .build();
    let service_builder = Server::builder()
        .set_config(server_config)
        .set_rpc_middleware(RpcServiceBuilder::new().layer(RateLimitLayer::new(limiter)))
        .set_http_middleware(tower::ServiceBuilder::new().option_layer(cors))
        .to_service_builder();

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| RpcError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| RpcError::Bind {
        addr: config.listen,
        source,
    })?;
    let (stop_handle, handle) = stop_channel();

    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = stop_handle.clone().shutdown() => break,
            };
            let (socket, remote) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: the next accept may work.
                    tracing::debug!(%error, "rpc accept failed");
                    continue;
                }
            };
            let front = HttpFront {
                remote,
                service_builder: service_builder.clone(),
                methods: methods.clone(),
                stop_handle: stop_handle.clone(),
            };
            let stopped = stop_handle.clone().shutdown();
            tokio::spawn(async move {
                if let Err(error) = serve_with_graceful_shutdown(socket, front, stopped).await {
                    tracing::debug!(%error, %remote, "rpc connection ended");
                }
            });
        }
    });

    tracing::info!(%local_addr, "rpc server listening");
    Ok(RpcHandle { local_addr, handle })
}

fn check_config(config: &RpcConfig) -> Result<(), RpcError> {
    let invalid = |reason: &str| {
        Err(RpcError::InvalidConfig {
            reason: reason.into(),
        })
    };
    if config.max_request_bytes == 0 || config.max_response_bytes == 0 {
        return invalid("max_request_bytes and max_response_bytes must be positive");
    }
    if config.max_batch_size == 0 || config.max_connections == 0 || config.ws_message_buffer == 0 {
        return invalid("max_batch_size, max_connections and ws_message_buffer must be positive");
    }
    if config.submit_wait_default_ms > config.submit_wait_max_ms {
        return invalid("submit_wait_default_ms must not exceed submit_wait_max_ms");
    }
    Ok(())
}

/// The CORS layer for `origins`: none when empty, any origin for `*`.
fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, RpcError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|origin| {
                HeaderValue::from_str(origin).map_err(|_| RpcError::InvalidConfig {
                    reason: format!("cors origin {origin:?} is not a valid header value"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::POST, Method::GET, Method::OPTIONS])
            .allow_headers([header::CONTENT_TYPE]),
    ))
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

/// What one connection's requests go through before jsonrpsee.
#[derive(Clone)]
struct HttpFront<S> {
    remote: SocketAddr,
    service_builder: S,
    methods: Methods,
    stop_handle: StopHandle,
}

impl<RpcMiddleware, HttpMiddleware> Service<HttpRequest<hyper::body::Incoming>>
    for HttpFront<TowerServiceBuilder<RpcMiddleware, HttpMiddleware>>
where
    TowerService<RpcMiddleware, HttpMiddleware>: Service<
        HttpRequest<hyper::body::Incoming>,
        Response = HttpResponse,
        Error = BoxError,
        Future = ResponseFuture,
    >,
    RpcMiddleware: Clone,
    HttpMiddleware: Clone,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: HttpRequest<hyper::body::Incoming>) -> ResponseFuture {
        if request.method() == Method::GET && request.uri().path() == HEALTH_PATH {
            return Box::pin(async { Ok(health_response()) });
        }
        request.extensions_mut().insert(ClientIp(self.remote.ip()));
        self.service_builder
            .clone()
            .build(self.methods.clone(), self.stop_handle.clone())
            .call(request)
    }
}

fn health_response() -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::from("ok"));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl<S> std::fmt::Debug for HttpFront<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFront")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}
