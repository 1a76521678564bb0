//! Lambda: the hourly ticket sync (EventBridge), or a manual run of one
//! connection: `{"connection": "acme", "backfill": true}`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    zdsync_lambda::init_logging();
    let deps = zdsync_lambda::deps_from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let deps = deps.clone();
        async move {
            let stop = zdsync_lambda::stop_at(event.context.deadline, deps.margin);
            Ok::<Value, Error>(zdsync_lambda::ticket_sync(&deps, event.payload, stop).await?)
        }
    }))
    .await
}
