//! [`LakeUrl`]: where the lake lives, parsed from `AUDITLAKE_LAKE_URL` or `--lake`.

use std::path::PathBuf;

/// `s3://bucket[/prefix]`, `file:///abs/path` or a local path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeUrl {
    S3 { bucket: String, prefix: String },
    Local(PathBuf),
}

impl LakeUrl {
    /// Parses `s3://bucket[/prefix]`, `file:///abs/path` or a local path.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if !is_bucket_name(bucket) {
                return Err(format!("{bucket:?} is not a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)"));
            }
            return Ok(LakeUrl::S3 { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() });
        }
        if raw.starts_with("file://") {
            let url = url::Url::parse(raw).map_err(|e| e.to_string())?;
            let path = url.to_file_path().map_err(|_| "a file:// URL needs an absolute path".to_string())?;
            return Ok(LakeUrl::Local(path));
        }
        if raw.contains("://") {
            return Err("expected s3://bucket/prefix, file:///path or a local directory".to_string());
        }
        Ok(LakeUrl::Local(PathBuf::from(raw)))
    }
}

impl std::fmt::Display for LakeUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LakeUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            LakeUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            LakeUrl::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

fn is_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_urls_parse_and_reject_with_reasons() {
        assert_eq!(
            LakeUrl::parse("s3://my-lake/logs/").unwrap(),
            LakeUrl::S3 { bucket: "my-lake".into(), prefix: "logs".into() }
        );
        assert_eq!(LakeUrl::parse("s3://my-lake").unwrap(), LakeUrl::S3 { bucket: "my-lake".into(), prefix: "".into() });
        assert_eq!(LakeUrl::parse("file:///tmp/lake").unwrap(), LakeUrl::Local("/tmp/lake".into()));
        assert_eq!(LakeUrl::parse("./lake").unwrap(), LakeUrl::Local("./lake".into()));
        assert!(LakeUrl::parse("s3://My_Bucket/x").unwrap_err().contains("My_Bucket"));
        assert!(LakeUrl::parse("gs://b/x").is_err());
    }
}
