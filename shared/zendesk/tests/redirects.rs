//! The client follows no redirect: a 3xx answer is an error naming the host
//! of its `Location`, and that host never receives a request (so neither
//! the Authorization header nor an OAuth client secret can leave through a
//! redirect). Served by minimal HTTP servers on loopback.

mod common;

use common::{Answer, Server, client, serve};
use zdsync_zendesk::{Credentials, Error};

/// A server that answers every request with `status` and `location`.
async fn answering(status: u16, location: Option<String>) -> Server {
    serve(move |_, _| {
        let answer = Answer::json(status, "{}");
        match &location {
            Some(l) => answer.with_header("location", l),
            None => answer,
        }
    })
    .await
}

#[tokio::test]
async fn a_redirected_users_me_is_an_error_and_the_other_host_sees_nothing() {
    let elsewhere = answering(200, None).await;
    let server = answering(
        302,
        Some(format!("{}/api/v2/users/me.json", elsewhere.base)),
    )
    .await;
    let c = client(
        &server.base,
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
    assert!(err.to_string().contains(&elsewhere.base), "{err}");
    assert_eq!(elsewhere.requests(), 0);
}

#[tokio::test]
async fn a_307_on_the_oauth_token_request_never_resends_the_client_secret() {
    let elsewhere = answering(200, None).await;
    let server = answering(307, Some(format!("{}/oauth/tokens", elsewhere.base))).await;
    let c = client(
        &server.base,
        Credentials::OAuthClient {
            client_id: "zdsync".into(),
            client_secret: "canary-secret".into(),
        },
    );
    let err = c.me().await.expect_err("a redirect is not followed");
    assert!(
        err.to_string().contains("redirect") && err.to_string().contains(&elsewhere.base),
        "{err}"
    );
    assert!(!err.to_string().contains("canary-secret"), "{err}");
    assert_eq!(elsewhere.requests(), 0);
}
