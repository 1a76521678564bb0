//! The client follows no redirect: a 3xx answer is an error naming the host
//! of its `Location`, and that host never receives a request (so neither
//! the Authorization header nor an OAuth client secret can leave through a
//! redirect). Served by minimal HTTP servers on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zdsync_zendesk::{Client, ClientConfig, Credentials, Error};

/// A server that answers every request with `status` and `location`, and
/// counts the requests it got.
async fn answering(status: u16, location: Option<String>) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(AtomicU64::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            let location = location.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let loc = location
                    .map(|l| format!("location: {l}\r\n"))
                    .unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 {status} X\r\n{loc}content-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
                );
                let _ = sock.write_all(head.as_bytes()).await;
            });
        }
    });
    (base, seen)
}

fn client(base: &str, credentials: Credentials) -> Client {
    let mut cfg = ClientConfig::new(url::Url::parse(base).expect("url"), credentials);
    cfg.max_retries = 1;
    cfg.max_backoff = std::time::Duration::from_millis(10);
    Client::new(cfg).expect("client")
}

#[tokio::test]
async fn a_redirected_users_me_is_an_error_and_the_other_host_sees_nothing() {
    let (elsewhere, elsewhere_seen) = answering(200, None).await;
    let (base, _) = answering(302, Some(format!("{elsewhere}/api/v2/users/me.json"))).await;
    let c = client(
        &base,
        Credentials::ApiToken {
            email: "admin@example.com".into(),
            token: "canary-token".into(),
        },
    );
    let err = c.me().await.expect_err("a redirect is not followed");
    assert!(
        matches!(err, Error::Redirected { status: 302, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&elsewhere), "{err}");
    assert_eq!(elsewhere_seen.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_307_on_the_oauth_token_request_never_resends_the_client_secret() {
    let (elsewhere, elsewhere_seen) = answering(200, None).await;
    let (base, _) = answering(307, Some(format!("{elsewhere}/oauth/tokens"))).await;
    let c = client(
        &base,
        Credentials::OAuthClient {
            client_id: "zdsync".into(),
            client_secret: "canary-secret".into(),
        },
    );
    let err = c.me().await.expect_err("a redirect is not followed");
    assert!(
        err.to_string().contains("redirect") && err.to_string().contains(&elsewhere),
        "{err}"
    );
    assert!(!err.to_string().contains("canary-secret"), "{err}");
    assert_eq!(elsewhere_seen.load(Ordering::Relaxed), 0);
}
