//! Test certificates, and checking a client assertion the way Entra ID does.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::AppCredential;

/// A self-signed RSA 2048 certificate and its keys, for certificate-credential tests.
#[derive(Clone)]
pub struct TestCertificate {
    /// PKCS#8 (`-----BEGIN PRIVATE KEY-----`).
    pub private_key_pem: String,
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    /// SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
}

impl std::fmt::Debug for TestCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCertificate").field("x5t#S256", &self.x5t_s256()).finish_non_exhaustive()
    }
}

impl TestCertificate {
    /// Generates a fresh key pair and a self-signed certificate with the given CN.
    ///
    /// # Panics
    /// If the crypto backend cannot generate RSA keys (a build problem, not a test outcome).
    pub fn generate(common_name: &str) -> TestCertificate {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("generate an RSA 2048 key pair");
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
        let cert = params.self_signed(&key).expect("self-sign the test certificate");
        TestCertificate {
            private_key_pem: key.serialize_pem(),
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            public_key_pem: key.public_key_pem(),
        }
    }

    /// The credential to register with [`super::FakeGraph::register_app`].
    pub fn credential(&self) -> AppCredential {
        AppCredential::Certificate { cert_der: self.cert_der.clone(), public_key_pem: self.public_key_pem.clone() }
    }

    /// The `x5t#S256` header value: base64url (no padding) of the SHA-256 of the DER certificate.
    pub fn x5t_s256(&self) -> String {
        x5t_s256(&self.cert_der)
    }

    /// The legacy `x5t` header value: base64url (no padding) of the SHA-1 of the DER certificate.
    pub fn x5t_sha1(&self) -> String {
        x5t_sha1(&self.cert_der)
    }
}

pub(crate) fn x5t_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

pub(crate) fn x5t_sha1(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha1::digest(der))
}

/// Why an assertion was refused: an AADSTS code and its description.
pub(crate) type Refusal = (u32, String);

/// What the token request says about itself, to check the assertion against.
pub(crate) struct Expected<'a> {
    pub client_id: &'a str,
    pub token_url: &'a str,
    pub now: i64,
}

/// Skew Entra tolerates on `nbf`, and the longest assertion lifetime the fake accepts.
const NBF_SKEW_SECS: i64 = 300;
const MAX_LIFETIME_SECS: i64 = 3600;

/// Checks a client assertion against the app's registered certificates. On success, returns its
/// `jti`: the caller records it (replays are refused) only once the whole request succeeds.
pub(crate) fn check_assertion(jwt: &str, credentials: &[AppCredential], expected: &Expected<'_>) -> Result<String, Refusal> {
    let malformed = || (50027, "JWT token is invalid or malformed.".to_owned());
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| malformed())?;
    if !matches!(header.alg, Algorithm::PS256 | Algorithm::RS256) {
        return Err((5002738, format!("Invalid JWT token. '{:?}' is not a supported signature algorithm.", header.alg)));
    }
    // Thumbprints are compared without padding, whichever way the client wrote them.
    let trim = |s: &String| s.trim_end_matches('=').to_owned();
    let (s256, sha1) = (header.x5t_s256.as_ref().map(trim), header.x5t.as_ref().map(trim));
    if s256.is_none() && sha1.is_none() {
        return Err((700027, "Client assertion contains an invalid signature. [Reason - The key was not found.]".to_owned()));
    }
    let key = credentials.iter().find_map(|c| match c {
        AppCredential::Certificate { cert_der, public_key_pem } => {
            let s256_ok = s256.as_ref().is_none_or(|t| *t == x5t_s256(cert_der));
            let sha1_ok = sha1.as_ref().is_none_or(|t| *t == x5t_sha1(cert_der));
            (s256_ok && sha1_ok).then_some(public_key_pem)
        }
        AppCredential::Secret(_) => None,
    });
    let Some(public_key_pem) = key else {
        let thumbprint = s256.or(sha1).unwrap_or_default();
        return Err((
            700027,
            format!(
                "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}']"
            ),
        ));
    };
    let key = DecodingKey::from_rsa_pem(public_key_pem.as_bytes()).map_err(|_| {
        (700027, "Client assertion contains an invalid signature. [Reason - The key is not a valid RSA key.]".to_owned())
    })?;

    // Only the signature is left to the library; claims are checked below with Entra's messages.
    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![Algorithm::PS256, Algorithm::RS256];
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => (
                700027,
                "Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]"
                    .to_owned(),
            ),
            _ => malformed(),
        })?
        .claims;

    let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
    let number = |name: &str| claims.get(name).and_then(|v| v.as_f64()).map(|v| v as i64);
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => aud == expected.token_url,
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(expected.token_url)),
        _ => false,
    };
    if !aud_ok {
        return Err((700023, "Client assertion audience claim does not match Realm issuer.".to_owned()));
    }
    let same_client = |v: Option<&str>| v.is_some_and(|v| v.eq_ignore_ascii_case(expected.client_id));
    if !same_client(text("iss")) || !same_client(text("sub")) {
        return Err((700021, "Client assertion application identifier doesn't match 'client_id' parameter.".to_owned()));
    }
    let (Some(exp), Some(nbf)) = (number("exp"), number("nbf")) else {
        return Err((50027, "JWT token is invalid or malformed: 'exp' and 'nbf' are required.".to_owned()));
    };
    let now = expected.now;
    if exp <= now || exp > now + MAX_LIFETIME_SECS || nbf > now + NBF_SKEW_SECS {
        return Err((
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}."
            ),
        ));
    }
    match text("jti") {
        Some(jti) if !jti.is_empty() => Ok(jti.to_owned()),
        _ => Err((50027, "JWT token is invalid or malformed: 'jti' is required.".to_owned())),
    }
}
