//! `Transport` over waki, i.e. over the host's `wasi:http/outgoing-handler`.

use crate::http::{Method, Request, Response, Transport};
use std::time::Duration;
use waki::header::HeaderName;

pub struct WakiTransport;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Transport for WakiTransport {
    fn send(&self, request: &Request) -> Result<Response, String> {
        let method = match request.method {
            Method::Get => waki::Method::Get,
            Method::Post => waki::Method::Post,
            Method::Patch => waki::Method::Patch,
            Method::Delete => waki::Method::Delete,
        };
        let mut builder = waki::Client::new()
            .request(method, &request.url)
            .connect_timeout(CONNECT_TIMEOUT);
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name `{name}`"))?;
            builder = builder.header(name, value.as_str());
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        // waki's errors describe the transport (host refused, connection reset); they never
        // include request headers, so they are safe to surface.
        let response = builder.send().map_err(|e| format!("{e:#}"))?;
        let status = response.status_code();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .body()
            .map_err(|e| format!("reading the body: {e:#}"))?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}
