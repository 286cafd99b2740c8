//! Protobuf over HTTP to the SuperLink's Fleet API: `POST /v1/fleet/<endpoint>` with the
//! serialized request as body (`content-type: application/protobuf`), the response message
//! as body, and an HTTP error status with a JSON body for refusals (flwr
//! `supercore/protobuf/client.py`). Every request is signed afresh ([`crate::identity`]).
//!
//! Response bodies are read with a limit, so a broken or hostile server cannot make the
//! device allocate more than [`Limits::max_response`].

use std::time::Duration;

use crate::error::{FleetError, Result};
use crate::identity::NodeKey;
#[cfg(feature = "tls")]
use crate::trust::tls_config;

/// How the node reaches the SuperLink.
#[derive(Debug, Clone, Default)]
pub enum Security {
    /// Plain HTTP (Flower's `--insecure`).
    #[default]
    Insecure,
    /// HTTPS, trusting only the certificates in this PEM (Flower's `--root-certificates`).
    RootCertificates(Vec<u8>),
    /// HTTPS, trusting the operating system's root certificates ([`crate::trust::system_roots`]).
    SystemRoots,
}

/// Bounds on what the network can make the client read or wait for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest response body accepted, in bytes.
    pub max_response: u64,
    /// Deadline of one request, connection included.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // An object is at most one 5 MiB chunk plus framing; a pull-messages response
            // carries metadata and a tree. 64 MiB leaves room for large ConfigRecords.
            max_response: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// A signed Fleet API client. Cheap to clone (the heartbeat thread holds one).
#[derive(Clone)]
pub struct Transport {
    agent: ureq::Agent,
    base: String,
    key: NodeKey,
    limits: Limits,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A client for the SuperLink at `address` (`host:port`).
    pub fn new(address: &str, security: &Security, key: NodeKey, limits: Limits) -> Result<Self> {
        let builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(limits.request_timeout));
        let (scheme, builder) = match security {
            Security::Insecure => ("http", builder),
            #[cfg(feature = "tls")]
            Security::RootCertificates(pem) => ("https", builder.tls_config(tls_config(pem)?)),
            #[cfg(feature = "tls")]
            Security::SystemRoots => {
                let (_, pem) = crate::trust::system_roots()?;
                ("https", builder.tls_config(tls_config(&pem)?))
            }
            #[cfg(not(feature = "tls"))]
            _ => {
                return Err(FleetError::Config(
                    "TLS was asked for but this build has no TLS (feature `tls`)".into(),
                ));
            }
        };
        Ok(Self {
            agent: builder.build().into(),
            base: format!("{scheme}://{address}/v1/fleet/"),
            key,
            limits,
        })
    }

    /// The node's key.
    #[must_use]
    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    /// Calls `endpoint` with `request`, decoding the response as `Resp`.
    pub fn call<Req, Resp>(&self, endpoint: &'static str, request: &Req) -> Result<Resp>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
    {
        self.call_signed(endpoint, request, None)
    }

    /// Like [`Transport::call`], signing `timestamp` instead of now (clock-skew tests).
    pub fn call_signed<Req, Resp>(
        &self,
        endpoint: &'static str,
        request: &Req,
        timestamp: Option<&str>,
    ) -> Result<Resp>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
    {
        let url = format!("{}{endpoint}", self.base);
        let auth = match timestamp {
            Some(t) => self.key.headers_at(t)?,
            None => self.key.headers()?,
        };
        let body = request.encode_to_vec();
        let transport = |e: ureq::Error| FleetError::Transport {
            url: url.clone(),
            reason: e.to_string(),
        };
        let mut response = self
            .agent
            .post(&url)
            .header("content-type", "application/protobuf")
            .header("accept", "application/protobuf")
            .header("flwr-public-key", &auth.public_key)
            .header("flwr-timestamp", &auth.timestamp)
            .header("flwr-signature", &auth.signature)
            .send(&body[..])
            .map_err(transport)?;
        let status = response.status().as_u16();
        let limit = self.limits.max_response;
        let bytes = match response.body_mut().with_config().limit(limit).read_to_vec() {
            Ok(b) => b,
            Err(ureq::Error::BodyExceedsLimit(_)) => {
                return Err(FleetError::TooLarge {
                    what: format!("{endpoint} response"),
                    size: limit + 1,
                    limit,
                });
            }
            Err(e) => return Err(transport(e)),
        };
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]).into_owned();
            return Err(if status == 401 {
                FleetError::Unauthorized {
                    endpoint,
                    body: text,
                }
            } else {
                FleetError::Status {
                    endpoint,
                    status,
                    body: text,
                }
            });
        }
        Resp::decode(bytes.as_slice()).map_err(|source| FleetError::Decode { endpoint, source })
    }
}
