//! DynamoDB requests counted on the wire, by operation: an SDK interceptor
//! that reads the `X-Amz-Target` of every attempt (a retried request counts
//! each time it is sent). Shared by the tests (`mod common;`) and the
//! `writes` bench (`#[path]`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};

/// Requests sent, by operation name (`GetItem`, `BatchWriteItem`...).
#[derive(Debug, Clone, Default)]
pub struct Ops(Arc<Mutex<BTreeMap<String, u64>>>);

#[allow(dead_code)] // each user takes what it needs
impl Ops {
    /// The counts so far, and a fresh start.
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().expect("counter lock"))
    }

    /// Requests of one operation so far.
    pub fn get(&self, op: &str) -> u64 {
        self.0
            .lock()
            .expect("counter lock")
            .get(op)
            .copied()
            .unwrap_or(0)
    }

    /// A client with zdsync's retry policy whose requests are counted here.
    pub fn client(&self, conf: &aws_config::SdkConfig) -> Client {
        let base = zdsync_store_dynamodb::client(conf);
        Client::from_conf(base.config().to_builder().interceptor(self.clone()).build())
    }
}

impl Intercept for Ops {
    fn name(&self) -> &'static str {
        "count DynamoDB operations"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let op = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("?")
            .to_string();
        *self.0.lock().expect("counter lock").entry(op).or_default() += 1;
        Ok(())
    }
}
