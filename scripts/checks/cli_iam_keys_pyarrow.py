"""The README's local run, checked from outside: `auditlake collect iam-keys --lake DIR`
against moto writes aws_iam_access_keys/dt=YYYY-MM-DD/*.parquet that pyarrow reads with the
columns of DESIGN.md, ids sanitized.

Usage: python3 cli_iam_keys_pyarrow.py PATH_TO_AUDITLAKE_BINARY   (moto from scripts/test.sh)
"""
import glob
import os
import subprocess
import sys
import tempfile
import uuid

import boto3
import pyarrow as pa
import pyarrow.parquet as pq

EXPECTED = {
    "account_id": pa.string(),
    "user_name": pa.string(),
    "user_arn": pa.string(),
    "access_key_id": pa.string(),
    "key_slot": pa.int32(),
    "status": pa.string(),
    "created_at": pa.timestamp("ms", tz="UTC"),
    "last_used_at": pa.timestamp("ms", tz="UTC"),
    "last_used_region": pa.string(),
    "last_used_service": pa.string(),
    "age_days": pa.int64(),
    "days_since_last_used": pa.int64(),
    "user_created_at": pa.timestamp("ms", tz="UTC"),
    "password_enabled": pa.bool_(),
    "mfa_active": pa.bool_(),
    "report_generated_at": pa.timestamp("ms", tz="UTC"),
    "run_id": pa.string(),
}


def main(binary: str) -> None:
    endpoint = os.environ["AUDITLAKE_TEST_MOTO_ENDPOINT"]
    account = f"{uuid.uuid4().int % 10**12:012d}"
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/check", RoleSessionName="check")["Credentials"]
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=creds["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
        AWS_SESSION_TOKEN=creds["SessionToken"],
    )
    env.pop("AUDITLAKE_LAKE_URL", None)
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    full_ids = []
    for name, keys in (("no-keys", 0), ("one-key", 1), ("two-keys", 2)):
        iam.create_user(UserName=name)
        for _ in range(keys):
            full_ids.append(iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"])

    with tempfile.TemporaryDirectory() as lake:
        done = subprocess.run(
            [binary, "collect", "iam-keys", "--lake", lake], env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            sys.exit(f"auditlake failed ({done.returncode}):\n{done.stderr}")
        files = glob.glob(os.path.join(lake, "aws_iam_access_keys", "dt=*", "*.parquet"))
        assert len(files) == 1, files
        table = pq.read_table(files[0])
        schema = {f.name: f.type for f in table.schema}
        assert schema == EXPECTED, f"columns differ from DESIGN.md:\n{schema}"
        rows = table.to_pylist()
        assert sorted((r["user_name"], r["key_slot"]) for r in rows) == [
            ("one-key", 1),
            ("two-keys", 1),
            ("two-keys", 2),
        ], rows
        assert all(r["account_id"] == account for r in rows)
        for r in rows:
            kid = r["access_key_id"]
            assert len(kid) == 9 and kid[4] == "…", kid
        everything = b"".join(open(p, "rb").read() for p in glob.glob(os.path.join(lake, "**"), recursive=True) if os.path.isfile(p))
        for full in full_ids:
            assert full.encode() not in everything and full not in done.stdout + done.stderr, "a full key id leaked"
            assert any(r["access_key_id"] == f"{full[:4]}…{full[-4:]}" for r in rows)
    print(f"pyarrow read {len(rows)} rows with the {len(EXPECTED)} DESIGN.md columns from {os.path.basename(files[0])}")


if __name__ == "__main__":
    main(sys.argv[1])
