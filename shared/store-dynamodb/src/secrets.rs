//! Credentials in AWS Secrets Manager: one secret per connection, named
//! `{prefix}{connection}` (e.g. `zdsync/acme`), holding the JSON the engine
//! gives it. Values are never logged.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use zdsync_store::{Result, SecretStore, StoreError};

#[derive(Clone)]
pub struct SecretsManagerStore {
    client: Client,
}

fn is_not_found<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ResourceNotFoundException")
}

fn fail<E, R>(context: String, e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::backend(
        context,
        aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
    )
}

impl SecretsManagerStore {
    pub fn new(client: Client) -> Self {
        SecretsManagerStore { client }
    }

    /// Builds a client from the environment (`AWS_*`, incl. `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        SecretsManagerStore::new(Client::new(&config))
    }
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn put_secret(&self, name: &str, value: &str) -> Result<()> {
        match self
            .client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => match self
                .client
                .create_secret()
                .name(name)
                .description("Zendesk credentials of a zdsync connection")
                .secret_string(value)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                // Created meanwhile by another process: store the new value.
                Err(e)
                    if e.as_service_error()
                        .and_then(|s| s.code())
                        .is_some_and(|c| c == "ResourceExistsException") =>
                {
                    self.client
                        .put_secret_value()
                        .secret_id(name)
                        .secret_string(value)
                        .send()
                        .await
                        .map_err(|e| fail(format!("storing secret {name:?}"), e))?;
                    Ok(())
                }
                Err(e) => Err(fail(format!("creating secret {name:?}"), e)),
            },
            Err(e) => Err(fail(format!("storing secret {name:?}"), e)),
        }
    }

    async fn get_secret(&self, name: &str) -> Result<Option<String>> {
        match self.client.get_secret_value().secret_id(name).send().await {
            Ok(out) => Ok(out.secret_string),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(fail(format!("reading secret {name:?}"), e)),
        }
    }

    async fn delete_secret(&self, name: &str) -> Result<()> {
        match self
            .client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(fail(format!("deleting secret {name:?}"), e)),
        }
    }
}
