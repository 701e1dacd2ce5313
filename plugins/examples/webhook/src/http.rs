//! A blocking HTTP POST over `wasi:http/outgoing-handler`.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

/// The most bytes one blocking write may carry (`blocking-write-and-flush`).
const WRITE_CHUNK: usize = 4096;

pub enum Delivery {
    /// The server answered with this status.
    Answered(u16),
    /// The host refused the destination: it is not granted to this plugin.
    Refused(String),
    /// The request did not get an answer (connection refused, timeout, …).
    Failed(String),
}

struct Target<'a> {
    scheme: Scheme,
    authority: &'a str,
    path: &'a str,
}

fn parse(url: &str) -> Option<Target<'_>> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        (Scheme::Http, url.strip_prefix("http://")?)
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some(Target {
        scheme,
        authority,
        path,
    })
}

pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Delivery {
    let Some(target) = parse(url) else {
        return Delivery::Refused(format!("{url:?} is not an http(s) URL"));
    };
    match send(&target, headers, body) {
        Ok(status) => Delivery::Answered(status),
        Err(ErrorCode::HttpRequestDenied) => Delivery::Refused(format!(
            "the host refused to let this plugin reach {} (not in its manifest's \
             [capabilities] http list)",
            target.authority
        )),
        Err(e) => Delivery::Failed(format!("POST {url} failed: {e:?}")),
    }
}

fn send(target: &Target, headers: &[(&str, &str)], body: &[u8]) -> Result<u16, ErrorCode> {
    let entries: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&entries)
        .map_err(|e| ErrorCode::InternalError(Some(format!("bad header: {e:?}"))))?;
    let request = OutgoingRequest::new(fields);
    let invalid = |what: &str| ErrorCode::InternalError(Some(format!("invalid {what}")));
    request
        .set_method(&Method::Post)
        .map_err(|_| invalid("method"))?;
    request
        .set_scheme(Some(&target.scheme))
        .map_err(|_| invalid("scheme"))?;
    request
        .set_authority(Some(target.authority))
        .map_err(|_| invalid("authority"))?;
    request
        .set_path_with_query(Some(target.path))
        .map_err(|_| invalid("path"))?;

    let outgoing = request.body().map_err(|_| invalid("body"))?;
    let response = outgoing_handler::handle(request, None)?;
    {
        let stream = outgoing.write().map_err(|_| invalid("body stream"))?;
        for chunk in body.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| ErrorCode::InternalError(Some(format!("writing the body: {e:?}"))))?;
        }
    }
    OutgoingBody::finish(outgoing, None)?;
    response.subscribe().block();
    let answered = response
        .get()
        .expect("the response is ready once its pollable is")
        .map_err(|()| ErrorCode::InternalError(Some("the response was taken twice".into())))??;
    Ok(answered.status())
}
