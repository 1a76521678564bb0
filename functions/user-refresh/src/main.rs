//! Lambda: the daily refresh of stored customers (EventBridge).

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
            Ok::<Value, Error>(zdsync_lambda::user_refresh(&deps, event.payload, stop).await?)
        }
    }))
    .await
}
