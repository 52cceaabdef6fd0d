//! Which accounts an [`IamSource`] covers, and an IAM client for each: the process's own
//! credentials for its own account, `sts:AssumeRole` into any other.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

use super::{IamError, IamSource, api_error};
use crate::config::AccountScope;
use crate::error::ErrorClass;

#[derive(Debug, Clone)]
pub(super) struct Caller {
    account: String,
    partition: String,
}

impl IamSource {
    pub(super) async fn caller(&self) -> Result<&Caller, IamError> {
        self.caller
            .get_or_try_init(|| async {
                let out = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| api_error("(current)", "sts:GetCallerIdentity", &e))?;
                let account = out.account().unwrap_or_default().to_string();
                let partition = out.arn().and_then(|a| a.split(':').nth(1)).unwrap_or("aws").to_string();
                Ok(Caller { account, partition })
            })
            .await
    }

    /// The account ids this source covers, in a stable order.
    pub async fn accounts(&self) -> Result<Vec<String>, IamError> {
        let mut ids = match &self.scope {
            AccountScope::Current => vec![self.caller().await?.account.clone()],
            AccountScope::Listed { account_ids, .. } => account_ids.clone(),
            AccountScope::Organization { .. } => {
                let orgs = aws_sdk_organizations::Client::new(&self.sdk);
                let pages: Vec<_> = orgs
                    .list_accounts()
                    .into_paginator()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| api_error("(organization)", "organizations:ListAccounts", &e))?;
                pages
                    .iter()
                    .flat_map(|page| page.accounts())
                    .filter(|a| is_active(a))
                    .filter_map(|a| a.id().map(str::to_string))
                    .collect()
            }
        };
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// An IAM client for `account`: the process's own credentials for its own account, an
    /// assumed role for any other.
    pub(super) async fn client_for(&self, account: &str) -> Result<aws_sdk_iam::Client, IamError> {
        let role_name = match &self.scope {
            AccountScope::Current => None,
            AccountScope::Listed { role_name, .. } | AccountScope::Organization { role_name } => Some(role_name),
        };
        let caller = self.caller().await?;
        let Some(role_name) = role_name.filter(|_| caller.account != account) else {
            return Ok(aws_sdk_iam::Client::from_conf(self.iam_config.clone()));
        };
        let role_arn = format!("arn:{}:iam::{account}:role/{role_name}", caller.partition);
        let out = self
            .sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("auditlake-iam-access-keys")
            .duration_seconds(3600)
            .send()
            .await
            .map_err(|e| api_error(account, format!("sts:AssumeRole {role_arn}"), &e))?;
        let c = out.credentials().ok_or_else(|| IamError::Api {
            account: account.to_string(),
            operation: format!("sts:AssumeRole {role_arn}"),
            message: "the response carried no credentials".into(),
            class: ErrorClass::Retryable,
        })?;
        let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "auditlake-assume-role",
        );
        let config = self.iam_config.to_builder().credentials_provider(SharedCredentialsProvider::new(credentials)).build();
        Ok(aws_sdk_iam::Client::from_conf(config))
    }
}

fn is_active(account: &aws_sdk_organizations::types::Account) -> bool {
    use aws_sdk_organizations::types::{AccountState, AccountStatus};
    match account.state() {
        Some(state) => *state == AccountState::Active,
        #[allow(deprecated)]
        None => account.status() == Some(&AccountStatus::Active),
    }
}
