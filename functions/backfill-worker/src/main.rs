//! Lambda: runs backfill windows and continues long runs from the SQS work
//! queue, reporting partial batch failures (`ReportBatchItemFailures`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    zdsync_lambda::init_logging();
    let deps = zdsync_lambda::deps_from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let deps = deps.clone();
        async move {
            let stop = zdsync_lambda::stop_at(event.context.deadline, deps.margin);
            Ok::<SqsBatchResponse, Error>(
                zdsync_lambda::backfill_worker(&deps, event.payload, stop).await,
            )
        }
    }))
    .await
}
