//! Failed turns: each failure maps to the `BackendError` the fallback layer and the user
//! need (by status, inside the stream, cut off, stalled), never leaks the key, and cancel is
//! prompt.

use pretty_assertions::assert_eq;

use super::*;

#[tokio::test]
async fn unauthorized_is_auth_and_never_shows_the_key() {
    let server = Server::start(vec![Reply::json(
        401,
        &json!({"type": "error", "error": {"type": "authentication_error", "message": format!("invalid x-api-key {KEY}")}}),
    )])
    .await;
    let backend = backend(&server);
    let error = turn(&backend, hello()).await.0.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the server refused the credentials (HTTP 401): invalid x-api-key <api key>; \
         check the API key variable named in [remote] api_key_env"
    );
    assert!(!format!("{error:?}").contains(KEY));
    assert!(!format!("{:?}", backend.config()).contains(KEY));
}

#[tokio::test]
async fn rate_limit_carries_retry_after() {
    let server = Server::start(vec![Reply::json(
        429,
        &json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Number of request tokens has exceeded your per-minute rate limit"}}),
    )
    .header("retry-after", "12")])
    .await;
    match turn(&backend(&server), hello()).await.0.unwrap_err() {
        BackendError::RateLimited {
            retry_after_s,
            message,
        } => assert_eq!(
            (retry_after_s, message.as_str()),
            (
                Some(12),
                "Number of request tokens has exceeded your per-minute rate limit"
            )
        ),
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn overloaded_is_server_529_as_a_status_and_inside_the_stream() {
    let overloaded =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    let server = Server::start(vec![
        Reply::json(529, &overloaded).header("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy"),
        Reply::stream(vec![
            events(TEXT_STREAM).remove(0),
            Part::Bytes(format!("event: error\ndata: {overloaded}\n\n").into_bytes()),
        ]),
    ])
    .await;
    let backend = backend(&server);
    let url = format!("{}/messages", server.base_url());
    let expected = [
        format!("Overloaded (at {url}, request id req_011CSHoEeqs5C35K2UUqR7Fy)"),
        "the server failed mid-answer: Overloaded (overloaded_error)".to_owned(),
    ];
    for expected in expected {
        let error = turn(&backend, hello()).await.0.unwrap_err();
        assert!(error.is_outage());
        match error {
            BackendError::Server { status, message } => {
                assert_eq!((status, message), (529, expected));
            }
            other => panic!("expected Server, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn other_error_statuses_are_server_errors_with_their_status() {
    let error = |kind: &str, message: &str| json!({"type": "error", "error": {"type": kind, "message": message}});
    let server = Server::start(vec![
        Reply::json(
            400,
            &error("invalid_request_error", "messages: roles must alternate"),
        ),
        Reply::json(404, &error("not_found_error", "model: claude-test")),
        Reply::json(
            413,
            &error("request_too_large", "Request exceeds the maximum size"),
        ),
        Reply::json(500, &error("api_error", "Internal server error")),
    ])
    .await;
    let backend = backend(&server);
    for expected in [400, 404, 413, 500] {
        match turn(&backend, hello()).await.0.unwrap_err() {
            BackendError::Server { status, .. } => assert_eq!(status, expected),
            other => panic!("expected Server {expected}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_stream_cut_before_message_stop_is_a_protocol_error_with_the_partial_text() {
    let recorded = events(TEXT_STREAM);
    // Dropped mid-event, and closed cleanly after the stop reason but before message_stop.
    let mid_event: Vec<Part> = events(TEXT_STREAM)
        .into_iter()
        .take(5)
        .chain([
            Part::Bytes(b"event: content_block_delta\ndata: {\"ty".to_vec()),
            Part::Cut,
        ])
        .collect();
    let before_stop: Vec<Part> = events(TEXT_STREAM)
        .into_iter()
        .take(recorded.len() - 1)
        .collect();
    for (parts, framing, pieces) in [
        (mid_event, Framing::Chunked, vec!["Hel", "lo, "]),
        (before_stop, Framing::Close, vec!["Hel", "lo, ", "world"]),
    ] {
        let server = Server::start(vec![Reply::stream(parts).framing(framing)]).await;
        let (result, streamed) = turn(&backend(&server), hello()).await;
        let message = protocol_message(result.unwrap_err());
        assert_eq!(streamed, tokens(&pieces));
        let text = pieces.concat();
        assert!(
            message.contains("ended before the answer was complete (no message_stop)"),
            "{message}"
        );
        assert!(
            message.contains(&format!("text so far {text:?}")),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_server_that_accepts_and_stays_silent_past_the_timeout_is_unavailable() {
    let server = Server::start(vec![
        Reply::silent(),
        Reply::stream(vec![events(TEXT_STREAM).remove(0), Part::Hang]),
    ])
    .await;
    let backend = AnthropicBackend::new(AnthropicConfig {
        timeout_s: 1,
        ..config(server.base_url())
    })
    .unwrap();
    for _ in 0..2 {
        let started = Instant::now();
        match turn(&backend, hello()).await.0.unwrap_err() {
            BackendError::Unavailable(message) => {
                assert!(message.contains("sent nothing for 1 s"), "{message}");
                assert!(message.contains("stalled"), "{message}");
                assert!(message.contains(&server.base_url()), "{message}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}

#[tokio::test]
async fn cancel_mid_stream_returns_cancelled_quickly_and_drops_the_connection() {
    let server = Server::start(vec![Reply::stream(
        events(TEXT_STREAM)
            .into_iter()
            .take(4)
            .chain([Part::Hang])
            .collect(),
    )])
    .await;
    let backend = Arc::new(backend(&server));
    let cancel = CancelFlag::new();
    let (tx, mut rx) = unbounded_channel();
    let task = {
        let (backend, cancel) = (Arc::clone(&backend), cancel.clone());
        tokio::spawn(async move { backend.complete(hello(), tx, cancel).await })
    };
    assert_eq!(
        rx.recv().await,
        Some(ModelEvent::Token { text: "Hel".into() })
    );
    let cancelled_at = Instant::now();
    cancel.cancel();
    let result = task.await.unwrap();
    assert!(matches!(result, Err(BackendError::Cancelled)), "{result:?}");
    assert!(cancelled_at.elapsed() < Duration::from_millis(500));
    assert!(server.client_hung_up(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn a_closed_port_is_unavailable_and_names_the_url() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/v1");
    let backend = AnthropicBackend::new(config(url.clone())).unwrap();
    for error in [
        turn(&backend, hello()).await.0.unwrap_err(),
        backend.probe().await.unwrap_err(),
    ] {
        match &error {
            BackendError::Unavailable(message) => {
                assert!(message.contains(&url), "{message}");
                assert!(message.contains("Connection refused"), "{message}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}
