//! The standard gRPC health service (`grpc.health.v1`) as Tessera serves it: whether a replica
//! can decide (it reports NOT_SERVING while PostgreSQL is unreachable or while it drains).

use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

use crate::client::{Client, Repeat};
use crate::error::Error;

/// The name health reports Tessera's AuthService under (the empty name asks about the server).
pub const AUTH_SERVICE: &str = "tessera.v1.AuthService";

/// What a health check answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// The service answers calls.
    Serving,
    /// The service refuses calls (PostgreSQL unreachable, or the replica is draining).
    NotServing,
    /// The server does not serve the service it was asked about.
    ServiceUnknown,
    /// A status this client does not know (or `UNKNOWN`).
    Unknown,
}

impl Health {
    /// The status as the health protocol spells it (`SERVING`, `NOT_SERVING`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Serving => "SERVING",
            Health::NotServing => "NOT_SERVING",
            Health::ServiceUnknown => "SERVICE_UNKNOWN",
            Health::Unknown => "UNKNOWN",
        }
    }
}

impl Client {
    /// Asks the server's health service about `service` ([`AUTH_SERVICE`], or `""` for the server
    /// as a whole). Safe to repeat: retried on `UNAVAILABLE` within the deadline.
    ///
    /// ```no_run
    /// use tessera_client::{health::{Health, AUTH_SERVICE}, Client};
    ///
    /// # async fn example() -> Result<(), tessera_client::Error> {
    /// let client = Client::connect(["http://127.0.0.1:50051"]).await?;
    /// if client.health(AUTH_SERVICE).await? != Health::Serving {
    ///     eprintln!("tessera cannot decide right now");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn health(&self, service: &str) -> Result<Health, Error> {
        let message = HealthCheckRequest {
            service: service.to_owned(),
        };
        let answer = match self
            .unary(Repeat::Safe, message, |channel, request| async move {
                HealthClient::new(channel).check(request).await
            })
            .await
        {
            Ok(answer) => answer,
            // The health protocol answers NOT_FOUND for a service the server does not serve.
            Err(error) if error.code() == tonic::Code::NotFound => {
                return Ok(Health::ServiceUnknown)
            }
            Err(error) => return Err(error),
        };
        Ok(match ServingStatus::try_from(answer.status) {
            Ok(ServingStatus::Serving) => Health::Serving,
            Ok(ServingStatus::NotServing) => Health::NotServing,
            Ok(ServingStatus::ServiceUnknown) => Health::ServiceUnknown,
            Ok(ServingStatus::Unknown) | Err(_) => Health::Unknown,
        })
    }
}
