//! A pass-through `wasi:http/outgoing-handler` that counts what goes through it. The command
//! composition puts it between the connector and the host, so the command's summary counts
//! requests the way the harness does, without the connector knowing.

#[cfg(target_arch = "wasm32")]
mod component {
    use std::sync::atomic::{AtomicU64, Ordering};

    wit_bindgen::generate!({
        world: "governance:command/http-counter",
        path: ["../../wit", "../wit"],
        generate_all,
    });

    use exports::governance::command::http_requests;
    use exports::wasi::http::outgoing_handler;
    use wasi::http::outgoing_handler as host;
    use wasi::http::types::{ErrorCode, FutureIncomingResponse, OutgoingRequest, RequestOptions};

    static REQUESTS: AtomicU64 = AtomicU64::new(0);

    struct Counter;

    impl outgoing_handler::Guest for Counter {
        fn handle(
            request: OutgoingRequest,
            options: Option<RequestOptions>,
        ) -> Result<FutureIncomingResponse, ErrorCode> {
            REQUESTS.fetch_add(1, Ordering::Relaxed);
            host::handle(request, options)
        }
    }

    impl http_requests::Guest for Counter {
        fn count() -> u64 {
            REQUESTS.load(Ordering::Relaxed)
        }
    }

    export!(Counter);
}
