//! Benchmark: IAM API calls and wall time of one access-key snapshot of U users, auditlake's
//! pipeline beside the usual ListUsers → ListAccessKeys → GetAccessKeyLastUsed script, against
//! the same moto account in the same run. Every HTTP attempt to IAM is counted by an SDK
//! interceptor, retries included.
//!
//! Run with `scripts/bench-iam.sh [USERS]` (starts moto), or with moto already running:
//! `AUDITLAKE_TEST_MOTO_ENDPOINT=http://127.0.0.1:5000 cargo run -p auditlake-core --example bench_iam -- 1000`

#![allow(clippy::unwrap_used, reason = "a benchmark harness: a failed setup step should stop it")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use auditlake_core::config::AccountScope;
use auditlake_core::iam::IamSource;
use auditlake_core::lake::{Lake, LakeUrl};
use auditlake_core::pipeline::{self, RunRequest};
use auditlake_testkit::moto::Moto;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use futures::{StreamExt, TryStreamExt};

/// Counts IAM requests per operation.
#[derive(Debug, Clone, Default)]
struct CallCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl CallCounter {
    fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg.load::<Metadata>().map(|m| m.name().to_string()).unwrap_or_else(|| "?".into());
        *self.0.lock().unwrap().entry(op).or_default() += 1;
        Ok(())
    }
}

fn total(calls: &BTreeMap<String, u64>) -> u64 {
    calls.values().sum()
}

fn show(calls: &BTreeMap<String, u64>) -> String {
    calls.iter().map(|(op, n)| format!("{op} {n}")).collect::<Vec<_>>().join(", ")
}

/// The usual script: every user, every key, one call each; `concurrency` requests in flight.
async fn list_calls_pattern(iam: &aws_sdk_iam::Client, concurrency: usize) -> anyhow::Result<usize> {
    let users: Vec<_> = iam.list_users().into_paginator().items().send().try_collect().await?;
    let per_user: Vec<usize> = futures::stream::iter(users)
        .map(|u| async move {
            let keys = iam.list_access_keys().user_name(u.user_name()).send().await?;
            let mut n = 0;
            for k in keys.access_key_metadata() {
                iam.get_access_key_last_used().access_key_id(k.access_key_id().unwrap_or_default()).send().await?;
                n += 1;
            }
            Ok::<_, anyhow::Error>(n)
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    Ok(per_user.iter().sum())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let users: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let moto = Moto::from_env();
    let account = moto.new_account().await;
    let admin = account.iam();

    // 60 % of users hold no key, 30 % one, 10 % two: a typical account with many console users.
    let setup = Instant::now();
    let plan: Vec<(usize, usize)> = (0..users)
        .map(|i| {
            (
                i,
                if i % 10 == 0 {
                    2
                } else if i % 10 < 4 {
                    1
                } else {
                    0
                },
            )
        })
        .collect();
    let keys: usize = plan.iter().map(|(_, k)| k).sum();
    let holders = plan.iter().filter(|(_, k)| *k > 0).count();
    futures::stream::iter(plan)
        .map(|(i, k)| {
            let admin = admin.clone();
            async move {
                let name = format!("user-{i:05}");
                admin.create_user().user_name(&name).send().await?;
                for _ in 0..k {
                    admin.create_access_key().user_name(&name).send().await?;
                }
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    eprintln!("setup: {users} users, {holders} holding {keys} keys, in {:.1?}", setup.elapsed());

    let counter = CallCounter::default();
    let iam_config = aws_sdk_iam::config::Builder::from(&account.sdk).interceptor(counter.clone()).build();
    let counted = aws_sdk_iam::Client::from_conf(iam_config.clone());

    // auditlake: the whole pipeline (report, ListAccessKeys for holders, Parquet, checkpoint).
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(&LakeUrl::Local(dir.path().into()), &account.sdk).await?;
    let source = IamSource::new(&account.sdk, AccountScope::Current, 8).with_iam_config(iam_config);
    let started = Instant::now();
    let summary = pipeline::run(&source, &lake, &RunRequest::new(None, "bench")).await?;
    let ours_time = started.elapsed();
    let ours = counter.take();
    anyhow::ensure!(summary.rows as usize == keys, "auditlake wrote {} rows for {keys} keys", summary.rows);

    let mut results = vec![("auditlake pipeline (concurrency 8)".to_string(), ours, ours_time, summary.rows as usize)];
    for concurrency in [1, 8] {
        let started = Instant::now();
        let seen = list_calls_pattern(&counted, concurrency).await?;
        results.push((
            format!("ListUsers → ListAccessKeys → GetAccessKeyLastUsed (concurrency {concurrency})"),
            counter.take(),
            started.elapsed(),
            seen,
        ));
    }

    println!("U = {users} users, {holders} holding a key, K = {keys} keys; target: at most {} IAM calls\n", holders + 5);
    println!("| method | IAM calls | calls by operation | wall time | keys |");
    println!("|---|---:|---|---:|---:|");
    for (name, calls, time, n) in &results {
        println!("| {name} | {} | {} | {:.2} s | {n} |", total(calls), show(calls), time.as_secs_f64());
    }
    let ours_calls = total(&results[0].1) as usize;
    anyhow::ensure!(ours_calls <= holders + 5, "auditlake made {ours_calls} IAM calls, target is at most {}", holders + 5);
    Ok(())
}
