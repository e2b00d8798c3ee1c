//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`, on its own
//! port (4317 by default). Langfuse has no gRPC receiver; this lets any OpenTelemetry
//! SDK or collector export with its default gRPC exporter.
//!
//! It authenticates like the HTTP API (`authorization: Basic base64(pk:sk)` metadata) and
//! stores through the same path as OTLP/HTTP (`otlp_ingest::ingest_export`). Error codes
//! follow the OTLP spec: `UNAVAILABLE` (retryable) when the store is overloaded or
//! stopping, `INVALID_ARGUMENT` (not retryable) when no span of the export is valid, and
//! `partial_success` when only some are.

use std::future::Future;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::AppState;
use crate::auth::{ApiAuth, Authorization, authenticate_basic, parse_authorization};
use crate::error::ApiError;
use crate::otlp_ingest::ingest_export;

/// The `TraceService` implementation over the application's stores.
pub struct OtlpTraceService {
    state: AppState,
}

/// The gRPC service, ready to be served: gzip-compressed requests are accepted, and a
/// message may be as large as OTLP/HTTP's body limit (`max_otlp_body_bytes`, after
/// decompression).
pub fn otlp_trace_service(state: AppState) -> TraceServiceServer<OtlpTraceService> {
    let limit = state.config.max_otlp_body_bytes;
    TraceServiceServer::new(OtlpTraceService { state })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit)
}

/// Serves the OTLP/gRPC receiver on `listener` until `shutdown` completes, then lets
/// in-flight calls finish (the caller bounds that wait).
pub async fn serve_otlp_grpc(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    Server::builder()
        .serve_with_incoming_shutdown(
            otlp_trace_service(state),
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}

impl OtlpTraceService {
    /// Full project access from `authorization: Basic …`, with the HTTP API's key lookup.
    async fn authenticate(&self, metadata: &MetadataMap) -> Result<ApiAuth, Status> {
        let value = metadata
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("No authorization metadata"))?
            .to_str()
            .map_err(|_| Status::unauthenticated("Invalid authorization metadata"))?;
        match parse_authorization(value).map_err(status_of)? {
            Authorization::Basic(encoded) => authenticate_basic(&self.state, encoded)
                .await
                .map_err(status_of),
            Authorization::Bearer(_) => Err(Status::permission_denied(
                "A Bearer public key only grants the scores scope; export traces with \
                 `authorization: Basic base64(publicKey:secretKey)`",
            )),
        }
    }
}

#[tonic::async_trait]
impl TraceService for OtlpTraceService {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let auth = self.authenticate(request.metadata()).await?;
        let partial_success =
            ingest_export(&self.state.stores, &auth.project_id, request.into_inner())
                .await
                .map_err(status_of)?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success,
        }))
    }
}

/// The gRPC counterpart of `ApiError`'s HTTP status table. Internal details are logged,
/// never sent.
fn status_of(error: ApiError) -> Status {
    match error {
        ApiError::InvalidRequest(message) | ApiError::UnsupportedMediaType(message) => {
            Status::invalid_argument(message)
        }
        ApiError::Unauthorized(reason) => Status::unauthenticated(reason),
        ApiError::Forbidden(message) => Status::permission_denied(message),
        ApiError::NotFound(message) => Status::not_found(message),
        ApiError::Conflict(message) => Status::already_exists(message),
        ApiError::PayloadTooLarge(message) => Status::resource_exhausted(message),
        ApiError::Unavailable(message) => Status::unavailable(message),
        ApiError::MethodNotAllowed => Status::unimplemented("Method not allowed"),
        ApiError::Internal(detail) => {
            tracing::error!(%detail, "OTLP/gRPC export failed");
            Status::internal("Internal Server Error")
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::status_of;
    use crate::error::ApiError;
    use glassbox_store::StoreError;

    #[test]
    fn store_pressure_is_retryable_and_details_stay_private() {
        assert_eq!(
            status_of(StoreError::Overloaded.into()).code(),
            Code::Unavailable
        );
        assert_eq!(
            status_of(StoreError::Unavailable("stopping".into()).into()).code(),
            Code::Unavailable
        );
        let internal = status_of(ApiError::Internal("disk I/O error at /secret".into()));
        assert_eq!(internal.code(), Code::Internal);
        assert!(!internal.message().contains("secret"));
        assert_eq!(
            status_of(ApiError::InvalidRequest("bad".into())).code(),
            Code::InvalidArgument
        );
    }
}
