//! What an operator granted a plugin in its manifest (`[capabilities]`), denied by
//! default: outbound HTTP to listed hosts only, and named secrets from the host's
//! configuration, which the plugin reads as environment variables.
//!
//! ```toml
//! [capabilities]
//! http = ["api.example.com", "127.0.0.1:8080"]   # a host (any port) or host:port
//! secrets = ["WEBHOOK_SECRET"]
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The host's named secrets, which a manifest may grant a plugin. `Debug` shows the
/// names only, so a logged configuration never carries a value.
#[derive(Clone, Default)]
pub struct Secrets(HashMap<String, String>);

impl Secrets {
    pub fn new(values: HashMap<String, String>) -> Secrets {
        Secrets(values)
    }

    fn get(&self, name: &str) -> Option<&String> {
        self.0.get(name)
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.0.keys().collect();
        names.sort();
        write!(f, "Secrets({names:?})")
    }
}

/// A granted destination: a host name or address, and a port or any port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostGrant {
    host: String,
    port: Option<u16>,
}

impl HostGrant {
    fn parse(entry: &str) -> Result<HostGrant, String> {
        let bad = || format!("{entry:?} is not a host or host:port");
        let authority: http::uri::Authority = entry.parse().map_err(|_| bad())?;
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return Err(bad());
        }
        Ok(HostGrant {
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16(),
        })
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        self.host.eq_ignore_ascii_case(host) && self.port.is_none_or(|p| p == port)
    }
}

/// A plugin's grants, checked when it loads.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    http: Vec<HostGrant>,
    /// The granted secrets with their values, handed to the guest as its environment.
    env: Vec<(String, String)>,
}

impl Capabilities {
    /// Resolves a manifest's grants against the host's secrets. A secret the host does
    /// not define is an error, so a typo cannot leave a plugin silently without it.
    pub(crate) fn grant(
        http: &[String],
        secrets: &[String],
        host_secrets: &Secrets,
    ) -> Result<Capabilities, String> {
        let http = http
            .iter()
            .map(|h| HostGrant::parse(h))
            .collect::<Result<_, _>>()?;
        let env = secrets
            .iter()
            .map(|name| match host_secrets.get(name) {
                Some(value) => Ok((name.clone(), value.clone())),
                None => Err(format!(
                    "it grants the secret {name:?}, which the host's configuration does not \
                     define (add it to the secrets file)"
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(Capabilities { http, env })
    }

    pub(crate) fn env(&self) -> &[(String, String)] {
        &self.env
    }

    pub fn http_hosts(&self) -> Vec<String> {
        self.http
            .iter()
            .map(|g| match g.port {
                Some(port) => format!("{}:{port}", g.host),
                None => g.host.clone(),
            })
            .collect()
    }

    pub fn secret_names(&self) -> Vec<&str> {
        self.env.iter().map(|(name, _)| name.as_str()).collect()
    }
}

/// The `wasi:http` hooks of one attempt: a request goes out only to a granted host,
/// and never outlives the attempt's deadline.
pub(crate) struct HttpGate {
    grants: Vec<HostGrant>,
    deadline: Instant,
    /// The destinations refused during this attempt, for the outcome.
    pub refused: Vec<String>,
}

impl HttpGate {
    pub fn new(capabilities: &Capabilities, deadline: Instant) -> HttpGate {
        HttpGate {
            grants: capabilities.http.clone(),
            deadline,
            refused: Vec::new(),
        }
    }

    fn allowed(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else { return false };
        let default_port = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
            443
        } else {
            80
        };
        let port = uri.port_u16().unwrap_or(default_port);
        self.grants.iter().any(|g| g.allows(host, port))
    }

    /// Every timeout of the request capped at what is left of the attempt's deadline:
    /// the guest is blocked in the host while it waits, where epochs cannot stop it.
    fn options_within_deadline(&self, options: Option<RequestOptions>) -> RequestOptions {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let cap = |t: Option<Duration>| Some(t.map_or(left, |t| t.min(left)));
        let options = options.unwrap_or_default();
        RequestOptions {
            connect_timeout: cap(options.connect_timeout),
            first_byte_timeout: cap(options.first_byte_timeout),
            between_bytes_timeout: cap(options.between_bytes_timeout),
        }
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        if !self.allowed(request.uri()) {
            let authority = request
                .uri()
                .authority()
                .map_or_else(|| request.uri().to_string(), |a| a.to_string());
            self.refused.push(authority);
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let options = self.options_within_deadline(options);
        Box::new(async move {
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(grants: &[&str]) -> HttpGate {
        let http: Vec<String> = grants.iter().map(|g| g.to_string()).collect();
        let caps = Capabilities::grant(&http, &[], &Secrets::default()).unwrap();
        HttpGate::new(&caps, Instant::now() + Duration::from_secs(1))
    }

    #[test]
    fn a_host_grant_allows_any_port_and_a_host_port_grant_one() {
        let g = gate(&["api.example.com", "127.0.0.1:8080"]);
        assert!(g.allowed(&"https://API.example.com/x".parse().unwrap()));
        assert!(g.allowed(&"http://api.example.com:9000/x".parse().unwrap()));
        assert!(g.allowed(&"http://127.0.0.1:8080/".parse().unwrap()));
        assert!(!g.allowed(&"http://127.0.0.1:8081/".parse().unwrap()));
        assert!(!g.allowed(&"http://127.0.0.1/".parse().unwrap()));
        assert!(!g.allowed(&"https://example.com/".parse().unwrap()));
        assert!(!g.allowed(&"https://api.example.com.evil.net/".parse().unwrap()));
    }

    #[test]
    fn nothing_is_allowed_without_a_grant() {
        assert!(!gate(&[]).allowed(&"http://127.0.0.1:80/".parse().unwrap()));
    }

    #[test]
    fn bad_grants_and_undefined_secrets_are_refused() {
        let none = Secrets::default();
        assert!(Capabilities::grant(&["http://x/y".into()], &[], &none).is_err());
        assert!(Capabilities::grant(&["user@host".into()], &[], &none).is_err());
        let err = Capabilities::grant(&[], &["KEY".into()], &none).unwrap_err();
        assert!(err.contains("\"KEY\""), "{err}");
        let defined = Secrets::new(HashMap::from([("KEY".to_string(), "v".to_string())]));
        let caps = Capabilities::grant(&[], &["KEY".into()], &defined).unwrap();
        assert_eq!(caps.env(), [("KEY".to_string(), "v".to_string())]);
        assert_eq!(format!("{defined:?}"), r#"Secrets(["KEY"])"#);
    }
}
