//! The moto server started by `scripts/test.sh`, and per-test AWS accounts inside it.
//!
//! moto keeps IAM, SSM and S3 state per account and derives the account from the access key
//! of each request; credentials from `sts:AssumeRole` belong to the role's account. So every
//! test calls [`Moto::new_account`] and works in an account of its own.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

/// The variable `scripts/test.sh` sets to moto's URL.
pub const ENDPOINT_VAR: &str = "AUDITLAKE_TEST_MOTO_ENDPOINT";

#[derive(Debug, Clone)]
pub struct Moto {
    pub endpoint: String,
}

/// An AWS account of its own inside moto, with credentials for it.
#[derive(Debug, Clone)]
pub struct TestAccount {
    pub id: String,
    pub sdk: SdkConfig,
}

/// An access key created for a test user (the full id: tests check it never reaches the lake).
#[derive(Debug, Clone)]
pub struct TestKey {
    pub id: String,
    pub secret: String,
}

impl Moto {
    /// The running moto server. Panics with the command to run when there is none.
    #[allow(clippy::disallowed_methods, reason = "test harness: scripts/test.sh passes moto's address")]
    pub fn from_env() -> Moto {
        match std::env::var(ENDPOINT_VAR) {
            Ok(endpoint) if !endpoint.is_empty() => Moto { endpoint },
            _ => panic!("{ENDPOINT_VAR} is not set: run the tests with scripts/test.sh, which starts moto"),
        }
    }

    /// SDK configuration pointing at moto with the given credentials.
    pub fn sdk_config(&self, credentials: Credentials) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build()
    }

    /// Credentials of moto's default account (123456789012).
    pub fn default_sdk(&self) -> SdkConfig {
        self.sdk_config(Credentials::new("AKIAMOTODEFAULT00000", "moto-default-secret", None, None, "testkit"))
    }

    /// A fresh random account with credentials of a role in it.
    pub async fn new_account(&self) -> TestAccount {
        let id = format!("{:012}", uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000);
        self.account(&id).await
    }

    /// Credentials for `account_id` (by assuming a role there; moto does not require it to exist).
    pub async fn account(&self, account_id: &str) -> TestAccount {
        let sts = aws_sdk_sts::Client::new(&self.default_sdk());
        let out = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account_id}:role/testkit"))
            .role_session_name("testkit")
            .send()
            .await
            .expect("moto AssumeRole");
        let c = out.credentials().expect("moto returns credentials");
        let creds =
            Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().to_string()), None, "testkit");
        TestAccount { id: account_id.to_string(), sdk: self.sdk_config(creds) }
    }

    /// Creates an S3 bucket (moto does not check signatures, so a plain PUT will do).
    pub async fn create_bucket(&self, bucket: &str) {
        let status =
            reqwest::Client::new().put(format!("{}/{bucket}", self.endpoint)).send().await.expect("moto reachable").status();
        assert!(status.is_success(), "creating bucket {bucket} in moto: {status}");
    }
}

impl TestAccount {
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk)
    }

    /// Creates `name` with `keys` access keys; returns them in creation order.
    pub async fn create_user(&self, name: &str, keys: usize) -> Vec<TestKey> {
        let iam = self.iam();
        iam.create_user().user_name(name).send().await.expect("moto CreateUser");
        let mut out = Vec::new();
        for _ in 0..keys {
            let k = iam.create_access_key().user_name(name).send().await.expect("moto CreateAccessKey");
            let k = k.access_key().expect("key");
            out.push(TestKey { id: k.access_key_id().to_string(), secret: k.secret_access_key().to_string() });
        }
        out
    }

    pub async fn deactivate(&self, user: &str, key: &TestKey) {
        self.iam()
            .update_access_key()
            .user_name(user)
            .access_key_id(&key.id)
            .status(aws_sdk_iam::types::StatusType::Inactive)
            .send()
            .await
            .expect("moto UpdateAccessKey");
    }
}

impl TestKey {
    /// Makes one signed request with this key, so moto records it as used. The SDK's debug
    /// logs name the key of the credentials it signs with; this request is the test's, not
    /// auditlake's, so it is kept out of the captured logs that tests scan for leaked ids.
    pub async fn use_once(&self, moto: &Moto) {
        use tracing::instrument::WithSubscriber;
        let sdk = moto.sdk_config(Credentials::new(&self.id, &self.secret, None, None, "testkit"));
        aws_sdk_sts::Client::new(&sdk)
            .get_caller_identity()
            .send()
            .with_subscriber(tracing::subscriber::NoSubscriber::default())
            .await
            .expect("moto GetCallerIdentity");
    }
}
